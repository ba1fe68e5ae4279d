// The start classifier's post-training fit: logistic regression on frozen features.
//
// During training the start classifier is a probe on detached hidden states, trained by the language
// model's optimizer; at a language-model learning rate (1e-5 for Qwen2-0.5B) it barely moves. Once the
// features are final, the probe's best weights are a convex problem: a few Newton steps in float64 on
// the training set's features reach its optimum (the threshold is then calibrated on validation data).
import * as torch from '../torch';
import type { Tensor } from '../torch';
import type { LatentModel } from './model';
import type { LatentSequence } from './sequence';

export interface LogisticFitOptions {
  /** weight of the positive rows (class imbalance), as in training: default negatives / positives */
  posWeight?: number;
  /** L2 penalty on the weights (not the bias), per row: keeps separable data finite */
  l2?: number;
  maxIterations?: number;
  /** stop when the largest Newton step component is below this */
  tolerance?: number;
}

export interface LogisticFit {
  /** [D] float64 weights (caller disposes) */
  weight: Tensor;
  bias: number;
  iterations: number;
  /** the weighted, penalised mean loss at the optimum */
  loss: number;
}

/**
 * Weighted L2-penalised logistic regression of 0/1 `targets` on `features` [N, D] (float64), by
 * Newton's method with a backtracking line search: minimises
 *   (1/N) Σ c_i · BCE(x_i·w + b, y_i) + (l2/2) |w|²,   c_i = posWeight for positives, 1 otherwise.
 */
export function fitLogistic(features: Tensor, targets: readonly number[], o: LogisticFitOptions = {}): LogisticFit {
  const [N, D] = features.shape;
  if (N !== targets.length) throw new RangeError(`fitLogistic: ${N} feature rows but ${targets.length} targets`);
  if (N === 0) throw new RangeError('fitLogistic: no rows to fit');
  const positives = targets.filter((t) => t === 1).length;
  const posWeight = o.posWeight ?? (positives > 0 && positives < N ? (N - positives) / positives : 1);
  const l2 = o.l2 ?? 1e-3;
  const maxIterations = o.maxIterations ?? 50;
  const tolerance = o.tolerance ?? 1e-9;
  return torch.scope(() =>
    torch.noGrad(() => {
      const X = torch.cat([features.to('float64'), torch.ones([N, 1], { dtype: 'float64', device: features.device })], 1); // [N, D+1]
      const y = torch.tensor(Float64Array.from(targets), { dtype: 'float64' }).to(features.device);
      const c = torch
        .tensor(
          Float64Array.from(targets, (t) => (t === 1 ? posWeight : 1)),
          { dtype: 'float64' },
        )
        .to(features.device);
      // the penalty leaves the bias alone; a tiny ridge on it keeps the Hessian invertible
      const penalty = torch
        .tensor(
          Float64Array.from({ length: D + 1 }, (_, i) => (i < D ? l2 : 1e-12)),
          { dtype: 'float64' },
        )
        .to(features.device);
      const lossAt = (w: Tensor): number =>
        torch.scope(() => {
          const z = X.matmul(w);
          // BCE with logits: softplus(z) − y·z, stable for large |z|
          const bce = torch.softplus(z).sub(y.mul(z));
          return c.mul(bce).mean().item() + 0.5 * penalty.mul(w.mul(w)).sum().item();
        });
      let w = torch.keep(torch.zeros([D + 1], { dtype: 'float64', device: features.device }));
      let loss = lossAt(w);
      let iterations = 0;
      for (; iterations < maxIterations; iterations++) {
        const step = torch.scope(() => {
          const p = X.matmul(w).sigmoid();
          const grad = X.t()
            .matmul(c.mul(p.sub(y)))
            .div(N)
            .add(penalty.mul(w));
          const curvature = c.mul(p).mul(p.neg().add(1)).div(N);
          const H = X.t()
            .matmul(X.mul(curvature.unsqueeze(1)))
            .add(torch.diag(penalty));
          return torch.keep(torch.linalgSolve(H, grad.unsqueeze(1)).squeeze(1));
        });
        const size = torch.scope(() => step.abs().max().item());
        // backtracking: Newton's full step can overshoot where the curvature is tiny
        let t = 1;
        let next: Tensor | null = null;
        let nextLoss = loss;
        for (let halvings = 0; halvings < 30; halvings++) {
          const candidate = torch.keep(torch.scope(() => w.sub(step.mul(t))));
          const l = lossAt(candidate);
          if (l <= loss + 1e-15) {
            next = candidate;
            nextLoss = l;
            break;
          }
          candidate.dispose();
          t /= 2;
        }
        step.dispose();
        if (next === null) break; // no descent left: at the optimum to machine precision
        w.dispose();
        w = next;
        loss = nextLoss;
        if (size * t < tolerance) {
          iterations++;
          break;
        }
      }
      const weight = torch.keep(w.narrow(0, 0, D).clone());
      const bias = torch.scope(() => w.select(0, D).item());
      w.dispose();
      return { weight, bias, iterations, loss };
    }),
  );
}

/** The start classifier's features and targets on `seqs` (detached post-norm hidden states, float64). */
export function startFeatures(
  lm: LatentModel,
  seqs: readonly LatentSequence[],
  { batchSize = 8 } = {},
): { features: Tensor; targets: number[] } {
  const parts: Tensor[] = [];
  const targets: number[] = [];
  try {
    for (let i = 0; i < seqs.length; i += batchSize) {
      torch.scope(() =>
        torch.noGrad(() => {
          const r = lm.forward(seqs.slice(i, i + batchSize), { collectStartFeatures: true });
          if (r.startFeatures) {
            parts.push(r.startFeatures.features);
            targets.push(...r.startFeatures.targets);
          }
        }),
      );
    }
    if (!parts.length) throw new RangeError('startFeatures: the sequences have no start-classifier positions');
    return { features: torch.keep(torch.scope(() => torch.cat(parts, 0))), targets };
  } finally {
    for (const p of parts) p.dispose();
  }
}

/**
 * Fits the start classifier of `lm` on frozen features of `seqs` (fitLogistic) and writes the
 * result into its weights; returns the fit (its weight tensor already disposed).
 */
export function fitStartClassifier(
  lm: LatentModel,
  seqs: readonly LatentSequence[],
  o: LogisticFitOptions & { batchSize?: number } = {},
): Omit<LogisticFit, 'weight'> & { rows: number; positives: number } {
  const { features, targets } = startFeatures(lm, seqs, { batchSize: o.batchSize });
  try {
    const fit = fitLogistic(features, targets, o);
    const h = lm.heads;
    torch.noGrad(() =>
      torch.scope(() => {
        h.startWeight.copy_(fit.weight.to(h.startWeight.dtype).to(h.startWeight.device));
        h.startBias.fill_(fit.bias);
      }),
    );
    fit.weight.dispose();
    return {
      bias: fit.bias,
      iterations: fit.iterations,
      loss: fit.loss,
      rows: targets.length,
      positives: targets.filter((t) => t === 1).length,
    };
  } finally {
    features.dispose();
  }
}
