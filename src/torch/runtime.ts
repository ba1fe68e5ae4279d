// Process-wide controls: seeding, threads, build information and CUDA.
import { native as N } from './native';
import { wrap, type Tensor } from './tensor';

/** Seeds every generator (CPU and CUDA), as torch.manual_seed. */
export function manualSeed(seed: number): void {
  N.manualSeed(seed);
}

/**
 * The state of the CPU generator, or of a CUDA device's (`'cuda:N'`), as a uint8 tensor: as
 * torch.get_rng_state() and torch.cuda.get_rng_state(device).
 */
export function getRngState(device?: string): Tensor {
  return wrap(N.rngGetState(device ?? null));
}

/** Restores a state from getRngState on the same generator, as torch.set_rng_state. */
export function setRngState(state: Tensor, device?: string): void {
  if (state.dtype !== 'uint8' || state.dim() !== 1)
    throw new TypeError(
      `setRngState: the state must be a 1-D uint8 tensor (from getRngState), got ${state.dtype} [${state.shape}]`,
    );
  N.rngSetState(state._h, device ?? null);
}
export function setNumThreads(n: number): void {
  N.setNumThreads(n);
}
export function getNumThreads(): number {
  return N.getNumThreads();
}

export interface VersionInfo {
  /** libtorch version, e.g. "2.13.0" */
  libtorch: string;
  /** CUDA runtime version the libtorch was built with, or null for a CPU build */
  cuda: string | null;
  mkl: boolean;
  mkldnn: boolean;
  openmp: boolean;
  lapack: boolean;
  /** ATen's parallel backend description (threads, OpenMP/MKL) */
  parallel: string;
  /** the full build configuration (BLAS, compiler flags, ...) as torch.__config__.show() */
  config: string;
  /** whether this addon was compiled with its CUDA kernels */
  addonCuda: boolean;
}
export function version(): VersionInfo {
  return N.version();
}

export const cuda = {
  /** True when CUDA tensors can be made here: a CUDA build and at least one visible GPU. */
  isAvailable(): boolean {
    return N.cudaIsAvailable();
  },
  deviceCount(): number {
    return N.cudaDeviceCount();
  },
  /** Why isAvailable() is false (null when it is true). */
  unavailableReason(): string | null {
    return N.cudaIsAvailable() ? null : (N.cudaUnavailableReason() ?? 'no CUDA device is visible');
  },
  synchronize(device?: number): void {
    N.cudaSynchronize(device);
  },
  /** The caching allocator's counters (allocated/reserved bytes, current and peak). */
  memoryStats(device = 0): Record<string, number> {
    return N.cudaMemoryStats(device);
  },
  emptyCache(): void {
    N.cudaEmptyCache();
  },
};

/**
 * The CPU side's caching allocator (native/cpu_allocator.cc): blocks of 1 MiB and more are kept when
 * freed (up to LT_CPU_CACHE_MB, default 4096; 0 turns caching off) and reused for requests of the same
 * size class, so that a loop allocating the same large buffers every step does not map and fault
 * them in anew each time.
 */
export const cpu = {
  /** Cached bytes, reuses (hits) and fresh allocations (misses) of large blocks, and the cap. */
  cacheStats(): { cachedBytes: number; hits: number; misses: number; limitBytes: number } {
    const [cachedBytes, hits, misses, limitBytes] = N.cpuCacheStats();
    return { cachedBytes, hits, misses, limitBytes };
  },
  /** Returns every cached block to the system; the number of bytes freed. */
  emptyCache(): number {
    return N.emptyCpuCache();
  },
};
