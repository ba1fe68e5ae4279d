// Training checkpoints: exact resume (model, optimizer, torch RNG, step), files readable by the
// Python safetensors package, crash safety (a child process SIGKILLed at every phase of a save),
// failure cleanup, step checkpoints with pruning, and clear errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as torch from '../../src/torch';
import {
  CheckpointError,
  MANIFEST_FILE,
  MODEL_FILE,
  OPTIMIZER_FILE,
  latestCheckpoint,
  listStepCheckpoints,
  loadCheckpoint,
  loadTrainingCheckpoint,
  readCheckpointManifest,
  resolveCheckpoint,
  saveCheckpoint,
  saveTrainingCheckpoint,
  type SavePhase,
} from '../../src/train/checkpoint';
import { describeWithPython, runPython } from '../helpers/python';
import { SCHEDULE, TinyNet, makeRun, optimizerStateOf, trainStep, weightsOf, type Run } from './checkpoint-fixture';
import { runTsChild } from './ts-child';

let work: string;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-checkpoint-'));
});
afterEach(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function snapshot(run: Run) {
  return {
    step: run.step,
    weights: weightsOf(run.model),
    optimizer: optimizerStateOf(run.optimizer),
    lrs: run.optimizer.paramGroups.map((g) => g.lr),
  };
}

/** A run of `steps` steps, its snapshot, disposed. */
function expectedAfter(steps: number) {
  const run = makeRun(steps);
  const snap = snapshot(run);
  run.dispose();
  return snap;
}

/** A fresh run (different seed, so different weights) with the checkpoint at `dir` loaded into it. */
function resume(dir: string, options: { restoreRng?: boolean } = {}) {
  const run = makeRun(0, 99);
  const loaded = loadCheckpoint(dir, { model: run.model, optimizer: run.optimizer, ...options });
  run.step = loaded.step;
  return { run, loaded };
}

describe('save and load', () => {
  test('a resumed run continues exactly as the uninterrupted one (weights, optimizer state, lr groups, RNG)', () => {
    const original = makeRun(5);
    saveCheckpoint(path.join(work, 'ckpt'), original.step, {
      model: original.model,
      optimizer: original.optimizer,
      schedule: SCHEDULE,
      config: { lr: 0.05 },
      jsRng: { state: 12345 },
      extra: { note: 'x' },
    });
    const atSave = snapshot(original);
    // The uninterrupted run goes on first: torch's generator is process-wide, and it is what the
    // checkpoint restores.
    for (let i = 0; i < 5; i++) trainStep(original);
    const uninterrupted = snapshot(original);
    original.dispose();

    const { run: resumed, loaded } = resume(path.join(work, 'ckpt'));
    expect(snapshot(resumed)).toEqual(atSave);
    expect(loaded).toMatchObject({
      dir: path.join(work, 'ckpt'),
      step: 5,
      config: { lr: 0.05 },
      jsRng: { state: 12345 },
      extra: { note: 'x' },
      optimizerKind: 'AdamW',
      schedule: SCHEDULE.config,
      rngRestored: { cpu: true, cuda: 0 },
    });
    expect(torch.optim.scheduleFromConfig(loaded.schedule!)(7)).toBe(SCHEDULE(7));
    for (let i = 0; i < 5; i++) trainStep(resumed);
    expect(snapshot(resumed)).toEqual(uninterrupted);

    // Without the RNG state the batches differ, so the trajectories do too.
    const { run: noRng } = resume(path.join(work, 'ckpt'), { restoreRng: false });
    torch.manualSeed(1234);
    for (let i = 0; i < 5; i++) trainStep(noRng);
    expect(weightsOf(noRng.model)).not.toEqual(uninterrupted.weights);
    resumed.dispose();
    noRng.dispose();
  });

  test('a checkpoint can replace an older one at the same path; no leftovers remain', () => {
    const dir = path.join(work, 'ckpt');
    const a = makeRun(2);
    saveCheckpoint(dir, a.step, { model: a.model, optimizer: a.optimizer });
    trainStep(a);
    saveCheckpoint(dir, a.step, { model: a.model, optimizer: a.optimizer });
    expect(fs.readdirSync(work)).toEqual(['ckpt']);
    expect(fs.readdirSync(dir).sort()).toEqual([MANIFEST_FILE, MODEL_FILE, OPTIMIZER_FILE]);
    const { run } = resume(dir);
    expect(snapshot(run)).toEqual(snapshot(a));
    a.dispose();
    run.dispose();
  });

  test('GradScaler state, a state-dict model, no optimizer, no torch RNG', () => {
    const dir = path.join(work, 'ckpt');
    const model = new TinyNet();
    using scaler = new torch.amp.GradScaler({ device: 'cpu', initScale: 64, growthInterval: 7 });
    saveCheckpoint(dir, 0, { model: model.stateDict(), gradScaler: scaler, torchRng: false });
    const manifest = readCheckpointManifest(dir);
    expect([manifest.files.optimizer, manifest.rng.torch, manifest.gradScaler]).toEqual([
      null,
      null,
      { scale: 64, growthFactor: 2, backoffFactor: 0.5, growthInterval: 7, growthTracker: 0 },
    ]);
    using restored = new torch.amp.GradScaler({ device: 'cpu' });
    const other = new TinyNet();
    const loaded = loadCheckpoint(dir, { model: other, gradScaler: restored });
    expect(loaded.rngRestored).toEqual({ cpu: false, cuda: 0 });
    expect([restored.getScale(), restored.getGrowthInterval()]).toEqual([64, 7]);
    expect(weightsOf(other)).toEqual(weightsOf(model));
    using opt = new torch.optim.SGD(other.parameters());
    expect(() => loadCheckpoint(dir, { optimizer: opt })).toThrow(/holds no optimizer state/);
    model.dispose();
    other.dispose();
  });
});

describeWithPython('files', () => {
  test('model.safetensors and optimizer.safetensors are read by the Python safetensors package', () => {
    const run = makeRun(3);
    const dir = path.join(work, 'ckpt');
    saveCheckpoint(dir, run.step, { model: run.model, optimizer: run.optimizer });
    const py = runPython<{
      model: Record<string, number[]>;
      optimizer: Record<string, number[]>;
      metadata: Record<string, string>;
    }>(
      String.raw`
from safetensors.torch import load_file
from safetensors import safe_open
import json
d = INPUT
model = {k: v.reshape(-1).tolist() for k, v in load_file(d + "/model.safetensors").items()}
opt = {k: v.reshape(-1).tolist() for k, v in load_file(d + "/optimizer.safetensors").items()}
with safe_open(d + "/optimizer.safetensors", "pt") as f:
    meta = f.metadata()
emit({"model": model, "optimizer": opt, "metadata": meta})
`,
      dir,
    );
    expect(py.model).toEqual(weightsOf(run.model));
    expect(py.optimizer).toEqual(optimizerStateOf(run.optimizer));
    expect(py.metadata.optimizer).toBe('AdamW');
    expect(JSON.parse(py.metadata.param_groups).map((g: { params: number[] }) => g.params)).toEqual([[0, 1], [2]]);
    run.dispose();
  });
});

describe('crash safety', () => {
  // A child process saves version 7 over version 3 and is SIGKILLed at `phase`; what is loadable
  // afterwards must be one of the two versions, complete and consistent, never a mix.
  const CASES: [SavePhase, 'previous' | 'new'][] = [
    ['model', 'previous'],
    ['optimizer', 'previous'],
    ['written', 'previous'],
    ['retired', 'new'], // the old one moved aside, the new one not yet renamed: the newer complete one is used
    ['committed', 'new'],
  ];
  let previous: ReturnType<typeof snapshot>;
  let next: ReturnType<typeof snapshot>;
  beforeAll(() => {
    previous = expectedAfter(3);
    next = expectedAfter(7);
  });

  test.each(CASES)('killed after phase %p: the %s checkpoint loads', (phase, which) => {
    const dir = path.join(work, 'ckpt');
    const first = makeRun(3);
    saveCheckpoint(dir, first.step, { model: first.model, optimizer: first.optimizer });
    first.dispose();

    const child = runTsChild(path.join(__dirname, 'checkpoint-crash-child.ts'), [dir, phase, '7']);
    expect({ signal: child.signal, stderr: child.stderr }).toEqual({ signal: 'SIGKILL', stderr: '' });
    expect(fs.readdirSync(work).length).toBeGreaterThan(1); // the kill left debris

    const expected = which === 'previous' ? previous : next;
    expect(resolveCheckpoint(dir)).not.toBeNull();
    const { run, loaded } = resume(dir);
    expect(loaded.step).toBe(expected.step);
    expect(snapshot(run)).toEqual(expected);
    run.dispose();

    // The next save recovers and cleans up.
    const later = makeRun(8);
    saveCheckpoint(dir, later.step, { model: later.model, optimizer: later.optimizer });
    later.dispose();
    expect(fs.readdirSync(work)).toEqual(['ckpt']);
    expect(readCheckpointManifest(dir).step).toBe(8);
  });

  test('a save that completes in a child process leaves exactly the new checkpoint', () => {
    const dir = path.join(work, 'ckpt');
    const child = runTsChild(path.join(__dirname, 'checkpoint-crash-child.ts'), [dir, 'none', '7']);
    expect([child.status, child.stdout.trim()]).toEqual([0, 'saved']);
    expect(fs.readdirSync(work)).toEqual(['ckpt']);
    const { run } = resume(dir);
    expect(snapshot(run)).toEqual(next);
    run.dispose();
  });

  test('a failure during a save (an exception) removes the partial save and keeps the previous checkpoint', () => {
    const dir = path.join(work, 'ckpt');
    const first = makeRun(3);
    saveCheckpoint(dir, first.step, { model: first.model, optimizer: first.optimizer });
    trainStep(first);
    for (const failAt of ['model', 'optimizer', 'written', 'retired'] as SavePhase[]) {
      const fail = (phase: SavePhase) => {
        if (phase === failAt) throw new Error(`disk full at ${phase}`);
      };
      expect(() =>
        saveCheckpoint(dir, first.step, { model: first.model, optimizer: first.optimizer }, { onPhase: fail }),
      ).toThrow(`disk full at ${failAt}`);
      expect(fs.readdirSync(work)).toEqual(['ckpt']);
      expect(readCheckpointManifest(dir).step).toBe(3);
    }
    // A tensor that cannot be written (disposed) fails the same way.
    const broken = new Map(first.model.stateDict());
    const gone = torch.zeros([2]);
    gone.dispose();
    broken.set('extra.weight', gone);
    expect(() => saveCheckpoint(dir, 9, { model: broken })).toThrow(/'extra.weight' is not a live Tensor/);
    expect(fs.readdirSync(work)).toEqual(['ckpt']);
    const { run } = resume(dir);
    expect(snapshot(run)).toEqual(previous);
    run.dispose();
    first.dispose();
  });
});

describe('step checkpoints', () => {
  test('saveTrainingCheckpoint keeps the newest keepLast; latestCheckpoint and loadTrainingCheckpoint resume', () => {
    const root = path.join(work, 'checkpoints');
    expect(latestCheckpoint(root)).toBeNull();
    const run = makeRun(0);
    const dirs: string[] = [];
    for (let i = 0; i < 4; i++) {
      trainStep(run);
      trainStep(run);
      dirs.push(
        saveTrainingCheckpoint(root, run.step, { model: run.model, optimizer: run.optimizer, extra: { i } }, { keepLast: 2 }),
      );
    }
    expect(dirs.map((d) => path.basename(d))).toEqual(['step-00000002', 'step-00000004', 'step-00000006', 'step-00000008']);
    expect(listStepCheckpoints(root).map((c) => c.step)).toEqual([6, 8]);
    expect(latestCheckpoint(root)).toBe(dirs[3]);

    const fresh = makeRun(0, 5);
    fresh.optimizer.dispose();
    const loaded = loadTrainingCheckpoint(latestCheckpoint(root)!, fresh.model.stateDict());
    expect([loaded.step, loaded.extra]).toEqual([8, { i: 3 }]);
    // The optimizer is built after the model was loaded, as a training script does.
    fresh.optimizer = new torch.optim.AdamW([
      { params: [fresh.model.first.weight, fresh.model.second.weight] },
      { params: [fresh.model.first.bias!] },
    ]);
    fresh.optimizer.loadStateDict(loaded.optimizer!);
    fresh.step = loaded.step;
    expect(snapshot(fresh)).toEqual(snapshot(run));
    expect(() => saveTrainingCheckpoint(root, 10, { model: run.model }, { keepLast: 0 })).toThrow(
      /keepLast must be an integer >= 1/,
    );
    run.dispose();
    fresh.dispose();
  });

  test('latestCheckpoint finds a step checkpoint whose save was interrupted between its renames', () => {
    const root = path.join(work, 'checkpoints');
    const run = makeRun(1);
    const dir = saveTrainingCheckpoint(root, 5, { model: run.model });
    const deadPid = 2147483646; // no such process
    fs.renameSync(dir, `${dir}.old-${deadPid}-abcd`); // as a kill after 'retired' leaves it (with no new one)
    expect(latestCheckpoint(root)).toBe(`${dir}.old-${deadPid}-abcd`);
    expect(loadCheckpoint(dir).step).toBe(5);
    fs.mkdirSync(path.join(root, `step-00000003.tmp-${deadPid}-ef01`)); // a save killed early
    // The next save puts the complete one back in place and removes the debris.
    saveTrainingCheckpoint(root, 7, { model: run.model }, { keepLast: 3 });
    expect(fs.readdirSync(root).sort()).toEqual(['step-00000005', 'step-00000007']);
    run.dispose();
  });
});

describe('errors', () => {
  test('missing, incomplete and damaged checkpoints', () => {
    const dir = path.join(work, 'ckpt');
    expect(() => loadCheckpoint(dir)).toThrow(
      /ckpt: does not exist, and no complete checkpoint from an interrupted save is next to it/,
    );
    fs.mkdirSync(dir);
    expect(() => loadCheckpoint(dir)).toThrow(/has no checkpoint.json, so it is not a \(complete\) checkpoint/);
    fs.rmdirSync(dir);
    const run = makeRun(1);
    saveCheckpoint(dir, 1, { model: run.model, optimizer: run.optimizer });
    fs.truncateSync(path.join(dir, MODEL_FILE), 100);
    expect(() => loadCheckpoint(dir, { model: run.model })).toThrow(
      /model.safetensors is 100 bytes, the manifest recorded \d+: the checkpoint is damaged/,
    );
    fs.writeFileSync(path.join(dir, MANIFEST_FILE), '{"format": "something-else"}');
    expect(() => loadCheckpoint(dir)).toThrow(/checkpoint.json is not a latent-tokens-checkpoint manifest/);
    run.dispose();
  });

  test('a model that does not fit: names and shapes are reported, nothing is copied', () => {
    const dir = path.join(work, 'ckpt');
    const run = makeRun(1);
    saveCheckpoint(dir, 1, { model: run.model });
    const wider = new torch.nn.Linear(3, 5);
    expect(() => loadCheckpoint(dir, { model: new Map([['first.weight', wider.weight]]) })).toThrow(
      /does not fit the model: not in the model: first.bias, second.weight; first.weight: shape \[4,3\] in the checkpoint, \[5,3\] in the model/,
    );
    const partial = new Map([['first.weight', torch.keep(torch.zeros([4, 3]))]]);
    loadCheckpoint(dir, { model: partial, strict: false });
    expect(Array.from(partial.get('first.weight')!.toTypedArray() as Float32Array)).toEqual(weightsOf(run.model)['first.weight']);
    partial.get('first.weight')!.dispose();
    wider.dispose();
    run.dispose();
  });

  test('renamed: an older name in the file loads into the current one; unused old names still count as unexpected', () => {
    const dir = path.join(work, 'ckpt');
    const run = makeRun(1);
    const w = weightsOf(run.model);
    // a checkpoint written under older names
    saveCheckpoint(dir, 1, {
      model: new Map([
        ['old.weight', run.model.first.weight],
        ['first.bias', run.model.first.bias!],
      ]),
    });
    const target = new Map([
      ['first.weight', torch.keep(torch.zeros([4, 3]))],
      ['first.bias', torch.keep(torch.zeros([4]))],
    ]);
    expect(() => loadCheckpoint(dir, { model: target })).toThrow(
      /model.safetensors does not fit the model: missing from the checkpoint: first.weight; not in the model: old.weight/,
    );
    loadCheckpoint(dir, { model: target, renamed: { 'old.weight': 'first.weight' } });
    expect(Array.from(target.get('first.weight')!.toTypedArray() as Float32Array)).toEqual(w['first.weight']);
    expect(Array.from(target.get('first.bias')!.toTypedArray() as Float32Array)).toEqual(w['first.bias']);
    // a rename whose target the model lacks leaves the old tensor unexpected
    const other = new Map([['first.bias', target.get('first.bias')!]]);
    expect(() => loadCheckpoint(dir, { model: other, renamed: { 'old.weight': 'second.weight' } })).toThrow(
      /not in the model: old.weight/,
    );
    for (const t of target.values()) t.dispose();
    run.dispose();
  });

  test('invalid step and non-JSON data are refused before anything is written', () => {
    const dir = path.join(work, 'ckpt');
    const model = new TinyNet();
    expect(() => saveCheckpoint(dir, -1, { model })).toThrow(CheckpointError);
    expect(() => saveCheckpoint(dir, 1.5, { model })).toThrow(/step must be an integer >= 0, got 1.5/);
    expect(() => saveCheckpoint(dir, 1, { model, config: { lr: NaN } })).toThrow(
      /config.lr cannot be stored as JSON: NaN is not a finite number/,
    );
    expect(() => saveCheckpoint(dir, 1, { model, extra: { seen: new Map() } })).toThrow(
      /extra.seen cannot be stored as JSON: it holds a Map/,
    );
    expect(() => saveCheckpoint(dir, 1, { model, jsRng: [1n] })).toThrow(
      /jsRng\[0\] cannot be stored as JSON: it holds a bigint/,
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => saveCheckpoint(dir, 1, { model, extra: cyclic })).toThrow(/contains a cycle/);
    expect(() => saveCheckpoint(dir, 1, {} as never)).toThrow(/contents.model .* is required/);
    expect(fs.readdirSync(work)).toEqual([]);
    model.dispose();
  });
});
