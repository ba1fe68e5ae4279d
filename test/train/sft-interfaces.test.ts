import '../helpers/one-thread';
import * as fs from 'fs';
import * as path from 'path';
import * as torch from '../../src/torch';
import type { Tensor } from '../../src/torch';
import { formatPrompt } from '../../src/data/gsm8k';
import { loadQwen2 } from '../../src/models/qwen2/loading';
import { generateWithLatents } from '../../src/latent/generate';
import type { LatentInputKind } from '../../src/latent/latent-input';
import { loadSftRun, trainSft, type SftConfig } from '../../src/train/sft';
import { evaluateSftRun, formatDiagnostics } from '../../src/train/sft-eval';
import { RunDir } from '../../src/train/run-dir';
import { openRlPolicy, resolveRlConfig, trainRl } from '../../src/rl/trainer';
import { expectGreedyRolloutsMatchGeneration } from '../helpers/rl-greedy';
import { haveQwenTokenizer as have, qwenDir, sftConfigOn, sftFixtureSuite, shortRun } from '../helpers/sft-fixture';

if (!have) console.log(`skipping latent interface SFT tests: no Qwen tokenizer at ${qwenDir}`);
const maybe = have ? describe : describe.skip;

maybe('phase 1 with latent input forms, couplings and frozen markers', () => {
  const fx = sftFixtureSuite('lt-sft-if-');
  const config = sftConfigOn(fx, {
    latents: 2,
    ...shortRun({ steps: 4, every: 4, lr: 3e-3, minLr: 3e-4, warmupSteps: 1, evalExamples: 4 }),
    maxLatents: 3,
  });

  test('bad options are refused with clear errors', () => {
    expect(() => config({ latentInput: 'hidden' as LatentInputKind })).toThrow(
      /latentInput must be one of raw, scaled, affine, gated, soft, pause/,
    );
    expect(() => config({ latentTemperature: 0 })).toThrow(/latentTemperature must be a number in \(0, 100\], got 0/);
    expect(() => config({ mode: 'full', coupling: 'reencode' })).toThrow(/needs two-trunk mode/);
  });

  for (const form of ['raw', 'scaled', 'gated', 'soft', 'pause'] as const)
    test(`${form}: trains, config.json records the form, and the loaded run rebuilds it and generates with spans`, async () => {
      const s = await trainSft(config({ out: form, mode: 'full', latentInput: form, latentTemperature: 0.7 }), { quiet: true });
      expect(s.stopped).toBe('completed');
      expect(Number.isFinite(s.finalLoss)).toBe(true);
      expect(new RunDir(s.out).readJson<SftConfig>('config.json')!.latentInput).toBe(form);
      const run = await loadSftRun(s.out);
      try {
        expect(run.lm.heads.input.kind).toBe(form);
        if (form === 'pause') expect(run.lm.heads.input.spec()).toEqual({ kind: 'pause', slots: 3 });
        if (form === 'soft' || form === 'gated') expect(run.lm.heads.input.spec()).toEqual({ kind: form, temperature: 0.7 });
        const g = generateWithLatents(run.lm, formatPrompt(run.data.test[0].question), {
          maxNewTokens: 6,
          startThreshold: 0,
          maxLatents: 2,
        });
        expect(g.spans.length).toBeGreaterThan(0);
        expect(g.spans.some((sp) => sp.latents > 0)).toBe(true);
      } finally {
        run.lm.dispose();
      }
    });

  test('two-trunk, reencode, gated, markers frozen: the markers stay at their initial rows, eval reports the interface, and generation is the frozen model fed the latent embeddings', async () => {
    const s = await trainSft(
      config({ out: 'two-re', mode: 'two-trunk', coupling: 'reencode', latentInput: 'gated', freezeMarkers: true }),
      { quiet: true },
    );
    const moving = await trainSft(config({ out: 'two-moving', mode: 'two-trunk', coupling: 'reencode', latentInput: 'gated' }), {
      quiet: true,
    });
    const base = loadQwen2(fx.model);
    const run = await loadSftRun(s.out);
    const other = await loadSftRun(moving.out);
    try {
      expect(run.lm.coupling).toBe('reencode');
      expect(run.lm.heads.markers.requiresGrad).toBe(false);
      const eq = run.lm.tokenizer.encode('=');
      expect(eq).toHaveLength(1);
      const initRow = base.model.model.embed_tokens.weight.select(0, eq[0]);
      const initial = torch.stack([initRow, initRow]);
      expect(run.lm.heads.markers.sub(initial).abs().max().item()).toBe(0);
      // the control: without --freeze-markers the same training moves them
      expect(other.lm.heads.markers.sub(initial).abs().max().item()).toBeGreaterThan(1e-4);

      // generation under reencode: each token is the frozen model's argmax on the sequence with the
      // spans' latent embeddings as inputs (no other path from the latent copy to language). The
      // latent copy is moved well away from the frozen one first, so that its keys and values differ.
      torch.noGrad(() =>
        run.lm.latentDecoder!.parameters().forEach((p) => torch.scope(() => p.add_(torch.randnLike(p).mul(0.3)))),
      );
      const prompt = run.lm.tokenizer.encode(formatPrompt(run.data.test[1].question));
      const g = generateWithLatents(run.lm, formatPrompt(run.data.test[1].question), {
        maxNewTokens: 8,
        startThreshold: 0,
        maxLatents: 2,
        keepLatents: true,
      });
      try {
        expect(g.spans.some((sp) => sp.latents > 0)).toBe(true);
        const lm = run.lm;
        torch.noGrad(() =>
          torch.scope(() => {
            const E = lm.model.model.embed_tokens.weight;
            const inputs: Tensor[] = prompt.map((id) => E.select(0, id));
            const predictors: number[] = [];
            g.tokens.forEach((token, i) => {
              for (const sp of g.spans.filter((x) => x.at === i))
                inputs.push(lm.heads.markers.select(0, 0), ...sp.embeds!, lm.heads.markers.select(0, 1));
              predictors.push(inputs.length - 1);
              inputs.push(E.select(0, token));
            });
            const logits = lm.model
              .forward({ inputsEmbeds: torch.stack(inputs.map((x) => x.to(E.dtype))).unsqueeze(0) })
              .logits.squeeze(0);
            const argmax = logits
              .indexSelect(0, torch.tensor(predictors, { dtype: 'int64' }))
              .argmax(-1)
              .tolist() as number[];
            expect(argmax).toEqual(g.tokens);
          }),
        );
      } finally {
        for (const sp of g.spans) [...(sp.embeds ?? []), ...(sp.hiddens ?? [])].forEach((t) => t.dispose());
      }
    } finally {
      run.lm.dispose();
      other.lm.dispose();
      base.model.dispose();
    }
    const d = await evaluateSftRun(s.out, { examples: 4, generate: 2, inspect: 2, quiet: true });
    expect(d.latentInterface).toEqual({
      latentInput: { kind: 'gated', temperature: 1 },
      mode: 'two-trunk',
      coupling: 'reencode',
      freezeMarkers: true,
    });
    expect(formatDiagnostics(d).split('\n')[0]).toBe(
      'latent input gated (temperature 1), two-trunk, coupling reencode, markers frozen',
    );
  });

  test('phase 2 from the two-trunk reencode gated run: greedy rollouts are phase-1 generation, and GRPO steps run', async () => {
    const from = path.join(fx.root, 'two-re');
    expect(fs.existsSync(path.join(from, 'config.json'))).toBe(true); // trained by the test above
    const c = resolveRlConfig({
      from,
      data: fx.data,
      steps: 2,
      questionsPerStep: 2,
      group: 4,
      lr: 1e-3,
      maxNewTokens: 8,
      microBatchSize: 16,
      evalEvery: 1000,
      evalExamples: 0,
      saveEvery: 1000,
      sampleEvery: 10,
      samplesPerStep: 1,
      out: path.join(fx.root, 'rl'),
    });
    const p = await openRlPolicy(c);
    try {
      expect(p.policy.coupling).toBe('reencode');
      p.policy.startLogitOffset = 5; // open spans readily, so that the comparison covers latents
      expectGreedyRolloutsMatchGeneration(p, c, {
        count: 4,
        startThreshold: 1 / (1 + Math.exp(5)),
        inspect: (rollouts) => expect(rollouts.some((r) => r.spans.some((sp) => sp.latents > 0))).toBe(true),
      });
    } finally {
      p.lm.dispose();
    }
    const s = await trainRl(c, { quiet: true });
    expect(s.stopped).toBe('completed');
    expect(s.steps).toBe(2);
  });
});
