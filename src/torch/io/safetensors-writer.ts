import { writeAll, writeFileAtomic } from '../../util/atomic-write';
import { compareForLayout, compareUtf8, isSafeDtype, SAFE_DTYPES, type SafeDtype } from './safetensors-dtype';
import { SafetensorsError, describeError } from './safetensors-error';
import { HEADER_LENGTH_PREFIX_BYTES, MAX_HEADER_BYTES, byteLengthOrUndefined } from './safetensors-file';

/**
 * A tensor's raw little-endian bytes, or a function producing them when the writer reaches the
 * tensor, so that only one tensor's bytes need to exist in JS memory at a time.
 */
export type TensorBytes = ArrayBufferView | (() => ArrayBufferView);

export interface TensorSpec {
  readonly dtype: SafeDtype;
  readonly shape: readonly number[];
  readonly data: TensorBytes;
}

export interface TensorToWrite extends TensorSpec {
  readonly name: string;
}

export type TensorsToWrite = readonly TensorToWrite[] | ReadonlyMap<string, TensorSpec>;

export interface PlannedTensor {
  readonly tensor: TensorToWrite;
  /** Offsets relative to the start of the data section, as written in the header. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsLayout {
  /** The 8-byte length prefix followed by the space-padded JSON header. */
  readonly headerBytes: Buffer;
  /** Tensors in the order their bytes follow the header. */
  readonly tensors: readonly PlannedTensor[];
  readonly fileSize: number;
}

const METADATA_KEY = '__metadata__';
/** Lone UTF-16 surrogates cannot be encoded as UTF-8, so the reference could not read such names. */
const LONE_SURROGATE = /\p{Cs}/u;

function badArgument(file: string, tensor: string | undefined, reason: string): SafetensorsError {
  return new SafetensorsError('BAD_ARGUMENT', file, tensor, reason);
}

/** Bytes of a tensor of `dtype` and `shape`; throws when the shape is invalid or the size exceeds 2^53 - 1. */
export function tensorByteLength(dtype: SafeDtype, shape: readonly number[], file = '<tensor>', tensor?: string): number {
  if (!isSafeDtype(dtype)) {
    const expected = SAFE_DTYPES.join(', ');
    throw badArgument(file, tensor, `unknown dtype ${JSON.stringify(dtype)} (expected one of ${expected})`);
  }
  if (!Array.isArray(shape) || !shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0)) {
    throw badArgument(file, tensor, `shape must be an array of non-negative integers, found ${describeShape(shape)}`);
  }
  const bytes = byteLengthOrUndefined(dtype, shape);
  if (bytes === undefined) {
    const reason = `shape [${shape.join(', ')}] of ${dtype} exceeds 2^53 - 1 bytes`;
    throw new SafetensorsError('LIMIT_EXCEEDED', file, tensor, reason);
  }
  return bytes;
}

/**
 * Validates the tensors and builds the header exactly as the reference writer does: tensors sorted
 * by dtype (widest first, in the reference's enum order) then by name as UTF-8 bytes, compact JSON
 * with `__metadata__` first when given, padded with spaces to a multiple of 8 bytes. Metadata keys
 * are sorted by UTF-8 bytes (the reference emits them in hash order, which is not reproducible, so
 * outputs are byte-identical to it only with at most one metadata key).
 */
export function planSafetensors(
  tensors: TensorsToWrite,
  metadata?: Readonly<Record<string, string>>,
  file = '<memory>',
): SafetensorsLayout {
  const sized = sizeTensors(normalizeTensors(tensors, file), file);
  sized.sort((a, b) => compareForLayout(a.tensor, b.tensor));

  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`${JSON.stringify(METADATA_KEY)}:${serializeMetadata(metadata, file)}`);
  const planned: PlannedTensor[] = [];
  let offset = 0;
  for (const { tensor, byteLength } of sized) {
    const begin = offset;
    offset += byteLength;
    if (offset > Number.MAX_SAFE_INTEGER) {
      throw new SafetensorsError('LIMIT_EXCEEDED', file, tensor.name, 'the data section would exceed 2^53 - 1 bytes');
    }
    planned.push({ tensor, begin, end: offset });
    parts.push(
      `${JSON.stringify(tensor.name)}:{"dtype":${JSON.stringify(tensor.dtype)},` +
        `"shape":[${tensor.shape.join(',')}],"data_offsets":[${begin},${offset}]}`,
    );
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padding = (8 - (json.byteLength % 8)) % 8;
  const headerLength = json.byteLength + padding;
  if (headerLength > MAX_HEADER_BYTES) {
    const reason = `header would be ${headerLength} bytes, above the ${MAX_HEADER_BYTES}-byte limit readers enforce`;
    throw new SafetensorsError('LIMIT_EXCEEDED', file, undefined, reason);
  }
  const headerBytes = Buffer.alloc(HEADER_LENGTH_PREFIX_BYTES + headerLength, 0x20);
  headerBytes.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(headerBytes, HEADER_LENGTH_PREFIX_BYTES);
  return { headerBytes, tensors: planned, fileSize: headerBytes.byteLength + offset };
}

/**
 * Writes a safetensors file atomically (temporary file in the same directory, fsync, rename, fsync
 * of the directory): on any failure, including a data callback that throws, the temporary file is
 * removed and a previous file at `path` is untouched. transformers writes `{ format: 'pt' }`, and
 * its 4.x versions refuse files whose metadata is present but lacks `format`.
 */
export function writeSafetensors(path: string, tensors: TensorsToWrite, metadata?: Readonly<Record<string, string>>): void {
  const layout = planSafetensors(tensors, metadata, path);
  let current: string | undefined;
  try {
    writeFileAtomic(path, (fd) => {
      writeAll(fd, layout.headerBytes);
      for (const { tensor, begin, end } of layout.tensors) {
        current = tensor.name;
        writeAll(fd, resolveTensorBytes(tensor, end - begin, path));
      }
      current = undefined;
    });
  } catch (error) {
    if (error instanceof SafetensorsError) throw error;
    throw new SafetensorsError('IO', path, current, `writing failed: ${describeError(error)}`, { cause: error });
  }
}

/**
 * Checks names (strings, unique, not reserved, encodable), dtypes, shapes and the length of eager
 * data, and returns each tensor with its byte length, in input order.
 */
export function sizeTensors(tensors: readonly TensorToWrite[], file: string): { tensor: TensorToWrite; byteLength: number }[] {
  const seen = new Set<string>();
  return tensors.map((tensor) => {
    const { name } = tensor;
    if (typeof name !== 'string') throw badArgument(file, undefined, `names must be strings, found ${typeof name}`);
    if (name === METADATA_KEY) throw badArgument(file, name, `"${METADATA_KEY}" is reserved for metadata`);
    if (LONE_SURROGATE.test(name)) throw badArgument(file, name, 'name contains an unpaired UTF-16 surrogate');
    if (seen.has(name)) throw badArgument(file, name, 'two tensors have this name');
    seen.add(name);
    const byteLength = tensorByteLength(tensor.dtype, tensor.shape, file, name);
    if (typeof tensor.data !== 'function') checkDataLength(tensor.data, byteLength, file, name);
    return { tensor, byteLength };
  });
}

/** The bytes of `tensor` as a Uint8Array view, calling its data function if it has one. */
export function resolveTensorBytes(tensor: TensorToWrite, byteLength: number, file: string): Uint8Array {
  let data: unknown = tensor.data;
  if (typeof data === 'function') {
    try {
      data = (data as () => ArrayBufferView)();
    } catch (error) {
      const reason = `the data callback threw: ${describeError(error)}`;
      throw new SafetensorsError('SOURCE_FAILED', file, tensor.name, reason, { cause: error });
    }
  }
  checkDataLength(data, byteLength, file, tensor.name);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function checkDataLength(data: unknown, byteLength: number, file: string, name: string): asserts data is ArrayBufferView {
  if (!ArrayBuffer.isView(data)) {
    throw badArgument(file, name, `data must be an ArrayBufferView or a function returning one, found ${typeof data}`);
  }
  if (data.byteLength !== byteLength) {
    throw badArgument(file, name, `data has ${data.byteLength} bytes but dtype and shape need ${byteLength}`);
  }
}

export function normalizeTensors(tensors: TensorsToWrite, file: string): readonly TensorToWrite[] {
  if (tensors instanceof Map) return [...tensors].map(([name, spec]) => ({ ...spec, name }));
  if (Array.isArray(tensors)) return tensors;
  throw badArgument(file, undefined, 'tensors must be an array of { name, dtype, shape, data } or a Map from name');
}

function serializeMetadata(metadata: Readonly<Record<string, string>>, file: string): string {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw badArgument(file, undefined, 'metadata must be an object of string values');
  }
  const keys = Object.keys(metadata).sort(compareUtf8);
  const members = keys.map((key) => {
    const value: unknown = metadata[key];
    const where = `metadata[${JSON.stringify(key)}]`;
    if (typeof value !== 'string') throw badArgument(file, undefined, `${where} must be a string, not ${typeof value}`);
    if (LONE_SURROGATE.test(key) || LONE_SURROGATE.test(value)) {
      throw badArgument(file, undefined, `${where} contains an unpaired UTF-16 surrogate`);
    }
    return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
  });
  return `{${members.join(',')}}`;
}

function describeShape(shape: unknown): string {
  if (!Array.isArray(shape)) return typeof shape;
  return `[${shape.map((dim) => (typeof dim === 'number' ? String(dim) : typeof dim)).join(', ')}]`;
}
