// The Tensor class: a JS handle to a libtorch tensor. Operators (generated from ATen's schemas) are
// installed as methods by src/torch/index.ts; what is written here by hand is metadata, readback,
// autograd access, lifetime and printing.
import { native as N } from './native';
import { disposeTensor, setTensorClass, track } from './memory';
import type { GeneratedTensorMethods } from './generated/ops';
import { DTYPE_ALIASES, type DType, type DeviceLike } from './types';

// The interface merges with the class on purpose: the generated operators and the printing are installed on the prototype at load.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface Tensor extends GeneratedTensorMethods {
  /** PyTorch's printing (installed by the torch entry point, see format.ts). */
  toString(): string;
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Tensor {
  /** @internal handle into the native tensor table; -1 once disposed */
  _h: number;
  /** @internal lifetime flags (see memory.ts) */
  _flags: number;

  /** @internal use torch.tensor(), the factories or operators to make tensors */
  constructor(handle: number) {
    this._h = handle;
    this._flags = 0;
  }

  get shape(): number[] {
    return N.shape(this._h);
  }
  /** size() is the shape; size(d) one dimension (negative d counts from the end). */
  size(dim?: number): any {
    const s = N.shape(this._h);
    if (dim === undefined) return s;
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`dimension ${dim} out of range for a tensor of ${s.length} dimensions`);
    return s[d];
  }
  stride(dim?: number): any {
    const s = N.strides(this._h);
    return dim === undefined ? s : s[dim < 0 ? dim + s.length : dim];
  }
  get dtype(): DType {
    return N.dtype(this._h) as DType;
  }
  get device(): string {
    return N.device(this._h);
  }
  get isCuda(): boolean {
    return this.device.startsWith('cuda');
  }
  dim(): number {
    return N.dim(this._h);
  }
  get ndim(): number {
    return N.dim(this._h);
  }
  numel(): number {
    return N.numel(this._h);
  }
  isContiguous(): boolean {
    return N.isContiguous(this._h);
  }
  /** The value of a one-element tensor. */
  item(): number {
    return N.item(this._h) as number;
  }

  // ---- conversion ----
  /** to('float64'), to('cuda'), to('cuda:1', 'bfloat16'), to(other) — as Tensor.to in PyTorch. */
  to(
    target: DType | DeviceLike | Tensor,
    dtypeOrOpts?: DType | { dtype?: DType; nonBlocking?: boolean; copy?: boolean },
    opts?: { nonBlocking?: boolean; copy?: boolean },
  ): Tensor {
    const o = typeof dtypeOrOpts === 'object' ? dtypeOrOpts : (opts ?? {});
    const nonBlocking = o.nonBlocking ?? false;
    const copy = o.copy ?? false;
    if (target instanceof Tensor) return wrap(N.f_to_other(this._h, target._h, nonBlocking, copy, null));
    const dtype = (typeof dtypeOrOpts === 'string' ? dtypeOrOpts : dtypeOrOpts?.dtype) ?? null;
    if (isDTypeName(target)) return wrap(N.f_to_dtype(this._h, target, nonBlocking, copy, null));
    // aten::to.device needs a dtype: keep this tensor's unless one was given.
    return wrap(N.f_to_device(this._h, target, dtype ?? this.dtype, nonBlocking, copy, null));
  }
  cpu(): Tensor {
    return this.to('cpu');
  }
  cuda(device = 0): Tensor {
    return this.to(`cuda:${device}`);
  }
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  half(): Tensor {
    return this.to('float16');
  }
  bfloat16(): Tensor {
    return this.to('bfloat16');
  }
  long(): Tensor {
    return this.to('int64');
  }
  int(): Tensor {
    return this.to('int32');
  }
  bool(): Tensor {
    return this.to('bool');
  }

  /**
   * A copy of the elements, row-major, in the natural typed array: Float32Array, Float64Array,
   * Int32Array, BigInt64Array (int64), Int16Array, Int8Array, Uint8Array (uint8, bool); 16-bit floats
   * come back as float32 values.
   */
  toTypedArray(): Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array {
    const d = this.dtype;
    if (d === 'bfloat16' || d === 'float16') {
      const f = this.to('float32');
      try {
        return N.toTypedArray(f._h) as Float32Array;
      } finally {
        f.dispose();
      }
    }
    return N.toTypedArray(this._h) as any;
  }

  /** The elements as nested JS arrays (int64 as numbers, bool as booleans). */
  tolist(): any {
    const flat = this.toTypedArray();
    const isBool = this.dtype === 'bool';
    const get = (i: number): number | boolean => {
      const v = flat[i];
      return typeof v === 'bigint' ? Number(v) : isBool ? v !== 0 : v;
    };
    const shape = this.shape;
    if (shape.length === 0) return get(0);
    let offset = 0;
    const build = (dim: number): any[] => {
      const out = new Array(shape[dim]);
      for (let i = 0; i < shape[dim]; i++) out[i] = dim === shape.length - 1 ? get(offset++) : build(dim + 1);
      return out;
    };
    return build(0);
  }

  // ---- autograd ----
  get requiresGrad(): boolean {
    return N.requiresGrad(this._h);
  }
  set requiresGrad(on: boolean) {
    this.requiresGrad_(on);
  }
  requiresGrad_(on = true): this {
    N.f_requires_grad_(this._h, on);
    return this;
  }
  get isLeaf(): boolean {
    return N.isLeaf(this._h);
  }
  /** Name of the autograd node that made this tensor (e.g. 'MulBackward0'), or null for leaves. */
  get gradFn(): string | null {
    return N.gradFnName(this._h);
  }
  /**
   * The accumulated gradient (a new handle to it each read; dispose or scope it like any tensor —
   * disposing the handle never frees the gradient itself). Assign null to clear it.
   */
  get grad(): Tensor | null {
    const h = N.getGrad(this._h);
    return h === null ? null : wrap(h);
  }
  set grad(g: Tensor | null) {
    N.setGrad(this._h, g === null ? null : g._h);
  }
  backward(gradient?: Tensor | null, opts: { retainGraph?: boolean; createGraph?: boolean; inputs?: Tensor[] } = {}): void {
    N.backward(
      [this._h],
      gradient ? [gradient._h] : null,
      opts.retainGraph ?? null,
      opts.createGraph ?? null,
      opts.inputs ? opts.inputs.map((t) => t._h) : null,
    );
  }

  // ---- lifetime ----
  /** Releases this tensor's memory now (other tensors sharing its storage keep theirs). Idempotent. */
  dispose(): void {
    disposeTensor(this);
  }
  [Symbol.dispose](): void {
    disposeTensor(this);
  }
  get isDisposed(): boolean {
    return this._h < 0;
  }
}

setTensorClass(Tensor);

function isDTypeName(s: unknown): s is DType {
  return (
    typeof s === 'string' &&
    (s in DTYPE_ALIASES ||
      ['float32', 'float64', 'bfloat16', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'].includes(s))
  );
}

/** @internal wraps a native handle in a Tensor tracked by the current scope (null stays null). */
export function wrap(h: number): Tensor {
  if (h === null) return null as unknown as Tensor;
  const t = new Tensor(h);
  track(t);
  return t;
}
