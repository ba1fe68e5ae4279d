// Shared type names of the tensor library, as in PyTorch.
export type DType = 'float32' | 'float64' | 'bfloat16' | 'float16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
export type DeviceLike = 'cpu' | 'cuda' | `cuda:${number}` | string;
export type MemoryFormat = 'contiguous_format' | 'preserve_format' | 'channels_last' | 'channels_last_3d';
export type Scalar = number | boolean;

export const DTYPES: readonly DType[] = [
  'float32',
  'float64',
  'bfloat16',
  'float16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
];
// PyTorch's aliases map onto the canonical names.
export const DTYPE_ALIASES: Record<string, DType> = {
  float: 'float32',
  double: 'float64',
  half: 'float16',
  long: 'int64',
  int: 'int32',
  short: 'int16',
};
export const DTYPE_NAMES = new Set<string>([...DTYPES, ...Object.keys(DTYPE_ALIASES)]);

export const isFloatingDType = (d: DType): boolean => d === 'float32' || d === 'float64' || d === 'bfloat16' || d === 'float16';
export const itemSize = (d: DType): number =>
  ({ float32: 4, float64: 8, bfloat16: 2, float16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 })[d];
