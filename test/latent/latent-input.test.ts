import '../helpers/one-thread';
import * as torch from '../../src/torch';
import type { Tensor } from '../../src/torch';
import type { Qwen2ForCausalLM } from '../../src/models/qwen2/modeling';
import { randomQwen2, summedLossOnEmbeds } from '../helpers/random-qwen2';
import { BOT, EOT, EXAMPLES, VOCAB, charTok } from '../helpers/char-examples';
import { buildLatentSequence, Role, type LatentSequence } from '../../src/latent/sequence';
import { LatentHeads } from '../../src/latent/heads';
import { latentForward } from '../../src/latent/forward';
import { LatentDecoder, qwen2Backbone } from '../../src/latent/qwen2-trunks';
import {
  LATENT_INPUT_KINDS,
  createLatentInput,
  type LatentInputKind,
  type LatentStepArgs,
  type TokenSpace,
} from '../../src/latent/latent-input';
import { LATENT_ID, disposeRollouts, sampleRollouts, type PolicyModules } from '../../src/rl/policy';
import { scoreRollouts } from '../../src/rl/teacher-forcing';
import { openingClassifiers, randomLatentHeads } from '../helpers/tiny-latent-policy';

const D = 16;

function setup(
  kind: LatentInputKind,
  { k = 2, twoTrunk = false, dtype = 'float64' }: { k?: number; twoTrunk?: boolean; dtype?: torch.DType } = {},
) {
  torch.manualSeed(7);
  const model = randomQwen2(VOCAB, D, dtype);
  const heads = randomLatentHeads(D, dtype, { input: { kind, temperature: 0.7 }, excludeIds: [BOT, EOT] });
  // classifiers far from zero, so that spans open and stop in rollouts
  torch.noGrad(() =>
    torch.scope(() => {
      openingClassifiers(heads);
      for (const p of heads.input.parameters()) p.add_(torch.randnLike(p).mul(0.05));
    }),
  );
  const backbone = qwen2Backbone(model);
  let decoder: LatentDecoder | null = null;
  if (twoTrunk) {
    decoder = LatentDecoder.copyOf(model);
    model.freeze();
    torch.noGrad(() => decoder!.parameters().forEach((p) => torch.scope(() => p.add_(torch.randnLike(p).mul(0.1)))));
  }
  const seqs = EXAMPLES.map((e) => buildLatentSequence(e, charTok, { latents: k, botId: BOT, eotId: EOT }));
  const dispose = () => (model.dispose(), heads.dispose(), decoder?.dispose());
  return { model, heads, backbone, decoder, latentTrunk: decoder ?? backbone, seqs, dispose };
}

/** Coconut's recurrence with plain operators: each latent's input is the last hidden state after the final norm of a full forward of the prefix. */
function coconutLoss(model: Qwen2ForCausalLM, heads: LatentHeads, s: LatentSequence): Tensor {
  return torch.scope(() => {
    const embeds: Tensor[] = [];
    for (let t = 0; t < s.ids.length; t++) {
      if (s.roles[t] === Role.Latent)
        embeds.push(
          model.model
            .forward({ inputsEmbeds: torch.stack(embeds).unsqueeze(0) })
            .lastHidden.select(1, t - 1)
            .squeeze(0),
        );
      else if (s.ids[t] === BOT || s.ids[t] === EOT) embeds.push(heads.markers.select(0, s.ids[t] === BOT ? 0 : 1));
      else embeds.push(model.model.embed_tokens.weight.select(0, s.ids[t]));
    }
    return summedLossOnEmbeds(model, embeds, s.targets);
  });
}

describe('latent input forms', () => {
  test("raw equals a plain-operator reference of Coconut's recurrence to 1e-10 (float64), batched", () => {
    const { model, heads, backbone, seqs, dispose } = setup('raw', { k: 3 });
    try {
      torch.noGrad(() =>
        torch.scope(() => {
          const r = latentForward(seqs, { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT });
          const ref = seqs.reduce((sum, s) => sum + coconutLoss(model, heads, s).item(), 0);
          expect(Math.abs(r.lmSum - ref)).toBeLessThan(1e-10);
          expect(r.lmSum).toBeGreaterThan(1);
        }),
      );
      expect(heads.input.parameters()).toHaveLength(0);
    } finally {
      dispose();
    }
  });

  test('scaled is scale · RMSNorm(h), with no parameters; affine starts equal to it', () => {
    torch.manualSeed(3);
    const tokens: TokenSpace = { embedWeight: torch.randn([VOCAB, D], { dtype: 'float64' }), lmHead: (h) => h };
    const init = { hidden: D, dtype: 'float64' as const, scale: 1.7 };
    const scaled = createLatentInput('scaled', init);
    const affine = createLatentInput('affine', init);
    const stop = { stopWeight: torch.randn([D], { dtype: 'float64' }), stopBias: torch.tensor(0.3, { dtype: 'float64' }) };
    const pre = torch.randn([4, D], { dtype: 'float64' });
    const normWeight = torch.rand([D], { dtype: 'float64' }).add(0.5);
    const a: LatentStepArgs = { pre, normWeight, eps: 1e-6, index: 0, tokens };
    const n = pre.mul(pre.square().mean(-1, true).add(1e-6).rsqrt()).mul(normWeight);
    expect(scaled.parameters()).toHaveLength(0);
    expect(scaled.step(a, stop).embed.sub(n.mul(1.7)).abs().max().item()).toBeLessThan(1e-12);
    expect(affine.step(a, stop).embed.sub(n.mul(1.7)).abs().max().item()).toBeLessThan(1e-12);
    expect(scaled.step(a, stop).stopLogit.sub(n.matmul(stop.stopWeight).add(0.3)).abs().max().item()).toBeLessThan(1e-12);
    expect(affine.parameters().map((p) => p.shape)).toEqual([[D], [D]]);
  });

  test('soft is p·E with p = softmax(logits / T), the excluded ids at probability 0', () => {
    torch.manualSeed(4);
    const E = torch.randn([VOCAB, D], { dtype: 'float64' });
    const head = torch.randn([VOCAB, D], { dtype: 'float64' });
    const tokens: TokenSpace = { embedWeight: E, lmHead: (h) => h.matmul(head.t()) };
    const soft = createLatentInput(
      { kind: 'soft', temperature: 0.5 },
      { hidden: D, dtype: 'float64', scale: 1, excludeIds: [BOT, EOT] },
    );
    const stop = { stopWeight: torch.zeros([D], { dtype: 'float64' }), stopBias: torch.tensor(0, { dtype: 'float64' }) };
    const pre = torch.randn([3, D], { dtype: 'float64' });
    const w = torch.ones([D], { dtype: 'float64' });
    const got = soft.step({ pre, normWeight: w, eps: 1e-6, index: 0, tokens }, stop).embed;
    const n = pre.mul(pre.square().mean(-1, true).add(1e-6).rsqrt());
    const logits = n.matmul(head.t()).div(0.5).toTypedArray() as Float64Array;
    const Ea = E.toTypedArray() as Float64Array;
    for (let b = 0; b < 3; b++) {
      const row = Array.from({ length: VOCAB }, (_, v) => (v === BOT || v === EOT ? -Infinity : logits[b * VOCAB + v]));
      const m = Math.max(...row);
      const ex = row.map((x) => Math.exp(x - m));
      const z = ex.reduce((s, x) => s + x, 0);
      for (let d = 0; d < D; d++) {
        let e = 0;
        for (let v = 0; v < VOCAB; v++) e += (ex[v] / z) * Ea[v * D + d];
        expect(Math.abs(got.select(0, b).select(0, d).item() - e)).toBeLessThan(1e-12);
      }
    }
  });

  for (const kind of ['gated', 'soft'] as const)
    test(`${kind} passes gradcheck in the hidden state, the norm, the token space and its own parameters`, () => {
      torch.manualSeed(5);
      const V = 7;
      const d = 5;
      const form = createLatentInput({ kind, temperature: 0.8 }, { hidden: d, dtype: 'float64', scale: 1, excludeIds: [6] });
      torch.noGrad(() => form.parameters().forEach((p) => torch.scope(() => p.add_(torch.randnLike(p).mul(0.3)))));
      const leaf = (t: Tensor) => t.requiresGrad_(true);
      const pre = leaf(torch.randn([3, d], { dtype: 'float64' }));
      const normWeight = leaf(torch.rand([d], { dtype: 'float64' }).add(0.5));
      const E = leaf(torch.randn([V, d], { dtype: 'float64' }));
      const head = leaf(torch.randn([V, d], { dtype: 'float64' }));
      const stopWeight = leaf(torch.randn([d], { dtype: 'float64' }));
      const stopBias = leaf(torch.tensor(0.2, { dtype: 'float64' }));
      const own = form.parameters();
      expect(own.length).toBe(kind === 'gated' ? 5 : 0);
      const fn = (...xs: Tensor[]) => {
        const [p, w, e, hd, sw, sb] = xs;
        const out = form.step(
          { pre: p, normWeight: w, eps: 1e-6, index: 0, tokens: { embedWeight: e, lmHead: (h) => h.matmul(hd.t()) } },
          { stopWeight: sw, stopBias: sb },
        );
        return [out.embed, out.stopLogit];
      };
      expect(torch.testing.gradcheck(fn, [pre, normWeight, E, head, stopWeight, stopBias])).toBe(true);
      if (own.length) {
        // the gate's own parameters: central differences against autograd, a few entries of each
        const embedSum = () =>
          form
            .step(
              {
                pre: pre.detach(),
                normWeight: normWeight.detach(),
                eps: 1e-6,
                index: 0,
                tokens: { embedWeight: E.detach(), lmHead: (h) => h.matmul(head.detach().t()) },
              },
              { stopWeight, stopBias },
            )
            .embed.sum();
        const analytic = torch.scope(() => torch.autograd.grad(embedSum(), own).map((g) => torch.keep(g!)));
        own.forEach((p, i) => {
          const flat = p.numel();
          for (const j of [0, Math.floor(flat / 2), flat - 1]) {
            const bump = (delta: number) => torch.noGrad(() => torch.scope(() => p.view([-1]).select(0, j).add_(delta)));
            const f = () => torch.noGrad(() => torch.scope(() => embedSum().item()));
            bump(1e-6);
            const up = f();
            bump(-2e-6);
            const down = f();
            bump(1e-6);
            expect(Math.abs((up - down) / 2e-6 - analytic[i].view([-1]).select(0, j).item())).toBeLessThan(1e-6);
          }
        });
      }
    });

  test('planted-result feeds latent j the (detached) embedding of result token j, the last repeated; zeros feeds 0; neither reads the hidden state', () => {
    const { model, heads, backbone, seqs, dispose } = setup('planted-result', { k: 3 });
    const zeros = randomLatentHeads(D, 'float64', { input: 'zeros' });
    try {
      const spans = seqs.map((s) => s.spans[0]);
      // the fixtures' first results have one and two digits: latent 2 repeats the last digit
      expect(spans.every((s) => s.resultIds.length >= 1)).toBe(true);
      for (const j of [0, 1, 2]) {
        const pre = torch.randn([spans.length, D], { dtype: 'float64', requiresGrad: true });
        const args: LatentStepArgs = { pre, normWeight: model.model.norm.weight, eps: 1e-6, index: j, tokens: backbone, spans };
        const { embed } = heads.step(args);
        const want = spans.map((s) => s.resultIds[Math.min(j, s.resultIds.length - 1)]);
        const ref = backbone.embedWeight.indexSelect(0, torch.tensor(want, { dtype: 'int64' }));
        expect(torch.scope(() => embed.sub(ref).abs().max().item())).toBe(0);
        expect(embed.requiresGrad).toBe(false);
        const z = zeros.step(args).embed;
        expect(torch.scope(() => z.abs().max().item())).toBe(0);
        expect(z.shape).toEqual([spans.length, D]);
      }
      const free: LatentStepArgs = {
        pre: torch.randn([2, D], { dtype: 'float64' }),
        normWeight: model.model.norm.weight,
        eps: 1e-6,
        index: 0,
        tokens: backbone,
      };
      expect(() => heads.step(free)).toThrow(/only known for training sequences/);
      // teacher-forced forward: the planted inputs are the result's embeddings, batched as unbatched
      const o = { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT };
      const batched = torch.noGrad(() => torch.scope(() => latentForward(seqs, o).lmSum));
      const single = torch.noGrad(() => seqs.reduce((s, q) => s + torch.scope(() => latentForward([q], o).lmSum), 0));
      expect(Math.abs(batched - single)).toBeLessThan(1e-9);
    } finally {
      zeros.dispose();
      dispose();
    }
  });

  test('pause: the latent inputs do not depend on the hidden state, one learned vector per latent index, and they train', () => {
    const { heads, backbone, seqs, dispose, model } = setup('pause', { k: 3 });
    try {
      const args = (pre: Tensor, index: number | number[]): LatentStepArgs => ({
        pre,
        normWeight: backbone.normWeight,
        eps: backbone.eps,
        index,
        tokens: backbone,
      });
      torch.noGrad(() =>
        torch.scope(() => {
          const a = heads.step(args(torch.randn([2, D], { dtype: 'float64' }), [0, 2])).embed;
          const b = heads.step(args(torch.randn([2, D], { dtype: 'float64' }).mul(5), [0, 2])).embed;
          expect(a.sub(b).abs().max().item()).toBe(0);
          expect(a.select(0, 0).sub(a.select(0, 1)).abs().max().item()).toBeGreaterThan(0); // index 0 vs 2
          // beyond the last slot: the last vector
          const far = heads.step(args(torch.randn([1, D], { dtype: 'float64' }), 1000)).embed;
          expect(far.squeeze(0).sub(heads.input.parameters()[0].select(0, -1)).abs().max().item()).toBe(0);
        }),
      );
      // in a forward, the fed latents are the vectors themselves, and perturbing the model changes nothing about them
      const fed = () =>
        torch.noGrad(() =>
          torch.scope(() => {
            const r = latentForward(seqs, {
              backbone,
              latentTrunk: backbone,
              heads,
              botId: BOT,
              eotId: EOT,
              collectLatents: true,
            });
            const out = r.latents.map((l) => ({ step: l.step, embed: l.embed.tolist() as number[] }));
            r.latents.forEach((l) => (l.embed.dispose(), l.hidden.dispose()));
            return out;
          }),
        );
      const before = fed();
      torch.noGrad(() => model.parameters().forEach((p) => torch.scope(() => p.add_(torch.randnLike(p).mul(0.1)))));
      const after = fed();
      expect(after).toEqual(before);
      const vectors = heads.input.parameters()[0];
      before.forEach((l) => expect(l.embed).toEqual(vectors.select(0, l.step).tolist()));
      // gradient reaches the vectors of the latent indices used (0..2), not the others
      torch.scope(() => latentForward(seqs, { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT }).loss.backward());
      const g = vectors.grad!;
      for (let j = 0; j < 3; j++) expect(g.select(0, j).abs().sum().item()).toBeGreaterThan(0);
      expect(
        g
          .narrow(0, 3, vectors.size(0) - 3)
          .abs()
          .sum()
          .item(),
      ).toBe(0);
    } finally {
      dispose();
    }
  });

  // planted-result is a teacher-forced control (it reads the result from the training span): no rollouts; tested below
  for (const kind of LATENT_INPUT_KINDS.filter((k) => k !== 'planted-result'))
    for (const twoTrunk of [false, true])
      test(`${kind}, ${twoTrunk ? 'two-trunk' : 'full'}: phase-1 forward and backward, batched equals unbatched, and rollouts re-scored by teacher forcing`, () => {
        const { heads, backbone, latentTrunk, decoder, model, seqs, dispose } = setup(kind, { twoTrunk });
        try {
          const o = { backbone, latentTrunk, heads, botId: BOT, eotId: EOT };
          const batched = torch.scope(() => {
            const r = latentForward(seqs, o);
            r.loss.mul(r.lmCount).backward();
            return r.lmSum;
          });
          const single = torch.noGrad(() => seqs.reduce((s, q) => s + torch.scope(() => latentForward([q], o).lmSum), 0));
          expect(Math.abs(batched - single)).toBeLessThan(1e-9);
          for (const p of heads.input.parameters()) expect(p.grad?.abs().sum().item() ?? 0).toBeGreaterThan(0);
          const trainable = twoTrunk ? decoder!.parameters() : model.parameters();
          expect(trainable.some((p) => (p.grad?.abs().sum().item() ?? 0) > 0)).toBe(true);
          if (twoTrunk) expect(model.parameters().every((p) => p.grad === null)).toBe(true);

          // phase 2: sampled rollouts with latents, and the same log-probabilities re-scored (recurrent latents)
          const m: PolicyModules = { backbone, latentTrunk, heads, botId: BOT, eotId: EOT, startLogitOffset: 0.2 };
          torch.manualSeed(5);
          const prompts = [[3, 4, 5], [7, 1, 2, 9], [12], [5, 5, 8]].flatMap((p) => [p, p]);
          const rollouts = sampleRollouts(m, prompts, { maxNewTokens: 8, maxLatents: 3, temperature: 0.9, eosIds: [0] });
          try {
            expect(rollouts.reduce((n, r) => n + r.ids.filter((i) => i === LATENT_ID).length, 0)).toBeGreaterThan(2);
            const scored = torch.noGrad(() =>
              torch.scope(
                () => scoreRollouts(m, rollouts, { temperature: 0.9, latentGrad: 'recurrent' }).logProbs.tolist() as number[],
              ),
            );
            const sampled = rollouts.flatMap((r) => r.actions.map((a) => a.logProb));
            scored.forEach((v, i) => expect(Math.abs(v - sampled[i])).toBeLessThan(1e-9));
          } finally {
            disposeRollouts(rollouts);
          }
        } finally {
          dispose();
        }
      });

  for (const kind of ['gated', 'soft', 'pause'] as const)
    test(`${kind}, two-trunk reencode: the live-tensor count stays flat across training steps (forward with collected hidden states, backward)`, () => {
      const { heads, backbone, latentTrunk, seqs, dispose } = setup(kind, { twoTrunk: true, dtype: 'float32' });
      try {
        const step = () =>
          torch.scope(() => {
            const r = latentForward(seqs, {
              backbone,
              latentTrunk,
              heads,
              botId: BOT,
              eotId: EOT,
              coupling: 'reencode',
              collectHidden: true,
            });
            r.loss.add(r.stopLoss).backward();
          });
        step(); // first step: gradients appear, per-device constants are made
        const after = torch.memory().liveTensors;
        for (let i = 0; i < 3; i++) step();
        expect(torch.memory().liveTensors).toBe(after);
      } finally {
        dispose();
      }
    });
});
