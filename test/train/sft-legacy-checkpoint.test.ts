// Checkpoints written before the latent input forms (the affine gain and bias saved as heads.gain and
// heads.bias): they load into today's heads.input.gain / heads.input.bias, and a config that asks for
// another form is refused in one line that names the checkpoint and the fix.
import '../helpers/one-thread';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as torch from '../../src/torch';
import type { Tensor } from '../../src/torch';
import { loadSftRun, resolveSftConfig, trainSft, type SftConfig } from '../../src/train/sft';
import { latestCheckpoint, readCheckpointManifest, saveTrainingCheckpoint } from '../../src/train/checkpoint';
import { RunDir } from '../../src/train/run-dir';
import { haveQwenTokenizer as have, qwenDir, sftFixture } from '../helpers/sft-fixture';

if (!have) console.log(`skipping legacy checkpoint tests: no Qwen tokenizer at ${qwenDir}`);
const maybe = have ? describe : describe.skip;

const values = (t: Tensor) => Array.from(t.float().toTypedArray() as Float32Array);

maybe('checkpoints from before the latent input forms', () => {
  let root: string;
  let out: string;
  let checkpoints: string;
  let gain: number[];
  let bias: number[];
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-sft-legacy-'));
    const fx = sftFixture(root);
    const config = resolveSftConfig({
      model: fx.model,
      data: fx.data,
      out: path.join(root, 'run'),
      latents: 2,
      steps: 2,
      batchSize: 4,
      evalEvery: 2,
      evalExamples: 2,
      saveEvery: 2,
      validationSize: 4,
      startFitExamples: 0,
    });
    out = (await trainSft(config, { quiet: true })).out;
    checkpoints = new RunDir(out).path('checkpoints');
    // rewrite the checkpoint as the old code saved it: the affine parameters under heads.gain / heads.bias,
    // with values that differ from any initialisation
    const run = await loadSftRun(out, { quiet: true });
    const manifest = readCheckpointManifest(latestCheckpoint(checkpoints)!);
    const legacy = new Map<string, Tensor>();
    for (const [k, v] of run.lm.stateDict()) {
      if (k === 'heads.input.gain') legacy.set('heads.gain', torch.keep(torch.linspace(0.5, 1.5, v.numel())));
      else if (k === 'heads.input.bias') legacy.set('heads.bias', torch.keep(torch.linspace(-0.1, 0.1, v.numel())));
      else legacy.set(k, v);
    }
    gain = values(legacy.get('heads.gain')!);
    bias = values(legacy.get('heads.bias')!);
    fs.rmSync(checkpoints, { recursive: true });
    saveTrainingCheckpoint(checkpoints, manifest.step, { model: legacy, config: manifest.config, extra: manifest.extra });
    legacy.get('heads.gain')!.dispose();
    legacy.get('heads.bias')!.dispose();
    run.lm.dispose();
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('heads.gain and heads.bias load into the affine input form', async () => {
    const run = await loadSftRun(out, { quiet: true });
    try {
      expect(run.step).toBe(2);
      expect(values(run.lm.heads.gain)).toEqual(gain);
      expect(values(run.lm.heads.bias)).toEqual(bias);
    } finally {
      run.lm.dispose();
    }
  });

  test('a config asking for another form is refused in one line naming the checkpoint and the fix', async () => {
    const dir = new RunDir(out);
    const saved = dir.readJson<SftConfig>('config.json')!;
    dir.writeJson('config.json', { ...saved, latentInput: 'raw' });
    try {
      const error = await loadSftRun(out, { quiet: true }).then(
        () => null,
        (e: Error) => e,
      );
      expect(error?.message).toMatch(/step-0*2.*heads\.gain.*latentInput "raw".*set "latentInput": "affine"/);
      expect(error?.message.includes('\n')).toBe(false);
    } finally {
      dir.writeJson('config.json', saved);
    }
  });
});
