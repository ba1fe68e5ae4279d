// Shared by the examples: the embedded arithmetic task (GSM8K format), a tokenizer for it and a small
// random Qwen2-architecture checkpoint, written under runs/examples/<name>. LATENT_EXAMPLES_FAST=1
// shrinks everything so that CI runs each example in seconds.
import * as fs from 'fs';
import * as path from 'path';
import { data, demo, models } from 'latent-tokens';

export const FAST = !!process.env.LATENT_EXAMPLES_FAST;

/** A fresh working directory for example `name` (replaced on each run). */
export function exampleDir(name: string): string {
  const dir = path.resolve(process.env.LATENT_EXAMPLES_OUT ?? path.join('runs', 'examples'), name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Writes the task and a random model into `root`; returns their directories. */
export function arithmeticSetup(root: string): { data: string; model: string } {
  const dataDir = path.join(root, 'data');
  data.writeArithTask(dataDir, {
    train: FAST ? 48 : 2000,
    test: FAST ? 12 : 200,
    seed: 0,
    minSteps: 1,
    maxSteps: 2,
    maxDigits: 1,
    maxResult: 99,
  });
  const texts = data.loadGsm8k(dataDir, { split: 'train' }).examples.map((e) => data.formatTrainingText(e));
  const tok = demo.demoTokenizer(texts, 'auto', 400); // Qwen's tokenizer restricted to the task when on disk, else a BPE trained here
  const tokDir = path.join(root, 'tokenizer');
  tok.tokenizer.save(tokDir);
  const model = path.join(root, 'model');
  const size = FAST
    ? { layers: 1, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64 }
    : { layers: 4, hidden: 128, heads: 4, kvHeads: 2, intermediate: 384 };
  // two spare rows for <bot>/<eot>
  models.qwen2.makeModel(model, { ...size, vocab: tok.tokenizer.vocabSize + 2, tokenizerDir: tokDir, seed: 0, std: 0.02 });
  return { data: dataDir, model };
}
