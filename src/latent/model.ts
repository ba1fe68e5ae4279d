// A language model equipped for latent reasoning: the Qwen2 backbone, the `<bot>`/`<eot>` tokens,
// the latent heads and, in two-trunk mode, the trainable copy of the decoder for latent positions.
import * as torch from '../torch';
import type { Tensor } from '../torch';
import { Module, Parameter } from '../torch/nn';
import type { Qwen2ForCausalLM } from '../models/qwen2/modeling';
import type { Tokenizer } from '../models/tokenizer';
import { LatentHeads } from './heads';
import { LatentDecoder, qwen2Backbone } from './qwen2-trunks';
import { latentForward, type Backbone, type LatentForwardOptions, type LatentForwardResult, type Trunk } from './forward';
import type { LatentSequence } from './sequence';
import type { LatentInputKind, LatentInputSpec } from './latent-input';
import { checkCoupling, type Coupling } from './coupling';

export type LatentMode = 'full' | 'two-trunk';

export interface LatentModelOptions {
  mode: LatentMode;
  /** the existing token whose embedding initialises `<bot>` and `<eot>` */
  markerInitToken?: string;
  /** texts used to measure the hidden-state scale (a few training prompts) */
  scaleSample?: string[];
  /** two-trunk: dtype of the frozen language copy (e.g. bfloat16 to halve its memory); default: unchanged */
  frozenDtype?: torch.DType | null;
  /** how a hidden state becomes the next latent's input (latent-input.ts); default affine */
  latentInput?: LatentInputSpec | LatentInputKind;
  /** keep the `<bot>`/`<eot>` embeddings at their initial rows (not trained) */
  freezeMarkers?: boolean;
  /** two-trunk: how the frozen copy sees latent positions (coupling.ts); default shared-kv */
  coupling?: Coupling;
}

export const BOT = '<bot>';
export const EOT = '<eot>';

/** Grows the embedding matrix (and an untied LM head) to `vocab` rows, new rows copied from row `initId`. */
export function resizeTokenEmbeddings(model: Qwen2ForCausalLM, vocab: number, initId: number): void {
  const old = model.config.vocabSize;
  if (vocab <= old) return;
  torch.noGrad(() =>
    torch.scope(() => {
      const grow = (p: Parameter) => {
        const extra = p
          .select(0, initId)
          .unsqueeze(0)
          .expand([vocab - old, p.size(1)]);
        p._replaceData(torch.cat([p, extra], 0));
      };
      grow(model.model.embed_tokens.weight);
      if (model.lm_head) grow(model.lm_head.weight);
    }),
  );
  (model.config as { vocabSize: number }).vocabSize = vocab;
}

/**
 * Names that LatentModel.stateDict used before the latent input forms: the affine form's gain and
 * bias sat on the heads (`heads.gain`); they are now the input form's (`heads.input.gain`).
 * Checkpoints load through it (loadCheckpoint's `renamed`).
 */
export const LATENT_STATE_RENAMED: Readonly<Record<string, string>> = {
  'heads.gain': 'heads.input.gain',
  'heads.bias': 'heads.input.bias',
};

export class LatentModel {
  readonly backbone: Backbone;
  readonly latentTrunk: Trunk;

  private constructor(
    readonly model: Qwen2ForCausalLM,
    readonly tokenizer: Tokenizer,
    readonly heads: LatentHeads,
    readonly latentDecoder: LatentDecoder | null,
    readonly mode: LatentMode,
    readonly botId: number,
    readonly eotId: number,
    readonly coupling: Coupling,
  ) {
    this.backbone = qwen2Backbone(model);
    this.latentTrunk = latentDecoder ?? this.backbone;
  }

  /**
   * Adds `<bot>`/`<eot>` to the tokenizer (and rows to the embedding when the vocabulary is full),
   * creates the heads with the latent scale measured on `scaleSample`, and in two-trunk mode copies
   * the decoder for latent positions and freezes the original.
   */
  static create(model: Qwen2ForCausalLM, tokenizer: Tokenizer, o: LatentModelOptions): LatentModel {
    const coupling = checkCoupling(o.coupling ?? 'shared-kv', o.mode === 'two-trunk');
    const [botId, eotId] = tokenizer.addSpecialTokens([BOT, EOT]);
    const initToken = o.markerInitToken ?? '=';
    const initIds = tokenizer.encode(initToken);
    if (initIds.length !== 1)
      throw new RangeError(`markerInitToken '${initToken}' must be a single token, it encodes to ${initIds.length}`);
    resizeTokenEmbeddings(model, Math.max(botId, eotId) + 1, initIds[0]);
    const scale = measureLatentScale(
      model,
      tokenizer,
      o.scaleSample ?? ['Question: Natalia sold clips to 48 of her friends in April.\nAnswer:'],
    );
    const heads = torch.scope(() => {
      const row = model.model.embed_tokens.weight.select(0, initIds[0]).detach().float();
      return new LatentHeads({
        hidden: model.config.hiddenSize,
        markerInit: torch.stack([row, row]),
        scale,
        dtype: model.dtype === 'float64' ? 'float64' : 'float32',
        device: model.device,
        input: o.latentInput,
        excludeIds: [botId, eotId],
        freezeMarkers: o.freezeMarkers,
      });
    });
    let decoder: LatentDecoder | null = null;
    if (o.mode === 'two-trunk') {
      decoder = LatentDecoder.copyOf(model);
      model.freeze();
      if (o.frozenDtype && o.frozenDtype !== model.dtype) model.to(o.frozenDtype);
    }
    return new LatentModel(model, tokenizer, heads, decoder, o.mode, botId, eotId, coupling);
  }

  /** Modules whose parameters train, with checkpoint prefixes. */
  trainable(): [string, Module][] {
    const out: [string, Module][] = [['heads', this.heads]];
    if (this.latentDecoder) out.push(['latent', this.latentDecoder]);
    else out.push(['base', this.model]);
    return out;
  }

  parameters(): Parameter[] {
    return this.trainable().flatMap(([, m]) => m.parameters().filter((p) => p.requiresGrad));
  }

  /** Trainable state by prefixed name (what a training checkpoint stores). */
  stateDict(): Map<string, Tensor> {
    const sd = new Map<string, Tensor>();
    for (const [prefix, m] of this.trainable()) for (const [k, v] of m.stateDict()) sd.set(`${prefix}.${k}`, v);
    return sd;
  }

  loadStateDict(sd: Map<string, Tensor>): void {
    for (const [prefix, m] of this.trainable()) {
      const sub = new Map<string, Tensor>();
      for (const [k, v] of sd) if (k.startsWith(prefix + '.')) sub.set(k.slice(prefix.length + 1), v);
      m.loadStateDict(sub);
    }
  }

  forward(
    seqs: LatentSequence[],
    o: Omit<LatentForwardOptions, 'backbone' | 'latentTrunk' | 'heads' | 'botId' | 'eotId' | 'coupling'> = {},
  ): LatentForwardResult {
    return latentForward(seqs, {
      backbone: this.backbone,
      latentTrunk: this.latentTrunk,
      heads: this.heads,
      botId: this.botId,
      eotId: this.eotId,
      coupling: this.coupling,
      ...o,
    });
  }

  train(on = true): void {
    this.model.train(on);
    this.heads.train(on);
    this.latentDecoder?.train(on);
  }

  dispose(): void {
    this.model.dispose();
    this.heads.dispose();
    this.latentDecoder?.dispose();
  }
}

/** RMS(token embeddings) / RMS(post-norm hidden states on sample text): latents start at the embeddings' scale. */
export function measureLatentScale(model: Qwen2ForCausalLM, tokenizer: Tokenizer, sample: string[]): number {
  return torch.noGrad(() =>
    torch.scope(() => {
      const embRms = model.model.embed_tokens.weight.float().pow(2).mean().sqrt().item();
      let sum = 0;
      let n = 0;
      for (const text of sample) {
        const ids = tokenizer.encode(text);
        if (!ids.length) continue;
        const out = model.model.forward({ inputIds: torch.tensor([ids], { dtype: 'int64' }).to(model.device) });
        sum += out.lastHidden.float().pow(2).mean().item() * ids.length;
        n += ids.length;
      }
      const hidRms = Math.sqrt(sum / Math.max(1, n));
      return hidRms > 0 ? embRms / hidRms : 1;
    }),
  );
}
