// A tiny arithmetic task, a Qwen tokenizer restricted to it, and a small random Qwen2 model: the
// fixture of the phase-1 training tests.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeArithTask } from '../../src/data/arith-task';
import { resolveSftConfig, type SftConfig } from '../../src/train/sft';
import { tinyQwen2ForTask } from './tiny-qwen2';

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
  const model = tinyQwen2ForTask(root, data, qwenDir, ['<|endoftext|>']);
  return { data, model };
}

/** The fixture in a fresh temporary directory (`root`), built before the enclosing describe's tests and removed after. */
export function sftFixtureSuite(prefix: string): { root: string; data: string; model: string } {
  const suite = { root: '', data: '', model: '' };
  beforeAll(() => {
    suite.root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    Object.assign(suite, sftFixture(suite.root));
  });
  afterAll(() => fs.rmSync(suite.root, { recursive: true, force: true }));
  return suite;
}

/** Configs on the suite's fixture: `defaults`, then the test's options; `out` names a directory under the root (default run). */
export function sftConfigOn(
  suite: { root: string; data: string; model: string },
  defaults: Partial<SftConfig>,
): (over: Partial<SftConfig>) => SftConfig {
  return (over) =>
    resolveSftConfig({
      model: suite.model,
      data: suite.data,
      ...defaults,
      ...over,
      out: path.join(suite.root, over.out ?? 'run'),
    });
}

/**
 * A short run's schedule: `steps` steps of batch 4 with 8 validation examples, evaluated (on `evalExamples`) and
 * saved every `every` steps, the learning rate warming up over `warmupSteps` to `lr` and decaying to `minLr`.
 */
export function shortRun(o: {
  steps: number;
  every: number;
  lr: number;
  minLr: number;
  warmupSteps: number;
  evalExamples: number;
}): Partial<SftConfig> {
  return {
    steps: o.steps,
    batchSize: 4,
    lr: o.lr,
    minLr: o.minLr,
    warmupSteps: o.warmupSteps,
    evalEvery: o.every,
    evalExamples: o.evalExamples,
    saveEvery: o.every,
    validationSize: 8,
  };
}
