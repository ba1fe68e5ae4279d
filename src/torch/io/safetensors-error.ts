import { openSync } from 'node:fs';

/** What went wrong, for callers that branch on it; the message says it in words. */
export type SafetensorsErrorCode =
  /** The OS refused: missing file, permission, disk full, short read of a file that shrank after opening. */
  | 'IO'
  /** Shorter than the 8-byte header-length prefix. */
  | 'FILE_TOO_SMALL'
  /** Header length above the sanity bound (the reference's 100 MB). */
  | 'HEADER_TOO_LARGE'
  /** Header length points past the end of the file. */
  | 'HEADER_OUT_OF_BOUNDS'
  | 'HEADER_NOT_UTF8'
  /** JSON syntax error, including nesting deeper than the reference parser allows. */
  | 'HEADER_NOT_JSON'
  /** The same key twice in one JSON object (the reference silently keeps the last one; we refuse). */
  | 'DUPLICATE_KEY'
  | 'HEADER_NOT_OBJECT'
  | 'BAD_METADATA'
  /** A tensor entry with a bad dtype, shape or data_offsets, or a size that does not match its shape. */
  | 'BAD_ENTRY'
  /** Tensors overlap, leave a gap, or do not cover the data section exactly. */
  | 'BAD_LAYOUT'
  /** A value the format allows but this implementation cannot represent exactly (sizes above 2^53 - 1). */
  | 'LIMIT_EXCEEDED'
  | 'UNKNOWN_TENSOR'
  | 'CLOSED'
  /** Invalid input to the writer, or a target buffer of the wrong size. */
  | 'BAD_ARGUMENT'
  /** A tensor's data callback threw while the writer was asking it for bytes. */
  | 'SOURCE_FAILED'
  /** A sharded checkpoint's index file is malformed or disagrees with its shards. */
  | 'BAD_INDEX'
  | 'MISSING_SHARD';

/**
 * The one error type of the safetensors module: every failure to read, validate or write a file is
 * reported as this, with the file, the tensor (when one is concerned) and the problem.
 */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
  readonly file: string;
  readonly tensor: string | undefined;
  readonly reason: string;
  readonly code: SafetensorsErrorCode;

  constructor(
    code: SafetensorsErrorCode,
    file: string,
    tensor: string | undefined,
    reason: string,
    options?: { cause?: unknown },
  ) {
    const where = tensor === undefined ? '' : ` tensor ${JSON.stringify(tensor)}:`;
    super(`${file}:${where} ${reason}`, options);
    this.code = code;
    this.file = file;
    this.tensor = tensor;
    this.reason = reason;
  }
}

/** The message of an unknown thrown value, for wrapping it into a reason. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Opens `path` for reading; a failure is a SafetensorsError ('IO') naming the file. */
export function openForReading(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (error) {
    throw new SafetensorsError('IO', path, undefined, `cannot open: ${describeError(error)}`, { cause: error });
  }
}
