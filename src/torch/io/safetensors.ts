/**
 * The safetensors format at the byte level: validated reading with ranged reads (`SafetensorsFile`),
 * atomic writing byte-compatible with the reference `safetensors` package (`writeSafetensors`), and
 * Hugging Face sharded checkpoints (`ShardedSafetensors`, `writeSharded`). Every failure is a
 * `SafetensorsError` naming the file, the tensor and the problem.
 *
 * Compatibility with the reference (safetensors 0.8), checked by the tests against the Python package:
 * - Accepted: every whole-byte dtype; `__metadata__` absent, null, or string -> string; unknown extra
 *   fields in tensor entries (ignored); JSON nested up to 127 levels.
 * - Refused like the reference: holes, overlaps and trailing bytes in the data section (tensors
 *   must tile it exactly, zero-size tensors included), non-integer or negative shapes and offsets,
 *   size mismatches, headers above 100 MB or past the end of the file, invalid UTF-8.
 * - Refused where the reference accepts: duplicate JSON keys (it keeps the last one silently;
 *   `code: 'DUPLICATE_KEY'`), sizes or dimensions above 2^53 - 1 (`'LIMIT_EXCEEDED'`), and the
 *   bit-packed F4/F6 dtypes.
 * - Written bytes equal the reference's for the same tensors, except that metadata keys are sorted
 *   (the reference emits them in hash order).
 */
export {
  SAFE_DTYPES,
  SUB_BYTE_DTYPES,
  isSafeDtype,
  itemSize,
  safeDtypeOf,
  torchDtypeOf,
  type SafeDtype,
  type TorchDtypeName,
} from './safetensors-dtype';
export { SafetensorsError, type SafetensorsErrorCode } from './safetensors-error';
export {
  MAX_HEADER_BYTES,
  MAX_HEADER_JSON_DEPTH,
  SafetensorsFile,
  parseSafetensorsHeader,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from './safetensors-file';
export {
  planSafetensors,
  tensorByteLength,
  writeSafetensors,
  type PlannedTensor,
  type SafetensorsLayout,
  type TensorBytes,
  type TensorSpec,
  type TensorToWrite,
  type TensorsToWrite,
} from './safetensors-writer';
export {
  DEFAULT_MAX_SHARD_BYTES,
  INDEX_FILE_NAME,
  SINGLE_FILE_NAME,
  ShardedSafetensors,
  formatIndexJson,
  isWeightsFileName,
  writeSharded,
  type ShardedEntry,
  type WriteShardedOptions,
  type WriteShardedResult,
} from './safetensors-sharded';
