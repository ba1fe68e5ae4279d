// Checkpoints never replace what they did not write, a damaged newest step does not block resuming,
// and a manifest is checked whole before any tensor is touched.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  MANIFEST_FILE,
  latestCheckpoint,
  listStepCheckpoints,
  loadCheckpoint,
  saveCheckpoint,
  saveTrainingCheckpoint,
} from '../../src/train/checkpoint';
import { makeRun, weightsOf } from './checkpoint-fixture';

let work: string;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-checkpoint-safety-'));
});
afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

const catchError = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};

test('saveCheckpoint refuses to replace a directory that is not a checkpoint, and leaves it as it was', () => {
  const run = makeRun(1);
  try {
    const project = path.join(work, 'project');
    fs.mkdirSync(path.join(project, 'src'), { recursive: true });
    fs.writeFileSync(path.join(project, 'src', 'main.ts'), 'precious');
    const e = catchError(() => saveCheckpoint(project, 1, { model: run.model }));
    expect(e.name).toBe('CheckpointError');
    expect(e.message).toMatch(/project: .*not a checkpoint .*src/);
    expect(fs.readFileSync(path.join(project, 'src', 'main.ts'), 'utf8')).toBe('precious');
    expect(fs.readdirSync(work)).toEqual(['project']); // no temporary left behind
    // a checkpoint with someone's file added is not retired either
    const ckpt = path.join(work, 'ckpt');
    saveCheckpoint(ckpt, 1, { model: run.model });
    fs.writeFileSync(path.join(ckpt, 'notes.txt'), 'mine');
    expect(() => saveCheckpoint(ckpt, 2, { model: run.model })).toThrow(/not a checkpoint .*notes.txt/);
    fs.rmSync(path.join(ckpt, 'notes.txt'));
    // a complete checkpoint, and an empty directory, are replaced
    saveCheckpoint(ckpt, 2, { model: run.model });
    fs.mkdirSync(path.join(work, 'empty'));
    saveCheckpoint(path.join(work, 'empty'), 3, { model: run.model });
    expect(loadCheckpoint(path.join(work, 'empty')).step).toBe(3);
  } finally {
    run.dispose();
  }
});

test('the newest good step is used when the newest step is unreadable, with a warning naming it', () => {
  const root = path.join(work, 'checkpoints');
  const run = makeRun(2);
  try {
    saveTrainingCheckpoint(root, 1, { model: run.model });
    saveTrainingCheckpoint(root, 2, { model: run.model });
    const newest = path.join(root, 'step-00000002');
    fs.writeFileSync(path.join(newest, MANIFEST_FILE), '{"format": "latent-tokens-checkpoint", "ver');
    const warnings: string[] = [];
    expect(latestCheckpoint(root, { warn: (m) => warnings.push(m) })).toBe(path.join(root, 'step-00000001'));
    expect(warnings.join('\n')).toMatch(new RegExp(`skipping .*${newest}: cannot read ${MANIFEST_FILE}`));
    expect(listStepCheckpoints(root, { warn: () => undefined }).map((c) => c.step)).toEqual([1]);
    // a truncated model file makes a step unreadable too
    fs.rmSync(newest, { recursive: true });
    saveTrainingCheckpoint(root, 2, { model: run.model });
    fs.truncateSync(path.join(newest, 'model.safetensors'), 10);
    expect(latestCheckpoint(root, { warn: () => undefined })).toBe(path.join(root, 'step-00000001'));
    // and the next save of that step replaces the damaged one
    saveTrainingCheckpoint(root, 2, { model: run.model });
    expect(latestCheckpoint(root)).toBe(newest);
  } finally {
    run.dispose();
  }
});

describe('the whole manifest is checked before the model is touched', () => {
  const edits: [string, (m: Record<string, any>) => void, RegExp][] = [
    ['no rng', (m) => delete m.rng, /rng/],
    ['rng.torch.cpu not a string', (m) => (m.rng.torch.cpu = 5), /rng/],
    ['a file name with a directory', (m) => (m.files.model.name = '../../elsewhere/model.safetensors'), /plain file name/],
    ['an absolute file name', (m) => (m.files.model.name = '/etc/passwd'), /plain file name/],
    ['bytes not a count', (m) => (m.files.model.bytes = -1), /bytes/],
    ['savedAt missing', (m) => delete m.savedAt, /savedAt/],
    ['optimizer of the wrong type', (m) => (m.optimizer = 3), /optimizer/],
  ];
  test.each(edits)('%s: a CheckpointError naming checkpoint.json, model unchanged', (_, edit, message) => {
    const dir = path.join(work, 'c');
    const saved = makeRun(3);
    const target = makeRun(0, 7);
    try {
      saveCheckpoint(dir, 3, { model: saved.model });
      const file = path.join(dir, MANIFEST_FILE);
      const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
      edit(manifest);
      fs.writeFileSync(file, JSON.stringify(manifest));
      const before = weightsOf(target.model);
      const e = catchError(() => loadCheckpoint(dir, { model: target.model }));
      expect(e.name).toBe('CheckpointError');
      expect(e.message).toContain(`${dir}: ${MANIFEST_FILE}`);
      expect(e.message).toMatch(message);
      expect(weightsOf(target.model)).toEqual(before);
    } finally {
      saved.dispose();
      target.dispose();
    }
  });
});
