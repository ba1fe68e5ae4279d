// Accuracy of the policy's rollouts on GSM8K-format questions (greedy or sampled, pass@k), with the
// spans, lengths and a few marked samples; used by periodic evals in training and by `latent eval`.
import type { AnswerExtractionMode, Gsm8kExample } from '../data/gsm8k';
import { histogram } from '../latent/diagnostics';
import { disposeRollouts, sampleRollouts, type PolicyModules, type RolloutOptions } from './policy';
import { markedRolloutText, rolloutText, type TextDecoder } from './render';
import { computeReward } from './reward';

export interface AccuracyOptions extends RolloutOptions {
  promptIds: (e: Gsm8kExample) => number[];
  /** rows per sampling pass */
  batchSize: number;
  answerMode: AnswerExtractionMode;
  /** samples per question (pass@k uses k = samples; default 1) */
  samples?: number;
  /** called with the number of questions done */
  onProgress?: (done: number) => void;
}

export interface AccuracySample {
  question: string;
  /** the answer with spans as markers */
  text: string;
  spans: [number, number][];
  correct: boolean;
  answer: string;
}

export interface RolloutAccuracy {
  /** questions */
  n: number;
  /** samples per question */
  k: number;
  /** mean correctness over all samples */
  accuracy: number;
  /** fraction of questions with at least one correct sample among k */
  passAtK: number;
  spansPerAnswer: number;
  /** null when no span opened */
  latentsPerSpan: number | null;
  tokensPerAnswer: number;
  /** span length -> count */
  spanLengths: Record<string, number>;
  samples: AccuracySample[];
}

const SAMPLES_KEPT = 8;

/** Accuracy of `k` rollouts per question (temperature 0: greedy, then k should be 1). */
export function rolloutAccuracy(
  m: PolicyModules,
  tokenizer: TextDecoder,
  examples: readonly Gsm8kExample[],
  o: AccuracyOptions,
): RolloutAccuracy {
  const k = o.samples ?? 1;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`samples must be a positive integer, got ${k}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
    throw new RangeError(`batchSize must be a positive integer, got ${o.batchSize}`);
  const rowsPerPass = Math.max(k, o.batchSize - (o.batchSize % k)); // whole questions per pass
  const questionsPerPass = rowsPerPass / k;
  let correctSamples = 0,
    questionsSolved = 0,
    spanCount = 0,
    tokenCount = 0,
    answers = 0;
  const lengths: number[] = [];
  const samples: AccuracySample[] = [];
  for (let q = 0; q < examples.length; q += questionsPerPass) {
    const chunk = examples.slice(q, q + questionsPerPass);
    const rollouts = sampleRollouts(
      m,
      chunk.flatMap((e) => Array.from({ length: k }, () => o.promptIds(e))),
      { ...o, keepLatents: false },
    );
    try {
      chunk.forEach((e, j) => {
        let solved = false;
        for (let s = 0; s < k; s++) {
          const r = rollouts[j * k + s];
          const correct = computeReward(rolloutText(tokenizer, r), e.answerNumber, 0, {
            answerMode: o.answerMode,
            formatReward: 0,
            latentCost: 0,
          }).correct;
          solved ||= correct;
          correctSamples += correct ? 1 : 0;
          spanCount += r.spans.length;
          for (const span of r.spans) lengths.push(span.latents);
          tokenCount += r.actions.filter((a) => a.kind === 'token').length;
          answers++;
          if (s === 0 && samples.length < SAMPLES_KEPT)
            samples.push({ question: e.question, ...markedRolloutText(tokenizer, r), correct, answer: e.answerText });
        }
        questionsSolved += solved ? 1 : 0;
      });
    } finally {
      disposeRollouts(rollouts);
    }
    o.onProgress?.(Math.min(examples.length, q + questionsPerPass));
  }
  const n = examples.length;
  return {
    n,
    k,
    accuracy: answers ? correctSamples / answers : 0,
    passAtK: n ? questionsSolved / n : 0,
    spansPerAnswer: answers ? spanCount / answers : 0,
    latentsPerSpan: lengths.length ? lengths.reduce((a, b) => a + b, 0) / lengths.length : null,
    tokensPerAnswer: answers ? tokenCount / answers : 0,
    spanLengths: histogram(lengths),
    samples,
  };
}
