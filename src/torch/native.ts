// Loads the compiled addon (build/Release/latent_tokens.node) and declares its raw interface.
// Everything here deals in tensor handles (small integers); src/torch/tensor.ts wraps them.
import * as fs from 'fs';
import * as path from 'path';
import type { VersionInfo } from './runtime';

export interface NativeAddon {
  setErrorFactory(fn: (kind: string, message: string) => Error): void;
  setMaxTypedArrayLength?(n: number): void;
  // tensor_api.cc
  fromBytes(data: ArrayBufferView, dtype: string, shape: number[]): number;
  toTypedArray(h: number): ArrayBufferView;
  copyFromBytes(h: number, data: ArrayBufferView): void;
  shape(h: number): number[];
  strides(h: number): number[];
  dtype(h: number): string;
  device(h: number): string;
  numel(h: number): number;
  dim(h: number): number;
  isContiguous(h: number): boolean;
  item(h: number): number | boolean;
  alias(h: number): number;
  release(h: number): boolean;
  /** Releases hs[0..count) (a Float64Array: read without per-element N-API calls), or every element of an array. */
  releaseMany(hs: number[] | Float64Array, count?: number): void;
  accountExternal(h: number): void;
  /** The pack buffer of the packed entry points (generated/ops_fast.cc). */
  packBuffer(): ArrayBuffer;
  memory(): { liveTensors: number; devices: Record<string, { tensors: number; bytes: number }> };
  liveCount(): number;
  setDebug(on: boolean): void;
  setCreationSite(h: number, site: string): void;
  liveTensors(): { handle: number; description: string; site: string }[];
  // dispatch.cc
  resolveOp(name: string, overload: string, discardResult?: boolean): number;
  schemaOf(id: number): string;
  callOp(id: number, ...args: unknown[]): any;
  // autograd.cc
  backward(
    outputs: number[],
    grads: (number | null)[] | null,
    retainGraph: boolean | null,
    createGraph: boolean | null,
    inputs: number[] | null,
  ): void;
  autogradGrad(
    outputs: number[],
    inputs: number[],
    gradOutputs: (number | null)[] | null,
    retainGraph: boolean | null,
    createGraph: boolean,
    allowUnused: boolean,
  ): (number | null)[];
  getGrad(h: number): number | null;
  setGrad(h: number, g: number | null): void;
  requiresGrad(h: number): boolean;
  isLeaf(h: number): boolean;
  gradFnName(h: number): string | null;
  isGradEnabled(): boolean;
  setGradEnabled(on: boolean): boolean;
  enterInferenceMode(enabled?: boolean): number;
  exitInferenceMode(): void;
  isInferenceMode(): boolean;
  // runtime.cc
  manualSeed(seed: number): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  version(): VersionInfo;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  cudaUnavailableReason(): string | null;
  cudaSynchronize(device?: number): void;
  cudaMemoryStats(device?: number): Record<string, number>;
  cudaEmptyCache(): void;
  // profiler.cc: per-operator totals of RecordFunction events
  profilerStart(): void;
  profilerStop(): NativeProfilerRow[];
  // generated fast entries (native/generated/ops_fast.cc) and later additions
  [fast: string]: any;
  // optim.cc: optimizers live in tagged externals (freed by their finalizer or optimDispose)
  optimCreate(kind: 'adamw' | 'sgd', groups: ({ params: number[] } & Record<string, unknown>)[]): NativeOptimizer;
  optimStep(opt: NativeOptimizer): void;
  optimZeroGrad(opt: NativeOptimizer, setToNone: boolean): void;
  optimGroups(opt: NativeOptimizer): Record<string, unknown>[];
  optimSetGroup(opt: NativeOptimizer, group: number, options: Record<string, unknown>): void;
  optimGetState(opt: NativeOptimizer): (Record<string, number> | null)[];
  optimSetState(opt: NativeOptimizer, entries: (Record<string, number> | null)[]): void;
  optimDispose(opt: NativeOptimizer): void;
  clipGradNorm(params: number[], maxNorm: number, normType: number, errorIfNonfinite: boolean): number;
  rngGetState(device?: string | null): number;
  rngSetState(state: number, device?: string | null): void;
  // autocast.cc
  autocastState(deviceType: string): NativeAutocastState;
  autocastEnter(deviceType: string, dtype: string, enabled: boolean, cacheEnabled: boolean): NativeAutocastState;
  autocastExit(deviceType: string, previous: NativeAutocastState): void;
  // kernels/latent_step.cc: the fused latent step, [embed, stopLogit] handles
  latentStep(
    h: number,
    normWeight: number,
    gain: number,
    bias: number,
    scale: number,
    stopWeight: number,
    stopBias: number,
    eps: number,
  ): [number, number];
  // io.cc: a new CPU tensor filled by pread(2) from a file path or open descriptor (label names the file in errors)
  readTensor(
    source: string | number,
    byteOffset: number,
    byteLength: number,
    dtype: string,
    shape: readonly number[],
    label?: string,
    threads?: number,
  ): number;
  evictFromPageCache(source: string | number): void;
  mapFile(fd: number, label: string, expectedSize: number): number;
  unmapFile(mapping: number): boolean;
  mappedResidentFraction(mapping: number, byteOffset: number, byteLength: number): number;
  mappedTensor(mapping: number, byteOffset: number, byteLength: number, dtype: string, shape: readonly number[]): number | null;
  mappedFileFaults(): number;
  emptyCpuCache(): number;
  cpuCacheStats(): [number, number, number, number];
}

/** An optimizer owned by the addon (opaque to JS). */
export type NativeOptimizer = { readonly __brand: 'NativeOptimizer' };
/** One operator's totals from native/profiler.cc (nanoseconds). */
export interface NativeProfilerRow {
  name: string;
  count: number;
  totalNs: number;
  selfNs: number;
  backward: boolean;
}
export interface NativeAutocastState {
  enabled: boolean;
  dtype: string;
  cacheEnabled: boolean;
}

function findAddon(): string {
  const root = path.resolve(__dirname, '..', '..');
  // Works from src/ (ts-jest, ts-node) and from dist/.
  const candidates = [
    process.env.LATENT_TOKENS_ADDON,
    path.join(root, 'build', 'Release', 'latent_tokens.node'),
    path.join(root, '..', 'build', 'Release', 'latent_tokens.node'),
  ].filter((p): p is string => !!p);
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new Error(
    `latent-tokens: the native addon is not built (looked in ${candidates.join(', ')}).\n` +
      `Run \`npm install\` (or \`npm run build:native\`) in the package directory; see README "Installing".`,
  );
}

export const addonPath = findAddon();
// Copied into a plain object: the addon's exports object, with its hundreds of functions added one by
// one, is a dictionary-mode object in V8, and optimized code then looks up `native.f_add_Tensor` in a
// hash table on every call; the copy made by a spread has fast properties.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const native: NativeAddon = { ...require(addonPath) };
