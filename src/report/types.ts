// What a run directory holds, as the report reads it. Trainers write these files; every field the
// report plots is optional because different run kinds (pretrain, SFT, RL) log different things.

// The line and config types are the trainers' own (train/run-files): one schema for writers and readers.
export {
  EVAL_FIELDS,
  EVAL_SPLITS,
  METRIC_FIELDS,
  type EvalField,
  type EvalRecord,
  type EvalSplit,
  type MetricField,
  type MetricRecord,
  type RunConfigHeader as RunConfig,
} from '../train/run-files';
import type { EvalRecord, MetricRecord, RunConfigHeader as RunConfig } from '../train/run-files';

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

/** A difference with its confidence interval; positive favours the latents. */
export interface Interval {
  delta: number;
  ci: [number, number];
}

/** The study's endpoints and verdict of a run (`study` in diagnostics.json; src/latent/study.ts). */
export interface StudySummary {
  verdict: string;
  reasons: string[];
  helps?: Interval & { reference?: string };
  used?: Interval;
  zeros?: Interval;
  spanRemoved?: Interval;
  contentBeyondCompute?: Interval & { pause?: string };
}

/** `diagnostics.json`, written by `latent eval`. */
export interface Diagnostics {
  ablations: Ablation[];
  study?: StudySummary;
  decoded: DecodedLatent[];
  recurring: { token: string; count: number }[];
  resultHitRate?: number;
  /** Span length (number of latents the end classifier chose) → count. */
  spanLengths?: { length: number; count: number }[];
  accuracy?: {
    withLatents?: number;
    withoutLatents?: number;
    n?: number;
    oracle?: number;
    oracleShuffled?: number;
    oracleConstant?: number;
    spansAwayFromBreakpoints?: number;
  };
  start?: { precision?: number; recall?: number; f1?: number };
  /** the start classifier at its calibrated threshold */
  startCalibrated?: { threshold?: number; precision?: number; recall?: number; f1?: number };
  /** the end classifier against the run's schedule (teacher-forced) */
  stop?: {
    decisionAccuracy?: number;
    decisionBaseline?: number;
    lengthAccuracy?: number;
    lengthBaseline?: number;
    spans?: number;
  };
  /** spans opened away from a breakpoint in generation */
  spuriousSpans?: { rate?: number; count?: number; spans?: number; perAnswer?: number };
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
