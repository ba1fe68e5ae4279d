// Phase 2: GRPO with verifiable rewards over language tokens and latent spans, from a phase-1 run.
//   trainer   the configuration, the training loop and the run loader (`latent train rl`)
//   evaluate  greedy accuracy and pass@k of an RL run (`latent eval` on an RL run)
//   policy    sampling rollouts that open, fill and close latent spans
//   grpo      group-relative advantages, the clipped objective with a KL penalty
//   reward    the verifiable answer reward
export {
  RL_DEFAULTS,
  resolveRlConfig,
  trainRl,
  loadRlRun,
  openRlPolicy,
  type RlConfig,
  type RlSummary,
  type RlTrainOptions,
  type RlRun,
  type RlPolicy,
} from './trainer';
export { evaluateRlRun, formatRlDiagnostics, type RlEvalOptions, type RlDiagnostics } from './evaluate';
export { rolloutAccuracy, type RolloutAccuracy, type AccuracyOptions, type AccuracySample } from './accuracy';
export {
  policyModules,
  sampleRollouts,
  disposeRollouts,
  startOffsetFor,
  type PolicyModules,
  type Rollout,
  type RolloutAction,
  type RolloutOptions,
  type ActionKind,
  type FinishReason,
} from './policy';
export {
  groupAdvantages,
  groupStatistics,
  grpoLoss,
  klK3,
  actionWeights,
  LOSS_AGGREGATIONS,
  type AdvantageOptions,
  type LossAggregation,
  type GrpoObjective,
  type GrpoLossInputs,
  type GrpoLoss,
} from './grpo';
export { REWARD_DEFAULTS, computeReward, type RewardConfig, type Reward } from './reward';
export { scoreRollouts, LATENT_GRADS, type LatentGrad, type ScoreOptions, type RolloutScores } from './teacher-forcing';
export { frozenReference, type ReferencePolicy } from './reference';
export { rolloutText, markedRolloutText, spanMarker } from './render';
