import '../helpers/one-thread';
import * as torch from '../../src/torch';
import type { Tensor } from '../../src/torch';
import type { Qwen2ForCausalLM } from '../../src/models/qwen2/modeling';
import { randomQwen2, summedLossOnEmbeds } from '../helpers/random-qwen2';
import { BOT, EOT, EXAMPLES, VOCAB, charTok } from '../helpers/char-examples';
import { buildLatentSequence, Role, type LatentSequence } from '../../src/latent/sequence';
import { LatentHeads } from '../../src/latent/heads';
import { latentForward, type LatentForwardOptions } from '../../src/latent/forward';
import { LatentDecoder, qwen2Backbone } from '../../src/latent/qwen2-trunks';
import type { Coupling } from '../../src/latent/coupling';
import { LATENT_ID, disposeRollouts, sampleRollouts, type PolicyModules } from '../../src/rl/policy';
import { scoreRollouts } from '../../src/rl/teacher-forcing';
import { openingClassifiers, randomLatentHeads } from '../helpers/tiny-latent-policy';

const D = 16;

function setup(k = 2) {
  torch.manualSeed(9);
  const dtype = 'float64';
  const model = randomQwen2(VOCAB, D, dtype);
  const heads = randomLatentHeads(D, dtype);
  const decoder = LatentDecoder.copyOf(model);
  model.freeze();
  const perturb = (scale: number) =>
    torch.noGrad(() => decoder.parameters().forEach((p) => torch.scope(() => p.add_(torch.randnLike(p).mul(scale)))));
  perturb(0.1);
  const seqs = EXAMPLES.map((e) => buildLatentSequence(e, charTok, { latents: k, botId: BOT, eotId: EOT }));
  const backbone = qwen2Backbone(model);
  const options = (coupling: Coupling, extra: Partial<LatentForwardOptions> = {}): LatentForwardOptions => ({
    backbone,
    latentTrunk: decoder,
    heads,
    botId: BOT,
    eotId: EOT,
    coupling,
    ...extra,
  });
  const dispose = () => (model.dispose(), heads.dispose(), decoder.dispose());
  return { model, heads, decoder, seqs, options, perturb, dispose };
}

/** Language loss of the frozen model alone on the sequence, with the latent positions fed `latents` (in order). */
function frozenLoss(model: Qwen2ForCausalLM, heads: LatentHeads, s: LatentSequence, latents: Tensor[]): number {
  return torch.noGrad(() =>
    torch.scope(() => {
      let next = 0;
      const embeds = s.ids.map((id, t) => {
        if (s.roles[t] === Role.Latent) return latents[next++];
        if (id === BOT || id === EOT) return heads.markers.select(0, id === BOT ? 0 : 1);
        return model.model.embed_tokens.weight.select(0, id);
      });
      expect(next).toBe(latents.length);
      return summedLossOnEmbeds(model, embeds, s.targets).item();
    }),
  );
}

const perExampleLm = (seqs: LatentSequence[], o: LatentForwardOptions) =>
  torch.noGrad(() => torch.scope(() => latentForward(seqs, { ...o, perExample: true }).perExample.map((e) => e.lm.sum)));

describe('two-trunk coupling', () => {
  test('reencode: with the latent embeddings held fixed, perturbing the trainable copy leaves the language losses exactly unchanged (shared-kv: they change)', () => {
    const { seqs, options, perturb, dispose } = setup();
    try {
      const fixed = torch.keep(torch.randn([D], { dtype: 'float64' }));
      const ablation = { kind: 'vector' as const, vector: fixed };
      const before = {
        reencode: perExampleLm(seqs, options('reencode', { ablation })),
        shared: perExampleLm(seqs, options('shared-kv', { ablation })),
      };
      perturb(0.2);
      const after = {
        reencode: perExampleLm(seqs, options('reencode', { ablation })),
        shared: perExampleLm(seqs, options('shared-kv', { ablation })),
      };
      expect(after.reencode).toEqual(before.reencode);
      after.shared.forEach((v, i) => expect(Math.abs(v - before.shared[i])).toBeGreaterThan(1e-6));
      fixed.dispose();
    } finally {
      dispose();
    }
  });

  test('reencode: the language loss equals the frozen model alone fed the latent embeddings the trainable copy computed (float64, 1e-10)', () => {
    const { model, heads, seqs, options, dispose } = setup(3);
    try {
      const { sum, latents } = torch.noGrad(() => {
        const r = latentForward(seqs, { ...options('reencode'), collectLatents: true, perExample: true });
        return { sum: r.perExample.map((e) => e.lm.sum), latents: r.latents };
      });
      seqs.forEach((s, b) => {
        const mine = latents
          .filter((l) => l.example === b)
          .sort((x, y) => x.span - y.span || x.step - y.step)
          .map((l) => l.embed);
        expect(Math.abs(frozenLoss(model, heads, s, mine) - sum[b])).toBeLessThan(1e-10);
      });
      // shared-kv differs from that: the frozen copy reads the trainable copy's keys and values
      const shared = torch.noGrad(() =>
        torch.scope(() =>
          latentForward(seqs, { ...options('shared-kv'), collectLatents: true, perExample: true }).perExample.map(
            (e) => e.lm.sum,
          ),
        ),
      );
      expect(Math.abs(shared[0] - sum[0])).toBeGreaterThan(1e-6);
      for (const l of latents) {
        l.embed.dispose();
        l.hidden.dispose();
      }
    } finally {
      dispose();
    }
  });

  test('reencode: gradients reach the trainable copy (through the embeddings) and the heads, never the frozen copy', () => {
    const { model, decoder, heads, seqs, options, dispose } = setup();
    try {
      torch.scope(() => latentForward(seqs, options('reencode')).loss.backward());
      expect(model.parameters().every((p) => p.grad === null)).toBe(true);
      const norm = (ps: Tensor[]) => ps.reduce((s, p) => s + (p.grad ? p.grad.abs().sum().item() : 0), 0);
      expect(norm(decoder.parameters())).toBeGreaterThan(0);
      expect(norm([heads.gain, heads.bias])).toBeGreaterThan(0);
      // the last layer's MLP of the trainable copy only feeds the next latent: still a gradient, via its embedding
      expect(norm(decoder.layers.at(-1).parameters())).toBeGreaterThan(0);
    } finally {
      dispose();
    }
  });

  for (const latentGrad of ['stored', 'recurrent'] as const)
    test(`reencode, phase 2 (${latentGrad} latents): rollouts re-scored by teacher forcing give the sampled log-probabilities, and differ from shared-kv`, () => {
      const { model, heads, decoder, dispose } = setup();
      try {
        torch.noGrad(() => openingClassifiers(heads));
        const prompts = [[3, 4, 5], [7, 1, 2, 9], [12], [5, 5, 8]].flatMap((p) => [p, p]);
        const run = (coupling: Coupling) => {
          const m: PolicyModules = {
            backbone: qwen2Backbone(model),
            latentTrunk: decoder,
            heads,
            botId: BOT,
            eotId: EOT,
            startLogitOffset: 0.2,
            coupling,
          };
          torch.manualSeed(5);
          const rollouts = sampleRollouts(m, prompts, { maxNewTokens: 8, maxLatents: 3, temperature: 0.9, eosIds: [0] });
          const scored = torch.noGrad(() =>
            torch.scope(() => scoreRollouts(m, rollouts, { temperature: 0.9, latentGrad }).logProbs.tolist() as number[]),
          );
          const sampled = rollouts.flatMap((r) => r.actions.map((a) => a.logProb));
          const latents = rollouts.reduce((n, r) => n + r.ids.filter((i) => i === LATENT_ID).length, 0);
          disposeRollouts(rollouts);
          return { scored, sampled, latents };
        };
        const re = run('reencode');
        expect(re.latents).toBeGreaterThan(2);
        re.scored.forEach((v, i) => expect(Math.abs(v - re.sampled[i])).toBeLessThan(1e-9));
        const shared = run('shared-kv');
        expect(shared.sampled).not.toEqual(re.sampled);
      } finally {
        dispose();
      }
    });

  test('reencode needs two trunks', () => {
    const { model, heads, seqs, dispose } = setup();
    try {
      const backbone = qwen2Backbone(model);
      expect(() =>
        latentForward(seqs, { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT, coupling: 'reencode' }),
      ).toThrow(/needs two-trunk mode/);
      expect(() =>
        latentForward(seqs, { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT, coupling: 'other' as Coupling }),
      ).toThrow(/coupling must be one of/);
    } finally {
      dispose();
    }
  });
});
