// The demo pipeline at its tiny size: every stage leaves its output, the exported phase-0 model is the
// phase-0 run's model, the report has every section, and the output directory rules hold.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as torch from '../../src/torch';
import { loadQwen2 } from '../../src/models/qwen2/loading';
import { loadSftRun } from '../../src/train/sft';
import { RunDir } from '../../src/train/run-dir';
import { runDemo, formatDemoResult, type DemoResult } from '../../src/demo/run';
import { loadPhase2 } from '../../src/demo/phase2';

describe('latent demo (tiny)', () => {
  let root: string;
  let out: string;
  let result: DemoResult;
  const lines: string[] = [];

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-demo-'));
    out = path.join(root, 'demo');
    result = await runDemo({ out, size: 'tiny', quiet: true, log: (l) => lines.push(l) });
  }, 300_000);
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const exists = (...parts: string[]) => fs.existsSync(path.join(out, ...parts));

  const RUNS = ['baseline-k0', 'markers-k0', 'pause-k2', 'full-k2', 'two-trunk-k2', 'planted-positive-k2', 'planted-null-k2'];

  test('every stage ran in order and left its output', () => {
    const stageLines = lines.filter((l) => /^\n\[\d+\/\d+\]/.test(l)).map((l) => l.trim());
    const total = 4 + 2 * RUNS.length + 2;
    expect(stageLines.length).toBe(total);
    expect(stageLines[0]).toMatch(new RegExp(`^\\[1/${total}\\] generate the arithmetic task`));
    expect(stageLines[total - 1]).toMatch(
      new RegExp(`^\\[${total}/${total}\\] write the report · \\d\\d:\\d\\d elapsed, about \\d\\d:\\d\\d left$`),
    );
    expect(result.timings.map((t) => t.id)).toEqual([
      'data',
      'model',
      'pretrain',
      'export',
      ...RUNS.flatMap((r) => [`train-${r}`, `eval-${r}`]),
      'rl',
      'report',
    ]);

    for (const f of ['train.jsonl', 'test.jsonl']) expect(exists('data', f)).toBe(true);
    expect(exists('tokenizer', 'tokenizer.json')).toBe(true);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
      expect(exists('init-model', f)).toBe(true);
      expect(exists('phase0-model', f)).toBe(true);
    }
    for (const run of ['pretrain', ...RUNS]) {
      const dir = new RunDir(path.join(out, 'runs', run));
      expect(dir.readJson('config.json')).not.toBeNull();
      expect(dir.readJsonl('metrics.jsonl').length).toBe(run === 'pretrain' ? 6 : 4);
      const splits = new Set(dir.readJsonl<{ split: string }>('evals.jsonl').map((e) => e.split));
      expect(splits).toEqual(new Set(['validation', 'test']));
      expect(fs.readdirSync(dir.path('checkpoints')).length).toBeGreaterThan(0);
      if (run !== 'pretrain') expect(dir.readJson('diagnostics.json')).not.toBeNull();
    }
    type Config = {
      mode: string;
      latents: number;
      steps: number;
      model: string;
      latentInput: string;
      markersAtZero: boolean;
      seed: number;
    };
    const configs = RUNS.map((r) => new RunDir(path.join(out, 'runs', r)).readJson<Config>('config.json')!);
    expect(configs.map((c) => [c.mode, c.latents, c.latentInput, c.markersAtZero])).toEqual([
      ['full', 0, 'affine', false],
      ['full', 0, 'affine', true],
      ['full', 2, 'pause', false],
      ['full', 2, 'affine', false],
      ['two-trunk', 2, 'affine', false],
      ['full', 2, 'planted-result', false],
      ['full', 2, 'zeros', false],
    ]);
    // compute-matched: one budget and seed, all from the exported phase-0 model
    expect(new Set(configs.map((c) => c.steps)).size).toBe(1);
    expect(new Set(configs.map((c) => c.seed)).size).toBe(1);
    for (const c of configs) expect(path.resolve(c.model)).toBe(path.join(out, 'phase0-model'));

    if (loadPhase2().available) {
      expect(result.phase2.skipped).toBeNull();
      const rl = new RunDir(path.join(out, 'runs', 'rl-k2'));
      expect(rl.readJsonl('metrics.jsonl').length).toBe(2);
      expect(rl.readJson('diagnostics.json')).not.toBeNull();
    } else {
      expect(result.phase2.skipped).toMatch(/phase 2/);
      expect(lines.some((l) => l.includes('skipped: '))).toBe(true);
    }

    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as DemoResult;
    expect(summary.runs.map((r) => r.name)).toEqual(RUNS);
    expect(summary.runs.map((r) => r.kind)).toEqual([
      'baseline',
      'markers',
      'pause',
      'latent',
      'latent',
      'planted-positive',
      'planted-null',
    ]);
    expect(summary.reportPath).toBe(path.join(out, 'report', 'report.html'));
    const verdicts = ['helps', 'used-but-no-help', 'ignored', 'hurts'];
    for (const r of summary.runs) {
      expect(Object.keys(r)).toEqual(
        expect.arrayContaining(['name', 'kind', 'mode', 'k', 'seed', 'verdict', 'helps', 'used', 'accuracy']),
      );
      expect(Number.isFinite(r.test.loss)).toBe(true);
      if (r.kind === 'baseline') {
        expect(r.verdict).toBeNull();
        continue;
      }
      expect(verdicts).toContain(r.verdict);
      // every run with spans is compared with a reference: the baseline, or two-trunk's frozen base
      expect(r.helps?.reference).toBe(r.mode === 'two-trunk' ? 'frozen base (phase0-model)' : 'baseline-k0');
      expect(r.helps!.ci[0]).toBeLessThanOrEqual(r.helps!.delta);
      expect(r.helps!.ci[1]).toBeGreaterThanOrEqual(r.helps!.delta);
      if (r.k > 0) expect(r.used).not.toBeNull();
      if (r.kind === 'planted-positive') expect(r.accuracy).toBeNull();
      else expect(r.accuracy?.n).toBe(2);
    }
    // the planted null feeds zeros: shuffling or averaging zeros changes nothing, exactly
    const nul = summary.runs.find((r) => r.kind === 'planted-null')!;
    expect(nul.used).toEqual({ delta: 0, ci: [0, 0] });
    expect(nul.verdict).toBe('ignored');
    // content beyond compute: the full-mode latent run against pause-as-thought
    expect(summary.runs.find((r) => r.name === 'full-k2')!.endpoints?.contentBeyondCompute?.pause).toBe('pause-k2');
    expect(summary.calibration).toMatchObject({ positive: { name: 'planted-positive-k2' }, null: { name: 'planted-null-k2' } });
    expect(typeof summary.calibration.passed).toBe('boolean');
    expect(summary.tasks.map((t) => t.name)).toEqual(['basic']);
    expect(summary.tasks[0].overlap.testCalculations).toBeGreaterThan(0);
    expect(summary.doseResponse.map((d) => d.k)).toEqual([0, 2]);
    const text = formatDemoResult(result);
    expect(text).toContain(`report: ${result.reportPath}`);
    expect(text).toMatch(/calibration (passed|FAILED): planted positive/);
  });

  test('the exported phase-0 model is the phase-0 run at its last checkpoint', async () => {
    const run = await loadSftRun(path.join(out, 'runs', 'pretrain'));
    const exported = loadQwen2(path.join(out, 'phase0-model'));
    try {
      expect(run.step).toBe(6);
      const saved = exported.model.stateDict();
      for (const [name, p] of run.lm.model.stateDict()) {
        const q = saved.get(name);
        expect(q?.shape).toEqual(p.shape);
        expect(torch.scope(() => p.eq(q!).all().item())).toBe(true);
      }
      // the tokenizer travels with it, <bot>/<eot> included
      expect(exported.tokenizer?.tokenToId('<bot>')).toBe(run.lm.botId);
      expect(result.pretrain.check.n).toBe(2);
      expect(Number.isFinite(result.pretrain.check.testLoss)).toBe(true);
      const evals = new RunDir(path.join(out, 'runs', 'pretrain')).readJsonl<{ split: string; accuracy?: number }>('evals.jsonl');
      expect(evals.at(-1)).toMatchObject({ split: 'test', accuracy: result.pretrain.check.accuracy });
    } finally {
      run.lm.dispose();
      exported.model.dispose();
    }
  });

  test('the report answers each question in its own section', () => {
    const html = fs.readFileSync(result.reportPath, 'utf8');
    for (const id of ['overview', 'curves', 'utilisation', 'decoded', 'norms', 'span-lengths', 'start-classifier'])
      expect(html).toContain(`<section id="${id}">`);
    if (!result.phase2.skipped) expect(html).toContain('<section id="rl">');
    for (const run of RUNS) expect(html).toContain(run);
    expect(html).toContain('Verdict:');
    // the overview opens with the verdict table
    const overview = html.slice(html.indexOf('<section id="overview">'));
    expect(overview.indexOf('verdict')).toBeLessThan(overview.indexOf('final train loss'));
    expect(html).toMatch(/phase 0 \(6 steps\): test loss \d+\.\d+, greedy accuracy/);
    expect(fs.readdirSync(path.join(out, 'report', 'plots')).filter((f) => f.endsWith('.svg')).length).toBeGreaterThan(5);
  });

  test('an earlier demo is replaced; any other non-empty directory is refused untouched', async () => {
    const foreign = path.join(root, 'foreign');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'notes.txt'), 'keep me');
    await expect(runDemo({ out: foreign, size: 'tiny', quiet: true, log: () => undefined })).rejects.toThrow(
      /is not empty and holds no demo\.json/,
    );
    expect(fs.readdirSync(foreign)).toEqual(['notes.txt']);

    fs.writeFileSync(path.join(out, 'runs', 'full-k2', 'stale.txt'), 'from before');
    const again = await runDemo({
      out,
      size: 'tiny',
      quiet: true,
      log: () => undefined,
      phase2: false,
      tokenizer: 'bpe',
      compare: true,
    });
    // the comparison stage: latent compare's runs under the phase-1 budget, so its two-trunk affine
    // shared-kv variant is the study's two-trunk run again, endpoint for endpoint
    expect(result.comparison).toBeNull();
    expect(again.comparison!.rows.map((r) => r.name)).toEqual([
      'baseline-k0',
      'two-trunk-raw-shared-kv-k2',
      'two-trunk-affine-shared-kv-k2',
      'two-trunk-gated-shared-kv-k2',
      'two-trunk-affine-reencode-k2',
    ]);
    const study = again.runs.find((r) => r.name === 'two-trunk-k2')!;
    const compared = again.comparison!.rows[2];
    expect(compared.helps).toEqual({ delta: study.helps!.delta, ci: study.helps!.ci });
    expect(compared.used).toEqual(study.used);
    expect(fs.readFileSync(again.comparison!.reportPath, 'utf8')).toContain('two-trunk-affine-reencode-k2');
    expect(formatDemoResult(again)).toContain('comparison report: ');
    expect(fs.existsSync(path.join(out, 'runs', 'full-k2', 'stale.txt'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'runs', 'rl-k2'))).toBe(false);
    expect(again.phase2.skipped).toMatch(/turned off/);
    expect(again.tokenizer.kind).toBe('trained-bpe');
    // metrics start afresh rather than appending to the earlier run's
    expect(new RunDir(path.join(out, 'runs', 'full-k2')).readJsonl('metrics.jsonl').length).toBe(4);
  }, 600_000);

  test('bad options are refused before anything is written', async () => {
    const dir = path.join(root, 'never');
    await expect(runDemo({ out: dir, size: 'tiny', seed: -1 })).rejects.toThrow(/--seed must be a non-negative integer/);
    await expect(runDemo({ out: dir, size: 'tiny', device: 'tpu' })).rejects.toThrow(/--device must be cpu, cuda or cuda:N/);
    await expect(runDemo({ out: dir, size: 'tiny', threads: 0 })).rejects.toThrow(/--threads must be a positive integer/);
    await expect(runDemo({ out: dir, size: 'huge' as never })).rejects.toThrow(/unknown size "huge"/);
    expect(fs.existsSync(dir)).toBe(false);
  });
});
