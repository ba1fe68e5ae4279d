// `latent demo`: the whole study on an embedded task, end to end, with nothing to download.
//
//   data      the synthetic arithmetic task in GSM8K format (src/data/arith-task.ts)
//   model     a tokenizer for it (Qwen's, restricted, or a BPE trained here) and a small random Qwen2
//   phase 0   the plain language model (k = 0) trained on the task until it writes solutions
//   export    that run's model as a Hugging Face directory, checked by generating answers
//   phase 1   full fine-tuning and two-trunk with k latents, and the k = 0 baseline, same budget,
//             each followed by `latent eval` (losses, ablations, decoded latents, accuracy)
//   phase 2   a short GRPO run from the full-mode model, when src/rl is part of the build
//   report    one HTML report over all runs (src/report)
import * as fs from 'fs';
import * as path from 'path';
import * as torch from '../torch';
import { writeArithTask } from '../data/arith-task';
import { formatTrainingText, loadGsm8k } from '../data/gsm8k';
import { latentUsageVerdict } from '../latent/diagnostics';
import type { LatentMode } from '../latent/model';
import { makeModel } from '../models/qwen2/make-model';
import { ShardedSafetensors } from '../torch/io/safetensors-sharded';
import { writeReport } from '../report/run';
import { ProgressBar } from '../train/progress';
import { writeTextAtomic } from '../util/atomic-write';
import { resolveSftConfig, trainSft, type SftConfig, type SftSummary } from '../train/sft';
import { evaluateSftRun, type SftDiagnostics } from '../train/sft-eval';
import { exportRunModel, type PretrainCheck } from './export';
import { loadPhase2, type Phase2Availability } from './phase2';
import { DEMO_PRESETS, type DemoPreset, type DemoSize, type DemoStageKind, type DemoTrainingBudget } from './presets';
import { StageTracker, type PlannedStage, type StageTiming } from './stages';
import { demoTokenizer, type TokenizerChoice } from './tokenizer';

export interface DemoOptions {
  /** output directory (created; a previous demo there is replaced, anything else is refused) */
  out: string;
  size?: DemoSize;
  /** replaces the size's preset (tests, experiments) */
  preset?: DemoPreset;
  device?: string;
  seed?: number;
  /** intra-op CPU threads (default 1: small matrices gain nothing from more, and a busy machine loses a lot) */
  threads?: number;
  tokenizer?: TokenizerChoice;
  /** run phase 2 when src/rl is available (default true) */
  phase2?: boolean;
  /** hide the progress bars of the stages (the stage lines still go to `log`) */
  quiet?: boolean;
  /** receives the stage lines and notes (default: standard error) */
  log?: (line: string) => void;
}

export interface DemoRunSummary {
  name: string;
  dir: string;
  mode: LatentMode;
  latents: number;
  steps: number;
  finalTrainLoss: number;
  finalValidationLoss: number | null;
  test: { loss: number; nextStepLoss: number; resultLoss: number };
  accuracy: { withLatents: number; withoutLatents: number; n: number } | null;
  /** latent-utilisation verdict of the ablations (null for the k = 0 baseline) */
  verdict: { used: boolean; text: string; reasons: string[] } | null;
  ablations: { name: string; delta: number; ci: [number, number] }[];
  recurring: { token: string; count: number }[];
  spanLengths: Record<string, number>;
  norms: { latent: number; token: number };
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
  tokenizer: { kind: string; source: string; vocabSize: number };
  model: { parameters: number; layers: number; hidden: number; vocab: number };
  data: { train: number; test: number };
  pretrain: { dir: string; steps: number; finalTrainLoss: number; finalValidationLoss: number | null; check: PretrainCheck };
  runs: DemoRunSummary[];
  phase2: DemoPhase2Summary;
  timings: StageTiming[];
}

/** Thrown when the user interrupts a training stage (Ctrl-C); its run keeps a checkpoint. */
export class DemoInterrupted extends Error {
  override name = 'DemoInterrupted';
}

/** What `demo.json` records: marks a directory as the demo's, so a rerun may replace it. */
const MARKER = 'demo.json';
const OWNED = ['data', 'tokenizer', 'init-model', 'phase0-model', 'runs', 'report', 'summary.json', MARKER];

/** Makes `out` ready: new or empty, or a previous demo's output (whose parts are removed). */
function prepareOutput(out: string): void {
  if (fs.existsSync(out)) {
    if (!fs.statSync(out).isDirectory()) throw new Error(`demo: --out ${out} exists and is not a directory`);
    const entries = fs.readdirSync(out);
    if (entries.length && !entries.includes(MARKER)) {
      throw new Error(`demo: --out ${out} is not empty and holds no ${MARKER} from an earlier demo; choose another directory (nothing was changed)`);
    }
    for (const entry of OWNED) fs.rmSync(path.join(out, entry), { recursive: true, force: true });
  }
  fs.mkdirSync(out, { recursive: true });
}

interface LatentRunPlan {
  name: string;
  mode: LatentMode;
  latents: number;
  kind: DemoStageKind;
  title: string;
}

function latentRunPlans(k: number): LatentRunPlan[] {
  return [
    { name: `full-k${k}`, mode: 'full', latents: k, kind: 'latent', title: `phase 1: full fine-tuning with k=${k} latents per calculation` },
    { name: `two-trunk-k${k}`, mode: 'two-trunk', latents: k, kind: 'latent', title: `phase 1: two-trunk (frozen language trunk) with k=${k} latents` },
    { name: 'baseline-k0', mode: 'full', latents: 0, kind: 'baseline', title: 'phase 1: k=0 baseline (no latents), same budget' },
  ];
}

function planStages(p: DemoPreset, runs: LatentRunPlan[]): PlannedStage[] {
  const e = p.expectedSeconds;
  return [
    { id: 'data', title: 'generate the arithmetic task (GSM8K format)', expectedSeconds: e.data },
    { id: 'model', title: 'build the tokenizer and a random Qwen2 model', expectedSeconds: e.model },
    { id: 'pretrain', title: 'phase 0: train the language model on the task (k=0, full)', expectedSeconds: e.pretrain },
    { id: 'export', title: 'export the phase-0 model and check that it writes solutions', expectedSeconds: e.export },
    ...runs.flatMap((r) => [
      { id: `train-${r.name}`, title: r.title, expectedSeconds: e[r.kind] },
      { id: `eval-${r.name}`, title: `latent eval ${r.name}: test losses, ablations, decoded latents, accuracy`, expectedSeconds: e.eval },
    ]),
    { id: 'rl', title: 'phase 2: GRPO from the full-mode latent model, then its evaluation', expectedSeconds: e.rl },
    { id: 'report', title: 'write the report', expectedSeconds: e.report },
  ];
}

const fmt = (x: number | null | undefined, digits = 3) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits));
const pct = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(1)}%`);

function checkTrained(summary: SftSummary, what: string): void {
  if (summary.stopped === 'interrupted') throw new DemoInterrupted(`${what} was interrupted at step ${summary.steps}; its checkpoint is in ${summary.out}`);
  if (summary.stopped === 'non-finite') throw new Error(`${what}: the loss became non-finite at step ${summary.steps + 1} (see ${summary.out}); try a lower learning rate`);
}

function sftConfig(o: { model: string; data: string; out: string; mode: LatentMode; latents: number; budget: DemoTrainingBudget; device: string; seed: number }): SftConfig {
  const b = o.budget;
  return resolveSftConfig({
    model: o.model,
    data: o.data,
    out: o.out,
    mode: o.mode,
    latents: o.latents,
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
  });
}

/** The last validation loss a run logged (null when it logged none). */
function lastValidationLoss(summary: SftSummary): number | null {
  return summary.validation ? summary.validation.loss : null;
}

function runSummary(plan: LatentRunPlan, dir: string, trained: SftSummary, d: SftDiagnostics): DemoRunSummary {
  const verdict = plan.latents > 0 && d.ablations.length ? latentUsageVerdict(d.ablations) : null;
  return {
    name: plan.name,
    dir,
    mode: plan.mode,
    latents: plan.latents,
    steps: trained.steps,
    finalTrainLoss: trained.finalLoss,
    finalValidationLoss: lastValidationLoss(trained),
    test: { loss: d.test.loss, nextStepLoss: d.test.nextStepLoss, resultLoss: d.test.resultLoss },
    accuracy: d.accuracy ? { withLatents: d.accuracy.withLatents, withoutLatents: d.accuracy.withoutLatents, n: d.accuracy.n } : null,
    verdict: verdict ? { used: verdict.used, text: verdict.text, reasons: verdict.reasons } : null,
    ablations: d.ablations.filter((a) => a.name !== 'trained').map((a) => ({ name: a.name, delta: a.delta, ci: a.ci })),
    recurring: d.recurring.slice(0, 10),
    spanLengths: d.spanLengths,
    norms: d.norms,
  };
}

/** Runs the demo; resolves with what it found, after writing OUT/summary.json and OUT/report/report.html. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const size = options.size ?? 'quick';
  const p = options.preset ?? DEMO_PRESETS[size];
  if (!p) throw new RangeError(`demo: unknown size ${JSON.stringify(size)}`);
  const device = options.device ?? 'cpu';
  const seed = options.seed ?? 0;
  const quiet = options.quiet ?? false;
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`demo: --seed must be a non-negative integer, got ${seed}`);
  if (device.startsWith('cuda') && !torch.cuda.isAvailable()) throw new Error(`demo: --device ${device}, but CUDA is unavailable: ${torch.cuda.unavailableReason()}`);
  if (device !== 'cpu' && !device.startsWith('cuda')) throw new RangeError(`demo: --device must be cpu, cuda or cuda:N, got ${device}`);
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`demo: --threads must be a positive integer, got ${threads}`);

  const out = path.resolve(options.out);
  prepareOutput(out);
  const dirs = {
    data: path.join(out, 'data'),
    tokenizer: path.join(out, 'tokenizer'),
    initModel: path.join(out, 'init-model'),
    pretrainedModel: path.join(out, 'phase0-model'),
    runs: path.join(out, 'runs'),
    report: path.join(out, 'report'),
  };
  const started = Date.now();
  writeTextAtomic(path.join(out, MARKER), JSON.stringify({ size: p.size, seed, device, threads, started: new Date(started).toISOString() }, null, 2) + '\n');

  const plans = latentRunPlans(p.latents);
  const stages = new StageTracker(planStages(p, plans), log);
  const previousThreads = torch.getNumThreads();
  torch.setNumThreads(threads);
  log(`latent demo (${p.size}) → ${out}  [device ${device}, ${threads} CPU thread${threads > 1 ? 's' : ''}, seed ${seed}]`);
  try {
    // ---- data
    stages.begin('data');
    writeArithTask(dirs.data, { train: p.data.train, test: p.data.test, seed, ...p.data.difficulty });
    const train = loadGsm8k(dirs.data, { split: 'train' }).examples;
    const testCount = loadGsm8k(dirs.data, { split: 'test' }).examples.length;
    stages.end(`${train.length} train and ${testCount} test problems in ${dirs.data}`);

    // ---- tokenizer and model
    stages.begin('model');
    const tok = demoTokenizer(train.map((e) => formatTrainingText(e)), options.tokenizer ?? 'auto', p.bpeVocabSize);
    tok.tokenizer.save(dirs.tokenizer);
    // two spare rows for <bot>/<eot>, so adding them later needs no resize
    const vocab = tok.tokenizer.vocabSize + 2;
    const config = makeModel(dirs.initModel, { ...p.model, vocab, tokenizerDir: dirs.tokenizer, seed, std: 0.02 });
    const parameters = countParameters(dirs.initModel);
    stages.end(`tokenizer: ${tok.source} (${tok.tokenizer.vocabSize} tokens); Qwen2 with ${config.numHiddenLayers} layers, hidden ${config.hiddenSize}, ${parameters.toLocaleString('en-US')} parameters`);

    // ---- phase 0
    stages.begin('pretrain');
    const pretrainDir = path.join(dirs.runs, 'pretrain');
    const pretrained = await trainSft(sftConfig({ model: dirs.initModel, data: dirs.data, out: pretrainDir, mode: 'full', latents: 0, budget: p.pretrain, device, seed }), { quiet });
    checkTrained(pretrained, 'phase 0');
    stages.end(`train loss ${fmt(pretrained.finalLoss)}, validation loss ${fmt(lastValidationLoss(pretrained))}`);

    stages.begin('export');
    const checkBar = new ProgressBar({ total: p.pretrainCheckExamples, label: 'answer test questions', quiet });
    const check = await exportRunModel(pretrainDir, dirs.pretrainedModel, {
      lossExamples: p.evaluation.examples,
      generate: p.pretrainCheckExamples,
      maxNewTokens: p.evaluation.maxNewTokens,
      onProgress: (n) => checkBar.update(n),
    });
    checkBar.finish();
    if (check.samples.length) log(`  sample answer (${check.samples[0].correct ? 'correct' : 'wrong'}): ${JSON.stringify(check.samples[0].text)}`);
    stages.end(`test loss ${fmt(check.testLoss)}, greedy accuracy ${pct(check.accuracy)} of ${check.n}; model in ${dirs.pretrainedModel}`);
    if (check.n > 0 && check.accuracy === 0) log('  note: the phase-0 model answered no test question correctly; phase 1 starts from a weak model');

    // ---- phase 1 and evaluations
    const runs: DemoRunSummary[] = [];
    for (const plan of plans) {
      const dir = path.join(dirs.runs, plan.name);
      stages.begin(`train-${plan.name}`);
      const trained = await trainSft(sftConfig({ model: dirs.pretrainedModel, data: dirs.data, out: dir, mode: plan.mode, latents: plan.latents, budget: p.latent, device, seed }), { quiet });
      checkTrained(trained, `phase 1 (${plan.name})`);
      stages.end(`train loss ${fmt(trained.finalLoss)}, validation loss ${fmt(lastValidationLoss(trained))}`);

      stages.begin(`eval-${plan.name}`);
      const e = p.evaluation;
      const diagnostics = await evaluateSftRun(dir, { examples: e.examples, generate: e.generate, inspect: e.inspect, maxNewTokens: e.maxNewTokens, constantSteps: e.constantSteps, quiet });
      const summary = runSummary(plan, dir, trained, diagnostics);
      runs.push(summary);
      stages.end(
        `test loss ${fmt(summary.test.loss)} (result tokens ${fmt(summary.test.resultLoss)}), accuracy ${pct(summary.accuracy?.withLatents)} with latents / ${pct(summary.accuracy?.withoutLatents)} without` +
          (summary.verdict ? `; ${summary.verdict.text}` : ''),
      );
    }

    // ---- phase 2
    stages.begin('rl');
    const phase2 = await runPhase2(options.phase2 ?? true, loadPhase2, {
      from: runs[0].dir,
      data: dirs.data,
      out: path.join(dirs.runs, `rl-k${p.latents}`),
      preset: p,
      device,
      seed,
      quiet,
      log,
    });
    if (phase2.skipped) stages.skip(phase2.skipped);
    else stages.end(`mean reward ${fmt(phase2.finalReward)} at the last step; greedy accuracy ${pct(phase2.accuracy?.withLatents)} with latents / ${pct(phase2.accuracy?.withoutLatents)} without`);

    // ---- report
    stages.begin('report');
    // Phase 0 is summarised in the title rather than plotted: its curves start at ln(vocabulary) and,
    // on the report's shared axes, would flatten every phase-1 curve.
    const reportDirs = [...runs.map((r) => r.dir), ...(phase2.dir ? [phase2.dir] : [])];
    const title =
      `latent demo (${p.size}): k=${p.latents} latents vs the k=0 baseline on the arithmetic task — ` +
      `phase 0 (${pretrained.steps} steps): test loss ${fmt(check.testLoss)}, greedy accuracy ${pct(check.accuracy)} (n=${check.n})`;
    const report = await writeReport(reportDirs, { out: dirs.report, title });
    stages.end(report.htmlPath);

    const result: DemoResult = {
      out,
      size: p.size,
      reportPath: report.htmlPath,
      seconds: (Date.now() - started) / 1000,
      tokenizer: { kind: tok.kind, source: tok.source, vocabSize: tok.tokenizer.vocabSize },
      model: { parameters, layers: config.numHiddenLayers, hidden: config.hiddenSize, vocab },
      data: { train: train.length, test: testCount },
      pretrain: { dir: pretrainDir, steps: pretrained.steps, finalTrainLoss: pretrained.finalLoss, finalValidationLoss: lastValidationLoss(pretrained), check },
      runs,
      phase2,
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
    if (trained.stopped === 'interrupted') throw new DemoInterrupted(`phase 2 was interrupted at step ${trained.steps}; its checkpoint is in ${trained.out}`);
    if (trained.stopped === 'non-finite') throw new Error(`the loss became non-finite at step ${trained.steps + 1} (see ${trained.out})`);
    const d = await evaluateRlRun(trained.out, { examples: plan.preset.evaluation.generate, passK: 0, maxNewTokens: r.maxNewTokens, quiet: plan.quiet });
    return { dir: trained.out, skipped: null, steps: trained.steps, finalReward: trained.finalReward, accuracy: d.accuracy };
  } catch (e) {
    if (e instanceof DemoInterrupted) throw e;
    const message = e instanceof Error ? e.message : String(e);
    plan.log(`  phase 2 failed: ${message}${process.env.LATENT_DEBUG && e instanceof Error ? `\n${e.stack}` : ' (LATENT_DEBUG=1 shows the stack)'}`);
    return { dir: null, skipped: `phase 2 failed: ${message.split('\n')[0]}` };
  }
}

/** The closing summary for the terminal: one line per run and where the report is. */
export function formatDemoResult(r: DemoResult): string {
  const minutes = `${Math.floor(r.seconds / 60)}:${String(Math.round(r.seconds % 60)).padStart(2, '0')}`;
  const header = ['run', 'test loss', 'result loss', 'acc. with latents', 'acc. without', 'latent use'];
  const rows = r.runs.map((run) => [
    run.name,
    fmt(run.test.loss),
    fmt(run.test.resultLoss),
    run.latents > 0 ? pct(run.accuracy?.withLatents) : '—',
    pct(run.accuracy?.withoutLatents),
    run.verdict ? run.verdict.text : '— (baseline)',
  ]);
  if (r.phase2.dir && r.phase2.accuracy) rows.push([path.basename(r.phase2.dir), '—', '—', pct(r.phase2.accuracy.withLatents), pct(r.phase2.accuracy.withoutLatents), 'phase 2 (GRPO)']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [
    `latent demo (${r.size}) finished in ${minutes}`,
    `phase 0: test loss ${fmt(r.pretrain.check.testLoss)}, greedy accuracy ${pct(r.pretrain.check.accuracy)} (n=${r.pretrain.check.n})`,
    line(header),
    ...rows.map(line),
    ...(r.phase2.skipped ? [`phase 2 skipped: ${r.phase2.skipped}`] : []),
    `report: ${r.reportPath}`,
  ].join('\n');
}
