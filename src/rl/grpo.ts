// Group Relative Policy Optimization (Shao et al. 2024, DeepSeekMath), the pieces that are pure math:
//
//   advantage of rollout i in its group g:   A_i = (r_i - mean_g) / (std_g + ε)      (std: unbiased, as TRL)
//   per action k of rollout i:               ρ = exp(log π_θ - log π_old)            (π_old: the sampling policy)
//                                            ℓ = -( min(ρ A_i, clip(ρ, 1-ε_low, 1+ε_high) A_i) - β KL )
//   KL to the frozen reference (k3, Schulman 2020, as public GRPO code):  KL = exp(q - p) - (q - p) - 1,
//                                            p = log π_θ, q = log π_ref           (unbiased, always ≥ 0)
//   loss = Σ_i Σ_k w_ik ℓ_ik with w_ik = 1 / (|a_i| · #rollouts) ("sequence": the GRPO paper's mean of
//          per-rollout means) or w_ik = 1 / Σ_i |a_i| ("token": every action counts alike, as DAPO).
// An action is a sampled language token or a start/stop decision of the latent policy.
import * as torch from '../torch';
import type { Tensor } from '../torch';

export interface AdvantageOptions {
  /** divide by the group's standard deviation (default true; false: Dr. GRPO's mean-centred rewards) */
  scale?: boolean;
  /** added to the standard deviation (default 1e-4, as TRL) */
  epsilon?: number;
}

function checkGroups(rewards: readonly number[], group: number): void {
  if (!Number.isInteger(group) || group < 1) throw new RangeError(`group size must be a positive integer, got ${group}`);
  if (rewards.length % group !== 0) throw new RangeError(`${rewards.length} rewards do not split into groups of ${group}`);
  rewards.forEach((r, i) => {
    if (!Number.isFinite(r)) throw new RangeError(`reward ${i} is ${r}`);
  });
}

/** Mean and unbiased standard deviation of each consecutive group of `group` rewards. */
export function groupStatistics(rewards: readonly number[], group: number): { mean: number; std: number }[] {
  checkGroups(rewards, group);
  const out: { mean: number; std: number }[] = [];
  for (let g = 0; g < rewards.length; g += group) {
    const xs = rewards.slice(g, g + group);
    const mean = xs.reduce((a, b) => a + b, 0) / group;
    const variance = group > 1 ? xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (group - 1) : 0;
    out.push({ mean, std: Math.sqrt(variance) });
  }
  return out;
}

/** Group-relative advantages: rewards are consecutive groups of `group` rollouts of one question. */
export function groupAdvantages(
  rewards: readonly number[],
  group: number,
  { scale = true, epsilon = 1e-4 }: AdvantageOptions = {},
): number[] {
  if (!(epsilon >= 0)) throw new RangeError(`epsilon must be >= 0, got ${epsilon}`);
  const stats = groupStatistics(rewards, group);
  return rewards.map((r, i) => {
    const { mean, std } = stats[Math.floor(i / group)];
    return scale ? (r - mean) / (std + epsilon) : r - mean;
  });
}

export type LossAggregation = 'sequence' | 'token';
export const LOSS_AGGREGATIONS: readonly LossAggregation[] = ['sequence', 'token'];

/** The weight of each action of each rollout (see the header); the weights of a minibatch sum to 1. */
export function actionWeights(actionCounts: readonly number[], aggregation: LossAggregation): number[][] {
  const total = actionCounts.reduce((a, b) => a + b, 0);
  const rollouts = actionCounts.length;
  return actionCounts.map((n, i) => {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`rollout ${i} has ${n} actions; every rollout has at least one`);
    const w = aggregation === 'sequence' ? 1 / (n * rollouts) : 1 / total;
    return new Array<number>(n).fill(w);
  });
}

/** k3 estimator of KL(π_θ ‖ π_ref) per action: exp(q - p) - (q - p) - 1. */
export function klK3(logProbs: Tensor, refLogProbs: Tensor): Tensor {
  return torch.scope(() => {
    const d = refLogProbs.sub(logProbs);
    return d.exp().sub(d).sub(1);
  });
}

export interface GrpoObjective {
  /** ε_low: the ratio is clipped below at 1 - ε_low */
  clipEpsilon: number;
  /** ε_high (default ε_low; DAPO's "clip higher" raises it) */
  clipEpsilonHigh?: number;
  /** β, the weight of the KL penalty (0: no reference needed) */
  klCoef: number;
}

export interface GrpoLossInputs {
  /** log π_θ of the actions [N] (differentiable) */
  logProbs: Tensor;
  /** log π_old: the sampling policy's log-probabilities [N] */
  oldLogProbs: Tensor;
  /** log π_ref [N], or null when klCoef is 0 */
  refLogProbs: Tensor | null;
  /** the advantage of each action's rollout [N] */
  advantages: Tensor;
  /** aggregation weights [N] (actionWeights) */
  weights: Tensor;
}

export interface GrpoLoss {
  /** Σ w ℓ (a scalar to backpropagate) */
  loss: Tensor;
  /** Σ of the k3 KL estimates (0 without a reference) */
  klSum: number;
  /** actions whose ratio was clipped (the clip bound was the active one in the min) */
  clipped: number;
  count: number;
}

export function grpoLoss(x: GrpoLossInputs, o: GrpoObjective): GrpoLoss {
  const epsLow = o.clipEpsilon;
  const epsHigh = o.clipEpsilonHigh ?? o.clipEpsilon;
  if (!(epsLow >= 0 && epsLow < 1) || !(epsHigh >= 0))
    throw new RangeError(`clip epsilons must satisfy 0 <= ε_low < 1 and ε_high >= 0, got ${epsLow} and ${epsHigh}`);
  if (!(o.klCoef >= 0)) throw new RangeError(`klCoef must be >= 0, got ${o.klCoef}`);
  if (o.klCoef > 0 && x.refLogProbs === null) throw new RangeError('klCoef > 0 needs the reference log-probabilities');
  const n = x.logProbs.numel();
  for (const [name, t] of [
    ['oldLogProbs', x.oldLogProbs],
    ['advantages', x.advantages],
    ['weights', x.weights],
    ['refLogProbs', x.refLogProbs],
  ] as const)
    if (t !== null && t.numel() !== n) throw new RangeError(`grpoLoss: ${name} has ${t.numel()} elements, logProbs ${n}`);
  return torch.scope(() => {
    const dtype = x.logProbs.dtype;
    const adv = x.advantages.to(dtype);
    const ratio = x.logProbs.sub(x.oldLogProbs.to(dtype)).exp();
    const surrogate = torch.minimum(ratio.mul(adv), ratio.clamp(1 - epsLow, 1 + epsHigh).mul(adv));
    let perAction = surrogate.neg();
    let klSum = 0;
    if (x.refLogProbs !== null) {
      const kl = klK3(x.logProbs, x.refLogProbs.to(dtype));
      klSum = kl.detach().sum().item();
      if (o.klCoef > 0) perAction = perAction.add(kl.mul(o.klCoef));
    }
    const loss = perAction.mul(x.weights.to(dtype)).sum();
    const r = ratio.detach();
    const clippedMask = r
      .lt(1 - epsLow)
      .logicalAnd(adv.lt(0))
      .logicalOr(r.gt(1 + epsHigh).logicalAnd(adv.gt(0)));
    return { loss, klSum, clipped: clippedMask.sum().item(), count: n };
  });
}
