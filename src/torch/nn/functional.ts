// torch.nn.functional: PyTorch's Python-level conveniences over ATen operators.
import { Tensor } from '../tensor';
import * as ops from '../generated/ops';
import { ValueError } from '../errors';

export type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION = { none: 0, mean: 1, sum: 2 } as const;

function reductionCode(r: Reduction): number {
  const code = REDUCTION[r];
  if (code === undefined) throw new ValueError(`reduction must be 'none', 'mean' or 'sum', got '${r}'`);
  return code;
}

/** The options of F.nll_loss, with PyTorch's defaults (weight null, ignoreIndex -100, reduction 'mean'). */
export interface NllLossOptions {
  weight?: Tensor | null;
  ignoreIndex?: number;
  reduction?: Reduction;
}

/** weight, reduction code and ignoreIndex, in the operators' argument order. */
function nllArguments({ weight = null, ignoreIndex = -100, reduction = 'mean' }: NllLossOptions) {
  return [weight, reductionCode(reduction), ignoreIndex] as const;
}

/** F.cross_entropy over class logits [N, C] (or [N, C, ...]) and int64 targets: nll_loss's options and label smoothing. */
export function crossEntropy(input: Tensor, target: Tensor, options: NllLossOptions & { labelSmoothing?: number } = {}): Tensor {
  return ops.crossEntropyLoss(input, target, ...nllArguments(options), options.labelSmoothing ?? 0);
}

export function nllLoss(input: Tensor, target: Tensor, options: NllLossOptions = {}): Tensor {
  return ops.nllLoss(input, target, ...nllArguments(options));
}

export function mseLoss(input: Tensor, target: Tensor, { reduction = 'mean' }: { reduction?: Reduction } = {}): Tensor {
  return ops.mseLoss(input, target, reductionCode(reduction));
}

export function binaryCrossEntropyWithLogits(
  input: Tensor,
  target: Tensor,
  {
    weight = null,
    posWeight = null,
    reduction = 'mean',
  }: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction } = {},
): Tensor {
  return ops.binaryCrossEntropyWithLogits(input, target, weight, posWeight, reductionCode(reduction));
}

export const softmax = (x: Tensor, dim: number): Tensor => ops.softmax(x, dim);
export const logSoftmax = (x: Tensor, dim: number): Tensor => ops.logSoftmax(x, dim);
export const silu = (x: Tensor): Tensor => ops.silu(x);
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor => ops.gelu(x, { approximate });
export const relu = (x: Tensor): Tensor => ops.relu(x);
export const linear = (x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor => ops.linear(x, weight, bias);
export const embedding = (ids: Tensor, weight: Tensor): Tensor => ops.embedding(weight, ids);
/** As PyTorch: checked even when dropout is off, so a bad configuration fails at once rather than at training time. */
export function checkDropoutProbability(p: number): void {
  if (!(p >= 0 && p <= 1)) throw new ValueError(`dropout probability has to be between 0 and 1, but got ${p}`);
}
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  checkDropoutProbability(p);
  return training && p > 0 ? ops.dropout(x, p, true) : x;
}

export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  {
    attnMask = null,
    dropoutP = 0,
    isCausal = false,
    scale = null,
    enableGqa = false,
  }: { attnMask?: Tensor | null; dropoutP?: number; isCausal?: boolean; scale?: number | null; enableGqa?: boolean } = {},
): Tensor {
  return ops.scaledDotProductAttention(q, k, v, attnMask, dropoutP, isCausal, { scale, enableGqa });
}

/** Cosine similarity along dim. */
export const cosineSimilarity = (a: Tensor, b: Tensor, dim = 1, eps = 1e-8): Tensor => ops.cosineSimilarity(a, b, dim, eps);
export const normalize = (x: Tensor, p = 2, dim = 1, eps = 1e-12): Tensor => {
  const n = ops.linalgVectorNorm(x, p, [dim], true).clampMin(eps);
  const out = x.div(n);
  n.dispose();
  return out;
};
