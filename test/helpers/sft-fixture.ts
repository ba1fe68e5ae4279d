// A tiny arithmetic task, a Qwen tokenizer restricted to it, and a small random Qwen2 model: the
// fixture of the phase-1 training tests.
import * as fs from 'fs';
import * as path from 'path';
import { writeArithTask } from '../../src/data/arith-task';
import { loadGsm8k, formatTrainingText } from '../../src/data/gsm8k';
import { Tokenizer } from '../../src/models/tokenizer';
import { makeModel } from '../../src/models/qwen2/make-model';

const REPO = path.resolve(__dirname, '..', '..');
export const qwenDir = process.env.QWEN_TOKENIZER_DIR ?? path.resolve(REPO, '..', 'shared', 'qwen-tokenizer');
export const haveQwenTokenizer = fs.existsSync(path.join(qwenDir, 'tokenizer.json'));

/** A tiny arithmetic task, a Qwen tokenizer restricted to it, and a small random Qwen2 model. */
export function sftFixture(
  root: string,
  {
    writeData,
  }: {
    /** writes train.jsonl and test.jsonl into the directory instead of the arithmetic task */ writeData?: (dir: string) => void;
  } = {},
): { data: string; model: string } {
  const data = path.join(root, 'data');
  if (writeData) writeData(data);
  else writeArithTask(data, { train: 48, test: 8, seed: 3, maxSteps: 2, maxDigits: 1 });
  const texts = loadGsm8k(data, { split: 'train' })
    .examples.concat(loadGsm8k(data, { split: 'test' }).examples)
    .map((e) => formatTrainingText(e));
  const full = Tokenizer.fromDir(qwenDir);
  const { tokenizer } = full.restrictTo(texts, { keepTokens: ['<|endoftext|>'] });
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
