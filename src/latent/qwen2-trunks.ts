// Qwen2 as the latent forward's backbone, and the trainable copy of its decoder used for latent
// positions in two-trunk mode.
import * as torch from '../torch';
import type { Tensor } from '../torch';
import { Module, ModuleList } from '../torch/nn';
import type { KVCache } from '../models/qwen2/cache';
import { Qwen2DecoderLayer, type Qwen2ForCausalLM, type Qwen2RotaryEmbedding } from '../models/qwen2/modeling';
import { RMSNorm } from '../torch/nn';
import type { Qwen2Config } from '../models/qwen2/config';
import type { Backbone, Trunk } from './forward';

function runLayers(
  layers: Iterable<Qwen2DecoderLayer>,
  rotary: Qwen2RotaryEmbedding,
  x: Tensor,
  positions: Tensor,
  mask: Tensor,
  cache: KVCache,
): Tensor {
  return torch.scope(() => {
    const rope = rotary.forward(positions, x.dtype);
    const attention = { mask, isCausal: false };
    let h = x;
    for (const layer of layers) h = layer.forward(h, rope, attention, cache);
    return h;
  });
}

/** The whole model: embeddings, decoder, final norm and LM head. */
export function qwen2Backbone(model: Qwen2ForCausalLM): Backbone {
  const m = model.model;
  return {
    numLayers: model.config.numHiddenLayers,
    get normWeight() {
      return m.norm.weight;
    },
    eps: model.config.rmsNormEps,
    get embedWeight() {
      return m.embed_tokens.weight;
    },
    embed: (ids) => m.embed(ids),
    decode: (x, positions, mask, cache) => runLayers(m.layers, m.rotary_emb, x, positions, mask, cache),
    finalNorm: (h) => m.norm.forward(h),
    lmHead: (h) => model.lmHead(h),
  };
}

/** A trainable copy of the decoder layers and final norm (HF names: layers.N.…, norm.weight). */
export class LatentDecoder extends Module implements Trunk {
  layers: ModuleList<Qwen2DecoderLayer>;
  norm: RMSNorm;
  readonly eps: number;

  /** shared with the backbone; not a child module (its buffers belong to the backbone) */
  declare private readonly rotary: Qwen2RotaryEmbedding;

  constructor(
    readonly config: Qwen2Config,
    rotary: Qwen2RotaryEmbedding,
    placement: { dtype?: torch.DType; device?: string } = {},
  ) {
    super();
    Object.defineProperty(this, 'rotary', { value: rotary, enumerable: false });
    this.layers = new ModuleList(
      Array.from({ length: config.numHiddenLayers }, (_, i) => new Qwen2DecoderLayer(config, i, placement)),
    );
    this.norm = new RMSNorm(config.hiddenSize, config.rmsNormEps, placement);
    this.eps = config.rmsNormEps;
  }

  /** A copy of model's decoder weights. */
  static copyOf(model: Qwen2ForCausalLM): LatentDecoder {
    const d = new LatentDecoder(model.config, model.model.rotary_emb, { dtype: model.dtype, device: model.device });
    const source = new Map<string, Tensor>();
    for (const [k, v] of model.model.stateDict()) if (k.startsWith('layers.') || k.startsWith('norm.')) source.set(k, v);
    d.loadStateDict(source);
    return d;
  }

  get normWeight(): Tensor {
    return this.norm.weight;
  }
  finalNorm(h: Tensor): Tensor {
    return this.norm.forward(h);
  }
  decode(x: Tensor, positions: Tensor, mask: Tensor, cache: KVCache): Tensor {
    return runLayers(this.layers, this.rotary, x, positions, mask, cache);
  }
}
