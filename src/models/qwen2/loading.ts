// Hugging Face checkpoints: config.json + safetensors weights (one model.safetensors or shards listed
// in model.safetensors.index.json) + tokenizer, read into a Qwen2ForCausalLM and written back in the
// same format (loadable by transformers' Qwen2ForCausalLM.from_pretrained).
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as torch from '../../torch';
import type { DType, DeviceLike, Tensor } from '../../torch';
import {
  SafetensorsFile,
  ShardedSafetensors,
  isWeightsFileName,
  safeDtypeOf,
  torchDtypeOf,
  writeSharded,
  type TensorToWrite,
} from '../../torch/io/safetensors';
import { loadTensor } from '../../torch/io/load';
import { fsyncDirectory, writeTextAtomic } from '../../util/atomic-write';
import { processAlive } from '../../util/process';
import { Tokenizer } from '../tokenizer';
import {
  CONFIG_FILE,
  GENERATION_CONFIG_FILE,
  generationConfigJson,
  qwen2ConfigToJson,
  readGenerationDefaults,
  readQwen2Config,
  type GenerationDefaults,
  type Qwen2Config,
} from './config';
import { Qwen2ForCausalLM } from './modeling';

/** A checkpoint whose tensors do not fit the model: missing, mis-shaped, or of an unusable dtype. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export interface LoadOptions {
  /** Parameter dtype. Default: the checkpoint's (its embedding matrix's dtype). */
  dtype?: DType;
  device?: DeviceLike;
  /**
   * Refuse checkpoint tensors the model has no parameter for (default true). Tensors that Qwen2
   * checkpoints legitimately carry are always ignored: lm_head.weight of a tied model (a copy of the
   * embedding) and rotary inv_freq buffers saved by old transformers versions.
   */
  strict?: boolean;
  /** Load `<dir>/tokenizer.json` when it exists (default true). */
  tokenizer?: boolean;
  /** Called after each tensor is loaded (progress of a long load). */
  onProgress?: (done: number, total: number) => void;
}

export interface PretrainedQwen2 {
  model: Qwen2ForCausalLM;
  config: Qwen2Config;
  /** null when the directory has no tokenizer.json (or LoadOptions.tokenizer is false) */
  tokenizer: Tokenizer | null;
  generation: GenerationDefaults;
  /** the local directory the model came from */
  dir: string;
}

const TOKENIZER_FILE = 'tokenizer.json';
const ROTARY_BUFFER = /\.rotary_emb\.inv_freq$/;

/** Loads a Qwen2 model (config, weights, tokenizer) from a local Hugging Face model directory. */
export function loadQwen2(dir: string, options: LoadOptions = {}): PretrainedQwen2 {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    const aside = interruptedSaves(path.resolve(dir)).find((s) => s.kind === 'old');
    throw new CheckpointError(
      `${dir}: model directory not found${aside ? ` (an interrupted save left the previous model in ${aside.path})` : ''}`,
    );
  }
  const config = readQwen2Config(dir);
  const generation = readGenerationDefaults(dir, config);
  using weights = openCheckpoint(dir);
  const dtype = options.dtype ?? checkpointDtype(weights, config, dir);
  // Names and shapes first, on the meta device (no memory): a config.json that does not match the
  // weights is refused before its parameters are allocated.
  const shapes = new Qwen2ForCausalLM(config, { dtype, device: 'meta' });
  try {
    checkQwen2Weights(shapes.stateDict(), weights, config, { strict: options.strict });
  } finally {
    shapes.dispose();
  }
  const model = new Qwen2ForCausalLM(config, { dtype, device: options.device ?? 'cpu' });
  try {
    loadQwen2Weights(model, weights, { strict: options.strict, onProgress: options.onProgress });
  } catch (e) {
    model.dispose();
    throw e;
  }
  const wantTokenizer = options.tokenizer ?? true;
  const tokenizer = wantTokenizer && fs.existsSync(path.join(dir, TOKENIZER_FILE)) ? Tokenizer.fromDir(dir) : null;
  return { model, config, tokenizer, generation, dir: path.resolve(dir) };
}

/**
 * Loads a model by Hugging Face id (`Qwen/Qwen2-0.5B`, downloaded into the shared Hugging Face
 * cache) or local directory.
 */
export async function fromPretrained(
  idOrPath: string,
  options: LoadOptions & { revision?: string; offline?: boolean } = {},
): Promise<PretrainedQwen2> {
  const { resolveModel } = await import('../../hub');
  const dir = await resolveModel(idOrPath, { revision: options.revision, offline: options.offline });
  return loadQwen2(dir, options);
}

function openCheckpoint(dir: string): ShardedSafetensors {
  try {
    return ShardedSafetensors.open(dir);
  } catch (e) {
    throw new CheckpointError(`${dir}: cannot open the weights: ${(e as Error).message}`, { cause: e });
  }
}

/** The dtype of the stored embedding matrix (what "the checkpoint's dtype" means for loading). */
function checkpointDtype(weights: ShardedSafetensors, config: Qwen2Config, dir: string): DType {
  const name = 'model.embed_tokens.weight';
  if (!weights.has(name)) return config.torchDtype ?? 'float32';
  const stored = weights.entry(name).dtype;
  const dtype = torchDtypeOf(stored);
  if (dtype === undefined || !['float32', 'float64', 'bfloat16', 'float16'].includes(dtype)) {
    throw new CheckpointError(
      `${dir}: tensor "${name}" is stored as ${stored}, which is not a floating dtype this library computes in`,
    );
  }
  return dtype;
}

/**
 * Copies checkpoint tensors into the model's parameters (converting dtype, moving to their device),
 * one tensor at a time. Throws CheckpointError naming the tensor and file when one is missing,
 * mis-shaped or stored in an unsupported dtype; with strict, also for tensors the model lacks.
 */
export function loadQwen2Weights(
  model: Qwen2ForCausalLM,
  weights: ShardedSafetensors,
  { strict = true, onProgress }: { strict?: boolean; onProgress?: (done: number, total: number) => void } = {},
): { ignored: string[] } {
  const own = model.stateDict();
  const ignored = checkQwen2Weights(own, weights, model.config, { strict });
  let loaded = 0;
  for (const [name, param] of own) {
    torch.scope(() => torch.noGrad(() => param.copy_(loadTensor(weights, name))));
    onProgress?.(++loaded, own.size);
  }
  return { ignored };
}

/** The checks of loadQwen2Weights (names, shapes, dtypes) against the model's state dict; returns the ignored names. */
function checkQwen2Weights(
  own: ReadonlyMap<string, { shape: number[] }>,
  weights: ShardedSafetensors,
  config: Qwen2Config,
  { strict = true }: { strict?: boolean } = {},
): string[] {
  const where = weights.indexPath ?? path.join(weights.directory, 'model.safetensors');
  const missing = [...own.keys()].filter((name) => !weights.has(name));
  if (missing.length) {
    const list = missing
      .slice(0, 8)
      .map((n) => `"${n}" [${own.get(n)!.shape}]`)
      .join(', ');
    throw new CheckpointError(
      `${where}: missing tensor${missing.length > 1 ? 's' : ''} ${list}${missing.length > 8 ? `, ... (${missing.length} in all)` : ''}` +
        ` (the checkpoint has ${weights.names.length} tensors; config.json may not match the weights)`,
    );
  }
  const ignored: string[] = [];
  const unexpected: string[] = [];
  for (const name of weights.names) {
    if (own.has(name)) continue;
    const benign = (name === 'lm_head.weight' && config.tieWordEmbeddings) || ROTARY_BUFFER.test(name);
    (benign ? ignored : unexpected).push(name);
  }
  if (unexpected.length && strict) {
    throw new CheckpointError(
      `${where}: tensor${unexpected.length > 1 ? 's' : ''} ${unexpected
        .slice(0, 8)
        .map((n) => `"${n}"`)
        .join(', ')} ` +
        `${unexpected.length > 1 ? 'are' : 'is'} not part of a Qwen2 model with this config (pass strict: false to ignore)`,
    );
  }
  for (const [name, param] of own) {
    const entry = weights.entry(name);
    if (entry.shape.join(',') !== param.shape.join(',')) {
      throw new CheckpointError(
        `${entry.file}: tensor "${name}" has shape [${entry.shape}], the model expects [${param.shape}] for this config`,
      );
    }
    const dtype = torchDtypeOf(entry.dtype);
    if (dtype === undefined || !['float32', 'float64', 'bfloat16', 'float16'].includes(dtype)) {
      throw new CheckpointError(
        `${entry.file}: tensor "${name}" is stored as ${entry.dtype}, not a floating dtype this library can load`,
      );
    }
  }
  return [...ignored, ...unexpected];
}

export interface SaveOptions {
  /** Store the weights in this dtype (default: the model's). */
  dtype?: DType;
  /** Largest shard in bytes (default 5 GB as Hugging Face; smaller values write model-0000k-of-0000n files and an index). */
  maxShardBytes?: number;
  /** Written as tokenizer.json / tokenizer_config.json. */
  tokenizer?: Tokenizer | null;
  /** Written as generation_config.json (default: the config's bos/eos/pad ids). */
  generation?: GenerationDefaults;
  /** Called after each tensor is converted for writing (progress of a long save). */
  onProgress?: (done: number, total: number) => void;
  /**
   * Write into a non-empty directory that does not hold a model this library wrote (its model files
   * are replaced, its other files kept). Without it such a directory is refused (ModelDirError).
   */
  force?: boolean;
}

/** A directory a model cannot be saved to without `force`; the message says why. */
export class ModelDirError extends Error {
  override name = 'ModelDirError';
}

/** Safetensors metadata that marks weights written by saveQwen2 (what makes a directory "ours"). */
const WRITER_METADATA = { writer: 'latent-tokens' } as const;

/**
 * Writes `dir` as a Hugging Face Qwen2 checkpoint: config.json, generation_config.json,
 * model.safetensors (or shards + index) with Hugging Face's tensor names, and the tokenizer when given.
 * Tensors are converted and copied to the CPU one at a time, as the writer reaches them.
 *
 * The files are written into a sibling temporary directory and swapped in as a set (the previous
 * directory is renamed aside, the new one renamed in, then the old one deleted), so a failed save
 * leaves the previous model whole and readers never see shards of two saves. Files of `dir` that
 * are not model files (a README, a tokenizer when none is given) are carried over. A non-empty `dir`
 * that does not hold a model this library wrote is refused unless `force`.
 */
export function saveQwen2(model: Qwen2ForCausalLM, dir: string, options: SaveOptions = {}): void {
  const target = path.resolve(dir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  recoverInterruptedSave(target);
  checkSaveTarget(target, options.force ?? false);
  const dtype = options.dtype ?? model.dtype;
  const tensors: TensorToWrite[] = [];
  const state = model.stateDict();
  let done = 0;
  for (const [name, param] of state) {
    tensors.push({
      name,
      dtype: safeDtypeOf(dtype),
      shape: param.shape,
      data: () => {
        const bytes = tensorBytes(param, dtype);
        options.onProgress?.(++done, state.size);
        return bytes;
      },
    });
  }
  const temporary = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  fs.mkdirSync(temporary);
  let retired: string | null = null;
  let committed = false;
  try {
    writeSharded(temporary, tensors, { maxShardBytes: options.maxShardBytes, metadata: WRITER_METADATA });
    const config = model.config;
    writeTextAtomic(
      path.join(temporary, CONFIG_FILE),
      JSON.stringify(qwen2ConfigToJson(config, { torchDtype: dtype }), null, 2) + '\n',
    );
    const generation = options.generation ?? {
      bosTokenId: config.bosTokenId,
      eosTokenIds: config.eosTokenIds,
      padTokenId: config.padTokenId,
    };
    writeTextAtomic(
      path.join(temporary, GENERATION_CONFIG_FILE),
      JSON.stringify(generationConfigJson(generation), null, 2) + '\n',
    );
    options.tokenizer?.save(temporary);
    if (fs.existsSync(target)) {
      carryOver(target, temporary);
      fsyncDirectory(temporary);
      retired = `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
      fs.renameSync(target, retired);
    }
    fs.renameSync(temporary, target);
    committed = true;
    fsyncDirectory(path.dirname(target));
  } catch (e) {
    if (!committed) {
      if (retired !== null && !fs.existsSync(target)) fs.renameSync(retired, target);
      fs.rmSync(temporary, { recursive: true, force: true });
    }
    throw e;
  }
  if (retired !== null) fs.rmSync(retired, { recursive: true, force: true });
}

/** `dir` may be written when missing, empty, holding weights this library wrote, or with force. */
function checkSaveTarget(dir: string, force: boolean): void {
  if (!fs.existsSync(dir)) return;
  if (!fs.statSync(dir).isDirectory()) throw new ModelDirError(`${dir}: exists and is not a directory`);
  const entries = fs.readdirSync(dir);
  if (entries.length === 0 || force || writtenByThisLibrary(dir)) return;
  const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? ', …' : '');
  throw new ModelDirError(
    `${dir}: not empty and not a model written by this library (it holds ${shown}); choose another directory, or pass force: true (--force) to replace its model files`,
  );
}

function writtenByThisLibrary(dir: string): boolean {
  try {
    using weights = ShardedSafetensors.open(dir);
    const first = weights.names.length ? weights.entry(weights.names[0]).file : path.join(dir, 'model.safetensors');
    using file = SafetensorsFile.open(first);
    return file.metadata.writer === WRITER_METADATA.writer;
  } catch {
    return false;
  }
}

/** Links (or copies) the entries of `from` that the new save did not write and that are not old weights into `to`. */
function carryOver(from: string, to: string): void {
  for (const name of fs.readdirSync(from)) {
    if (isWeightsFileName(name) || fs.existsSync(path.join(to, name))) continue;
    const source = path.join(from, name);
    const destination = path.join(to, name);
    if (fs.statSync(source).isDirectory()) fs.cpSync(source, destination, { recursive: true });
    else {
      try {
        fs.linkSync(source, destination);
      } catch {
        fs.copyFileSync(source, destination);
      }
    }
  }
}

/** `dir.tmp-<pid>-<hex>` / `dir.old-<pid>-<hex>` siblings left by saves of `dir`. */
function interruptedSaves(dir: string): { path: string; kind: 'tmp' | 'old'; pid: number }[] {
  const parent = path.dirname(dir);
  if (!fs.existsSync(parent)) return [];
  const prefix = path.basename(dir) + '.';
  return fs.readdirSync(parent).flatMap((name) => {
    const m = name.startsWith(prefix) ? /^(tmp|old)-(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length)) : null;
    return m ? [{ path: path.join(parent, name), kind: m[1] as 'tmp' | 'old', pid: Number(m[2]) }] : [];
  });
}

/**
 * After a crash between the two renames of a save, `dir` is missing and the previous model is in
 * `dir.old-*`: put it back. Temporary directories of dead saves are removed.
 */
function recoverInterruptedSave(dir: string): void {
  for (const s of interruptedSaves(dir)) {
    if (s.kind === 'old' && !fs.existsSync(dir)) fs.renameSync(s.path, dir);
    else if (!processAlive(s.pid)) fs.rmSync(s.path, { recursive: true, force: true });
  }
}

/** Little-endian bytes of a tensor converted to `dtype`, on the CPU, contiguous. */
function tensorBytes(t: Tensor, dtype: DType): Uint8Array {
  return torch.scope(() => torch.noGrad(() => torch.toBytes(t.detach().to('cpu').to(dtype).contiguous())));
}
