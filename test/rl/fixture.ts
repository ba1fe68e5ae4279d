// A task with a known reward for RL tests: "which is larger, a or b?" in GSM8K format, with the
// comparison as a calculator annotation (a breakpoint, so phase 1 places a latent span there), a
// Qwen tokenizer restricted to the corpus, a small random Qwen2 model, and a short phase-1 run.
//
// Phase 1 imitates a careless teacher: its answers name the first or the second number at random,
// so the phase-1 policy writes well-formed answers that are right about half the time, and the
// verifiable reward (the larger number) has room to rise under RL.
import * as fs from 'fs';
import * as path from 'path';
import { mulberry32 } from '../../src/data/random';
import { writeTextAtomic } from '../../src/util/atomic-write';
import { tinyQwen2ForTask } from '../helpers/tiny-qwen2';
import { resolveSftConfig, trainSft, type SftConfig } from '../../src/train/sft';

const REPO = path.resolve(__dirname, '..', '..');
export const QWEN_TOKENIZER_DIR = process.env.QWEN_TOKENIZER_DIR ?? path.resolve(REPO, '..', 'shared', 'qwen-tokenizer');
export const haveQwenTokenizer = fs.existsSync(path.join(QWEN_TOKENIZER_DIR, 'tokenizer.json'));

/** One "larger of two digits" question as a GSM8K record whose answer is `answer`. */
export function largerRecord(a: number, b: number, answer = Math.max(a, b)): { question: string; answer: string } {
  return { question: `Which is larger, ${a} or ${b}?`, answer: `<<pick(${a},${b})=${answer}>>${answer}\n#### ${answer}` };
}

/**
 * Writes train.jsonl (every ordered pair of distinct digits not held out) and test.jsonl (the
 * held-out pairs); with `careless`, each answer is one of the two numbers at random instead of the larger.
 */
export function writeLargerTask(
  dir: string,
  { testPairs = 10, seed = 1, careless = false }: { testPairs?: number; seed?: number; careless?: boolean } = {},
): void {
  const pairs: [number, number][] = [];
  for (let a = 0; a < 10; a++) for (let b = 0; b < 10; b++) if (a !== b) pairs.push([a, b]);
  const random = mulberry32(seed);
  for (let i = pairs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
  }
  const pick = mulberry32(seed + 1);
  const lines = (ps: [number, number][]) =>
    ps.map(([a, b]) => JSON.stringify(largerRecord(a, b, careless ? (pick() < 0.5 ? a : b) : Math.max(a, b))) + '\n').join('');
  fs.mkdirSync(dir, { recursive: true });
  writeTextAtomic(path.join(dir, 'test.jsonl'), lines(pairs.slice(0, testPairs)));
  writeTextAtomic(path.join(dir, 'train.jsonl'), lines(pairs.slice(testPairs)));
}

export interface RlFixture {
  /** the task with correct answers (RL data) */
  data: string;
  /** the same questions with careless answers (phase-1 data) */
  carelessData: string;
  model: string;
  /** phase-1 run directories by mode */
  phase1: { full: string; 'two-trunk': string };
}

/** Task, tokenizer, model and phase-1 runs (full: `sftSteps`, two-trunk: `twoTrunkSteps`) under `root`. */
export async function makeRlFixture(
  root: string,
  { sftSteps = 60, twoTrunkSteps = 4 }: { sftSteps?: number; twoTrunkSteps?: number } = {},
): Promise<RlFixture> {
  const data = path.join(root, 'data');
  const carelessData = path.join(root, 'careless');
  writeLargerTask(data);
  writeLargerTask(carelessData, { careless: true });
  const model = tinyQwen2ForTask(root, data, QWEN_TOKENIZER_DIR, ['<|endoftext|>', '=']);
  const phase1 = { full: path.join(root, 'sft-full'), 'two-trunk': path.join(root, 'sft-two') };
  for (const mode of ['full', 'two-trunk'] as const) {
    const steps = mode === 'full' ? sftSteps : twoTrunkSteps;
    const config: SftConfig = resolveSftConfig({
      model,
      data: carelessData,
      out: phase1[mode],
      mode,
      latents: 1,
      steps,
      batchSize: 8,
      lr: 3e-3,
      minLr: 1e-3,
      warmupSteps: 2,
      evalEvery: steps,
      evalExamples: 8,
      saveEvery: steps,
      validationSize: 8,
      maxLatents: 3,
      seed: 0,
    });
    await trainSft(config, { quiet: true });
  }
  return { data, carelessData, model, phase1 };
}
