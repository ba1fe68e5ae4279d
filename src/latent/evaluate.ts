// Evaluation of a latent model: losses (overall, next-step, result tokens), the start classifier,
// latent-utilisation ablations with bootstrap confidence intervals, latent decoding, and answer
// accuracy of generation with and without latents.
import * as torch from '../torch';
import type { Tensor } from '../torch';
import type { Gsm8kExample } from '../data/gsm8k';
import { answersEqual, extractAnswer, formatPrompt } from '../data/gsm8k';
import type { LatentModel } from './model';
import type { ExampleLosses, LatentAblation, LatentRecord, StopScore, SumCount } from './forward';
import type { LatentSchedule, LatentSequence } from './sequence';
import {
  bestF1Threshold,
  bootstrapMeanDelta,
  histogram,
  logitLens,
  nearestTokens,
  precisionRecallF1,
  recurringTokens,
  resultAppears,
} from './diagnostics';
import { generateBatch, type LatentGenerateOptions } from './generate';
import { RunningMean } from '../util/running-mean';
import { pairedAccuracy, type PairedAccuracy } from './study';

export type { SumCount };

export interface LossEvaluation {
  loss: number;
  /** every solution token after the first span (the name is historical: it pools all later steps) */
  nextStepLoss: number;
  resultLoss: number;
  /** the step that follows each span: from its result to the end of its line */
  stepLoss: number;
  startLoss: number;
  stopLoss: number;
  start: { precision: number; recall: number; f1: number };
  /** the start-probability threshold with the best F1 on this set (classes are weighted in training, so 0.5 over-fires) */
  startThreshold: { threshold: number; f1: number };
  /** the start classifier at the model's own threshold (heads.startThreshold: calibrated on validation data in training) */
  startAtThreshold: { threshold: number; precision: number; recall: number; f1: number };
  latentNorm: number;
  tokenNorm: number;
  perExample: ExampleLosses[];
  /** the end classifier, teacher-forced on the gold spans (stopEvaluation) */
  stop: StopEvaluation;
}

/**
 * The end classifier's stop decisions against the spans' scheduled lengths, teacher-forced: at every
 * latent index j ≤ k of a gold span of k latents it should continue (j < k) or stop (j = k).
 */
export interface StopEvaluation {
  /** decisions (stop probability > 0.5) that match their target */
  decisionAccuracy: number;
  /** the same for always answering the decisions' majority class */
  decisionBaseline: number;
  /** spans whose first stop decision falls exactly at their scheduled length */
  lengthAccuracy: number;
  /** the same for always predicting the most common scheduled length (what a fixed k can reach) */
  lengthBaseline: number;
  spans: number;
  /** scheduled span lengths, and the lengths the classifier would choose (">k": not stopped by the scheduled length) */
  scheduled: Record<string, number>;
  chosen: Record<string, number>;
}

/** Precision, recall and F1 of (logit, target) pairs, deciding "start" above probability `threshold`. */
export function scoresAtThreshold(
  scores: readonly [number, number][],
  threshold: number,
): { threshold: number; precision: number; recall: number; f1: number } {
  const c = { tp: 0, fp: 0, fn: 0 };
  for (const [logit, target] of scores) {
    const decided = 1 / (1 + Math.exp(-logit)) > threshold;
    if (decided && target === 1) c.tp++;
    else if (decided) c.fp++;
    else if (target === 1) c.fn++;
  }
  return { threshold, ...precisionRecallF1(c) };
}

/** Stop decisions grouped per (example, span) into a StopEvaluation. */
export function stopEvaluation(scores: readonly StopScore[]): StopEvaluation {
  const spans = new Map<string, StopScore[]>();
  let right = 0;
  let stops = 0;
  for (const d of scores) {
    if ((d.logit > 0 ? 1 : 0) === d.target) right++;
    stops += d.target;
    const key = `${d.example}:${d.span}`;
    const list = spans.get(key);
    if (list) list.push(d);
    else spans.set(key, [d]);
  }
  const scheduled: number[] = [];
  const chosen: string[] = [];
  let lengthRight = 0;
  for (const list of spans.values()) {
    list.sort((a, b) => a.step - b.step);
    const k = list.length - 1; // decisions at j = 0 … k
    const first = list.find((d) => d.logit > 0);
    scheduled.push(k);
    chosen.push(first ? String(first.step) : `>${k}`);
    if (first?.step === k) lengthRight++;
  }
  const n = scores.length;
  const histogramOf = histogram(scheduled);
  const majority = Math.max(0, ...Object.values(histogramOf));
  const byName: Record<string, number> = {};
  for (const c of chosen) byName[c] = (byName[c] ?? 0) + 1;
  return {
    decisionAccuracy: n ? right / n : NaN,
    decisionBaseline: n ? Math.max(stops, n - stops) / n : NaN,
    lengthAccuracy: spans.size ? lengthRight / spans.size : NaN,
    lengthBaseline: spans.size ? majority / spans.size : NaN,
    spans: spans.size,
    scheduled: histogramOf,
    chosen: byName,
  };
}

/** Losses over `seqs` without gradients, in batches; each batch runs in its own scope. */
export function evaluateLoss(
  lm: LatentModel,
  seqs: LatentSequence[],
  {
    batchSize = 8,
    ablation,
    onProgress,
  }: {
    batchSize?: number;
    ablation?: LatentAblation;
    /** examples done, after each batch */ onProgress?: (done: number) => void;
  } = {},
): LossEvaluation {
  // losses over their targets, norms over batches
  const lmLoss = new RunningMean();
  const nextStepLoss = new RunningMean();
  const resultLoss = new RunningMean();
  const stepLoss = new RunningMean();
  const startLoss = new RunningMean();
  const stopLoss = new RunningMean();
  const latentNorm = new RunningMean();
  const tokenNorm = new RunningMean();
  const confusion = { tp: 0, fp: 0, fn: 0, tn: 0 };
  const perExample: LossEvaluation['perExample'] = [];
  const startScores: [number, number][] = [];
  const stopScores: StopScore[] = [];
  torch.noGrad(() => {
    for (let i = 0; i < seqs.length; i += batchSize) {
      torch.scope(() => {
        const r = lm.forward(seqs.slice(i, i + batchSize), {
          ablation,
          perExample: true,
          collectStartScores: true,
          collectStopScores: true,
        });
        startScores.push(...r.startScores);
        for (const d of r.stopScores) stopScores.push({ ...d, example: i + d.example });
        lmLoss.add(r.lmSum, r.lmCount);
        nextStepLoss.add(r.nextStepSum, r.nextStepCount);
        resultLoss.add(r.resultSum, r.resultCount);
        stepLoss.add(r.stepSum, r.stepCount);
        startLoss.add(r.startLoss.item() * r.startCount, r.startCount);
        stopLoss.add(r.stopLoss.item() * r.stopCount, r.stopCount);
        for (const k of ['tp', 'fp', 'fn', 'tn'] as const) confusion[k] += r.startConfusion[k];
        latentNorm.add(r.latentNorm);
        tokenNorm.add(r.tokenNorm);
        perExample.push(...r.perExample);
      });
      onProgress?.(Math.min(seqs.length, i + batchSize));
    }
  });
  return {
    loss: lmLoss.mean(),
    nextStepLoss: nextStepLoss.mean(),
    resultLoss: resultLoss.mean(),
    stepLoss: stepLoss.mean(),
    startLoss: startLoss.mean(),
    stopLoss: stopLoss.mean(),
    start: precisionRecallF1(confusion),
    startThreshold: bestF1Threshold(startScores),
    startAtThreshold: scoresAtThreshold(startScores, lm.heads.startThreshold),
    latentNorm: latentNorm.mean(0),
    tokenNorm: tokenNorm.mean(0),
    perExample,
    stop: stopEvaluation(stopScores),
  };
}

/** Latent records of a forward pass over `seqs` (input embeddings and post-norm hidden states at latent positions). */
export function collectLatents(
  lm: LatentModel,
  seqs: LatentSequence[],
  batchSize = 8,
): (LatentRecord & { sequence: LatentSequence })[] {
  const out: (LatentRecord & { sequence: LatentSequence })[] = [];
  torch.noGrad(() => {
    for (let i = 0; i < seqs.length; i += batchSize) {
      const batch = seqs.slice(i, i + batchSize);
      torch.scope(() => {
        const r = lm.forward(batch, { collectLatents: true });
        for (const rec of r.latents) out.push({ ...rec, sequence: batch[rec.example] });
      });
    }
  });
  return out;
}

export interface AblationResult {
  name: 'trained' | 'zeros' | 'mean' | 'shuffled' | 'constant';
  /** post-span loss (every solution token after the first span) */
  nextStepLoss: number;
  resultLoss: number;
  stepLoss: number;
  /** post-span loss of the ablation minus the trained latents' (positive: the latents helped) */
  delta: number;
  ci: [number, number];
  /** the same on result tokens (the study's content endpoint) and on the step after each span */
  resultDelta: number;
  resultCi: [number, number];
  stepDelta: number;
  stepCi: [number, number];
}

/**
 * Losses with latents as the run feeds them vs replaced by zeros, by their mean (on training data:
 * `trainSeqs`, else the evaluated examples), by another example's latents, and by a constant vector
 * learned for the frozen model (pause tokens). If the model ignores its latents' content, shuffled,
 * mean and constant leave the losses unchanged; zeros are out of distribution and may not.
 * What is ablated is what the run's latent input form feeds (planted inputs for the planted cases).
 */
export function latentAblations(lm: LatentModel, seqs: LatentSequence[], o: AblationOptions = {}): AblationResult[] {
  const { ablations, constant } = latentAblationsWithConstant(lm, seqs, o);
  constant.dispose();
  return ablations;
}

export interface AblationOptions {
  batchSize?: number;
  constantSteps?: number;
  constantLr?: number;
  trainSeqs?: LatentSequence[];
  seed?: number;
  /** work done of {@link ablationWork}'s total: examples evaluated, latents collected, constant steps taken */
  onProgress?: (done: number) => void;
}

/**
 * Units of work in {@link latentAblationsWithConstant} for `seqs`, for a progress bar: five loss passes
 * (trained and four ablations), one pass over the training examples for the mean, the constant's steps.
 */
export function ablationWork(seqs: number, o: { trainSeqs?: number; constantSteps?: number } = {}): number {
  return 5 * seqs + (o.trainSeqs ?? seqs) + (o.constantSteps ?? 50);
}

/** {@link latentAblations}, also returning the learned constant (kept; the caller disposes it), e.g. to ablate generation with it. */
export function latentAblationsWithConstant(
  lm: LatentModel,
  seqs: LatentSequence[],
  { batchSize = 8, constantSteps = 50, constantLr = 1e-2, trainSeqs, seed = 0, onProgress }: AblationOptions = {},
): { ablations: AblationResult[]; constant: Tensor } {
  let base = 0; // work finished by earlier passes
  const passProgress = onProgress && ((done: number) => onProgress(base + done));
  const trained = evaluateLoss(lm, seqs, { batchSize, onProgress: passProgress });
  base += seqs.length;
  // the mean comes from training data, so that the test examples play no part in their own ablation
  const meanSeqs = trainSeqs ?? seqs;
  const latents = collectLatents(lm, meanSeqs, batchSize);
  base += meanSeqs.length;
  onProgress?.(base);
  const meanVector = torch.keep(
    torch.scope(() =>
      latents.length ? torch.stack(latents.map((l) => l.embed)).mean(0) : torch.zeros([lm.model.config.hiddenSize]),
    ),
  );
  for (const l of latents) {
    l.embed.dispose();
    l.hidden.dispose();
  }
  const constant = learnConstantLatent(lm, trainSeqs ?? seqs, {
    steps: constantSteps,
    lr: constantLr,
    init: meanVector,
    batchSize,
    onStep: passProgress,
  });
  base += constantSteps;
  const variants: [AblationResult['name'], LatentAblation][] = [
    ['zeros', { kind: 'zeros' }],
    ['mean', { kind: 'vector', vector: meanVector }],
    ['shuffled', { kind: 'shuffled' }],
    ['constant', { kind: 'vector', vector: constant }],
  ];
  const nextOf = (e: LossEvaluation) => e.perExample.map((p) => p.next);
  const resultOf = (e: LossEvaluation) => e.perExample.map((p) => p.result);
  const stepOf = (e: LossEvaluation) => e.perExample.map((p) => p.step);
  const results: AblationResult[] = [
    {
      name: 'trained',
      nextStepLoss: trained.nextStepLoss,
      resultLoss: trained.resultLoss,
      stepLoss: trained.stepLoss,
      delta: 0,
      ci: [0, 0],
      resultDelta: 0,
      resultCi: [0, 0],
      stepDelta: 0,
      stepCi: [0, 0],
    },
  ];
  for (const [name, ablation] of variants) {
    const e = evaluateLoss(lm, seqs, { batchSize, ablation, onProgress: passProgress });
    base += seqs.length;
    const d = bootstrapMeanDelta(nextOf(trained), nextOf(e), { seed });
    const rd = bootstrapMeanDelta(resultOf(trained), resultOf(e), { seed });
    const sd = bootstrapMeanDelta(stepOf(trained), stepOf(e), { seed });
    results.push({
      name,
      nextStepLoss: e.nextStepLoss,
      resultLoss: e.resultLoss,
      stepLoss: e.stepLoss,
      delta: d.delta,
      ci: d.ci,
      resultDelta: rd.delta,
      resultCi: rd.ci,
      stepDelta: sd.delta,
      stepCi: sd.ci,
    });
  }
  meanVector.dispose();
  return { ablations: results, constant };
}

/** A single latent vector fed at every latent position, optimised for the frozen model (pause tokens). */
export function learnConstantLatent(
  lm: LatentModel,
  seqs: LatentSequence[],
  {
    steps,
    lr,
    init,
    batchSize,
    onStep,
  }: {
    steps: number;
    lr: number;
    init: Tensor;
    batchSize: number;
    /** steps taken, after each */ onStep?: (done: number) => void;
  },
): Tensor {
  const vector = torch.keep(torch.scope(() => init.detach().clone().requiresGrad_(true)));
  const frozen = lm.parameters().filter((p) => p.requiresGrad);
  for (const p of frozen) p.requiresGrad_(false);
  const optimizer = new torch.optim.AdamW([vector], { lr, weightDecay: 0 });
  try {
    for (let s = 0; s < steps && seqs.length; s++) {
      torch.scope(() => {
        const start = (s * batchSize) % seqs.length;
        const batch = seqs.slice(start, start + batchSize);
        const r = lm.forward(batch, { ablation: { kind: 'vector', vector } });
        r.loss.backward();
        optimizer.step();
        optimizer.zeroGrad();
      });
      onStep?.(s + 1);
    }
  } finally {
    for (const p of frozen) p.requiresGrad_(true);
    optimizer.dispose();
  }
  // in scopes: the detached views are temporaries, freed now rather than at the next GC
  const out = torch.keep(torch.scope(() => vector.detach().clone()));
  vector.dispose();
  return out;
}

export interface DecodedLatent {
  example: number;
  span: number;
  step: number;
  expression: string;
  result: string;
  nearest: { token: string; cosine: number }[];
  logitLens: { token: string; prob: number }[];
  stopProb: number;
  embedNorm: number;
}

/** Decodes each latent to its nearest token embeddings and logit-lens tokens. */
export function inspectLatents(
  lm: LatentModel,
  seqs: LatentSequence[],
  { topK = 5, batchSize = 8 }: { topK?: number; batchSize?: number } = {},
): {
  decoded: DecodedLatent[];
  recurring: { token: string; count: number }[];
  resultHitRate: number;
} {
  const latents = collectLatents(lm, seqs, batchSize);
  if (!latents.length) return { decoded: [], recurring: [], resultHitRate: 0 };
  const decode = (id: number) => lm.tokenizer.decodeToken(id);
  const { nearest, lens, norms } = torch.scope(() => {
    const embeds = torch.stack(latents.map((l) => l.embed));
    const hidden = torch.stack(latents.map((l) => l.hidden));
    return {
      nearest: nearestTokens(embeds, lm.model.model.embed_tokens.weight, topK, decode),
      lens: logitLens(hidden, (h) => lm.backbone.lmHead(h), topK, decode),
      norms: embeds.float().pow(2).sum(-1).sqrt().tolist() as number[],
    };
  });
  const decoded: DecodedLatent[] = latents.map((l, i) => {
    const span = l.sequence.spans[l.span];
    return {
      example: l.sequence.exampleIndex,
      span: l.span,
      step: l.step,
      expression: span?.expression ?? '',
      result: span?.result ?? '',
      nearest: nearest[i].map((d) => ({ token: d.token, cosine: d.score })),
      logitLens: lens[i].map((d) => ({ token: d.token, prob: d.score })),
      stopProb: l.stopProb,
      embedNorm: norms[i],
    };
  });
  for (const l of latents) {
    l.embed.dispose();
    l.hidden.dispose();
  }
  const hits = decoded.filter((d, i) => resultAppears(d.result, [...nearest[i], ...lens[i]])).length;
  return { decoded, recurring: recurringTokens([...nearest, ...lens]), resultHitRate: hits / decoded.length };
}

export interface AccuracyResult {
  /** spans opened by the start classifier */
  withLatents: number;
  /** no spans at all */
  withoutLatents: number;
  n: number;
  spanLengths: Record<string, number>;
  spansPerAnswer: number;
  /** fraction of the classifier's spans opened where the text was not at a breakpoint */
  spansAwayFromBreakpoints: number;
  /** spans the start classifier opened, and how many of them away from a breakpoint */
  spans: number;
  spansAway: number;
  /** with `oracleLatents`: spans opened exactly at the breakpoints, that many latents each */
  oracle?: number;
  /** with `ablate` (and oracle placement): the latents replaced by another question's, and by a constant */
  oracleShuffled?: number;
  oracleConstant?: number;
  /** per question, per condition: answered correctly? (for paired tests) */
  correct: Partial<Record<AccuracyCondition, boolean[]>>;
  /** paired tests: with vs without latents, oracle vs without, oracle vs its ablations */
  paired: Partial<Record<'withVsWithout' | 'oracleVsWithout' | 'oracleVsShuffled' | 'oracleVsConstant', PairedAccuracy>>;
  samples: { question: string; text: string; correct: boolean; answer: string }[];
}

export type AccuracyCondition = 'withLatents' | 'withoutLatents' | 'oracle' | 'oracleShuffled' | 'oracleConstant';

export interface AccuracyOptions {
  maxNewTokens?: number;
  maxLatents?: number;
  startThreshold?: number;
  onProgress?: (done: number) => void;
  /** also generate with spans at the gold breakpoints, this many latents each */
  oracleLatents?: number;
  /**
   * with oracleLatents: the run's latent schedule (--latent-schedule): span i of a question gets the
   * schedule's count at the question's i-th gold breakpoint (spans past its gold breakpoints get
   * oracleLatents); default: oracleLatents for every span
   */
  latentSchedule?: LatentSchedule;
  /** with oracleLatents: also with latents shuffled across questions and replaced by this constant */
  ablate?: { constant: Tensor };
  seed?: number;
  /** questions generated together (greedy decoding gives each the same answer as alone); default 1 */
  batchSize?: number;
}

/** Latents of oracle span `span` of `example` under `schedule` (its gold breakpoints), else `k`. */
export function oracleSpanLatents(schedule: LatentSchedule | undefined, span: number, example: Gsm8kExample, k: number): number {
  if (schedule === undefined || typeof schedule === 'number' || span >= example.breakpoints.length) return k;
  const n = schedule(span, example);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`latent count must be a non-negative integer, got ${n}`);
  return n;
}

/**
 * GSM8K exact-match accuracy of greedy generation under several conditions on the same questions:
 * spans by the start classifier, no spans, spans at the gold breakpoints (oracle placement) and, with
 * `ablate`, oracle spans whose latents are another question's (shuffled: question i is fed the
 * latents question i+1 computed at the same span and step) or a constant. Paired tests compare them.
 */
export function answerAccuracy(lm: LatentModel, examples: Gsm8kExample[], o: AccuracyOptions = {}): AccuracyResult {
  const {
    maxNewTokens = 256,
    maxLatents = 8,
    startThreshold = lm.heads.startThreshold,
    onProgress,
    oracleLatents,
    latentSchedule,
    ablate,
    seed = 0,
    batchSize = 1,
  } = o;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const correct: AccuracyResult['correct'] = { withLatents: [], withoutLatents: [] };
  let spanCount = 0;
  let away = 0;
  const lengths: number[] = [];
  const samples: AccuracyResult['samples'] = [];
  const base = { maxNewTokens, maxLatents };
  const ok = (text: string, ex: Gsm8kExample) => answersEqual(extractAnswer(text), ex.answerNumber);
  const n = examples.length;
  const prompts = examples.map((ex) => formatPrompt(ex.question));
  // questions [from, from + batchSize) at a time; row r of a batch is question from + r
  const batches = (run: (from: number, prompts: string[]) => void, progressBase: number) => {
    for (let from = 0; from < n; from += batchSize) {
      run(from, prompts.slice(from, from + batchSize));
      onProgress?.(progressBase + Math.min(n, from + batchSize));
    }
  };
  const oracle = (from: number): LatentGenerateOptions => ({
    ...base,
    useLatents: true,
    placement: 'oracle',
    oracleLatents: (span, row) => oracleSpanLatents(latentSchedule, span, examples[from + row], oracleLatents!),
  });
  const oracleLatentsOf: Tensor[][][] = [];
  batches((from, batch) => {
    const a = generateBatch(lm, batch, { ...base, startThreshold, useLatents: true });
    const b = generateBatch(lm, batch, { ...base, useLatents: false });
    const g = oracleLatents !== undefined ? generateBatch(lm, batch, { ...oracle(from), keepLatents: !!ablate }) : null;
    batch.forEach((_, r) => {
      const ex = examples[from + r];
      correct.withLatents!.push(ok(a[r].text, ex));
      correct.withoutLatents!.push(ok(b[r].text, ex));
      spanCount += a[r].spans.length;
      away += a[r].spans.filter((s) => !s.atBreakpoint).length;
      for (const s of a[r].spans) lengths.push(s.latents);
      if (samples.length < 8)
        samples.push({ question: ex.question, text: a[r].markedText, correct: ok(a[r].text, ex), answer: ex.answerText });
      if (g) {
        (correct.oracle ??= []).push(ok(g[r].text, ex));
        if (ablate) oracleLatentsOf.push(g[r].spans.map((s) => (s.hiddens!.forEach((h) => h.dispose()), s.embeds!)));
      }
    });
  }, 0);
  if (oracleLatents !== undefined && ablate) {
    try {
      batches((from, batch) => {
        // another question's latents at the same span and step (its last ones when it has fewer)
        const shuffled = generateBatch(lm, batch, {
          ...oracle(from),
          latentInput: (span, j, _computed, row) => {
            const other = oracleLatentsOf[(from + row + 1) % n];
            const s = other[Math.min(span, other.length - 1)];
            return s?.length ? s[Math.min(j, s.length - 1)] : null;
          },
        });
        const constant = generateBatch(lm, batch, { ...oracle(from), latentInput: () => ablate.constant });
        batch.forEach((_, r) => {
          (correct.oracleShuffled ??= []).push(ok(shuffled[r].text, examples[from + r]));
          (correct.oracleConstant ??= []).push(ok(constant[r].text, examples[from + r]));
        });
      }, n);
    } finally {
      for (const spans of oracleLatentsOf) for (const s of spans) for (const t of s) t.dispose();
    }
  }
  const rate = (c: boolean[] | undefined) => (c && n ? c.filter(Boolean).length / n : undefined);
  const paired: AccuracyResult['paired'] = {
    withVsWithout: pairedAccuracy(correct.withLatents!, correct.withoutLatents!, { seed }),
  };
  if (correct.oracle) paired.oracleVsWithout = pairedAccuracy(correct.oracle, correct.withoutLatents!, { seed });
  if (correct.oracle && correct.oracleShuffled)
    paired.oracleVsShuffled = pairedAccuracy(correct.oracle, correct.oracleShuffled, { seed });
  if (correct.oracle && correct.oracleConstant)
    paired.oracleVsConstant = pairedAccuracy(correct.oracle, correct.oracleConstant, { seed });
  return {
    withLatents: rate(correct.withLatents) ?? 0,
    withoutLatents: rate(correct.withoutLatents) ?? 0,
    n,
    spanLengths: histogram(lengths),
    spansPerAnswer: n ? spanCount / n : 0,
    spansAwayFromBreakpoints: spanCount ? away / spanCount : 0,
    spans: spanCount,
    spansAway: away,
    ...(correct.oracle ? { oracle: rate(correct.oracle) } : {}),
    ...(correct.oracleShuffled
      ? { oracleShuffled: rate(correct.oracleShuffled), oracleConstant: rate(correct.oracleConstant) }
      : {}),
    correct,
    paired,
    samples,
  };
}
