// `latent demo`: the whole study on an embedded task, end to end, with nothing to download.
//
//   data      the synthetic arithmetic task in GSM8K format (src/data/arith-task.ts)
//   model     a tokenizer for it (Qwen's, restricted, or a BPE trained here) and a small random Qwen2
//   phase 0   the plain language model (k = 0) trained on the task until it writes solutions
//   export    that run's model as a Hugging Face directory, checked by generating answers
//   phase 1   the study, one budget for every run: the k = 0 baseline (the matched no-span
//             reference), pause-as-thought, full fine-tuning and two-trunk with k latents, the
//             planted positive and null (the instrument's calibration) and, in the default demo,
//             markers only, a k sweep, a second task and several seeds; each followed by
//             `latent eval` (the helps and used endpoints, the verdict, ablations, accuracy)
//   phase 2   a short GRPO run from the full-mode model, when src/rl is part of the build
//   report    one HTML report over all runs (src/report)
import * as fs from 'fs';
import * as path from 'path';
import * as torch from '../torch';
import { ARITH_PRESETS, writeArithTask, type ArithPresetName, type CalculationOverlap } from '../data/arith-task';
import { formatTrainingText, loadGsm8k } from '../data/gsm8k';
import type { LatentMode } from '../latent/model';
import type { LatentInputKind } from '../latent/latent-input';
import {
  acrossSeeds,
  calibrate,
  endpointCells,
  endpointLegend,
  endpointText,
  ENDPOINT_HEADERS,
  type Calibration,
  type Endpoint,
  type StudyVerdict,
} from '../latent/study';
import { makeModel } from '../models/qwen2/make-model';
import { ShardedSafetensors } from '../torch/io/safetensors-sharded';
import { writeReport } from '../report/run';
import { ProgressBar } from '../train/progress';
import { writeTextAtomic } from '../util/atomic-write';
import { textTable } from '../util/text-table';
import { resolveSftConfig, trainSft, type SftConfig, type SftSummary } from '../train/sft';
import { formatComparison, parseVariants, runComparison, type CompareBudget, type CompareRow } from '../train/compare';
import { writeComparisonReport } from '../report/compare';
import { evaluateSftRun, type SftDiagnostics, type StudyEndpoints } from '../train/sft-eval';
import { exportRunModel, type PretrainCheck } from './export';
import { loadPhase2, type Phase2Availability } from './phase2';
import {
  DEMO_PRESETS,
  withStudyOptions,
  type DemoPreset,
  type DemoSize,
  type DemoStageKind,
  type DemoTrainingBudget,
} from './presets';
import { StageTracker, type PlannedStage, type StageTiming } from './stages';
import { demoTokenizer, type TokenizerChoice } from './tokenizer';

export interface DemoOptions {
  /** output directory (created; a previous demo there is replaced, anything else is refused) */
  out: string;
  size?: DemoSize;
  /** replaces the size's preset (tests, experiments) */
  preset?: DemoPreset;
  /** the study's main task, phase-1 seeds, k sweep, and whether to add the second task (default: the preset's) */
  task?: ArithPresetName;
  seeds?: number[];
  sweep?: number[];
  chained?: boolean;
  device?: string;
  seed?: number;
  /** intra-op CPU threads (default 1: small matrices gain nothing from more, and a busy machine loses a lot) */
  threads?: number;
  tokenizer?: TokenizerChoice;
  /** run phase 2 when src/rl is available (default true) */
  phase2?: boolean;
  /** the comparison of latent interfaces (DEMO_COMPARISON; default: on in the default demo, off in --quick) */
  compare?: boolean;
  /** hide the progress bars of the stages (the stage lines still go to `log`) */
  quiet?: boolean;
  /** receives the stage lines and notes (default: standard error) */
  log?: (line: string) => void;
}

export type DemoRunKind = 'latent' | 'baseline' | 'pause' | 'markers' | 'planted-positive' | 'planted-null';

export interface DemoRunSummary {
  name: string;
  kind: DemoRunKind;
  /** the arithmetic task the run trained on (ARITH_PRESETS) */
  task: string;
  dir: string;
  mode: LatentMode;
  k: number;
  seed: number;
  latentInput: LatentInputKind;
  steps: number;
  finalTrainLoss: number;
  finalValidationLoss: number | null;
  /** the study's verdict (null for the k = 0 baseline: it is the reference) */
  verdict: StudyVerdict | null;
  reasons: string[];
  /** reference − run on result tokens (positive: the latents help), with its reference */
  helps: (Endpoint & { reference: string }) | null;
  /** shuffled − trained on result tokens (positive: the content is used) */
  used: Endpoint | null;
  /** the other endpoints: step after each span, mean and constant ablations, zeros, span removed, content beyond compute */
  endpoints: StudyEndpoints | null;
  test: { loss: number; resultLoss: number; stepLoss: number; postSpanLoss: number };
  accuracy: SftDiagnostics['accuracy'];
  accuracyNote?: string;
  ablations: { name: string; delta: number; ci: [number, number]; resultDelta: number; resultCi: [number, number] }[];
  recurring: { token: string; count: number }[];
  spanLengths: Record<string, number>;
  norms: { latent: number; token: number };
}

/** One number across the seeds of a run (the same name without its seed). */
export interface AcrossSeeds {
  name: string;
  kind: DemoRunKind;
  seeds: number[];
  helps: ReturnType<typeof acrossSeeds> | null;
  used: ReturnType<typeof acrossSeeds> | null;
  accuracy: ReturnType<typeof acrossSeeds> | null;
  oracleAccuracy: ReturnType<typeof acrossSeeds> | null;
  verdicts: (StudyVerdict | null)[];
}

export interface DemoPhase2Summary {
  dir: string | null;
  skipped: string | null;
  steps?: number;
  finalReward?: number;
  accuracy?: { withLatents: number; withoutLatents: number; n: number };
}

export interface DemoResult {
  out: string;
  size: DemoSize;
  reportPath: string;
  seconds: number;
  /** CPU seconds (user + system) of the whole demo */
  cpuSeconds: number;
  tokenizer: { kind: string; source: string; vocabSize: number };
  model: { parameters: number; layers: number; hidden: number; vocab: number };
  data: { train: number; test: number };
  pretrain: { dir: string; steps: number; finalTrainLoss: number; finalValidationLoss: number | null; check: PretrainCheck };
  /** per task: its description, sizes, phase 0, and the measured overlap of test calculations with training */
  tasks: {
    name: string;
    description: string;
    train: number;
    test: number;
    holdOut: number;
    overlap: CalculationOverlap;
    pretrain: { steps: number; testLoss: number; accuracy: number; n: number };
  }[];
  runs: DemoRunSummary[];
  /** whether the planted positive came out `helps` and the planted null `ignored` (every seed) */
  calibration: Calibration & { seeds: { seed: number; passed: boolean }[] };
  /** per run name without its seed: mean and between-seed spread */
  acrossSeeds: AcrossSeeds[];
  /** full fine-tuning by k (k = 0: the baseline): mean helps and accuracy across seeds */
  doseResponse: {
    task: string;
    k: number;
    helps: number | null;
    used: number | null;
    resultLoss: number;
    accuracy: number | null;
  }[];
  phase2: DemoPhase2Summary;
  /** `latent compare` of DEMO_COMPARISON under the phase-1 budget (null when off) */
  comparison: { dir: string; reportPath: string; table: string; rows: CompareRow[] } | null;
  timings: StageTiming[];
}

/** The demo's comparison of latent interfaces: two-trunk input forms (raw, affine, gated) and couplings (shared-kv, reencode). */
export const DEMO_COMPARISON = 'two-trunk:raw:k2,two-trunk:affine:k2,two-trunk:gated:k2,two-trunk:affine:reencode:k2';

/** Thrown when the user interrupts a training stage (Ctrl-C); its run keeps a checkpoint. */
export class DemoInterrupted extends Error {
  override name = 'DemoInterrupted';
}

/** What `demo.json` records: marks a directory as the demo's, so a rerun may replace it. */
const MARKER = 'demo.json';
const OWNED = [
  'data',
  'data-chained',
  'tokenizer',
  'init-model',
  'phase0-model',
  'phase0-chained-model',
  'runs',
  'report',
  'summary.json',
  MARKER,
];

/** Makes `out` ready: new or empty, or a previous demo's output (whose parts are removed). */
function prepareOutput(out: string): void {
  if (fs.existsSync(out)) {
    if (!fs.statSync(out).isDirectory()) throw new Error(`demo: --out ${out} exists and is not a directory`);
    const entries = fs.readdirSync(out);
    if (entries.length && !entries.includes(MARKER)) {
      throw new Error(
        `demo: --out ${out} is not empty and holds no ${MARKER} from an earlier demo; choose another directory (nothing was changed)`,
      );
    }
    for (const entry of OWNED) fs.rmSync(path.join(out, entry), { recursive: true, force: true });
  }
  fs.mkdirSync(out, { recursive: true });
}

interface LatentRunPlan {
  name: string;
  kind: DemoRunKind;
  task: string;
  mode: LatentMode;
  latents: number;
  latentInput: LatentInputKind;
  markersAtZero: boolean;
  seed: number;
  /** the run this one is compared with for helps (none: two-trunk's frozen base, or the baseline itself) */
  reference: string | null;
  /** the pause-as-thought run, for content beyond compute */
  pause: string | null;
  stage: DemoStageKind;
  title: string;
}

/**
 * The runs of the study, references first (each run's reference and pause control are trained and
 * evaluated before it). Names carry the task (when not the basic one) and the seed (when several).
 */
export function studyRunPlans(p: DemoPreset): LatentRunPlan[] {
  const k = p.latents;
  const several = p.study.seeds.length > 1;
  const plans: LatentRunPlan[] = [];
  const tasks = [
    { task: p.task, prefix: '', full: true },
    ...(p.study.chained ? [{ task: p.study.chained.task, prefix: `${p.study.chained.task}-`, full: false }] : []),
  ];
  for (const { task, prefix, full } of tasks) {
    for (const seed of p.study.seeds) {
      const suffix = several ? `-s${seed}` : '';
      const name = (base: string) => `${prefix}${base}${suffix}`;
      const baseline = name('baseline-k0');
      const pause = p.study.pause ? name(`pause-k${k}`) : null;
      const on = full ? '' : ` on the ${task} task`;
      const seedNote = several ? `, seed ${seed}` : '';
      const run = (
        o: Omit<LatentRunPlan, 'task' | 'seed' | 'markersAtZero' | 'latentInput' | 'pause' | 'reference'> &
          Partial<LatentRunPlan>,
      ): LatentRunPlan => ({
        task,
        seed,
        markersAtZero: false,
        latentInput: 'affine',
        pause: null,
        reference: baseline,
        ...o,
        title: `${o.title}${on}${seedNote}`,
      });
      plans.push(
        run({
          name: baseline,
          kind: 'baseline',
          mode: 'full',
          latents: 0,
          stage: 'baseline',
          reference: null,
          title: 'phase 1: k=0 baseline (no spans): the matched reference',
        }),
      );
      if (full && p.study.markers)
        plans.push(
          run({
            name: name('markers-k0'),
            kind: 'markers',
            mode: 'full',
            latents: 0,
            markersAtZero: true,
            stage: 'baseline',
            title: 'phase 1: markers only (<bot><eot>, k=0)',
          }),
        );
      if (pause)
        plans.push(
          run({
            name: pause,
            kind: 'pause',
            mode: 'full',
            latents: k,
            latentInput: 'pause',
            stage: 'latent',
            title: `phase 1: pause-as-thought (k=${k} learned constant inputs)`,
          }),
        );
      plans.push(
        run({
          name: name(`full-k${k}`),
          kind: 'latent',
          mode: 'full',
          latents: k,
          pause,
          stage: 'latent',
          title: `phase 1: full fine-tuning with k=${k} latents`,
        }),
      );
      if (full)
        for (const kk of p.study.sweep)
          plans.push(
            run({
              name: name(`full-k${kk}`),
              kind: 'latent',
              mode: 'full',
              latents: kk,
              stage: 'latent',
              title: `phase 1: k sweep, full fine-tuning with k=${kk}`,
            }),
          );
      if (full && p.study.twoTrunk)
        plans.push(
          run({
            name: name(`two-trunk-k${k}`),
            kind: 'latent',
            mode: 'two-trunk',
            latents: k,
            reference: null,
            stage: 'latent',
            title: `phase 1: two-trunk (frozen language trunk) with k=${k} latents`,
          }),
        );
      if (full && p.study.planted) {
        plans.push(
          run({
            name: name(`planted-positive-k${k}`),
            kind: 'planted-positive',
            mode: 'full',
            latents: k,
            latentInput: 'planted-result',
            stage: 'latent',
            title: `calibration: planted positive (latents fed the result's embeddings), k=${k}`,
          }),
        );
        plans.push(
          run({
            name: name(`planted-null-k${k}`),
            kind: 'planted-null',
            mode: 'full',
            latents: k,
            latentInput: 'zeros',
            stage: 'latent',
            title: `calibration: planted null (latents zeroed in training), k=${k}`,
          }),
        );
      }
    }
  }
  return plans;
}

function planStages(p: DemoPreset, runs: LatentRunPlan[], compare = false): PlannedStage[] {
  const e = p.expectedSeconds;
  const chained = p.study.chained;
  return [
    { id: 'data', title: 'generate the arithmetic task(s) (GSM8K format)', expectedSeconds: e.data },
    { id: 'model', title: 'build the tokenizer and a random Qwen2 model', expectedSeconds: e.model },
    { id: 'pretrain', title: 'phase 0: train the language model on the task (k=0, full)', expectedSeconds: e.pretrain },
    { id: 'export', title: 'export the phase-0 model and check that it writes solutions', expectedSeconds: e.export },
    ...(chained
      ? [
          { id: `pretrain-${chained.task}`, title: `phase 0 on the ${chained.task} task`, expectedSeconds: e.pretrain },
          {
            id: `export-${chained.task}`,
            title: `export the ${chained.task} phase-0 model and check it`,
            expectedSeconds: e.export,
          },
        ]
      : []),
    ...runs.flatMap((r) => [
      { id: `train-${r.name}`, title: r.title, expectedSeconds: e[r.stage] },
      { id: `eval-${r.name}`, title: `latent eval ${r.name}: endpoints, verdict, ablations, accuracy`, expectedSeconds: e.eval },
    ]),
    ...(compare
      ? [
          {
            id: 'compare',
            title: `latent compare: ${DEMO_COMPARISON} (and the k=0 reference) under the phase-1 budget`,
            // the k = 0 reference and each variant: a training run and its evaluation
            expectedSeconds: e.baseline + 4 * e.latent + 5 * e.eval,
          },
        ]
      : []),
    { id: 'rl', title: 'phase 2: GRPO from the full-mode latent model, then its evaluation', expectedSeconds: e.rl },
    { id: 'report', title: 'write the report', expectedSeconds: e.report },
  ];
}

const fmt = (x: number | null | undefined, digits = 3) =>
  x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits);
const pct = (x: number | null | undefined) =>
  x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(1)}%`;

function checkTrained(summary: SftSummary, what: string): void {
  if (summary.stopped === 'interrupted')
    throw new DemoInterrupted(`${what} was interrupted at step ${summary.steps}; its checkpoint is in ${summary.out}`);
  if (summary.stopped === 'non-finite')
    throw new Error(
      `${what}: the loss became non-finite at step ${summary.steps + 1} (see ${summary.out}); try a lower learning rate`,
    );
}

/** The settings every run of a demo phase shares (its budget), apart from each run's interface. */
function demoBudget(o: {
  model: string;
  data: string;
  budget: DemoTrainingBudget;
  latents: number;
  device: string;
  seed: number;
}): CompareBudget {
  const b = o.budget;
  return {
    model: o.model,
    data: o.data,
    steps: b.steps,
    batchSize: b.batchSize,
    lr: b.lr,
    minLr: b.minLr,
    warmupSteps: b.warmupSteps,
    evalEvery: b.evalEvery,
    evalExamples: b.evalExamples,
    validationSize: b.evalExamples,
    saveEvery: b.steps,
    maxLatents: Math.max(4, 2 * o.latents),
    device: o.device,
    seed: o.seed,
  };
}

function sftConfig(o: {
  model: string;
  data: string;
  out: string;
  mode: LatentMode;
  latents: number;
  budget: DemoTrainingBudget;
  device: string;
  seed: number;
  latentInput?: LatentInputKind;
  markersAtZero?: boolean;
}): SftConfig {
  return resolveSftConfig({
    ...demoBudget(o),
    out: o.out,
    mode: o.mode,
    latents: o.latents,
    latentInput: o.latentInput ?? 'affine',
    markersAtZero: o.markersAtZero ?? false,
  });
}

/** The last validation loss a run logged (null when it logged none). */
function lastValidationLoss(summary: SftSummary): number | null {
  return summary.validation ? summary.validation.loss : null;
}

function runSummary(plan: LatentRunPlan, dir: string, trained: SftSummary, d: SftDiagnostics): DemoRunSummary {
  const st = d.study;
  return {
    name: plan.name,
    kind: plan.kind,
    task: plan.task,
    dir,
    mode: plan.mode,
    k: plan.latents,
    seed: plan.seed,
    latentInput: plan.latentInput,
    steps: trained.steps,
    finalTrainLoss: trained.finalLoss,
    finalValidationLoss: lastValidationLoss(trained),
    verdict: st?.verdict ?? null,
    reasons: st?.reasons ?? [],
    helps: st?.helps ? { delta: st.helps.delta, ci: st.helps.ci, reference: st.helps.reference } : null,
    used: st?.used ? { delta: st.used.delta, ci: st.used.ci } : null,
    endpoints: st,
    test: { loss: d.test.loss, resultLoss: d.test.resultLoss, stepLoss: d.test.stepLoss, postSpanLoss: d.test.nextStepLoss },
    accuracy: d.accuracy,
    ...(d.accuracyNote ? { accuracyNote: d.accuracyNote } : {}),
    ablations: d.ablations
      .filter((a) => a.name !== 'trained')
      .map((a) => ({ name: a.name, delta: a.delta, ci: a.ci, resultDelta: a.resultDelta, resultCi: a.resultCi })),
    recurring: d.recurring.slice(0, 10),
    spanLengths: d.spanLengths,
    norms: d.norms,
  };
}

/** The calibration of every seed: its planted positive must be `helps`, its planted null `ignored` with a content CI including 0. */
export function demoCalibration(runs: readonly DemoRunSummary[]): DemoResult['calibration'] {
  const main = runs[0]?.task;
  const seeds = [...new Set(runs.filter((r) => r.task === main).map((r) => r.seed))];
  const per = seeds.map((seed) => {
    const find = (kind: DemoRunKind) => runs.find((r) => r.task === main && r.seed === seed && r.kind === kind);
    const asCase = (r: DemoRunSummary | undefined) =>
      r && r.verdict ? { name: r.name, verdict: r.verdict, helps: r.helps, used: r.used } : null;
    return { seed, c: calibrate(asCase(find('planted-positive')), asCase(find('planted-null'))) };
  });
  const first = per[0]?.c ?? calibrate(null, null);
  return {
    ...first,
    passed: per.length > 0 && per.every((x) => x.c.passed),
    seeds: per.map((x) => ({ seed: x.seed, passed: x.c.passed })),
  };
}

/** Runs grouped by their name without the seed: mean and between-seed spread of the endpoints and accuracies. */
export function demoAcrossSeeds(runs: readonly DemoRunSummary[]): AcrossSeeds[] {
  const groups = new Map<string, DemoRunSummary[]>();
  for (const r of runs) {
    const key = r.name.replace(/-s\d+$/, '');
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const stat = (values: (number | undefined | null)[]) => {
    const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    return v.length ? acrossSeeds(v) : null;
  };
  return [...groups.entries()].map(([name, rs]) => ({
    name,
    kind: rs[0].kind,
    seeds: rs.map((r) => r.seed),
    helps: stat(rs.map((r) => r.helps?.delta)),
    used: stat(rs.map((r) => r.used?.delta)),
    accuracy: stat(rs.map((r) => (r.k > 0 ? r.accuracy?.withLatents : r.accuracy?.withoutLatents))),
    oracleAccuracy: stat(rs.map((r) => r.accuracy?.oracle)),
    verdicts: rs.map((r) => r.verdict),
  }));
}

/** Full fine-tuning by k on each task (k = 0 is the baseline), averaged over seeds. */
export function demoDoseResponse(runs: readonly DemoRunSummary[]): DemoResult['doseResponse'] {
  const rows: DemoResult['doseResponse'] = [];
  const sweep = runs.filter((r) => r.mode === 'full' && (r.kind === 'latent' || r.kind === 'baseline'));
  const keys = [...new Set(sweep.map((r) => `${r.task}\u0000${r.k}`))];
  for (const key of keys) {
    const [task, kText] = key.split('\u0000');
    const rs = sweep.filter((r) => r.task === task && r.k === Number(kText));
    const mean = (v: (number | null | undefined)[]) => {
      const f = v.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
      return f.length ? f.reduce((a, b) => a + b, 0) / f.length : null;
    };
    rows.push({
      task,
      k: Number(kText),
      helps: mean(rs.map((r) => r.helps?.delta)),
      used: mean(rs.map((r) => r.used?.delta)),
      resultLoss: mean(rs.map((r) => r.test.resultLoss)) ?? NaN,
      accuracy: mean(rs.map((r) => (r.k > 0 ? r.accuracy?.withLatents : r.accuracy?.withoutLatents))),
    });
  }
  return rows.sort((a, b) => (a.task < b.task ? -1 : a.task > b.task ? 1 : a.k - b.k));
}

/** Runs the demo; resolves with what it found, after writing OUT/summary.json and OUT/report/report.html. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const size = options.size ?? 'quick';
  const base = options.preset ?? DEMO_PRESETS[size];
  if (!base) throw new RangeError(`demo: unknown size ${JSON.stringify(size)}`);
  const p = withStudyOptions(base, { task: options.task, seeds: options.seeds, sweep: options.sweep, chained: options.chained });
  const device = options.device ?? 'cpu';
  const seed = options.seed ?? 0;
  const quiet = options.quiet ?? false;
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`demo: --seed must be a non-negative integer, got ${seed}`);
  if (device.startsWith('cuda') && !torch.cuda.isAvailable())
    throw new Error(`demo: --device ${device}, but CUDA is unavailable: ${torch.cuda.unavailableReason()}`);
  if (device !== 'cpu' && !device.startsWith('cuda'))
    throw new RangeError(`demo: --device must be cpu, cuda or cuda:N, got ${device}`);
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1)
    throw new RangeError(`demo: --threads must be a positive integer, got ${threads}`);

  const out = path.resolve(options.out);
  prepareOutput(out);
  const dirs = {
    data: path.join(out, 'data'),
    chainedData: path.join(out, 'data-chained'),
    chainedModel: path.join(out, 'phase0-chained-model'),
    tokenizer: path.join(out, 'tokenizer'),
    initModel: path.join(out, 'init-model'),
    pretrainedModel: path.join(out, 'phase0-model'),
    runs: path.join(out, 'runs'),
    report: path.join(out, 'report'),
  };
  const started = Date.now();
  const startedCpu = process.cpuUsage();
  writeTextAtomic(
    path.join(out, MARKER),
    JSON.stringify({ size: p.size, seed, device, threads, started: new Date(started).toISOString() }, null, 2) + '\n',
  );

  const plans = studyRunPlans(p);
  const compare = options.compare ?? p.size === 'full';
  const stages = new StageTracker(planStages(p, plans, compare), log);
  const previousThreads = torch.getNumThreads();
  torch.setNumThreads(threads);
  log(`latent demo (${p.size}) → ${out}  [device ${device}, ${threads} CPU thread${threads > 1 ? 's' : ''}, seed ${seed}]`);
  try {
    // ---- data
    stages.begin('data');
    const chained = p.study.chained;
    const basicOverlap = writeArithTask(dirs.data, {
      train: p.data.train,
      test: p.data.test,
      seed,
      ...p.data.difficulty,
      holdOut: p.data.holdOut,
    }).overlap;
    const train = loadGsm8k(dirs.data, { split: 'train' }).examples;
    const testCount = loadGsm8k(dirs.data, { split: 'test' }).examples.length;
    const chainedPreset = chained ? ARITH_PRESETS[chained.task] : null;
    const chainedOverlap =
      chained && chainedPreset
        ? writeArithTask(dirs.chainedData, {
            train: chained.train,
            test: chained.test,
            seed,
            ...chainedPreset.difficulty,
            holdOut: chainedPreset.holdOut,
          }).overlap
        : null;
    const chainedTrain = chained ? loadGsm8k(dirs.chainedData, { split: 'train' }).examples : [];
    const pctOverlap = (o: CalculationOverlap) =>
      `${o.seenInTraining} of ${o.testCalculations} test calculations (${pct(o.fraction)}) occur in training`;
    stages.end(
      `${train.length} train and ${testCount} test problems in ${dirs.data}; ${pctOverlap(basicOverlap)}` +
        (chainedOverlap ? `; ${chained!.task}: ${chainedTrain.length} train, ${pctOverlap(chainedOverlap)}` : ''),
    );

    // ---- tokenizer and model (one vocabulary for every task)
    stages.begin('model');
    const tok = demoTokenizer(
      [...train, ...chainedTrain].map((e) => formatTrainingText(e)),
      options.tokenizer ?? 'auto',
      p.bpeVocabSize,
    );
    tok.tokenizer.save(dirs.tokenizer);
    // two spare rows for <bot>/<eot>, so adding them later needs no resize
    const vocab = tok.tokenizer.vocabSize + 2;
    const config = makeModel(dirs.initModel, { ...p.model, vocab, tokenizerDir: dirs.tokenizer, seed, std: 0.02 });
    const parameters = countParameters(dirs.initModel);
    stages.end(
      `tokenizer: ${tok.source} (${tok.tokenizer.vocabSize} tokens); Qwen2 with ${config.numHiddenLayers} layers, hidden ${config.hiddenSize}, ${parameters.toLocaleString('en-US')} parameters`,
    );

    // ---- phase 0, once per task
    const phase0 = async (id: string, data: string, runDir: string, modelDir: string) => {
      stages.begin(id === 'basic' ? 'pretrain' : `pretrain-${id}`);
      const trained = await trainSft(
        sftConfig({ model: dirs.initModel, data, out: runDir, mode: 'full', latents: 0, budget: p.pretrain, device, seed }),
        { quiet },
      );
      checkTrained(trained, id === 'basic' ? 'phase 0' : `phase 0 (${id})`);
      stages.end(`train loss ${fmt(trained.finalLoss)}, validation loss ${fmt(lastValidationLoss(trained))}`);
      stages.begin(id === 'basic' ? 'export' : `export-${id}`);
      const checkBar = new ProgressBar({ total: p.pretrainCheckExamples, label: 'answer test questions', quiet });
      const check = await exportRunModel(runDir, modelDir, {
        lossExamples: p.evaluation.examples,
        generate: p.pretrainCheckExamples,
        maxNewTokens: p.evaluation.maxNewTokens,
        onProgress: (n) => checkBar.update(n),
      });
      checkBar.finish();
      if (check.samples.length)
        log(`  sample answer (${check.samples[0].correct ? 'correct' : 'wrong'}): ${JSON.stringify(check.samples[0].text)}`);
      stages.end(`test loss ${fmt(check.testLoss)}, greedy accuracy ${pct(check.accuracy)} of ${check.n}; model in ${modelDir}`);
      if (check.n > 0 && check.accuracy === 0)
        log('  note: the phase-0 model answered no test question correctly; phase 1 starts from a weak model');
      return { trained, check };
    };
    const pretrainDir = path.join(dirs.runs, 'pretrain');
    const { trained: pretrained, check } = await phase0('basic', dirs.data, pretrainDir, dirs.pretrainedModel);
    const chainedPhase0 = chained
      ? await phase0(chained.task, dirs.chainedData, path.join(dirs.runs, `pretrain-${chained.task}`), dirs.chainedModel)
      : null;
    const taskDirs = (task: string) =>
      task === p.task ? { data: dirs.data, model: dirs.pretrainedModel } : { data: dirs.chainedData, model: dirs.chainedModel };

    // ---- phase 1 and evaluations: every run of the study, its references first
    const runs: DemoRunSummary[] = [];
    for (const plan of plans) {
      const dir = path.join(dirs.runs, plan.name);
      const { data, model } = taskDirs(plan.task);
      stages.begin(`train-${plan.name}`);
      const trained = await trainSft(
        sftConfig({
          model,
          data,
          out: dir,
          mode: plan.mode,
          latents: plan.latents,
          latentInput: plan.latentInput,
          markersAtZero: plan.markersAtZero,
          budget: p.latent,
          device,
          seed: plan.seed,
        }),
        { quiet },
      );
      checkTrained(trained, `phase 1 (${plan.name})`);
      stages.end(`train loss ${fmt(trained.finalLoss)}, validation loss ${fmt(lastValidationLoss(trained))}`);

      stages.begin(`eval-${plan.name}`);
      const e = p.evaluation;
      const diagnostics = await evaluateSftRun(dir, {
        examples: e.examples,
        generate: e.generate,
        inspect: e.inspect,
        maxNewTokens: e.maxNewTokens,
        constantSteps: e.constantSteps,
        quiet,
        reference: plan.reference ? path.join(dirs.runs, plan.reference) : undefined,
        pause: plan.pause ? path.join(dirs.runs, plan.pause) : undefined,
        ablateGeneration: e.ablateGeneration,
        seed: plan.seed,
      });
      const summary = runSummary(plan, dir, trained, diagnostics);
      runs.push(summary);
      stages.end(describeRun(summary));
    }

    // ---- the comparison of latent interfaces, on latent compare's library function
    let comparison: DemoResult['comparison'] = null;
    if (compare) {
      stages.begin('compare');
      const e = p.evaluation;
      const c = await runComparison({
        out: path.join(dirs.runs, 'compare'),
        budget: demoBudget({ model: dirs.pretrainedModel, data: dirs.data, budget: p.latent, latents: p.latents, device, seed }),
        variants: parseVariants(DEMO_COMPARISON),
        evaluation: {
          examples: e.examples,
          generate: e.generate,
          inspect: e.inspect,
          maxNewTokens: e.maxNewTokens,
          constantSteps: e.constantSteps,
          seed,
        },
        quiet,
        log: (line) => log(`  ${line}`),
      });
      const written = await writeComparisonReport(c);
      comparison = { dir: c.out, reportPath: written.htmlPath, table: formatComparison(c), rows: c.rows };
      stages.end(written.htmlPath);
    }

    // ---- phase 2
    stages.begin('rl');
    const latentRun = runs.find((r) => r.kind === 'latent' && r.mode === 'full' && r.task === p.task && r.k === p.latents)!;
    const phase2 = await runPhase2(options.phase2 ?? true, loadPhase2, {
      from: latentRun.dir,
      data: dirs.data,
      out: path.join(dirs.runs, `rl-k${p.latents}`),
      preset: p,
      device,
      seed,
      quiet,
      log,
    });
    if (phase2.skipped) stages.skip(phase2.skipped);
    else
      stages.end(
        `mean reward ${fmt(phase2.finalReward)} at the last step; greedy accuracy ${pct(phase2.accuracy?.withLatents)} with latents / ${pct(phase2.accuracy?.withoutLatents)} without`,
      );

    // ---- report
    stages.begin('report');
    const calibration = demoCalibration(runs);
    // Phase 0 is summarised in the title rather than plotted: its curves start at ln(vocabulary) and,
    // on the report's shared axes, would flatten every phase-1 curve.
    const reportDirs = [...runs.map((r) => r.dir), ...(phase2.dir ? [phase2.dir] : [])];
    const title =
      `latent demo (${p.size}): does the model use its k=${p.latents} latents, and do they help? — ` +
      `phase 0 (${pretrained.steps} steps): test loss ${fmt(check.testLoss)}, greedy accuracy ${pct(check.accuracy)} (n=${check.n}); ` +
      `calibration ${calibration.passed ? 'passed' : 'FAILED'}`;
    const report = await writeReport(reportDirs, { out: dirs.report, title });
    stages.end(report.htmlPath);

    const tasks: DemoResult['tasks'] = [
      {
        name: p.task,
        description: ARITH_PRESETS[p.task].description,
        train: train.length,
        test: testCount,
        holdOut: p.data.holdOut,
        overlap: basicOverlap,
        pretrain: { steps: pretrained.steps, testLoss: check.testLoss, accuracy: check.accuracy, n: check.n },
      },
      ...(chained && chainedPreset && chainedOverlap && chainedPhase0
        ? [
            {
              name: chained.task,
              description: chainedPreset.description,
              train: chainedTrain.length,
              test: chained.test,
              holdOut: chainedPreset.holdOut,
              overlap: chainedOverlap,
              pretrain: {
                steps: chainedPhase0.trained.steps,
                testLoss: chainedPhase0.check.testLoss,
                accuracy: chainedPhase0.check.accuracy,
                n: chainedPhase0.check.n,
              },
            },
          ]
        : []),
    ];
    const result: DemoResult = {
      out,
      size: p.size,
      reportPath: report.htmlPath,
      seconds: (Date.now() - started) / 1000,
      cpuSeconds: ((u) => (u.user + u.system) / 1e6)(process.cpuUsage(startedCpu)),
      tokenizer: { kind: tok.kind, source: tok.source, vocabSize: tok.tokenizer.vocabSize },
      model: { parameters, layers: config.numHiddenLayers, hidden: config.hiddenSize, vocab },
      data: { train: train.length, test: testCount },
      pretrain: {
        dir: pretrainDir,
        steps: pretrained.steps,
        finalTrainLoss: pretrained.finalLoss,
        finalValidationLoss: lastValidationLoss(pretrained),
        check,
      },
      tasks,
      runs,
      calibration,
      acrossSeeds: demoAcrossSeeds(runs),
      doseResponse: demoDoseResponse(runs),
      phase2,
      comparison,
      timings: stages.timings,
    };
    writeTextAtomic(path.join(out, 'summary.json'), JSON.stringify(result, null, 2) + '\n');
    return result;
  } finally {
    torch.setNumThreads(previousThreads);
  }
}

/** Total parameters of the checkpoint in `dir`, from its safetensors headers (no weights are read). */
function countParameters(dir: string): number {
  using weights = ShardedSafetensors.open(dir);
  let total = 0;
  for (const name of weights.names) total += weights.entry(name).shape.reduce((a, b) => a * b, 1);
  return total;
}

interface Phase2Plan {
  from: string;
  data: string;
  out: string;
  preset: DemoPreset;
  device: string;
  seed: number;
  quiet: boolean;
  log: (line: string) => void;
}

/**
 * Phase 2 when enabled and available: train, then evaluate greedily with and without latents. It is
 * the last, optional part of the demo, so a failure is logged and reported as a skip rather than
 * costing the report of everything before it; an interruption still stops the demo.
 */
export async function runPhase2(enabled: boolean, load: () => Phase2Availability, plan: Phase2Plan): Promise<DemoPhase2Summary> {
  if (!enabled) return { dir: null, skipped: 'phase 2 turned off (--no-phase2)' };
  const phase2 = load();
  if (!phase2.available) return { dir: null, skipped: phase2.reason };
  const { resolveRlConfig, trainRl, evaluateRlRun } = phase2.modules;
  const r = plan.preset.rl;
  try {
    const config = resolveRlConfig({
      from: plan.from,
      data: plan.data,
      out: plan.out,
      steps: r.steps,
      questionsPerStep: r.prompts,
      group: r.groupSize,
      lr: r.lr,
      maxNewTokens: r.maxNewTokens,
      evalEvery: r.steps,
      evalExamples: 0,
      saveEvery: r.steps,
      sampleEvery: Math.max(1, Math.floor(r.steps / 4)),
      samplesPerStep: 2,
      device: plan.device,
      seed: plan.seed,
    });
    const trained = await trainRl(config, { quiet: plan.quiet });
    if (trained.stopped === 'interrupted')
      throw new DemoInterrupted(`phase 2 was interrupted at step ${trained.steps}; its checkpoint is in ${trained.out}`);
    if (trained.stopped === 'non-finite')
      throw new Error(`the loss became non-finite at step ${trained.steps + 1} (see ${trained.out})`);
    const d = await evaluateRlRun(trained.out, {
      examples: plan.preset.evaluation.generate,
      passK: 0,
      maxNewTokens: r.maxNewTokens,
      quiet: plan.quiet,
    });
    return { dir: trained.out, skipped: null, steps: trained.steps, finalReward: trained.finalReward, accuracy: d.accuracy };
  } catch (e) {
    if (e instanceof DemoInterrupted) throw e;
    const message = e instanceof Error ? e.message : String(e);
    plan.log(
      `  phase 2 failed: ${message}${process.env.LATENT_DEBUG && e instanceof Error ? `\n${e.stack}` : ' (LATENT_DEBUG=1 shows the stack)'}`,
    );
    return { dir: null, skipped: `phase 2 failed: ${message.split('\n')[0]}` };
  }
}

/** One line per evaluated run: its verdict and endpoints. */
function describeRun(r: DemoRunSummary): string {
  const acc = r.accuracy
    ? `accuracy ${pct(r.k > 0 ? r.accuracy.withLatents : r.accuracy.withoutLatents)}${r.accuracy.oracle !== undefined ? ` (oracle spans ${pct(r.accuracy.oracle)})` : ''}, without spans ${pct(r.accuracy.withoutLatents)}`
    : (r.accuracyNote ?? 'accuracy not measured');
  if (!r.verdict) return `result-token loss ${fmt(r.test.resultLoss)}; ${acc}`;
  return `${r.verdict}: helps ${endpointText(r.helps)} vs ${r.helps?.reference ?? '—'}, used ${endpointText(r.used)}; ${acc}`;
}

/** The closing summary for the terminal: the verdict table, the calibration and where the report is. */
export function formatDemoResult(r: DemoResult): string {
  const minutes = `${Math.floor(r.seconds / 60)}:${String(Math.round(r.seconds % 60)).padStart(2, '0')}`;
  const header = ['run', 'kind', 'verdict', ...ENDPOINT_HEADERS, 'accuracy', 'oracle', 'no spans'];
  const rows = r.runs.map((run) => [
    run.name,
    run.kind,
    run.verdict ?? '— (reference)',
    ...endpointCells(run.helps, run.used, run.endpoints?.contentBeyondCompute),
    run.k > 0 ? pct(run.accuracy?.withLatents) : '—',
    pct(run.accuracy?.oracle),
    pct(run.accuracy?.withoutLatents),
  ]);
  if (r.phase2.dir && r.phase2.accuracy)
    rows.push([
      path.basename(r.phase2.dir),
      'phase 2',
      '—',
      '—',
      '—',
      '—',
      pct(r.phase2.accuracy.withLatents),
      '—',
      pct(r.phase2.accuracy.withoutLatents),
    ]);
  const c = r.calibration;
  return [
    `latent demo (${r.size}) finished in ${minutes}`,
    `phase 0: test loss ${fmt(r.pretrain.check.testLoss)}, greedy accuracy ${pct(r.pretrain.check.accuracy)} (n=${r.pretrain.check.n})`,
    ...r.tasks.map(
      (t) =>
        `task ${t.name}: ${t.overlap.seenInTraining} of ${t.overlap.testCalculations} test calculations seen in training (${pct(t.overlap.fraction)})`,
    ),
    endpointLegend('run'),
    ...textTable(header, rows),
    ...(r.doseResponse.length > 2
      ? [
          `dose-response (full fine-tuning, mean over seeds): ${r.doseResponse.map((d) => `${d.task} k=${d.k}: result loss ${fmt(d.resultLoss)}, helps ${fmt(d.helps)}, accuracy ${pct(d.accuracy)}`).join('; ')}`,
        ]
      : []),
    `calibration ${c.passed ? 'passed' : 'FAILED'}: planted positive ${c.positive ? c.positive.verdict : 'not run'} (expected helps), planted null ${c.null ? c.null.verdict : 'not run'} (expected ignored)`,
    ...(r.comparison ? [r.comparison.table, `comparison report: ${r.comparison.reportPath}`] : []),
    ...(r.phase2.skipped ? [`phase 2 skipped: ${r.phase2.skipped}`] : []),
    `report: ${r.reportPath}`,
  ].join('\n');
}
