import '../helpers/one-thread';
import * as torch from '../../src/torch';
import type { Tensor } from '../../src/torch';
import { LATENT_ID, decide, decodeLatent, latentStepAt, type DecodeOptions, type DecodedRow } from '../../src/latent/decode';
import { disposeRollouts, sampleRollouts, type PolicyModules, type Rollout } from '../../src/rl/policy';
import { scoreRollouts } from '../../src/rl/teacher-forcing';
import { KVCache } from '../../src/models/qwen2/cache';
import { EOS, tinyLatentPolicy } from '../helpers/tiny-latent-policy';

// Mixed prompt lengths; the fixture's classifiers open spans at different steps in different rows.
const PROMPTS = [[3, 4, 5], [7, 1, 2, 9, 9, 4, 6], [12], [5, 5, 8, 13, 2], [9, 2]];
// token t as one letter; token 2 ('c') ends a "breakpoint" for oracle placement
const decode = (tokens: readonly number[]) => tokens.map((t) => String.fromCharCode(97 + t)).join('');

const GREEDY: DecodeOptions = {
  policy: { kind: 'greedy', startThreshold: 0.55, stopThreshold: 0.5 },
  maxNewTokens: 12,
  maxLatents: 3,
  eosIds: [],
  decode,
  // rows end early, at different steps, when they write token 1
  isDone: (_, tokens) => tokens.at(-1) === 1,
  keepLatents: true,
  keepHiddens: true,
};

const dispose = (rows: DecodedRow[]) => rows.forEach((r) => (r.latents?.dispose(), r.hiddens?.dispose()));
const maxDiff = (a: Tensor | null, b: Tensor | null) => {
  if (a === null || b === null) return a === b ? 0 : Infinity;
  return torch.scope(() => a.sub(b).abs().max().item());
};

function expectSameRows(batched: DecodedRow[], single: DecodedRow[]): void {
  batched.forEach((r, i) => {
    const s = single[i];
    expect(r.tokens).toEqual(s.tokens);
    expect(r.ids).toEqual(s.ids);
    expect(r.text).toBe(s.text);
    expect(r.finish).toBe(s.finish);
    expect(r.spans.map(({ at, latents, atBreakpoint }) => ({ at, latents, atBreakpoint }))).toEqual(
      s.spans.map(({ at, latents, atBreakpoint }) => ({ at, latents, atBreakpoint })),
    );
    r.spans.forEach((sp, k) => sp.stopProbs.forEach((p, j) => expect(Math.abs(p - s.spans[k].stopProbs[j])).toBeLessThan(1e-10)));
    expect(r.actions.map((a) => [a.kind, a.position, a.value])).toEqual(s.actions.map((a) => [a.kind, a.position, a.value]));
    expect(Math.abs(r.logProb - s.logProb)).toBeLessThan(1e-9);
    expect(maxDiff(r.latents, s.latents)).toBeLessThan(1e-10);
    expect(maxDiff(r.hiddens, s.hiddens)).toBeLessThan(1e-10);
  });
}

describe('the latent decoding loop', () => {
  for (const variant of [
    { name: 'full', twoTrunk: false },
    { name: 'two-trunk, shared-kv', twoTrunk: true },
    { name: 'two-trunk, reencode', twoTrunk: true, coupling: 'reencode' as const },
  ])
    test(`greedy: a batch of prompts equals each prompt decoded alone, token for token (${variant.name})`, () => {
      const { m, dispose: free } = tinyLatentPolicy(variant.twoTrunk, 'float64', { coupling: variant.coupling });
      try {
        const batched = decodeLatent(m, PROMPTS, GREEDY);
        const single = PROMPTS.map((p) => decodeLatent(m, [p], GREEDY)[0]);
        // the case is not trivial: spans open at different steps, some rows finish before others
        const firstSpan = batched.map((r) => (r.spans.length ? r.ids.indexOf(m.botId) : -1));
        expect(new Set(firstSpan.filter((i) => i >= 0)).size).toBeGreaterThan(1);
        expect(batched.some((r) => r.spans.some((s) => s.latents > 0))).toBe(true);
        const lengths = batched.map((r) => r.ids.length);
        expect(Math.min(...lengths)).toBeLessThan(Math.max(...lengths));
        expect(batched.some((r) => r.finish === 'stop')).toBe(true);
        expect(batched.some((r) => r.finish !== 'stop')).toBe(true);
        expectSameRows(batched, single);
        // the kept latents are the inputs fed at the latent positions, one per LATENT_ID
        batched.forEach((r) => expect(r.latents?.size(0) ?? 0).toBe(r.ids.filter((id) => id === LATENT_ID).length));
        dispose([...batched, ...single]);
      } finally {
        free();
      }
    });

  test('oracle placement: spans open exactly where the text matches the pattern, with the given count per span; overrides replace the fed latents', () => {
    const { m, heads, dispose: free } = tinyLatentPolicy(true);
    try {
      const schedule = [2, 1, 3];
      const oracle: DecodeOptions = {
        ...GREEDY,
        maxNewTokens: 16,
        isDone: undefined,
        placement: 'oracle',
        breakpointPattern: /c$/,
        oracleLatents: (_, span) => schedule[Math.min(span, schedule.length - 1)],
      };
      const rows = decodeLatent(m, PROMPTS, oracle);
      expect(rows.some((r) => r.spans.length > 1)).toBe(true);
      rows.forEach((r) => {
        // every span follows a 'c', and every 'c' not at the end is followed by a span
        expect(r.spans.every((s) => s.atBreakpoint && r.tokens[s.at - 1] === 2)).toBe(true);
        const cs = r.tokens.flatMap((t, i) => (t === 2 && i + 1 < r.tokens.length ? [i + 1] : []));
        expect(r.spans.map((s) => s.at)).toEqual(cs);
        r.spans.forEach((s, k) => expect(s.latents).toBe(schedule[Math.min(k, schedule.length - 1)]));
        // oracle decisions are not actions
        expect(r.actions.every((a) => a.kind === 'token')).toBe(true);
      });
      expectSameRows(
        rows,
        PROMPTS.map((p) => decodeLatent(m, [p], oracle)[0]),
      );
      // a constant fed at every latent of row 1 only: row 1's latents are that constant, the others unchanged
      const constant = torch.keep(torch.full([heads.markers.size(1)], 0.25, { dtype: 'float64' }));
      const ablated = decodeLatent(m, PROMPTS, { ...oracle, latentInput: (row) => (row === 1 ? constant : null) });
      try {
        const n1 = ablated[1].latents!.size(0);
        expect(n1).toBeGreaterThan(0);
        expect(
          torch.scope(() =>
            ablated[1]
              .latents!.sub(constant.expand([n1, -1]))
              .abs()
              .max()
              .item(),
          ),
        ).toBe(0);
        expectSameRows([ablated[0], ...ablated.slice(2)], [rows[0], ...rows.slice(2)]);
      } finally {
        constant.dispose();
        dispose(ablated);
      }
      dispose(rows);
    } finally {
      free();
    }
  });

  test('sampling with a seed is reproducible (and another seed samples otherwise)', () => {
    const { m, dispose: free } = tinyLatentPolicy(true);
    try {
      const o: DecodeOptions = { ...GREEDY, policy: { kind: 'sample', temperature: 0.9, topP: 0.95 } };
      const run = (seed: number) => {
        torch.manualSeed(seed);
        return decodeLatent(
          m,
          PROMPTS.flatMap((p) => [p, p]),
          o,
        );
      };
      const a = run(7);
      const b = run(7);
      const c = run(8);
      expectSameRows(a, b);
      a.forEach((r, i) => expect(r.logProb).toBe(b[i].logProb));
      expect(a.some((r) => r.actions.some((x) => x.kind === 'start' && x.value === 1))).toBe(true);
      expect(a.some((r, i) => JSON.stringify(r.ids) !== JSON.stringify(c[i].ids))).toBe(true);
      dispose([...a, ...b, ...c]);
    } finally {
      free();
    }
  });

  test('the live-tensor count stays flat over many decode calls', () => {
    const { m, dispose: free } = tinyLatentPolicy(true, 'float32', { coupling: 'reencode' });
    try {
      const round = (seed: number) => {
        torch.manualSeed(seed);
        dispose(decodeLatent(m, PROMPTS, { ...GREEDY, policy: { kind: 'sample', temperature: 1 } }));
        dispose(decodeLatent(m, PROMPTS, GREEDY));
      };
      round(0);
      const before = torch.memory().liveTensors;
      for (let i = 1; i <= 6; i++) round(i);
      expect(torch.memory().liveTensors).toBe(before);
    } finally {
      free();
    }
  });

  test('bad options are refused with clear errors', () => {
    const { m, dispose: free } = tinyLatentPolicy(false);
    try {
      expect(() => decodeLatent(m, [], GREEDY)).toThrow(/no prompts/);
      expect(() => decodeLatent(m, [[1], []], GREEDY)).toThrow(/prompt 1 is empty/);
      expect(() => decodeLatent(m, PROMPTS, { ...GREEDY, policy: { kind: 'sample', temperature: 0 } })).toThrow(/temperature/);
      expect(() => decodeLatent(m, PROMPTS, { ...GREEDY, decode: undefined, placement: 'oracle' })).toThrow(/oracle placement/);
    } finally {
      free();
    }
  });
});

describe('gated latents under sampling (HRPO)', () => {
  test('each latent mixes in the token drawn at its position, recorded and scored; teacher forcing feeds the same', () => {
    const { m, dispose: free } = tinyLatentPolicy(false, 'float64', { input: 'gated' });
    torch.noGrad(() => torch.scope(() => m.heads.startBias.fill_(0.5)));
    try {
      torch.manualSeed(3);
      const rollouts = sampleRollouts(
        m,
        PROMPTS.flatMap((p) => [p, p]),
        { maxNewTokens: 10, maxLatents: 3, temperature: 1.5, eosIds: [EOS] },
      );
      try {
        const withLatents = rollouts.filter((r) => r.latents !== null);
        expect(withLatents.length).toBeGreaterThan(0);
        let differsFromArgmax = false;
        for (const r of withLatents) {
          const n = r.latents!.size(0);
          expect(r.latentTokens).toHaveLength(n);
          const drawn = r.actions.filter((a) => a.kind === 'latent-token');
          expect(drawn.map((a) => a.value)).toEqual(r.latentTokens);
          // recompute each latent from the hidden state before it: with the drawn token it is the stored latent
          torch.noGrad(() =>
            torch.scope(() => {
              const pre = hiddenBeforeLatents(m, r);
              const tokens = torch.tensor(r.latentTokens!, { dtype: 'int64' });
              const index = latentIndices(r);
              const withDrawn = latentStepAt(m, pre, index, tokens).embed;
              expect(withDrawn.sub(r.latents!).abs().max().item()).toBeLessThan(1e-10);
              const withArgmax = latentStepAt(m, pre, index).embed;
              if (withArgmax.sub(r.latents!).abs().max().item() > 1e-6) differsFromArgmax = true;
            }),
          );
        }
        // the draws are not all the argmax (else the test could not tell the two apart)
        expect(differsFromArgmax).toBe(true);
        // teacher forcing (recurrent, which recomputes the latents) gives every recorded log-probability
        for (const latentGrad of ['recurrent', 'stored'] as const) {
          const values = torch.noGrad(() =>
            torch.scope(() => {
              const s = scoreRollouts(m, rollouts, { temperature: 1.5, latentGrad });
              return { v: s.logProbs.tolist() as number[], offsets: s.offsets };
            }),
          );
          rollouts.forEach((r, i) =>
            r.actions.forEach((a, j) => expect(Math.abs(values.v[values.offsets[i] + j] - a.logProb)).toBeLessThan(1e-9)),
          );
        }
      } finally {
        disposeRollouts(rollouts);
      }
    } finally {
      free();
    }
  });
});

/** Pre-norm hidden states [n, D] at the positions before each latent of a full-mode rollout: one causal pass with the stored latents as inputs. */
function hiddenBeforeLatents(m: PolicyModules, r: Rollout): Tensor {
  const all = [...r.prompt, ...r.ids];
  const T = all.length;
  const ids = torch.tensor([all.map((id) => (id === LATENT_ID ? 0 : id))], { dtype: 'int64' });
  let x = m.heads.applyMarkers(m.backbone.embed(ids), ids, m.botId, m.eotId);
  const latentPos = all.flatMap((id, t) => (id === LATENT_ID ? [t] : []));
  const rows = x.squeeze(0).indexCopy(0, torch.tensor(latentPos, { dtype: 'int64' }), r.latents!.to(x.dtype));
  x = rows.unsqueeze(0);
  const mask = torch.ones([T, T], { dtype: 'bool' }).tril().view([1, 1, T, T]);
  const pre = torch.scope(() => {
    const cache = new KVCache(m.backbone.numLayers);
    try {
      return m.backbone.decode(x, torch.arange(0, T, { dtype: 'int64' }).unsqueeze(0), mask, cache);
    } finally {
      cache.dispose();
    }
  });
  return pre.squeeze(0).indexSelect(
    0,
    torch.tensor(
      latentPos.map((t) => t - 1),
      { dtype: 'int64' },
    ),
  );
}

/** Each latent's index within its span. */
function latentIndices(r: { ids: number[] }): number[] {
  const out: number[] = [];
  let j = 0;
  for (const id of r.ids) {
    if (id === LATENT_ID) out.push(j++);
    else j = 0;
  }
  return out;
}

describe('decide: a classifier against a threshold', () => {
  const greedy = (startThreshold: number) => ({ kind: 'greedy' as const, startThreshold });
  test('compares in logit space, so a threshold close to 1 still separates large logits', () => {
    // τ = 1 − 1e-9 is logit ≈ 20.72; in float32 both logits below have probability exactly 1
    const tau = 1 - 1e-9;
    expect(Math.fround(1 / (1 + Math.exp(-18)))).toBe(1);
    expect(decide(greedy(tau), 'start', 18, undefined)).toBe(false);
    expect(decide(greedy(tau), 'start', 22, undefined)).toBe(true);
  });
  test('agrees with p > τ where the probability is exact, and with the sign rule at τ = ½', () => {
    for (const tau of [0.01, 0.3, 0.5, 0.84, 0.99])
      for (const logit of [-6, -1.2, -0.1, 0.1, 0.4, 1.7, 4.7, 9])
        expect(decide(greedy(tau), 'start', logit, undefined)).toBe(1 / (1 + Math.exp(-logit)) > tau);
    expect(decide(greedy(0.5), 'start', 1e-6, undefined)).toBe(true);
    expect(decide(greedy(0.5), 'start', -1e-6, undefined)).toBe(false);
    expect(decide({ kind: 'greedy' }, 'stop', 0.2, undefined)).toBe(true);
  });
  test('τ = 1 never opens, τ = 0 always does', () => {
    expect(decide(greedy(1), 'start', 1e6, undefined)).toBe(false);
    expect(decide(greedy(0), 'start', -1e6, undefined)).toBe(true);
  });
});
