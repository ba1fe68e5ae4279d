// Phase 2 end to end on a task with a known reward ("which is larger, a or b?", fixture.ts): rollouts
// against phase-1 generation, the reward rising under GRPO, two-trunk training, exact resume,
// `latent eval` for RL runs, the report, and the CLI.
import '../helpers/one-thread';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import yargs from 'yargs';
import * as torch from '../../src/torch';
import { loadQwen2 } from '../../src/models/qwen2/loading';
import { RunDir } from '../../src/train/run-dir';
import { METRIC_FIELDS } from '../../src/train/run-files';
import { openRlPolicy, resolveRlConfig, trainRl, type RlConfig } from '../../src/rl/trainer';
import { evaluateRlRun, formatRlDiagnostics } from '../../src/rl/evaluate';
import { writeReport } from '../../src/report/run';
import { command as trainCommand } from '../../src/cli/commands/train';
import { expectGreedyRolloutsMatchGeneration } from '../helpers/rl-greedy';
import { haveQwenTokenizer, makeRlFixture, QWEN_TOKENIZER_DIR, type RlFixture } from './fixture';

if (!haveQwenTokenizer) console.log(`skipping RL training tests: no Qwen tokenizer at ${QWEN_TOKENIZER_DIR}`);
const maybe = haveQwenTokenizer ? describe : describe.skip;

type Metric = Record<string, number>;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

maybe('phase 2 (GRPO) on the larger-number task', () => {
  let root: string;
  let fx: RlFixture;
  let riseRun: string;
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-rl-'));
    fx = await makeRlFixture(root, { sftSteps: 200, twoTrunkSteps: 4 });
  });
  afterAll(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  const config = (over: Partial<RlConfig> & { out: string }): RlConfig =>
    resolveRlConfig({
      from: fx.phase1.full,
      data: fx.data,
      steps: 4,
      questionsPerStep: 4,
      group: 8,
      lr: 3e-3,
      maxNewTokens: 8,
      microBatchSize: 32,
      evalEvery: 1000,
      evalExamples: 0,
      saveEvery: 1000,
      sampleEvery: 10,
      samplesPerStep: 2,
      ...over,
      out: path.join(root, over.out),
    });

  test('greedy rollouts of the phase-1 policy are what phase-1 generation produces (full and two-trunk)', async () => {
    for (const from of [fx.phase1.full, fx.phase1['two-trunk']]) {
      const c = config({ from, out: 'unused' });
      const p = await openRlPolicy(c);
      try {
        // the calibrated start offset makes "probability > 1/2" the phase-1 threshold
        expectGreedyRolloutsMatchGeneration(p, c, { count: 6, startThreshold: p.lm.heads.startThreshold, markedText: true });
      } finally {
        p.lm.dispose();
      }
    }
  });

  test('the reward rises within 100 steps (full mode, KL to the phase-1 policy)', async () => {
    const started = Date.now();
    const s = await trainRl(config({ out: 'rise', steps: 100, klCoef: 0.004, evalEvery: 100, evalExamples: 10, saveEvery: 50 }), {
      quiet: true,
    });
    riseRun = s.out;
    expect(s.stopped).toBe('completed');
    const dir = new RunDir(s.out);
    const metrics = dir.readJsonl<Metric>('metrics.jsonl');
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    // the line holds the GRPO step's fields (kl and entropy too: this run has a reference), none of phase 1's, and every one
    // written is a finite number (latentsPerSpan only once a span has opened)
    const written = METRIC_FIELDS.filter((f) => f in metrics[0]);
    const grpoFields = 'lr reward rewardStd accuracy kl clipFraction entropy spansPerAnswer tokensPerAnswer loss gradNorm';
    expect(written).toEqual(expect.arrayContaining(grpoFields.split(' ')));
    expect(written).not.toContain('startLoss');
    for (const f of written.filter((f) => f !== 'latentsPerSpan')) expect(Number.isFinite(metrics[0][f])).toBe(true);
    // at the first step the policy is the reference: the KL estimate is 0 up to rounding
    expect(Math.abs(metrics[0].kl)).toBeLessThan(1e-5);
    const rewards = metrics.map((m) => m.reward);
    const first = mean(rewards.slice(0, 20));
    const last = mean(rewards.slice(-20));
    console.log(
      `reward: first 20 steps ${first.toFixed(3)}, last 20 steps ${last.toFixed(3)} (${((Date.now() - started) / 1000).toFixed(1)} s for 100 steps)`,
    );
    expect(last).toBeGreaterThan(first + 0.15);
    // samples: rollouts with their spans as highlighted markers
    const samples = dir.readJsonl<{ step: number; text: string; spans: [number, number][]; reward: number; question: string }>(
      'samples.jsonl',
    );
    expect(samples.length).toBe(2 * 11);
    expect(samples.some((x) => x.spans.length > 0)).toBe(true);
    for (const x of samples) for (const [a, b] of x.spans) expect(x.text.slice(a, b)).toMatch(/^⟨\d+ latents?⟩$/);
    const evals = dir.readJsonl<{ step: number; split: string; accuracy: number }>('evals.jsonl');
    expect(evals).toHaveLength(1);
    expect(evals[0]).toMatchObject({ step: 100, split: 'test' });
    expect(fs.readdirSync(path.join(s.out, 'checkpoints')).filter((d) => d.startsWith('step-'))).toEqual([
      'step-00000050',
      'step-00000100',
    ]);
    expect(dir.readJson<RlConfig>('config.json')).toMatchObject({
      kind: 'rl',
      mode: 'full',
      maxLatents: 3,
      fromCheckpoint: expect.stringContaining('step-00000200'),
    });
  }, 900_000); // 100 GRPO steps: about a minute on an idle 2-core machine, several when it is shared

  test('two-trunk: the language trunk stays bit-identical; the latent copy and the heads learn (recurrent latent gradient)', async () => {
    const original = loadQwen2(path.join(fx.model), { tokenizer: false });
    // The phase-1 two-trunk model is barely trained (no answer is right yet): a cost per latent makes the
    // rewards of a group differ, so that there is something to learn.
    const c = config({
      from: fx.phase1['two-trunk'],
      out: 'two',
      steps: 3,
      latentGrad: 'recurrent',
      klCoef: 0.004,
      latentCost: 0.1,
    });
    const before = await openRlPolicy(c);
    const decoderBefore = new Map([...before.lm.latentDecoder!.stateDict()].map(([k, v]) => [k, torch.keep(v.clone())]));
    const gainBefore = torch.keep(before.lm.heads.gain.clone());
    before.lm.dispose();
    const s = await trainRl(c, { quiet: true, keepModel: true });
    const lm = s.lm!;
    try {
      expect(s.stopped).toBe('completed');
      const base = original.model.stateDict();
      for (const [name, p] of lm.model.stateDict()) {
        const b = base.get(name)!;
        if (b.shape[0] !== p.shape[0]) continue; // the embedding grew by <bot>/<eot>
        expect(torch.scope(() => p.eq(b).all().item())).toBeTruthy();
        expect(p.grad).toBeNull();
      }
      const moved = [...lm.latentDecoder!.stateDict()].filter(
        ([k, v]) => torch.scope(() => v.sub(decoderBefore.get(k)!).abs().max().item()) > 0,
      );
      expect(moved.length).toBeGreaterThan(0);
      expect(torch.scope(() => lm.heads.gain.sub(gainBefore).abs().max().item())).toBeGreaterThan(0);
    } finally {
      lm.dispose();
      original.model.dispose();
      for (const t of decoderBefore.values()) t.dispose();
      gainBefore.dispose();
    }
  });

  test('resume continues exactly: metrics equal those of an uninterrupted run', async () => {
    const whole = await trainRl(config({ out: 'whole', steps: 6, saveEvery: 3, klCoef: 0.004 }), { quiet: true });
    const first = await trainRl(config({ out: 'split', steps: 6, saveEvery: 3, klCoef: 0.004 }), { quiet: true, stopAfter: 3 });
    expect(first.stopped).toBe('interrupted');
    const second = await trainRl(config({ out: 'split', steps: 6, saveEvery: 3, klCoef: 0.004 }), { quiet: true, resume: true });
    expect(second.steps).toBe(6);
    const a = new RunDir(whole.out).readJsonl<Metric>('metrics.jsonl');
    const b = new RunDir(second.out).readJsonl<Metric>('metrics.jsonl');
    expect(b.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (let i = 0; i < 6; i++)
      for (const f of ['reward', 'loss', 'gradNorm', 'kl', 'tokensPerAnswer']) expect(b[i][f]).toBe(a[i][f]);
    // a fresh run does not silently mix with the checkpoints of an earlier one
    await expect(trainRl(config({ out: 'whole', steps: 6 }), { quiet: true })).rejects.toThrow(/already holds a run .*--resume/);
  });

  test('latent eval of an RL run: greedy and pass@k accuracy with and without latents; the report shows rollouts', async () => {
    const d = await evaluateRlRun(riseRun, { examples: 10, passK: 4, quiet: true });
    expect(d.step).toBe(100);
    for (const v of [d.accuracy.withLatents, d.accuracy.withoutLatents, d.passAtK!.withLatents, d.passAtK!.withoutLatents])
      expect(v).toBeGreaterThanOrEqual(0);
    expect(d.passAtK!.withLatents).toBeLessThanOrEqual(1);
    expect(d.accuracy.n).toBe(10);
    expect(d.samples.length).toBe(8);
    expect(formatRlDiagnostics(d)).toMatch(/greedy accuracy \(10 test questions\)/);
    const dir = new RunDir(riseRun);
    expect(dir.readJson<{ kind: string }>('diagnostics.json')!.kind).toBe('rl');
    expect(dir.readJsonl<{ step: number; split: string; passAtK?: number }>('evals.jsonl').at(-1)).toMatchObject({
      step: 100,
      split: 'test',
      passAtK: d.passAtK!.withLatents,
    });
    await writeReport([riseRun], { out: riseRun });
    const html = fs.readFileSync(path.join(riseRun, 'report.html'), 'utf8');
    expect(html).toContain('Reinforcement learning');
    expect(html).toContain('Sample rollouts');
    expect(html).toContain('<mark class="latent">');
  });

  test('`latent train rl` maps its options onto the config and trains', async () => {
    const out = path.join(root, 'cli');
    const args = [
      'train',
      'rl',
      '--from',
      fx.phase1.full,
      '--data',
      fx.data,
      '--out',
      out,
      '--steps',
      '2',
      '--group',
      '4',
      '--questions',
      '2',
      '--kl',
      '0',
      '--clip',
      '0.3',
      '--epochs',
      '1',
      '--lr',
      '1e-3',
      '--max-new-tokens',
      '6',
      '--latent-grad',
      'recurrent',
      '--no-scale-rewards',
      '--loss-aggregation',
      'token',
      '--eval-examples',
      '0',
      '--micro-batch',
      '3',
    ];
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await yargs(args).command(trainCommand).strict().parseAsync();
    } finally {
      log.mockRestore();
    }
    const c = new RunDir(out).readJson<RlConfig>('config.json')!;
    expect(c).toMatchObject({
      kind: 'rl',
      steps: 2,
      group: 4,
      questionsPerStep: 2,
      klCoef: 0,
      clipEpsilon: 0.3,
      updateEpochs: 1,
      lr: 1e-3,
      maxNewTokens: 6,
      latentGrad: 'recurrent',
      scaleRewards: false,
      lossAggregation: 'token',
      microBatchSize: 3,
    });
    expect(new RunDir(out).readJsonl('metrics.jsonl')).toHaveLength(2);
    await expect(
      yargs(['train', 'rl', '--data', fx.data, '--out', out]).command(trainCommand).fail(false).parseAsync(),
    ).rejects.toThrow(/--from is required/);
  });

  test('configuration errors name the field', () => {
    expect(() => config({ out: 'x', group: 1 })).toThrow(/group must be an integer >= 2, got 1/);
    expect(() => config({ out: 'x', latentGrad: 'both' as never })).toThrow(/latentGrad must be one of stored, recurrent/);
    expect(() => config({ out: 'x', temperature: 0 })).toThrow(/temperature must be a number in \(0, 100\], got 0/);
    expect(() => config({ out: 'x', clipEpsilon: 1.5 })).toThrow(/clipEpsilon/);
  });
});
