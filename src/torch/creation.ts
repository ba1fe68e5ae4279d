// torch.tensor(): tensors from JS data (nested arrays, typed arrays, scalars). Always copies.
import { native as N } from './native';
import { Tensor, wrap } from './tensor';
import { DTYPE_ALIASES, DTYPE_NAMES, DTYPES, type DType, type DeviceLike } from './types';
import { TorchTypeError, ValueError } from './errors';

export type NestedArray = number | boolean | bigint | NestedArray[];
export interface TensorOptions {
  dtype?: DType;
  device?: DeviceLike;
  requiresGrad?: boolean;
  /** for typed arrays: the shape to give the flat data (default: 1-D) */
  shape?: number[];
}

const TYPED_DTYPE = new Map<unknown, DType>([
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [Int32Array, 'int32'],
  [BigInt64Array, 'int64'],
  [Int16Array, 'int16'],
  [Int8Array, 'int8'],
  [Uint8Array, 'uint8'],
]);

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  return shape;
}

function flatten(data: NestedArray, shape: number[], dim: number, out: (number | boolean | bigint)[]): void {
  if (dim === shape.length) {
    if (Array.isArray(data)) throw new ValueError(`ragged nested array: expected a scalar at depth ${dim}`);
    if (typeof data !== 'number' && typeof data !== 'boolean' && typeof data !== 'bigint')
      throw new TorchTypeError(`tensor data must be numbers, booleans or bigints, got ${typeof data}`);
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim])
    throw new ValueError(
      `ragged nested array: expected length ${shape[dim]} at depth ${dim}, got ${Array.isArray(data) ? data.length : 'a scalar'}`,
    );
  for (const d of data) flatten(d, shape, dim + 1, out);
}

function typedFor(values: (number | boolean | bigint)[], dtype: DType): ArrayBufferView {
  switch (dtype) {
    case 'float64':
      return Float64Array.from(values, Number);
    case 'int64':
      return BigInt64Array.from(values, (v) => (typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))));
    case 'int32':
      return Int32Array.from(values, Number);
    case 'int16':
      return Int16Array.from(values, Number);
    case 'int8':
      return Int8Array.from(values, Number);
    case 'uint8':
      return Uint8Array.from(values, Number);
    case 'bool':
      return Uint8Array.from(values, (v) => (v ? 1 : 0));
    default:
      return Float32Array.from(values, Number); // float32, and the staging type for 16-bit floats
  }
}

/**
 * torch.tensor(data, {dtype, device, requiresGrad}): like PyTorch, integers infer int64, any
 * non-integer float32, booleans bool; typed arrays keep their element type.
 */
export function tensor(data: NestedArray | ArrayBufferView, options: TensorOptions = {}): Tensor {
  if (options.dtype !== undefined && !DTYPE_NAMES.has(options.dtype))
    throw new TorchTypeError(
      `torch.tensor(): unknown dtype ${JSON.stringify(options.dtype)} (expected one of ${DTYPES.join(', ')})`,
    );
  let dtype = options.dtype ? (DTYPE_ALIASES[options.dtype] ?? options.dtype) : undefined;
  let bytes: ArrayBufferView;
  let shape: number[];
  let sourceDtype: DType;
  if (ArrayBuffer.isView(data)) {
    const td = TYPED_DTYPE.get(data.constructor);
    if (!td) throw new TorchTypeError(`unsupported typed array ${data.constructor.name}`);
    const length = (data as unknown as { length: number }).length;
    shape = options.shape ?? [length];
    bytes = data;
    sourceDtype = td;
  } else {
    shape = inferShape(data);
    const flat: (number | boolean | bigint)[] = [];
    flatten(data, shape, 0, flat);
    const allBool = flat.length > 0 && flat.every((v) => typeof v === 'boolean');
    const allInt = flat.every(
      (v) => typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'boolean',
    );
    sourceDtype = allBool ? 'bool' : allInt && flat.length > 0 ? 'int64' : 'float32';
    if (dtype && ['float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'].includes(dtype)) sourceDtype = dtype;
    bytes = typedFor(flat, sourceDtype);
  }
  let t = wrap(N.fromBytes(bytes, sourceDtype, shape));
  dtype = dtype ?? sourceDtype;
  if (dtype !== sourceDtype) {
    const c = t.to(dtype);
    t.dispose();
    t = c;
  }
  if (options.device && options.device !== 'cpu') {
    const moved = t.to(options.device);
    t.dispose();
    t = moved;
  }
  if (options.requiresGrad) t.requiresGrad_(true);
  return t;
}

/** A tensor over raw little-endian bytes (e.g. from a safetensors file); copies. */
export function fromBytes(bytes: ArrayBufferView, dtype: DType, shape: number[]): Tensor {
  return wrap(N.fromBytes(bytes, dtype, shape));
}

/** The raw bytes of a tensor (contiguous, CPU) — the inverse of fromBytes. */
export function toBytes(t: Tensor): Uint8Array {
  const dt = t.dtype;
  if (dt === 'bfloat16' || dt === 'float16') {
    const raw = N.toTypedArray(t._h) as Uint16Array;
    return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  }
  const typed = N.toTypedArray(t._h);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}
