// Phase-1 training (trainSft) over two ranks under `latent launch`: the same weights as one process on
// the same global batches (full fine-tuning and two-trunk), only rank 0 writing the run directory, and
// resuming a one-process run with two processes.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RunDir } from '../../src/train/run-dir';
import { maxAbs, maxAbsDifference } from '../helpers/differences';
import { killAll, NODE_TS, REPO, runRanks, startLaunch, WORKER, type Finished } from './spawn';

const qwenDir = process.env.QWEN_TOKENIZER_DIR ?? path.resolve(REPO, '..', 'shared', 'qwen-tokenizer');
const have = fs.existsSync(path.join(qwenDir, 'tokenizer.json'));
if (!have) console.log(`skipping distributed SFT tests: no Qwen tokenizer at ${qwenDir} (set QWEN_TOKENIZER_DIR)`);
const maybe = have ? describe : describe.skip;

afterEach(killAll);

type Weights = Record<string, number[]>;

maybe('data-parallel phase 1', () => {
  let root: string;
  let fx: { data: string; model: string };
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-ddp-sft-'));
    // built in a child: this process then loads neither libtorch nor the tokenizer
    const [built] = await runRanks(1, 'fixture', [root, qwenDir], { env: { WORLD_SIZE: '' } });
    if (built.code !== 0) throw new Error(`building the fixture failed:\n${built.stderr}`);
    fx = built.result;
  }, 60_000);
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  // The start classifier's positive weight is a statistic of each forward wave (src/latent/forward.ts),
  // so its loss depends on how a batch is split; the other terms are exact per-item means. Weight 0
  // keeps the comparison exact; the classifier itself is covered by the single-process tests.
  const config = (out: string, over: Record<string, unknown> = {}) => ({
    model: fx.model,
    data: fx.data,
    latents: 2,
    steps: 6,
    batchSize: 5,
    lr: 3e-3,
    minLr: 3e-4,
    warmupSteps: 2,
    evalEvery: 6,
    evalExamples: 4,
    saveEvery: 100,
    validationSize: 8,
    startLossWeight: 0,
    out: path.join(root, out),
    ...over,
  });
  const args = (name: string, spec: Record<string, unknown>) => [path.join(root, `${name}.json`), JSON.stringify(spec)];
  const weights = (name: string, rank = 0): Weights =>
    JSON.parse(fs.readFileSync(path.join(root, `${name}.json.rank${rank}`), 'utf8')).weights;
  const ok = (f: Finished) => {
    if (f.code !== 0)
      throw new Error(`exit ${f.code ?? f.signal}\nstdout:\n${f.stdout.slice(-3000)}\nstderr:\n${f.stderr.slice(-3000)}`);
  };
  const single = async (name: string, spec: Record<string, unknown>) =>
    ok((await runRanks(1, 'sft', args(name, spec), { env: { WORLD_SIZE: '' } }))[0]);
  const twoRanks = async (name: string, spec: Record<string, unknown>) =>
    ok(
      await startLaunch(['--nproc', '2', '--timeout', '60'], [...NODE_TS, WORKER, 'sft', ...args(name, spec)], {
        deadlineMs: 60_000,
      }).done,
    );

  // `tolerance` is relative to each tensor's scale, max(1, max |b|). The start head is refitted after
  // training by Newton's method on nearly separable features (src/latent/start-fit.ts); its bias ends
  // near -16, where float32's spacing is 2e-6, and the fit amplifies the ranks' 1e-8 differences in
  // the features (the all-reduce sums gradients in another order) to a few ulps of that bias.
  function expectSameWeights(a: Weights, b: Weights, tolerance: number): void {
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    let worst = { name: '', relative: 0 };
    for (const name of Object.keys(a)) {
      const relative = maxAbsDifference(a[name], b[name]) / Math.max(1, maxAbs(b[name])); // NaN: Infinity
      if (relative > worst.relative) worst = { name, relative };
    }
    expect(worst.relative <= tolerance ? 'ok' : `${worst.name} differs by ${worst.relative} of its scale`).toBe('ok');
  }

  test('full fine-tuning: two ranks train the weights one process does; only rank 0 writes', async () => {
    await single('full-1', { config: config('full-1', { mode: 'full' }) });
    await twoRanks('full-2', { config: config('full-2', { mode: 'full' }) });
    expectSameWeights(weights('full-2', 0), weights('full-2', 1), 0); // bit-identical ranks
    expectSameWeights(weights('full-2', 0), weights('full-1'), 1e-5);
    const one = new RunDir(path.join(root, 'full-1'));
    const two = new RunDir(path.join(root, 'full-2'));
    const metrics = two.readJsonl<{ step: number; loss: number }>('metrics.jsonl');
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]); // once, by rank 0
    one.readJsonl<{ loss: number }>('metrics.jsonl').forEach((m, i) => expect(metrics[i].loss).toBeCloseTo(m.loss, 4)); // the global batch's loss
    expect(two.readJsonl<{ split: string }>('evals.jsonl').map((e) => e.split)).toEqual(['validation', 'test']);
    const saved = fs.readdirSync(two.path('checkpoints'));
    expect(saved).toHaveLength(1); // rank 0's final checkpoint, nothing from rank 1
    expect(saved[0]).toMatch(/^step-0*6$/);
  }, 90_000);

  test('two-trunk: the same, with the language trunk frozen', async () => {
    const spec = (out: string) => ({ config: config(out, { mode: 'two-trunk', steps: 4, evalEvery: 100 }) });
    await Promise.all([single('two-1', spec('two-1')), twoRanks('two-2', spec('two-2'))]);
    expectSameWeights(weights('two-2', 0), weights('two-2', 1), 0);
    expectSameWeights(weights('two-2', 0), weights('two-1'), 1e-5);
  }, 90_000);

  test('a one-process run resumes on two processes and ends where an uninterrupted run does', async () => {
    // full-1 ran 6 steps in one go (in the first test; again here when run alone)
    if (!fs.existsSync(path.join(root, 'full-1.json.rank0')))
      await single('full-1', { config: config('full-1', { mode: 'full' }) });
    const spec = { config: config('resumed', { mode: 'full' }) };
    await single('resumed-a', { ...spec, stopAfter: 3 });
    await twoRanks('resumed', { ...spec, resume: true });
    expectSameWeights(weights('resumed', 0), weights('full-1'), 1e-5);
    expect(new RunDir(path.join(root, 'resumed')).readJsonl<{ step: number }>('metrics.jsonl').map((m) => m.step)).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
  }, 90_000);
});
