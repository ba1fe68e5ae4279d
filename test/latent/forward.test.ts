import * as torch from '../../src/torch';
import type { Tensor } from '../../src/torch';
import type { Qwen2ForCausalLM } from '../../src/models/qwen2/modeling';
import { randomQwen2, summedLossOnEmbeds } from '../helpers/random-qwen2';
import { parseGsm8kRecord, type Gsm8kExample } from '../../src/data/gsm8k';
import { buildLatentSequence, Role, type LatentSequence } from '../../src/latent/sequence';
import { LatentHeads } from '../../src/latent/heads';
import { latentForward, type Backbone, type ExampleLosses } from '../../src/latent/forward';
import { LatentDecoder, qwen2Backbone } from '../../src/latent/qwen2-trunks';
import { latentStep } from '../../src/torch/kernels/latent-step';

// A character-level "tokenizer" over a small alphabet keeps the model tiny.
const ALPHABET = ' abcdefghijklmnopqrstuvwxyz0123456789+-*/=.,?:#\n$QA';
const charTok = { encode: (s: string) => [...s].map((c) => Math.max(0, ALPHABET.indexOf(c))) };
const BOT = ALPHABET.length;
const EOT = ALPHABET.length + 1;
const VOCAB = ALPHABET.length + 2;

function example(question: string, answer: string): Gsm8kExample {
  const r = parseGsm8kRecord(JSON.stringify({ question, answer }), 0) as { example: Gsm8kExample };
  return r.example;
}
const EXAMPLES = [
  example('a has 3 b?', 'so 3*4=<<3*4=12>>12 c.\n#### 12'),
  example('x?', 'y 2+2=<<2+2=4>>4 and 4*5=<<4*5=20>>20 z.\n#### 20'),
  example('long question here?', 'ok 9-1=<<9-1=8>>8.\n#### 8'),
];

function setup(k: number, dtype: torch.DType = 'float64') {
  torch.manualSeed(7);
  const model = randomQwen2(VOCAB, 16, dtype);
  const heads = torch.scope(
    () => new LatentHeads({ hidden: 16, markerInit: torch.randn([2, 16], { dtype }), scale: 1.3, dtype }),
  );
  torch.noGrad(() =>
    torch.scope(() => {
      heads.gain.copy_(torch.randnLike(heads.gain).mul(0.2).add(1));
      heads.bias.copy_(torch.randnLike(heads.bias).mul(0.2));
    }),
  );
  const seqs = EXAMPLES.map((e) => buildLatentSequence(e, charTok, { latents: k, botId: BOT, eotId: EOT }));
  return { model, heads, seqs, backbone: qwen2Backbone(model) };
}

/** Reference: position by position without cache; each latent's input from a full forward of the prefix. */
function referenceLoss(model: Qwen2ForCausalLM, heads: LatentHeads, s: LatentSequence): Tensor {
  return torch.scope(() => {
    const embeds: Tensor[] = [];
    for (let t = 0; t < s.ids.length; t++) {
      if (s.roles[t] === Role.Latent) {
        const prefix = torch.stack(embeds).unsqueeze(0);
        const pre = model.model.forward({ inputsEmbeds: prefix }).preNormHidden.select(1, t - 1);
        embeds.push(
          latentStep(
            pre,
            model.model.norm.weight,
            heads.gain,
            heads.bias,
            heads.scale,
            heads.stopWeight,
            heads.stopBias,
            model.config.rmsNormEps,
          ).embed.squeeze(0),
        );
      } else if (s.ids[t] === BOT || s.ids[t] === EOT) {
        embeds.push(heads.markers.select(0, s.ids[t] === BOT ? 0 : 1));
      } else {
        embeds.push(model.model.embed(torch.tensor([[s.ids[t]]], { dtype: 'int64' })).view([-1]));
      }
    }
    return summedLossOnEmbeds(model, embeds, s.targets);
  });
}

describe('latentForward', () => {
  test('equals a cache-free reference computed position by position (float64)', () => {
    const { model, heads, seqs, backbone } = setup(2);
    for (const s of seqs) {
      const ours = torch.scope(
        () => latentForward([s], { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT }).lmSum,
      );
      const ref = torch.scope(() => referenceLoss(model, heads, s).item());
      expect(Math.abs(ours - ref)).toBeLessThan(1e-10 * Math.abs(ref));
    }
  });

  test('a batch with breakpoints at different positions equals the unbatched runs: losses and gradients', () => {
    const { model, heads, seqs, backbone } = setup(3);
    const params = [...model.parameters(), ...heads.parameters()];
    const gradsOf = (run: () => Tensor): number[][] =>
      torch.scope(() => {
        const loss = run();
        const g = torch.autograd.grad(loss, params, { allowUnused: true });
        return g.map((x) => (x ? (x.reshape([-1]).tolist() as number[]) : []));
      });
    const batched = gradsOf(() => {
      const r = latentForward(seqs, { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT });
      return r.loss.mul(r.lmCount).add(r.stopLoss.mul(r.stopCount));
    });
    const single = seqs.map((s) =>
      gradsOf(() => {
        const r = latentForward([s], { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT });
        return r.loss.mul(r.lmCount).add(r.stopLoss.mul(r.stopCount));
      }),
    );
    let maxErr = 0;
    batched.forEach((g, i) =>
      g.forEach((v, j) => {
        const sum = single.reduce((a, s) => a + (s[i][j] ?? 0), 0);
        maxErr = Math.max(maxErr, Math.abs(v - sum) / (1 + Math.abs(sum)));
      }),
    );
    expect(maxErr).toBeLessThan(1e-10);
    const lb = torch.scope(() =>
      latentForward(seqs, { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT, perExample: true }),
    );
    const ls = seqs.map((s) =>
      torch.scope(() => latentForward([s], { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT }).lmSum),
    );
    lb.perExample.forEach((e, i) => expect(Math.abs(e.lm.sum - ls[i])).toBeLessThan(1e-10 * ls[i]));
    // result and step-after-span sums: per example, over exactly the positions the sequence marks, summing to the totals
    lb.perExample.forEach((e, i) => {
      expect(e.result.count).toBe(seqs[i].resultTarget.filter((x, t) => x && seqs[i].targets[t] !== -100).length);
      expect(e.step.count).toBe(seqs[i].stepTarget.filter((x, t) => x && seqs[i].targets[t] !== -100).length);
      expect(e.step.count).toBeGreaterThanOrEqual(e.result.count); // a step starts with its result
      expect(e.step.sum).toBeGreaterThanOrEqual(e.result.sum - 1e-12);
      expect(e.step.sum).toBeLessThanOrEqual(e.lm.sum + 1e-12);
    });
    const sum = (f: (e: ExampleLosses) => number) => lb.perExample.reduce((a, e) => a + f(e), 0);
    expect(Math.abs(sum((e) => e.step.sum) - lb.stepSum)).toBeLessThan(1e-9);
    expect(sum((e) => e.step.count)).toBe(lb.stepCount);
    expect(Math.abs(sum((e) => e.next.sum) - lb.nextStepSum)).toBeLessThan(1e-9);
    expect(sum((e) => e.next.count)).toBe(lb.nextStepCount);
    expect(sum((e) => e.lm.count)).toBe(lb.lmCount);
    expect(lb.stepCount).toBeGreaterThan(0);
  });

  test('the gradient through the latent passes matches finite differences', () => {
    const { heads, seqs, backbone } = setup(2);
    const lossOf = () =>
      torch.scope(() => latentForward([seqs[1]], { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT }).lmSum);
    const analytic = torch.scope(() => {
      const r = latentForward([seqs[1]], { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT });
      const [g] = torch.autograd.grad(r.loss.mul(r.lmCount), [heads.gain]);
      return g!.tolist() as number[];
    });
    const eps = 1e-6;
    for (const i of [0, 5, 11]) {
      const bump = (d: number) => torch.noGrad(() => torch.scope(() => heads.gain.select(0, i).add_(d)));
      bump(eps);
      const up = lossOf();
      bump(-2 * eps);
      const down = lossOf();
      bump(eps);
      const numeric = (up - down) / (2 * eps);
      expect(Math.abs(numeric - analytic[i])).toBeLessThan(1e-6 * (1 + Math.abs(numeric)));
    }
    expect(analytic.some((v) => Math.abs(v) > 1e-6)).toBe(true); // latents influence the loss
  });

  test('two-trunk: the language copy receives no gradient, the latent copy does', () => {
    const { model, heads, seqs, backbone } = setup(2);
    const decoder = LatentDecoder.copyOf(model);
    model.freeze();
    const r = torch.scope(() => {
      const out = latentForward(seqs, { backbone, latentTrunk: decoder, heads, botId: BOT, eotId: EOT });
      out.loss.backward();
      return out.lmSum;
    });
    expect(Number.isFinite(r)).toBe(true);
    for (const p of model.parameters()) expect(p.grad).toBeNull();
    const g = decoder.layers.at(0).self_attn.q_proj.weight.grad;
    expect(g).not.toBeNull();
    expect(torch.scope(() => g!.abs().sum().item())).toBeGreaterThan(0);
    expect(heads.gain.grad).not.toBeNull();
  });

  test('two-trunk with the frozen copy in bfloat16: close to float32, gradients reach the latent copy only', () => {
    const { model, heads, seqs, backbone } = setup(2, 'float32');
    const decoder = LatentDecoder.copyOf(model);
    model.freeze();
    const f32 = torch.scope(() => latentForward(seqs, { backbone, latentTrunk: decoder, heads, botId: BOT, eotId: EOT }).lmSum);
    model.to('bfloat16');
    const r = torch.scope(() => {
      const out = latentForward(seqs, { backbone, latentTrunk: decoder, heads, botId: BOT, eotId: EOT });
      out.loss.backward();
      return out.lmSum;
    });
    expect(Math.abs(r - f32) / f32).toBeLessThan(3e-2);
    for (const p of model.parameters()) {
      expect(p.dtype).toBe('bfloat16');
      expect(p.grad).toBeNull();
    }
    expect(decoder.layers.at(1).mlp.down_proj.weight.grad).not.toBeNull();
    expect(heads.gain.grad!.dtype).toBe('float32');
  });

  test('ablations change the latent inputs only', () => {
    const { heads, seqs, backbone } = setup(2);
    const run = (ablation?: Parameters<typeof latentForward>[1]['ablation']) =>
      torch.scope(() =>
        torch.noGrad(
          () => latentForward(seqs, { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT, ablation }).nextStepSum,
        ),
      );
    const trained = run();
    expect(run({ kind: 'zeros' })).not.toBeCloseTo(trained, 6);
    expect(run({ kind: 'shuffled' })).not.toBeCloseTo(trained, 6);
    // with k = 0 there are no latents, so every ablation gives the same loss
    const base = setup(0);
    const b = (ablation?: Parameters<typeof latentForward>[1]['ablation']) =>
      torch.scope(() =>
        torch.noGrad(
          () =>
            latentForward(base.seqs, {
              backbone: base.backbone,
              latentTrunk: base.backbone,
              heads: base.heads,
              botId: BOT,
              eotId: EOT,
              ablation,
            }).lmSum,
        ),
      );
    expect(b({ kind: 'zeros' })).toBe(b());
  });

  test('live tensors return to their starting count after a forward/backward', () => {
    const { heads, seqs, backbone } = setup(2, 'float32');
    const before = torch.memory().liveTensors;
    for (let i = 0; i < 3; i++) {
      torch.scope(() => {
        const r = latentForward(seqs, { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT, collectLatents: true });
        r.loss.backward();
        for (const l of r.latents) {
          l.embed.dispose();
          l.hidden.dispose();
        }
      });
    }
    // gradients now exist on parameters (one per parameter); nothing else may remain
    const grads = [...heads.parameters()].length;
    expect(torch.memory().liveTensors).toBeLessThanOrEqual(before + grads + 200);
    const after1 = torch.memory().liveTensors;
    torch.scope(() => latentForward(seqs, { backbone, latentTrunk: backbone, heads, botId: BOT, eotId: EOT }).loss.backward());
    expect(torch.memory().liveTensors).toBe(after1);
  });
});

export type { Backbone };
