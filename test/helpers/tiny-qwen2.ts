// The small random Qwen2 models the training tests train, and the Qwen tokenizer restricted to their task.
import * as path from 'path';
import { loadGsm8k, formatTrainingText } from '../../src/data/gsm8k';
import { Tokenizer } from '../../src/models/tokenizer';
import { makeModel } from '../../src/models/qwen2/make-model';

/**
 * A random Qwen2 in `dir`: hidden 32, 4 heads (2 KV heads), MLP 64, and the tokenizer's vocabulary plus 2 rows
 * (room for the latent markers).
 */
export function makeTinyQwen2(
  dir: string,
  tokenizerDir: string,
  tokenizerVocab: number,
  { layers = 2, seed = 1 }: { layers?: number; seed?: number } = {},
): void {
  makeModel(dir, {
    layers,
    hidden: 32,
    heads: 4,
    kvHeads: 2,
    intermediate: 64,
    vocab: tokenizerVocab + 2,
    tokenizerDir,
    seed,
    std: 0.05,
  });
}

/**
 * The Qwen tokenizer restricted to the training texts of `data`'s train and test splits (saved in `<root>/tok`) and a
 * tiny Qwen2 on it (in `<root>/model`, returned).
 */
export function tinyQwen2ForTask(root: string, data: string, qwenTokenizerDir: string, keepTokens: string[]): string {
  const texts = (['train', 'test'] as const).flatMap((split) =>
    loadGsm8k(data, { split }).examples.map((e) => formatTrainingText(e)),
  );
  const { tokenizer } = Tokenizer.fromDir(qwenTokenizerDir).restrictTo(texts, { keepTokens });
  const tok = path.join(root, 'tok');
  tokenizer.save(tok);
  const model = path.join(root, 'model');
  makeTinyQwen2(model, tok, tokenizer.vocabSize);
  return model;
}
