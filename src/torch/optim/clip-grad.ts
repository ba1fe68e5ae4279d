// Gradient clipping (torch.nn.utils.clip_grad_norm_), computed natively in one call.
import { native as N } from '../native';
import { Tensor } from '../tensor';
import { TorchTypeError, ValueError } from '../errors';

export interface ClipGradNormOptions {
  /** Throw when the total norm is NaN or infinite instead of scaling by it (default false, as PyTorch). */
  errorIfNonfinite?: boolean;
}

/**
 * Scales the gradients of `params` in place so that their joint norm is at most `maxNorm`, with
 * PyTorch's algorithm: the total norm is the `normType`-norm of the per-gradient norms, and every
 * gradient is multiplied by min(1, maxNorm / (total + 1e-6)). Parameters without a gradient are
 * ignored. Returns the total norm before clipping (0 when no parameter has a gradient).
 * `normType` may be Infinity (max-abs norm).
 */
export function clipGradNorm_(
  params: Tensor | Iterable<Tensor>,
  maxNorm: number,
  normType = 2,
  options: ClipGradNormOptions = {},
): number {
  const tensors = params instanceof Tensor ? [params] : [...params];
  tensors.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new TorchTypeError(`clipGradNorm_: params[${i}] is not a Tensor`);
  });
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm))
    throw new ValueError(`clipGradNorm_: maxNorm must be a number, got ${String(maxNorm)}`);
  if (typeof normType !== 'number' || Number.isNaN(normType))
    throw new ValueError(`clipGradNorm_: normType must be a number (or Infinity), got ${String(normType)}`);
  return N.clipGradNorm(
    tensors.map((t) => t._h),
    maxNorm,
    normType,
    options.errorIfNonfinite ?? false,
  );
}
