// Evaluation of a latent model: losses (overall, next-step, result tokens), the start classifier,
// latent-utilisation ablations with bootstrap confidence intervals, latent decoding, and answer
// accuracy of generation with and without latents.
import * as torch from '../torch';
import type { Tensor } from '../torch';
import type { Gsm8kExample } from '../data/gsm8k';
import { answersEqual, extractAnswer, formatPrompt } from '../data/gsm8k';
import type { LatentModel } from './model';
import type { LatentAblation, LatentRecord } from './forward';
import type { LatentSequence } from './sequence';
import { bestF1Threshold, bootstrapMeanDelta, histogram, logitLens, nearestTokens, precisionRecallF1, recurringTokens, resultAppears } from './diagnostics';
import { generateWithLatents } from './generate';

export interface SumCount {
  sum: number;
  count: number;
}

export interface LossEvaluation {
  loss: number;
  nextStepLoss: number;
  resultLoss: number;
  startLoss: number;
  stopLoss: number;
  start: { precision: number; recall: number; f1: number };
  /** the start-probability threshold with the best F1 on this set (classes are weighted in training, so 0.5 over-fires) */
  startThreshold: { threshold: number; f1: number };
  latentNorm: number;
  tokenNorm: number;
  perExample: { lm: SumCount; next: SumCount; result: SumCount }[];
}

const mean = (s: SumCount) => (s.count ? s.sum / s.count : NaN);

/** Losses over `seqs` without gradients, in batches; each batch runs in its own scope. */
export function evaluateLoss(lm: LatentModel, seqs: LatentSequence[], { batchSize = 8, ablation }: { batchSize?: number; ablation?: LatentAblation } = {}): LossEvaluation {
  const lmT: SumCount = { sum: 0, count: 0 };
  const next: SumCount = { sum: 0, count: 0 };
  const result: SumCount = { sum: 0, count: 0 };
  let startSum = 0, startCount = 0, stopSum = 0, stopCount = 0, latentNorm = 0, tokenNorm = 0, batches = 0;
  const confusion = { tp: 0, fp: 0, fn: 0, tn: 0 };
  const perExample: LossEvaluation['perExample'] = [];
  const startScores: [number, number][] = [];
  torch.noGrad(() => {
    for (let i = 0; i < seqs.length; i += batchSize) {
      torch.scope(() => {
        const r = lm.forward(seqs.slice(i, i + batchSize), { ablation, perExample: true, collectStartScores: true });
        startScores.push(...r.startScores);
        lmT.sum += r.lmSum;
        lmT.count += r.lmCount;
        next.sum += r.nextStepSum;
        next.count += r.nextStepCount;
        result.sum += r.resultSum;
        result.count += r.resultCount;
        startSum += r.startLoss.item() * r.startCount;
        startCount += r.startCount;
        stopSum += r.stopLoss.item() * r.stopCount;
        stopCount += r.stopCount;
        for (const k of ['tp', 'fp', 'fn', 'tn'] as const) confusion[k] += r.startConfusion[k];
        latentNorm += r.latentNorm;
        tokenNorm += r.tokenNorm;
        batches++;
        for (const e of r.perExample) perExample.push({ lm: { sum: e[0], count: e[1] }, next: { sum: e[2], count: e[3] }, result: { sum: e[4], count: e[5] } });
      });
    }
  });
  return {
    loss: mean(lmT),
    nextStepLoss: mean(next),
    resultLoss: mean(result),
    startLoss: startCount ? startSum / startCount : NaN,
    stopLoss: stopCount ? stopSum / stopCount : NaN,
    start: precisionRecallF1(confusion),
    startThreshold: bestF1Threshold(startScores),
    latentNorm: batches ? latentNorm / batches : 0,
    tokenNorm: batches ? tokenNorm / batches : 0,
    perExample,
  };
}

/** Latent records of a forward pass over `seqs` (input embeddings and post-norm hidden states at latent positions). */
export function collectLatents(lm: LatentModel, seqs: LatentSequence[], batchSize = 8): (LatentRecord & { sequence: LatentSequence })[] {
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
  nextStepLoss: number;
  resultLoss: number;
  /** next-step loss of the ablation minus the trained latents' (positive: the latents helped) */
  delta: number;
  ci: [number, number];
  resultDelta: number;
  resultCi: [number, number];
}

/**
 * Next-step loss with latents as trained vs replaced by zeros, by the mean latent, by another
 * example's latents, and by a constant vector learned for the frozen model (pause tokens). If the
 * model ignores its latents, all are equal.
 */
export function latentAblations(
  lm: LatentModel,
  seqs: LatentSequence[],
  { batchSize = 8, constantSteps = 50, constantLr = 1e-2, trainSeqs, seed = 0 }: { batchSize?: number; constantSteps?: number; constantLr?: number; trainSeqs?: LatentSequence[]; seed?: number } = {},
): AblationResult[] {
  const trained = evaluateLoss(lm, seqs, { batchSize });
  const latents = collectLatents(lm, seqs, batchSize);
  const meanVector = torch.keep(
    torch.scope(() => (latents.length ? torch.stack(latents.map((l) => l.embed)).mean(0) : torch.zeros([lm.model.config.hiddenSize]))),
  );
  for (const l of latents) (l.embed.dispose(), l.hidden.dispose());
  const constant = learnConstantLatent(lm, trainSeqs ?? seqs, { steps: constantSteps, lr: constantLr, init: meanVector, batchSize });
  const variants: [AblationResult['name'], LatentAblation][] = [
    ['zeros', { kind: 'zeros' }],
    ['mean', { kind: 'vector', vector: meanVector }],
    ['shuffled', { kind: 'shuffled' }],
    ['constant', { kind: 'vector', vector: constant }],
  ];
  const nextOf = (e: LossEvaluation) => e.perExample.map((p) => p.next);
  const resultOf = (e: LossEvaluation) => e.perExample.map((p) => p.result);
  const results: AblationResult[] = [{ name: 'trained', nextStepLoss: trained.nextStepLoss, resultLoss: trained.resultLoss, delta: 0, ci: [0, 0], resultDelta: 0, resultCi: [0, 0] }];
  for (const [name, ablation] of variants) {
    const e = evaluateLoss(lm, seqs, { batchSize, ablation });
    const d = bootstrapMeanDelta(nextOf(trained), nextOf(e), { seed });
    const rd = bootstrapMeanDelta(resultOf(trained), resultOf(e), { seed });
    results.push({ name, nextStepLoss: e.nextStepLoss, resultLoss: e.resultLoss, delta: d.delta, ci: d.ci, resultDelta: rd.delta, resultCi: rd.ci });
  }
  meanVector.dispose();
  constant.dispose();
  return results;
}

/** A single latent vector fed at every latent position, optimised for the frozen model (pause tokens). */
export function learnConstantLatent(
  lm: LatentModel,
  seqs: LatentSequence[],
  { steps, lr, init, batchSize }: { steps: number; lr: number; init: Tensor; batchSize: number },
): Tensor {
  const vector = torch.keep(init.detach().clone().requiresGrad_(true));
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
    }
  } finally {
    for (const p of frozen) p.requiresGrad_(true);
    optimizer.dispose();
  }
  const out = torch.keep(vector.detach().clone());
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
export function inspectLatents(lm: LatentModel, seqs: LatentSequence[], { topK = 5, batchSize = 8 } = {}): {
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
  for (const l of latents) (l.embed.dispose(), l.hidden.dispose());
  const hits = decoded.filter((d, i) => resultAppears(d.result, [...nearest[i], ...lens[i]])).length;
  return { decoded, recurring: recurringTokens([...nearest, ...lens]), resultHitRate: hits / decoded.length };
}

export interface AccuracyResult {
  withLatents: number;
  withoutLatents: number;
  n: number;
  spanLengths: Record<string, number>;
  spansPerAnswer: number;
  samples: { question: string; text: string; correct: boolean; answer: string }[];
}

/** GSM8K exact-match accuracy of greedy generation, with latent spans and without. */
export function answerAccuracy(
  lm: LatentModel,
  examples: Gsm8kExample[],
  { maxNewTokens = 256, maxLatents = 8, startThreshold = lm.heads.startThreshold, onProgress }: { maxNewTokens?: number; maxLatents?: number; startThreshold?: number; onProgress?: (done: number) => void } = {},
): AccuracyResult {
  let withL = 0, withoutL = 0, spanCount = 0;
  const lengths: number[] = [];
  const samples: AccuracyResult['samples'] = [];
  examples.forEach((ex, i) => {
    const prompt = formatPrompt(ex.question);
    const a = generateWithLatents(lm, prompt, { maxNewTokens, maxLatents, startThreshold, useLatents: true });
    const b = generateWithLatents(lm, prompt, { maxNewTokens, maxLatents, useLatents: false });
    const okA = answersEqual(extractAnswer(a.text), ex.answerNumber);
    const okB = answersEqual(extractAnswer(b.text), ex.answerNumber);
    withL += okA ? 1 : 0;
    withoutL += okB ? 1 : 0;
    spanCount += a.spans.length;
    for (const s of a.spans) lengths.push(s.latents);
    if (samples.length < 8) samples.push({ question: ex.question, text: a.markedText, correct: okA, answer: ex.answerText });
    onProgress?.(i + 1);
  });
  const n = examples.length;
  return { withLatents: n ? withL / n : 0, withoutLatents: n ? withoutL / n : 0, n, spanLengths: histogram(lengths), spansPerAnswer: n ? spanCount / n : 0, samples };
}
