// The files of a run directory, defined once: what a line of metrics.jsonl and evals.jsonl holds
// and what config.json must say, with the checks a reader applies. The trainers (train/sft,
// rl/trainer) write records of these types; the report (report/run) reads them with these lists,
// so a field a trainer writes is a field the report knows. No runtime imports (types only): any layer may use it.

import type { LossEvaluation } from '../latent/evaluate';

export const RUN_CONFIG_FILE = 'config.json';
export const METRICS_FILE = 'metrics.jsonl';
export const EVALS_FILE = 'evals.jsonl';

/** What phase 1 logs for a training step (metrics.jsonl, besides step, time, lr). */
export interface SftStepMetrics {
  loss: number;
  /** solution tokens after the first span (null: none in the batch) */
  nextStepLoss: number | null;
  /** result tokens right after each span (null: none in the batch) */
  resultLoss: number | null;
  startLoss: number;
  stopLoss: number;
  /** before clipping */
  gradNorm: number;
  latentNorm: number;
  tokenNorm: number;
  tokensPerSec: number;
}

/** What phase 2 logs for a GRPO step (metrics.jsonl, besides step, time, lr). */
export interface RlStepMetrics {
  /** mean reward of the step's rollouts */
  reward: number;
  /** mean over groups of the reward's standard deviation within the group */
  rewardStd: number;
  /** fraction of rollouts with the right answer */
  accuracy: number;
  /** fraction with a "#### <number>" line */
  wellFormed: number;
  /** mean k3 estimate of KL(policy ‖ reference) per action, before the step's updates (with a reference) */
  kl?: number;
  /** fraction of actions whose ratio was clipped, over all update epochs */
  clipFraction: number;
  /** mean entropy (nats) of the token distributions at sampled tokens, before the updates */
  entropy?: number;
  spansPerAnswer: number;
  /** absent when no span opened */
  latentsPerSpan?: number;
  /** sampled language tokens per rollout (end-of-sequence included) */
  tokensPerAnswer: number;
  /** mean GRPO loss over the step's optimizer steps */
  loss: number;
  /** mean gradient norm (before clipping) over the step's optimizer steps */
  gradNorm: number;
  /** fraction of groups whose rewards were all equal (no learning signal without KL) */
  degenerateGroups: number;
  /** positions (tokens, markers, latents) sampled per second */
  rolloutTokensPerSec: number;
  rolloutSeconds: number;
  updateSeconds: number;
}

/** A line of metrics.jsonl as written. */
export type MetricLine = { step: number; time: number; lr: number } & (SftStepMetrics | RlStepMetrics);

/** Numeric fields of a metrics.jsonl line, of both phases. */
export const METRIC_FIELDS = [
  'time',
  'lr',
  'loss',
  'nextStepLoss',
  'resultLoss',
  'startLoss',
  'stopLoss',
  'gradNorm',
  'latentNorm',
  'tokenNorm',
  'tokensPerSec',
  'reward',
  'rewardStd',
  'accuracy',
  'wellFormed',
  'kl',
  'clipFraction',
  'entropy',
  'spansPerAnswer',
  'latentsPerSpan',
  'tokensPerAnswer',
  'degenerateGroups',
  'rolloutTokensPerSec',
  'rolloutSeconds',
  'updateSeconds',
] as const;
export type MetricField = (typeof METRIC_FIELDS)[number];

/** Compile-time: every field a trainer logs is listed above, and nothing else is. */
type Exact<A, B> = [Exclude<A, B>, Exclude<B, A>] extends [never, never]
  ? true
  : { unlisted: Exclude<A, B>; unwritten: Exclude<B, A> };
const metricFieldsComplete: Exact<keyof SftStepMetrics | keyof RlStepMetrics | 'time' | 'lr', MetricField> = true;
void metricFieldsComplete;

export const EVAL_SPLITS = ['validation', 'test'] as const;
export type EvalSplit = (typeof EVAL_SPLITS)[number];

/**
 * A phase-1 periodic evaluation of a split (train/sft during training; `latent eval` adds accuracy): the losses and
 * norms of the split's {@link LossEvaluation}, and its classifiers' scores as plain numbers.
 */
export interface SftEvalMetrics extends Pick<
  LossEvaluation,
  'loss' | 'nextStepLoss' | 'resultLoss' | 'stepLoss' | 'startLoss' | 'stopLoss' | 'latentNorm' | 'tokenNorm'
> {
  startPrecision: number;
  startRecall: number;
  startF1: number;
  /** the start-probability threshold with the best F1 on the split, and that F1 */
  startThreshold: number;
  startF1Calibrated: number;
  /** the end classifier, teacher-forced against the schedule: stop decisions right, spans of exactly the scheduled length */
  stopDecisionAccuracy: number;
  stopLengthAccuracy: number;
  /** greedy answer accuracy with latents (`latent eval`, the demo's check) */
  accuracy?: number;
}

/** A phase-2 evaluation (greedy accuracy during training; `latent eval` adds the rest). */
export interface RlEvalMetrics {
  accuracy: number;
  /** questions evaluated */
  n: number;
  spansPerAnswer?: number;
  accuracyWithoutLatents?: number;
  passAtK?: number;
  passAtKWithoutLatents?: number;
  /** samples per question of passAtK */
  k?: number;
}

/** A line of evals.jsonl as written. */
export type EvalLine = { step: number; split: EvalSplit } & (Partial<SftEvalMetrics> | RlEvalMetrics);

/** Numeric fields of an evals.jsonl line, of both phases. */
export const EVAL_FIELDS = [
  'loss',
  'nextStepLoss',
  'resultLoss',
  'stepLoss',
  'startLoss',
  'stopLoss',
  'latentNorm',
  'tokenNorm',
  'startPrecision',
  'startRecall',
  'startF1',
  'startThreshold',
  'startF1Calibrated',
  'stopDecisionAccuracy',
  'stopLengthAccuracy',
  'accuracy',
  'n',
  'spansPerAnswer',
  'accuracyWithoutLatents',
  'passAtK',
  'passAtKWithoutLatents',
  'k',
] as const;
export type EvalField = (typeof EVAL_FIELDS)[number];
const evalFieldsComplete: Exact<keyof SftEvalMetrics | keyof RlEvalMetrics, EvalField> = true;
void evalFieldsComplete;

/** A metrics line as read: fields that were missing or not finite numbers are absent. */
export type MetricRecord = { step: number } & Partial<Record<MetricField, number>>;
/** An evals line as read. */
export type EvalRecord = { step: number; split: EvalSplit } & Partial<Record<EvalField, number>>;

export const RUN_KINDS = ['sft', 'rl'] as const;

/** config.json: the fields every reader interprets; the rest is the trainer's resolved config. */
export interface RunConfigHeader {
  kind?: string;
  mode?: string;
  /** k, latent positions per span; 0 marks a baseline without latents */
  latents?: number;
  [key: string]: unknown;
}

/** The problems of a config.json's interpreted fields (empty when fine), each naming the field. */
export function runConfigProblems(value: Record<string, unknown>): { field: 'kind' | 'mode' | 'latents'; message: string }[] {
  const problems: { field: 'kind' | 'mode' | 'latents'; message: string }[] = [];
  for (const field of ['kind', 'mode'] as const) {
    if (field in value && typeof value[field] !== 'string')
      problems.push({ field, message: `"${field}" should be a string (found ${JSON.stringify(value[field])})` });
  }
  if ('latents' in value && !(Number.isInteger(value.latents) && (value.latents as number) >= 0))
    problems.push({
      field: 'latents',
      message: `"latents" should be a non-negative integer (found ${JSON.stringify(value.latents)})`,
    });
  return problems;
}
