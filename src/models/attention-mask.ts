// The attention mask over a KV cache that rows fill at their own pace: Qwen2's padded batches, the
// latent forward's waves and the RL rollouts all describe cache slots by a position and a realness,
// and all attend by the same rule, built here.
import * as torch from '../torch';
import type { Tensor } from '../torch';

/**
 * The boolean mask (true = may attend) of the last `queries` of S cache slots over all S slots,
 * [B, 1, queries, S]. `positions` [B or 1, S] (an integer dtype) are the slots' positions, `valid` [B, S] (bool)
 * says which slots hold real tokens (null: all do).
 *
 * A real query attends to the real keys at positions up to its own: causal by position, so examples
 * whose chunks fall at different slots line up, and padding is never attended to. Every query also
 * attends to its own slot, so that no row is fully masked (that would give NaN outputs and NaN
 * gradients); a padding query's output is unused.
 */
export function attentionMask(positions: Tensor, valid: Tensor | null, queries: number = positions.size(1)): Tensor {
  const S = positions.size(1);
  if (!Number.isInteger(queries) || queries < 1 || queries > S)
    throw new RangeError(`attentionMask: queries must be an integer in [1, ${S}], got ${queries}`);
  if (valid !== null && (valid.dim() !== 2 || valid.size(1) !== S))
    throw new RangeError(`attentionMask: valid must be [batch, ${S}], got [${valid.shape}]`);
  const first = S - queries;
  let visible = positions.unsqueeze(1).le(positions.narrow(1, first, queries).unsqueeze(2)); // [B, query, key]
  if (valid !== null) visible = visible.logicalAnd(valid.narrow(1, first, queries).unsqueeze(2)).logicalAnd(valid.unsqueeze(1));
  // each query's own slot: the diagonal of the last `queries` keys, written in place on the fresh result
  torch.noGrad(() => visible.narrow(2, first, queries).diagonal(0, 1, 2).fill_(true));
  return visible.unsqueeze(1);
}
