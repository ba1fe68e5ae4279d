// Phase 2 of the demo: GRPO from the latent run, then greedy evaluation (src/rl/trainer.ts and
// src/rl/evaluate.ts). runPhase2 takes the modules through a loader so that tests can put failing or
// unavailable stand-ins in their place; the real loader always has them.
import { evaluateRlRun } from '../rl/evaluate';
import { resolveRlConfig, trainRl, type RlConfig, type RlSummary, type RlTrainOptions } from '../rl/trainer';
import type { RlDiagnostics, RlEvalOptions } from '../rl/evaluate';

/** The part of an RL config the demo sets. */
export type Phase2RunConfig = Pick<
  RlConfig,
  | 'from'
  | 'data'
  | 'out'
  | 'steps'
  | 'questionsPerStep'
  | 'group'
  | 'lr'
  | 'maxNewTokens'
  | 'evalEvery'
  | 'evalExamples'
  | 'saveEvery'
  | 'sampleEvery'
  | 'samplesPerStep'
  | 'device'
  | 'seed'
>;

/** What the demo uses of phase 2, typed by the real functions (stand-ins return the fields read). */
export interface Phase2Modules {
  resolveRlConfig: (partial: Phase2RunConfig) => RlConfig;
  trainRl: (
    config: RlConfig,
    options: Pick<RlTrainOptions, 'quiet'>,
  ) => Promise<Pick<RlSummary, 'steps' | 'finalReward' | 'stopped' | 'out'>>;
  evaluateRlRun: (
    runDir: string,
    options: Pick<RlEvalOptions, 'examples' | 'passK' | 'maxNewTokens' | 'quiet'>,
  ) => Promise<Pick<RlDiagnostics, 'accuracy' | 'spansPerAnswer'>>;
}

export type Phase2Availability = { available: true; modules: Phase2Modules } | { available: false; reason: string };

/** The phase-2 modules of this build. */
export function loadPhase2(): Phase2Availability {
  return { available: true, modules: { resolveRlConfig, trainRl, evaluateRlRun } };
}
