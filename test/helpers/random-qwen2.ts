// The small random Qwen2 that the latent tests compute with.
import * as torch from '../../src/torch';
import type { Tensor } from '../../src/torch';
import { Qwen2ForCausalLM } from '../../src/models/qwen2/modeling';
import { makeQwen2Config } from '../../src/models/qwen2/config';

/**
 * A Qwen2 of 2 layers (4 heads, 2 KV heads, MLP 32) with weights drawn from N(0, 0.3²): larger than the default init,
 * so that attention is far from uniform. It draws from the global generator: seed that first.
 */
export function randomQwen2(vocabSize: number, hiddenSize: number, dtype: torch.DType): Qwen2ForCausalLM {
  const config = makeQwen2Config({
    vocabSize,
    hiddenSize,
    intermediateSize: 32,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
  });
  const model = new Qwen2ForCausalLM(config, { dtype });
  torch.noGrad(() => model.parameters().forEach((p) => torch.scope(() => p.copy_(torch.randnLike(p).mul(0.3)))));
  return model;
}

/**
 * The summed cross-entropy of `model` run once on the input embeddings `embeds` (one per position), at the positions
 * whose target is not −100: the position-by-position reference the latent tests compare against.
 */
export function summedLossOnEmbeds(model: Qwen2ForCausalLM, embeds: Tensor[], targets: readonly number[]): Tensor {
  const logits = model.forward({ inputsEmbeds: torch.stack(embeds).unsqueeze(0) }).logits.squeeze(0);
  const rows = targets.map((x, i) => (x === -100 ? -1 : i)).filter((i) => i >= 0);
  const picked = logits.indexSelect(0, torch.tensor(rows, { dtype: 'int64' }));
  const wanted = torch.tensor(
    rows.map((i) => targets[i]),
    { dtype: 'int64' },
  );
  return torch.F.crossEntropy(picked, wanted, { reduction: 'sum' });
}
