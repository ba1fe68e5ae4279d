// The study's statistics and verdict: synthetic endpoints with known answers, the exact McNemar
// test against an independent computation in Python, paired bootstrap intervals, calibration.
import {
  acrossSeeds,
  calibrate,
  mcnemarExactP,
  pairedAccuracy,
  pairedLossDelta,
  studyVerdict,
  type Endpoint,
} from '../../src/latent/study';
import { findPython, runPython } from '../helpers/python';

const e = (delta: number, lo: number, hi: number): Endpoint => ({ delta, ci: [lo, hi] });

describe('studyVerdict', () => {
  test.each<[string, Endpoint | null, Endpoint | null, string]>([
    ['content used, beats the reference', e(0.2, 0.1, 0.3), e(0.5, 0.4, 0.6), 'helps'],
    ['content used, no better than the reference', e(0.01, -0.02, 0.04), e(0.5, 0.4, 0.6), 'used-but-no-help'],
    ['content used, worse than the reference', e(-0.3, -0.4, -0.2), e(0.5, 0.4, 0.6), 'hurts'],
    [
      'content not used, worse than the reference: the spans cost, not the latents',
      e(-0.3, -0.4, -0.2),
      e(0, -0.01, 0.01),
      'ignored',
    ],
    ['content not used, no difference', e(0.01, -0.02, 0.04), e(0, -0.01, 0.01), 'ignored'],
    ['spans help without their content (compute)', e(0.2, 0.1, 0.3), e(0, -0.01, 0.01), 'ignored'],
    ['shuffling lowers the loss: not used', e(0.2, 0.1, 0.3), e(-0.2, -0.3, -0.1), 'ignored'],
    ['CI touching 0 from above is not "excludes 0"', e(0.2, 0.1, 0.3), e(0.1, 0, 0.2), 'ignored'],
    ['no reference: cannot help', null, e(0.5, 0.4, 0.6), 'used-but-no-help'],
    ['no ablation: not shown to be used', e(0.2, 0.1, 0.3), null, 'ignored'],
  ])('%s', (_name, helps, used, expected) => {
    const v = studyVerdict(helps, used);
    expect(v.verdict).toBe(expected);
    expect(v.reasons.length).toBe(3);
  });

  test('the reasons carry the numbers', () => {
    const v = studyVerdict(e(0.25, 0.125, 0.375), e(0.5, 0.4, 0.6));
    expect(v.reasons[0]).toContain('Δ 0.2500 [0.1250, 0.3750]');
    expect(v.reasons[2]).toMatch(/content is used and the run beats its reference/);
    expect(studyVerdict(e(0.2, 0.1, 0.3), e(0, -0.01, 0.01)).reasons[2]).toMatch(/spans help, but not through their content/);
    expect(studyVerdict(e(-0.2, -0.3, -0.1), e(0, -0.01, 0.01)).reasons[2]).toMatch(
      /spans cost loss, but not through their content/,
    );
  });
});

describe('pairedLossDelta', () => {
  const base = Array.from({ length: 40 }, (_, i) => ({ sum: 2 + (i % 5) * 0.1, count: 2 }));
  test('minuend − subtrahend, token-weighted, CI around it', () => {
    const worse = base.map((x) => ({ sum: x.sum + 1, count: 2 })); // +0.5 per token
    const d = pairedLossDelta(worse, base, { resamples: 400 });
    expect(d.delta).toBeCloseTo(0.5, 12);
    expect(d.ci[0]).toBeCloseTo(0.5, 12);
    expect(d.ci[1]).toBeCloseTo(0.5, 12);
    expect(pairedLossDelta(base, worse).delta).toBeCloseTo(-0.5, 12);
  });
  test('refuses examples that score different tokens, or different example counts', () => {
    const other = base.map((x, i) => ({ sum: x.sum, count: i === 7 ? 3 : 2 }));
    expect(() => pairedLossDelta(other, base)).toThrow(/example 7 scores 3 tokens on one side and 2/);
    expect(() => pairedLossDelta(base.slice(1), base)).toThrow(/39 vs 40 examples/);
  });
});

describe('paired accuracy and McNemar', () => {
  test('exact McNemar p-values match a binomial computed independently in Python', () => {
    const cases: [number, number][] = [
      [0, 0],
      [1, 0],
      [5, 5],
      [10, 2],
      [3, 17],
      [40, 25],
      [120, 80],
      [0, 30],
    ];
    const ours = cases.map(([a, b]) => mcnemarExactP(a, b));
    if (!findPython()) return; // the reference needs the project's Python; the properties below still hold
    const ref = runPython<number[]>(
      `from math import comb
out = []
for a, b in INPUT:
    n = a + b
    if n == 0:
        out.append(1.0); continue
    k = min(a, b)
    out.append(min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2 ** n))
emit(out)`,
      cases,
    );
    ours.forEach((p, i) => expect(p).toBeCloseTo(ref[i], 12));
  });

  test('p-values: symmetric, 1 with no discordant pairs, small for a lopsided split', () => {
    expect(mcnemarExactP(0, 0)).toBe(1);
    expect(mcnemarExactP(10, 2)).toBeCloseTo(mcnemarExactP(2, 10), 15);
    expect(mcnemarExactP(0, 30)).toBeLessThan(1e-8);
    expect(mcnemarExactP(5, 5)).toBe(1);
  });

  test('pairedAccuracy counts discordant pairs and brackets the difference', () => {
    // 100 questions: a right on 60, b right on 40; a-only 30, b-only 10
    const a = Array.from({ length: 100 }, (_, i) => i < 60);
    const b = Array.from({ length: 100 }, (_, i) => (i >= 30 && i < 60) || (i >= 60 && i < 70));
    const r = pairedAccuracy(a, b, { resamples: 2000, seed: 3 });
    expect([r.a, r.b, r.delta, r.aOnly, r.bOnly, r.n]).toEqual([0.6, 0.4, 0.2, 30, 10, 100]);
    expect(r.ci[0]).toBeGreaterThan(0.05);
    expect(r.ci[1]).toBeLessThan(0.35);
    expect(r.ci[0]).toBeLessThan(0.2);
    expect(r.ci[1]).toBeGreaterThan(0.2);
    expect(r.pValue).toBeCloseTo(mcnemarExactP(30, 10), 15);
    const same = pairedAccuracy(a, a);
    expect([same.delta, same.ci[0], same.ci[1], same.pValue]).toEqual([0, 0, 0, 1]);
    expect(() => pairedAccuracy(a, b.slice(1))).toThrow(/100 vs 99 questions/);
  });
});

test('acrossSeeds: mean, sample standard deviation and range', () => {
  const s = acrossSeeds([0.2, 0.4, 0.6]);
  expect(s.mean).toBeCloseTo(0.4, 12);
  expect(s.sd).toBeCloseTo(0.2, 12);
  expect([s.min, s.max, s.n]).toEqual([0.2, 0.6, 3]);
  expect(acrossSeeds([0.5]).sd).toBe(0);
  expect(acrossSeeds([]).n).toBe(0);
});

describe('calibrate', () => {
  const pos = { name: 'planted-positive', verdict: 'helps' as const, helps: e(1, 0.8, 1.2), used: e(2, 1.5, 2.5) };
  const nul = { name: 'planted-null', verdict: 'ignored' as const, helps: e(0, -0.1, 0.1), used: e(0, 0, 0) };
  test('passes only when the positive is "helps" and the null "ignored" with a content CI that includes 0', () => {
    expect(calibrate(pos, nul).passed).toBe(true);
    expect(calibrate({ ...pos, verdict: 'used-but-no-help' }, nul).passed).toBe(false);
    expect(calibrate(pos, { ...nul, verdict: 'helps' }).passed).toBe(false);
    // ignored because shuffling lowered the loss: the CI excludes 0, so the null is not clean
    const c = calibrate(pos, { ...nul, used: e(-0.2, -0.3, -0.1) });
    expect(c.passed).toBe(false);
    expect(c.null).toMatchObject({ verdict: 'ignored', usedCiIncludesZero: false, passed: false });
    expect(calibrate(null, nul)).toMatchObject({ passed: false, positive: null });
  });
});
