// Diagnostics that answer "does the model use its latents?":
//  - ablation deltas with bootstrap confidence intervals over examples,
//  - latent decoding (nearest token embeddings by cosine; logit lens),
//  - recurring decoded tokens and whether the annotation's result appears among them,
//  - start-classifier precision/recall/F1, span-length distributions.
import * as torch from '../torch';
import type { Tensor } from '../torch';
import { mulberry32 } from '../data/random';

/** Mean of per-example loss sums over their counts (token-weighted), with a bootstrap CI over examples. */
export function bootstrapMeanDelta(
  a: { sum: number; count: number }[],
  b: { sum: number; count: number }[],
  { resamples = 1000, seed = 0, confidence = 0.95 } = {},
): { delta: number; ci: [number, number] } {
  if (a.length !== b.length) throw new RangeError('bootstrap: paired samples must have the same length');
  const n = a.length;
  const ratio = (idx: ArrayLike<number>) => {
    let sa = 0,
      ca = 0,
      sb = 0,
      cb = 0;
    for (let i = 0; i < idx.length; i++) {
      const k = idx[i];
      sa += a[k].sum;
      ca += a[k].count;
      sb += b[k].sum;
      cb += b[k].count;
    }
    return sb / Math.max(1, cb) - sa / Math.max(1, ca);
  };
  const all = Array.from({ length: n }, (_, i) => i);
  const delta = ratio(all);
  if (n === 0) return { delta: NaN, ci: [NaN, NaN] };
  const rand = mulberry32(seed);
  const stats: number[] = [];
  const idx = new Int32Array(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) idx[i] = Math.floor(rand() * n);
    stats.push(ratio(idx));
  }
  stats.sort((x, y) => x - y);
  const lo = stats[Math.floor(((1 - confidence) / 2) * resamples)];
  const hi = stats[Math.min(resamples - 1, Math.ceil(((1 + confidence) / 2) * resamples) - 1)];
  return { delta, ci: [lo, hi] };
}

export interface DecodedToken {
  id: number;
  token: string;
  score: number;
}

/**
 * Nearest token embeddings by cosine similarity: vectors [N, D] against the embedding matrix [V, D].
 * Returns the top `k` per row.
 */
export function nearestTokens(vectors: Tensor, embeddings: Tensor, k: number, decode: (id: number) => string): DecodedToken[][] {
  return torch.scope(() =>
    torch.noGrad(() => {
      const v = torch.F.normalize(vectors.float(), 2, -1);
      const e = torch.F.normalize(embeddings.float(), 2, -1);
      const sims = v.matmul(e.t());
      const [values, indices] = sims.topk(k, -1);
      const vs = values.tolist() as number[][];
      const is = indices.tolist() as number[][];
      return is.map((row, r) => row.map((id, j) => ({ id, token: decode(id), score: vs[r][j] })));
    }),
  );
}

/** Logit lens: the LM head applied to (post-norm) hidden states [N, D]; top-k tokens with probabilities. */
export function logitLens(
  hidden: Tensor,
  lmHead: (h: Tensor) => Tensor,
  k: number,
  decode: (id: number) => string,
): DecodedToken[][] {
  return torch.scope(() =>
    torch.noGrad(() => {
      const probs = lmHead(hidden).float().softmax(-1);
      const [values, indices] = probs.topk(k, -1);
      const vs = values.tolist() as number[][];
      const is = indices.tolist() as number[][];
      return is.map((row, r) => row.map((id, j) => ({ id, token: decode(id), score: vs[r][j] })));
    }),
  );
}

/** Counts of decoded tokens across all latents, most frequent first. */
export function recurringTokens(decoded: DecodedToken[][], top = 20): { token: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const row of decoded) for (const d of row) counts.set(d.token, (counts.get(d.token) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, top)
    .map(([token, count]) => ({ token, count }));
}

/** Whether the annotation's result (its leading digits, as the tokenizer writes numbers) appears among decoded tokens. */
export function resultAppears(result: string, decoded: DecodedToken[]): boolean {
  const digits = result.replace(/[^0-9]/g, '');
  if (!digits) return false;
  // A decoded token counts when its digits begin the result: Qwen writes numbers digit by digit,
  // so the first digit is the first thing the next step writes.
  return decoded.some((d) => {
    const t = d.token.replace(/[^0-9]/g, '');
    return t.length > 0 && digits.startsWith(t);
  });
}

export function precisionRecallF1(c: { tp: number; fp: number; fn: number }): { precision: number; recall: number; f1: number } {
  const precision = c.tp + c.fp ? c.tp / (c.tp + c.fp) : 0;
  const recall = c.tp + c.fn ? c.tp / (c.tp + c.fn) : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}

/** The probability threshold that maximises F1 over (logit, target) pairs, and that F1. */
/** The largest logit of a threshold bestF1Threshold returns (its sigmoid stays below 1 in float64). */
const MAX_CUT_LOGIT = 30;

export function bestF1Threshold(scores: [number, number][]): { threshold: number; f1: number } {
  const sorted = [...scores].sort((a, b) => b[0] - a[0]);
  const positives = sorted.filter(([, t]) => t === 1).length;
  let tp = 0;
  let fp = 0;
  let best = { threshold: 0.5, f1: 0 };
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i][1] === 1) tp++;
    else fp++;
    if (i + 1 < sorted.length && sorted[i + 1][0] === sorted[i][0]) continue; // ties decide together
    const f1 = (2 * tp) / (tp + fp + positives);
    if (f1 > best.f1) {
      // halfway (in logit space) to the next score, as a probability. A well-separated probe (the
      // post-training fit on few examples) can put that cut beyond |logit| 36.7, where the
      // probability rounds to exactly 1 (no span could ever open: the decision is p > threshold); the
      // cut is kept below, where it still separates every score that is not itself beyond it. (Small
      // probabilities do not round to 0 before logit −745.)
      const next = i + 1 < sorted.length ? sorted[i + 1][0] : sorted[i][0] - 1;
      const cut = Math.min(MAX_CUT_LOGIT, (sorted[i][0] + next) / 2);
      best = { threshold: 1 / (1 + Math.exp(-cut)), f1 };
    }
  }
  return best;
}

export function histogram(values: number[]): Record<string, number> {
  const h: Record<string, number> = {};
  for (const v of values) h[String(v)] = (h[String(v)] ?? 0) + 1;
  return h;
}
