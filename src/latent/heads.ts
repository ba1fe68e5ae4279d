// The trainable pieces latent reasoning adds to a language model:
//  - embeddings of the new tokens `<bot>` and `<eot>` (initialised from an existing token's row),
//  - the latent adapter (gain, bias, scale) that turns a hidden state into the next input embedding,
//  - the end classifier (stopWeight, stopBias) computed by the same fused latent step,
//  - the start classifier: a linear probe on language hidden states predicting "a span opens next".
import * as torch from '../torch';
import { Module, Parameter } from '../torch/nn';
import type { Tensor } from '../torch';
import { latentStep } from './latent-step';

export interface LatentHeadsOptions {
  hidden: number;
  /** embedding rows that initialise `<bot>` and `<eot>` ([2, hidden]) */
  markerInit: Tensor;
  /** RMS(token embeddings) / RMS(post-norm hidden): latents start at the embeddings' scale */
  scale: number;
  /** prior probability of the start classifier (the breakpoint rate), for its bias */
  startPrior?: number;
  dtype?: torch.DType;
}

export class LatentHeads extends Module {
  /** rows for `<bot>` (0) and `<eot>` (1) */
  markers: Parameter;
  gain: Parameter;
  bias: Parameter;
  stopWeight: Parameter;
  stopBias: Parameter;
  startWeight: Parameter;
  startBias: Parameter;
  /** kept outside the gradient: a property of the backbone, fixed at initialisation */
  scale: number;
  /** start probability above which generation opens a span (calibrated on validation data for F1) */
  startThreshold = 0.5;

  constructor(o: LatentHeadsOptions) {
    super();
    const dtype = o.dtype ?? 'float32';
    const D = o.hidden;
    this.scale = o.scale;
    this.markers = torch.scope(() => new Parameter(o.markerInit.to(dtype).clone()));
    this.gain = torch.scope(() => new Parameter(torch.ones([D], { dtype })));
    this.bias = torch.scope(() => new Parameter(torch.zeros([D], { dtype })));
    // Small random classifier weights; biases set so that the first decisions follow the priors:
    // a span of k latents stops with probability ~1/(k+1) per step.
    this.stopWeight = torch.scope(() => new Parameter(torch.randn([D], { dtype }).mul(0.01)));
    this.stopBias = torch.scope(() => new Parameter(torch.tensor(-1, { dtype })));
    this.startWeight = torch.scope(() => new Parameter(torch.randn([D], { dtype }).mul(0.01)));
    const p = o.startPrior ?? 0.05;
    this.startBias = torch.scope(() => new Parameter(torch.tensor(Math.log(p / (1 - p)), { dtype })));
  }

  /** One latent step from pre-norm hidden states [B, D]: the next input embedding and the stop logit. */
  step(preNormHidden: Tensor, normWeight: Tensor, eps: number): { embed: Tensor; stopLogit: Tensor } {
    return latentStep(preNormHidden, normWeight, this.gain, this.bias, this.scale, this.stopWeight, this.stopBias, eps);
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
