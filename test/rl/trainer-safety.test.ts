// `latent train rl` and its run directory: a non-empty --out is refused unless resuming that RL run,
// flags are checked before anything is written, rollouts must fit the model's positions, and
// Ctrl-C saves and exits 130.
import '../helpers/one-thread';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { command as trainCommand } from '../../src/cli/commands/train';
import { haveQwenTokenizer, makeRlFixture, QWEN_TOKENIZER_DIR, type RlFixture } from './fixture';
import { expectCtrlCSavesAndExits130, flagArgs, quietCli } from '../helpers/train-cli';

if (!haveQwenTokenizer) console.log(`skipping RL safety tests: no Qwen tokenizer at ${QWEN_TOKENIZER_DIR}`);
const maybe = haveQwenTokenizer ? describe : describe.skip;

maybe('train rl keeps what it did not create', () => {
  let root: string;
  let fx: RlFixture;
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-rl-safety-'));
    fx = await makeRlFixture(root, { sftSteps: 2, twoTrunkSteps: 1 });
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const cli = quietCli(trainCommand);
  const small: Record<string, string> = {
    steps: '2',
    group: '2',
    questions: '1',
    kl: '0',
    epochs: '1',
    lr: '1e-3',
    'max-new-tokens': '4',
    'eval-examples': '0',
    'save-every': '1',
  };
  const train = (out: string, over: Record<string, string> = {}) =>
    cli(['train', 'rl', '--from', fx.phase1.full, '--data', fx.data, '--out', out, ...flagArgs(small, over)]);

  test('a directory with other files, or the phase-1 run itself, is refused and left as it was', async () => {
    const user = path.join(root, 'user');
    fs.mkdirSync(user);
    fs.writeFileSync(path.join(user, 'notes.txt'), 'mine');
    await expect(train(user)).rejects.toThrow(/is not empty \(notes.txt\); choose another --out/);
    expect(fs.readdirSync(user)).toEqual(['notes.txt']);
    const phase1 = fs.readFileSync(path.join(fx.phase1.full, 'config.json'), 'utf8');
    await expect(train(fx.phase1.full)).rejects.toThrow(/already holds a run/);
    expect(fs.readFileSync(path.join(fx.phase1.full, 'config.json'), 'utf8')).toBe(phase1);
    await expect(cli(['train', 'rl', '--resume', fx.phase1.full])).rejects.toThrow(/config.json: a 'sft' run, not a 'rl' run/);
  });

  test.each([
    [{ 'grad-clip': '-1' }, /gradClip must be a number > 0/],
    [{ 'eval-examples': '-1' }, /evalExamples must be an integer >= 0/],
    [{ 'max-train-examples': '-2' }, /maxTrainExamples must be an integer >= 1 or null/],
    [{ 'max-latents': '100000' }, /maxLatents must be an integer in \[0, 256\] or null/],
  ])('%j is refused before anything is written', async (flags, message) => {
    const out = path.join(root, `flags-${Object.entries(flags).join('')}`);
    await expect(train(out, flags)).rejects.toThrow(message);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('rollouts longer than max_position_embeddings are refused before sampling', async () => {
    const out = path.join(root, 'too-long');
    await expect(train(out, { 'max-new-tokens': '40000' })).rejects.toThrow(
      /maxNewTokens 40000 plus the longest prompt \(\d+ tokens\) exceeds the model's max_position_embeddings \(32768\)/,
    );
    expect(fs.readdirSync(out)).toEqual([]);
  });

  test('Ctrl-C saves a checkpoint and the command exits 130', async () => {
    const out = path.join(root, 'interrupted');
    await expectCtrlCSavesAndExits130(() => train(out, { steps: '50', 'save-every': '100' }), out);
  });
});
