// How the two trunks of two-trunk mode are coupled.
//
//  shared-kv  one KV cache: every position attends to the keys and values of earlier positions as
//             the trunk that owns them computed them. The frozen language copy therefore reads, at
//             every layer, keys and values that the trainable copy computed at latent positions.
//  reencode   two caches. The trainable copy computes latent positions for itself (its cache holds
//             the language positions' keys and values and its own at latent positions), and the
//             frozen copy computes the keys and values of latent positions again, from the latent
//             input embeddings, into a cache of its own that language positions attend to. The
//             latent embeddings are then the only channel from the trainable copy to language.
//
// In full mode there is one trunk and both couplings are the same computation; reencode is refused
// there (it would only run every latent twice).
import type { Tensor } from '../torch';
import { KVCache } from '../models/qwen2/cache';

export const COUPLINGS = ['shared-kv', 'reencode'] as const;
export type Coupling = (typeof COUPLINGS)[number];

export function checkCoupling(coupling: unknown, twoTrunk: boolean): Coupling {
  if (coupling !== 'shared-kv' && coupling !== 'reencode')
    throw new RangeError(`coupling must be one of ${COUPLINGS.join(', ')}, got ${String(coupling)}`);
  if (coupling === 'reencode' && !twoTrunk)
    throw new RangeError("coupling 'reencode' needs two-trunk mode (in full mode one trunk computes every position)");
  return coupling;
}

/**
 * A cache that appends every update to a second cache as well, and attends over the first: language
 * passes under reencode write their keys and values to both caches (they are the same for both
 * trunks). Only `update` is used by the decoder layers.
 */
class TeeCache extends KVCache {
  constructor(
    private readonly primary: KVCache,
    private readonly mirror: KVCache,
  ) {
    super(primary.numLayers);
  }
  override get length(): number {
    return this.primary.length;
  }
  override update(layer: number, keys: Tensor, values: Tensor): { keys: Tensor; values: Tensor } {
    this.mirror.update(layer, keys, values);
    return this.primary.update(layer, keys, values);
  }
}

/** The caches of one batched forward or decoding loop under a coupling. */
export class CoupledCaches {
  /** what language passes (the frozen copy) write to and attend over */
  readonly language: KVCache;
  /** what latent passes of the latent trunk write to and attend over */
  readonly latent: KVCache;
  /** reencode: the cache the frozen copy's re-encoding of latent positions writes to; null under shared-kv */
  readonly reencode: KVCache | null;
  private readonly owned: KVCache[];

  constructor(numLayers: number, coupling: Coupling = 'shared-kv') {
    if (coupling === 'shared-kv') {
      const shared = new KVCache(numLayers);
      this.language = this.latent = shared;
      this.reencode = null;
      this.owned = [shared];
    } else {
      const frozen = new KVCache(numLayers);
      const trainable = new KVCache(numLayers);
      this.language = new TeeCache(frozen, trainable);
      this.latent = trainable;
      this.reencode = frozen;
      this.owned = [frozen, trainable];
    }
  }

  dispose(): void {
    for (const c of this.owned) c.dispose();
  }
}
