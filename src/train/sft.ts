// Phase 1: supervised latent training on GSM8K-format data — a loop you can read in one sitting.
//
// Each step takes the next batch of a seeded per-epoch shuffle (so the data order is a function of
// the step, and a resumed run continues exactly), runs the latent forward, and optimises
//   loss = LM loss on solution tokens + λ_start · start-classifier BCE + λ_stop · end-classifier BCE.
import * as fs from 'fs';
import * as path from 'path';
import * as torch from '../torch';
import { loadGsm8k, formatPrompt, type Gsm8kExample } from '../data/gsm8k';
import { trainValidationSplit } from '../data/split';
import { seededShuffle } from '../data/random';
import { fromPretrained } from '../models/qwen2/loading';
import { LATENT_STATE_RENAMED, LatentModel, type LatentMode } from '../latent/model';
import { LATENT_INPUT_KINDS, type LatentInputKind, type LatentInputSpec } from '../latent/latent-input';
import { COUPLINGS, checkCoupling, type Coupling } from '../latent/coupling';
import {
  buildLatentSequence,
  namedLatentSchedule,
  LATENT_SCHEDULE_KINDS,
  type LatentScheduleKind,
  type LatentSequence,
} from '../latent/sequence';
import { fitStartClassifier } from '../latent/start-fit';
import type { LatentForwardResult } from '../latent/forward';
import { evaluateLoss } from '../latent/evaluate';
import { checkConfig, type ConfigSpec } from './config-check';
import { ProgressBar } from './progress';
import { RUN_CONFIG_FILE, RunDir, RunDirError } from './run-dir';
import { trainingLoop, type LoopResult, type StepOutcome } from './loop';
import { EVALS_FILE, METRICS_FILE, type EvalLine, type EvalSplit, type MetricLine, type SftStepMetrics } from './run-files';
import { CheckpointError, loadCheckpoint, saveTrainingCheckpoint, latestCheckpoint } from './checkpoint';
import * as dist from '../distributed';
import { SFT_DEFAULTS } from './sft-defaults';

export interface SftConfig {
  kind: 'sft';
  /** Hugging Face model directory or hub id */
  model: string;
  /** directory with train.jsonl and test.jsonl (GSM8K format) */
  data: string;
  mode: LatentMode;
  /** latent positions per breakpoint (0: the no-latent baseline) */
  latents: number;
  /** with latents 0: keep `<bot><eot>` at every breakpoint (the markers-only control) */
  markersAtZero: boolean;
  /**
   * How a hidden state becomes the next latent's input (latent-input.ts): 'affine' (default), or a
   * control: 'pause' (pause-as-thought), 'planted-result' (the planted positive), 'zeros' (the planted null).
   */
  latentInput: LatentInputKind;
  steps: number;
  batchSize: number;
  lr: number;
  minLr: number;
  /** the effective linear warm-up (resolveSftConfig: a given value clamped to `steps`, else `warmupRatio · steps`) */
  warmupSteps: number;
  /** the warm-up as a fraction of `steps`, used when warmupSteps is not given */
  warmupRatio: number;
  weightDecay: number;
  gradClip: number;
  startLossWeight: number;
  stopLossWeight: number;
  validationSize: number;
  maxTrainExamples: number | null;
  evalEvery: number;
  evalExamples: number;
  saveEvery: number;
  logEvery: number;
  maxLatents: number;
  markerInitToken: string;
  device: string;
  dtype: torch.DType | null;
  /** two-trunk: dtype of the frozen language copy (null: bfloat16 on CUDA, the model's dtype elsewhere) */
  frozenDtype: torch.DType | null;
  /** soft and gated latent inputs: temperature of the token distribution */
  latentTemperature: number;
  /** two-trunk: how the frozen copy sees latent positions (latent/coupling.ts) */
  coupling: Coupling;
  /** `<bot>`/`<eot>` embeddings fixed at their initial rows */
  freezeMarkers: boolean;
  /** latents per breakpoint: `latents` everywhere (fixed), or by the result's digits or the expression's operators, at most `latents` */
  latentSchedule: LatentScheduleKind;
  /** peak learning rate of the start and end classifiers (a parameter group of their own, on the same schedule); null: lr */
  headLr: number | null;
  /** after training, refit the start classifier on frozen features of this many training examples (Newton, float64); 0: no fit */
  startFitExamples: number;
  seed: number;
  out: string;
}

export { SFT_DEFAULTS, SFT_WARMUP_RATIO } from './sft-defaults';

/** Latent positions per span above this are refused (each costs a forward pass of the trunk). */
export const MAX_LATENTS_PER_SPAN = 256;

const count = (min: number) => ({ kind: 'integer', min }) as const;

/** The rule for every field of an SFT config (config.json of a phase-1 run). */
export const SFT_CONFIG_SPEC: ConfigSpec<SftConfig> = {
  kind: { kind: 'string', oneOf: ['sft'] },
  model: { kind: 'string' },
  data: { kind: 'string' },
  out: { kind: 'string' },
  mode: { kind: 'string', oneOf: ['full', 'two-trunk'] },
  latents: { kind: 'integer', min: 0, max: MAX_LATENTS_PER_SPAN },
  markersAtZero: { kind: 'boolean' },
  latentInput: { kind: 'string', oneOf: LATENT_INPUT_KINDS },
  steps: count(1),
  batchSize: count(1),
  lr: { kind: 'number', min: 0, exclusiveMin: true },
  minLr: { kind: 'number', min: 0 },
  warmupSteps: count(0),
  warmupRatio: { kind: 'number', min: 0, max: 1 },
  weightDecay: { kind: 'number', min: 0 },
  gradClip: { kind: 'number', min: 0, exclusiveMin: true },
  startLossWeight: { kind: 'number', min: 0 },
  stopLossWeight: { kind: 'number', min: 0 },
  validationSize: count(0),
  maxTrainExamples: { kind: 'integer', min: 1, nullable: true },
  evalEvery: count(1),
  evalExamples: count(0),
  saveEvery: count(1),
  logEvery: count(1),
  maxLatents: { kind: 'integer', min: 1, max: MAX_LATENTS_PER_SPAN },
  markerInitToken: { kind: 'string' },
  device: { kind: 'string' },
  dtype: { kind: 'string', oneOf: ['float32', 'bfloat16', 'float64', 'float16'], nullable: true },
  frozenDtype: { kind: 'string', oneOf: ['float32', 'bfloat16', 'float16'], nullable: true },
  latentTemperature: { kind: 'number', min: 0, exclusiveMin: true, max: 100 },
  coupling: { kind: 'string', oneOf: COUPLINGS },
  freezeMarkers: { kind: 'boolean' },
  latentSchedule: { kind: 'string', oneOf: LATENT_SCHEDULE_KINDS },
  headLr: { kind: 'number', min: 0, exclusiveMin: true, max: 10, nullable: true },
  startFitExamples: { kind: 'integer', min: 0, max: 100000 },
  seed: { kind: 'integer', min: 0, max: 2 ** 31 - 1 },
};

/** Defaults filled in and every field checked (SFT_CONFIG_SPEC); errors name the field. */
export function resolveSftConfig(partial: Partial<SftConfig> & Pick<SftConfig, 'model' | 'data' | 'out'>): SftConfig {
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<SftConfig>;
  const c = checkConfig({ ...SFT_DEFAULTS, ...given, warmupSteps: given.warmupSteps ?? 0 } as SftConfig, SFT_CONFIG_SPEC);
  if (c.markersAtZero && c.latents !== 0)
    throw new RangeError(`markersAtZero is the k = 0 control; it needs latents 0, got ${c.latents}`);
  checkCoupling(c.coupling, c.mode === 'two-trunk');
  if (c.minLr > c.lr) throw new RangeError(`minLr must not exceed lr (${c.lr}), got ${c.minLr}`);
  c.warmupSteps = effectiveWarmup(given.warmupSteps, c.warmupRatio, c.steps);
  return c;
}

/**
 * The warm-up a run uses: never more than its steps, so no warm-up setting can break a short run.
 * A given step count is clamped to `steps`; otherwise it is `ratio · steps`, rounded (HF's warmup_ratio).
 */
export function effectiveWarmup(warmupSteps: number | undefined, ratio: number, steps: number): number {
  if (warmupSteps !== undefined) {
    if (!Number.isInteger(warmupSteps) || warmupSteps < 0)
      throw new RangeError(`warmupSteps must be a non-negative integer, got ${warmupSteps}`);
    return Math.min(warmupSteps, steps);
  }
  if (!(ratio >= 0 && ratio <= 1)) throw new RangeError(`warmupRatio must lie in [0, 1], got ${ratio}`);
  return Math.min(steps, Math.round(ratio * steps));
}

/** The data of a run: train/validation/test examples and their tokenized latent sequences. */
export class SftData {
  private readonly cache = new Map<Gsm8kExample, LatentSequence>();
  constructor(
    readonly train: Gsm8kExample[],
    readonly validation: Gsm8kExample[],
    readonly test: Gsm8kExample[],
    private readonly build: (e: Gsm8kExample) => LatentSequence,
  ) {}
  sequence(e: Gsm8kExample): LatentSequence {
    let s = this.cache.get(e);
    if (!s) this.cache.set(e, (s = this.build(e)));
    return s;
  }
  /** Batch `step` of the seeded per-epoch shuffle: a pure function of (seed, step). */
  batch(step: number, batchSize: number, seed: number): Gsm8kExample[] {
    const n = this.train.length;
    const out: Gsm8kExample[] = [];
    for (let i = 0; i < batchSize; i++) {
      const g = step * batchSize + i;
      const epoch = Math.floor(g / n);
      out.push(this.order(epoch, seed)[g % n]);
    }
    return out;
  }
  private orders = new Map<number, Gsm8kExample[]>();
  private order(epoch: number, seed: number): Gsm8kExample[] {
    let o = this.orders.get(epoch);
    if (!o) {
      if (this.orders.size > 2) this.orders.clear();
      this.orders.set(epoch, (o = seededShuffle(this.train, seed * 1000003 + epoch)));
    }
    return o;
  }
}

export function loadSftData(c: SftConfig, lm: LatentModel): SftData {
  const report = (split: 'train' | 'test') => {
    const r = loadGsm8k(c.data, { split });
    if (r.report.malformed.length)
      process.stderr.write(`${split}: skipped ${r.report.malformed.length} malformed records of ${r.report.total}\n`);
    return r.examples;
  };
  const all = report('train');
  const { train, validation } = trainValidationSplit(all, {
    validationSize: Math.min(c.validationSize, Math.floor(all.length / 5)),
    seed: c.seed,
  });
  const trainSet = c.maxTrainExamples ? train.slice(0, c.maxTrainExamples) : train;
  const eos = lm.tokenizer.eosTokenId ?? lm.model.config.eosTokenIds[0];
  const data = new SftData(trainSet, validation, report('test'), (e) =>
    buildLatentSequence(e, lm.tokenizer, {
      latents: namedLatentSchedule(c.latentSchedule ?? 'fixed', c.latents),
      botId: lm.botId,
      eotId: lm.eotId,
      markersAtZero: c.markersAtZero,
      eosId: eos,
    }),
  );
  checkSequenceLengths(data, c, lm.model.config.maxPositionEmbeddings);
  return data;
}

/**
 * Every sequence (tokens, markers and latents) must fit the model's positions: checked for all
 * examples up front, so a run fails before its first forward instead of mid-way (or, with a huge
 * --latents, on an allocation the machine cannot make).
 */
function checkSequenceLengths(data: SftData, c: SftConfig, maxPositions: number): void {
  let longest = { length: 0, question: '' };
  for (const e of [...data.train, ...data.validation, ...data.test]) {
    const length = data.sequence(e).ids.length;
    if (length > longest.length) longest = { length, question: e.question };
  }
  if (longest.length > maxPositions) {
    const shown = longest.question.length > 60 ? `${longest.question.slice(0, 60)}…` : longest.question;
    throw new RangeError(
      `${c.data}: the longest example is ${longest.length} positions with ${c.latents} latent(s) per span, more than the model's max_position_embeddings (${maxPositions}); use fewer latents or shorter examples ("${shown}")`,
    );
  }
}

export interface SftRun {
  config: SftConfig;
  lm: LatentModel;
  data: SftData;
  step: number;
}

/** Loads the model and data of a run; with resume, finds its latest checkpoint (loaded by the caller). */
export async function openSftRun(
  c: SftConfig,
  { resume = false, quiet = false } = {},
): Promise<SftRun & { checkpoint: string | null; dir: RunDir }> {
  const dir = new RunDir(c.out);
  torch.manualSeed(c.seed); // before anything draws: heads' init (a resumed run then restores the saved generator)
  let loading: ProgressBar | undefined;
  const pre = await fromPretrained(c.model, {
    dtype: c.dtype ?? undefined,
    device: c.device,
    onProgress: (done, total) => (loading ??= new ProgressBar({ total, label: `load ${c.model}`, quiet })).update(done),
  });
  loading?.finish();
  if (!pre.tokenizer) throw new Error(`${c.model}: no tokenizer.json; latent training needs the model's tokenizer`);
  const data0 = loadGsm8k(c.data, { split: 'train' }).examples.slice(0, 16);
  const frozenDtype = c.frozenDtype ?? (c.device.startsWith('cuda') ? 'bfloat16' : null);
  // configs written before latentInput existed used the affine form
  const lm = LatentModel.create(pre.model, pre.tokenizer, {
    mode: c.mode,
    markerInitToken: c.markerInitToken,
    scaleSample: data0.map((e) => formatPrompt(e.question)),
    frozenDtype,
    latentInput: latentInputSpec(c),
    coupling: c.coupling ?? 'shared-kv',
    freezeMarkers: c.freezeMarkers ?? false,
  });
  const data = loadSftData(c, lm);
  const checkpoint = resume ? latestCheckpoint(dir.path('checkpoints')) : null;
  return { config: c, lm, data, step: 0, checkpoint, dir };
}

/**
 * The latent input form of a run's config (configs written before the option existed: affine).
 * Pause gets one learned vector per latent index up to the larger of k and the inference cap.
 */
export function latentInputSpec(
  c: Pick<SftConfig, 'latentInput' | 'latentTemperature' | 'latents' | 'maxLatents'>,
): LatentInputSpec {
  const kind = c.latentInput ?? 'affine';
  if (kind === 'soft' || kind === 'gated') return { kind, temperature: c.latentTemperature ?? 1 };
  if (kind === 'pause') return { kind, slots: Math.max(1, c.latents, c.maxLatents) };
  return { kind };
}

/** Restores model (and optimizer) state from a run checkpoint; returns its step. */
export function restoreSftCheckpoint(lm: LatentModel, checkpoint: string, optimizer?: torch.optim.AdamW): number {
  let loaded: ReturnType<typeof loadCheckpoint>;
  try {
    loaded = loadCheckpoint(checkpoint, { model: lm.stateDict(), optimizer, renamed: LATENT_STATE_RENAMED });
  } catch (e) {
    // heads.gain without heads.input.gain: saved with the affine form before the input forms existed
    if (e instanceof Error && /not in the model: [^;]*heads\.gain/.test(e.message) && lm.heads.input.kind !== 'affine')
      throw new CheckpointError(
        checkpoint,
        `the checkpoint holds the affine latent input of the time before input forms (heads.gain), but the run's config.json asks for latentInput ${JSON.stringify(lm.heads.input.kind)}; set "latentInput": "affine" there (or remove the field)`,
        { cause: e },
      );
    throw e;
  }
  const extra = loaded.extra as { scale?: number; startThreshold?: number } | null;
  if (typeof extra?.scale === 'number') lm.heads.scale = extra.scale;
  if (typeof extra?.startThreshold === 'number') lm.heads.startThreshold = extra.startThreshold;
  return loaded.step;
}

export interface SftSummary {
  steps: number;
  finalLoss: number;
  validation: ReturnType<typeof evaluateLoss> | null;
  stopped: 'completed' | 'interrupted' | 'non-finite';
  out: string;
  /** the trained model, with `keepModel` (else it is disposed) */
  lm?: LatentModel;
}

export interface TrainOptions {
  resume?: boolean;
  quiet?: boolean;
  /** stop (with a checkpoint, as on Ctrl-C) once this step is reached — time-boxed runs and tests */
  stopAfter?: number;
  keepModel?: boolean;
}

export async function trainSft(
  config: SftConfig,
  { resume = false, quiet = false, stopAfter, keepModel = false }: TrainOptions = {},
): Promise<SftSummary> {
  const world = dist.initFromEnv({ device: config.device }); // 1 unless started by `latent launch` (or torchrun)
  // The run directory before anything is loaded: a wrong --out is refused with nothing written.
  if (dist.isMain()) prepareRunDir(config, resume);
  const run = await openSftRun(world > 1 ? { ...config, device: dist.localDevice(config.device) } : config, {
    resume,
    quiet: quiet || !dist.isMain(),
  });
  const { lm, data, dir } = run;
  const c = config;
  if (dist.isMain()) dir.writeJson('config.json', c);
  const optimizer = new torch.optim.AdamW(paramGroups(lm, c.weightDecay, c.headLr == null ? null : c.headLr / c.lr), {
    lr: c.lr,
    weightDecay: c.weightDecay,
  });
  if (run.checkpoint) {
    run.step = restoreSftCheckpoint(lm, run.checkpoint, optimizer);
    process.stderr.write(`resuming from ${run.checkpoint} at step ${run.step}\n`);
  }
  if (world > 1) dist.broadcastParameters(lm.parameters()); // every rank starts from rank 0's weights
  const schedule = torch.optim.warmupCosine({ peakLr: c.lr, totalSteps: c.steps, warmupSteps: c.warmupSteps, minLr: c.minLr });
  if (resume && dist.isMain()) {
    dir.truncateJsonl('metrics.jsonl', run.step);
    dir.truncateJsonl('evals.jsonl', run.step);
  }
  // Periodic evaluations: validation (held out from the train file) and test, for train-vs-test curves.
  const evalSets = {
    validation: data.validation.slice(0, c.evalExamples).map((e) => data.sequence(e)),
    test: data.test.slice(0, c.evalExamples).map((e) => data.sequence(e)),
  };
  const bar = new ProgressBar({ total: c.steps, label: `sft ${c.mode} k=${c.latents}`, quiet: quiet || !dist.isMain() });
  // with several ranks: this rank's shard, its losses made the global batch's (values and gradients)
  const forward =
    world > 1
      ? (seqs: LatentSequence[]) => dist.globalLatentLosses(lm.forward(dist.shardBatch(seqs)))
      : (seqs: LatentSequence[]) => lm.forward(seqs);
  const afterBackward = world > 1 ? () => dist.allReduceGradients(lm.parameters()) : undefined;
  let validation: SftSummary['validation'] = null;
  let result: LoopResult<SftStepStats & { tokensPerSec: number }>;
  try {
    lm.train(true);
    result = await trainingLoop({
      from: run.step,
      steps: c.steps,
      saveEvery: c.saveEvery,
      stopAfter,
      anyRank: (requested) => dist.anyRank(requested),
      step: (step) => {
        const t0 = Date.now();
        const lr = torch.optim.applyLrSchedule(optimizer, schedule, step);
        const seqs = data.batch(step, c.batchSize, c.seed).map((e) => data.sequence(e));
        const outcome = sftStep({ forward, parameters: lm.parameters(), optimizer, weights: c, afterBackward }, seqs);
        if ('nonFinite' in outcome) return outcome;
        return { stats: { ...outcome.stats, lr, tokensPerSec: outcome.stats.tokens / Math.max(1e-3, (Date.now() - t0) / 1000) } };
      },
      after: (step, stats) => {
        if (step % c.logEvery === 0 || step === c.steps) {
          const { tokens, ...rest } = stats;
          void tokens;
          if (dist.isMain()) dir.append(METRICS_FILE, { step, time: Date.now(), ...rest } satisfies MetricLine);
        }
        bar.update(step, { loss: stats.loss, next: stats.nextStepLoss ?? undefined, 'tok/s': stats.tokensPerSec });
        if (step === c.steps && (c.startFitExamples ?? 0) > 0) {
          // features are final: fit the start classifier to their optimum before the threshold is calibrated
          lm.train(false);
          const fit = fitStartClassifier(
            lm,
            data.train.slice(0, c.startFitExamples).map((e) => data.sequence(e)),
            { batchSize: c.batchSize },
          );
          if (dist.isMain()) dir.writeJson('start-fit.json', { step, ...fit });
          lm.train(true);
        }
        if (step % c.evalEvery === 0 || step === c.steps) {
          lm.train(false);
          for (const [split, seqs] of Object.entries(evalSets)) {
            if (!seqs.length) continue;
            const evaluating = new ProgressBar({
              total: seqs.length,
              label: `eval ${split} @${step}`,
              quiet: quiet || !dist.isMain(),
            });
            const e = evaluateLoss(lm, seqs, { batchSize: c.batchSize, onProgress: (done) => evaluating.update(done) });
            evaluating.finish();
            const { perExample, start, startThreshold, startAtThreshold, stop, ...summary } = e;
            void perExample;
            void startAtThreshold;
            const line = {
              step,
              split: split as EvalSplit,
              ...summary,
              stopDecisionAccuracy: stop.decisionAccuracy,
              stopLengthAccuracy: stop.lengthAccuracy,
              startPrecision: start.precision,
              startRecall: start.recall,
              startF1: start.f1,
              startThreshold: startThreshold.threshold,
              startF1Calibrated: startThreshold.f1,
            } satisfies EvalLine;
            if (dist.isMain()) dir.append(EVALS_FILE, line);
            // the start threshold is calibrated on validation data only
            if (split === 'validation') {
              validation = e;
              lm.heads.startThreshold = startThreshold.threshold;
            }
          }
          lm.train(true);
        }
      },
      save: (step) => {
        if (!dist.isMain()) return;
        const phases = ['model', 'optimizer', 'written', 'retired', 'committed', 'cleaned'];
        const saving = new ProgressBar({ total: phases.length, label: `save checkpoint ${step}`, quiet });
        saving.update(0, { phase: 'writing the model' });
        saveTrainingCheckpoint(
          dir.path('checkpoints'),
          step,
          {
            model: lm.stateDict(),
            optimizer,
            config: c,
            extra: { scale: lm.heads.scale, startThreshold: lm.heads.startThreshold },
          },
          {
            onPhase: (phase) => saving.update(phases.indexOf(phase) + 1, { phase }),
          },
        );
        saving.finish();
      },
      finally: (step, stopped) =>
        bar.finish(stopped === 'completed' ? `done: ${dir.dir}` : `${stopped} at step ${step}: ${dir.dir}`),
    });
  } finally {
    optimizer.dispose();
    if (!keepModel) lm.dispose();
    if (world > 1) dist.destroyProcessGroup();
  }
  return {
    steps: result.step,
    finalLoss: result.last?.loss ?? NaN,
    validation,
    stopped: result.stopped,
    out: dir.dir,
    lm: keepModel ? lm : undefined,
  };
}

/** What one step measures: the logged metrics (run-files.ts) less the throughput, and the batch's positions. */
export type SftStepStats = Omit<SftStepMetrics, 'tokensPerSec'> & { tokens: number };

export interface SftStepParts {
  /** the latent forward of the model being trained (LatentModel.forward, or latentForward with its modules) */
  forward: (seqs: LatentSequence[]) => LatentForwardResult;
  /** the trained parameters (clipped together) */
  parameters: torch.Tensor[];
  optimizer: Pick<torch.optim.Optimizer<never>, 'step' | 'zeroGrad'>;
  weights: Pick<SftConfig, 'startLossWeight' | 'stopLossWeight' | 'gradClip'>;
  /** runs between backward and clipping (data parallel: the gradient all-reduce) */
  afterBackward?: () => void;
}

/**
 * One phase-1 step on `seqs`: the latent forward, (loss + λ_start·start + λ_stop·stop).backward(),
 * gradient clipping, then the optimizer step, or no step when the loss or the gradient norm is not
 * finite (the gradients are dropped). The learning rate is the caller's (its schedule).
 */
export function sftStep(p: SftStepParts, seqs: LatentSequence[]): StepOutcome<SftStepStats> {
  const w = p.weights;
  const stats = torch.scope(() => {
    const r = p.forward(seqs);
    const total = r.loss.add(r.startLoss.mul(w.startLossWeight)).add(r.stopLoss.mul(w.stopLossWeight));
    total.backward();
    p.afterBackward?.();
    const gradNorm = torch.optim.clipGradNorm_(p.parameters, w.gradClip);
    return {
      loss: r.loss.item(),
      nextStepLoss: r.nextStepCount ? r.nextStepSum / r.nextStepCount : null,
      resultLoss: r.resultCount ? r.resultSum / r.resultCount : null,
      startLoss: r.startLoss.item(),
      stopLoss: r.stopLoss.item(),
      gradNorm,
      latentNorm: r.latentNorm,
      tokenNorm: r.tokenNorm,
      tokens: seqs.reduce((n, s) => n + s.ids.length, 0),
    };
  });
  if (!Number.isFinite(stats.loss) || !Number.isFinite(stats.gradNorm)) {
    p.optimizer.zeroGrad({ setToNone: true });
    return { nonFinite: `non-finite loss or gradient (loss ${stats.loss}, grad norm ${stats.gradNorm})` };
  }
  p.optimizer.step();
  p.optimizer.zeroGrad({ setToNone: true });
  return { stats };
}

/**
 * Weight decay on matrices only; norms, biases, markers and classifier biases decay-free (common practice).
 * With `headLrScale`, the start and end classifiers are a third group at that multiple of the schedule's
 * rate: probes on the model's features need far more than a language model's fine-tuning rate.
 */
export function paramGroups(lm: LatentModel, weightDecay: number, headLrScale: number | null = null) {
  const h = lm.heads;
  return sftParamGroups(
    lm.parameters(),
    weightDecay,
    headLrScale === null ? [] : [h.startWeight, h.startBias, h.stopWeight, h.stopBias],
    headLrScale,
  );
}

/** The groups of paramGroups over a plain parameter list (`heads`: the classifier parameters, when scaled). */
export function sftParamGroups(
  parameters: readonly torch.Tensor[],
  weightDecay: number,
  heads: readonly torch.Tensor[] = [],
  headLrScale: number | null = null,
) {
  const scaled = new Set(headLrScale === null ? [] : heads);
  const decay: torch.Tensor[] = [];
  const noDecay: torch.Tensor[] = [];
  for (const p of parameters) if (!scaled.has(p)) (p.dim() >= 2 ? decay : noDecay).push(p);
  const groups: { params: torch.Tensor[]; weightDecay: number; lrScale?: number }[] = [
    { params: decay, weightDecay },
    { params: noDecay, weightDecay: 0 },
  ];
  if (headLrScale !== null) groups.push({ params: [...scaled], weightDecay: 0, lrScale: headLrScale });
  return groups;
}

/** Fields a resumed run must keep: they define what the saved weights are. */
const RUN_IDENTITY = [
  'model',
  'mode',
  'latents',
  'markersAtZero',
  'latentInput',
  'coupling',
  'markerInitToken',
  'latentSchedule',
] as const;

/** A new run's directory is created (refused when not empty); a resumed one must be an sft run with the same identity. */
function prepareRunDir(c: SftConfig, resume: boolean): void {
  if (!resume) {
    RunDir.create(c.out);
    return;
  }
  const dir = RunDir.open(c.out, { kind: 'sft' });
  const saved = dir.readJson<SftConfig>(RUN_CONFIG_FILE)!;
  for (const k of RUN_IDENTITY) {
    if (saved[k] !== undefined && saved[k] !== c[k])
      throw new RunDirError(
        dir.path(RUN_CONFIG_FILE),
        `the run was trained with ${k} ${JSON.stringify(saved[k])}; it cannot be resumed with ${k} ${JSON.stringify(c[k])} (start a new run instead)`,
      );
  }
}

export function runDirExists(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'config.json'));
}

/** The model of a run directory at its latest checkpoint, with the run's data (for eval, inspection, generation). */
export async function loadSftRun(
  runDir: string,
  { quiet = false }: { quiet?: boolean } = {},
): Promise<SftRun & { checkpoint: string | null }> {
  const dir = RunDir.open(runDir, { kind: 'sft' });
  const saved = dir.readJson<SftConfig>(RUN_CONFIG_FILE)!;
  const config = { ...saved, out: dir.dir };
  const run = await openSftRun(config, { resume: true, quiet });
  if (run.checkpoint) run.step = restoreSftCheckpoint(run.lm, run.checkpoint);
  else process.stderr.write(`${runDir}: no checkpoint yet; using the initial model\n`);
  return run;
}
