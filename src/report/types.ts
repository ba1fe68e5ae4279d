// What a run directory holds, as the report reads it. Trainers write these files; every field the
// report plots is optional because different run kinds (pretrain, SFT, RL) log different things.

/** Numeric fields of a `metrics.jsonl` line (one per logged training step). */
export const METRIC_FIELDS = [
  'time',
  'loss',
  'nextStepLoss',
  'resultLoss',
  'startLoss',
  'stopLoss',
  'lr',
  'gradNorm',
  'latentNorm',
  'tokenNorm',
  'tokensPerSec',
  'reward',
  'rewardStd',
  'accuracy',
  'kl',
  'clipFraction',
  'entropy',
  'spansPerAnswer',
  'latentsPerSpan',
  'tokensPerAnswer',
] as const;
export type MetricField = (typeof METRIC_FIELDS)[number];
export type MetricRecord = { step: number } & Partial<Record<MetricField, number>>;

/** Numeric fields of an `evals.jsonl` line (one per periodic evaluation of a split). */
export const EVAL_FIELDS = ['loss', 'nextStepLoss', 'resultLoss', 'startPrecision', 'startRecall', 'startF1', 'accuracy'] as const;
export type EvalField = (typeof EVAL_FIELDS)[number];
export type EvalSplit = 'validation' | 'test';
export const EVAL_SPLITS: readonly EvalSplit[] = ['validation', 'test'];
export type EvalRecord = { step: number; split: EvalSplit } & Partial<Record<EvalField, number>>;

/** `config.json`: the resolved config; only these fields are interpreted, the rest is kept. */
export interface RunConfig {
  kind?: string;
  mode?: string;
  /** k, the number of latent tokens per span; 0 marks a baseline without latents. */
  latents?: number;
  [key: string]: unknown;
}

/** One replacement of the trained latents and its effect; delta = ablated loss − trained loss. */
export interface Ablation {
  name: string;
  nextStepLoss?: number;
  resultLoss?: number;
  delta?: number;
  ci?: [number, number];
}

export interface TokenScore {
  token: string;
  score: number;
}

export interface DecodedLatent {
  example: string;
  span: number;
  step?: number;
  expression?: string;
  result?: string;
  /** Nearest token embeddings by cosine similarity. */
  nearest: TokenScore[];
  /** Logit-lens tokens with probabilities. */
  logitLens: TokenScore[];
}

/** `diagnostics.json`, written by `latent eval`. */
export interface Diagnostics {
  ablations: Ablation[];
  decoded: DecodedLatent[];
  recurring: { token: string; count: number }[];
  resultHitRate?: number;
  /** Span length (number of latents the end classifier chose) → count. */
  spanLengths?: { length: number; count: number }[];
  accuracy?: { withLatents?: number; withoutLatents?: number; n?: number };
  start?: { precision?: number; recall?: number; f1?: number };
  norms?: { latent?: number; token?: number };
}

/** A line of `samples.jsonl` (RL rollouts); spans are [start, end) character offsets into `text`. */
export interface RolloutSample {
  step: number;
  question: string;
  text: string;
  reward?: number;
  spans: [number, number][];
}

/** Something in a run directory that could not be used; the report lists these. */
export interface ReadIssue {
  file: string;
  /** 1-based line for JSONL files. */
  line?: number;
  message: string;
}

export interface RunData {
  /** Absolute path of the run directory. */
  dir: string;
  /** Display name (the directory's base name, made unique among the runs of one report). */
  name: string;
  config?: RunConfig;
  /** Sorted by step; when a step repeats, its last record is kept. */
  metrics: MetricRecord[];
  /** Sorted by step; when a (step, split) repeats, its last record is kept. */
  evals: EvalRecord[];
  diagnostics?: Diagnostics;
  samples: RolloutSample[];
  issues: ReadIssue[];
  /** JSONL lines that were skipped (unparsable or without a usable step). */
  skippedLines: number;
}
