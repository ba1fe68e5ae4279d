// Phase-1 training-step benchmark: one step of the latent trainer (src/train/sft.ts) — the batched
// latent forward (src/latent/forward.ts), backward, gradient clipping and AdamW — in both modes (full
// fine-tuning, two-trunk), with k = 4 latents per breakpoint and the k = 0 baseline, against a PyTorch
// implementation of the same algorithm (bench/python/sft.py: transformers' Qwen2 layers and
// DynamicCache, the same waves, masks, latent step and losses).
//
//   npm run bench -- sft [--cases full.k4,two_trunk.k4] [--repeats N] [--threads T] [--clock cpu] ...
//   npm run bench -- sft --profile [--steps N] [--cases ...] [--threads T]
//
// --profile times nothing: it runs N steps (default 10, after two warm-up steps) of each case under
// torch.profiler on both sides and prints, per operator and per step, the calls and self times of
// ours beside PyTorch's (bench/lib/op-profile.ts): where a gap between the two comes from.
//
// Both sides train the same weights on the same batch: this side writes the initial model (Hugging
// Face format), the latent heads and the batch's sequences (built here with buildLatentSequence) to a
// fixture directory that the Python side reads ($SFT_BENCH_FIXTURE). Before timing, the first step's
// losses and gradient norm of every case are computed on both sides and compared, which checks that
// the two implementations compute the same thing.
//
// Goal (issue "phase-1 training benchmark"): training steps per second at least PyTorch's, i.e.
// ours/PyTorch time per step <= 1.0 in every case.
//
// Environment (read by both sides, through the fixture): SFT_BENCH_SHAPE=default|qwen2-0.5b|tiny (the
// full 24-layer Qwen2-0.5B with its 151,936-token vocabulary, or a tiny model for trying the plumbing),
// SFT_BENCH_DEVICE=cpu|cuda, SFT_BENCH_DTYPE=float32|bfloat16 (the weights are drawn in float32 and then
// converted; the first-step check then agrees only to the dtype's rounding).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as torch from '../src/torch';
import { generateArithProblems } from '../src/data/arith-task';
import { parseGsm8kRecord, type Gsm8kExample } from '../src/data/gsm8k';
import type { Qwen2ForCausalLM } from '../src/models/qwen2';
import { benchQwen2, benchSettingsFromEnv } from './lib/model';
import { saveQwen2 } from '../src/models/qwen2/loading';
import { LatentHeads } from '../src/latent/heads';
import { latentForward } from '../src/latent/forward';
import { LatentDecoder, qwen2Backbone } from '../src/latent/qwen2-trunks';
import { buildLatentSequence, type LatentSequence, type TextEncoder } from '../src/latent/sequence';
import { SFT_DEFAULTS, sftParamGroups, sftStep, type SftStepStats } from '../src/train/sft';
import {
  findPython,
  formatDuration,
  formatRatio,
  pythonCounterpart,
  ROOT,
  runSuite,
  type BenchCase,
  type SuiteResult,
} from './lib';
import { parseOptions, UsageError } from './lib/options';
import { opProfileTable, rowsOf, type OpProfileRow } from './lib/op-profile';

// Kept equal to bench/python/sft.py (which reads them from the fixture).
const SHAPES = {
  default: { layers: 4, hidden: 256, heads: 4, kvHeads: 2, intermediate: 688, vocab: 1024, ropeTheta: 1e6, batch: 8 },
  'qwen2-0.5b': { layers: 24, hidden: 896, heads: 14, kvHeads: 2, intermediate: 4864, vocab: 151936, ropeTheta: 1e6, batch: 8 },
  tiny: { layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, vocab: 512, ropeTheta: 1e6, batch: 4 },
};
const SETTINGS = benchSettingsFromEnv('sft', 'SFT', SHAPES);
export const SHAPE = SETTINGS.shape;
const DEVICE = SETTINGS.device;
const DTYPE = SETTINGS.dtype;
const INIT_STD = 0.02;
const LATENTS = [4, 0];
const MODES = ['full', 'two_trunk'] as const;
export type Mode = (typeof MODES)[number];
/** the trainer's defaults: AdamW, clipping and loss weights of `train sft` */
const TRAIN = {
  lr: SFT_DEFAULTS.lr,
  weightDecay: SFT_DEFAULTS.weightDecay,
  gradClip: SFT_DEFAULTS.gradClip,
  startLossWeight: SFT_DEFAULTS.startLossWeight,
  stopLossWeight: SFT_DEFAULTS.stopLossWeight,
};
const BOT = SHAPE.vocab - 2;
const EOT = SHAPE.vocab - 1;
const FIXTURE_ENV = 'SFT_BENCH_FIXTURE';

/**
 * A word-level tokenizer grown on first sight of each piece (words with their leading space, single
 * digits as Qwen's tokenizer splits them, newlines, punctuation): sequence lengths close to a BPE
 * tokenizer's on this text, without depending on tokenizer files. Id 0 is the end-of-text token.
 */
class WordTokenizer implements TextEncoder {
  private readonly ids = new Map<string, number>([['<|endoftext|>', 0]]);
  constructor(private readonly limit: number) {}
  encode(text: string): number[] {
    return (text.match(/ ?[A-Za-z]+| ?\d|\n| +|[^\sA-Za-z\d]/g) ?? []).map((piece) => {
      let id = this.ids.get(piece);
      if (id === undefined) {
        id = this.ids.size;
        if (id >= this.limit) throw new RangeError(`bench sft: the word vocabulary outgrew ${this.limit} ids`);
        this.ids.set(piece, id);
      }
      return id;
    });
  }
  get size(): number {
    return this.ids.size;
  }
}

/** One batch of the synthetic arithmetic task (1-4 annotated steps per problem), as latent sequences for each k. */
export function makeBatches(): { batches: Map<number, LatentSequence[]>; vocabUsed: number } {
  const problems = generateArithProblems(SHAPE.batch, { seed: 11, maxSteps: 4, maxDigits: 2 });
  const examples: Gsm8kExample[] = problems.map((p, i) => {
    const r = parseGsm8kRecord(JSON.stringify({ question: p.question, answer: p.answer }), i);
    if (!r.ok) throw new Error(`bench sft: generated problem ${i} does not parse: ${r.detail}`);
    return r.example;
  });
  const tokenizer = new WordTokenizer(BOT);
  const batches = new Map(
    LATENTS.map((k) => [
      k,
      examples.map((e) => buildLatentSequence(e, tokenizer, { latents: k, botId: BOT, eotId: EOT, eosId: 0 })),
    ]),
  );
  return { batches, vocabUsed: tokenizer.size };
}

function makeModel(): Qwen2ForCausalLM {
  return benchQwen2(SHAPE, { std: INIT_STD });
}

function makeHeads(model: Qwen2ForCausalLM): LatentHeads {
  torch.manualSeed(1);
  return torch.scope(() => {
    const row = model.model.embed_tokens.weight.select(0, 1).detach(); // markers start as a word's embedding, as LatentModel does
    // scale = RMS(token embeddings) / RMS(post-norm hidden): INIT_STD / 1 at initialisation (unit norm gains).
    return new LatentHeads({ hidden: SHAPE.hidden, markerInit: torch.stack([row, row]), scale: INIT_STD, dtype: 'float32' });
  });
}

/** The model and heads every case starts from (rebuilt per case: a case trains them). */
interface Trainee {
  model: Qwen2ForCausalLM;
  heads: LatentHeads;
  decoder: LatentDecoder | null;
  dispose(): void;
}

export function makeTrainee(mode: Mode): Trainee {
  const model = makeModel();
  const heads = makeHeads(model);
  // Drawn in float32 on the CPU (as the fixture holds them), then placed.
  for (const m of [model, heads]) {
    if (DTYPE !== 'float32') m.to(DTYPE);
    if (DEVICE !== 'cpu') m.to(DEVICE);
  }
  let decoder: LatentDecoder | null = null;
  if (mode === 'two_trunk') {
    decoder = LatentDecoder.copyOf(model);
    model.freeze();
  }
  return { model, heads, decoder, dispose: () => (model.dispose(), heads.dispose(), decoder?.dispose()) };
}

/** The trainer's step (src/train/sft.ts sftStep, with its parameter groups) without its schedule and logging. */
export function trainingStep(t: Trainee, seqs: LatentSequence[]) {
  const backbone = qwen2Backbone(t.model);
  const latentTrunk = t.decoder ?? backbone;
  const parameters = [...t.heads.parameters(), ...(t.decoder ?? t.model).parameters()].filter((p) => p.requiresGrad);
  const optimizer = new torch.optim.AdamW(sftParamGroups(parameters, TRAIN.weightDecay), {
    lr: TRAIN.lr,
    weightDecay: TRAIN.weightDecay,
  });
  const parts = {
    forward: (s: LatentSequence[]) => latentForward(s, { backbone, latentTrunk, heads: t.heads, botId: BOT, eotId: EOT }),
    parameters,
    optimizer,
    weights: TRAIN,
  };
  const step = (): StepStats => {
    const outcome = sftStep(parts, seqs);
    if ('nonFinite' in outcome) throw new Error(`bench sft: ${outcome.nonFinite}`);
    return outcome.stats;
  };
  return { step, dispose: () => optimizer.dispose() };
}

export type StepStats = SftStepStats;

const caseName = (mode: Mode, k: number) => `${mode}.k${k}`;

function stepCase(mode: Mode, k: number, batches: Map<number, LatentSequence[]>): BenchCase {
  const seqs = batches.get(k)!;
  const latentPositions = seqs.reduce((n, s) => n + s.spans.reduce((m, sp) => m + sp.count, 0), 0);
  const tokens = seqs.reduce((n, s) => n + s.ids.length, 0);
  return {
    name: caseName(mode, k),
    group:
      `latent SFT step, Qwen2 ${SHAPE.layers} layers (hidden ${SHAPE.hidden}, ${SHAPE.heads}/${SHAPE.kvHeads} heads, MLP ${SHAPE.intermediate}, ` +
      `vocab ${SHAPE.vocab}, tied), batch ${SHAPE.batch}, ${DTYPE}${DEVICE === 'cpu' ? '' : ` on ${DEVICE}`}`,
    description:
      `${mode === 'full' ? 'full fine-tuning' : 'two-trunk (frozen language copy, trainable latent copy)'}, k=${k}: ` +
      `latentForward -> (loss + ${TRAIN.startLossWeight}·start + ${TRAIN.stopLossWeight}·stop).backward() -> clipGradNorm_ -> AdamW.step -> zeroGrad ` +
      `(${tokens} positions, ${latentPositions} latent)`,
    unitsPerIteration: 1,
    goals: [{ vs: 'pytorch', max: 1.0 }],
    setup() {
      const trainee = makeTrainee(mode);
      const trainer = trainingStep(trainee, seqs);
      return { iteration: () => void trainer.step(), dispose: () => (trainer.dispose(), trainee.dispose()) };
    },
  };
}

/** Writes what the Python side needs to train the same model on the same batches. */
export function writeFixture(dir: string, batches: Map<number, LatentSequence[]>): void {
  const model = makeModel();
  const heads = makeHeads(model);
  try {
    saveQwen2(model, path.join(dir, 'model'), { dtype: 'float32' });
    const headValues = Object.fromEntries(
      [...heads.stateDict()].map(([name, t]) => [name, torch.scope(() => t.reshape([-1]).tolist() as number[])]),
    );
    const sequences = Object.fromEntries(
      [...batches].map(([k, seqs]) => [
        `k${k}`,
        seqs.map((s) => ({
          ids: s.ids,
          targets: s.targets,
          nextStepOf: s.nextStepOf,
          resultTarget: s.resultTarget,
          startTarget: s.startTarget,
          spans: s.spans.map((sp) => ({ botPosition: sp.botPosition, count: sp.count })),
        })),
      ]),
    );
    const fixture = {
      shape: SHAPE,
      device: DEVICE,
      dtype: DTYPE,
      botId: BOT,
      eotId: EOT,
      scale: heads.scale,
      train: TRAIN,
      heads: headValues,
      sequences,
    };
    fs.writeFileSync(path.join(dir, 'fixture.json'), JSON.stringify(fixture));
  } finally {
    model.dispose();
    heads.dispose();
  }
}

const CHECKED = ['loss', 'startLoss', 'stopLoss', 'gradNorm', 'latentNorm', 'tokenNorm', 'nextStepLoss', 'resultLoss'] as const;

/**
 * The first step's statistics here and in PyTorch, per case: the same model, batch and algorithm must
 * give the same numbers up to float32 rounding. Returns the report table, or why PyTorch did not run.
 */
function crossCheck(
  names: string[],
  stepsOurs: Map<string, StepStats>,
  fixture: string,
  threads: number,
): { table: string; worst: number } | string {
  const py = findPython();
  if ('missing' in py) return py.missing;
  const r = spawnSync(
    py.python,
    [path.join(ROOT, 'bench', 'python', 'sft.py'), '--check', names.join(','), '--threads', String(threads)],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, [FIXTURE_ENV]: fixture },
      maxBuffer: 16 << 20,
    },
  );
  if (r.status !== 0) return `bench/python/sft.py --check failed (${r.status ?? r.signal}): ${(r.stderr ?? '').slice(-2000)}`;
  const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, Record<string, number | null>>;
  let worst = 0;
  const lines = [`| case | ${CHECKED.join(' | ')} |`, `|---|${CHECKED.map(() => '--:').join('|')}|`];
  for (const name of names) {
    const ours = stepsOurs.get(name)!;
    const cells = CHECKED.map((key) => {
      const a = ours[key];
      const b = theirs[name]?.[key] ?? null;
      if (a === null || b === null) {
        if (a !== b) worst = Infinity;
        return a === b ? '–' : `${a} vs ${b} ✗`;
      }
      const rel = Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
      worst = Math.max(worst, rel);
      return `${a.toPrecision(6)} (Δ ${rel.toExponential(1)})`;
    });
    lines.push(`| ${name} | ${cells.join(' | ')} |`);
  }
  return { table: lines.join('\n'), worst };
}

function firstStep(name: string, batches: Map<number, LatentSequence[]>): StepStats {
  const [mode, k] = name.split('.k') as [Mode, string];
  const trainee = makeTrainee(mode);
  const trainer = trainingStep(trainee, batches.get(Number(k))!);
  try {
    return trainer.step();
  } finally {
    trainer.dispose();
    trainee.dispose();
  }
}

function stepsPerSecondTable(result: SuiteResult): string {
  const lines = ['| case | ours steps/s | PyTorch steps/s | ours/PyTorch time |', '|---|--:|--:|--:|'];
  for (const row of result.rows) {
    const ours = row.ours.summary.median;
    const theirs = row.counterparts.pytorch?.summary.median ?? null;
    lines.push(
      `| ${row.name} | ${(1e9 / ours).toFixed(2)} (${formatDuration(ours)}) | ${theirs === null ? '–' : `${(1e9 / theirs).toFixed(2)} (${formatDuration(theirs)})`} | ` +
        `${theirs === null ? '–' : formatRatio(ours / theirs)} |`,
    );
  }
  return lines.join('\n');
}

export const CASE_NAMES = MODES.flatMap((m) => LATENTS.map((k) => caseName(m, k)));

const TIMING = { warmupMs: 0, sampleMs: 1, repeats: 10, rounds: 2 };

function suite(cases: BenchCase[], notes: string[]) {
  return {
    name: 'sft',
    title: 'sft: phase-1 latent training steps (full, two-trunk; k = 4 and 0), ours vs the same algorithm in PyTorch',
    cases,
    counterparts: [pythonCounterpart('bench/python/sft.py', 'pytorch', 'PyTorch')],
    // A step takes hundreds of milliseconds: one step per sample; the warm-up is two steps.
    timing: TIMING,
    notes,
  };
}

/** Takes `--profile` and `--steps N` out of argv (the other flags are the suite's). */
function profileRequest(argv: string[]): { steps: number | null; rest: string[] } {
  const rest = [...argv];
  const at = rest.indexOf('--profile');
  if (at < 0) {
    if (rest.includes('--steps')) throw new UsageError('--steps goes with --profile');
    return { steps: null, rest };
  }
  rest.splice(at, 1);
  const s = rest.indexOf('--steps');
  if (s < 0) return { steps: 10, rest };
  const steps = Number(rest[s + 1]);
  if (!Number.isInteger(steps) || steps < 1)
    throw new UsageError(`--steps expects a whole number > 0, got ${JSON.stringify(rest[s + 1] ?? '')}`);
  rest.splice(s, 2);
  return { steps, rest };
}

/** Each case's operator profile on both sides, side by side (see the header). */
function profileCases(
  names: string[],
  batches: Map<number, LatentSequence[]>,
  fixture: string,
  threads: number,
  steps: number,
): void {
  const py = findPython();
  let theirs: Record<string, OpProfileRow[]> = {};
  if ('missing' in py) process.stderr.write(`bench sft: WARNING: PyTorch side not run: ${py.missing}\n`);
  else {
    process.stderr.write(`bench sft: profiling ${steps} steps of ${names.join(', ')} in PyTorch\n`);
    const r = spawnSync(
      py.python,
      [
        path.join(ROOT, 'bench', 'python', 'sft.py'),
        '--profile',
        names.join(','),
        '--steps',
        String(steps),
        '--threads',
        String(threads),
      ],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, [FIXTURE_ENV]: fixture }, maxBuffer: 64 << 20 },
    );
    if (r.status !== 0)
      throw new Error(`bench/python/sft.py --profile failed (${r.status ?? r.signal}): ${(r.stderr ?? '').slice(-2000)}`);
    theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, OpProfileRow[]>;
  }
  for (const name of names) {
    process.stderr.write(`bench sft: profiling ${steps} steps of ${name} here\n`);
    const [mode, k] = name.split('.k') as [Mode, string];
    const trainee = makeTrainee(mode);
    const trainer = trainingStep(trainee, batches.get(Number(k))!);
    try {
      for (let i = 0; i < 2; i++) trainer.step();
      const ours = torch.profiler.profile(() => {
        for (let i = 0; i < steps; i++) trainer.step();
      });
      console.log(`\n### ${name}: operators per step (${steps} profiled steps, ${threads} thread${threads === 1 ? '' : 's'})\n`);
      console.log(opProfileTable(rowsOf(ours.keyAverages()), theirs[name] ?? [], steps));
    } finally {
      trainer.dispose();
      trainee.dispose();
    }
  }
}

export async function main(argvWithProfile: string[]): Promise<void> {
  const { steps: profileSteps, rest: argv } = profileRequest(argvWithProfile);
  const options = parseOptions(argv, TIMING);
  const { batches, vocabUsed } = makeBatches();
  const cases = MODES.flatMap((m) => LATENTS.map((k) => stepCase(m, k, batches)));
  if (options.help || options.cases?.some((n) => !CASE_NAMES.includes(n))) {
    await runSuite(suite(cases, []), argv); // prints the help, or the usage error naming the unknown case
    return;
  }
  const fixture = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-bench-sft-'));
  const previous = process.env[FIXTURE_ENV];
  process.env[FIXTURE_ENV] = fixture; // inherited by the PyTorch counterpart
  const breakpoints = batches.get(4)!.reduce((n, s) => n + s.spans.length, 0);
  try {
    writeFixture(fixture, batches);
    if (profileSteps !== null) {
      const threads = options.threads ?? torch.getNumThreads();
      torch.setNumThreads(threads);
      profileCases(options.cases ?? CASE_NAMES, batches, fixture, threads, profileSteps);
      return;
    }
    let check: ReturnType<typeof crossCheck> = 'skipped with --skip pytorch';
    if (!options.skip.includes('pytorch')) {
      const names = options.cases ?? CASE_NAMES;
      const threads = options.threads ?? torch.getNumThreads();
      torch.setNumThreads(threads);
      process.stderr.write('bench sft: first step of each case, ours and PyTorch\n');
      check = crossCheck(names, new Map(names.map((n) => [n, firstStep(n, batches)] as const)), fixture, threads);
      if (typeof check === 'string') process.stderr.write(`bench sft: WARNING: ${check}\n`);
    }
    const notes = [
      `${DTYPE} on ${DEVICE}, same intra-op threads; both sides start from the same weights (written by this side) and train on the same batch.`,
      `Batch: ${SHAPE.batch} problems of the synthetic arithmetic task (1-4 annotated steps), word-level tokens (${vocabUsed} ids used), ` +
        `${breakpoints} breakpoints; k=0 is the same batch without spans.`,
      'PyTorch side (bench/python/sft.py): transformers Qwen2DecoderLayer/Qwen2RMSNorm/Qwen2RotaryEmbedding with a DynamicCache, ' +
        'the same waves (each language chunk in one pass, latents one position per pass), boolean masks built with tensor ops, ' +
        'the latent step composed from torch ops, torch.optim.AdamW (two groups) and clip_grad_norm_; metrics read back once per step.',
      `Trainer settings: AdamW lr ${TRAIN.lr}, weight decay ${TRAIN.weightDecay} (matrices only), clip ${TRAIN.gradClip}, ` +
        `loss = LM + ${TRAIN.startLossWeight}·start BCE + ${TRAIN.stopLossWeight}·stop BCE.`,
      typeof check === 'string'
        ? `First-step check against PyTorch not run: ${check}.`
        : `First-step check: loss, start/stop losses, gradient norm and latent/token norms agree with PyTorch's to a relative ${check.worst.toExponential(1)} at most (table below).`,
      'On a machine shared with other work, use --threads 1 --clock cpu: multi-threaded steps then measure mostly waiting for cores.',
    ];
    const result = await runSuite(suite(cases, notes), argv);
    if (result) {
      console.log(`\n### training steps per second\n\n${stepsPerSecondTable(result)}`);
      if (typeof check !== 'string')
        console.log(
          `\n### first step, ours (relative difference to PyTorch)\n\n${check.table}\n\nlargest relative difference: ${check.worst.toExponential(2)}`,
        );
    }
  } finally {
    if (previous === undefined) delete process.env[FIXTURE_ENV];
    else process.env[FIXTURE_ENV] = previous;
    fs.rmSync(fixture, { recursive: true, force: true });
  }
}
