// Parameter initialisers (torch.nn.init), in place and without recording gradients.
import type { Tensor } from '../tensor';
import { noGrad } from '../autograd';

export function uniform_(t: Tensor, low = 0, high = 1): Tensor {
  return noGrad(() => t.uniform_(low, high));
}
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  return noGrad(() => t.normal_(mean, std));
}
export function zeros_(t: Tensor): Tensor {
  return noGrad(() => t.zero_());
}
export function ones_(t: Tensor): Tensor {
  return noGrad(() => t.fill_(1));
}
export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value));
}
/** fan_in and fan_out of a weight of shape [out, in, ...]. */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  const s = t.shape;
  const receptive = s.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: (s[1] ?? 1) * receptive, fanOut: s[0] * receptive };
}
/** kaiming_uniform_ with a = sqrt(5): nn.Linear's default weight initialisation. */
export function kaimingUniform_(t: Tensor, a = Math.sqrt(5)): Tensor {
  const gain = Math.sqrt(2 / (1 + a * a));
  const bound = gain * Math.sqrt(3 / fans(t).fanIn);
  return uniform_(t, -bound, bound);
}
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = fans(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound);
}
