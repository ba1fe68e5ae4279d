// A seeded fuzzer for the generated operator layer: calls operators with arguments that are either
// random junk or typed from the operator's own schema but with odd values (empty and 0-d tensors,
// every dtype, negative and NaN ints, disposed tensors, unknown strings). Used by
// test/torch/fuzz.test.ts; also runnable under plain node (after tsc) to hunt crashes one call at a time.
import * as torch from '../../src/torch';
import * as generated from '../../src/torch/generated/ops';
import { splitArgs } from '../../src/torch/op-runtime';
import { SeededRandom } from './random';

type OpFn = (...args: unknown[]) => unknown;

const SHAPES = [[], [0], [1], [3], [2, 3], [2, 1, 3], [4, 4], [1, 2, 2, 2], [3, 0]];
const STRINGS = [
  'float32',
  'int64',
  'cpu',
  'cuda',
  'meta',
  'mean',
  'none',
  'sum',
  'tanh',
  'floor',
  'trunc',
  'reflect',
  'xyz',
  '',
  'float99',
];
// Not fuzzed: from_file maps a file named by its argument (effects outside the process).
export const NOT_FUZZED = new Set(['installTensorMethods', 'fromFile']);

const f32 = (shape: number[]) => torch.randn(shape);
const ints = (values: torch.NestedArray, dtype: torch.DType = 'int64') => torch.tensor(values, { dtype });
const quantizedCellArgs = (hx: torch.Tensor | torch.Tensor[]) => [
  f32([2, 3]),
  hx,
  f32([4, 3]),
  f32([4, 4]),
  f32([4]),
  f32([4]),
  f32([4, 3]),
  f32([4, 4]),
  f32([4]),
  f32([4]),
  1,
  1,
  0,
  0,
];
const lstmLayer = () => [f32([3, 2, 5]), f32([28, 5]), f32([28, 7]), f32([28]), f32([28]), f32([2, 7]), f32([2, 7])];

/**
 * The kernels that trust their inputs: libtorch itself (and PyTorch's Python API, through
 * torch.ops.aten) reads or writes out of bounds, loops forever or computes garbage when they get
 * malformed ones. native/guards.cc checks their preconditions; each entry here is a malformed call
 * that must throw a TorchError (they are fuzzed with random arguments too).
 */
export const KNOWN_OFFENDERS: Record<string, () => unknown[]> = {
  // read fbgemm-packed weights out of whatever tensor they get: refused outright
  quantizedLstmCell: () => quantizedCellArgs([f32([2, 4]), f32([2, 4])]),
  quantizedGruCell: () => quantizedCellArgs(f32([2, 4])),
  quantizedRnnReluCell: () => quantizedCellArgs(f32([2, 4])),
  quantizedRnnTanhCell: () => quantizedCellArgs(f32([2, 4])),
  // weight and statistics indexed by channel (4 here) without checking their sizes
  nativeBatchNorm: () => [f32([2, 4, 3]), f32([2]), f32([2]), f32([2]), f32([2]).abs(), false, 0.1, 1e-5],
  nativeBatchNormBackward: () => [
    f32([2, 4, 3]),
    f32([2, 4, 3]),
    f32([1]),
    f32([1]),
    f32([1]).abs(),
    null,
    null,
    false,
    1e-5,
    [true, true, true],
  ],
  batchNormBackward: () => [
    f32([2, 4, 3]),
    f32([2, 4, 3]),
    f32([1]),
    null,
    null,
    f32([1]),
    f32([1]).abs(),
    true,
    1e-5,
    [true, true, true],
    torch.empty([0], { dtype: 'uint8' }),
  ],
  // scatter into rows named by an index tensor the forward pass checked
  embeddingBackward: () => [f32([3, 4]), ints([0, 1000000, -7]), 10, -1, true, false],
  embeddingDenseBackward: () => [f32([3, 4]), ints([0, 1000000, -7]), 10, -1, true],
  embeddingSparseBackward: () => [f32([3, 4]), ints([0, 1000000, 2]), 10, -1, false],
  adaptiveMaxPool2dBackward: () => [
    f32([1, 2, 2]),
    f32([1, 4, 4]),
    ints([
      [
        [0, 1 << 30],
        [3, 4],
      ],
    ]),
  ],
  adaptiveMaxPool3dBackward: () => [
    f32([1, 1, 2, 2]),
    f32([1, 2, 4, 4]),
    ints([
      [
        [
          [0, -9],
          [3, 4],
        ],
      ],
    ]),
  ],
  maxPool2dWithIndicesBackward: () => [
    f32([1, 2, 2]),
    f32([1, 4, 4]),
    [2, 2],
    [2, 2],
    [0, 0],
    [1, 1],
    false,
    ints([
      [
        [0, 1 << 30],
        [3, 4],
      ],
    ]),
  ],
  maxPool3dWithIndicesBackward: () => [
    f32([1, 1, 2, 2]),
    f32([1, 2, 4, 4]),
    [1, 2, 2],
    [1, 2, 2],
    [0, 0, 0],
    [1, 1, 1],
    false,
    ints([
      [
        [
          [0, 99],
          [3, 4],
        ],
      ],
    ]),
  ],
  // reads pivots of the wrong shape past their end
  luUnpack: () => [f32([5, 5]), ints([1], 'int32')],
  // loops forever for a negative bin count; reads numel elements of input whatever its size
  chooseQparamsOptimized: () => [f32([4]), 1 << 20, -5, 0.5, 8],
  // assume oneDNN-prepared shapes and workspaces
  mkldnnRnnLayer: () => [
    f32([3, 2, 5]),
    f32([28, 2]),
    f32([28, 7]),
    f32([28]),
    f32([28]),
    f32([2, 7]),
    f32([2, 7]),
    false,
    [],
    2,
    7,
    1,
    true,
    false,
    false,
    true,
  ],
  mkldnnRnnLayerBackward: () => [
    ...lstmLayer(),
    f32([3, 2, 7]),
    f32([2, 7]),
    f32([2, 7]),
    f32([3, 2, 7]),
    null,
    null,
    false,
    2,
    7,
    1,
    true,
    true,
    false,
    [],
    false,
    torch.zeros([16], { dtype: 'uint8' }),
  ],
  // lengths that overrun the data, let through by unsafe: true
  segmentReduce: () => [f32([4]), 'sum', { lengths: ints([100, 200]), unsafe: true }],
  // an index outside the size: to_dense writes out of bounds (2-D) or silently drops it (1-D)
  sparseCooTensor: () => [
    ints([
      [0, 1000000],
      [0, 5],
    ]),
    torch.ones([2]),
    [2, 2],
  ],
};

/** Out-of-range indices for operators whose kernels check them: each must throw as well. */
export const OUT_OF_RANGE_INDEX: Record<string, () => unknown[]> = {
  indexSelect: () => [f32([3, 2]), 0, ints([0, 3])],
  gather: () => [
    f32([3, 2]),
    0,
    ints([
      [0, 0],
      [5, 0],
    ]),
  ],
  take: () => [f32([3, 2]), ints([6])],
  embedding: () => [f32([4, 2]), ints([1, -1])],
  indexAdd: () => [f32([3, 2]), 0, ints([9]), f32([1, 2])],
  scatter: () => [f32([3, 2]), 0, ints([[3, 0]]), f32([1, 2])],
  indexPut: () => [f32([3]), [ints([3])], f32([1])],
  maxUnpool2d: () => [
    f32([1, 2, 2]),
    ints([
      [
        [0, 100],
        [1, 2],
      ],
    ]),
    [4, 4],
  ],
  nllLoss: () => [f32([2, 3]), ints([0, 3])],
  oneHot: () => [ints([0, 5]), 3],
  bincount: () => [ints([-1, 2])],
  segmentReduce: () => [f32([4]), 'sum', { lengths: ints([3, 2]) }],
};

/** A parsed schema argument: `int[2] kernel_size=1` -> { type: 'int[2]', name: 'kernel_size', kwOnly }. */
export interface SchemaArg {
  type: string;
  name: string;
  hasDefault: boolean;
  kwOnly: boolean;
}

/** Parses `name.overload(Tensor(a!) self, int dim, *, bool keepdim=False) -> Tensor` into its arguments. */
export function parseSchemaArgs(schema: string): SchemaArg[] | null {
  const open = schema.indexOf('(');
  const arrow = schema.lastIndexOf(') ->');
  if (open < 0 || arrow < 0) return null;
  let kwOnly = false;
  const args: SchemaArg[] = [];
  for (const part of splitArgs(schema.slice(open + 1, arrow))) {
    if (part === '*') {
      kwOnly = true;
      continue;
    }
    const m = /^(\S+?)(?:\([a-z!|]*\))?(\??(?:\[\d*\])?\??)\s+(\w+)(=.*)?$/.exec(part);
    if (!m) return null;
    args.push({ type: m[1] + m[2], name: m[3], hasDefault: m[4] !== undefined, kwOnly });
  }
  return args;
}

const camel = (s: string) => s.replace(/^_+/, '').replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export interface FuzzOutcome {
  op: string;
  mode: 'typed' | 'junk';
  /** 'ok', or the name of the TorchError thrown */
  result: string;
}

export class OperatorFuzzer {
  readonly rng: SeededRandom;
  readonly ops: [string, OpFn][];
  private schemas = new Map<string, SchemaArg[][]>();

  constructor(seed: number) {
    this.rng = new SeededRandom(seed);
    this.ops = Object.entries(generated as unknown as Record<string, unknown>)
      .filter((e): e is [string, OpFn] => typeof e[1] === 'function' && !NOT_FUZZED.has(e[0]))
      .sort(([a], [b]) => (a < b ? -1 : 1));
  }

  /** The schemas of an operator, read from the TypeError a call without arguments raises. */
  schemasOf(name: string, fn: OpFn): SchemaArg[][] {
    let known = this.schemas.get(name);
    if (known) return known;
    known = [];
    torch.scope(() => {
      try {
        fn();
      } catch (e) {
        const text = e instanceof torch.TorchError ? e.message : '';
        const at = text.indexOf('expected one of:\n');
        if (at >= 0)
          for (const line of text.slice(at).split('\n').slice(1)) {
            const parsed = parseSchemaArgs(line.trim());
            if (parsed) known.push(parsed);
          }
      }
    });
    this.schemas.set(name, known);
    return known;
  }

  tensor(shape?: number[]): torch.Tensor {
    const r = this.rng;
    const s = shape ?? r.pick(SHAPES);
    const base = torch.randn(s).mul(r.pick([1, 3, 100]));
    const dtype = r.chance(0.5) ? 'float32' : r.pick(torch.DTYPES);
    const t = dtype === 'float32' ? base : base.to(dtype);
    if (r.chance(0.1)) return t.requiresGrad_(torch.isFloatingDType(t.dtype));
    return r.chance(0.1) && t.dim() >= 2 ? t.transpose(0, -1) : t; // non-contiguous
  }

  disposedTensor(): torch.Tensor {
    const t = torch.ones([2]);
    t.dispose();
    return t;
  }

  /** Anything at all. */
  junk(depth = 0): unknown {
    const r = this.rng;
    switch (r.int(15)) {
      case 0:
      case 1:
      case 2:
        return this.tensor();
      case 3:
        return r.pick([0, 1, 2, -1, 3, -2, 5]);
      case 4:
        return r.pick([NaN, Infinity, -Infinity, 0.5, -1.5, 2 ** 53 + 2, 1e300]);
      case 5:
        return r.pick(STRINGS);
      case 6:
        return null;
      case 7:
        return undefined;
      case 8:
        return r.chance(0.5);
      case 9:
        return r.pick([1n, -3n, 2n ** 70n]);
      case 10:
        return depth > 0 ? [] : r.pick([[], [1, 2], [NaN], [null], ['a'], [[1]], [2, -1], [1, 2, 3, 4], [0.5]]);
      case 11:
        return depth > 0 ? [] : [this.tensor(), this.junk(depth + 1)];
      case 12:
        return this.disposedTensor();
      case 13:
        return r.pick([
          {},
          { dim: 1 },
          { dtype: 'float99' },
          { keepdim: 'x' },
          { dim: 0, keepdim: true },
          { alpha: 2 },
          { dtype: 'int32' },
          { foo: 1 },
        ]);
      default:
        return Symbol('odd');
    }
  }

  /** A value of a schema type, usually plausible and sometimes odd. */
  valueFor(type: string, shape: number[]): unknown {
    const r = this.rng;
    if (r.chance(0.03)) return this.junk();
    const optional = type.includes('?');
    if (optional && r.chance(0.25)) return null;
    const base = type.replace(/\?/g, '');
    const list = /\[\d*\]$/.exec(base);
    const elem = base.replace(/\[\d*\]$/, '');
    if (list) {
      if (elem === 'Tensor')
        return Array.from({ length: r.between(0, 3) }, () =>
          r.chance(0.05) ? this.disposedTensor() : this.tensor(r.chance(0.6) ? shape : undefined),
        );
      if (elem === 'int' || elem === 'SymInt')
        return r.chance(0.2) ? r.pick([0, 1, -1]) : Array.from({ length: r.between(0, 4) }, () => r.pick([0, 1, 2, 3, -1, -2]));
      if (elem === 'float') return Array.from({ length: r.between(0, 3) }, () => r.pick([0.5, 1, -2, 1e-3]));
      if (elem === 'bool') return Array.from({ length: r.between(1, 3) }, () => r.chance(0.5));
      return this.junk();
    }
    switch (elem) {
      case 'Tensor':
        return r.chance(0.04) ? this.disposedTensor() : this.tensor(r.chance(0.6) ? shape : undefined);
      case 'int':
      case 'SymInt':
        return r.chance(0.9) ? r.pick([0, 1, 2, 3, -1, -2]) : r.pick([NaN, 0.5, 2 ** 53 + 2, 7n, 2n ** 70n, -100]);
      case 'float':
        return r.pick([0, 0.5, -1, 1e-3, 2, NaN, Infinity, 1e-12]);
      case 'Scalar':
        return r.pick([0, 1, 2.5, -1, true, NaN, 3n]);
      case 'bool':
        return r.chance(0.5);
      case 'str':
        return r.pick(STRINGS);
      case 'ScalarType':
        return r.pick([...torch.DTYPES, 'complex64', 'float99']);
      case 'Device':
        return r.pick(['cpu', 'cpu', 'cpu', 'cuda', 'meta', 'tpu']);
      case 'Layout':
        return r.pick(['strided', 'sparse_coo', 'xyz']);
      case 'MemoryFormat':
        return r.pick(['contiguous_format', 'preserve_format', 'channels_last', 'xyz']);
      default:
        return null; // Generator? and friends
    }
  }

  /** Positional arguments (and an options object for keyword-only ones) for one schema. */
  typedArgs(args: SchemaArg[]): unknown[] {
    const r = this.rng;
    const shape = r.pick(SHAPES);
    const positional: unknown[] = [];
    const options: Record<string, unknown> = {};
    const names = args.map((a) => (a.name === 'self' && !args.some((b) => b.name === 'input') ? 'input' : camel(a.name)));
    args.forEach((a, i) => {
      if (a.hasDefault && r.chance(0.5)) {
        if (!a.kwOnly) positional.push(undefined);
        return;
      }
      const v = this.valueFor(a.type, shape);
      if (a.kwOnly) options[names[i]] = v;
      else positional.push(v);
    });
    while (positional.length && positional[positional.length - 1] === undefined) positional.pop();
    return Object.keys(options).length || r.chance(0.1) ? [...positional, options] : positional;
  }

  /** One random call; returns what happened. Throws only when the call threw something that is not a TorchError. */
  step(onCall?: (op: string, args: unknown[]) => void): FuzzOutcome {
    const r = this.rng;
    const [name, fn] = r.pick(this.ops);
    const schemas = this.schemasOf(name, fn);
    const typed = schemas.length > 0 && r.chance(0.75);
    return torch.scope(() => {
      const args = typed ? this.typedArgs(r.pick(schemas)) : Array.from({ length: r.int(5) }, () => this.junk());
      onCall?.(name, args);
      let result = 'ok';
      try {
        const out = fn(...args);
        // Touch what came back, as a user would.
        for (const t of [out].flat()) if (t instanceof torch.Tensor) void [t.shape, t.dtype];
      } catch (e) {
        if (!(e instanceof torch.TorchError)) {
          const err = e instanceof Error ? e : new Error(String(e));
          throw Object.assign(new Error(`${name}(${describeArgs(args)}) threw a non-TorchError ${err.name}: ${err.message}`), {
            cause: e,
          });
        }
        result = e.name;
      }
      return { op: name, mode: typed ? 'typed' : 'junk', result };
    });
  }
}

export function describeArgs(args: unknown[]): string {
  const one = (a: unknown): string => {
    if (a instanceof torch.Tensor)
      return a.isDisposed ? 'Tensor(disposed)' : `Tensor[${a.shape}] ${a.dtype}${a.isContiguous() ? '' : ' strided'}`;
    if (Array.isArray(a)) return `[${a.map(one).join(', ')}]`;
    if (typeof a === 'bigint') return `${a}n`;
    if (typeof a === 'symbol' || a === undefined) return String(a);
    if (typeof a === 'number') return String(a);
    if (a !== null && typeof a === 'object')
      return `{${Object.entries(a)
        .map(([k, v]) => `${k}: ${one(v)}`)
        .join(', ')}}`;
    return JSON.stringify(a);
  };
  return args.map(one).join(', ');
}
