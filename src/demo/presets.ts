// Sizes of the demo. `quick` and `full` are sized so the whole study fits its time budget on one core
// of a 2-core CPU (3 minutes and about an hour) and still answers its questions; `tiny` exists for the
// pipeline's own tests.
import { ARITH_PRESETS, type ArithDifficulty, type ArithPresetName } from '../data/arith-task';

export type DemoSize = 'tiny' | 'quick' | 'full';
export const DEMO_SIZES: readonly DemoSize[] = ['tiny', 'quick', 'full'];

export interface DemoTrainingBudget {
  steps: number;
  batchSize: number;
  lr: number;
  minLr: number;
  warmupSteps: number;
  evalEvery: number;
  /** validation examples per periodic evaluation */
  evalExamples: number;
}

export interface DemoPreset {
  size: DemoSize;
  /** the main task (ARITH_PRESETS): the whole study runs on it; `data.difficulty` and `data.holdOut` are its */
  task: ArithPresetName;
  data: { train: number; test: number; difficulty: Partial<ArithDifficulty>; holdOut: number };
  /** vocabulary of the trained BPE tokenizer when no Qwen tokenizer is on disk */
  bpeVocabSize: number;
  model: { layers: number; hidden: number; heads: number; kvHeads: number; intermediate: number };
  /** phase 0: the plain language model (k = 0, full fine-tuning) trained from random weights */
  pretrain: DemoTrainingBudget;
  /** test examples generated greedily after phase 0, to check it writes solutions */
  pretrainCheckExamples: number;
  /** latents per calculator breakpoint in phase 1 */
  latents: number;
  /** phase 1: every latent run and the k = 0 baseline get this same budget */
  latent: DemoTrainingBudget;
  /** `latent eval` of each phase-1 run (ablateGeneration: also answer with oracle spans fed shuffled and constant latents) */
  evaluation: {
    examples: number;
    generate: number;
    inspect: number;
    maxNewTokens: number;
    constantSteps: number;
    ablateGeneration: boolean;
  };
  /**
   * The study around the latent runs. Every run of a seed starts from the same phase-0 model; seeds
   * vary phase 1 (the heads' initialisation and the data order), phase 0 is trained once per task.
   *  - seeds: phase-1 seeds (at least 3 in the default demo, for the between-seed spread)
   *  - sweep: further k for full fine-tuning (with k = 0, the baseline, and `latents`: the dose-response)
   *  - markers: the markers-only control (`<bot><eot>`, k = 0); pause: pause-as-thought; planted: the
   *    planted positive and null (calibration); twoTrunk: the two-trunk run
   *  - chained: a second task (ARITH_PRESETS.chained: intermediates unwritten, held-out calculations)
   *    with its own phase 0, and k = 0, pause-as-thought and latents on it
   */
  study: {
    seeds: number[];
    sweep: number[];
    markers: boolean;
    pause: boolean;
    planted: boolean;
    twoTrunk: boolean;
    chained: { train: number; test: number; task: ArithPresetName } | null;
  };
  /** phase 2 (when src/rl is present): a short run from the full-mode latent model */
  rl: { steps: number; prompts: number; groupSize: number; lr: number; maxNewTokens: number };
  /** rough seconds per stage on a 2-core CPU, for the overall ETA before any stage has been timed */
  expectedSeconds: Record<DemoStageKind, number>;
}

export type DemoStageKind = 'data' | 'model' | 'pretrain' | 'export' | 'latent' | 'baseline' | 'eval' | 'rl' | 'report';

/** A preset with the study on another main task, other seeds or another k sweep (the demo's options). */
export function withStudyOptions(
  p: DemoPreset,
  o: { task?: ArithPresetName; seeds?: number[]; sweep?: number[]; chained?: boolean },
): DemoPreset {
  const task = o.task ?? p.task;
  const t = ARITH_PRESETS[task];
  if (!t) throw new RangeError(`demo: unknown task ${JSON.stringify(task)} (one of ${Object.keys(ARITH_PRESETS).join(', ')})`);
  if (o.seeds && (!o.seeds.length || o.seeds.some((s) => !Number.isInteger(s) || s < 0)))
    throw new RangeError(`demo: --seeds must be non-negative integers, got ${o.seeds.join(',')}`);
  if (o.sweep && o.sweep.some((k) => !Number.isInteger(k) || k < 1))
    throw new RangeError(`demo: --sweep must be positive integers (k = 0 is the baseline, always run), got ${o.sweep.join(',')}`);
  // a second task only when it differs from the main one
  const chained = o.chained === false || task === p.study.chained?.task ? null : p.study.chained;
  return {
    ...p,
    task,
    data: { ...p.data, difficulty: t.difficulty, holdOut: t.holdOut },
    study: {
      ...p.study,
      seeds: o.seeds ?? p.study.seeds,
      sweep: (o.sweep ?? p.study.sweep).filter((k) => k !== p.latents),
      chained,
    },
  };
}

// tiny and full state what they change from quick; what they keep (the task, k, the learning rates,
// the study's controls, and in full the model) is the same at every size.
const quick: DemoPreset = {
  size: 'quick',
  task: 'basic',
  data: { train: 3000, test: 200, difficulty: ARITH_PRESETS.basic.difficulty, holdOut: ARITH_PRESETS.basic.holdOut },
  bpeVocabSize: 1024,
  model: { layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 192 },
  pretrain: { steps: 600, batchSize: 16, lr: 3e-3, minLr: 3e-4, warmupSteps: 20, evalEvery: 100, evalExamples: 32 },
  pretrainCheckExamples: 40,
  latents: 2,
  latent: { steps: 150, batchSize: 16, lr: 1e-3, minLr: 1e-4, warmupSteps: 10, evalEvery: 25, evalExamples: 32 },
  evaluation: { examples: 100, generate: 40, inspect: 10, maxNewTokens: 64, constantSteps: 20, ablateGeneration: false },
  rl: { steps: 10, prompts: 4, groupSize: 4, lr: 1e-4, maxNewTokens: 64 },
  study: { seeds: [0], sweep: [], markers: false, pause: true, planted: true, twoTrunk: true, chained: null },
  expectedSeconds: { data: 1, model: 2, pretrain: 55, export: 3, latent: 25, baseline: 12, eval: 8, rl: 11, report: 3 },
};

const tiny: DemoPreset = {
  ...quick,
  size: 'tiny',
  data: { ...quick.data, train: 48, test: 12 },
  bpeVocabSize: 400,
  model: { ...quick.model, layers: 1, hidden: 32, intermediate: 64 },
  pretrain: { ...quick.pretrain, steps: 6, batchSize: 4, warmupSteps: 1, evalEvery: 3, evalExamples: 4 },
  pretrainCheckExamples: 2,
  latent: { ...quick.latent, steps: 4, batchSize: 4, warmupSteps: 1, evalEvery: 2, evalExamples: 4 },
  evaluation: { examples: 6, generate: 2, inspect: 3, maxNewTokens: 24, constantSteps: 2, ablateGeneration: true },
  rl: { ...quick.rl, steps: 2, prompts: 2, groupSize: 2, maxNewTokens: 24 },
  study: { ...quick.study, markers: true },
  expectedSeconds: { data: 1, model: 2, pretrain: 3, export: 2, latent: 3, baseline: 3, eval: 4, rl: 4, report: 3 },
};

// The default demo: the whole study (3 seeds × 12 runs + 2 phase-0 runs) in well under an hour of
// one core. Measured (2026-12-02, one thread, batch 16): a training step of the 4 × 128 model took
// about 0.8 s (wall, on a contended core), one of the 2 × 64 model 0.06 s of CPU, and every one of the
// 36 runs pays for its steps and its 200 × 5 generated answers, so the model stays at the quick size:
// model size buys no statistical power, and at 4 × 128 the runs alone would need hours. Everything the
// verdicts' power rests on is kept: n = 200 test examples for the paired losses and 200 questions for
// accuracy (with ablated generation) in every run, 3 seeds, 400 phase-1 steps.
const full: DemoPreset = {
  ...quick,
  size: 'full',
  data: { ...quick.data, train: 8000, test: 500 },
  pretrain: { ...quick.pretrain, steps: 1000, warmupSteps: 30, evalEvery: 200, evalExamples: 64 },
  pretrainCheckExamples: 100,
  latent: { ...quick.latent, steps: 400, warmupSteps: 20, evalEvery: 100, evalExamples: 64 },
  evaluation: { examples: 200, generate: 200, inspect: 20, maxNewTokens: 80, constantSteps: 50, ablateGeneration: true },
  rl: { ...quick.rl, steps: 20, prompts: 8, maxNewTokens: 80 },
  study: { ...quick.study, seeds: [0, 1, 2], sweep: [1, 4], markers: true, chained: { train: 8000, test: 500, task: 'chained' } },
  expectedSeconds: { data: 2, model: 9, pretrain: 65, export: 8, latent: 30, baseline: 28, eval: 45, rl: 60, report: 10 },
};

export const DEMO_PRESETS: Readonly<Record<DemoSize, DemoPreset>> = { tiny, quick, full };
