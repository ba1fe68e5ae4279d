/**
 * Element types of the safetensors format, at the byte level.
 *
 * Every whole-byte dtype known to the reference implementation (safetensors 0.8) is accepted, so
 * checkpoints holding e.g. FP8 scales or uint32 buffers open and can be copied even though the tensor
 * library has no type for them (`torchDtypeOf` returns `undefined` there). The sub-byte types
 * (F4, F6_E2M3, F6_E3M2) are rejected: their offsets are bit-packed and need bit-level slicing.
 */
import type { DType } from '../types';

/** Declaration order of the reference `Dtype` enum; the writer sorts tensors by it (descending). */
const DTYPES_IN_REFERENCE_ORDER = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'F8_E8M0',
  'F8_E4M3FNUZ',
  'F8_E5M2FNUZ',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'C64',
  'F64',
  'I64',
  'U64',
] as const;

export type SafeDtype = (typeof DTYPES_IN_REFERENCE_ORDER)[number];

/** The tensor library's dtype names. */
export type TorchDtypeName = DType;

export const SAFE_DTYPES: readonly SafeDtype[] = DTYPES_IN_REFERENCE_ORDER;

/** Dtypes of the format that this implementation deliberately does not handle (bit-packed). */
export const SUB_BYTE_DTYPES: readonly string[] = ['F4', 'F6_E2M3', 'F6_E3M2'];

const ITEM_SIZE: Readonly<Record<SafeDtype, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  F8_E4M3FNUZ: 1,
  F8_E5M2FNUZ: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  C64: 8,
  F64: 8,
  I64: 8,
  U64: 8,
};

const SAFE_TO_TORCH: Readonly<Partial<Record<SafeDtype, TorchDtypeName>>> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

const TORCH_TO_SAFE: Readonly<Record<TorchDtypeName, SafeDtype>> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

const DTYPE_RANK: ReadonlyMap<string, number> = new Map(DTYPES_IN_REFERENCE_ORDER.map((d, i) => [d, i]));

export function isSafeDtype(value: unknown): value is SafeDtype {
  return typeof value === 'string' && DTYPE_RANK.has(value);
}

/** Bytes per element. */
export function itemSize(dtype: SafeDtype): number {
  const size = ITEM_SIZE[dtype];
  if (size === undefined) throw new TypeError(`unknown safetensors dtype ${JSON.stringify(dtype)}`);
  return size;
}

/** The tensor library's dtype for a safetensors dtype, or `undefined` when it has none (FP8, unsigned >8 bit, C64). */
export function torchDtypeOf(dtype: SafeDtype): TorchDtypeName | undefined {
  return SAFE_TO_TORCH[dtype];
}

/** The safetensors dtype that stores a tensor library dtype. */
export function safeDtypeOf(dtype: TorchDtypeName): SafeDtype {
  const safe = TORCH_TO_SAFE[dtype];
  if (safe === undefined) throw new TypeError(`no safetensors dtype for torch dtype ${JSON.stringify(dtype)}`);
  return safe;
}

/**
 * Orders tensors the way the reference writer lays them out: by dtype (reference enum order,
 * descending, so wider types come first and stay aligned), then by name compared as UTF-8 bytes.
 */
export function compareForLayout(a: { name: string; dtype: SafeDtype }, b: { name: string; dtype: SafeDtype }): number {
  const byDtype = (DTYPE_RANK.get(b.dtype) as number) - (DTYPE_RANK.get(a.dtype) as number);
  if (byDtype !== 0) return byDtype;
  return compareUtf8(a.name, b.name);
}

/** Compares strings as their UTF-8 encodings (Rust's `String` order), which is code point order. */
export function compareUtf8(a: string, b: string): number {
  // UTF-16 code unit order differs from code point order only when a surrogate meets a unit >= U+E000.
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const ca = a.codePointAt(i) as number;
    const cb = b.codePointAt(i) as number;
    if (ca !== cb) return ca < cb ? -1 : 1;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}
