// The latent step: from the last hidden state of a position to the input embedding of the next
// latent token, plus the logit of "stop thinking" — fused into one native op (native/kernels/
// latent_step.cc, CPU and CUDA kernels, a custom autograd Function).
//
//   n         = h · rsqrt(mean(h², -1) + eps) · normWeight      (the model's final RMSNorm)
//   embed     = scale · n · gain + bias                           [B, D]
//   stopLogit = n · stopWeight + stopBias                         [B]   (a dot product over D)
// The binding lives in the torch layer beside the other native ops; latent/ builds its heads on it.
import { TorchTypeError } from '../errors';
import { scope } from '../memory';
import { native } from '../native';
import { Tensor, wrap } from '../tensor';

export interface LatentStepOutput {
  /** the input embedding of the next latent token, [B, D], in h's dtype */
  embed: Tensor;
  /** the end classifier's logit per row, [B] */
  stopLogit: Tensor;
}

/** eps of the final RMSNorm when the caller passes none. */
const DEFAULT_EPS = 1e-6;

const TENSOR_ARGS = ['h', 'normWeight', 'gain', 'bias', 'scale', 'stopWeight', 'stopBias'] as const;

function checkArguments(fn: string, args: readonly unknown[], eps: unknown): void {
  args.forEach((value, i) => {
    const name = TENSOR_ARGS[i];
    if (name === 'scale') {
      if (typeof value !== 'number' || !Number.isFinite(value))
        throw new TorchTypeError(`${fn}: scale must be a finite number, got ${String(value)}`);
    } else if (!(value instanceof Tensor)) {
      throw new TorchTypeError(`${fn}: ${name} must be a Tensor, got ${value === null ? 'null' : typeof value}`);
    }
  });
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0)
    throw new TorchTypeError(`${fn}: eps must be a finite number >= 0, got ${String(eps)}`);
}

/**
 * The fused latent step. `h` [B, D] holds the hidden states of the last position *before* the model's
 * final norm (rows may be strided, e.g. `hidden.select(1, -1)` of [B, T, D], without a copy);
 * `normWeight` [D] is that final norm's gain; `gain` and `bias` [D] the learned latent adapter;
 * `scale` a constant (callers initialise it to RMS(token embeddings) / RMS(post-norm hidden));
 * `stopWeight` [D] and `stopBias` (shape [] or [1]) the end classifier.
 *
 * All tensors share one dtype (float32, float64, bfloat16 or float16; reduced precisions accumulate
 * in float32) and one device. Differentiable in every tensor argument (scale is a constant);
 * gradients of gradients (createGraph) are supported.
 */
export function latentStep(
  h: Tensor,
  normWeight: Tensor,
  gain: Tensor,
  bias: Tensor,
  scale: number,
  stopWeight: Tensor,
  stopBias: Tensor,
  eps = DEFAULT_EPS,
): LatentStepOutput {
  checkArguments('latentStep', [h, normWeight, gain, bias, scale, stopWeight, stopBias], eps);
  const [embed, stopLogit] = native.latentStep(h._h, normWeight._h, gain._h, bias._h, scale, stopWeight._h, stopBias._h, eps);
  return { embed: wrap(embed), stopLogit: wrap(stopLogit) };
}

/**
 * The same step composed from primitive operators (about a dozen kernels and autograd nodes): the
 * definition latentStep is tested against, and what it is benchmarked against. In bfloat16/float16
 * every intermediate is rounded, so results differ from latentStep's (which rounds once) within
 * that precision.
 */
export function latentStepReference(...args: Parameters<typeof latentStep>): LatentStepOutput {
  const [h, normWeight, gain, bias, scale, stopWeight, stopBias, eps = DEFAULT_EPS] = args;
  checkArguments('latentStepReference', [h, normWeight, gain, bias, scale, stopWeight, stopBias], eps);
  return scope(() => {
    const n = h.mul(h.square().mean(-1, true).add(eps).rsqrt()).mul(normWeight);
    const embed = n.mul(gain).mul(scale).add(bias);
    const stopLogit = n.mul(stopWeight).sum(-1).add(stopBias.reshape([]));
    return { embed, stopLogit };
  });
}
