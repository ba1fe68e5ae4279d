// The trainable pieces latent reasoning adds to a language model:
//  - embeddings of the new tokens `<bot>` and `<eot>` (initialised from an existing token's row),
//  - the latent input form (latent-input.ts: raw, scaled, affine, gated, soft, pause) that turns a
//    hidden state into the next input embedding,
//  - the end classifier (stopWeight, stopBias), computed by the same latent step,
//  - the start classifier: a linear probe on language hidden states predicting "a span opens next".
import * as torch from '../torch';
import { Module, Parameter } from '../torch/nn';
import type { Tensor } from '../torch';
import type { LatentStepOutput } from '../torch/kernels/latent-step';
import {
  createLatentInput,
  type LatentInput,
  type LatentInputKind,
  type LatentInputSpec,
  type LatentStepArgs,
} from './latent-input';

export interface LatentHeadsOptions {
  hidden: number;
  /** embedding rows that initialise `<bot>` and `<eot>` ([2, hidden]) */
  markerInit: Tensor;
  /** RMS(token embeddings) / RMS(post-norm hidden): latents start at the embeddings' scale */
  scale: number;
  /** prior probability of the start classifier (the breakpoint rate), for its bias */
  startPrior?: number;
  dtype?: torch.DType;
  device?: string;
  /** the latent input form (default affine) */
  input?: LatentInputSpec | LatentInputKind;
  /** token ids the token-distribution forms (soft, gated) leave out: the `<bot>`/`<eot>` ids */
  excludeIds?: readonly number[];
  /** the token whose embedding row starts learned latent vectors (pause); default: the `<bot>` init row */
  inputInitRow?: Tensor;
  /** `<bot>`/`<eot>` embeddings fixed at their initial rows (not trained) */
  freezeMarkers?: boolean;
}

export class LatentHeads extends Module {
  /** rows for `<bot>` (0) and `<eot>` (1) */
  markers: Parameter;
  /** the latent input form and its parameters (saved as heads.input.…) */
  input: LatentInput;
  stopWeight: Parameter;
  stopBias: Parameter;
  startWeight: Parameter;
  startBias: Parameter;
  /** start probability above which generation opens a span (calibrated on validation data for F1) */
  startThreshold = 0.5;

  constructor(readonly options: LatentHeadsOptions) {
    super();
    const o = options;
    const dtype = o.dtype ?? 'float32';
    const device = o.device ?? o.markerInit.device;
    const D = o.hidden;
    this.markers = torch.scope(() => new Parameter(o.markerInit.to(dtype).to(device).clone()));
    if (o.freezeMarkers) this.markers.requiresGrad_(false);
    this.input = torch.scope(() =>
      createLatentInput(o.input ?? 'affine', {
        hidden: D,
        dtype,
        device,
        scale: o.scale,
        initRow: o.inputInitRow ?? o.markerInit.select(0, 0),
        excludeIds: o.excludeIds,
      }),
    );
    // Small random classifier weights; biases set so that the first decisions follow the priors:
    // a span of k latents stops with probability ~1/(k+1) per step.
    this.stopWeight = torch.scope(() => new Parameter(torch.randn([D], { dtype }).mul(0.01).to(device)));
    this.stopBias = torch.scope(() => new Parameter(torch.tensor(-1, { dtype }).to(device)));
    this.startWeight = torch.scope(() => new Parameter(torch.randn([D], { dtype }).mul(0.01).to(device)));
    const p = o.startPrior ?? 0.05;
    this.startBias = torch.scope(() => new Parameter(torch.tensor(Math.log(p / (1 - p)), { dtype }).to(device)));
  }

  /** RMS(token embeddings) / RMS(post-norm hidden) of the backbone: a constant of the scaled and affine forms */
  get scale(): number {
    return this.input.scale;
  }
  set scale(v: number) {
    this.input.scale = v;
  }

  /** The affine form's trainable gain and bias (an error for the other forms). */
  get gain(): Parameter {
    return this.affine('gain');
  }
  get bias(): Parameter {
    return this.affine('bias');
  }
  private affine(name: 'gain' | 'bias'): Parameter {
    const p = (this.input as unknown as Record<string, unknown>)[name];
    if (!(p instanceof Parameter))
      throw new TypeError(`LatentHeads.${name}: the '${this.input.kind}' latent input has no ${name} (only 'affine' does)`);
    return p;
  }

  /** One latent step from pre-norm hidden states [B, D]: the next input embedding and the stop logit. */
  step(a: LatentStepArgs): LatentStepOutput {
    return this.input.step(a, this);
  }

  /** Heads of the same form and shapes, with fresh parameters (load a state dict to copy). */
  static like(other: LatentHeads): LatentHeads {
    const { markerInit: _m, inputInitRow: _r, ...o } = other.options; // init tensors may be gone: shapes come from the parameters
    return torch.scope(
      () =>
        new LatentHeads({
          ...o,
          markerInit: other.markers.detach(),
          input: other.input.spec(),
          scale: other.scale,
          dtype: other.markers.dtype,
          device: other.markers.device,
        }),
    );
  }

  /** Start-classifier logits for post-norm hidden states [..., D]. */
  startLogits(hidden: Tensor): Tensor {
    return torch.scope(() => hidden.matmul(this.startWeight.to(hidden.dtype)).add(this.startBias.to(hidden.dtype)));
  }

  /** Replaces the embeddings at `<bot>`/`<eot>` positions with the trainable marker rows. */
  applyMarkers(embeds: Tensor, ids: Tensor, botId: number, eotId: number): Tensor {
    return torch.scope(() => {
      const m = this.markers.to(embeds.dtype);
      const isBot = ids.eq(botId).unsqueeze(-1);
      const isEot = ids.eq(eotId).unsqueeze(-1);
      const withBot = torch.where(isBot, m.select(0, 0), embeds);
      return torch.where(isEot, m.select(0, 1), withBot);
    });
  }
}
