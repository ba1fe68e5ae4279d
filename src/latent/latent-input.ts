// Latent input forms: how the hidden state at the position before a latent becomes that latent's
// input embedding. The published methods differ exactly here, so the form is a choice of the run:
//
//   raw     n                                        Coconut: the post-norm hidden state, unchanged
//   scaled  scale · n                                RMS-matched to the token embeddings, nothing trained
//   affine  scale · n · gain + bias                  gain and bias trained (the original form)
//   gated   a ⊙ E[argmax] + √(1 − a²) ⊙ (i ⊙ p·E)    HRPO: token embedding mixed with the projected
//                                                    hidden state under a learned gate
//   soft    p · E,  p = softmax(logits(n) / T)       Soft Thinking: expected token embedding
//   pause   c_j (learned, one per latent index j)    pause-as-thought: extra passes, no hidden content
//   planted-result  E[r_j], r the result's tokens    the study's planted positive: the latents carry
//                                                    the answer by construction (teacher-forced only)
//   zeros   0                                        the study's planted null: no content at all
//
// where n = RMSNorm_final(h) of the trunk that computed h (the latent trunk), logits come from the
// language model's head, E is its token embedding matrix and `<bot>`/`<eot>` are excluded from p.
//
// Every form also returns the end classifier's logit, n · stopWeight + stopBias. The fused latent
// step (native/kernels/latent_step.cc) computes raw, scaled and affine in one kernel; the others get
// n and the stop logit from the same kernel with identity parameters and compose the rest from
// ordinary operators (autograd gives their gradients).
//
// A form is a Module (its parameters train with the heads and are saved under `heads.input.`). To
// add one: implement LatentInput, give it a kind, and add its factory to LATENT_INPUT_FORMS.
import * as torch from '../torch';
import type { Tensor } from '../torch';
import { Module, Parameter, Linear } from '../torch/nn';
import { latentStep, type LatentStepOutput } from '../torch/kernels/latent-step';
import type { LatentSpan } from './sequence';

/** The language model's token space, for forms that read the hidden state as a token distribution. */
export interface TokenSpace {
  /** the token embedding matrix [V, D] */
  readonly embedWeight: Tensor;
  /** logits [N, V] of post-norm hidden states [N, D] */
  lmHead(hidden: Tensor): Tensor;
}

/** What one latent step receives. */
export interface LatentStepArgs {
  /** pre-norm hidden states [B, D] of the positions the latents follow (rows may be strided) */
  pre: Tensor;
  /** final RMSNorm of the trunk that computed `pre` (the latent trunk) */
  normWeight: Tensor;
  eps: number;
  /** 0-based index of the latent within its span: one for every row, or one per row */
  index: number | readonly number[];
  tokens: TokenSpace;
  /**
   * Per row, the span of the training sequence being computed, where it is known (teacher-forced
   * passes); undefined in free generation. Forms must not need it to generate; controls that plant
   * content from the data (e.g. the result) read it.
   */
  spans?: readonly (LatentSpan | undefined)[];
  /**
   * [B] int64: the token each row's gated latent mixes in, where the decoding policy drew it (sampling,
   * as HRPO does, and the re-scoring of such rollouts); default the argmax of the form's distribution.
   */
  tokenIds?: Tensor;
}

/** The end classifier's parameters (owned by LatentHeads; every form computes its logit). */
export interface StopHead {
  stopWeight: Tensor;
  stopBias: Tensor;
}

export const LATENT_INPUT_KINDS = ['raw', 'scaled', 'affine', 'gated', 'soft', 'pause', 'planted-result', 'zeros'] as const;
export type LatentInputKind = (typeof LATENT_INPUT_KINDS)[number];

/** A form and its options, as recorded in a run's config. */
export interface LatentInputSpec {
  kind: LatentInputKind;
  /** soft and gated: temperature of the token distribution p (default 1) */
  temperature?: number;
  /** pause: number of learned vectors; latent j > slots − 1 reuses the last (default 16) */
  slots?: number;
}

/** What a form is built from (LatentModel.create measures and passes these). */
export interface LatentInputInit {
  hidden: number;
  dtype: torch.DType;
  device?: string;
  /** RMS(token embeddings) / RMS(post-norm hidden states) of the backbone on sample text */
  scale: number;
  /** an embedding row [D] to start learned vectors from (the marker init token's) */
  initRow?: Tensor;
  /** token ids left out of the token distribution (the `<bot>`/`<eot>` ids) */
  excludeIds?: readonly number[];
}

export abstract class LatentInput extends Module {
  abstract readonly kind: LatentInputKind;
  /** The next latent's input embedding [B, D] (in `pre`'s dtype) and the end classifier's logit [B]. */
  abstract step(a: LatentStepArgs, stop: StopHead): LatentStepOutput;
  /** The options that rebuild this form (with the same init: the same parameter shapes); forms with options add them. */
  spec(): LatentInputSpec {
    return { kind: this.kind };
  }
  /** The constant scale, for the forms that have one (a property of the backbone, saved with checkpoints). */
  scale = 1;

  protected override extraRepr(): string {
    return JSON.stringify(this.spec());
  }
}

/** Identity parameters for the fused kernel: embed = n. Buffers, so that `to()` moves them. */
class Identity extends Module {
  declare ones: Tensor;
  declare zeros: Tensor;
  constructor(D: number, dtype: torch.DType, device?: string) {
    super();
    this.registerBuffer('ones', torch.ones([D], { dtype, device }), false);
    this.registerBuffer('zeros', torch.zeros([D], { dtype, device }), false);
  }
}

/** The forms built on n = RMSNorm(pre) and the stop logit, from the fused kernel with identity parameters. */
abstract class NormalizedInput extends LatentInput {
  identity: Identity;
  constructor(init: LatentInputInit) {
    super();
    this.identity = new Identity(init.hidden, init.dtype, init.device);
  }
  /** scale · n and the stop logit. */
  protected normalized(a: LatentStepArgs, stop: StopHead, scale = 1): LatentStepOutput {
    const { ones, zeros } = this.identity;
    return latentStep(a.pre, a.normWeight, ones, zeros, scale, stop.stopWeight, stop.stopBias, a.eps);
  }
}

/** raw: the post-norm hidden state, fed back unchanged (Coconut). */
export class RawInput extends NormalizedInput {
  readonly kind = 'raw';
  step(a: LatentStepArgs, stop: StopHead): LatentStepOutput {
    return this.normalized(a, stop);
  }
}

/** scaled: scale · n, the hidden state at the token embeddings' RMS, with no trainable parameters. */
export class ScaledInput extends NormalizedInput {
  readonly kind = 'scaled';
  constructor(init: LatentInputInit) {
    super(init);
    this.scale = init.scale;
  }
  step(a: LatentStepArgs, stop: StopHead): LatentStepOutput {
    return this.normalized(a, stop, this.scale);
  }
}

/** affine: scale · n · gain + bias, gain and bias trained (starts as `scaled`). */
export class AffineInput extends LatentInput {
  readonly kind = 'affine';
  gain: Parameter;
  bias: Parameter;
  constructor(init: LatentInputInit) {
    super();
    this.scale = init.scale;
    const o = { dtype: init.dtype, device: init.device };
    this.gain = torch.scope(() => new Parameter(torch.ones([init.hidden], o)));
    this.bias = torch.scope(() => new Parameter(torch.zeros([init.hidden], o)));
  }
  step(a: LatentStepArgs, stop: StopHead): LatentStepOutput {
    return latentStep(a.pre, a.normWeight, this.gain, this.bias, this.scale, stop.stopWeight, stop.stopBias, a.eps);
  }
}

function checkTemperature(t: number): number {
  if (!(t > 0) || !Number.isFinite(t)) throw new RangeError(`latent input temperature must be a finite number > 0, got ${t}`);
  return t;
}

/**
 * The token distribution at post-norm hidden states n [B, D]: p = softmax(logits / T) with the
 * excluded ids at probability 0 (computed at least in float32), and the logits themselves.
 */
function tokenDistribution(
  tokens: TokenSpace,
  n: Tensor,
  temperature: number,
  exclude: Tensor | null,
): { logits: Tensor; p: Tensor } {
  const w = tokens.embedWeight;
  const raw = tokens.lmHead(n.dtype === w.dtype ? n : n.to(w.dtype));
  let logits = raw.dtype === 'float64' || raw.dtype === 'float32' ? raw : raw.float();
  if (exclude) logits = logits.indexFill(-1, exclude, -Infinity);
  return { logits, p: (temperature === 1 ? logits : logits.div(temperature)).softmax(-1) };
}

/** p · E in the embedding's dtype, returned in `dtype`. */
function expectedEmbedding(tokens: TokenSpace, p: Tensor, dtype: torch.DType): Tensor {
  const w = tokens.embedWeight;
  const e = p.to(w.dtype).matmul(w);
  return e.dtype === dtype ? e : e.to(dtype);
}

/** Keeps an int64 tensor of the excluded ids per device (created on first use). */
class ExcludedIds {
  private readonly byDevice = new Map<string, Tensor>();
  constructor(private readonly ids: readonly number[]) {}
  on(device: string): Tensor | null {
    if (!this.ids.length) return null;
    let t = this.byDevice.get(device);
    if (!t) this.byDevice.set(device, (t = torch.keep(torch.tensor([...this.ids], { dtype: 'int64' }).to(device))));
    return t;
  }
  get list(): number[] {
    return [...this.ids];
  }
  dispose(): void {
    for (const t of this.byDevice.values()) t.dispose();
    this.byDevice.clear();
  }
}

/** The forms that read the hidden state as a token distribution p at temperature T (soft, gated). */
abstract class TokenDistributionInput extends NormalizedInput {
  readonly temperature: number;
  private readonly exclude: ExcludedIds;
  constructor(init: LatentInputInit, spec: LatentInputSpec) {
    super(init);
    this.temperature = checkTemperature(spec.temperature ?? 1);
    this.exclude = new ExcludedIds(init.excludeIds ?? []);
  }
  /** n = RMSNorm(pre), the stop logit, and the token distribution at n. */
  protected distribution(a: LatentStepArgs, stop: StopHead): { n: Tensor; stopLogit: Tensor; logits: Tensor; p: Tensor } {
    const { embed: n, stopLogit } = this.normalized(a, stop);
    return { n, stopLogit, ...tokenDistribution(a.tokens, n, this.temperature, this.exclude.on(n.device)) };
  }
  override spec(): LatentInputSpec {
    return { kind: this.kind, temperature: this.temperature };
  }
  override dispose(): void {
    super.dispose();
    this.exclude.dispose();
  }
}

/** soft: the expected token embedding under the model's next-token distribution at temperature T. */
export class SoftInput extends TokenDistributionInput {
  readonly kind = 'soft';
  step(a: LatentStepArgs, stop: StopHead): LatentStepOutput {
    return torch.scope(() => {
      const { p, stopLogit } = this.distribution(a, stop);
      return { embed: expectedEmbedding(a.tokens, p, a.pre.dtype), stopLogit };
    });
  }
}

/**
 * gated (HRPO, arXiv 2505.18454): the embedding ê of the argmax token and the hidden state projected
 * onto the embedding space, ĥ = p · E, mixed by a gate in the style of gated linear recurrences:
 *
 *   r = σ(W_r ê + b_r),  i = σ(W_i ĥ + b_i),  a = exp(−c · softplus(Λ) · r),
 *   embed = a ⊙ ê + √(1 − a²) ⊙ (i ⊙ ĥ)
 *
 * Λ starts where a ≈ 0.9–0.999 (mostly the token embedding, as HRPO starts), and training moves it.
 * ê is the argmax token's embedding, or, when the decoding policy samples, the token it drew at that
 * position (`tokenIds`). The token choice itself carries no gradient; everything else does.
 */
export class GatedInput extends TokenDistributionInput {
  readonly kind = 'gated';
  static readonly C = 8;
  gateR: Linear;
  gateI: Linear;
  lambda: Parameter;
  constructor(init: LatentInputInit, spec: LatentInputSpec) {
    super(init, spec);
    const o = { dtype: init.dtype, device: init.device };
    this.gateR = new Linear(init.hidden, init.hidden, o);
    this.gateI = new Linear(init.hidden, init.hidden, o);
    // a = exp(−c · softplus(Λ) · r) with r ≈ 1/2 at the start: softplus(Λ) ∈ [−ln 0.999, −ln 0.9] · 2/c
    this.lambda = torch.scope(() => {
      const lo = (-Math.log(0.999) * 2) / GatedInput.C;
      const hi = (-Math.log(0.9) * 2) / GatedInput.C;
      const s = torch
        .rand([init.hidden], o)
        .mul(hi - lo)
        .add(lo);
      return new Parameter(s.expm1().log()); // softplus⁻¹(s)
    });
  }
  step(a: LatentStepArgs, stop: StopHead): LatentStepOutput {
    return torch.scope(() => {
      const { logits, p, stopLogit } = this.distribution(a, stop);
      const dtype = this.lambda.dtype;
      const ids = a.tokenIds ? a.tokenIds.to(logits.device).reshape([-1]) : logits.argmax(-1);
      const token = a.tokens.embedWeight.indexSelect(0, ids).to(dtype); // ê [B, D]
      const projected = expectedEmbedding(a.tokens, p, dtype); // ĥ [B, D]
      const r = this.gateR.forward(token).sigmoid();
      const i = this.gateI.forward(projected).sigmoid();
      const gate = torch.softplus(this.lambda).mul(r).mul(-GatedInput.C).exp();
      const mix = gate.mul(token).add(gate.square().neg().add(1).sqrt().mul(i).mul(projected));
      return { embed: mix.dtype === a.pre.dtype ? mix : mix.to(a.pre.dtype), stopLogit };
    });
  }
}

/** The latent indices of a step, one per row. */
function rowIndices(a: LatentStepArgs, rows: number): number[] {
  const idx = typeof a.index === 'number' ? new Array<number>(rows).fill(a.index) : [...a.index];
  if (idx.length !== rows) throw new RangeError(`latent input: ${idx.length} latent indices for ${rows} rows`);
  return idx;
}

/**
 * pause (pause-as-thought, Coconut's control): latent j's input is a learned constant c_j, the same
 * for every example. The latent passes still run (same compute), but carry no hidden-state content.
 * The stop decision still reads the hidden state.
 */
export class PauseInput extends NormalizedInput {
  readonly kind = 'pause';
  vectors: Parameter;
  constructor(init: LatentInputInit, spec: LatentInputSpec) {
    super(init);
    const slots = spec.slots ?? 16;
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`pause: slots must be a positive integer, got ${slots}`);
    const o = { dtype: init.dtype, device: init.device };
    this.vectors = torch.scope(() => {
      // start from a real token embedding (the markers' init row) when given, else at the embeddings' scale
      const row = init.initRow
        ? init.initRow.to(init.dtype).reshape([1, init.hidden])
        : torch.randn([1, init.hidden], o).mul(0.02);
      return new Parameter(row.expand([slots, init.hidden]).clone());
    });
  }
  get slots(): number {
    return this.vectors.size(0);
  }
  step(a: LatentStepArgs, stop: StopHead): LatentStepOutput {
    return torch.scope(() => {
      const { stopLogit } = this.normalized(a, stop);
      const last = this.slots - 1;
      const rows = rowIndices(a, a.pre.size(0)).map((j) => Math.min(Math.max(j, 0), last));
      const idx = torch.tensor(rows, { dtype: 'int64' }).to(this.vectors.device);
      const v = this.vectors.indexSelect(0, idx);
      return { embed: v.dtype === a.pre.dtype ? v : v.to(a.pre.dtype), stopLogit };
    });
  }
  override spec(): LatentInputSpec {
    return { kind: 'pause', slots: this.slots };
  }
}

/**
 * planted-result (the study's planted positive): latent j of a span is fed the token embedding of
 * the j-th token that writes the span's result (the last one repeated), detached, so the latents
 * hold the answer by construction whatever the model computes. It needs the training spans
 * (teacher-forced passes): generation does not know the result, and is refused.
 */
export class PlantedResultInput extends NormalizedInput {
  readonly kind = 'planted-result';
  step(a: LatentStepArgs, stop: StopHead): LatentStepOutput {
    return torch.scope(() => {
      const { stopLogit } = this.normalized(a, stop);
      const B = a.pre.size(0);
      if (!a.spans)
        throw new RangeError(
          "planted-result: the latents carry the span's result, which is only known for training sequences, not in generation",
        );
      const j = rowIndices(a, B);
      // rows without a span (padding) take token 0; their input is never attended to
      const ids = a.spans.map((span, b) =>
        span && span.resultIds.length ? span.resultIds[Math.min(j[b], span.resultIds.length - 1)] : 0,
      );
      const embed = a.tokens.embedWeight
        .indexSelect(0, torch.tensor(ids, { dtype: 'int64' }).to(a.tokens.embedWeight.device))
        .detach();
      return { embed: embed.dtype === a.pre.dtype ? embed : embed.to(a.pre.dtype), stopLogit };
    });
  }
}

/** zeros (the study's planted null): every latent is fed a zero vector, so there is no content to use. */
export class ZeroInput extends NormalizedInput {
  readonly kind = 'zeros';
  step(a: LatentStepArgs, stop: StopHead): LatentStepOutput {
    return torch.scope(() => {
      const { embed, stopLogit } = this.normalized(a, stop);
      return { embed: torch.zerosLike(embed), stopLogit };
    });
  }
}

/** The factory of each form. */
export const LATENT_INPUT_FORMS: Record<LatentInputKind, (init: LatentInputInit, spec: LatentInputSpec) => LatentInput> = {
  raw: (init) => new RawInput(init),
  scaled: (init) => new ScaledInput(init),
  affine: (init) => new AffineInput(init),
  gated: (init, spec) => new GatedInput(init, spec),
  soft: (init, spec) => new SoftInput(init, spec),
  pause: (init, spec) => new PauseInput(init, spec),
  'planted-result': (init) => new PlantedResultInput(init),
  zeros: (init) => new ZeroInput(init),
};

export function isLatentInputKind(kind: unknown): kind is LatentInputKind {
  return typeof kind === 'string' && (LATENT_INPUT_KINDS as readonly string[]).includes(kind);
}

/** Builds the form `spec` names (a clear error for an unknown kind). */
export function createLatentInput(spec: LatentInputSpec | LatentInputKind, init: LatentInputInit): LatentInput {
  const s = typeof spec === 'string' ? { kind: spec } : spec;
  if (!isLatentInputKind(s.kind))
    throw new RangeError(`unknown latent input form '${String(s.kind)}' (one of ${LATENT_INPUT_KINDS.join(', ')})`);
  return LATENT_INPUT_FORMS[s.kind](init, s);
}
