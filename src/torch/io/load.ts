/**
 * Loading safetensors tensors into tensor memory, by the addon, in one of two ways:
 *  - mapped (CPU tensors whose bytes are in the page cache): the file is memory-mapped copy-on-write
 *    once, and each tensor is a view of its bytes there, faulted in but never copied (native/mapped_file.cc);
 *  - read: pread(2) straight into the storage of a freshly allocated tensor (a cold file, another
 *    device, or `map: false`); the bytes never pass through JavaScript memory.
 * The tensor is then converted to the requested dtype and moved to the requested device.
 *
 *     using file = SafetensorsFile.open('model.safetensors');
 *     const w = loadTensor(file, 'lm_head.weight', { dtype: 'bfloat16', device: 'cuda' });
 *     const all = loadTensors(ShardedSafetensors.open(dir));   // Map name -> Tensor
 */
import { TorchError } from '../errors';
import { native as N } from '../native';
import { wrap, type Tensor } from '../tensor';
import { DTYPE_ALIASES, DTYPE_NAMES, DTYPES, itemSize, type DType, type DeviceLike } from '../types';
import { safeDtypeOf, torchDtypeOf } from './safetensors-dtype';
import { SafetensorsError } from './safetensors-error';
import { SafetensorsFile, type SafetensorsEntry } from './safetensors-file';
import { ShardedSafetensors } from './safetensors-sharded';

/** A single safetensors file or a (possibly sharded) checkpoint. */
export type TensorSource = SafetensorsFile | ShardedSafetensors;

export interface LoadTensorOptions {
  /** Convert to this dtype (default: the stored one). */
  dtype?: DType;
  /** Place the tensor here (default 'cpu'). */
  device?: DeviceLike;
  /**
   * Threads reading one tensor of 32 MiB or more in parallel chunks (default 1). More help on a
   * machine with idle cores and a warm page cache; on a busy machine one is fastest.
   */
  readerThreads?: number;
  /**
   * Whether a tensor is a view of the memory-mapped file instead of a copy. 'auto' (the default)
   * maps when the tensor lands on the CPU and its bytes are in the page cache (a warm file), and reads
   * otherwise; true maps whatever the cache holds; false always reads. A mapped tensor is
   * copy-on-write (writing to it never changes the file), keeps the mapping alive after the file is
   * closed, and survives the file shrinking underneath (the lost bytes read as zeros).
   */
  map?: boolean | 'auto';
}

export interface LoadTensorsOptions extends Omit<LoadTensorOptions, 'dtype'> {
  /**
   * Convert every tensor to this dtype, or choose per tensor (return undefined to keep the stored
   * dtype), e.g. `(e) => (e.dtype === 'F32' ? 'bfloat16' : undefined)` to cast floats only.
   */
  dtype?: DType | ((entry: SafetensorsEntry) => DType | undefined);
}

/**
 * Reads tensor `name` of `source` into a new tensor (stored dtype and CPU unless `options` ask
 * otherwise), owned by the current `torch.scope`. Throws `SafetensorsError` naming the file and the
 * tensor when it does not exist, is stored in a dtype the tensor library lacks (FP8, U16/U32/U64,
 * C64), or cannot be read (I/O error, file truncated since it was opened, file closed). A failed
 * conversion or move (e.g. `CudaUnavailableError`) is the tensor library's error; nothing leaks.
 */
export function loadTensor(source: TensorSource, name: string, options: LoadTensorOptions = {}): Tensor {
  const file = source instanceof ShardedSafetensors ? source.shardFor(name) : source;
  const entry = file.entry(name);
  const stored = storedDtype(file, entry);
  const dtype = options.dtype === undefined ? stored : canonicalDtype(options.dtype, file, name);
  const threads = options.readerThreads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new SafetensorsError('BAD_ARGUMENT', file.path, name, `readerThreads must be a positive integer, got ${threads}`);
  }
  const map = options.map ?? 'auto';
  if (map !== true && map !== false && map !== 'auto') {
    throw new SafetensorsError('BAD_ARGUMENT', file.path, name, `map must be true, false or 'auto', got ${String(map)}`);
  }
  const onCpu = options.device === undefined || options.device === 'cpu';
  let handle: number | null = null;
  try {
    // (An addon built before mapping existed lacks mapFile: it reads.)
    if ((map === true || (map === 'auto' && onCpu)) && typeof N.mapFile === 'function') {
      const mapping = mappingOf(file);
      if (map === true || N.mappedResidentFraction(mapping, entry.byteOffset, entry.byteLength) >= WARM_FRACTION) {
        handle = N.mappedTensor(mapping, entry.byteOffset, entry.byteLength, stored, entry.shape);
      }
    }
    // Cold, for another device, or misaligned for its dtype (mappedTensor answers null): a copy.
    handle ??= N.readTensor(file.fd, entry.byteOffset, entry.byteLength, stored, entry.shape, file.path, threads);
  } catch (error) {
    if (!(error instanceof TorchError)) throw error;
    throw new SafetensorsError('IO', file.path, name, nativeReason(error.message, file.path), { cause: error });
  }
  return place(wrap(handle), dtype, options.device);
}

/** Share of a tensor's pages that must be cached for 'auto' to map it: a cold read is pread's. */
const WARM_FRACTION = 0.9;
const mappings = new WeakMap<SafetensorsFile, number>();

/** The file's mapping, made on first use and released (for the file's part) when the file closes. */
function mappingOf(file: SafetensorsFile): number {
  let id = mappings.get(file);
  if (id === undefined) {
    const mapped = N.mapFile(file.fd, file.path, file.fileSize);
    file.onClose(() => {
      mappings.delete(file);
      N.unmapFile(mapped);
    });
    mappings.set(file, mapped);
    id = mapped;
  }
  return id;
}

/**
 * Reads several tensors (default: all of them, in file or index order) into a Map from name to
 * tensor, with the conversions of `loadTensor`. On failure, the tensors already read are freed.
 */
export function loadTensors(
  source: TensorSource,
  names?: Iterable<string>,
  options: LoadTensorsOptions = {},
): Map<string, Tensor> {
  const wanted = names === undefined ? tensorNames(source) : [...names];
  const loaded = new Map<string, Tensor>();
  const { dtype, ...rest } = options;
  try {
    for (const name of wanted) {
      if (loaded.has(name)) continue;
      const target = typeof dtype === 'function' ? dtype(source.entry(name)) : dtype;
      loaded.set(name, loadTensor(source, name, { ...rest, dtype: target }));
    }
  } catch (error) {
    for (const t of loaded.values()) t.dispose();
    throw error;
  }
  return loaded;
}

function tensorNames(source: TensorSource): string[] {
  return source instanceof ShardedSafetensors ? source.names : [...source.entries.keys()];
}

function storedDtype(file: SafetensorsFile, entry: SafetensorsEntry): DType {
  const dtype = torchDtypeOf(entry.dtype);
  if (dtype === undefined) {
    const loadable = DTYPES.map(safeDtypeOf).join(', ');
    throw new SafetensorsError(
      'LIMIT_EXCEEDED',
      file.path,
      entry.name,
      `stored as ${entry.dtype}, which the tensor library has no dtype for (it loads ${loadable})`,
    );
  }
  return dtype;
}

function canonicalDtype(dtype: string, file: SafetensorsFile, name: string): DType {
  if (!DTYPE_NAMES.has(dtype)) {
    const reason = `unknown dtype ${JSON.stringify(dtype)} requested (expected one of ${DTYPES.join(', ')})`;
    throw new SafetensorsError('BAD_ARGUMENT', file.path, name, reason);
  }
  return DTYPE_ALIASES[dtype] ?? (dtype as DType);
}

/**
 * Converts a freshly read CPU tensor to `dtype` on `device`, freeing the intermediate. For another
 * device, the smaller of the two representations crosses: narrowing happens before the move,
 * widening after it.
 */
function place(t: Tensor, dtype: DType, device: DeviceLike | undefined): Tensor {
  const step = (next: (x: Tensor) => Tensor): void => {
    const converted = next(t);
    t.dispose();
    t = converted;
  };
  try {
    const convert = t.dtype !== dtype;
    const move = device !== undefined && device !== 'cpu';
    const narrowing = itemSize(dtype) < itemSize(t.dtype);
    if (convert && (narrowing || !move)) step((x) => x.to(dtype));
    if (move) step((x) => x.to(device));
    if (t.dtype !== dtype) step((x) => x.to(dtype));
    return t;
  } catch (error) {
    t.dispose();
    throw error;
  }
}

/** The addon's message without the file label it starts with and the `in readTensor` trailer. */
function nativeReason(message: string, path: string): string {
  const [first] = message.split('\n  in ');
  return first.startsWith(`${path}: `) ? first.slice(path.length + 2) : first;
}
