// Qwen2 decoder-only transformer, numerically as Hugging Face's modeling_qwen2.py.
//
//   embed_tokens -> N x [ x + o_proj(attn(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1)))   n1 = input_layernorm(x)
//                         x + down_proj(silu(gate_proj(n2)) * up_proj(n2)) ]                   n2 = post_attention_layernorm(x)
//                -> norm -> lm_head (or the embedding matrix when tie_word_embeddings)
//
// Module fields carry Hugging Face's names (embed_tokens, self_attn, q_proj, ...), so that the state
// dict keys are exactly the checkpoint's: model.embed_tokens.weight, model.layers.0.self_attn.q_proj.weight,
// ..., model.norm.weight, lm_head.weight.
import * as torch from '../../torch';
import { Tensor } from '../../torch';
import { Embedding, Linear, Module, ModuleList, Parameter, RMSNorm } from '../../torch/nn';
import type { DType, DeviceLike } from '../../torch';
import type { Qwen2Config } from './config';
import type { KVCache } from './cache';
import { attentionMask } from '../attention-mask';

export interface ModelPlacement {
  dtype?: DType;
  device?: DeviceLike;
}

/**
 * Rotary position embedding with the default (unscaled) frequencies inv_freq[i] = 1 / theta^(2i/d).
 * As in Hugging Face, frequencies, angles, cos and sin are computed in float32 whatever the model
 * dtype, then cast to it. inv_freq is not a registered buffer: Module.to(dtype) would round it to
 * bfloat16. It is computed for the construction device, and for any other device on first use there.
 */
export class Qwen2RotaryEmbedding extends Module {
  private readonly invFreqByDevice = new Map<string, Tensor>();

  constructor(
    readonly headDim: number,
    readonly theta: number,
    device: DeviceLike = 'cpu',
  ) {
    super();
    this.invFreq(String(device));
  }

  /** inv_freq [headDim / 2] (float32) on `device`. */
  invFreq(device: string): Tensor {
    const cached = this.invFreqByDevice.get(device);
    if (cached !== undefined) return cached;
    const inv = torch.keep(
      torch.scope(() => {
        const exponents = torch.arange(0, this.headDim, 2, { dtype: 'int64', device }).to('float32').div(this.headDim);
        return torch.pow(this.theta, exponents).reciprocal();
      }),
    );
    // keyed by the canonical name tensors report ('cuda' -> 'cuda:0')
    const existing = this.invFreqByDevice.get(inv.device);
    if (existing !== undefined) {
      inv.dispose();
      return existing;
    }
    this.invFreqByDevice.set(inv.device, inv);
    return inv;
  }

  /** cos and sin [B, T, headDim] in `dtype` for positions [B, T] (or [1, T], broadcast over the batch). */
  forward(positionIds: Tensor, dtype: DType): { cos: Tensor; sin: Tensor } {
    return torch.scope(() => {
      const inv = this.invFreq(positionIds.device);
      const freqs = positionIds.to('float32').unsqueeze(-1).mul(inv); // [B, T, d/2]
      const angles = torch.cat([freqs, freqs], -1);
      const cos = angles.cos();
      const sin = angles.sin();
      return dtype === 'float32' ? { cos, sin } : { cos: cos.to(dtype), sin: sin.to(dtype) };
    });
  }

  override dispose(): void {
    for (const t of this.invFreqByDevice.values()) t.dispose();
    this.invFreqByDevice.clear();
    super.dispose();
  }
}

/** [x1, x2] -> [-x2, x1] over the last dimension (the rotate_half convention of Hugging Face's RoPE). */
export function rotateHalf(x: Tensor): Tensor {
  return torch.scope(() => {
    const half = x.shape[x.dim() - 1] / 2;
    return torch.cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
  });
}

/** x * cos + rotate_half(x) * sin for x [B, heads, T, d] and cos/sin [B, T, d]. */
export function applyRotaryPosEmb(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return torch.scope(() => x.mul(cos.unsqueeze(1)).add(rotateHalf(x).mul(sin.unsqueeze(1))));
}

/** How queries may attend to keys in one pass (built once per forward, shared by the layers). */
export interface AttentionMask {
  /** bool, true = may attend: [T, S] or [B, 1, T, S]; null with isCausal, or when all keys are visible */
  mask: Tensor | null;
  /** let SDPA apply the causal mask itself (no cache, no padding) */
  isCausal: boolean;
}

export class Qwen2Attention extends Module {
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  o_proj: Linear;
  readonly numHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly scaling: number;
  readonly attentionDropout: number;

  constructor(
    config: Qwen2Config,
    readonly layerIdx: number,
    placement: ModelPlacement,
  ) {
    super();
    const { hiddenSize, numAttentionHeads, numKeyValueHeads, headDim } = config;
    this.numHeads = numAttentionHeads;
    this.numKeyValueHeads = numKeyValueHeads;
    this.headDim = headDim;
    this.scaling = 1 / Math.sqrt(headDim);
    this.attentionDropout = config.attentionDropout;
    this.q_proj = new Linear(hiddenSize, numAttentionHeads * headDim, { bias: true, skipInit: true, ...placement });
    this.k_proj = new Linear(hiddenSize, numKeyValueHeads * headDim, { bias: true, skipInit: true, ...placement });
    this.v_proj = new Linear(hiddenSize, numKeyValueHeads * headDim, { bias: true, skipInit: true, ...placement });
    this.o_proj = new Linear(numAttentionHeads * headDim, hiddenSize, { bias: false, skipInit: true, ...placement });
  }

  forward(hidden: Tensor, rope: { cos: Tensor; sin: Tensor }, attention: AttentionMask, cache?: KVCache | null): Tensor {
    return torch.scope(() => {
      const [batch, length] = hidden.shape;
      const heads = (x: Tensor) => x.view([batch, length, -1, this.headDim]).transpose(1, 2); // [B, h, T, d]
      const query = applyRotaryPosEmb(heads(this.q_proj.forward(hidden)), rope.cos, rope.sin);
      let key = applyRotaryPosEmb(heads(this.k_proj.forward(hidden)), rope.cos, rope.sin);
      let value = heads(this.v_proj.forward(hidden));
      if (cache) ({ keys: key, values: value } = cache.update(this.layerIdx, key, value));
      if (key.dtype !== query.dtype) [key, value] = [key.to(query.dtype), value.to(query.dtype)]; // a cache shared with a trunk of another dtype
      const out = torch.scaledDotProductAttention(
        query,
        key,
        value,
        attention.mask,
        this.training ? this.attentionDropout : 0,
        attention.isCausal,
        {
          scale: this.scaling,
          enableGqa: this.numHeads !== this.numKeyValueHeads,
        },
      );
      return this.o_proj.forward(out.transpose(1, 2).reshape([batch, length, this.numHeads * this.headDim]));
    });
  }
}

export class Qwen2MLP extends Module {
  gate_proj: Linear;
  up_proj: Linear;
  down_proj: Linear;
  constructor(config: Qwen2Config, placement: ModelPlacement) {
    super();
    this.gate_proj = new Linear(config.hiddenSize, config.intermediateSize, { bias: false, skipInit: true, ...placement });
    this.up_proj = new Linear(config.hiddenSize, config.intermediateSize, { bias: false, skipInit: true, ...placement });
    this.down_proj = new Linear(config.intermediateSize, config.hiddenSize, { bias: false, skipInit: true, ...placement });
  }
  forward(x: Tensor): Tensor {
    return torch.scope(() => this.down_proj.forward(torch.silu(this.gate_proj.forward(x)).mul(this.up_proj.forward(x))));
  }
}

export class Qwen2DecoderLayer extends Module {
  self_attn: Qwen2Attention;
  mlp: Qwen2MLP;
  input_layernorm: RMSNorm;
  post_attention_layernorm: RMSNorm;
  constructor(config: Qwen2Config, layerIdx: number, placement: ModelPlacement) {
    super();
    this.self_attn = new Qwen2Attention(config, layerIdx, placement);
    this.mlp = new Qwen2MLP(config, placement);
    this.input_layernorm = new RMSNorm(config.hiddenSize, config.rmsNormEps, placement);
    this.post_attention_layernorm = new RMSNorm(config.hiddenSize, config.rmsNormEps, placement);
  }
  forward(hidden: Tensor, rope: { cos: Tensor; sin: Tensor }, attention: AttentionMask, cache?: KVCache | null): Tensor {
    return torch.scope(() => {
      const attended = hidden.add(this.self_attn.forward(this.input_layernorm.forward(hidden), rope, attention, cache));
      return attended.add(this.mlp.forward(this.post_attention_layernorm.forward(attended)));
    });
  }
}

export interface Qwen2Inputs {
  /** int64 token ids [B, T]; exactly one of inputIds and inputsEmbeds */
  inputIds?: Tensor;
  /** input embeddings [B, T, hidden] in the model's dtype (e.g. latent vectors fed back) */
  inputsEmbeds?: Tensor;
  /**
   * int64 rotary positions [B, T] or [T]. Default: each sequence's count of real tokens before the
   * position (so left-padded sequences start at 0), or past length + 0..T-1 without padding.
   */
  positionIds?: Tensor;
  /**
   * Padding mask, 1/true = real token, 0/false = padding: [B, T] for the positions of this pass, or
   * [B, past + T] over the cached ones too. Padding keys are never attended to.
   */
  attentionMask?: Tensor;
  /** cache of earlier passes' keys and values, extended by this pass */
  cache?: KVCache | null;
  /** also return the input of every layer and the last layer's output */
  outputHiddenStates?: boolean;
}

export interface Qwen2BaseOutput {
  /** final hidden states after the final norm [B, T, hidden] */
  lastHidden: Tensor;
  /** output of the last decoder layer, before the final norm [B, T, hidden] */
  preNormHidden: Tensor;
  /**
   * With outputHiddenStates: numHiddenLayers + 1 tensors [B, T, hidden]: the embeddings, then each
   * layer's output, all before the final norm. (Hugging Face's last entry is the normed one: lastHidden.)
   */
  hiddenStates?: Tensor[];
}

export interface Qwen2CausalLMOutput extends Qwen2BaseOutput {
  /** [B, T', vocab] where T' = T, or logitsToKeep */
  logits: Tensor;
}

/** The decoder stack without the language-model head (Hugging Face's Qwen2Model). */
export class Qwen2Model extends Module {
  embed_tokens: Embedding;
  layers: ModuleList<Qwen2DecoderLayer>;
  norm: RMSNorm;
  rotary_emb: Qwen2RotaryEmbedding;

  constructor(
    readonly config: Qwen2Config,
    placement: ModelPlacement = {},
  ) {
    super();
    this.embed_tokens = new Embedding(config.vocabSize, config.hiddenSize, { ...placement, skipInit: true });
    this.layers = new ModuleList(
      Array.from({ length: config.numHiddenLayers }, (_, i) => new Qwen2DecoderLayer(config, i, placement)),
    );
    this.norm = new RMSNorm(config.hiddenSize, config.rmsNormEps, placement);
    this.rotary_emb = new Qwen2RotaryEmbedding(config.headDim, config.ropeTheta, placement.device);
  }

  get dtype(): DType {
    return this.embed_tokens.weight.dtype;
  }

  get device(): string {
    return this.embed_tokens.weight.device;
  }

  forward(inputs: Qwen2Inputs): Qwen2BaseOutput {
    const { inputIds, inputsEmbeds, positionIds, attentionMask, cache, outputHiddenStates = false } = inputs;
    if ((inputIds === undefined) === (inputsEmbeds === undefined))
      throw new TypeError('Qwen2Model.forward: give exactly one of inputIds and inputsEmbeds');
    return torch.scope(() => {
      const embeds = inputsEmbeds ?? this.embed(inputIds!);
      this.checkEmbeds(embeds);
      const [batch, length] = embeds.shape;
      if (cache && cache.numLayers !== this.config.numHiddenLayers) {
        throw new RangeError(
          `Qwen2Model.forward: the cache has ${cache.numLayers} layers, the model ${this.config.numHiddenLayers}`,
        );
      }
      const past = cache?.length ?? 0;
      if (cache && past > 0 && cache.batchSize !== batch)
        throw new RangeError(`Qwen2Model.forward: the cache holds batch ${cache.batchSize}, the input has batch ${batch}`);

      const keyMask = cache
        ? cache.extendMask(attentionMask ?? null, batch, length)
        : this.standaloneKeyMask(attentionMask, batch, length);
      const positions = positionIds
        ? this.checkPositions(positionIds, batch, length)
        : defaultPositions(keyMask, past, length, embeds.device);
      const attention = buildAttentionMask(keyMask, past, length, embeds.device);
      const rope = this.rotary_emb.forward(positions, embeds.dtype);

      let hidden = embeds;
      const hiddenStates: Tensor[] = outputHiddenStates ? [embeds] : [];
      for (const layer of this.layers) {
        hidden = layer.forward(hidden, rope, attention, cache);
        if (outputHiddenStates) hiddenStates.push(hidden);
      }
      const lastHidden = this.norm.forward(hidden);
      return outputHiddenStates ? { lastHidden, preNormHidden: hidden, hiddenStates } : { lastHidden, preNormHidden: hidden };
    });
  }

  /** Token embeddings [B, T, hidden] of int64 ids [B, T]. */
  embed(inputIds: Tensor): Tensor {
    if (inputIds.dim() !== 2) throw new RangeError(`inputIds must be [batch, tokens], got shape [${inputIds.shape}]`);
    if (inputIds.dtype !== 'int64' && inputIds.dtype !== 'int32')
      throw new TypeError(`inputIds must be an integer tensor, got ${inputIds.dtype}`);
    return this.embed_tokens.forward(inputIds);
  }

  private checkEmbeds(embeds: Tensor): void {
    const shape = embeds.shape;
    if (shape.length !== 3 || shape[2] !== this.config.hiddenSize) {
      throw new RangeError(`inputsEmbeds must be [batch, tokens, ${this.config.hiddenSize}], got [${shape}]`);
    }
    if (embeds.dtype !== this.dtype)
      throw new TypeError(
        `inputsEmbeds are ${embeds.dtype} but the model is ${this.dtype}; convert them with .to('${this.dtype}')`,
      );
  }

  private checkPositions(positionIds: Tensor, batch: number, length: number): Tensor {
    const shape = positionIds.shape;
    const ok =
      (shape.length === 1 && shape[0] === length) ||
      (shape.length === 2 && (shape[0] === batch || shape[0] === 1) && shape[1] === length);
    if (!ok) throw new RangeError(`positionIds must be [${length}] or [${batch}, ${length}], got [${shape}]`);
    return shape.length === 1 ? positionIds.unsqueeze(0) : positionIds;
  }

  /** Padding mask without a cache: validated, as bool, and null when it masks nothing. */
  private standaloneKeyMask(attentionMask: Tensor | undefined, batch: number, length: number): Tensor | null {
    if (attentionMask === undefined) return null;
    if (attentionMask.dim() !== 2 || attentionMask.shape[0] !== batch || attentionMask.shape[1] !== length) {
      throw new RangeError(`attentionMask must be [batch, tokens] = [${batch}, ${length}], got [${attentionMask.shape}]`);
    }
    const mask = attentionMask.dtype === 'bool' ? attentionMask : attentionMask.ne(0);
    return mask.all().item() ? null : mask;
  }
}

/** Positions when none are given: count of real tokens before each position, or past + 0..T-1. */
function defaultPositions(keyMask: Tensor | null, past: number, length: number, device: string): Tensor {
  if (keyMask === null) return torch.arange(past, past + length, { dtype: 'int64', device }).unsqueeze(0);
  return keyMask.to('int64').cumsum(1).sub(1).clampMin(0).narrow(1, past, length);
}

/**
 * The attention mask for T queries in cache slots past..past+T-1 over S = past + T keys. Without
 * padding it is implicit (SDPA's causal flag with no cache; nothing for a single query). Otherwise it
 * is the shared cache rule (models/attention-mask.ts) with slots causal by their index: a real query
 * attends to the real keys up to its own slot, every query to itself.
 */
export function buildAttentionMask(keyMask: Tensor | null, past: number, length: number, device: string): AttentionMask {
  if (keyMask === null) {
    if (length === 1) return { mask: null, isCausal: false };
    if (past === 0) return { mask: null, isCausal: true };
  }
  const slots = torch.arange(0, past + length, { dtype: 'int64', device }).unsqueeze(0); // [1, S]
  return { mask: attentionMask(slots, keyMask, length), isCausal: false };
}

/** Qwen2 with its language-model head (Hugging Face's Qwen2ForCausalLM). */
export class Qwen2ForCausalLM extends Module {
  model: Qwen2Model;
  /** null when tie_word_embeddings: the head is the embedding matrix */
  lm_head: Linear | null;

  constructor(
    readonly config: Qwen2Config,
    placement: ModelPlacement = {},
  ) {
    super();
    this.model = new Qwen2Model(config, placement);
    this.lm_head = config.tieWordEmbeddings
      ? null
      : new Linear(config.hiddenSize, config.vocabSize, { bias: false, skipInit: true, ...placement });
  }

  get dtype(): DType {
    return this.model.dtype;
  }

  get device(): string {
    return this.model.device;
  }

  /** The output projection [vocab, hidden] (the embedding matrix when tied). */
  get outputEmbeddings(): Parameter {
    return this.lm_head?.weight ?? this.model.embed_tokens.weight;
  }

  /**
   * Logits and hidden states. logitsToKeep (as Hugging Face's logits_to_keep): 0 computes logits at
   * every position, k > 0 only at the last k (generation needs 1).
   */
  forward(inputs: Qwen2Inputs & { logitsToKeep?: number }): Qwen2CausalLMOutput {
    const { logitsToKeep = 0 } = inputs;
    if (!Number.isInteger(logitsToKeep) || logitsToKeep < 0)
      throw new RangeError(`logitsToKeep must be a non-negative integer, got ${logitsToKeep}`);
    return torch.scope(() => {
      const out = this.model.forward(inputs);
      const length = out.lastHidden.shape[1];
      const kept =
        logitsToKeep > 0 && logitsToKeep < length
          ? out.lastHidden.narrow(1, length - logitsToKeep, logitsToKeep)
          : out.lastHidden;
      return { ...out, logits: this.lmHead(kept) };
    });
  }

  /** Logits [.., vocab] of final (normed) hidden states [.., hidden]. */
  lmHead(hidden: Tensor): Tensor {
    return torch.linear(hidden, this.outputEmbeddings);
  }
}
