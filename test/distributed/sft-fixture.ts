// The phase-1 fixture of test/train/sft.test.ts, built in a child process (worker.ts fixture): a tiny
// arithmetic task, the Qwen tokenizer restricted to it, and a small random Qwen2 model.
import * as path from 'path';
import { writeArithTask } from '../../src/data/arith-task';
import { tinyQwen2ForTask } from '../helpers/tiny-qwen2';

export function buildSftFixture(root: string, qwenTokenizerDir: string): { data: string; model: string } {
  const data = path.join(root, 'data');
  writeArithTask(data, { train: 48, test: 8, seed: 3, maxSteps: 2, maxDigits: 1 });
  const model = tinyQwen2ForTask(root, data, qwenTokenizerDir, ['<|endoftext|>']);
  return { data, model };
}
