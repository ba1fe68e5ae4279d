// Bookkeeping for a KV cache shared by rows that advance at different paces.
//
// Rollouts and their teacher-forced re-scoring feed each batch row its own positions: rows have
// prompts of different lengths, open latent spans at different times, and in two-trunk mode a pass
// of one trunk appends a cache slot to every row even though only some rows are fed by it. Every
// pass therefore appends the same number of slots to all rows; a slot records the position it holds
// and whether it is real or padding. A query may attend to the real slots at positions up to its
// own (and to itself, so that a padding query's row is never fully masked, which would give NaN).
import * as torch from '../torch';
import type { Tensor } from '../torch';
import { attentionMask } from '../models/attention-mask';
import type { KVCache } from '../models/qwen2/cache';
import type { Trunk } from './forward';
import type { CoupledCaches } from './coupling';

export class CacheSlots {
  private readonly positions: number[][];
  private readonly valid: boolean[][];

  constructor(readonly batch: number) {
    if (!Number.isInteger(batch) || batch <= 0)
      throw new RangeError(`CacheSlots: batch must be a positive integer, got ${batch}`);
    this.positions = Array.from({ length: batch }, () => []);
    this.valid = Array.from({ length: batch }, () => []);
  }

  /** Slots per row so far. */
  get length(): number {
    return this.positions[0].length;
  }

  /**
   * The boolean mask [B, 1, Tq, S + Tq] (true = may attend) for queries at positions `qPos` [B][Tq]
   * whose realness is `qValid` [B][Tq], over the S stored slots and the queries themselves (the shared
   * cache rule of models/attention-mask.ts).
   */
  mask(qPos: readonly (readonly number[])[], qValid: readonly (readonly boolean[])[], device: string): Tensor {
    this.checkShape(qPos, qValid);
    const B = this.batch;
    const S = this.length;
    const Tq = qPos[0].length;
    const T = S + Tq;
    // Flat typed arrays, positions as int32: nested JS arrays or BigInt conversions cost 10-100x more per step.
    const positions = new Int32Array(B * T);
    const valid = new Uint8Array(B * T);
    for (let b = 0; b < B; b++) {
      const storedPos = this.positions[b];
      const storedValid = this.valid[b];
      for (let j = 0; j < S; j++) {
        positions[b * T + j] = storedPos[j];
        valid[b * T + j] = storedValid[j] ? 1 : 0;
      }
      for (let q = 0; q < Tq; q++) {
        positions[b * T + S + q] = qPos[b][q];
        valid[b * T + S + q] = qValid[b][q] ? 1 : 0;
      }
    }
    const onDevice = (t: Tensor) => (device === 'cpu' ? t : t.to(device));
    return attentionMask(
      onDevice(torch.fromBytes(positions, 'int32', [B, T])),
      onDevice(torch.fromBytes(valid, 'bool', [B, T])),
      Tq,
    );
  }

  /** Records the slots of a pass (call after the pass wrote them to the cache). */
  append(qPos: readonly (readonly number[])[], qValid: readonly (readonly boolean[])[]): void {
    this.checkShape(qPos, qValid);
    for (let b = 0; b < this.batch; b++) {
      this.positions[b].push(...qPos[b]);
      this.valid[b].push(...qValid[b]);
    }
  }

  private checkShape(qPos: readonly (readonly number[])[], qValid: readonly (readonly boolean[])[]): void {
    if (qPos.length !== this.batch || qValid.length !== this.batch)
      throw new RangeError(
        `CacheSlots: expected ${this.batch} rows of queries, got ${qPos.length} positions and ${qValid.length} flags`,
      );
    const Tq = qPos[0].length;
    for (let b = 0; b < this.batch; b++)
      if (qPos[b].length !== Tq || qValid[b].length !== Tq)
        throw new RangeError(
          `CacheSlots: row ${b} has ${qPos[b].length} positions and ${qValid[b].length} flags, row 0 has ${Tq}`,
        );
  }
}

/**
 * Runs one pass of `trunk` over x [B, T, D] and records its slots (unless `record` is false: a second
 * pass over the same slots into another cache); returns the pre-norm hidden [B, T, D].
 */
export function runPass(
  trunk: Trunk,
  cache: KVCache,
  slots: CacheSlots,
  x: Tensor,
  qPos: number[][],
  qValid: boolean[][],
  record = true,
): Tensor {
  return torch.scope(() => {
    const device = x.device;
    const mask = slots.mask(qPos, qValid, device);
    const positions = torch.tensor(qPos, { dtype: 'int64', device });
    const pre = trunk.decode(x, positions, mask, cache);
    if (record) slots.append(qPos, qValid);
    return pre;
  });
}

/** A pass of latent inputs: the latent trunk on its cache and, under reencode, the frozen copy on its own (latent/coupling.ts). */
export function runLatentPass(
  trunks: { backbone: Trunk; latentTrunk: Trunk },
  caches: CoupledCaches,
  slots: CacheSlots,
  x: Tensor,
  qPos: number[][],
  qValid: boolean[][],
): Tensor {
  if (caches.reencode) torch.scope(() => void runPass(trunks.backbone, caches.reencode!, slots, x, qPos, qValid, false));
  return runPass(trunks.latentTrunk, caches.latent, slots, x, qPos, qValid);
}
