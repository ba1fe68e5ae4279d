// `latent train sft` and the run directory: nothing a run did not create is written over, read-only
// commands create nothing, errors name the broken file, flags are checked before anything is
// written, Ctrl-C exits 130, and a damaged newest checkpoint does not block --resume.
import '../helpers/one-thread';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import yargs from 'yargs';
import { loadQwen2 } from '../../src/models/qwen2/loading';
import { RunDir } from '../../src/train/run-dir';
import { command as trainCommand } from '../../src/cli/commands/train';
import { command as evalCommand } from '../../src/cli/commands/eval';
import { haveQwenTokenizer, qwenDir, sftFixture } from '../helpers/sft-fixture';
import { expectCtrlCSavesAndExits130, flagArgs, quietCli } from '../helpers/train-cli';

if (!haveQwenTokenizer) console.log(`skipping SFT safety tests: no Qwen tokenizer at ${qwenDir}`);
const maybe = haveQwenTokenizer ? describe : describe.skip;

/** Snapshot of every file under `dir`: relative path -> bytes (as a string). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, file)] = fs.readFileSync(file).toString('latin1');
  }
  return out;
}

maybe('train sft keeps what it did not create', () => {
  let root: string;
  let fx: { data: string; model: string };
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-sft-safety-'));
    fx = sftFixture(root);
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const small: Record<string, string> = {
    latents: '1',
    batch: '4',
    lr: '3e-3',
    warmup: '1',
    'eval-every': '100',
    'eval-examples': '2',
    'validation-size': '8',
    steps: '2',
    'save-every': '1',
  };
  const cli = quietCli(trainCommand, evalCommand);
  /** train sft with the small defaults, overridden by `over` */
  const train = (out: string, over: Record<string, string> = {}) =>
    cli(['train', 'sft', '--model', fx.model, '--data', fx.data, '--out', out, ...flagArgs(small, over)]);

  test('--out equal to the model directory is refused and the model still loads', async () => {
    const before = snapshot(fx.model);
    await expect(train(fx.model)).rejects.toThrow(/is not empty .*choose another --out.*nothing was written/);
    expect(snapshot(fx.model)).toEqual(before);
    const m = loadQwen2(fx.model, { tokenizer: false });
    m.model.dispose();
  });

  test("a directory with someone's config.json is refused and left as it was", async () => {
    const user = path.join(root, 'user');
    fs.mkdirSync(user);
    fs.writeFileSync(path.join(user, 'config.json'), '{"project": "mine"}\n');
    await expect(train(user)).rejects.toThrow(/is not empty \(config.json\)/);
    expect(snapshot(user)).toEqual({ 'config.json': '{"project": "mine"}\n' });
  });

  test('an earlier run is not trained into again without --resume; --resume keeps its identity', async () => {
    const out = path.join(root, 'run');
    await train(out);
    const before = snapshot(out);
    await expect(train(out, { latents: '2' })).rejects.toThrow(/already holds a run .*--resume/);
    expect(snapshot(out)).toEqual(before);
    await expect(cli(['train', 'sft', '--resume', out, '--mode', 'two-trunk'])).rejects.toThrow(
      /config.json: the run was trained with mode "full"; it cannot be resumed with mode "two-trunk"/,
    );
    expect(snapshot(out)).toEqual(before);
  });

  test('read-only commands create nothing for a path that is not a run', async () => {
    const typo = path.join(root, 'typo');
    await expect(cli(['eval', typo])).rejects.toThrow(/typo: not a run directory/);
    await expect(cli(['train', 'sft', '--resume', typo])).rejects.toThrow(/typo: not a run directory/);
    expect(fs.existsSync(typo)).toBe(false);
  });

  test('a corrupt run config.json is named in the error, by train --resume and by eval', async () => {
    const out = path.join(root, 'corrupt');
    await train(out);
    fs.writeFileSync(path.join(out, 'config.json'), '{"kind": "sft", "model": ');
    const named = new RegExp(`${path.join(out, 'config.json').replace(/[/.]/g, '\\$&')}: not valid JSON`);
    await expect(cli(['train', 'sft', '--resume', out])).rejects.toThrow(named);
    await expect(cli(['eval', out, '--examples', '2', '--generate', '0', '--inspect', '0'])).rejects.toThrow(named);
  });

  test('Ctrl-C saves a checkpoint and the command exits 130', async () => {
    const out = path.join(root, 'interrupted');
    await expectCtrlCSavesAndExits130(() => train(out, { steps: '50', 'save-every': '100' }), out);
  });

  test('--resume skips a damaged newest checkpoint with a warning and resumes from the newest good one', async () => {
    const out = path.join(root, 'damaged');
    await train(out, { steps: '3' });
    const ckpts = path.join(out, 'checkpoints');
    const [second, third] = fs.readdirSync(ckpts).sort(); // the newest two are kept
    expect([second, third]).toEqual(['step-00000002', 'step-00000003']);
    fs.writeFileSync(path.join(ckpts, third, 'checkpoint.json'), '{"format": "latent-tokens-checkpoint", ');
    const messages: string[] = [];
    const err = jest.spyOn(process.stderr, 'write').mockImplementation((s) => (messages.push(String(s)), true));
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await yargs(['train', 'sft', '--resume', out, '--steps', '4']).command(trainCommand).strict().fail(false).parseAsync();
    } finally {
      err.mockRestore();
      log.mockRestore();
    }
    const text = messages.join('');
    expect(text).toMatch(new RegExp(`skipping .*${third}.*checkpoint.json`));
    expect(text).toContain(`resuming from ${path.join(ckpts, second)} at step 2`);
    expect(new RunDir(out).readJsonl<{ step: number }>('metrics.jsonl').map((m) => m.step)).toEqual([1, 2, 3, 4]);
  });

  test('sequences longer than max_position_embeddings are refused before training', async () => {
    const short = path.join(root, 'short-model');
    fs.cpSync(fx.model, short, { recursive: true });
    const file = path.join(short, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), max_position_embeddings: 12 }));
    const out = path.join(root, 'too-long');
    await expect(
      cli(['train', 'sft', '--model', short, '--data', fx.data, '--out', out, '--steps', '2', '--latents', '1']),
    ).rejects.toThrow(
      /the longest example is \d+ positions with 1 latent\(s\) per span, more than the model's max_position_embeddings \(12\)/,
    );
    expect(fs.existsSync(path.join(out, 'metrics.jsonl'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'checkpoints'))).toBe(false);
  });

  test.each([
    [{ 'grad-clip': '-1' }, /gradClip must be/],
    [{ 'eval-examples': '-2' }, /evalExamples must be/],
    [{ 'max-train-examples': '-5' }, /maxTrainExamples must be/],
    [{ latents: '100000' }, /latents must be/],
    [{ lr: '-1' }, /lr must be/],
    [{ 'validation-size': '1.5' }, /validationSize must be/],
  ])('%j is refused before anything is written or loaded', async (flags, message) => {
    const out = path.join(root, `flags-${Object.entries(flags).join('')}`);
    await expect(train(out, flags)).rejects.toThrow(message);
    expect(fs.existsSync(out)).toBe(false);
  });
});
