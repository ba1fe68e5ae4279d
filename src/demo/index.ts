// `latent demo` as a library: the pipeline, its sizes, and the parts it is made of.
export {
  runDemo,
  runPhase2,
  formatDemoResult,
  DemoInterrupted,
  type DemoOptions,
  type DemoRunSummary,
  type DemoPhase2Summary,
  type DemoResult,
} from './run';
export { DEMO_SIZES, DEMO_PRESETS, type DemoSize, type DemoTrainingBudget, type DemoPreset, type DemoStageKind } from './presets';
export { StageTracker, type PlannedStage, type StageTiming } from './stages';
export {
  trainByteLevelBpe,
  findQwenTokenizer,
  demoTokenizer,
  END_OF_TEXT,
  type BpeTrainingOptions,
  type TokenizerChoice,
  type DemoTokenizer,
} from './tokenizer';
export { exportRunModel, type PretrainCheck, type ExportOptions } from './export';
export { loadPhase2, type Phase2RunConfig, type Phase2Modules, type Phase2Availability } from './phase2';
