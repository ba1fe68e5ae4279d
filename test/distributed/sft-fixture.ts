// The phase-1 fixture of test/train/sft.test.ts, built in a child process (worker.ts fixture): a tiny
// arithmetic task, the Qwen tokenizer restricted to it, and a small random Qwen2 model.
import * as path from 'path';
import { writeArithTask } from '../../src/data/arith-task';
import { loadGsm8k, formatTrainingText } from '../../src/data/gsm8k';
import { Tokenizer } from '../../src/models/tokenizer';
import { makeModel } from '../../src/models/qwen2/make-model';

export function buildSftFixture(root: string, qwenTokenizerDir: string): { data: string; model: string } {
  const data = path.join(root, 'data');
  writeArithTask(data, { train: 48, test: 8, seed: 3, maxSteps: 2, maxDigits: 1 });
  const texts = loadGsm8k(data, { split: 'train' })
    .examples.concat(loadGsm8k(data, { split: 'test' }).examples)
    .map((e) => formatTrainingText(e));
  const { tokenizer } = Tokenizer.fromDir(qwenTokenizerDir).restrictTo(texts, { keepTokens: ['<|endoftext|>'] });
  const tok = path.join(root, 'tok');
  tokenizer.save(tok);
  const model = path.join(root, 'model');
  makeModel(model, {
    layers: 2,
    hidden: 32,
    heads: 4,
    kvHeads: 2,
    intermediate: 64,
    vocab: tokenizer.vocabSize + 2,
    tokenizerDir: tok,
    seed: 1,
    std: 0.05,
  });
  return { data, model };
}
