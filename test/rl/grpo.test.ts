import '../helpers/one-thread';
import * as torch from '../../src/torch';
import { actionWeights, groupAdvantages, groupStatistics, grpoLoss, klK3 } from '../../src/rl/grpo';

const t = (xs: number[]) => torch.tensor(xs, { dtype: 'float64' });

describe('group-relative advantages', () => {
  test('standardised within each group (unbiased std, ε = 1e-4)', () => {
    // group [1, 0, 0, 1]: mean 0.5, sample std sqrt((4 · 0.25) / 3) = 0.57735…
    // group [1, 1, 1, 0]: mean 0.75, sample std sqrt((3 · 0.0625 + 0.5625) / 3) = 0.5
    const a = groupAdvantages([1, 0, 0, 1, 1, 1, 1, 0], 4);
    const s1 = Math.sqrt(1 / 3) + 1e-4;
    const s2 = 0.5 + 1e-4;
    const expected = [0.5 / s1, -0.5 / s1, -0.5 / s1, 0.5 / s1, 0.25 / s2, 0.25 / s2, 0.25 / s2, -0.75 / s2];
    a.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 12));
  });

  test('a group with equal rewards has zero advantages; without scaling, advantages are centred rewards', () => {
    expect(groupAdvantages([1, 1, 0.5, 0.5], 2)).toEqual([0, 0, 0, 0]);
    expect(groupAdvantages([2, 0, 1, 1], 2, { scale: false })).toEqual([1, -1, 0, 0]);
    expect(groupStatistics([2, 0, 3, 3], 2)).toEqual([
      { mean: 1, std: Math.SQRT2 },
      { mean: 3, std: 0 },
    ]);
  });

  test('bad input is refused with a reason', () => {
    expect(() => groupAdvantages([1, 0, 1], 2)).toThrow(/3 rewards do not split into groups of 2/);
    expect(() => groupAdvantages([1, NaN], 2)).toThrow(/reward 1 is NaN/);
    expect(() => groupAdvantages([1, 0], 0)).toThrow(/group size/);
  });
});

describe('aggregation weights', () => {
  test('sequence: mean of per-rollout means; token: mean over all actions', () => {
    expect(actionWeights([2, 4], 'sequence')).toEqual([
      [0.25, 0.25],
      [0.125, 0.125, 0.125, 0.125],
    ]);
    expect(actionWeights([2, 4], 'token').flat()).toEqual(new Array(6).fill(1 / 6));
    expect(() => actionWeights([2, 0], 'token')).toThrow(/rollout 1 has 0 actions/);
  });
});

describe('clipped objective and KL', () => {
  // Three actions, ε = 0.2, β = 0.1, weights [0.5, 0.25, 0.25]:
  //   ratio      1.5        0.5        1.1
  //   advantage  1          -2         0.5
  //   surrogate  min(1.5, 1.2) = 1.2 (clipped)   min(-1, -1.6) = -1.6 (clipped)   min(0.55, 0.55) = 0.55
  //   q - p      0          ln 2       -ln 2
  //   k3         0          2 - ln2 - 1 = 0.306853   0.5 + ln2 - 1 = 0.193147
  //   loss = 0.5·(-1.2 + 0) + 0.25·(1.6 + 0.1·0.306853) + 0.25·(-0.55 + 0.1·0.193147) = -0.325
  // Gradients w.r.t. log π_θ: a clipped action's surrogate is constant; d k3 / dp = 1 - exp(q - p):
  //   [0.5·0.1·0, 0.25·0.1·(1 - 2), 0.25·(-1.1·0.5 + 0.1·(1 - 0.5))] = [0, -0.025, -0.125]
  const p = [Math.log(1.5) - 1, Math.log(0.5) - 2, Math.log(1.1) - 0.5];
  const old = [-1, -2, -0.5];
  const ref = [p[0], p[1] + Math.LN2, p[2] - Math.LN2];

  test('loss, clip count, KL sum and gradient equal the hand-computed values', () => {
    const r = torch.scope(() => {
      const logProbs = t(p).requiresGrad_();
      const g = grpoLoss(
        { logProbs, oldLogProbs: t(old), refLogProbs: t(ref), advantages: t([1, -2, 0.5]), weights: t([0.5, 0.25, 0.25]) },
        { clipEpsilon: 0.2, klCoef: 0.1 },
      );
      const [grad] = torch.autograd.grad(g.loss, [logProbs]);
      return { loss: g.loss.item(), clipped: g.clipped, klSum: g.klSum, grad: grad!.tolist() as number[] };
    });
    expect(r.loss).toBeCloseTo(-0.325, 12);
    expect(r.clipped).toBe(2);
    expect(r.klSum).toBeCloseTo(1 - Math.LN2 + Math.LN2 - 0.5, 12);
    [0, -0.025, -0.125].forEach((v, i) => expect(r.grad[i]).toBeCloseTo(v, 12));
  });

  test('an asymmetric clip range (clip higher) changes only the upper bound', () => {
    const loss = torch.scope(() =>
      grpoLoss(
        { logProbs: t(p), oldLogProbs: t(old), refLogProbs: null, advantages: t([1, -2, 0.5]), weights: t([0.5, 0.25, 0.25]) },
        { clipEpsilon: 0.2, clipEpsilonHigh: 0.6, klCoef: 0 },
      ),
    );
    // ratio 1.5 is inside [0.8, 1.6] now: surrogate 1.5; the others are unchanged
    expect(torch.scope(() => loss.loss.item())).toBeCloseTo(0.5 * -1.5 + 0.25 * 1.6 + 0.25 * -0.55, 12);
    expect(loss.clipped).toBe(1);
    expect(loss.klSum).toBe(0);
  });

  test('k3 is zero at equal policies and positive elsewhere; inconsistent inputs are refused', () => {
    const k = torch.scope(() => klK3(t([-1, -2, -0.1]), t([-1, -1, -3])).tolist() as number[]);
    expect(k[0]).toBe(0);
    expect(k[1]).toBeCloseTo(Math.E - 1 - 1, 12);
    expect(k[2]).toBeCloseTo(Math.exp(-2.9) + 2.9 - 1, 12);
    expect(() =>
      torch.scope(() =>
        grpoLoss(
          { logProbs: t([0, 0]), oldLogProbs: t([0]), refLogProbs: null, advantages: t([0, 0]), weights: t([1, 1]) },
          { clipEpsilon: 0.2, klCoef: 0 },
        ),
      ),
    ).toThrow(/oldLogProbs has 1 elements, logProbs 2/);
    expect(() =>
      torch.scope(() =>
        grpoLoss(
          { logProbs: t([0]), oldLogProbs: t([0]), refLogProbs: null, advantages: t([0]), weights: t([1]) },
          { clipEpsilon: 0.2, klCoef: 0.1 },
        ),
      ),
    ).toThrow(/reference/);
  });
});
