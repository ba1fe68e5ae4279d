// Sizes of the demo. `quick` and `full` are tuned so the whole study fits its time budget on a 2-core
// CPU (5 and 30 minutes) and still answers its questions; `tiny` exists for the pipeline's own tests.
import type { ArithDifficulty } from '../data/arith-task';

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
  data: { train: number; test: number; difficulty: Partial<ArithDifficulty> };
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
  /** `latent eval` of each phase-1 run */
  evaluation: { examples: number; generate: number; inspect: number; maxNewTokens: number; constantSteps: number };
  /** phase 2 (when src/rl is present): a short run from the full-mode latent model */
  rl: { steps: number; prompts: number; groupSize: number; lr: number; maxNewTokens: number };
  /** rough seconds per stage on a 2-core CPU, for the overall ETA before any stage has been timed */
  expectedSeconds: Record<DemoStageKind, number>;
}

export type DemoStageKind = 'data' | 'model' | 'pretrain' | 'export' | 'latent' | 'baseline' | 'eval' | 'rl' | 'report';

const difficulty: Partial<ArithDifficulty> = { minSteps: 1, maxSteps: 2, maxDigits: 1, maxResult: 99 };

export const DEMO_PRESETS: Readonly<Record<DemoSize, DemoPreset>> = {
  tiny: {
    size: 'tiny',
    data: { train: 48, test: 12, difficulty },
    bpeVocabSize: 400,
    model: { layers: 1, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64 },
    pretrain: { steps: 6, batchSize: 4, lr: 3e-3, minLr: 3e-4, warmupSteps: 1, evalEvery: 3, evalExamples: 4 },
    pretrainCheckExamples: 2,
    latents: 2,
    latent: { steps: 4, batchSize: 4, lr: 1e-3, minLr: 1e-4, warmupSteps: 1, evalEvery: 2, evalExamples: 4 },
    evaluation: { examples: 6, generate: 2, inspect: 3, maxNewTokens: 24, constantSteps: 2 },
    rl: { steps: 2, prompts: 2, groupSize: 2, lr: 1e-4, maxNewTokens: 24 },
    expectedSeconds: { data: 1, model: 2, pretrain: 3, export: 2, latent: 3, baseline: 3, eval: 4, rl: 4, report: 3 },
  },
  quick: {
    size: 'quick',
    data: { train: 3000, test: 200, difficulty },
    bpeVocabSize: 1024,
    model: { layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 192 },
    pretrain: { steps: 600, batchSize: 16, lr: 3e-3, minLr: 3e-4, warmupSteps: 20, evalEvery: 100, evalExamples: 32 },
    pretrainCheckExamples: 40,
    latents: 2,
    latent: { steps: 150, batchSize: 16, lr: 1e-3, minLr: 1e-4, warmupSteps: 10, evalEvery: 25, evalExamples: 32 },
    evaluation: { examples: 64, generate: 40, inspect: 10, maxNewTokens: 64, constantSteps: 20 },
    rl: { steps: 10, prompts: 4, groupSize: 4, lr: 1e-4, maxNewTokens: 64 },
    expectedSeconds: { data: 1, model: 2, pretrain: 55, export: 3, latent: 25, baseline: 12, eval: 8, rl: 11, report: 3 },
  },
  full: {
    size: 'full',
    data: { train: 8000, test: 500, difficulty },
    bpeVocabSize: 1024,
    model: { layers: 4, hidden: 128, heads: 4, kvHeads: 2, intermediate: 384 },
    pretrain: { steps: 1000, batchSize: 16, lr: 2e-3, minLr: 2e-4, warmupSteps: 50, evalEvery: 200, evalExamples: 64 },
    pretrainCheckExamples: 100,
    latents: 3,
    latent: { steps: 400, batchSize: 16, lr: 1e-3, minLr: 1e-4, warmupSteps: 20, evalEvery: 50, evalExamples: 64 },
    evaluation: { examples: 200, generate: 100, inspect: 20, maxNewTokens: 80, constantSteps: 50 },
    rl: { steps: 30, prompts: 8, groupSize: 4, lr: 1e-4, maxNewTokens: 80 },
    expectedSeconds: { data: 2, model: 5, pretrain: 400, export: 10, latent: 200, baseline: 200, eval: 50, rl: 110, report: 5 },
  },
};
