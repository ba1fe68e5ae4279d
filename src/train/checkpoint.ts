// Training checkpoints: model and optimizer tensors in safetensors files plus a JSON manifest (step,
// config, RNG states, LR schedule, loss scaler, caller data), saved so that a crash at any moment
// leaves a loadable checkpoint.
//
// Layout of a checkpoint directory:
//   model.safetensors       the model's state dict (format "pt", loadable by the Python package)
//   optimizer.safetensors   optimizer state tensors keyed "<param index>.<field>", param groups in the metadata
//   checkpoint.json         the manifest, written last: a directory holding it is complete
//
// Saving writes everything into a sibling `DIR.tmp-*` directory (each file fsynced), then renames the
// previous DIR (if any) to `DIR.old-*`, renames the new one to DIR and only then deletes the old one.
// A crash between the two renames leaves no DIR, but both complete siblings: loadCheckpoint and
// latestCheckpoint then use the newer one, and the next save puts things back in order.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as torch from '../torch';
import { Tensor, nn } from '../torch';
import { fsyncDirectory, writeFileAtomic, writeAll } from '../util/atomic-write';
import { SafetensorsFile, safeDtypeOf, torchDtypeOf, writeSafetensors, type TensorSpec } from '../torch/io/safetensors';
import type { BaseOptions, Optimizer, OptimizerStateDict, SavedParamGroup } from '../torch/optim/optimizer';
import type { LrSchedule, ScheduleConfig } from '../torch/optim/schedule';
import type { GradScaler, GradScalerState } from '../torch/amp';
import { processAlive } from '../util/process';

export const MANIFEST_FILE = 'checkpoint.json';
export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const FORMAT = 'latent-tokens-checkpoint';
const VERSION = 1;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** What a checkpoint holds besides the step. Only `model` is required. */
export interface CheckpointContents {
  /** a module (its stateDict()) or a state dict */
  model: nn.Module | ReadonlyMap<string, Tensor>;
  optimizer?: Optimizer<BaseOptions> | null;
  gradScaler?: GradScaler | null;
  /** the learning-rate schedule (its config is stored) */
  schedule?: LrSchedule | ScheduleConfig | null;
  // The three below must be JSON data (plain objects, arrays, finite numbers, strings, booleans,
  // null); anything else is refused rather than silently altered by JSON.
  /** the run's configuration */
  config?: unknown;
  /** the state of any JS-side random generator of the caller (data order, sampling) */
  jsRng?: unknown;
  /** anything else the caller wants back at load */
  extra?: unknown;
  /** record torch's default generators (CPU, and each CUDA device) for loadCheckpoint to restore (default true) */
  torchRng?: boolean;
}

/**
 * Durable points of a save, in order: each is reported (SaveOptions.onPhase) once reached.
 * 'written': the new checkpoint is complete in its temporary directory; 'retired': the previous one
 * has been moved aside; 'committed': the new one is in place; 'cleaned': leftovers are removed.
 */
export type SavePhase = 'model' | 'optimizer' | 'written' | 'retired' | 'committed' | 'cleaned';

export interface SaveOptions {
  /** called after each phase of the save (progress reporting, fault-injection tests) */
  onPhase?: (phase: SavePhase, dir: string) => void;
}

interface FileRecord {
  name: string;
  bytes: number;
}

/** checkpoint.json */
export interface CheckpointManifest {
  format: typeof FORMAT;
  version: number;
  step: number;
  savedAt: string;
  files: { model: FileRecord; optimizer: FileRecord | null };
  optimizer: string | null;
  gradScaler: GradScalerState | null;
  schedule: ScheduleConfig | null;
  config: JsonValue;
  extra: JsonValue;
  rng: { torch: { cpu: string; cuda: string[] } | null; js: JsonValue };
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
  constructor(
    readonly dir: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${dir}: ${message}`, options);
  }
}

// ---- saving ----

/**
 * Saves a complete checkpoint to `dir`, replacing the one there (if any) only once the new one is
 * complete and durable. Not for concurrent saves to the same `dir`.
 */
export function saveCheckpoint(dir: string, step: number, contents: CheckpointContents, options: SaveOptions = {}): void {
  const target = path.resolve(dir);
  if (!Number.isSafeInteger(step) || step < 0)
    throw new CheckpointError(target, `step must be an integer >= 0, got ${String(step)}`);
  if (contents === null || typeof contents !== 'object' || !contents.model)
    throw new CheckpointError(target, 'contents.model (a Module or state dict) is required');
  const report = (phase: SavePhase, at: string) => options.onPhase?.(phase, at);
  const json = {
    config: checkJson(contents.config ?? null, 'config', target),
    extra: checkJson(contents.extra ?? null, 'extra', target),
    jsRng: checkJson(contents.jsRng ?? null, 'jsRng', target),
  };
  fs.mkdirSync(path.dirname(target), { recursive: true });
  restoreInterruptedSave(target);
  checkReplaceable(target);

  const temporary = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  fs.mkdirSync(temporary);
  let committed = false;
  let retired: string | null = null;
  try {
    const modelState = contents.model instanceof nn.Module ? contents.model.stateDict() : contents.model;
    const model = { name: MODEL_FILE, bytes: writeTensors(path.join(temporary, MODEL_FILE), modelState, { format: 'pt' }) };
    report('model', temporary);
    let optimizerFile: FileRecord | null = null;
    if (contents.optimizer) {
      const optimizer = contents.optimizer;
      optimizerFile = torch.scope(() => {
        const sd = optimizer.stateDict();
        const metadata = { format: 'pt', optimizer: sd.optimizer, param_groups: JSON.stringify(sd.paramGroups) };
        return { name: OPTIMIZER_FILE, bytes: writeTensors(path.join(temporary, OPTIMIZER_FILE), sd.state, metadata) };
      });
      report('optimizer', temporary);
    }
    const schedule = typeof contents.schedule === 'function' ? contents.schedule.config : (contents.schedule ?? null);
    const manifest: CheckpointManifest = {
      format: FORMAT,
      version: VERSION,
      step,
      savedAt: new Date().toISOString(),
      files: { model, optimizer: optimizerFile },
      optimizer: contents.optimizer ? contents.optimizer.name : null,
      gradScaler: contents.gradScaler ? contents.gradScaler.stateDict() : null,
      schedule: schedule ? (checkJson(schedule, 'schedule', target) as unknown as ScheduleConfig) : null,
      config: json.config,
      extra: json.extra,
      rng: { torch: contents.torchRng === false ? null : captureTorchRng(), js: json.jsRng },
    };
    const text = Buffer.from(JSON.stringify(manifest, null, 2) + '\n', 'utf8');
    writeFileAtomic(path.join(temporary, MANIFEST_FILE), (fd) => writeAll(fd, text));
    fsyncDirectory(temporary);
    report('written', temporary);

    if (fs.existsSync(target)) {
      checkReplaceable(target); // again: something may have appeared while the new one was written
      retired = `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
      fs.renameSync(target, retired);
      fsyncDirectory(path.dirname(target));
      report('retired', retired);
    }
    fs.renameSync(temporary, target);
    committed = true;
    fsyncDirectory(path.dirname(target));
    report('committed', target);
  } catch (error) {
    if (!committed) {
      if (retired !== null && !fs.existsSync(target)) fs.renameSync(retired, target);
      fs.rmSync(temporary, { recursive: true, force: true });
    }
    throw error;
  }
  removeLeftovers(target);
  report('cleaned', target);
}

/**
 * Saves a checkpoint of a run as `root/step-<step>` (saveCheckpoint), then deletes the older ones
 * beyond the newest `keepLast` (default 2; the new one is never deleted). Returns its directory.
 */
export function saveTrainingCheckpoint(
  root: string,
  step: number,
  contents: CheckpointContents,
  { keepLast = 2, ...options }: SaveOptions & { keepLast?: number } = {},
): string {
  if (!Number.isSafeInteger(keepLast) || keepLast < 1)
    throw new CheckpointError(path.resolve(root), `keepLast must be an integer >= 1, got ${String(keepLast)}`);
  const dir = path.join(path.resolve(root), stepDirName(step));
  saveCheckpoint(dir, step, contents, options);
  // Interrupted saves of other steps: put complete ones back in place, drop the rest.
  for (const base of stepCheckpointBases(root)) {
    restoreInterruptedSave(base);
    removeLeftovers(base);
  }
  const older = listStepCheckpoints(root).filter((c) => c.dir !== dir && c.step < step);
  for (const c of older.slice(0, Math.max(0, older.length - (keepLast - 1)))) removeCheckpoint(c.dir);
  return dir;
}

function stepDirName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** Writes tensors to a safetensors file one tensor at a time; returns the file size. */
function writeTensors(file: string, tensors: ReadonlyMap<string, Tensor>, metadata: Record<string, string>): number {
  const specs = new Map<string, TensorSpec>();
  for (const [name, t] of tensors) {
    if (!(t instanceof Tensor) || t.isDisposed) throw new CheckpointError(path.dirname(file), `'${name}' is not a live Tensor`);
    specs.set(name, { dtype: safeDtypeOf(t.dtype), shape: t.shape, data: () => torch.toBytes(t) });
  }
  writeSafetensors(file, specs, metadata);
  return fs.statSync(file).size;
}

// ---- finding and loading ----

/**
 * The complete checkpoint for `dir`: `dir` itself, or — when a save was interrupted between its
 * two renames — the newest complete `dir.tmp-*` / `dir.old-*` sibling. null when there is none.
 */
export function resolveCheckpoint(dir: string): string | null {
  const target = path.resolve(dir);
  if (isComplete(target)) return target;
  const candidates = siblings(target)
    .filter((s) => isComplete(s.path))
    .flatMap((s) => {
      try {
        return [{ path: s.path, step: readManifest(s.path).step, mtime: fs.statSync(s.path).mtimeMs }];
      } catch {
        return []; // a damaged leftover is no candidate
      }
    });
  candidates.sort((a, b) => b.step - a.step || b.mtime - a.mtime);
  return candidates.length ? candidates[0].path : null;
}

export interface ListOptions {
  /** told about each step checkpoint that is skipped as unreadable (default: a warning on stderr) */
  warn?: (message: string) => void;
}

const warnOnStderr = (message: string) => void process.stderr.write(`warning: ${message}\n`);

/**
 * The checkpoint of the highest readable step under `root` (as saved by saveTrainingCheckpoint), or
 * null. A damaged newer step (unreadable manifest, missing or truncated files) is skipped with a warning.
 */
export function latestCheckpoint(root: string, options: ListOptions = {}): string | null {
  const all = listStepCheckpoints(root, options);
  return all.length ? all[all.length - 1].dir : null;
}

/** Readable step checkpoints under `root`, by ascending step (each resolved as resolveCheckpoint does); damaged ones are skipped. */
export function listStepCheckpoints(root: string, { warn = warnOnStderr }: ListOptions = {}): { step: number; dir: string }[] {
  const found: { step: number; dir: string }[] = [];
  for (const base of stepCheckpointBases(root)) {
    const dir = resolveCheckpoint(base);
    if (!dir) continue;
    try {
      const manifest = readManifest(dir);
      checkFileSizes(dir, manifest);
      found.push({ step: manifest.step, dir });
    } catch (error) {
      if (!(error instanceof CheckpointError)) throw error;
      warn(`skipping a damaged checkpoint: ${error.message}`);
    }
  }
  return found.sort((a, b) => a.step - b.step);
}

/** `root/step-N` for every N with a directory or an interrupted save's sibling under `root`. */
function stepCheckpointBases(root: string): string[] {
  const base = path.resolve(root);
  if (!fs.existsSync(base)) return [];
  const names = new Set<string>();
  for (const entry of fs.readdirSync(base)) {
    const m = /^(step-\d+)(?:\.(?:tmp|old)-\d+-[0-9a-f]+)?$/.exec(entry);
    if (m) names.add(m[1]);
  }
  return [...names].map((name) => path.join(base, name));
}

/** The manifest of the checkpoint at `dir` (resolved as resolveCheckpoint does). */
export function readCheckpointManifest(dir: string): CheckpointManifest {
  return readManifest(requireCheckpoint(dir));
}

export interface LoadTargets {
  /** receives the model tensors (copied in place, converted to each tensor's dtype) */
  model?: nn.Module | ReadonlyMap<string, Tensor>;
  /** receives the optimizer state and hyperparameters */
  optimizer?: Optimizer<BaseOptions>;
  gradScaler?: GradScaler;
  /** restore torch's default generators (default true) */
  restoreRng?: boolean;
  /** the model's and the file's tensor names must match exactly (default true) */
  strict?: boolean;
  /**
   * Tensor names of older checkpoints: `{ old: current }`. A file that lacks `current` but holds `old`
   * loads `old` into it (a migration of renamed parameters; the file is not changed).
   */
  renamed?: Readonly<Record<string, string>>;
}

export interface LoadedCheckpoint {
  /** the directory read (differs from the one asked for after an interrupted save) */
  dir: string;
  step: number;
  savedAt: string;
  config: JsonValue;
  extra: JsonValue;
  jsRng: JsonValue;
  schedule: ScheduleConfig | null;
  gradScaler: GradScalerState | null;
  /** which optimizer the checkpoint holds state for (null: none) */
  optimizerKind: string | null;
  /** what restoreRng restored: the CPU generator, and how many CUDA generators */
  rngRestored: { cpu: boolean; cuda: number };
}

/** Loads a checkpoint into the given targets and returns the rest of what it holds. */
export function loadCheckpoint(dir: string, targets: LoadTargets = {}): LoadedCheckpoint {
  const source = requireCheckpoint(dir);
  const manifest = readManifest(source);
  checkFileSizes(source, manifest);
  if (targets.model) {
    const state = targets.model instanceof nn.Module ? targets.model.stateDict() : targets.model;
    loadModelTensors(path.join(source, manifest.files.model.name), state, targets.strict ?? true, source, targets.renamed ?? {});
  }
  if (targets.optimizer) {
    const optimizer = targets.optimizer;
    if (manifest.files.optimizer === null) throw new CheckpointError(source, 'the checkpoint holds no optimizer state');
    torch.scope(() => {
      const sd = readOptimizerState(source)!;
      try {
        optimizer.loadStateDict(sd);
      } catch (error) {
        throw new CheckpointError(source, `cannot load the optimizer state: ${(error as Error).message}`, { cause: error });
      }
    });
  }
  if (targets.gradScaler) {
    if (manifest.gradScaler === null) throw new CheckpointError(source, 'the checkpoint holds no GradScaler state');
    targets.gradScaler.loadStateDict(manifest.gradScaler);
  }
  const rngRestored =
    targets.restoreRng === false || manifest.rng.torch === null
      ? { cpu: false, cuda: 0 }
      : restoreTorchRng(manifest.rng.torch, source);
  return {
    dir: source,
    step: manifest.step,
    savedAt: manifest.savedAt,
    config: manifest.config,
    extra: manifest.extra,
    jsRng: manifest.rng.js,
    schedule: manifest.schedule,
    gradScaler: manifest.gradScaler,
    optimizerKind: manifest.optimizer,
    rngRestored,
  };
}

/**
 * The optimizer state of a checkpoint as a state dict (tensors owned by the caller), for an
 * optimizer built after the model was loaded; null when the checkpoint has none.
 */
export function readOptimizerState(dir: string): OptimizerStateDict | null {
  const source = requireCheckpoint(dir);
  const manifest = readManifest(source);
  if (manifest.files.optimizer === null) return null;
  const file = path.join(source, manifest.files.optimizer.name);
  using f = SafetensorsFile.open(file);
  const kind = f.metadata.optimizer;
  let paramGroups: SavedParamGroup<BaseOptions>[];
  try {
    paramGroups = JSON.parse(f.metadata.param_groups ?? '');
  } catch (error) {
    throw new CheckpointError(source, `${OPTIMIZER_FILE}: the 'param_groups' metadata is not valid JSON`, { cause: error });
  }
  if ((kind !== 'AdamW' && kind !== 'SGD') || !Array.isArray(paramGroups))
    throw new CheckpointError(source, `${OPTIMIZER_FILE}: metadata lacks a known 'optimizer' or a 'param_groups' list`);
  const state = new Map<string, Tensor>();
  for (const [name, entry] of f.entries) state.set(name, tensorFromFile(f, name, entry.dtype, entry.shape, source));
  return { optimizer: kind, paramGroups, state };
}

/**
 * loadCheckpoint(dir, {model, ...options}) plus the optimizer state for later:
 * `optimizer.loadStateDict(loaded.optimizer)` once the optimizer exists (null: none saved).
 */
export function loadTrainingCheckpoint(
  dir: string,
  model: nn.Module | ReadonlyMap<string, Tensor>,
  options: Omit<LoadTargets, 'model' | 'optimizer'> = {},
): LoadedCheckpoint & { optimizer: OptimizerStateDict | null } {
  const loaded = loadCheckpoint(dir, { ...options, model });
  return { ...loaded, optimizer: readOptimizerState(loaded.dir) };
}

function requireCheckpoint(dir: string): string {
  const source = resolveCheckpoint(dir);
  if (source === null) {
    const target = path.resolve(dir);
    const why = fs.existsSync(target) ? `has no ${MANIFEST_FILE}, so it is not a (complete) checkpoint` : 'does not exist';
    throw new CheckpointError(target, `${why}, and no complete checkpoint from an interrupted save is next to it`);
  }
  return source;
}

function readManifest(dir: string): CheckpointManifest {
  const file = path.join(dir, MANIFEST_FILE);
  let manifest: unknown;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CheckpointError(dir, `cannot read ${MANIFEST_FILE}: ${(error as Error).message}`, { cause: error });
  }
  return checkManifest(manifest, dir);
}

/**
 * Checks every field of a manifest, so that loading fails before any tensor is touched; errors name
 * the manifest file and the field. File names must be plain names inside the checkpoint directory.
 */
function checkManifest(m: unknown, dir: string): CheckpointManifest {
  const fail = (why: string): never => {
    throw new CheckpointError(dir, `${MANIFEST_FILE} is malformed: ${why}`);
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!isObject(m) || m.format !== FORMAT) throw new CheckpointError(dir, `${MANIFEST_FILE} is not a ${FORMAT} manifest`);
  if (!Number.isSafeInteger(m.version) || (m.version as number) < 1)
    fail(`version ${JSON.stringify(m.version)} is not a version number`);
  if ((m.version as number) > VERSION)
    throw new CheckpointError(dir, `${MANIFEST_FILE} has version ${m.version as number}; this library reads up to ${VERSION}`);
  if (!count(m.step)) fail(`step ${JSON.stringify(m.step)} is not an integer >= 0`);
  if (typeof m.savedAt !== 'string') fail('savedAt is not a string');
  const record = (v: unknown, which: string): void => {
    if (!isObject(v)) return fail(`files.${which} is not an object`);
    const name = v.name;
    if (
      typeof name !== 'string' ||
      name === '' ||
      name === '.' ||
      name === '..' ||
      name !== path.basename(name) ||
      /[/\\]/.test(name)
    )
      fail(`files.${which}.name ${JSON.stringify(name)} is not a plain file name`);
    if (!count(v.bytes)) fail(`files.${which}.bytes ${JSON.stringify(v.bytes)} is not a byte count`);
  };
  if (!isObject(m.files)) return fail('files is not an object');
  record(m.files.model, 'model');
  if (m.files.optimizer !== null) record(m.files.optimizer, 'optimizer');
  if (m.optimizer !== null && typeof m.optimizer !== 'string') fail('optimizer is neither null nor a name');
  if ((m.optimizer === null) !== (m.files.optimizer === null)) fail('optimizer and files.optimizer disagree');
  if (m.gradScaler !== null && !isObject(m.gradScaler)) fail('gradScaler is neither null nor an object');
  if (m.schedule !== null && !isObject(m.schedule)) fail('schedule is neither null nor an object');
  if (!('config' in m) || !('extra' in m)) fail('config or extra is missing');
  const rng = m.rng;
  if (!isObject(rng) || !('js' in rng)) return fail('rng is missing or not an object');
  const t = rng.torch;
  if (
    t !== null &&
    !(isObject(t) && typeof t.cpu === 'string' && Array.isArray(t.cuda) && t.cuda.every((c) => typeof c === 'string'))
  )
    fail('rng.torch is neither null nor {cpu: string, cuda: string[]}');
  return m as unknown as CheckpointManifest;
}

function checkFileSizes(dir: string, manifest: CheckpointManifest): void {
  for (const record of [manifest.files.model, manifest.files.optimizer]) {
    if (record === null) continue;
    const file = path.join(dir, record.name);
    const size = fs.existsSync(file) ? fs.statSync(file).size : -1;
    if (size !== record.bytes)
      throw new CheckpointError(
        dir,
        `${record.name} is ${size < 0 ? 'missing' : `${size} bytes`}, the manifest recorded ${record.bytes}: the checkpoint is damaged`,
      );
  }
}

function tensorFromFile(f: SafetensorsFile, name: string, safeDtype: string, shape: number[], dir: string): Tensor {
  const dtype = torchDtypeOf(safeDtype as never);
  if (dtype === undefined)
    throw new CheckpointError(
      dir,
      `${path.basename(f.path)}: tensor '${name}' has dtype ${safeDtype}, which the tensor library cannot hold`,
    );
  return torch.fromBytes(f.read(name), dtype, shape);
}

/** Copies a safetensors file into `state` one tensor at a time, after checking names and shapes. */
function loadModelTensors(
  file: string,
  state: ReadonlyMap<string, Tensor>,
  strict: boolean,
  dir: string,
  renamed: Readonly<Record<string, string>>,
): void {
  using f = SafetensorsFile.open(file);
  // the file's name of each model tensor: its own, else an older name it was saved under
  const older = new Map(Object.entries(renamed).map(([old, current]) => [current, old]));
  const source = (name: string): string | undefined =>
    f.has(name) ? name : older.has(name) && f.has(older.get(name)!) ? older.get(name) : undefined;
  const read = new Set([...state.keys()].map(source).filter((n): n is string => n !== undefined));
  const missing = [...state.keys()].filter((k) => source(k) === undefined);
  const unexpected = [...f.entries.keys()].filter((k) => !read.has(k));
  const list = (names: string[]) => names.slice(0, 8).join(', ') + (names.length > 8 ? `, ... (${names.length} in all)` : '');
  const problems: string[] = [];
  if (strict && missing.length) problems.push(`missing from the checkpoint: ${list(missing)}`);
  if (strict && unexpected.length) problems.push(`not in the model: ${list(unexpected)}`);
  for (const [name, t] of state) {
    const from = source(name);
    const entry = from === undefined ? undefined : f.entries.get(from);
    if (entry && entry.shape.join(',') !== t.shape.join(','))
      problems.push(`${name}: shape [${entry.shape}] in the checkpoint, [${t.shape}] in the model`);
  }
  if (problems.length) throw new CheckpointError(dir, `${MODEL_FILE} does not fit the model: ${problems.join('; ')}`);
  torch.noGrad(() => {
    for (const [name, t] of state) {
      const from = source(name);
      const entry = from === undefined ? undefined : f.entries.get(from);
      if (entry) torch.scope(() => void t.copy_(tensorFromFile(f, from!, entry.dtype, entry.shape, dir)));
    }
  });
}

// ---- RNG ----

function captureTorchRng(): { cpu: string; cuda: string[] } {
  const stateOf = (device?: string): string =>
    torch.scope(() => Buffer.from(torch.toBytes(torch.getRngState(device))).toString('base64'));
  const cuda: string[] = [];
  for (let i = 0; i < torch.cuda.deviceCount(); i++) cuda.push(stateOf(`cuda:${i}`));
  return { cpu: stateOf(), cuda };
}

function restoreTorchRng(saved: { cpu: string; cuda: string[] }, dir: string): { cpu: boolean; cuda: number } {
  const set = (encoded: string, device?: string) =>
    torch.scope(() => {
      const bytes = Buffer.from(encoded, 'base64');
      torch.setRngState(torch.fromBytes(bytes, 'uint8', [bytes.length]), device);
    });
  try {
    set(saved.cpu);
    const devices = Math.min(saved.cuda.length, torch.cuda.deviceCount());
    for (let i = 0; i < devices; i++) set(saved.cuda[i], `cuda:${i}`);
    return { cpu: true, cuda: devices };
  } catch (error) {
    throw new CheckpointError(dir, `cannot restore the RNG state: ${(error as Error).message}`, { cause: error });
  }
}

// ---- filesystem helpers ----

function isComplete(dir: string): boolean {
  return fs.existsSync(path.join(dir, MANIFEST_FILE));
}

/** `dir.tmp-<pid>-<hex>` and `dir.old-<pid>-<hex>` next to `dir`. */
function siblings(dir: string): { path: string; kind: 'tmp' | 'old'; pid: number }[] {
  const parent = path.dirname(dir);
  if (!fs.existsSync(parent)) return [];
  const prefix = path.basename(dir) + '.';
  return fs.readdirSync(parent).flatMap((name) => {
    if (!name.startsWith(prefix)) return [];
    const m = /^(tmp|old)-(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length));
    return m ? [{ path: path.join(parent, name), kind: m[1] as 'tmp' | 'old', pid: Number(m[2]) }] : [];
  });
}

/** What saveCheckpoint may find in a directory it replaces (the manifest, the tensors, leftovers of writeFileAtomic). */
function isCheckpointEntry(name: string): boolean {
  return (
    name === MANIFEST_FILE ||
    name === MODEL_FILE ||
    name === OPTIMIZER_FILE ||
    /^\.(checkpoint\.json|model\.safetensors|optimizer\.safetensors)\.tmp-/.test(name)
  );
}

/**
 * `dir` may be replaced only when it is missing, empty, or a checkpoint (a manifest and checkpoint
 * files, nothing else): anything else is someone's data and is refused, never moved or deleted.
 */
function checkReplaceable(dir: string): void {
  if (!fs.existsSync(dir)) return;
  if (!fs.statSync(dir).isDirectory())
    throw new CheckpointError(dir, 'exists and is not a checkpoint directory; refusing to replace it');
  const entries = fs.readdirSync(dir);
  if (entries.length === 0) return;
  const foreign = entries.filter((e) => !isCheckpointEntry(e));
  if (foreign.length || !entries.includes(MANIFEST_FILE)) {
    const shown = (foreign.length ? foreign : entries).slice(0, 5).join(', ');
    throw new CheckpointError(
      dir,
      `exists and is not a checkpoint (it holds ${shown}${entries.length > 5 ? ', …' : ''}); refusing to replace it`,
    );
  }
}

/** If an interrupted save left no `dir` but a complete sibling, puts the newest one back as `dir`. */
function restoreInterruptedSave(dir: string): void {
  if (fs.existsSync(dir)) return;
  const recovered = resolveCheckpoint(dir);
  if (recovered !== null) {
    fs.renameSync(recovered, dir);
    fsyncDirectory(path.dirname(dir));
  }
}

/** Removes leftovers of earlier saves of `dir` (except in-progress saves of other live processes). */
function removeLeftovers(dir: string): void {
  for (const s of siblings(dir)) {
    if (s.kind === 'tmp' && s.pid !== process.pid && processAlive(s.pid)) continue;
    fs.rmSync(s.path, { recursive: true, force: true });
  }
}

function removeCheckpoint(dir: string): void {
  // The manifest goes first, so a half-deleted directory is never taken for a checkpoint.
  fs.rmSync(path.join(dir, MANIFEST_FILE), { force: true });
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Checks that `value` survives JSON unchanged (no NaN, functions, BigInt, Maps, cycles...). */
function checkJson(value: unknown, where: string, dir: string, seen = new Set<unknown>()): JsonValue {
  const fail = (why: string): never => {
    throw new CheckpointError(dir, `${where} cannot be stored as JSON: ${why}`);
  };
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : fail(`${value} is not a finite number`);
  if (typeof value !== 'object') return fail(`it holds a ${typeof value}`);
  if (seen.has(value)) return fail('it contains a cycle');
  seen.add(value);
  if (Array.isArray(value)) value.forEach((v, i) => checkJson(v, `${where}[${i}]`, dir, seen));
  else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null)
      fail(`it holds a ${value.constructor?.name ?? 'non-plain object'} (only plain objects and arrays)`);
    for (const [k, v] of Object.entries(value)) if (v !== undefined) checkJson(v, `${where}.${k}`, dir, seen);
  }
  seen.delete(value);
  return value as JsonValue;
}
