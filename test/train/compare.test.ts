// `latent compare`'s library: variant specs (parsing, names, one-line errors), the plan (the k = 0
// reference first, controls before variants), and a comparison of tiny runs: each variant an ordinary
// run directory with the study's endpoints, compare.json and compare.html, and a rerun that reuses
// finished variants instead of retraining them.
import '../helpers/one-thread';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  CompareError,
  parseVariant,
  parseVariants,
  planVariants,
  readComparison,
  runComparison,
  variantFromObject,
  type CompareBudget,
} from '../../src/train/compare';
import { writeComparisonReport } from '../../src/report/compare';
import { loadSftRun } from '../../src/train/sft';
import { haveQwenTokenizer as have, qwenDir, sftFixture } from '../helpers/sft-fixture';

describe('variant specs', () => {
  test('parts in any order, defaults filled in, names from the parts or given', () => {
    expect(parseVariant('full:affine:k2')).toEqual({
      name: 'full-affine-k2',
      mode: 'full',
      latentInput: 'affine',
      coupling: 'shared-kv',
      latents: 2,
      markersAtZero: false,
      freezeMarkers: false,
      latentSchedule: 'fixed',
    });
    const tt = parseVariant('k4:reencode:raw:two-trunk:digits:freeze-markers');
    expect(tt).toMatchObject({ name: 'two-trunk-raw-reencode-k4-freeze-markers-digits', coupling: 'reencode', latents: 4 });
    expect(parseVariant('mine=two-trunk:gated:k1').name).toBe('mine');
    expect(parseVariant('k0').name).toBe('baseline-k0');
    expect(parseVariant('full:k0:markers').name).toBe('full-k0-markers');
    expect(parseVariants(' full:pause:k2 , two-trunk:k2 ').map((v) => v.name)).toEqual([
      'full-pause-k2',
      'two-trunk-affine-shared-kv-k2',
    ]);
  });

  test('bad specs are refused in one line naming the spec and the part', () => {
    const cases: [string, RegExp][] = [
      ['full:afine:k2', /^variant "full:afine:k2": unknown part "afine" \(expected full\|two-trunk, an input form/],
      ['full:affine', /^variant "full:affine": no latent count \(add kN/],
      ['full:k2:k3', /two latent counts \(k2 and k3\)/],
      ['full:raw:gated:k2', /two input forms \(raw and gated\)/],
      ['full:reencode:k2', /the coupling reencode needs two-trunk/],
      ['full:markers:k2', /markers is the k = 0 control; it needs k0, got k2/],
      ['two-trunk:k0', /two-trunk with k0 is its frozen base/],
      ['full:raw:k0', /k0 has no latents, so the input form raw would do nothing/],
      ['a b=full:k2', /the name "a b" must be letters, digits/],
      ['full::k2', /empty part/],
      ['full:k999', /k999: at most 256 latents per span/],
    ];
    for (const [spec, message] of cases) {
      let error: Error | null = null;
      try {
        parseVariant(spec);
      } catch (e) {
        error = e as Error;
      }
      expect(error?.name).toBe('CompareError');
      expect(error?.message).toMatch(message);
      expect(error?.message.includes('\n')).toBe(false);
    }
    expect(() => parseVariants(' , ')).toThrow(/--variants: no variant/);
  });

  test('objects of a sweep file: the same fields, with where they were in the message', () => {
    expect(variantFromObject({ mode: 'two-trunk', latentInput: 'raw', coupling: 'reencode', latents: 2 }, 'v[0]')).toEqual(
      parseVariant('two-trunk:raw:reencode:k2'),
    );
    expect(variantFromObject({ name: 'p', latentInput: 'pause', latents: 3 }, 'v[1]').name).toBe('p');
    expect(() => variantFromObject({ latents: 2, kind: 'x' }, 'v[2]')).toThrow(/^v\[2\]: unknown field "kind"/);
    expect(() => variantFromObject({ latents: -1 }, 'v[3]')).toThrow(/^v\[3\]: latents must be a non-negative integer, got -1/);
    expect(() => variantFromObject({ mode: 'full', coupling: 'reencode', latents: 1 }, 'v[4]')).toThrow(
      /^v\[4\]: variant "full:reencode:k1": the coupling reencode needs two-trunk/,
    );
  });

  test('the plan: the k = 0 reference first (added when missing), then markers, pause, the rest as given', () => {
    const plan = planVariants(parseVariants('two-trunk:raw:k2,full:affine:k2,full:pause:k2,full:k0:markers'));
    expect(plan.map((v) => [v.name, v.role])).toEqual([
      ['baseline-k0', 'reference'],
      ['full-k0-markers', 'markers'],
      ['full-pause-k2', 'pause'],
      ['two-trunk-raw-shared-kv-k2', 'variant'],
      ['full-affine-k2', 'variant'],
    ]);
    expect(planVariants(parseVariants('ref=k0,full:k2')).map((v) => v.name)).toEqual(['ref', 'full-affine-k2']);
    expect(() => planVariants(parseVariants('a=full:k2,a=full:k3'))).toThrow(/two variants are named a/);
    expect(() => planVariants(parseVariants('full:k2,b=full:affine:k2'))).toThrow(/full-affine-k2 and b are the same interface/);
    expect(() => planVariants(parseVariants('baseline-k0=full:k2'))).toThrow(/baseline-k0 is the name of the k = 0 reference/);
  });
});

const maybe = have ? describe : describe.skip;
if (!have) console.log(`skipping comparison runs: no Qwen tokenizer at ${qwenDir}`);

maybe('a comparison of tiny runs', () => {
  let root: string;
  let budget: CompareBudget;
  const evaluation = { examples: 6, generate: 2, inspect: 2, maxNewTokens: 12, constantSteps: 2 };
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-compare-'));
    const fx = sftFixture(root);
    budget = {
      model: fx.model,
      data: fx.data,
      steps: 3,
      batchSize: 4,
      lr: 3e-3,
      minLr: 3e-4,
      warmupSteps: 1,
      evalEvery: 3,
      evalExamples: 4,
      validationSize: 8,
      saveEvery: 3,
      maxLatents: 3,
      startFitExamples: 16,
    };
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('every variant is a run directory with the endpoints; compare.json, compare.html; a rerun reuses them', async () => {
    const out = path.join(root, 'cmp');
    const variants = parseVariants('full:pause:k2,full:affine:k2,two-trunk:raw:reencode:k2');
    const lines: string[] = [];
    const c = await runComparison({ out, budget, variants, evaluation, quiet: true, log: (l) => lines.push(l) });
    expect(c.rows.map((r) => [r.name, r.role, r.training, r.evaluation])).toEqual([
      ['baseline-k0', 'reference', 'trained', 'evaluated'],
      ['full-pause-k2', 'pause', 'trained', 'evaluated'],
      ['full-affine-k2', 'variant', 'trained', 'evaluated'],
      ['two-trunk-raw-reencode-k2', 'variant', 'trained', 'evaluated'],
    ]);
    const [ref, pause, full, tt] = c.rows;
    expect(ref.verdict).toBeNull();
    // full fine-tuning against the k = 0 run, two-trunk against its frozen base; the pause control for full-affine-k2
    expect(pause.reference).toBe('baseline-k0');
    expect(full.reference).toBe('baseline-k0');
    expect(full.pause).toBe('full-pause-k2');
    expect(full.contentBeyondCompute).not.toBeNull();
    expect(tt.reference).toMatch(/^frozen base/);
    for (const r of [pause, full, tt]) {
      expect(r.verdict).toMatch(/^(helps|used-but-no-help|ignored|hurts)$/);
      expect(r.helps!.ci[0]).toBeLessThanOrEqual(r.helps!.delta);
      expect(r.helps!.ci[1]).toBeGreaterThanOrEqual(r.helps!.delta);
      expect(Number.isFinite(r.used!.delta)).toBe(true);
      expect(r.norms.latent).toBeGreaterThan(0);
      expect(r.steps).toBe(3);
      expect(r.accuracy!.n).toBe(2);
    }
    // the budget is shared, the interface is the variant's
    const run = await loadSftRun(tt.dir, { quiet: true });
    try {
      expect(run.config).toMatchObject({ mode: 'two-trunk', latentInput: 'raw', coupling: 'reencode', steps: 3, lr: 3e-3 });
      expect(run.lm.coupling).toBe('reencode');
    } finally {
      run.lm.dispose();
    }
    expect(readComparison(out)!.rows.map((r) => r.name)).toEqual(c.rows.map((r) => r.name));
    expect(lines.filter((l) => /: train \(3 steps\)$/.test(l))).toHaveLength(4);

    const report = await writeComparisonReport(c);
    const page = fs.readFileSync(report.htmlPath, 'utf8');
    for (const r of c.rows) expect(page).toContain(r.name);
    expect(page).toContain('helps Δ [95% CI]');
    expect(page).toContain('<svg');
    expect(fs.existsSync(report.runsReportPath)).toBe(true);

    // a rerun: nothing retrained, nothing re-evaluated, the same numbers
    const checkpoint = path.join(full.dir, 'checkpoints');
    const before = fs.readdirSync(checkpoint).map((f) => fs.statSync(path.join(checkpoint, f)).mtimeMs);
    const again = await runComparison({ out, budget, variants, evaluation, quiet: true, log: () => undefined });
    expect(again.rows.map((r) => [r.training, r.evaluation])).toEqual(c.rows.map(() => ['reused', 'reused']));
    expect(again.rows.map((r) => r.helps)).toEqual(c.rows.map((r) => r.helps));
    expect(fs.readdirSync(checkpoint).map((f) => fs.statSync(path.join(checkpoint, f)).mtimeMs)).toEqual(before);

    // other eval settings: re-evaluated, not retrained
    const evalAgain = await runComparison({
      out,
      budget,
      variants,
      evaluation: { ...evaluation, examples: 5 },
      quiet: true,
      log: () => undefined,
    });
    expect(evalAgain.rows.map((r) => [r.training, r.evaluation])).toEqual(c.rows.map(() => ['reused', 'evaluated']));
    expect(evalAgain.rows[2].test.examples).toBe(5);

    // another budget in the same directory is refused before anything runs
    await expect(runComparison({ out, budget: { ...budget, lr: 1e-3 }, variants, evaluation, quiet: true })).rejects.toThrow(
      /baseline-k0 holds a run trained with lr 0.003, this comparison asks for 0.001; use another --out/,
    );
  });

  test('an interrupted variant continues from its checkpoint on the next run', async () => {
    const out = path.join(root, 'resume');
    const variants = parseVariants('full:affine:k1');
    // a comparison stopped after its reference: the variant has a partial run (step 1 of 3)
    await runComparison({ out, budget, variants: [], evaluation, quiet: true, log: () => undefined }).catch(() => undefined);
    const { trainSft } = await import('../../src/train/sft');
    const { variantConfig } = await import('../../src/train/compare');
    await trainSft(variantConfig(out, { ...budget, saveEvery: 1 }, variants[0]), { quiet: true, stopAfter: 1 });
    const lines: string[] = [];
    const c = await runComparison({ out, budget, variants, evaluation, quiet: true, log: (l) => lines.push(l) });
    expect(c.rows.map((r) => [r.name, r.training])).toEqual([
      ['baseline-k0', 'reused'],
      ['full-affine-k1', 'resumed'],
    ]);
    expect(lines).toContain('compare [2/2] full-affine-k1: resume from step 1 (3 steps)');
    expect(c.rows[1].steps).toBe(3);
  });
});

test('CompareError is a named error', () => {
  expect(new CompareError('x').name).toBe('CompareError');
});
