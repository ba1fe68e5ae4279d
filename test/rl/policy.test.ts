import '../helpers/one-thread';
import * as torch from '../../src/torch';
import { BOT, EOS, EOT, tinyLatentPolicy as setup } from '../helpers/tiny-latent-policy';
import {
  LATENT_ID,
  disposeRollouts,
  sampleRollouts,
  type PolicyModules,
  type Rollout,
  type RolloutOptions,
} from '../../src/rl/policy';
import { scoreRollouts, type LatentGrad } from '../../src/rl/teacher-forcing';

const PROMPTS = [[3, 4, 5], [7, 1, 2, 9, 9, 4, 6], [12], [5, 5, 8, 13, 2]];
const OPTIONS: RolloutOptions = { maxNewTokens: 10, maxLatents: 3, temperature: 0.9, topP: 1, eosIds: [EOS] };

function sample(m: PolicyModules, seed = 5, o: Partial<RolloutOptions> = {}): Rollout[] {
  torch.manualSeed(seed);
  return sampleRollouts(
    m,
    PROMPTS.flatMap((p) => [p, p]),
    { ...OPTIONS, ...o },
  );
}

const kinds = (rs: Rollout[]) => {
  const all = rs.flatMap((r) => r.actions);
  return {
    start: all.filter((a) => a.kind === 'start').length,
    stop: all.filter((a) => a.kind === 'stop').length,
    latents: rs.reduce((n, r) => n + r.ids.filter((i) => i === LATENT_ID).length, 0),
  };
};

describe('rollouts and teacher-forced log-probabilities', () => {
  for (const twoTrunk of [false, true])
    for (const latentGrad of ['stored', 'recurrent'] as LatentGrad[])
      test(`${twoTrunk ? 'two-trunk' : 'full'}, ${latentGrad}: every action's log-probability recomputed by teacher forcing equals the one recorded while sampling (float64)`, () => {
        const { m, dispose } = setup(twoTrunk);
        const rollouts = sample(m);
        try {
          const k = kinds(rollouts);
          // the fixture exercises every kind of action: spans open, latents run, stops are sampled
          expect(k.start).toBeGreaterThan(5);
          expect(k.stop).toBeGreaterThan(2);
          expect(k.latents).toBeGreaterThan(2);
          const scores = torch.noGrad(() =>
            torch.scope(() => {
              const s = scoreRollouts(m, rollouts, { temperature: OPTIONS.temperature, latentGrad });
              return { values: s.logProbs.tolist() as number[], offsets: s.offsets };
            }),
          );
          rollouts.forEach((r, i) => {
            const mine = scores.values.slice(scores.offsets[i], scores.offsets[i + 1]);
            expect(mine.length).toBe(r.actions.length);
            r.actions.forEach((a, j) => expect(Math.abs(mine[j] - a.logProb)).toBeLessThan(1e-10));
            const sum = mine.reduce((x, y) => x + y, 0);
            expect(Math.abs(sum - r.logProb)).toBeLessThan(1e-9);
          });
        } finally {
          disposeRollouts(rollouts);
          dispose();
        }
      });

  test('batched greedy rollouts of prompts of different lengths equal one-prompt rollouts (two-trunk)', () => {
    const { m, dispose } = setup(true);
    try {
      const batched = sampleRollouts(m, PROMPTS, { ...OPTIONS, temperature: 0 });
      const single = PROMPTS.map((p) => sampleRollouts(m, [p], { ...OPTIONS, temperature: 0 })[0]);
      expect(batched.some((r) => r.spans.length > 0)).toBe(true);
      batched.forEach((r, i) => {
        expect(r.ids).toEqual(single[i].ids);
        expect(r.spans).toEqual(single[i].spans);
        expect(Math.abs(r.logProb - single[i].logProb)).toBeLessThan(1e-10);
        if (r.latents) expect(torch.scope(() => r.latents!.sub(single[i].latents!).abs().max().item())).toBeLessThan(1e-12);
      });
      disposeRollouts([...batched, ...single]);
    } finally {
      dispose();
    }
  });

  test('stored and recurrent latents: equal log-probabilities, equal parameter gradients once the recurrent latents are detached', () => {
    const { m, heads, params, dispose } = setup(false);
    const rollouts = sample(m, 8);
    try {
      const weightsOf = (n: number) => torch.scope(() => torch.randn([n], { dtype: 'float64' }).tolist() as number[]);
      const n = rollouts.reduce((a, r) => a + r.actions.length, 0);
      const w = weightsOf(n);
      const objective = (latentGrad: LatentGrad, detachLatents = false) =>
        torch.scope(() => {
          const s = scoreRollouts(m, rollouts, { temperature: OPTIONS.temperature, latentGrad, detachLatents });
          const f = s.logProbs.mul(torch.tensor(w, { dtype: 'float64' })).sum();
          const grads = torch.autograd.grad(f, params, { allowUnused: true });
          return { value: f.item(), grads: grads.map((g) => (g ? (g.reshape([-1]).tolist() as number[]) : null)) };
        });
      const stored = objective('stored');
      const detached = objective('recurrent', true);
      const recurrent = objective('recurrent');
      expect(Math.abs(stored.value - recurrent.value)).toBeLessThan(1e-10 * (1 + Math.abs(stored.value)));
      expect(Math.abs(stored.value - detached.value)).toBeLessThan(1e-10 * (1 + Math.abs(stored.value)));
      const zero = (g: number[] | null, i: number) => g ?? new Array(params[i].numel()).fill(0);
      let maxErr = 0;
      stored.grads.forEach((g, i) => {
        const a = zero(g, i);
        const b = zero(detached.grads[i], i);
        a.forEach((v, j) => (maxErr = Math.max(maxErr, Math.abs(v - b[j]) / (1 + Math.abs(v)))));
      });
      expect(maxErr).toBeLessThan(1e-9);
      // The latent adapter's gain only shapes latent inputs: no gradient when they are stored,
      // a nonzero one through the recurrence.
      const gainIndex = params.indexOf(heads.gain);
      const storedGain = zero(stored.grads[gainIndex], gainIndex);
      const recurrentGain = zero(recurrent.grads[gainIndex], gainIndex);
      expect(Math.max(...storedGain.map(Math.abs))).toBe(0);
      expect(Math.max(...recurrentGain.map(Math.abs))).toBeGreaterThan(1e-6);

      // ... and that gradient is the derivative of the recurrent log-probability (central differences)
      const valueOf = () =>
        torch.noGrad(() =>
          torch.scope(() =>
            scoreRollouts(m, rollouts, { temperature: OPTIONS.temperature, latentGrad: 'recurrent' })
              .logProbs.mul(torch.tensor(w, { dtype: 'float64' }))
              .sum()
              .item(),
          ),
        );
      const eps = 1e-6;
      for (const i of [0, 7, 13]) {
        const bump = (d: number) => torch.noGrad(() => torch.scope(() => heads.gain.select(0, i).add_(d)));
        bump(eps);
        const up = valueOf();
        bump(-2 * eps);
        const down = valueOf();
        bump(eps);
        expect(Math.abs((up - down) / (2 * eps) - recurrentGain[i])).toBeLessThan(1e-6 * (1 + Math.abs(recurrentGain[i])));
      }
    } finally {
      disposeRollouts(rollouts);
      dispose();
    }
  });

  test('caps and switches: maxLatents bounds spans, useLatents false opens none, eos ends a row, maxNewTokens bounds tokens', () => {
    const { m, dispose } = setup(false);
    try {
      const capped = sample(m, 3, { maxLatents: 1 });
      expect(capped.every((r) => r.spans.every((s) => s.latents <= 1))).toBe(true);
      // with a cap of 1, every span has exactly one sampled stop decision: "stop" before a latent, or
      // "continue" followed by the forced (unsampled) stop at the cap
      expect(capped.some((r) => r.spans.some((s) => s.latents === 1))).toBe(true);
      for (const r of capped) expect(r.actions.filter((a) => a.kind === 'stop').length).toBe(r.spans.length);
      disposeRollouts(capped);
      const plain = sample(m, 3, { useLatents: false });
      expect(plain.every((r) => r.spans.length === 0 && r.latents === null && r.actions.every((a) => a.kind === 'token'))).toBe(
        true,
      );
      for (const r of plain) {
        const tokens = r.actions.length;
        expect(tokens).toBeLessThanOrEqual(OPTIONS.maxNewTokens);
        if (r.finish === 'eos') expect(r.actions[tokens - 1].value).toBe(EOS);
        else expect(tokens).toBe(OPTIONS.maxNewTokens);
        expect(r.tokens).not.toContain(EOS);
        expect(r.tokens).not.toContain(BOT);
        expect(r.tokens).not.toContain(EOT);
      }
      disposeRollouts(plain);
      const none = sample(m, 3, { maxSpans: 1 });
      expect(none.every((r) => r.spans.length <= 1)).toBe(true);
      disposeRollouts(none);
    } finally {
      dispose();
    }
  });

  test('rollouts leave no tensors behind once disposed; scoring with backward neither', () => {
    const { m, dispose } = setup(true, 'float32');
    try {
      const before = torch.memory().liveTensors;
      disposeRollouts(sample(m, 1));
      expect(torch.memory().liveTensors).toBe(before);
      const round = (seed: number, latentGrad: LatentGrad) => {
        const rs = sample(m, seed);
        torch.scope(() => scoreRollouts(m, rs, { temperature: 0.9, latentGrad }).logProbs.sum().backward());
        disposeRollouts(rs);
      };
      round(2, 'recurrent'); // creates the parameters' gradients
      const withGrads = torch.memory().liveTensors;
      round(3, 'recurrent');
      round(4, 'stored');
      expect(torch.memory().liveTensors).toBe(withGrads);
    } finally {
      dispose();
    }
  });
});
