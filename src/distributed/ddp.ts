// Data-parallel training on a process group: every rank holds the whole model, computes the gradient
// of its shard of each global batch, and the ranks average their gradients before the optimizer step,
// so all ranks take the same step — the one a single process would take on the global batch.
//
// The pieces a trainer calls (each on the default group unless one is given):
//   broadcastParameters(params)    at start: every rank gets rank 0's parameters
//   shardBatch(batch)              each step: this rank's contiguous share of the global batch
//   globalMeanLosses(terms)        per-rank mean losses -> the global batch's (values and gradients)
//   allReduceGradients(params)     after backward: gradients averaged over ranks, in buckets
//   anyRank(flag)                  agreement on stopping (Ctrl-C reaches ranks at different steps)
import * as torch from '../torch';
import type { Tensor } from '../torch';
import {
  DEFAULT_BUCKET_BYTES,
  getProcessGroup,
  isInitialized,
  rank as defaultRank,
  worldSize as defaultWorldSize,
  type ProcessGroup,
} from './process-group';

export interface GroupOption {
  group?: ProcessGroup;
}

/** Overwrites every rank's parameters with rank `src`'s (at start, so all ranks begin identical). */
export function broadcastParameters(
  params: Iterable<Tensor>,
  { src = 0, group, bucketBytes = DEFAULT_BUCKET_BYTES }: GroupOption & { src?: number; bucketBytes?: number } = {},
): void {
  (group ?? getProcessGroup()).broadcast([...params], src, { bucketBytes });
}

/**
 * Averages the parameters' gradients over all ranks, in place, packed into buckets of `bucketBytes`.
 * A parameter without a gradient on this rank (unused by its shard) but with one elsewhere gets zeros
 * first, so every rank reduces the same tensors; one without a gradient anywhere keeps none (and the
 * optimizer skips it, as in a single process).
 */
export function allReduceGradients(
  params: Iterable<Tensor>,
  { group, bucketBytes = DEFAULT_BUCKET_BYTES }: GroupOption & { bucketBytes?: number } = {},
): void {
  const g = group ?? getProcessGroup();
  const list = [...params];
  torch.scope(() => {
    const grads = list.map((p) => p.grad);
    const anywhere = g.allReduceNumbers(
      grads.map((x) => (x ? 1 : 0)),
      'max',
    );
    const reduced: Tensor[] = [];
    list.forEach((p, i) => {
      if (!anywhere[i]) return;
      let grad = grads[i];
      if (!grad) {
        grad = torch.zerosLike(p);
        p.grad = grad;
      }
      reduced.push(grad);
    });
    g.allReduce(reduced, 'avg', { bucketBytes });
  });
}

/**
 * This rank's share of a global batch: contiguous, sizes differing by at most one. Every rank sees
 * the same global batch (a pure function of seed and step), so the shards partition it whatever the
 * world size — which is what lets a run resume with a different number of processes.
 */
export function shardBatch<T>(batch: readonly T[], rank = defaultRank(), world = defaultWorldSize()): T[] {
  if (!Number.isInteger(world) || world < 1)
    throw new RangeError(`shardBatch: world size must be a positive integer, got ${world}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= world)
    throw new RangeError(`shardBatch: rank must be in [0, ${world}), got ${rank}`);
  if (batch.length < world)
    throw new RangeError(
      `shardBatch: a global batch of ${batch.length} cannot feed ${world} ranks; use a batch size of at least ${world}`,
    );
  const start = Math.floor((rank * batch.length) / world);
  const end = Math.floor(((rank + 1) * batch.length) / world);
  return batch.slice(start, end);
}

/** A loss term that is a mean over this rank's items (tokens, targets): its value and item count. */
export interface MeanTerm {
  mean: Tensor;
  count: number;
  /** the sum the mean was taken of, when known exactly (else mean × count) */
  sum?: number;
}

export interface GlobalMeans {
  /**
   * Per term: a scalar whose value is the global batch's mean, and whose gradient, once averaged over
   * ranks by allReduceGradients, is the gradient of the global batch's mean (each rank's mean is
   * scaled by its share of the items: count · world / globalCount).
   */
  losses: Tensor[];
  /** per term: the global item count and sum */
  counts: number[];
  sums: number[];
  /** `extra` summed over ranks (other counts and sums to log), in one collective with the terms */
  extra: number[];
}

/**
 * Turns per-rank mean losses into the global batch's. Averaging per-rank means weights every rank
 * equally, which is wrong when shards hold different numbers of items (tokens differ per example);
 * with these losses the ranks' averaged gradient equals a single process's on the global batch.
 */
export function globalMeanLosses(
  terms: readonly MeanTerm[],
  { extra = [], group }: GroupOption & { extra?: readonly number[] } = {},
): GlobalMeans {
  const g = group ?? getProcessGroup();
  const localSums = terms.map((t) => t.sum ?? (t.count > 0 ? t.mean.item() * t.count : 0));
  const reduced = g.allReduceNumbers([...terms.map((t) => t.count), ...localSums, ...extra], 'sum');
  const n = terms.length;
  const counts = reduced.slice(0, n);
  const sums = reduced.slice(n, 2 * n);
  const losses = torch.scope(() =>
    terms.map((t, i) => {
      const globalMean = counts[i] > 0 ? sums[i] / counts[i] : 0;
      const share = counts[i] > 0 ? (t.count * g.worldSize) / counts[i] : 0;
      // value exactly the global mean on every rank (scaled - scaled is 0); gradient: the scaled mean's
      const scaled = t.mean.mul(share);
      return scaled.sub(scaled.detach()).add(globalMean);
    }),
  );
  return { losses, counts, sums, extra: reduced.slice(2 * n) };
}

/** Whether `flag` holds on any rank (just `flag` without a group): lets all ranks stop at the same step. */
export function anyRank(flag: boolean, { group }: GroupOption = {}): boolean {
  const g = group ?? (isInitialized() ? getProcessGroup() : null);
  if (!g || g.worldSize === 1) return flag;
  return g.allReduceNumbers([flag ? 1 : 0], 'max')[0] > 0;
}
