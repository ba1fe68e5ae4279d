// The instrument end to end, through the same training and `latent eval` code as every run: a model
// whose latents carry the result (planted positive) must come out `helps`, a model whose latents are
// zeroed in training (planted null) `ignored` with a content CI including 0, each against the k = 0
// run with the same steps, data and learning rate; a run without its reference's per-example losses
// is refused.
import '../helpers/one-thread';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeArithTask, ARITH_PRESETS } from '../../src/data/arith-task';
import { loadGsm8k, formatTrainingText } from '../../src/data/gsm8k';
import { makeTinyQwen2 } from '../helpers/tiny-qwen2';
import { trainByteLevelBpe } from '../../src/demo/tokenizer';
import { resolveSftConfig, trainSft } from '../../src/train/sft';
import { evaluateSftRun } from '../../src/train/sft-eval';
import { calibrate, includesZero } from '../../src/latent/study';
import type { LatentInputKind } from '../../src/latent/latent-input';

describe('the study instrument on planted cases', () => {
  let root: string;
  let data: string;
  let model: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-study-'));
    data = path.join(root, 'data');
    writeArithTask(data, { train: 300, test: 32, seed: 5, ...ARITH_PRESETS.basic.difficulty });
    const texts = loadGsm8k(data, { split: 'train' }).examples.map((e) => formatTrainingText(e));
    const tok = path.join(root, 'tok');
    trainByteLevelBpe(texts, { vocabSize: 300 }).save(tok);
    model = path.join(root, 'model');
    makeTinyQwen2(model, tok, 300, { seed: 2 });
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const train = async (name: string, latents: number, latentInput: LatentInputKind) => {
    const out = path.join(root, name);
    const config = resolveSftConfig({
      model,
      data,
      out,
      mode: 'full',
      latents,
      latentInput,
      steps: 120,
      batchSize: 8,
      lr: 1e-2,
      minLr: 1e-3,
      warmupSteps: 5,
      evalEvery: 120,
      evalExamples: 4,
      validationSize: 8,
      saveEvery: 120,
      seed: 1,
    });
    const summary = await trainSft(config, { quiet: true });
    expect(summary.stopped).toBe('completed');
    return out;
  };
  const evaluate = (dir: string, reference?: string) =>
    evaluateSftRun(dir, { examples: 32, generate: 0, inspect: 0, constantSteps: 5, quiet: true, reference });

  test('planted positive → helps, planted null → ignored; calibration passes', async () => {
    const baseline = await train('baseline-k0', 0, 'affine');
    const base = await evaluate(baseline);
    expect(base.study).toBeNull(); // the reference itself
    expect(base.perExample.result).toHaveLength(32);

    const positive = await evaluate(await train('planted-positive-k2', 2, 'planted-result'), baseline);
    const nul = await evaluate(await train('planted-null-k2', 2, 'zeros'), baseline);
    const p = positive.study!;
    const n = nul.study!;
    expect(p.helps!.reference).toBe('baseline-k0');
    expect(p.verdict).toBe('helps');
    expect(p.helps!.ci[0]).toBeGreaterThan(0);
    expect(p.used!.ci[0]).toBeGreaterThan(0);
    expect(positive.accuracyNote).toBeUndefined(); // generate: 0 asks for no accuracy

    expect(n.verdict).toBe('ignored');
    expect(includesZero(n.used!)).toBe(true);
    // shuffling or averaging zeros changes nothing, to the last bit
    expect(n.used).toMatchObject({ delta: 0, ci: [0, 0] });
    expect(n.content!.mean).toEqual({ delta: 0, ci: [0, 0] });

    const c = calibrate({ name: 'planted-positive', ...p }, { name: 'planted-null', ...n });
    expect(c.passed).toBe(true);
  }, 600_000);

  test('a reference without per-example losses, or on other test data, is refused', async () => {
    const fresh = path.join(root, 'never-evaluated');
    fs.mkdirSync(fresh, { recursive: true });
    await expect(evaluate(path.join(root, 'planted-null-k2'), fresh)).rejects.toThrow(
      /no per-example losses in diagnostics\.json; run `latent eval/,
    );
    const diag = JSON.parse(fs.readFileSync(path.join(root, 'baseline-k0', 'diagnostics.json'), 'utf8'));
    const moved = path.join(root, 'other-data-ref');
    fs.mkdirSync(moved);
    fs.writeFileSync(path.join(moved, 'diagnostics.json'), JSON.stringify({ ...diag, testData: '/elsewhere' }));
    await expect(evaluate(path.join(root, 'planted-null-k2'), moved)).rejects.toThrow(/evaluated on \/elsewhere/);
  }, 300_000);
});
