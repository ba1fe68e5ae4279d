import {
  bestF1Threshold,
  bootstrapMeanDelta,
  precisionRecallF1,
  recurringTokens,
  resultAppears,
  histogram,
} from '../../src/latent/diagnostics';

describe('diagnostics', () => {
  test('bootstrap delta: zero when identical, CI excludes 0 for a consistent shift', () => {
    const a = Array.from({ length: 50 }, (_, i) => ({ sum: 10 + (i % 7), count: 10 }));
    const same = bootstrapMeanDelta(a, a, { resamples: 200 });
    expect(same.delta).toBe(0);
    expect(same.ci).toEqual([0, 0]);
    const b = a.map((x) => ({ sum: x.sum + 5, count: x.count }));
    const shifted = bootstrapMeanDelta(a, b, { resamples: 500, seed: 1 });
    expect(shifted.delta).toBeCloseTo(0.5, 10);
    expect(shifted.ci[0]).toBeGreaterThan(0.49);
    const noisy = a.map((x, i) => ({ sum: x.sum + (i % 2 ? 3 : -3), count: x.count }));
    const n = bootstrapMeanDelta(a, noisy, { resamples: 500, seed: 2 });
    expect(n.ci[0]).toBeLessThan(0);
    expect(n.ci[1]).toBeGreaterThan(0);
  });

  test('precision / recall / F1', () => {
    expect(precisionRecallF1({ tp: 3, fp: 1, fn: 3 })).toEqual({ precision: 0.75, recall: 0.5, f1: 0.6 });
    expect(precisionRecallF1({ tp: 0, fp: 0, fn: 0 }).f1).toBe(0);
  });

  test('recurring tokens and result hits', () => {
    const dec = [
      [
        { id: 1, token: '1', score: 0.9 },
        { id: 2, token: ' the', score: 0.5 },
      ],
      [
        { id: 1, token: '1', score: 0.8 },
        { id: 3, token: '2', score: 0.4 },
      ],
    ];
    expect(recurringTokens(dec, 2)).toEqual([
      { token: '1', count: 2 },
      { token: ' the', count: 1 },
    ]);
    expect(resultAppears('12', dec[0])).toBe(true);
    expect(resultAppears('30', dec[0])).toBe(false);
    expect(resultAppears('', dec[0])).toBe(false);
    expect(histogram([2, 2, 3])).toEqual({ '2': 2, '3': 1 });
  });
});

describe('start-threshold calibration', () => {
  test('picks the threshold separating the classes', () => {
    const scores: [number, number][] = [
      [3, 1],
      [2, 1],
      [1, 0],
      [0.5, 0],
      [-1, 0],
      [-2, 0],
    ];
    const r = bestF1Threshold(scores);
    expect(r.f1).toBe(1);
    const logit = Math.log(r.threshold / (1 - r.threshold));
    expect(logit).toBeGreaterThan(1);
    expect(logit).toBeLessThan(2);
  });
  test('imperfect separation: the best F1 among cut points', () => {
    const r = bestF1Threshold([
      [3, 1],
      [2, 0],
      [1, 1],
      [0, 0],
    ]);
    expect(r.f1).toBeCloseTo(0.8, 10); // cut below 1: tp 2, fp 1 -> 4/5
  });
  test('far-separated scores: the threshold stays below 1 (and above 0), so the positives still pass it (a cut at logit 40 would be p = 1)', () => {
    for (const scores of [
      [
        [80, 1],
        [60, 1],
        [20, 0],
        [-5, 0],
      ],
      [
        [-45, 1],
        [-60, 0],
        [-70, 0],
      ],
    ] as [number, number][][]) {
      const r = bestF1Threshold(scores);
      expect(r.f1).toBe(1);
      expect(r.threshold).toBeLessThan(1);
      expect(r.threshold).toBeGreaterThan(0);
      const decided = scores.map(([z]) => 1 / (1 + Math.exp(-z)) > r.threshold);
      expect(decided).toEqual(scores.map(([, t]) => t === 1));
    }
  });
});
