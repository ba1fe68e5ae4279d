import '../helpers/one-thread';
import * as fs from 'fs';
import * as path from 'path';
import * as torch from '../../src/torch';
import { loadQwen2 } from '../../src/models/qwen2/loading';
import { trainSft, type SftConfig } from '../../src/train/sft';
import { RunDir } from '../../src/train/run-dir';
import { haveQwenTokenizer as have, qwenDir, sftConfigOn, sftFixtureSuite, shortRun } from '../helpers/sft-fixture';

if (!have) console.log(`skipping SFT tests: no Qwen tokenizer at ${qwenDir}`);
const maybe = have ? describe : describe.skip;

maybe('phase 1 training (sft)', () => {
  const fx = sftFixtureSuite('lt-sft-');
  const config = sftConfigOn(fx, {
    latents: 2,
    ...shortRun({ steps: 16, every: 8, lr: 3e-3, minLr: 3e-4, warmupSteps: 2, evalExamples: 4 }),
  });

  const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const losses = (out: string) => new RunDir(out).readJsonl<{ step: number; loss: number }>('metrics.jsonl').map((m) => m.loss);

  test('full fine-tuning reduces the training loss; metrics, evals and checkpoints are written', async () => {
    const s = await trainSft(config({ out: 'full', mode: 'full' }), { quiet: true });
    expect(s.stopped).toBe('completed');
    const l = losses(s.out);
    expect(l.length).toBe(16);
    expect(meanOf(l.slice(-4))).toBeLessThan(meanOf(l.slice(0, 4)) - 0.3);
    const dir = new RunDir(s.out);
    expect(dir.readJsonl<{ split: string }>('evals.jsonl').map((e) => e.split)).toEqual([
      'validation',
      'test',
      'validation',
      'test',
    ]);
    expect(fs.existsSync(path.join(s.out, 'checkpoints'))).toBe(true);
    expect(dir.readJson<SftConfig>('config.json')!.mode).toBe('full');
  });

  test('two-trunk: the language copy is bit-identical after training and gets no gradient', async () => {
    const original = loadQwen2(fx.model, { tokenizer: false });
    const s = await trainSft(config({ out: 'two', mode: 'two-trunk', steps: 10 }), { quiet: true, keepModel: true });
    const lm = s.lm!;
    try {
      const l = losses(s.out);
      expect(meanOf(l.slice(-3))).toBeLessThan(meanOf(l.slice(0, 3)));
      const before = original.model.stateDict();
      for (const [name, p] of lm.model.stateDict()) {
        const b = before.get(name);
        if (!b || b.shape[0] !== p.shape[0]) continue; // the embedding grew by <bot>/<eot>
        expect(torch.scope(() => p.eq(b).all().item())).toBeTruthy();
        expect(p.grad).toBeNull();
      }
      // the latent copy moved away from the language copy
      const q0 = lm.latentDecoder!.layers.at(0).self_attn.q_proj.weight;
      expect(torch.scope(() => q0.sub(before.get('model.layers.0.self_attn.q_proj.weight')!).abs().max().item())).toBeGreaterThan(
        0,
      );
    } finally {
      lm.dispose();
      original.model.dispose();
    }
  });

  test('resume continues exactly: the loss trajectory equals the uninterrupted run', async () => {
    const whole = await trainSft(config({ out: 'whole', steps: 12, saveEvery: 4 }), { quiet: true });
    const first = await trainSft(config({ out: 'split', steps: 12, saveEvery: 4 }), { quiet: true, stopAfter: 6 });
    expect(first.stopped).toBe('interrupted');
    const second = await trainSft(config({ out: 'split', steps: 12, saveEvery: 4 }), { quiet: true, resume: true });
    expect(second.steps).toBe(12);
    const a = losses(whole.out);
    const b = losses(second.out);
    expect(b.length).toBe(12);
    for (let i = 0; i < 12; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-6 * Math.abs(a[i]));
  });

  test('a non-finite loss stops the run and keeps the last good checkpoint', async () => {
    const s = await trainSft(
      config({ out: 'nan', lr: 1e6, minLr: 1e6, warmupSteps: 0, steps: 40, saveEvery: 1, gradClip: 1e9 }),
      { quiet: true },
    );
    expect(s.stopped).toBe('non-finite');
    expect(s.steps).toBeLessThan(40);
    const ckpts = fs.readdirSync(path.join(s.out, 'checkpoints'));
    expect(ckpts.length).toBeGreaterThan(0);
  });
});
