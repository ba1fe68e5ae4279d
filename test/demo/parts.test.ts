// The demo's parts on their own: the fallback BPE tokenizer, the stage tracker's plan and ETA, the
// phase-2 loader, and the presets' sanity.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { generateArithProblems } from '../../src/data/arith-task';
import { parseGsm8kJsonl, formatTrainingText, toGsm8kJsonl } from '../../src/data';
import { Tokenizer } from '../../src/models/tokenizer';
import { trainByteLevelBpe, demoTokenizer, END_OF_TEXT } from '../../src/demo/tokenizer';
import { StageTracker } from '../../src/demo/stages';
import { loadPhase2, type Phase2Availability, type Phase2Modules } from '../../src/demo/phase2';
import { runPhase2, studyRunPlans, demoCalibration, demoAcrossSeeds, demoDoseResponse } from '../../src/demo/run';
import { evaluateRlRun } from '../../src/rl/evaluate';
import { resolveRlConfig, trainRl, type RlConfig } from '../../src/rl/trainer';
import { DEMO_PRESETS, DEMO_SIZES, withStudyOptions } from '../../src/demo/presets';
import { findPython, runPython } from '../helpers/python';

function taskTexts(count: number, seed: number): string[] {
  const problems = generateArithProblems(count, { seed, maxSteps: 2, maxDigits: 2 });
  return parseGsm8kJsonl(toGsm8kJsonl(problems)).examples.map((e) => formatTrainingText(e));
}

describe('trainByteLevelBpe', () => {
  const texts = taskTexts(300, 7);

  test('round-trips every text, keeps digits single, and learns words of the task', () => {
    const tok = trainByteLevelBpe(texts, { vocabSize: 600 });
    expect(tok.vocabSize).toBeLessThanOrEqual(600);
    expect(tok.vocabSize).toBeGreaterThan(300); // it learned merges
    for (const t of texts.slice(0, 50)) expect(tok.decode(tok.encode(t))).toBe(t);
    // text it never saw still survives (every byte has a symbol)
    const unseen = 'Zoë paid €12.50 — ok?\n#### 7';
    expect(tok.decode(tok.encode(unseen))).toBe(unseen);
    const pieces = tok.tokenize('she has 12 + 345 = 357 marbles');
    for (const p of pieces.filter((x) => /\d/.test(x))) expect(p.replace(/^Ġ/, '')).toMatch(/^\d$/);
    expect(pieces).toContain('Ġmarbles');
    // markers initialise from "=", which must be one token
    expect(tok.encode('=').length).toBe(1);
  });

  test('end of text is the eos and pad token; training is deterministic; limits are checked', () => {
    const a = trainByteLevelBpe(texts, { vocabSize: 400 });
    const b = trainByteLevelBpe([...texts], { vocabSize: 400 });
    expect(a.eosTokenId).toBe(a.tokenToId(END_OF_TEXT));
    expect(a.padTokenId).toBe(a.eosTokenId);
    expect(a.vocabSize).toBe(400);
    expect(a.encode(texts[3])).toEqual(b.encode(texts[3]));
    expect(() => trainByteLevelBpe(texts, { vocabSize: 200 })).toThrow(/vocabSize must be an integer ≥ 257/);
    // with a high minimum frequency it stops early
    expect(trainByteLevelBpe(texts, { vocabSize: 5000, minFrequency: 1000 }).vocabSize).toBeLessThan(
      trainByteLevelBpe(texts, { vocabSize: 5000 }).vocabSize,
    );
  });

  test('saves in a form Tokenizer.fromDir and Python transformers load with the same ids', () => {
    const tok = trainByteLevelBpe(texts, { vocabSize: 500 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-demo-bpe-'));
    try {
      tok.save(dir);
      const again = Tokenizer.fromDir(dir);
      const sample = texts[5];
      expect(again.encode(sample)).toEqual(tok.encode(sample));
      // Tokenizer.restrictTo accepts it (the demo restricts Qwen's; a trained one must be restrictable too)
      expect(() => again.restrictTo(texts.slice(0, 20), { keepTokens: [END_OF_TEXT] })).not.toThrow();
      if (!findPython()) {
        console.log('skipping the transformers check of the trained tokenizer: no Python (set LT_PYTHON)');
        return;
      }
      const py = runPython<{ ids: number[]; eos: number }>(
        'from transformers import AutoTokenizer\nt = AutoTokenizer.from_pretrained(INPUT["dir"])\nemit({"ids": t.encode(INPUT["text"]), "eos": t.eos_token_id})',
        { dir, text: sample },
      );
      expect(py.ids).toEqual(tok.encode(sample));
      expect(py.eos).toBe(tok.eosTokenId);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('demoTokenizer: "bpe" trains one; a directory without tokenizer.json is an error naming it', () => {
    const bpe = demoTokenizer(texts.slice(0, 50), 'bpe', 400);
    expect(bpe.kind).toBe('trained-bpe');
    expect(bpe.tokenizer.vocabSize).toBeLessThanOrEqual(400);
    expect(() => demoTokenizer(texts, { dir: os.tmpdir() }, 400)).toThrow(new RegExp(`${os.tmpdir()} has no tokenizer.json`));
  });
});

describe('StageTracker', () => {
  const plan = [
    { id: 'a', title: 'first', expectedSeconds: 10 },
    { id: 'b', title: 'second', expectedSeconds: 20 },
    { id: 'c', title: 'third', expectedSeconds: 30 },
  ];

  test('prints a numbered line per stage and enforces the planned order', () => {
    const lines: string[] = [];
    const t = new StageTracker(plan, (l) => lines.push(l));
    expect(() => t.begin('b')).toThrow(/expected stage "a", got "b"/);
    t.begin('a');
    expect(() => t.begin('b')).toThrow(/"a" is still running/);
    t.end('ok');
    t.begin('b');
    t.skip('not today');
    t.begin('c');
    // CPU spent in the stage is counted in its timing (process.cpuUsage), beside its wall seconds
    const cpuStart = process.cpuUsage();
    let x = 0;
    while (process.cpuUsage(cpuStart).user < 20_000) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    t.end();
    expect(() => t.end()).toThrow(/no stage is running/);
    expect(t.timings[2].cpuSeconds).toBeGreaterThanOrEqual(0.02);
    for (const timing of t.timings) expect(Number.isFinite(timing.cpuSeconds) && timing.cpuSeconds >= 0).toBe(true);
    expect(lines.filter((l) => /^\n\[\d\/3\] /.test(l)).map((l) => l.trim().slice(0, 5))).toEqual(['[1/3]', '[2/3]', '[3/3]']);
    expect(lines.some((l) => l.includes('skipped: not today'))).toBe(true);
    expect(t.timings.map((x) => [x.id, x.skipped ?? null])).toEqual([
      ['a', null],
      ['b', 'not today'],
      ['c', null],
    ]);
    expect(() => new StageTracker([plan[0], plan[0]], () => undefined)).toThrow(/planned twice/);
  });

  test('the estimate of time left scales with the pace of finished stages (with a prior of a tenth of the plan)', () => {
    const t = new StageTracker(plan, () => undefined);
    expect(t.remaining()).toBeCloseTo(60, 0);
    const realNow = Date.now;
    let now = realNow();
    Date.now = () => now;
    try {
      t.begin('a');
      now += 20_000; // twice as slow as expected
      t.end();
      const pace = (20 + 6) / (10 + 6);
      expect(t.pace()).toBeCloseTo(pace, 6);
      expect(t.remaining()).toBeCloseTo(pace * (20 + 30), 0);
      t.begin('b');
      now += 10_000;
      expect(t.remaining()).toBeCloseTo(pace * 20 - 10 + pace * 30, 0);
      now += 100_000; // overran: nothing left of it, the rest as planned
      expect(t.remaining()).toBeCloseTo(pace * 30, 0);
    } finally {
      Date.now = realNow;
    }
  });
});

describe('phase 2 loading', () => {
  const preset = DEMO_PRESETS.tiny;
  const plan = {
    from: '/nonexistent',
    data: '/nonexistent',
    out: '/nonexistent',
    preset,
    device: 'cpu',
    seed: 0,
    quiet: true,
    log: () => undefined,
  };

  test('turned off or unavailable: skipped with the reason, nothing run', async () => {
    expect(await runPhase2(false, loadPhase2, plan)).toEqual({ dir: null, skipped: 'phase 2 turned off (--no-phase2)' });
    expect(await runPhase2(true, () => ({ available: false, reason: 'no src/rl here' }), plan)).toEqual({
      dir: null,
      skipped: 'no src/rl here',
    });
  });

  test('a failing phase 2 is logged and reported as skipped (the demo still writes its report); an interruption propagates', async () => {
    const logged: string[] = [];
    const configs: unknown[] = [];
    const modules = (trainRl: Phase2Modules['trainRl']): Phase2Availability => ({
      available: true,
      modules: {
        resolveRlConfig: (c) => (configs.push(c), c as RlConfig), // only the fields the demo set are read back
        trainRl,
        evaluateRlRun: async () => ({ accuracy: { withLatents: 0.5, withoutLatents: 0.25, n: 4 }, spansPerAnswer: 1 }),
      },
    });
    const failed = await runPhase2(
      true,
      () =>
        modules(async () => {
          throw new Error('rollout buffer exploded\nsecond line');
        }),
      { ...plan, log: (l) => logged.push(l) },
    );
    expect(failed).toEqual({ dir: null, skipped: 'phase 2 failed: rollout buffer exploded' });
    expect(logged.join('\n')).toContain('phase 2 failed: rollout buffer exploded');
    // the preset's phase-2 budget reaches the trainer's config
    expect(configs[0]).toMatchObject({
      from: '/nonexistent',
      steps: preset.rl.steps,
      questionsPerStep: preset.rl.prompts,
      group: preset.rl.groupSize,
      lr: preset.rl.lr,
    });

    await expect(
      runPhase2(true, () => modules(async () => ({ steps: 1, finalReward: 0, stopped: 'interrupted', out: '/x' })), plan),
    ).rejects.toThrow(/phase 2 was interrupted at step 1/);
    const ok = await runPhase2(
      true,
      () => modules(async () => ({ steps: 2, finalReward: 0.5, stopped: 'completed', out: '/x' })),
      plan,
    );
    expect(ok).toEqual({
      dir: '/x',
      skipped: null,
      steps: 2,
      finalReward: 0.5,
      accuracy: { withLatents: 0.5, withoutLatents: 0.25, n: 4 },
    });
  });

  test('the real loader hands over the RL trainer and evaluation', () => {
    const found = loadPhase2();
    if (!found.available) throw new Error(found.reason);
    expect(found.modules.resolveRlConfig).toBe(resolveRlConfig);
    expect(found.modules.trainRl).toBe(trainRl);
    expect(found.modules.evaluateRlRun).toBe(evaluateRlRun);
  });
});

test('presets: every size is complete and phase 1 runs get one shared budget', () => {
  for (const size of DEMO_SIZES) {
    const p = DEMO_PRESETS[size];
    expect(p.size).toBe(size);
    expect(p.latents).toBeGreaterThan(0);
    expect(p.data.test).toBeGreaterThanOrEqual(p.evaluation.generate);
    expect(p.model.hidden % p.model.heads).toBe(0);
    expect(p.model.heads % p.model.kvHeads).toBe(0);
    for (const kind of ['data', 'model', 'pretrain', 'export', 'latent', 'baseline', 'eval', 'rl', 'report'] as const)
      expect(p.expectedSeconds[kind]).toBeGreaterThan(0);
  }
});

describe('the study plan and its summaries', () => {
  test('quick: references first, every run compute-matched to the baseline; default: 3 seeds, sweep, markers, chained', () => {
    const quick = studyRunPlans(DEMO_PRESETS.quick);
    expect(quick.map((r) => r.name)).toEqual([
      'baseline-k0',
      'pause-k2',
      'full-k2',
      'two-trunk-k2',
      'planted-positive-k2',
      'planted-null-k2',
    ]);
    expect(quick.find((r) => r.name === 'full-k2')).toMatchObject({ reference: 'baseline-k0', pause: 'pause-k2' });
    expect(quick.find((r) => r.name === 'two-trunk-k2')?.reference).toBeNull(); // its frozen base
    const full = studyRunPlans(DEMO_PRESETS.full);
    expect(full.length).toBe(3 * 9 + 3 * 3);
    expect(new Set(full.map((r) => r.seed))).toEqual(new Set([0, 1, 2]));
    expect(
      full
        .filter((r) => r.kind === 'latent' && r.mode === 'full' && r.task === 'basic' && r.seed === 0)
        .map((r) => r.latents)
        .sort(),
    ).toEqual([1, 2, 4]);
    expect(full.filter((r) => r.task === 'chained' && r.seed === 1).map((r) => r.name)).toEqual([
      'chained-baseline-k0-s1',
      'chained-pause-k2-s1',
      'chained-full-k2-s1',
    ]);
    // every reference and pause control is planned before the runs that need it
    full.forEach((r, i) => {
      for (const dep of [r.reference, r.pause]) if (dep) expect(full.findIndex((x) => x.name === dep)).toBeLessThan(i);
    });
    const chainedOnly = studyRunPlans(withStudyOptions(DEMO_PRESETS.quick, { task: 'chained', seeds: [3] }));
    expect(chainedOnly.every((r) => r.task === 'chained' && r.seed === 3)).toBe(true);
    expect(() => withStudyOptions(DEMO_PRESETS.quick, { seeds: [-1] })).toThrow(/--seeds must be non-negative integers/);
  });

  test('calibration, the spread across seeds and the dose-response from run summaries', () => {
    const run = (
      name: string,
      kind: string,
      seed: number,
      k: number,
      verdict: string | null,
      helps: number,
      used: number | null,
      acc: number,
    ) =>
      ({
        name,
        kind,
        seed,
        k,
        task: 'basic',
        mode: 'full',
        verdict,
        helps: { delta: helps, ci: [helps - 0.1, helps + 0.1], reference: 'b' },
        used: used === null ? null : { delta: used, ci: used === 0 ? [0, 0] : [used - 0.1, used + 0.1] },
        accuracy: { withLatents: acc, withoutLatents: acc, n: 10 },
        test: { resultLoss: 1 - helps },
      }) as never;
    const runs = [0, 1].flatMap((s) => [
      run(`baseline-k0-s${s}`, 'baseline', s, 0, null, 0, null, 0.5),
      run(`full-k2-s${s}`, 'latent', s, 2, 'ignored', -0.1 - 0.1 * s, 0, 0.4 + 0.1 * s),
      run(`planted-positive-k2-s${s}`, 'planted-positive', s, 2, 'helps', 1, 3, 0),
      run(`planted-null-k2-s${s}`, 'planted-null', s, 2, s === 0 ? 'ignored' : 'hurts', -0.2, 0, 0.3),
    ]);
    const c = demoCalibration(runs);
    expect(c.seeds).toEqual([
      { seed: 0, passed: true },
      { seed: 1, passed: false },
    ]);
    expect(c.passed).toBe(false);
    const full = demoAcrossSeeds(runs).find((g) => g.name === 'full-k2')!;
    expect(full.seeds).toEqual([0, 1]);
    expect(full.helps!.mean).toBeCloseTo(-0.15, 12);
    expect(full.helps!.sd).toBeCloseTo(Math.SQRT1_2 * 0.1, 12);
    expect(full.accuracy).toMatchObject({ min: 0.4, max: 0.5, n: 2 });
    expect(demoDoseResponse(runs).map((d) => [d.k, d.accuracy])).toEqual([
      [0, 0.5],
      [2, 0.45],
    ]);
  });
});
