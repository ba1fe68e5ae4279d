// The CLI's shared option pieces: one-line path checks naming the flag, and the next commands.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkDataDir, checkModelArg, checkRunDir, nextCommands, shownDefault } from '../../src/cli/options';
import { rejectNotANumber } from '../../src/cli/main';

describe('CLI option checks', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-options-'));
    fs.mkdirSync(path.join(root, 'data'));
    fs.writeFileSync(path.join(root, 'data', 'train.jsonl'), '');
    fs.mkdirSync(path.join(root, 'model'));
    fs.writeFileSync(path.join(root, 'model', 'config.json'), JSON.stringify({ model_type: 'qwen2' }));
    fs.mkdirSync(path.join(root, 'run'));
    fs.writeFileSync(path.join(root, 'run', 'config.json'), JSON.stringify({ kind: 'rl' }));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const message = (f: () => void) => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    return null;
  };

  test('data directories', () => {
    const data = path.join(root, 'data');
    expect(message(() => checkDataDir('--data', data))).toBe(
      `--data ${data}: has no test.jsonl (a data directory holds GSM8K-format train.jsonl and test.jsonl)`,
    );
    fs.writeFileSync(path.join(data, 'test.jsonl'), '');
    expect(message(() => checkDataDir('--data', data))).toBeNull();
    expect(message(() => checkDataDir('--data', path.join(data, 'train.jsonl')))).toMatch(/^--data .*train\.jsonl: is a file/);
  });

  test('models: a directory with config.json, or a hub id; a run is pointed to latent export', () => {
    expect(message(() => checkModelArg('--model', path.join(root, 'model')))).toBeNull();
    expect(message(() => checkModelArg('--model', 'Qwen/Qwen2-0.5B'))).toBeNull();
    expect(message(() => checkModelArg('--model', './missing'))).toBe(
      '--model ./missing: does not exist (and is not a hub id such as Qwen/Qwen2-0.5B)',
    );
    expect(message(() => checkModelArg('--model', path.join(root, 'run')))).toMatch(
      /is a rl run directory, not a model \(export its model with `latent export/,
    );
    expect(message(() => checkModelArg('--model', path.join(root, 'data')))).toMatch(/has no config\.json/);
  });

  test('runs: kind checked', () => {
    expect(checkRunDir('--from', path.join(root, 'run'))).toBe('rl');
    expect(message(() => checkRunDir('--from', path.join(root, 'run'), ['sft']))).toBe(
      `--from ${path.join(root, 'run')}: is a rl run; expected sft`,
    );
    expect(message(() => checkRunDir('--from', path.join(root, 'model')))).toMatch(/has a config\.json that is not a run’s/);
  });

  test('numbers that are not numbers name the flag and the given text', () => {
    expect(message(() => rejectNotANumber({ steps: NaN, eval: 3 }, ['train', 'sft', '--steps', 'ten']))).toBe(
      '--steps "ten": not a number',
    );
    expect(message(() => rejectNotANumber({ 'eval-examples': NaN, evalExamples: NaN }, ['--eval-examples=x']))).toBe(
      '--eval-examples "x": not a number',
    );
    expect(message(() => rejectNotANumber({ steps: 4 }, []))).toBeNull();
  });

  test('defaults and next commands', () => {
    expect(shownDefault(null)).toBe('none');
    expect(shownDefault(1e-5)).toBe('0.00001');
    expect(shownDefault('full')).toBe('full');
    const out = path.join(process.cwd(), 'runs', 'k0');
    expect(nextCommands('sft', out, { latents: 0, data: 'd' })).toBe(
      'next:\n  latent eval runs/k0\n  latent report runs/k0\n  latent export runs/k0 --out runs/k0-model   # phase 0 → the model for phase 1 (--model)',
    );
    expect(nextCommands('sft', out, { latents: 2, data: 'my data' })).toContain(
      "latent train rl --from runs/k0 --data 'my data' --out runs/k0-rl",
    );
    expect(nextCommands('rl', '/elsewhere/rl')).toBe('next:\n  latent eval /elsewhere/rl\n  latent report /elsewhere/rl');
  });
});
