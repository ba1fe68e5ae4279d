import { closeSync, fstatSync, mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join, resolve, win32 } from 'node:path';

import { writeAll, writeFileAtomic } from '../../util/atomic-write';
import { compareUtf8 } from './safetensors-dtype';
import { SafetensorsError, describeError, openForReading } from './safetensors-error';
import {
  MAX_HEADER_BYTES,
  MAX_HEADER_JSON_DEPTH,
  SafetensorsFile,
  firstInvalidUtf8Byte,
  readFully,
  type SafetensorsEntry,
} from './safetensors-file';
import { normalizeTensors, sizeTensors, writeSafetensors, type TensorToWrite, type TensorsToWrite } from './safetensors-writer';
import { JsonSyntaxError, parseStrictJson, type JsonValue } from './strict-json';

/** File names used by Hugging Face checkpoints. */
export const SINGLE_FILE_NAME = 'model.safetensors';
export const INDEX_FILE_NAME = 'model.safetensors.index.json';
/** Hugging Face's default `max_shard_size` ("5GB"). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;
/** Every file a save may leave behind, current or stale: model.safetensors, shards, index. */
const CHECKPOINT_FILE_PATTERN = /^model(-\d{5}-of-\d{5})?\.safetensors(\.index\.json)?$/;

export interface ShardedEntry extends SafetensorsEntry {
  /** Path of the shard holding the tensor. */
  readonly file: string;
}

/**
 * A checkpoint spread over several safetensors files (`model.safetensors.index.json` plus shards),
 * or a single `model.safetensors`, behind one API. The index is read and every shard it names is
 * checked to exist when opening; each shard's header is opened and validated on first use, including
 * that it holds every tensor the index maps to it. Tensors a shard holds but the index does not
 * name are ignored: the index is the authority, as in transformers.
 */
export class ShardedSafetensors implements Disposable {
  private readonly openShards = new Map<string, SafetensorsFile>();
  private readonly tensorsByShard: ReadonlyMap<string, readonly string[]>;
  private allEntries: Map<string, ShardedEntry> | undefined;
  private isClosed = false;

  private constructor(
    /** Directory the shard names are relative to. */
    readonly directory: string,
    /** The index file, or null for a single-file checkpoint. */
    readonly indexPath: string | null,
    /** The index's `metadata` object (e.g. `total_size`); empty for a single file. */
    readonly metadata: Readonly<Record<string, unknown>>,
    /** Tensor name to shard file name (relative to `directory`), in index order. */
    readonly weightMap: ReadonlyMap<string, string>,
    single?: SafetensorsFile,
  ) {
    this.tensorsByShard = groupByShard(weightMap);
    if (single !== undefined) this.openShards.set(SINGLE_FILE_NAME, single);
  }

  /**
   * Opens a checkpoint from a directory (its `model.safetensors` if present, as transformers prefers,
   * else its `model.safetensors.index.json`), an index file (`*.json`), or a single `.safetensors` file.
   */
  static open(location: string): ShardedSafetensors {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(location).isDirectory();
    } catch (error) {
      throw new SafetensorsError('IO', location, undefined, `cannot open: ${describeError(error)}`, { cause: error });
    }
    if (isDirectory) {
      const single = join(location, SINGLE_FILE_NAME);
      const index = join(location, INDEX_FILE_NAME);
      if (isFile(single)) return ShardedSafetensors.openSingle(single);
      if (isFile(index)) return ShardedSafetensors.openIndex(index);
      const reason = `directory holds neither ${SINGLE_FILE_NAME} nor ${INDEX_FILE_NAME}`;
      throw new SafetensorsError('IO', location, undefined, reason);
    }
    if (location.endsWith('.json')) return ShardedSafetensors.openIndex(location);
    return ShardedSafetensors.openSingle(location);
  }

  private static openSingle(path: string): ShardedSafetensors {
    const file = SafetensorsFile.open(path);
    const weightMap = new Map([...file.entries.keys()].map((name) => [name, SINGLE_FILE_NAME]));
    return new ShardedSafetensors(resolve(path, '..'), null, {}, weightMap, file);
  }

  private static openIndex(indexPath: string): ShardedSafetensors {
    const directory = resolve(indexPath, '..');
    const { metadata, weightMap } = readIndex(indexPath);
    const tensorsByShard = groupByShard(weightMap);
    for (const [shard, tensors] of tensorsByShard) {
      const path = join(directory, shard);
      if (!isFile(path)) {
        throw new SafetensorsError(
          'MISSING_SHARD',
          path,
          tensors[0],
          `shard does not exist or is not a file, but index ${indexPath} maps ${tensors.length} tensor(s) to it`,
        );
      }
    }
    return new ShardedSafetensors(directory, indexPath, metadata, weightMap);
  }

  /** Tensor names, in index order. */
  get names(): string[] {
    return [...this.weightMap.keys()];
  }

  /** Distinct shard file names (relative to `directory`), in order of first appearance in the index. */
  get shardFiles(): string[] {
    return [...new Set(this.weightMap.values())];
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  /** Every tensor's entry; opens and validates all shards the first time. */
  get entries(): ReadonlyMap<string, ShardedEntry> {
    if (this.allEntries === undefined) {
      const entries = new Map<string, ShardedEntry>();
      for (const name of this.weightMap.keys()) entries.set(name, this.entry(name));
      this.allEntries = entries;
    }
    return this.allEntries;
  }

  /** One tensor's entry; opens only its shard. */
  entry(name: string): ShardedEntry {
    const shard = this.shardFor(name);
    return Object.freeze({ ...shard.entry(name), file: shard.path });
  }

  /** The open shard holding `name`, e.g. to read into native memory through its `fd`. */
  shardFor(name: string): SafetensorsFile {
    const shardName = this.weightMap.get(name);
    if (shardName === undefined) {
      throw new SafetensorsError(
        'UNKNOWN_TENSOR',
        this.indexPath ?? join(this.directory, SINGLE_FILE_NAME),
        name,
        `no such tensor in this checkpoint (it has ${this.weightMap.size})`,
      );
    }
    return this.shard(shardName);
  }

  /** The shard file `shardName` (as named in the index), opened and validated on first use. */
  shard(shardName: string): SafetensorsFile {
    const path = join(this.directory, shardName);
    if (this.isClosed) throw new SafetensorsError('CLOSED', path, undefined, 'the checkpoint has been closed');
    const open = this.openShards.get(shardName);
    if (open !== undefined) return open;
    const expected = this.tensorsByShard.get(shardName);
    if (expected === undefined) {
      const reason = `the index ${this.indexPath} names no tensor in this file`;
      throw new SafetensorsError('UNKNOWN_TENSOR', path, undefined, reason);
    }
    const file = SafetensorsFile.open(path);
    const missing = expected.find((name) => !file.has(name));
    if (missing !== undefined) {
      file.close();
      throw new SafetensorsError(
        'BAD_INDEX',
        path,
        missing,
        `index ${this.indexPath} maps this tensor to this shard, but the shard does not contain it`,
      );
    }
    this.openShards.set(shardName, file);
    return file;
  }

  read(name: string): Buffer {
    return this.shardFor(name).read(name);
  }

  readInto(name: string, target: Uint8Array): void {
    this.shardFor(name).readInto(name, target);
  }

  /** Closes every open shard; closing twice is harmless. */
  close(): void {
    this.isClosed = true;
    for (const file of this.openShards.values()) file.close();
    this.openShards.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function readIndex(indexPath: string): { metadata: Record<string, unknown>; weightMap: Map<string, string> } {
  const fail = (reason: string, tensor?: string): never => {
    throw new SafetensorsError('BAD_INDEX', indexPath, tensor, reason);
  };
  const bytes = readSmallFile(indexPath, MAX_HEADER_BYTES);
  const invalidByte = firstInvalidUtf8Byte(bytes);
  if (invalidByte >= 0) fail(`index is not valid UTF-8 (byte ${invalidByte})`);
  let root: JsonValue;
  try {
    root = parseStrictJson(bytes.toString('utf8'), { maxDepth: MAX_HEADER_JSON_DEPTH });
  } catch (error) {
    const duplicate = error instanceof JsonSyntaxError && error.kind === 'duplicate-key';
    return fail(`index ${duplicate ? 'has a duplicate key' : 'is not valid JSON'}: ${describeError(error)}`);
  }
  if (!(root instanceof Map)) return fail('index must be a JSON object');
  const weightMapValue = root.get('weight_map');
  if (!(weightMapValue instanceof Map)) return fail('index has no "weight_map" object');
  const weightMap = new Map<string, string>();
  for (const [name, shard] of weightMapValue) {
    if (typeof shard !== 'string') return fail('weight_map values must be shard file names (strings)', name);
    checkShardName(shard, (reason) => fail(reason, name));
    weightMap.set(name, shard);
  }
  const metadataValue = root.get('metadata');
  if (metadataValue !== undefined && metadataValue !== null && !(metadataValue instanceof Map)) {
    fail('index "metadata" must be an object');
  }
  const metadata = metadataValue instanceof Map ? (toPlain(metadataValue) as Record<string, unknown>) : {};
  return { metadata, weightMap };
}

/** Shard names must stay inside the checkpoint directory, on any OS, and be safetensors files. */
function checkShardName(shard: string, fail: (reason: string) => never): void {
  const parsed = win32.parse(shard); // win32 parsing treats both separators and sees drives and UNC roots
  const escapes = parsed.root !== '' || shard.split(/[\\/]/).includes('..') || shard.includes('\0');
  if (escapes) fail(`shard file name ${JSON.stringify(shard)} must be a relative path without ".." components`);
  if (!shard.endsWith('.safetensors')) fail(`shard file name ${JSON.stringify(shard)} must end in .safetensors`);
}

function groupByShard(weightMap: ReadonlyMap<string, string>): Map<string, string[]> {
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of weightMap) {
    const list = byShard.get(shard);
    if (list === undefined) byShard.set(shard, [name]);
    else list.push(name);
  }
  return byShard;
}

/** Parsed JSON to plain JS values: objects become plain objects, integers numbers when exact. */
function toPlain(value: JsonValue): unknown {
  if (typeof value === 'bigint') {
    const exact = value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER);
    return exact ? Number(value) : value;
  }
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof Map) {
    const object: Record<string, unknown> = {};
    for (const [key, item] of value) {
      const descriptor = { value: toPlain(item), enumerable: true, writable: true, configurable: true };
      Object.defineProperty(object, key, descriptor); // "__proto__" stays an ordinary key
    }
    return object;
  }
  return value;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function readSmallFile(path: string, maxBytes: number): Buffer {
  const fd = openForReading(path);
  try {
    const size = fstatSync(fd).size;
    if (size > maxBytes) {
      const reason = `index is ${size} bytes, above the ${maxBytes}-byte limit`;
      throw new SafetensorsError('BAD_INDEX', path, undefined, reason);
    }
    const bytes = Buffer.allocUnsafe(size);
    readFully(fd, bytes, 0, path, undefined);
    return bytes;
  } finally {
    closeSync(fd);
  }
}

export interface WriteShardedOptions {
  /** Largest shard in tensor bytes (default 5 GB, as Hugging Face); a bigger tensor gets a shard of its own. */
  maxShardBytes?: number;
  /** Metadata of every shard, merged over `{ format: 'pt' }` (which transformers expects). */
  metadata?: Readonly<Record<string, string>>;
}

export interface WriteShardedResult {
  /** Paths of the written safetensors files, in shard order. */
  files: string[];
  /** Path of the written index, or null when everything fit in one `model.safetensors`. */
  indexPath: string | null;
  /** Sum of tensor byte lengths (the index's `metadata.total_size`). */
  totalSize: number;
  /** Sum of element counts (the index's `metadata.total_parameters`). */
  totalParameters: number;
}

/**
 * Saves tensors as a Hugging Face checkpoint in `directory`: tensors are packed greedily in the given
 * order into shards of at most `maxShardBytes` (huggingface_hub's rule), written as
 * `model-00001-of-0000N.safetensors` plus `model.safetensors.index.json` (`json.dumps(indent=2,
 * sort_keys=True)` format, with `total_size` and `total_parameters`), or as a lone
 * `model.safetensors` without index when one shard suffices, exactly as transformers does. Each file
 * is written atomically and the index last; afterwards, checkpoint files of an earlier save that are
 * not part of this one (stale shards, index or single file) are deleted.
 */
export function writeSharded(directory: string, tensors: TensorsToWrite, options: WriteShardedOptions = {}): WriteShardedResult {
  const maxShardBytes = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes <= 0) {
    const reason = `maxShardBytes must be a positive integer, found ${maxShardBytes}`;
    throw new SafetensorsError('BAD_ARGUMENT', directory, undefined, reason);
  }
  const sized = sizeTensors(normalizeTensors(tensors, directory), directory);
  const metadata = { format: 'pt', ...options.metadata };

  const shards: TensorToWrite[][] = [];
  let current: TensorToWrite[] = [];
  let currentBytes = 0;
  let totalSize = 0;
  let totalParameters = 0;
  for (const { tensor, byteLength } of sized) {
    totalSize += byteLength;
    totalParameters += tensor.shape.reduce((product, dim) => product * dim, 1);
    if (byteLength > maxShardBytes) {
      shards.push([tensor]);
      continue;
    }
    if (currentBytes + byteLength > maxShardBytes && current.length > 0) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(tensor);
    currentBytes += byteLength;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);

  const count = shards.length;
  const shardName = (i: number): string =>
    count === 1 ? SINGLE_FILE_NAME : `model-${pad5(i + 1)}-of-${pad5(count)}.safetensors`;
  try {
    mkdirSync(directory, { recursive: true });
  } catch (error) {
    const reason = `cannot create directory: ${describeError(error)}`;
    throw new SafetensorsError('IO', directory, undefined, reason, { cause: error });
  }
  const files = shards.map((shard, i) => {
    const path = join(directory, shardName(i));
    writeSafetensors(path, shard, metadata);
    return path;
  });

  let indexPath: string | null = null;
  if (count > 1) {
    indexPath = join(directory, INDEX_FILE_NAME);
    const weightMap = shards.flatMap((shard, i) => shard.map(({ name }): [string, string] => [name, shardName(i)]));
    const text = formatIndexJson({ total_parameters: totalParameters, total_size: totalSize }, weightMap);
    try {
      writeFileAtomic(indexPath, (fd) => writeAll(fd, Buffer.from(text, 'utf8')));
    } catch (error) {
      const reason = `writing failed: ${describeError(error)}`;
      throw new SafetensorsError('IO', indexPath, undefined, reason, { cause: error });
    }
  }
  const written = shards.map((_, i) => shardName(i));
  removeStaleCheckpointFiles(directory, new Set(count > 1 ? [...written, INDEX_FILE_NAME] : written));
  return { files, indexPath, totalSize, totalParameters };
}

function pad5(n: number): string {
  return String(n).padStart(5, '0');
}

/** Whether `name` is a weights file of a Hugging Face checkpoint (model.safetensors, a shard, or the index). */
export function isWeightsFileName(name: string): boolean {
  return CHECKPOINT_FILE_PATTERN.test(name);
}

function removeStaleCheckpointFiles(directory: string, keep: ReadonlySet<string>): void {
  for (const name of readdirSync(directory)) {
    if (!CHECKPOINT_FILE_PATTERN.test(name) || keep.has(name)) continue;
    try {
      unlinkSync(join(directory, name));
    } catch (error) {
      const reason = `cannot remove stale checkpoint file: ${describeError(error)}`;
      throw new SafetensorsError('IO', join(directory, name), undefined, reason, { cause: error });
    }
  }
}

/**
 * The index as Python's `json.dumps(index, indent=2, sort_keys=True) + "\n"` writes it (what
 * transformers produces): keys sorted by code point, non-ASCII escaped as \uXXXX.
 */
export function formatIndexJson(
  metadata: Readonly<Record<string, number | string>>,
  weightMap: readonly (readonly [string, string])[],
): string {
  const object = (entries: readonly (readonly [string, number | string])[], indent: string): string => {
    if (entries.length === 0) return '{}';
    const sorted = [...entries].sort((a, b) => compareUtf8(a[0], b[0]));
    const inner = indent + '  ';
    const lines = sorted.map(([key, value]) => {
      const literal = typeof value === 'number' ? String(value) : pythonJsonString(value);
      return `${inner}${pythonJsonString(key)}: ${literal}`;
    });
    return `{\n${lines.join(',\n')}\n${indent}}`;
  };
  return `{\n  "metadata": ${object(Object.entries(metadata), '  ')},\n` + `  "weight_map": ${object(weightMap, '  ')}\n}\n`;
}

/** A JSON string literal with Python's `ensure_ascii` escaping. */
function pythonJsonString(value: string): string {
  const escape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, escape);
}
