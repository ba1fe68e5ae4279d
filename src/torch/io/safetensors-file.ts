import { isUtf8 } from 'node:buffer';
import { closeSync, fstatSync, readSync } from 'node:fs';

import { SUB_BYTE_DTYPES, SAFE_DTYPES, isSafeDtype, itemSize, type SafeDtype } from './safetensors-dtype';
import { SafetensorsError, describeError, openForReading, type SafetensorsErrorCode } from './safetensors-error';
import { JsonSyntaxError, parseStrictJson, type JsonValue } from './strict-json';

/** Size of the little-endian u64 header-length prefix. */
export const HEADER_LENGTH_PREFIX_BYTES = 8;
/** Same bound as the reference implementation: a larger header is corruption or an attack. */
export const MAX_HEADER_BYTES = 100_000_000;
/** Nesting the reference (serde_json) accepts; a real header needs 3 levels. */
export const MAX_HEADER_JSON_DEPTH = 127;
const METADATA_KEY = '__metadata__';
/** Largest single read handed to the OS (reads above 2 GiB fail on some platforms). */
const MAX_READ_CHUNK = 1 << 30;

/** Where a tensor lives in its file. Entries and their shapes are frozen, as they are shared. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafeDtype;
  readonly shape: number[];
  /** Absolute offset of the tensor's first byte in the file. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

export interface SafetensorsHeader {
  readonly metadata: Record<string, string>;
  /** Tensors in file order (ascending offset). */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
}

/**
 * An open safetensors file whose header has been fully validated. Tensor bytes are read on demand
 * with positioned reads, one tensor at a time; the file is never read as a whole. `fd` stays open
 * until `close()` so native code can read tensors straight into its own memory.
 */
export class SafetensorsFile implements Disposable {
  private descriptor: number | undefined;
  private closeHooks: (() => void)[] = [];

  private constructor(
    readonly path: string,
    descriptor: number,
    readonly fileSize: number,
    /** Length of the JSON header (padding included), without the 8-byte prefix. */
    readonly headerByteLength: number,
    readonly metadata: Record<string, string>,
    readonly entries: ReadonlyMap<string, SafetensorsEntry>,
  ) {
    this.descriptor = descriptor;
  }

  /** Opens `path` and validates its header and layout; throws `SafetensorsError` on any problem. */
  static open(path: string): SafetensorsFile {
    const fd = openForReading(path);
    try {
      const fail = (code: SafetensorsErrorCode, reason: string): never => {
        throw new SafetensorsError(code, path, undefined, reason);
      };
      const stat = fstatSync(fd);
      if (!stat.isFile()) fail('IO', 'not a regular file');
      const fileSize = stat.size;
      if (fileSize < HEADER_LENGTH_PREFIX_BYTES) {
        fail('FILE_TOO_SMALL', `file is ${fileSize} bytes, shorter than the 8-byte header-length prefix`);
      }
      const prefix = Buffer.alloc(HEADER_LENGTH_PREFIX_BYTES);
      readFully(fd, prefix, 0, path, undefined);
      const declaredHeaderLength = prefix.readBigUInt64LE(0);
      if (declaredHeaderLength > BigInt(MAX_HEADER_BYTES)) {
        const limit = `the limit of ${MAX_HEADER_BYTES} bytes`;
        fail('HEADER_TOO_LARGE', `header length ${declaredHeaderLength} exceeds ${limit}`);
      }
      const headerByteLength = Number(declaredHeaderLength);
      if (HEADER_LENGTH_PREFIX_BYTES + headerByteLength > fileSize) {
        fail(
          'HEADER_OUT_OF_BOUNDS',
          `header length ${headerByteLength} points past the end of the file (file is ${fileSize} bytes, ` +
            `header would end at byte ${HEADER_LENGTH_PREFIX_BYTES + headerByteLength})`,
        );
      }
      const header = Buffer.allocUnsafe(headerByteLength);
      readFully(fd, header, HEADER_LENGTH_PREFIX_BYTES, path, undefined);
      const dataOffset = HEADER_LENGTH_PREFIX_BYTES + headerByteLength;
      const { metadata, entries } = parseSafetensorsHeader(header, dataOffset, fileSize - dataOffset, path);
      return new SafetensorsFile(path, fd, fileSize, headerByteLength, metadata, entries);
    } catch (error) {
      closeSync(fd);
      if (error instanceof SafetensorsError) throw error;
      throw new SafetensorsError('IO', path, undefined, `cannot read: ${describeError(error)}`, { cause: error });
    }
  }

  /** The open file descriptor, for positioned reads by native code (`entry.byteOffset`, `entry.byteLength`). */
  get fd(): number {
    if (this.descriptor === undefined) throw this.closedError(undefined);
    return this.descriptor;
  }

  get closed(): boolean {
    return this.descriptor === undefined;
  }

  /** Absolute file offset where the data section starts. */
  get dataOffset(): number {
    return HEADER_LENGTH_PREFIX_BYTES + this.headerByteLength;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  entry(name: string): SafetensorsEntry {
    const entry = this.entries.get(name);
    if (entry === undefined) {
      const known = [...this.entries.keys()];
      const listed = known
        .slice(0, 5)
        .map((n) => JSON.stringify(n))
        .join(', ');
      const more = known.length > 5 ? `, ... (${known.length} in all)` : '';
      throw new SafetensorsError(
        'UNKNOWN_TENSOR',
        this.path,
        name,
        `no such tensor in this file (it has ${known.length === 0 ? 'none' : listed + more})`,
      );
    }
    return entry;
  }

  /** The tensor's bytes in a freshly allocated Buffer of exactly its size, which owns its ArrayBuffer. */
  read(name: string): Buffer {
    const entry = this.entry(name);
    const fd = this.openDescriptor(name);
    const target = Buffer.allocUnsafeSlow(entry.byteLength);
    readFully(fd, target, entry.byteOffset, this.path, name);
    return target;
  }

  /** Reads the tensor's bytes into `target`, whose length must equal the tensor's byte length. */
  readInto(name: string, target: Uint8Array): void {
    const entry = this.entry(name);
    if (!(target instanceof Uint8Array) || target.byteLength !== entry.byteLength) {
      const found = target instanceof Uint8Array ? `${target.byteLength} bytes` : 'not a Uint8Array';
      throw new SafetensorsError(
        'BAD_ARGUMENT',
        this.path,
        name,
        `readInto target must be a Uint8Array of exactly ${entry.byteLength} bytes, found ${found}`,
      );
    }
    readFully(this.openDescriptor(name), target, entry.byteOffset, this.path, name);
  }

  /** Closes the descriptor; further reads throw. Closing twice is harmless. */
  close(): void {
    if (this.descriptor === undefined) return;
    const fd = this.descriptor;
    this.descriptor = undefined;
    const hooks = this.closeHooks;
    this.closeHooks = [];
    try {
      for (const hook of hooks) hook();
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Runs `hook` when the file is closed (before its descriptor is), to release what was made from
   * the open file, such as a memory mapping. Throws `SafetensorsError` when the file is closed already.
   */
  onClose(hook: () => void): void {
    if (this.descriptor === undefined) throw this.closedError(undefined);
    this.closeHooks.push(hook);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private openDescriptor(tensor: string): number {
    if (this.descriptor === undefined) throw this.closedError(tensor);
    return this.descriptor;
  }

  private closedError(tensor: string | undefined): SafetensorsError {
    return new SafetensorsError('CLOSED', this.path, tensor, 'the file has been closed');
  }
}

/**
 * Validates a header (the JSON bytes after the 8-byte prefix) against a data section of
 * `dataLength` bytes starting at absolute offset `dataOffset`, and returns its metadata and
 * entries. The rules are the reference implementation's: integer shapes and offsets, sizes that match
 * shape x dtype, and tensors that tile the data section exactly (no overlap, no gap, no trailing
 * bytes). Stricter than the reference: duplicate JSON keys, and sizes above 2^53 - 1, are refused.
 */
export function parseSafetensorsHeader(
  header: Uint8Array,
  dataOffset: number,
  dataLength: number,
  file: string,
): SafetensorsHeader {
  const invalidByte = firstInvalidUtf8Byte(header);
  if (invalidByte >= 0) {
    throw new SafetensorsError(
      'HEADER_NOT_UTF8',
      file,
      undefined,
      `header is not valid UTF-8 (invalid byte 0x${header[invalidByte].toString(16).padStart(2, '0')} ` +
        `at header byte ${invalidByte}, file offset ${HEADER_LENGTH_PREFIX_BYTES + invalidByte})`,
    );
  }
  const text = Buffer.from(header.buffer, header.byteOffset, header.byteLength).toString('utf8');
  let root: JsonValue;
  try {
    root = parseStrictJson(text, { maxDepth: MAX_HEADER_JSON_DEPTH });
  } catch (error) {
    const duplicate = error instanceof JsonSyntaxError && error.kind === 'duplicate-key';
    const reason = `header is not valid JSON: ${describeError(error)}`;
    const code = duplicate ? 'DUPLICATE_KEY' : 'HEADER_NOT_JSON';
    throw new SafetensorsError(code, file, undefined, reason, { cause: error });
  }
  if (!(root instanceof Map)) {
    const reason = `header must be a JSON object, found ${describeJson(root)}`;
    throw new SafetensorsError('HEADER_NOT_OBJECT', file, undefined, reason);
  }

  const metadata = parseMetadata(root.get(METADATA_KEY), file);
  const ranges: { entry: SafetensorsEntry; begin: number; end: number }[] = [];
  for (const [name, info] of root) {
    if (name === METADATA_KEY) continue;
    ranges.push(parseEntry(name, info, dataOffset, dataLength, file));
  }

  // The reference sorts by (begin, end) and requires each tensor to start where the previous ended.
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const entries = new Map<string, SafetensorsEntry>();
  let covered = 0;
  let previous: (typeof ranges)[number] | undefined;
  for (const range of ranges) {
    const { name } = range.entry;
    if (range.begin < covered && previous !== undefined) {
      throw new SafetensorsError(
        'BAD_LAYOUT',
        file,
        name,
        `data_offsets [${range.begin}, ${range.end}] overlap tensor ${JSON.stringify(previous.entry.name)} ` +
          `at [${previous.begin}, ${previous.end}]`,
      );
    }
    if (range.begin > covered) {
      throw new SafetensorsError(
        'BAD_LAYOUT',
        file,
        name,
        `data_offsets [${range.begin}, ${range.end}] leave bytes [${covered}, ${range.begin}) of the data section ` +
          `unused; the format requires tensors to cover it without gaps`,
      );
    }
    covered = range.end;
    previous = range;
    entries.set(name, range.entry);
  }
  if (covered !== dataLength) {
    throw new SafetensorsError(
      'BAD_LAYOUT',
      file,
      undefined,
      `the data section is ${dataLength} bytes but its tensors end at byte ${covered}; ` +
        `${dataLength - covered} trailing bytes belong to no tensor (truncated header or appended data?)`,
    );
  }
  return { metadata, entries };
}

function parseMetadata(value: JsonValue | undefined, file: string): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (value === undefined || value === null) return metadata; // the reference treats null as absent
  if (!(value instanceof Map)) {
    throw new SafetensorsError(
      'BAD_METADATA',
      file,
      undefined,
      `${METADATA_KEY} must be an object of string values, found ${describeJson(value)}`,
    );
  }
  for (const [key, item] of value) {
    if (typeof item !== 'string') {
      throw new SafetensorsError(
        'BAD_METADATA',
        file,
        undefined,
        `${METADATA_KEY}[${JSON.stringify(key)}] must be a string, found ${describeJson(item)}`,
      );
    }
    // defineProperty: a key such as "__proto__" becomes an ordinary own property.
    Object.defineProperty(metadata, key, { value: item, enumerable: true, writable: true, configurable: true });
  }
  return metadata;
}

function parseEntry(
  name: string,
  info: JsonValue,
  dataOffset: number,
  dataLength: number,
  file: string,
): { entry: SafetensorsEntry; begin: number; end: number } {
  const fail = (reason: string, code: SafetensorsErrorCode = 'BAD_ENTRY'): never => {
    throw new SafetensorsError(code, file, name, reason);
  };
  if (!(info instanceof Map)) {
    return fail(`entry must be an object with dtype, shape and data_offsets, found ${describeJson(info)}`);
  }
  const field = (key: string): JsonValue => {
    const value = info.get(key);
    return value === undefined ? fail(`entry has no "${key}" field`) : value;
  };

  const dtype = field('dtype');
  if (typeof dtype !== 'string') return fail(`dtype must be a string, found ${describeJson(dtype)}`);
  if (SUB_BYTE_DTYPES.includes(dtype)) return fail(`dtype ${dtype} is a sub-byte type, which is not supported`);
  if (!isSafeDtype(dtype)) {
    return fail(`unknown dtype ${JSON.stringify(dtype)} (expected one of ${SAFE_DTYPES.join(', ')})`);
  }

  const shapeValue = field('shape');
  if (!Array.isArray(shapeValue)) return fail(`shape must be an array of integers, found ${describeJson(shapeValue)}`);
  const shape = shapeValue.map((dim, i) => toIndex(dim, `shape[${i}]`, fail));

  const offsetsValue = field('data_offsets');
  if (!Array.isArray(offsetsValue) || offsetsValue.length !== 2) {
    return fail(`data_offsets must be an array [begin, end] of two integers, found ${describeJson(offsetsValue)}`);
  }
  const begin = toIndex(offsetsValue[0], 'data_offsets[0]', fail);
  const end = toIndex(offsetsValue[1], 'data_offsets[1]', fail);
  if (begin > end) fail(`data_offsets [${begin}, ${end}] begin after they end`);
  if (end > dataLength) {
    fail(`data_offsets [${begin}, ${end}] reach past the end of the ${dataLength}-byte data section`, 'BAD_LAYOUT');
  }

  const span = end - begin;
  const needed = byteLengthOrUndefined(dtype, shape);
  if (needed !== span) {
    const neededText = needed === undefined ? 'more than 2^53 - 1' : String(needed);
    fail(
      `shape [${shape.join(', ')}] of ${dtype} needs ${neededText} bytes, ` +
        `but data_offsets [${begin}, ${end}] span ${span} bytes`,
    );
  }
  // Frozen: entries are shared by every caller of `entries`/`entry()`.
  const entry: SafetensorsEntry = Object.freeze({
    name,
    dtype,
    shape: Object.freeze(shape) as number[],
    byteOffset: dataOffset + begin,
    byteLength: span,
  });
  return { entry, begin, end };
}

/** Bytes of a tensor, or undefined when that exceeds Number.MAX_SAFE_INTEGER. */
export function byteLengthOrUndefined(dtype: SafeDtype, shape: readonly number[]): number | undefined {
  if (shape.includes(0)) return 0;
  let bytes = itemSize(dtype);
  for (const dim of shape) {
    bytes *= dim;
    if (bytes > Number.MAX_SAFE_INTEGER) return undefined;
  }
  return bytes;
}

/** A non-negative integer that a JS number holds exactly, or a BAD_ENTRY/LIMIT_EXCEEDED failure. */
function toIndex(value: JsonValue, what: string, fail: (reason: string, code?: SafetensorsErrorCode) => never): number {
  if (typeof value !== 'bigint') return fail(`${what} must be a non-negative integer, found ${describeJson(value)}`);
  if (value < 0n) return fail(`${what} must be a non-negative integer, found ${value}`);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    return fail(`${what} = ${value} exceeds 2^53 - 1, the largest size this implementation handles`, 'LIMIT_EXCEEDED');
  }
  return Number(value);
}

function describeJson(value: JsonValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return `the string ${truncate(JSON.stringify(value))}`;
  if (typeof value === 'bigint') return `the integer ${truncate(String(value))}`;
  if (typeof value === 'number') return `the non-integer number ${truncate(String(value))}`;
  if (Array.isArray(value)) return `an array of ${value.length} items`;
  return `an object with ${value.size} keys`;
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Index of the first byte that breaks UTF-8 well-formedness (RFC 3629), or -1. */
export function firstInvalidUtf8Byte(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1;
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i];
    if (lead < 0x80) {
      i++;
      continue;
    }
    let length: number;
    let min: number; // smallest second byte, to refuse overlong forms and surrogates
    let max: number;
    if (lead >= 0xc2 && lead <= 0xdf) [length, min, max] = [2, 0x80, 0xbf];
    else if (lead === 0xe0) [length, min, max] = [3, 0xa0, 0xbf];
    else if (lead === 0xed) [length, min, max] = [3, 0x80, 0x9f];
    else if (lead >= 0xe1 && lead <= 0xef) [length, min, max] = [3, 0x80, 0xbf];
    else if (lead === 0xf0) [length, min, max] = [4, 0x90, 0xbf];
    else if (lead === 0xf4) [length, min, max] = [4, 0x80, 0x8f];
    else if (lead >= 0xf1 && lead <= 0xf3) [length, min, max] = [4, 0x80, 0xbf];
    else return i;
    for (let k = 1; k < length; k++) {
      const byte = bytes[i + k];
      const [lo, hi] = k === 1 ? [min, max] : [0x80, 0xbf];
      if (byte === undefined || byte < lo || byte > hi) return i + k < bytes.length ? i + k : i;
    }
    i += length;
  }
  return -1; // unreachable when isUtf8 said no, kept total for safety
}

/** Fills `target` from absolute file `position`, looping over short reads; EOF is an error. */
export function readFully(fd: number, target: Uint8Array, position: number, file: string, tensor: string | undefined): void {
  let done = 0;
  while (done < target.byteLength) {
    let count: number;
    try {
      count = readSync(fd, target, done, Math.min(target.byteLength - done, MAX_READ_CHUNK), position + done);
    } catch (error) {
      const reason = `read failed at offset ${position + done}: ${describeError(error)}`;
      throw new SafetensorsError('IO', file, tensor, reason, { cause: error });
    }
    if (count === 0) {
      throw new SafetensorsError(
        'IO',
        file,
        tensor,
        `unexpected end of file at offset ${position + done} (needed ${target.byteLength - done} more bytes; ` +
          `was the file truncated after it was opened?)`,
      );
    }
    done += count;
  }
}
