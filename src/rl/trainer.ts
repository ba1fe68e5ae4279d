// Phase 2: GRPO over language and latents, starting from a phase-1 run.
//
// Each step:
//   1. takes the next `questionsPerStep` training questions (a seeded per-epoch shuffle: a function
//      of the step, so a resumed run continues exactly) and samples `group` rollouts of each with
//      the current policy (batched, KV cache, no gradient);
//   2. grades the language of every rollout and computes group-relative advantages;
//   3. scores the rollouts under the frozen reference (phase-1 checkpoint) when the KL penalty is on;
//   4. runs `updateEpochs` passes over the rollouts, each split into minibatches (one optimizer step
//      each) of micro-batches (one teacher-forced forward/backward each), minimising the clipped
//      GRPO objective (grpo.ts) against the log-probabilities recorded at sampling time.
// Full mode trains every weight; two-trunk mode trains the latent copy of the decoder, the latent
// adapter, the markers and the classifiers (LatentModel.parameters()), never the language trunk.
import * as path from 'path';
import * as torch from '../torch';
import { formatPrompt, loadGsm8k, type Gsm8kExample } from '../data/gsm8k';
import { latestCheckpoint, loadCheckpoint, saveTrainingCheckpoint } from '../train/checkpoint';
import { ProgressBar } from '../train/progress';
import { RUN_CONFIG_FILE, RunDir } from '../train/run-dir';
import { trainingLoop, type LoopResult } from '../train/loop';
import { EVALS_FILE, METRICS_FILE, type EvalLine, type MetricLine, type RlStepMetrics } from '../train/run-files';
import { MAX_LATENTS_PER_SPAN, SftData, openSftRun, restoreSftCheckpoint, type SftConfig } from '../train/sft';
import { checkConfig, type ConfigSpec } from '../train/config-check';
import { LATENT_STATE_RENAMED, type LatentMode, type LatentModel } from '../latent/model';
import { LOSS_AGGREGATIONS, actionWeights, groupAdvantages, groupStatistics, grpoLoss, type LossAggregation } from './grpo';
import {
  disposeRollouts,
  policyModules,
  sampleRollouts,
  startOffsetFor,
  type PolicyModules,
  type Rollout,
  type RolloutOptions,
} from './policy';
import { frozenReference, type ReferencePolicy } from './reference';
import { markedRolloutText, rolloutText } from './render';
import { checkRewardConfig, computeReward, type Reward, type RewardConfig } from './reward';
import { LATENT_GRADS, scoreRollouts, type LatentGrad } from './teacher-forcing';
import { rolloutAccuracy } from './accuracy';
import { RL_DEFAULTS } from './defaults';
import { RunningMean } from '../util/running-mean';

export interface RlConfig extends RewardConfig {
  kind: 'rl';
  /** the phase-1 run directory whose checkpoint is the initial and the reference policy */
  from: string;
  /** the phase-1 checkpoint used (resolved to the run's latest at the start of training) */
  fromCheckpoint: string | null;
  /** directory with train.jsonl and test.jsonl (GSM8K format) */
  data: string;
  out: string;
  /** the phase-1 mode (recorded from the phase-1 run) */
  mode: LatentMode | null;
  steps: number;
  /** questions per step; each gets `group` rollouts */
  questionsPerStep: number;
  group: number;
  /** passes over each step's rollouts */
  updateEpochs: number;
  /** rollouts per optimizer step (null: all rollouts of the step) */
  miniBatchSize: number | null;
  /** rollouts per forward/backward (gradient accumulation within a minibatch) */
  microBatchSize: number;
  /** rows per batched sampling pass */
  rolloutBatchSize: number;
  lr: number;
  lrDecay: 'constant' | 'cosine' | 'linear';
  minLr: number;
  warmupSteps: number;
  weightDecay: number;
  gradClip: number;
  clipEpsilon: number;
  /** null: equal to clipEpsilon */
  clipEpsilonHigh: number | null;
  /** β of the KL penalty to the reference (0: no reference) */
  klCoef: number;
  temperature: number;
  topP: number;
  /** language tokens per rollout (end-of-sequence included) */
  maxNewTokens: number;
  /** cap on latents per span (null: the phase-1 run's maxLatents) */
  maxLatents: number | null;
  /** cap on spans per rollout (null: none) */
  maxSpans: number | null;
  latentGrad: LatentGrad;
  /** divide advantages by the group's standard deviation */
  scaleRewards: boolean;
  advantageEpsilon: number;
  lossAggregation: LossAggregation;
  /** shift the start classifier so that phase 1's calibrated threshold is probability 1/2 */
  calibratedStart: boolean;
  evalEvery: number;
  evalExamples: number;
  saveEvery: number;
  logEvery: number;
  sampleEvery: number;
  samplesPerStep: number;
  maxTrainExamples: number | null;
  /** null: the phase-1 run's device */
  device: string | null;
  seed: number;
}

export { RL_DEFAULTS } from './defaults';

const count = (min: number) => ({ kind: 'integer', min }) as const;
const optionalCount = (min: number) => ({ kind: 'integer', min, nullable: true }) as const;

/** The rule for every field of an RL config (config.json of a phase-2 run). */
export const RL_CONFIG_SPEC: ConfigSpec<RlConfig> = {
  kind: { kind: 'string', oneOf: ['rl'] },
  from: { kind: 'string' },
  fromCheckpoint: { kind: 'string', nullable: true },
  data: { kind: 'string' },
  out: { kind: 'string' },
  mode: { kind: 'string', oneOf: ['full', 'two-trunk'], nullable: true },
  steps: count(1),
  questionsPerStep: count(1),
  // advantages are relative to the group
  group: count(2),
  updateEpochs: count(1),
  miniBatchSize: optionalCount(1),
  microBatchSize: count(1),
  rolloutBatchSize: count(1),
  lr: { kind: 'number', min: 0, exclusiveMin: true },
  lrDecay: { kind: 'string', oneOf: ['constant', 'cosine', 'linear'] },
  minLr: { kind: 'number', min: 0 },
  warmupSteps: count(0),
  weightDecay: { kind: 'number', min: 0 },
  gradClip: { kind: 'number', min: 0, exclusiveMin: true },
  clipEpsilon: { kind: 'number', min: 0, max: 1, exclusiveMin: true, exclusiveMax: true },
  clipEpsilonHigh: { kind: 'number', min: 0, exclusiveMin: true, max: 10, nullable: true },
  klCoef: { kind: 'number', min: 0 },
  // rollouts are sampled: temperature 0 would be greedy
  temperature: { kind: 'number', min: 0, exclusiveMin: true, max: 100 },
  topP: { kind: 'number', min: 0, max: 1, exclusiveMin: true },
  maxNewTokens: count(1),
  maxLatents: { kind: 'integer', min: 0, max: MAX_LATENTS_PER_SPAN, nullable: true },
  maxSpans: optionalCount(1),
  latentGrad: { kind: 'string', oneOf: LATENT_GRADS },
  scaleRewards: { kind: 'boolean' },
  advantageEpsilon: { kind: 'number', min: 0, max: 1 },
  lossAggregation: { kind: 'string', oneOf: LOSS_AGGREGATIONS },
  answerMode: { kind: 'string', oneOf: ['hash', 'last-number'] },
  formatReward: { kind: 'number', min: -100, max: 100 },
  latentCost: { kind: 'number', min: 0, max: 100 },
  calibratedStart: { kind: 'boolean' },
  evalEvery: count(1),
  evalExamples: count(0),
  saveEvery: count(1),
  logEvery: count(1),
  sampleEvery: count(1),
  samplesPerStep: count(0),
  maxTrainExamples: optionalCount(1),
  device: { kind: 'string', nullable: true },
  seed: { kind: 'integer', min: 0, max: 2 ** 31 - 1 },
};

/** Defaults filled in and every field checked (RL_CONFIG_SPEC); errors name the field. */
export function resolveRlConfig(partial: Partial<RlConfig> & Pick<RlConfig, 'from' | 'data' | 'out'>): RlConfig {
  const c = checkConfig(
    { ...RL_DEFAULTS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as RlConfig,
    RL_CONFIG_SPEC,
  );
  if (c.minLr > c.lr) throw new RangeError(`minLr must lie in [0, lr], got ${c.minLr}`);
  checkRewardConfig(c);
  c.warmupSteps = Math.min(c.warmupSteps, c.steps); // the effective warm-up, as config.json records it: never longer than the run
  return c;
}

/** A phase-2 policy opened from its phase-1 run, with the RL data. */
export interface RlPolicy {
  lm: LatentModel;
  policy: PolicyModules;
  phase1: SftConfig;
  /** the phase-1 checkpoint loaded */
  checkpoint: string;
  train: Gsm8kExample[];
  test: Gsm8kExample[];
  maxLatents: number;
  eosIds: number[];
  promptIds: (e: Gsm8kExample) => number[];
}

/** Loads the phase-1 model of `c.from` (at c.fromCheckpoint, or the run's latest checkpoint) and the RL data. */
export async function openRlPolicy(c: RlConfig): Promise<RlPolicy> {
  const phase1Dir = RunDir.open(c.from);
  const phase1 = phase1Dir.readJson<SftConfig>(RUN_CONFIG_FILE)!;
  if (phase1.kind !== 'sft')
    throw new Error(`--from ${c.from}: a '${String(phase1.kind)}' run; RL starts from a phase-1 (sft) run`);
  const checkpoint = c.fromCheckpoint ?? latestCheckpoint(phase1Dir.path('checkpoints'));
  if (!checkpoint) throw new Error(`--from ${c.from}: no checkpoint under ${phase1Dir.path('checkpoints')}; train phase 1 first`);
  const run = await openSftRun(
    { ...phase1, data: c.data, out: phase1Dir.dir, device: c.device ?? phase1.device },
    { resume: false },
  );
  const lm = run.lm;
  try {
    restoreSftCheckpoint(lm, checkpoint);
    lm.train(false);
    const load = (split: 'train' | 'test') => {
      const r = loadGsm8k(c.data, { split });
      if (r.report.malformed.length)
        process.stderr.write(`${c.data} ${split}: skipped ${r.report.malformed.length} malformed records of ${r.report.total}\n`);
      return r.examples;
    };
    const all = load('train');
    const train = c.maxTrainExamples ? all.slice(0, c.maxTrainExamples) : all;
    if (!train.length) throw new Error(`${c.data}: no training questions`);
    const offset = c.calibratedStart ? startOffsetFor(lm.heads.startThreshold) : 0;
    const eosIds = [
      ...new Set([
        ...(lm.model.config.eosTokenIds ?? []),
        ...(lm.tokenizer.eosTokenId === undefined ? [] : [lm.tokenizer.eosTokenId]),
      ]),
    ];
    const prompts = new Map<Gsm8kExample, number[]>();
    const promptIds = (e: Gsm8kExample): number[] => {
      let ids = prompts.get(e);
      if (!ids) prompts.set(e, (ids = lm.tokenizer.encode(formatPrompt(e.question))));
      return ids;
    };
    const test = load('test');
    // A rollout is its prompt plus up to maxNewTokens language tokens (and any latents): refused up
    // front when even the language part cannot fit the model's positions.
    const longestPrompt = Math.max(0, ...[...train, ...test].map((e) => promptIds(e).length));
    const maxPositions = lm.model.config.maxPositionEmbeddings;
    if (longestPrompt + c.maxNewTokens > maxPositions)
      throw new RangeError(
        `maxNewTokens ${c.maxNewTokens} plus the longest prompt (${longestPrompt} tokens) exceeds the model's max_position_embeddings (${maxPositions})`,
      );
    return {
      lm,
      policy: policyModules(lm, offset),
      phase1,
      checkpoint: path.resolve(checkpoint),
      train,
      test,
      maxLatents: c.maxLatents ?? phase1.maxLatents,
      eosIds,
      promptIds,
    };
  } catch (e) {
    lm.dispose();
    throw e;
  }
}

export function rolloutOptions(c: RlConfig, p: RlPolicy, over: Partial<RolloutOptions> = {}): RolloutOptions {
  return {
    maxNewTokens: c.maxNewTokens,
    maxLatents: p.maxLatents,
    maxSpans: c.maxSpans ?? undefined,
    temperature: c.temperature,
    topP: c.topP,
    eosIds: p.eosIds,
    ...over,
  };
}

/** Samples rollouts for `prompts` in passes of at most `batchSize` rows. */
export function sampleInBatches(m: PolicyModules, prompts: number[][], o: RolloutOptions, batchSize: number): Rollout[] {
  const out: Rollout[] = [];
  try {
    for (let i = 0; i < prompts.length; i += batchSize) out.push(...sampleRollouts(m, prompts.slice(i, i + batchSize), o));
  } catch (e) {
    disposeRollouts(out);
    throw e;
  }
  return out;
}

export interface RlSummary {
  steps: number;
  /** mean reward of the last step */
  finalReward: number;
  stopped: 'completed' | 'interrupted' | 'non-finite';
  out: string;
  lm?: LatentModel;
}

export interface RlTrainOptions {
  resume?: boolean;
  quiet?: boolean;
  /** stop (with a checkpoint, as on Ctrl-C) once this step is reached */
  stopAfter?: number;
  /** return the trained model (else it is disposed) */
  keepModel?: boolean;
}

/** A line of metrics.jsonl (besides step, time and lr): the schema's (train/run-files). */
type StepStats = RlStepMetrics;

export async function trainRl(
  config: RlConfig,
  { resume = false, quiet = false, stopAfter, keepModel = false }: RlTrainOptions = {},
): Promise<RlSummary> {
  // Refused before anything is loaded: a new run needs an empty --out, a resumed one an RL run.
  const dir = resume ? RunDir.open(config.out, { kind: 'rl' }) : RunDir.create(config.out);
  const existing = resume ? latestCheckpoint(dir.path('checkpoints')) : null;
  const opened = await openRlPolicy(config);
  const { lm, policy } = opened;
  const c: RlConfig = { ...config, fromCheckpoint: opened.checkpoint, mode: opened.phase1.mode, maxLatents: opened.maxLatents };
  let reference: ReferencePolicy | null = null;
  let optimizer: torch.optim.AdamW | null = null;
  const bar = new ProgressBar({ total: c.steps, label: `rl ${c.mode} G=${c.group}`, quiet });
  let step = 0;
  let result: LoopResult<StepStats>;
  try {
    dir.writeJson('config.json', c);
    reference = c.klCoef > 0 ? frozenReference(lm, policy.startLogitOffset) : null;
    const opt = (optimizer = new torch.optim.AdamW(lm.parameters(), { lr: c.lr, weightDecay: c.weightDecay }));
    torch.manualSeed(c.seed);
    const checkpoint = resume ? existing : null;
    if (checkpoint) {
      step = loadCheckpoint(checkpoint, { model: lm.stateDict(), optimizer, renamed: LATENT_STATE_RENAMED }).step;
      process.stderr.write(`resuming from ${checkpoint} at step ${step}\n`);
    }
    for (const f of ['metrics.jsonl', 'evals.jsonl', 'samples.jsonl']) dir.truncateJsonl(f, step);
    const schedule = torch.optim.warmupDecay({
      peakLr: c.lr,
      totalSteps: c.steps,
      warmupSteps: Math.min(c.warmupSteps, c.steps),
      decay: c.lrDecay,
      minLr: c.lrDecay === 'constant' ? 0 : c.minLr,
    });
    const questions = new SftData(opened.train, [], opened.test, () => {
      throw new Error('RL data has no latent sequences');
    });
    const ref = reference;
    let samples: RlStepResult['samples'] = () => [];
    let lr = 0;
    result = await trainingLoop<StepStats>({
      from: step,
      steps: c.steps,
      saveEvery: c.saveEvery,
      stopAfter,
      step: (at) => {
        lr = torch.optim.applyLrSchedule(opt, schedule, at);
        const r = rlStep(c, opened, ref, opt, questions.batch(at, c.questionsPerStep, c.seed));
        if (r.nonFinite) return { nonFinite: 'non-finite loss or gradient' };
        samples = r.samples;
        return { stats: r.stats };
      },
      after: (at, s) => {
        if (at % c.logEvery === 0 || at === c.steps)
          dir.append(METRICS_FILE, { step: at, time: Date.now(), ...s, lr } satisfies MetricLine);
        if (c.samplesPerStep > 0 && (at % c.sampleEvery === 0 || at === 1))
          for (const sample of samples(c.samplesPerStep)) dir.append('samples.jsonl', { step: at, ...sample });
        bar.update(at, { reward: s.reward, acc: s.accuracy, kl: s.kl, 'tok/s': s.rolloutTokensPerSec });
        if (c.evalExamples > 0 && (at % c.evalEvery === 0 || at === c.steps)) {
          const acc = rolloutAccuracy(policy, lm.tokenizer, opened.test.slice(0, c.evalExamples), {
            ...rolloutOptions(c, opened, { temperature: 0 }),
            promptIds: opened.promptIds,
            batchSize: c.rolloutBatchSize,
            answerMode: c.answerMode,
          });
          dir.append(EVALS_FILE, {
            step: at,
            split: 'test',
            accuracy: acc.accuracy,
            n: acc.n,
            spansPerAnswer: acc.spansPerAnswer,
          } satisfies EvalLine);
        }
      },
      save: (at) =>
        saveTrainingCheckpoint(dir.path('checkpoints'), at, {
          model: lm.stateDict(),
          optimizer: opt,
          config: c,
          extra: { scale: lm.heads.scale, startThreshold: lm.heads.startThreshold, startLogitOffset: policy.startLogitOffset },
        }),
      finally: (at, stopped) => bar.finish(stopped === 'completed' ? `done: ${dir.dir}` : `${stopped} at step ${at}: ${dir.dir}`),
    });
  } finally {
    optimizer?.dispose();
    reference?.dispose();
    if (!keepModel) lm.dispose();
  }
  return {
    steps: result.step,
    finalReward: result.last?.reward ?? NaN,
    stopped: result.stopped,
    out: dir.dir,
    lm: keepModel ? lm : undefined,
  };
}

interface RlStepResult {
  nonFinite: boolean;
  stats: StepStats;
  /** up to n rollouts of the step for samples.jsonl */
  samples: (n: number) => Record<string, unknown>[];
}

/** One GRPO step on `questions`: sample, grade, update. */
export function rlStep(
  c: RlConfig,
  p: RlPolicy,
  reference: ReferencePolicy | null,
  optimizer: torch.optim.AdamW,
  questions: Gsm8kExample[],
): RlStepResult {
  const G = c.group;
  const prompts = questions.flatMap((q) => Array.from({ length: G }, () => p.promptIds(q)));
  const t0 = Date.now();
  const rollouts = sampleInBatches(p.policy, prompts, rolloutOptions(c, p), c.rolloutBatchSize);
  try {
    const t1 = Date.now();
    const texts = rollouts.map((r) => rolloutText(p.lm.tokenizer, r));
    const rewards: Reward[] = rollouts.map((r, i) =>
      computeReward(texts[i], questions[Math.floor(i / G)].answerNumber, latentCount(r), c),
    );
    const values = rewards.map((r) => r.reward);
    const advantages = groupAdvantages(values, G, { scale: c.scaleRewards, epsilon: c.advantageEpsilon });
    // Without a KL term, a rollout whose advantage is 0 (its group was all right or all wrong) adds nothing.
    const trained = rollouts.map((_, i) => i).filter((i) => c.klCoef > 0 || advantages[i] !== 0);
    const update = trained.length
      ? updatePolicy(
          c,
          p,
          reference,
          optimizer,
          trained.map((i) => rollouts[i]),
          trained.map((i) => advantages[i]),
        )
      : null;
    const t2 = Date.now();
    const spans = rollouts.flatMap((r) => r.spans);
    const positions = rollouts.reduce((n, r) => n + r.ids.length, 0);
    const groups = groupStatistics(values, G);
    const stats: StepStats = {
      reward: mean(values),
      rewardStd: mean(groups.map((g) => g.std)),
      accuracy: mean(rewards.map((r) => (r.correct ? 1 : 0))),
      wellFormed: mean(rewards.map((r) => (r.wellFormed ? 1 : 0))),
      kl: update?.kl,
      clipFraction: update?.clipFraction ?? 0,
      entropy: update?.entropy,
      spansPerAnswer: spans.length / rollouts.length,
      latentsPerSpan: spans.length ? spans.reduce((n, s) => n + s.latents, 0) / spans.length : undefined,
      tokensPerAnswer: rollouts.reduce((n, r) => n + r.actions.filter((a) => a.kind === 'token').length, 0) / rollouts.length,
      loss: update?.loss ?? 0,
      gradNorm: update?.gradNorm ?? 0,
      degenerateGroups: groups.filter((g) => g.std === 0).length / groups.length,
      rolloutTokensPerSec: positions / Math.max(1e-3, (t1 - t0) / 1000),
      rolloutSeconds: (t1 - t0) / 1000,
      updateSeconds: (t2 - t1) / 1000,
    };
    // what samples() needs, taken before the rollouts' tensors are freed (it is called afterwards)
    const answers = rollouts.map((r) => ({ tokens: r.tokens, spans: r.spans }));
    return {
      nonFinite: update?.nonFinite ?? false,
      stats,
      samples: (n) =>
        sampleOrder(rollouts.length, G, n).map((i) => ({
          question: questions[Math.floor(i / G)].question,
          ...markedRolloutText(p.lm.tokenizer, answers[i]),
          reward: values[i],
          correct: rewards[i].correct,
          answer: questions[Math.floor(i / G)].answerText,
        })),
    };
  } finally {
    disposeRollouts(rollouts);
  }
}

/** The first rollout of every group, then the second of every group, …: samples spread over questions. */
function sampleOrder(total: number, group: number, n: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < group && out.length < n; k++)
    for (let g = 0; k + g * group < total && out.length < n; g++) out.push(g * group + k);
  return out;
}

function latentCount(r: Rollout): number {
  return r.spans.reduce((n, s) => n + s.latents, 0);
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

interface UpdateStats {
  loss: number;
  gradNorm: number;
  kl?: number;
  clipFraction: number;
  entropy?: number;
  nonFinite: boolean;
}

/** `updateEpochs` passes of minibatch updates on the clipped GRPO objective. */
function updatePolicy(
  c: RlConfig,
  p: RlPolicy,
  reference: ReferencePolicy | null,
  optimizer: torch.optim.AdamW,
  rollouts: Rollout[],
  advantages: number[],
): UpdateStats {
  const scoreOptions = { temperature: c.temperature, latentGrad: c.latentGrad };
  const micro = (list: number[]) =>
    Array.from({ length: Math.ceil(list.length / c.microBatchSize) }, (_, k) =>
      list.slice(k * c.microBatchSize, (k + 1) * c.microBatchSize),
    );
  const all = rollouts.map((_, i) => i);
  const refLogProbs: number[][] | null = reference
    ? torch.noGrad(() =>
        micro(all).flatMap((chunk) =>
          torch.scope(() => {
            const s = scoreRollouts(
              reference.modules,
              chunk.map((i) => rollouts[i]),
              scoreOptions,
            );
            const v = s.logProbs.to('float64').tolist() as number[];
            return chunk.map((_, k) => v.slice(s.offsets[k], s.offsets[k + 1]));
          }),
        ),
      )
    : null;
  const params = p.lm.parameters();
  const miniSize = c.miniBatchSize ?? rollouts.length;
  // per update: loss and gradient norm; per action: KL and entropy (first epoch), clipping (every epoch)
  const meanLoss = new RunningMean();
  const meanGradNorm = new RunningMean();
  const meanKl = new RunningMean();
  const clipFraction = new RunningMean();
  const meanEntropy = new RunningMean();
  for (let epoch = 0; epoch < c.updateEpochs; epoch++) {
    for (let start = 0; start < all.length; start += miniSize) {
      const mini = all.slice(start, start + miniSize);
      const weights = actionWeights(
        mini.map((i) => rollouts[i].actions.length),
        c.lossAggregation,
      );
      let miniLoss = 0;
      for (const chunk of micro(mini)) {
        torch.scope(() => {
          const batch = chunk.map((i) => rollouts[i]);
          const scores = scoreRollouts(p.policy, batch, { ...scoreOptions, entropy: epoch === 0 });
          const flat = (f: (i: number, k: number) => number[]) =>
            torch
              .tensor(
                chunk.flatMap((i) => f(i, mini.indexOf(i))),
                { dtype: 'float64' },
              )
              .to(scores.logProbs.device);
          const g = grpoLoss(
            {
              logProbs: scores.logProbs,
              oldLogProbs: flat((i) => rollouts[i].actions.map((a) => a.logProb)),
              refLogProbs: refLogProbs ? flat((i) => refLogProbs[i]) : null,
              advantages: flat((i) => rollouts[i].actions.map(() => advantages[i])),
              weights: flat((_, k) => weights[k]),
            },
            { clipEpsilon: c.clipEpsilon, clipEpsilonHigh: c.clipEpsilonHigh ?? undefined, klCoef: c.klCoef },
          );
          g.loss.backward();
          miniLoss += g.loss.item();
          clipFraction.add(g.clipped, g.count);
          if (epoch === 0) {
            meanKl.add(g.klSum, g.count);
            meanEntropy.add(scores.entropySum, scores.entropyCount);
          }
        });
      }
      const gradNorm = torch.optim.clipGradNorm_(params, c.gradClip);
      if (!Number.isFinite(miniLoss) || !Number.isFinite(gradNorm)) {
        optimizer.zeroGrad({ setToNone: true });
        return { loss: miniLoss, gradNorm, clipFraction: 0, nonFinite: true };
      }
      optimizer.step();
      optimizer.zeroGrad({ setToNone: true });
      meanLoss.add(miniLoss);
      meanGradNorm.add(gradNorm);
    }
  }
  return {
    loss: meanLoss.mean(),
    gradNorm: meanGradNorm.mean(),
    kl: reference ? meanKl.mean(0) : undefined,
    clipFraction: clipFraction.mean(0),
    entropy: meanEntropy.count ? meanEntropy.mean() : undefined,
    nonFinite: false,
  };
}

export interface RlRun {
  config: RlConfig;
  opened: RlPolicy;
  step: number;
}

/** The policy of an RL run directory at its latest checkpoint (for eval and inspection). */
export async function loadRlRun(runDir: string): Promise<RlRun> {
  const dir = RunDir.open(runDir, { kind: 'rl' });
  const saved = dir.readJson<RlConfig>(RUN_CONFIG_FILE)!;
  const config = resolveRlConfig({ ...saved, out: dir.dir });
  const opened = await openRlPolicy(config);
  const checkpoint = latestCheckpoint(dir.path('checkpoints'));
  let step = 0;
  if (checkpoint)
    step = loadCheckpoint(checkpoint, { model: opened.lm.stateDict(), restoreRng: false, renamed: LATENT_STATE_RENAMED }).step;
  else process.stderr.write(`${runDir}: no RL checkpoint yet; using the phase-1 policy\n`);
  return { config, opened, step };
}
