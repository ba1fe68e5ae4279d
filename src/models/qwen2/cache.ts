// Key/value cache for incremental decoding.
//
// Design. Each layer's keys and values are one tensor [B, kvHeads, S, headDim] holding every position
// seen so far, stored in one of two ways, chosen per update:
//
//  - Recording autograd (grad mode on and the new keys or values require grad): the cache holds
//    `cat([past, new], 2)`. Nothing is detached, so a loss computed after several cached passes
//    backpropagates through all of them (latent training unrolls the model this way). Each update
//    copies the past, as Hugging Face's DynamicCache does.
//  - Otherwise (generation under noGrad / inferenceMode): a preallocated buffer whose capacity at
//    least doubles when it fills, written in place; attention reads a narrow() view of the filled
//    part. Copying is amortised O(1) per position instead of O(S), which matters for long decodes.
//    A cache can move from buffer to concatenation mode (the buffer's filled part becomes the first
//    past chunk), never back.
//
// The cache also remembers which stored positions are padding (`keyMask`, [B, S] bool, null while
// every position is a real token) so that later passes keep masking them and can derive each
// sequence's next rotary position; see Qwen2Model.forward.
//
// Tensors the cache holds are exempt from torch.scope (torch.keep), so a decoding loop can run each
// step in its own scope; the cache frees a tensor when it replaces it, and everything on dispose().
import * as torch from '../../torch';
import type { Tensor } from '../../torch';

interface LayerEntry {
  /** keys/values storage; in buffer mode only the first `length` positions along dim 2 are filled */
  keys: Tensor;
  values: Tensor;
  length: number;
  /** true: `keys`/`values` are preallocated buffers written in place */
  buffered: boolean;
  /** buffer mode: the narrow() views of the filled part handed out by update(), rebuilt as it grows */
  views?: { keys: Tensor; values: Tensor; length: number };
}

/** Positions reserved at least when a buffer is first allocated, to avoid regrowing at every token. */
const MIN_BUFFER_POSITIONS = 64;

export class KVCache {
  private readonly layers: (LayerEntry | null)[];
  private mask: Tensor | null = null;
  private disposed = false;

  constructor(readonly numLayers: number) {
    if (!Number.isInteger(numLayers) || numLayers <= 0)
      throw new RangeError(`KVCache: numLayers must be a positive integer, got ${numLayers}`);
    this.layers = new Array(numLayers).fill(null);
  }

  /** Number of positions stored (the length of layer 0, which is updated first in every pass). */
  get length(): number {
    return this.layers[0]?.length ?? 0;
  }

  /** Batch size of the stored keys, or null while empty. */
  get batchSize(): number | null {
    return this.layers[0]?.keys.shape[0] ?? null;
  }

  /** [B, S] bool: which stored positions are real tokens; null when all are. */
  get keyMask(): Tensor | null {
    return this.mask;
  }

  /**
   * Records the padding mask of `newTokens` positions about to be added, and returns the mask of
   * every position (past and new) as [B, S + newTokens] bool, or null while nothing is padding.
   * `attentionMask` may cover only the new positions ([B, newTokens]) or, as in Hugging Face, the
   * past and new ones ([B, S + newTokens]). Call once per forward pass, before the layers update.
   */
  extendMask(attentionMask: Tensor | null, batch: number, newTokens: number): Tensor | null {
    this.checkLive();
    const past = this.length;
    let incoming: Tensor | null = null;
    if (attentionMask !== null) {
      const [b, width] = attentionMask.shape;
      if (attentionMask.dim() !== 2 || b !== batch || (width !== newTokens && width !== past + newTokens)) {
        throw new RangeError(
          `attentionMask must be [batch, new tokens] = [${batch}, ${newTokens}] or [batch, past + new] = [${batch}, ${past + newTokens}], got [${attentionMask.shape}]`,
        );
      }
      incoming = torch.scope(() => {
        const m = attentionMask.dtype === 'bool' ? attentionMask : attentionMask.ne(0);
        return width === newTokens ? m.clone() : m.narrow(1, past, newTokens).contiguous();
      });
    }
    if (this.mask === null && incoming === null) return null;
    const next = torch.scope(() => {
      const device = (incoming ?? this.mask)!.device;
      const pastMask = this.mask ?? torch.ones([batch, past], { dtype: 'bool', device });
      const newMask = incoming ?? torch.ones([batch, newTokens], { dtype: 'bool', device });
      return torch.cat([pastMask, newMask], 1);
    });
    incoming?.dispose();
    // Fully-valid masks carry no information: keep null so attention takes its fast paths.
    if (this.mask === null && Boolean(torch.scope(() => next.all().item()))) {
      next.dispose();
      return null;
    }
    this.mask?.dispose();
    this.mask = torch.keep(next);
    return this.mask;
  }

  /**
   * Appends keys and values [B, kvHeads, T, headDim] of `layer` and returns the layer's keys and
   * values over all positions. The returned tensors are owned by the cache: valid until the next
   * update of this layer or dispose().
   */
  update(layer: number, keys: Tensor, values: Tensor): { keys: Tensor; values: Tensor } {
    this.checkLive();
    if (!(layer >= 0 && layer < this.numLayers))
      throw new RangeError(`KVCache.update: layer ${layer} outside [0, ${this.numLayers})`);
    const entry = this.layers[layer];
    // Two trunks of different dtypes may share a cache: it keeps the dtype of its first writer.
    if (entry !== null && keys.dtype !== entry.keys.dtype) {
      keys = keys.to(entry.keys.dtype);
      values = values.to(entry.keys.dtype);
    }
    const recording = torch.isGradEnabled() && (keys.requiresGrad || values.requiresGrad);
    if (entry !== null) this.checkCompatible(entry, keys, layer);

    if (entry === null) {
      if (recording) {
        this.layers[layer] = {
          keys: torch.keep(keys.contiguous()),
          values: torch.keep(values.contiguous()),
          length: keys.shape[2],
          buffered: false,
        };
      } else {
        const k = this.allocate(keys, keys.shape[2]);
        const v = this.allocate(values, keys.shape[2]);
        this.layers[layer] = { keys: k, values: v, length: 0, buffered: true };
        this.writeInto(this.layers[layer], keys, values);
      }
    } else if (recording || !entry.buffered) {
      const [pastK, pastV] = entry.buffered
        ? [entry.keys.narrow(2, 0, entry.length), entry.values.narrow(2, 0, entry.length)]
        : [entry.keys, entry.values];
      const k = torch.keep(torch.cat([pastK, keys], 2));
      const v = torch.keep(torch.cat([pastV, values], 2));
      if (entry.buffered) {
        pastK.dispose();
        pastV.dispose();
      }
      disposeEntry(entry);
      this.layers[layer] = { keys: k, values: v, length: k.shape[2], buffered: false };
    } else {
      this.writeInto(entry, keys, values);
    }
    return this.view(layer);
  }

  /** Keys and values of a layer over all stored positions (views owned by the cache). */
  private view(layer: number): { keys: Tensor; values: Tensor } {
    const entry = this.layers[layer]!;
    if (!entry.buffered) return { keys: entry.keys, values: entry.values };
    if (entry.views === undefined || entry.views.length !== entry.length) {
      entry.views?.keys.dispose();
      entry.views?.values.dispose();
      entry.views = {
        keys: torch.keep(entry.keys.narrow(2, 0, entry.length)),
        values: torch.keep(entry.values.narrow(2, 0, entry.length)),
        length: entry.length,
      };
    }
    return { keys: entry.views.keys, values: entry.views.values };
  }

  private allocate(like: Tensor, positions: number): Tensor {
    const [b, h, , d] = like.shape;
    const capacity = Math.max(MIN_BUFFER_POSITIONS, positions);
    return torch.keep(torch.empty([b, h, capacity, d], { dtype: like.dtype, device: like.device }));
  }

  /** Writes new positions into a buffered entry, growing it (capacity x2) when full. */
  private writeInto(entry: LayerEntry, keys: Tensor, values: Tensor): void {
    const added = keys.shape[2];
    const needed = entry.length + added;
    if (needed > entry.keys.shape[2]) {
      const capacity = Math.max(needed, 2 * entry.keys.shape[2]);
      for (const field of ['keys', 'values'] as const) {
        const old = entry[field];
        const [b, h, , d] = old.shape;
        const grown = torch.keep(torch.empty([b, h, capacity, d], { dtype: old.dtype, device: old.device }));
        torch.scope(() => grown.narrow(2, 0, entry.length).copy_(old.narrow(2, 0, entry.length)));
        old.dispose();
        entry[field] = grown;
      }
    }
    torch.noGrad(() =>
      torch.scope(() => {
        entry.keys.narrow(2, entry.length, added).copy_(keys);
        entry.values.narrow(2, entry.length, added).copy_(values);
      }),
    );
    entry.length = needed;
  }

  private checkCompatible(entry: LayerEntry, keys: Tensor, layer: number): void {
    const [b, h, , d] = entry.keys.shape;
    const [nb, nh, , nd] = keys.shape;
    if (b !== nb || h !== nh || d !== nd) {
      throw new RangeError(`KVCache.update: layer ${layer} holds keys [${b}, ${h}, S, ${d}], cannot append [${keys.shape}]`);
    }
  }

  private checkLive(): void {
    if (this.disposed) throw new Error('KVCache: used after dispose()');
  }

  /** Frees every tensor the cache holds. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const entry of this.layers) if (entry) disposeEntry(entry);
    this.layers.fill(null);
    this.mask?.dispose();
    this.mask = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function disposeEntry(entry: LayerEntry): void {
  entry.keys.dispose();
  entry.values.dispose();
  entry.views?.keys.dispose();
  entry.views?.values.dispose();
}
