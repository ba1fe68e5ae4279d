// Latent tokens on a language model: sequences with latent spans, the model with its heads, the
// latent forward, generation with latent spans, and the diagnostics that ask whether latents are used.
export {
  buildLatentSequence,
  sequenceWithSpans,
  namedLatentSchedule,
  LATENT_SCHEDULE_KINDS,
  type LatentScheduleKind,
  Role,
  type LatentSchedule,
  type LatentSpan,
  type LatentSequence,
  type BuildOptions,
  type TextEncoder,
} from './sequence';
export {
  latentForward,
  type Trunk,
  type Backbone,
  type LatentAblation,
  type LatentForwardOptions,
  type LatentRecord,
  type LatentForwardResult,
  type ExampleLosses,
} from './forward';
export { LatentHeads, type LatentHeadsOptions } from './heads';
export {
  createLatentInput,
  isLatentInputKind,
  LATENT_INPUT_KINDS,
  LATENT_INPUT_FORMS,
  LatentInput,
  RawInput,
  ScaledInput,
  AffineInput,
  SoftInput,
  GatedInput,
  PauseInput,
  PlantedResultInput,
  ZeroInput,
  type TokenSpace,
  type LatentStepArgs,
  type StopHead,
  type LatentInputKind,
  type LatentInputSpec,
  type LatentInputInit,
} from './latent-input';
export { CoupledCaches, checkCoupling, COUPLINGS, type Coupling } from './coupling';
export { latentLogits, parseSpans, type PositionOutputs, type PositionKind } from './logits';
export {
  LatentModel,
  LATENT_STATE_RENAMED,
  BOT,
  EOT,
  measureLatentScale,
  resizeTokenEmbeddings,
  type LatentMode,
  type LatentModelOptions,
} from './model';
export { qwen2Backbone, LatentDecoder } from './qwen2-trunks';
export {
  decodeLatent,
  decodeModules,
  LATENT_ID,
  type DecodeModules,
  type DecodePolicy,
  type DecodeOptions,
  type DecodeAction,
  type DecodedRow,
  type DecodedSpan,
} from './decode';
export { CacheSlots } from './cache-slots';
export {
  generateWithLatents,
  generateBatch,
  BREAKPOINT_PATTERN,
  type LatentGenerateOptions,
  type GeneratedSpan,
  type LatentGeneration,
} from './generate';
export {
  evaluateLoss,
  collectLatents,
  latentAblations,
  latentAblationsWithConstant,
  ablationWork,
  learnConstantLatent,
  inspectLatents,
  answerAccuracy,
  oracleSpanLatents,
  type SumCount,
  type LossEvaluation,
  type AblationResult,
  type AblationOptions,
  type DecodedLatent,
  type AccuracyResult,
  type AccuracyOptions,
  type AccuracyCondition,
} from './evaluate';
export {
  bootstrapMeanDelta,
  nearestTokens,
  logitLens,
  recurringTokens,
  resultAppears,
  precisionRecallF1,
  bestF1Threshold,
  histogram,
  type DecodedToken,
} from './diagnostics';
export { latentStep, latentStepReference, type LatentStepOutput } from '../torch/kernels/latent-step';
export {
  studyVerdict,
  pairedLossDelta,
  pairedAccuracy,
  mcnemarExactP,
  acrossSeeds,
  calibrate,
  includesZero,
  excludesZeroAbove,
  excludesZeroBelow,
  STUDY_VERDICTS,
  type StudyVerdict,
  type Endpoint,
  type VerdictResult,
  type PairedAccuracy,
  type Calibration,
  type CalibrationCase,
} from './study';
