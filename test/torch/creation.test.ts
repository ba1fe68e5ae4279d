// Creating tensors from JS data and factories, and reading them back.
import '../helpers/one-thread';
import * as torch from '../../src/torch';
import type { DType } from '../../src/torch';
import { flatValues } from '../helpers/torch-python';

/** Runs fn inside a scope so the tensors it makes are freed with the test. */
const scoped = <T>(fn: () => T): T => torch.scope(fn);

describe('torch.tensor from nested arrays', () => {
  const cases: [string, torch.NestedArray, DType, number[]][] = [
    [
      'integers infer int64',
      [
        [1, 2],
        [3, 4],
      ],
      'int64',
      [2, 2],
    ],
    ['any fraction infers float32', [1, 2.5, 3], 'float32', [3]],
    ['booleans infer bool', [true, false, true], 'bool', [3]],
    ['bigints infer int64', [1n, -2n], 'int64', [2]],
    ['empty infers float32', [], 'float32', [0]],
    [
      '3-D',
      [
        [[1], [2]],
        [[3], [4]],
        [[5], [6]],
      ],
      'int64',
      [3, 2, 1],
    ],
  ];
  test.each(cases)('%s', (_name, data, dtype, shape) =>
    scoped(() => {
      const t = torch.tensor(data);
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual(shape);
      // tolist gives int64 back as numbers
      expect(t.tolist()).toEqual(JSON.parse(JSON.stringify(data, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))));
    }),
  );

  test('scalars make 0-d tensors', () =>
    scoped(() => {
      const i = torch.tensor(3);
      expect([i.shape, i.dtype, i.item()]).toEqual([[], 'int64', 3]);
      const f = torch.tensor(2.5);
      expect([f.shape, f.dtype, f.item()]).toEqual([[], 'float32', 2.5]);
      const b = torch.tensor(true);
      expect([b.shape, b.dtype, b.item()]).toEqual([[], 'bool', true]);
      expect(b.tolist()).toBe(true);
    }));

  test('dtype option converts', () =>
    scoped(() => {
      const t = torch.tensor([1, 2, 3], { dtype: 'float64' });
      expect(t.dtype).toBe('float64');
      expect(t.toTypedArray()).toEqual(new Float64Array([1, 2, 3]));
      const aliased = torch.tensor([1.5], { dtype: 'double' as DType });
      expect(aliased.dtype).toBe('float64');
      // Fractions truncate toward zero into integer dtypes, as torch.tensor([1.7, -1.7], dtype=torch.int64).
      expect(torch.tensor([1.7, -1.7], { dtype: 'int64' }).tolist()).toEqual([1, -1]);
      expect(torch.tensor([0, 2, 0], { dtype: 'bool' }).tolist()).toEqual([false, true, false]);
    }));

  test('ragged arrays and non-numbers are rejected', () => {
    expect(() => torch.tensor([[1, 2], [3]])).toThrow(/ragged nested array/);
    expect(() => torch.tensor([[1, 2], 3] as torch.NestedArray)).toThrow(/ragged/);
    expect(() => torch.tensor(['a'] as unknown as torch.NestedArray)).toThrow(expect.objectContaining({ name: 'TypeError' }));
  });
});

describe('torch.tensor from typed arrays', () => {
  const kinds: [string, ArrayBufferView, DType, (number | boolean | bigint)[]][] = [
    ['Float32Array', new Float32Array([1.5, -2, 3.25]), 'float32', [1.5, -2, 3.25]],
    ['Float64Array', new Float64Array([0.1, 1e300, -0]), 'float64', [0.1, 1e300, -0]],
    ['Int32Array', new Int32Array([-(2 ** 31), 0, 2 ** 31 - 1]), 'int32', [-(2 ** 31), 0, 2 ** 31 - 1]],
    ['BigInt64Array', new BigInt64Array([-(2n ** 63n), 5n, 2n ** 63n - 1n]), 'int64', [-(2n ** 63n), 5, 2n ** 63n - 1n]],
    ['Int16Array', new Int16Array([-32768, 7, 32767]), 'int16', [-32768, 7, 32767]],
    ['Int8Array', new Int8Array([-128, 0, 127]), 'int8', [-128, 0, 127]],
    ['Uint8Array', new Uint8Array([0, 128, 255]), 'uint8', [0, 128, 255]],
  ];
  test.each(kinds)('%s keeps its element type and values', (_name, data, dtype, values) =>
    scoped(() => {
      const t = torch.tensor(data);
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual([3]);
      expect(flatValues(t)).toEqual(values);
      expect(t.toTypedArray()).toEqual(data);
    }),
  );

  test('copies: changing the source later does not change the tensor', () =>
    scoped(() => {
      const src = new Float32Array([1, 2, 3, 4, 5, 6]);
      const t = torch.tensor(src, { shape: [2, 3] });
      src[0] = 100;
      expect(t.shape).toEqual([2, 3]);
      expect(t.tolist()).toEqual([
        [1, 2, 3],
        [4, 5, 6],
      ]);
    }));

  test('a view with a byte offset reads only its own elements', () =>
    scoped(() => {
      const whole = new Int32Array([9, 9, 1, 2, 3, 9]);
      expect(torch.tensor(whole.subarray(2, 5)).tolist()).toEqual([1, 2, 3]);
    }));

  test('shape must match the element count; unsupported typed arrays are rejected', () => {
    expect(() => torch.tensor(new Float32Array(6), { shape: [4, 2] })).toThrow(
      /holds 24 bytes but shape \[4, 2\] of float32 needs 32/,
    );
    expect(() => torch.tensor(new Uint32Array(2))).toThrow(/unsupported typed array Uint32Array/);
  });

  test('dtype option converts typed-array data', () =>
    scoped(() => {
      const t = torch.tensor(new Int32Array([1, 2]), { dtype: 'float16' });
      expect(t.dtype).toBe('float16');
      expect(t.tolist()).toEqual([1, 2]);
    }));
});

describe('every dtype round-trips', () => {
  // Values exactly representable in each dtype, including its extremes.
  const samples: Record<DType, (number | boolean)[]> = {
    float32: [0.5, -3.25, 3.4028234663852886e38, 1.401298464324817e-45],
    float64: [0.1, -1e-300, Number.MAX_VALUE],
    bfloat16: [0.5, -3.25, 3.3895313892515355e38],
    float16: [0.5, -3.25, 65504, 5.960464477539063e-8],
    int32: [-(2 ** 31), 2 ** 31 - 1],
    int64: [-(2 ** 53), 2 ** 53],
    int16: [-32768, 32767],
    int8: [-128, 127],
    uint8: [0, 255],
    bool: [true, false],
  };
  test.each(Object.entries(samples))('%s', (dtype, values) =>
    scoped(() => {
      const t = torch.tensor(values, { dtype: dtype as DType });
      expect(t.dtype).toBe(dtype);
      expect(t.tolist()).toEqual(values);
      // through float64 (or int64 for integers) and back loses nothing
      const wide = dtype === 'bool' ? 'uint8' : dtype.startsWith('int') || dtype === 'uint8' ? 'int64' : 'float64';
      const back = t.to(wide).to(dtype);
      expect(back.dtype).toBe(dtype);
      expect(back.tolist()).toEqual(values);
      expect(torch.toBytes(back)).toEqual(torch.toBytes(t));
      expect(torch.fromBytes(torch.toBytes(t), dtype as DType, t.shape).tolist()).toEqual(values);
    }),
  );

  test('to(dtype) rounds and saturates as PyTorch does', () =>
    scoped(() => {
      const f = torch.tensor([1.7, -1.7, 2.5], { dtype: 'float32' });
      expect(f.to('int32').tolist()).toEqual([1, -1, 2]);
      expect(f.long().dtype).toBe('int64');
      expect(torch.tensor([0.1]).to('bfloat16').item()).toBe(0.10009765625);
      expect(torch.tensor([0.1]).half().item()).toBe(0.0999755859375);
      expect(torch.tensor([300], { dtype: 'int32' }).to('uint8').item()).toBe(44); // wraps modulo 256
      expect(torch.tensor([0.0, 0.3]).bool().tolist()).toEqual([false, true]);
      expect(f.double().dtype).toBe('float64');
      expect(f.to('float32')).not.toBe(f);
    }));

  test('toTypedArray returns the natural typed array', () =>
    scoped(() => {
      // Compared by name: the addon makes them in Node's realm, not jest's sandbox.
      const expected: [DType, string][] = [
        ['float32', 'Float32Array'],
        ['float64', 'Float64Array'],
        ['bfloat16', 'Float32Array'],
        ['float16', 'Float32Array'],
        ['int32', 'Int32Array'],
        ['int64', 'BigInt64Array'],
        ['int16', 'Int16Array'],
        ['int8', 'Int8Array'],
        ['uint8', 'Uint8Array'],
        ['bool', 'Uint8Array'],
      ];
      for (const [dtype, name] of expected) expect(torch.zeros([2], { dtype }).toTypedArray().constructor.name).toBe(name);
    }));
});

describe('factories', () => {
  test('zeros, ones, full, empty', () =>
    scoped(() => {
      const z = torch.zeros([2, 3]);
      expect([z.shape, z.dtype, z.tolist()]).toEqual([
        [2, 3],
        'float32',
        [
          [0, 0, 0],
          [0, 0, 0],
        ],
      ]);
      const o = torch.ones(3, { dtype: 'int32' });
      expect([o.shape, o.dtype, o.tolist()]).toEqual([[3], 'int32', [1, 1, 1]]);
      // full infers its dtype from the fill value, as torch.full does
      expect(torch.full([2], 7).dtype).toBe('int64');
      expect(torch.full([2], 2.5).tolist()).toEqual([2.5, 2.5]);
      expect(torch.full([1], true).dtype).toBe('bool');
      expect(torch.full([2, 2], -1, { dtype: 'float64' }).tolist()).toEqual([
        [-1, -1],
        [-1, -1],
      ]);
      const e = torch.empty([4, 0, 2], { dtype: 'int8' });
      expect([e.shape, e.dtype, e.numel()]).toEqual([[4, 0, 2], 'int8', 0]);
      expect(torch.empty([3]).shape).toEqual([3]);
    }));

  test('arange, linspace, eye', () =>
    scoped(() => {
      expect(torch.arange(5).tolist()).toEqual([0, 1, 2, 3, 4]);
      expect(torch.arange(5).dtype).toBe('int64');
      expect(torch.arange(2, 8, 3).tolist()).toEqual([2, 5]);
      const f = torch.arange(0, 1, 0.25);
      expect([f.dtype, f.tolist()]).toEqual(['float32', [0, 0.25, 0.5, 0.75]]);
      expect(torch.arange(3, { dtype: 'float64' }).dtype).toBe('float64');
      const l = torch.linspace(0, 1, 5);
      expect([l.dtype, l.tolist()]).toEqual(['float32', [0, 0.25, 0.5, 0.75, 1]]);
      expect(torch.linspace(-1, 1, 3, { dtype: 'float64' }).tolist()).toEqual([-1, 0, 1]);
      expect(torch.eye(3).tolist()).toEqual([
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ]);
      expect(torch.eye(2, 3, { dtype: 'int64' }).tolist()).toEqual([
        [1, 0, 0],
        [0, 1, 0],
      ]);
    }));

  test('rand, randn, randint have the right shape, range and moments', () =>
    scoped(() => {
      torch.manualSeed(7);
      const n = 20000;
      const u = torch.rand([n]);
      expect([u.shape, u.dtype]).toEqual([[n], 'float32']);
      expect(u.min().item()).toBeGreaterThanOrEqual(0);
      expect(u.max().item()).toBeLessThan(1);
      expect(u.mean().item()).toBeCloseTo(0.5, 1);
      const g = torch.randn([n], { dtype: 'float64' });
      expect(g.dtype).toBe('float64');
      expect(Math.abs(g.mean().item())).toBeLessThan(0.05);
      expect(g.std().item()).toBeCloseTo(1, 1);
      const r = torch.randint(3, 10, [n]);
      expect(r.dtype).toBe('int64');
      expect([r.min().item(), r.max().item()]).toEqual([3, 9]);
      // every value in [3, 10) occurs, none outside
      expect(torch.bincount(r).gt(0).tolist()).toEqual([false, false, false, true, true, true, true, true, true, true]);
      expect(torch.randint(4, [2, 2], { dtype: 'int32' }).dtype).toBe('int32');
    }));

  test('*Like forms copy shape and dtype unless told otherwise', () =>
    scoped(() => {
      const x = torch.ones([2, 3], { dtype: 'float64' });
      const like = [
        torch.zerosLike(x),
        torch.onesLike(x),
        torch.fullLike(x, 4),
        torch.emptyLike(x),
        torch.randLike(x),
        torch.randnLike(x),
        torch.randintLike(x, 5),
      ];
      for (const t of like) expect([t.shape, t.dtype, t.device]).toEqual([[2, 3], 'float64', 'cpu']);
      expect(torch.zerosLike(x).tolist()).toEqual([
        [0, 0, 0],
        [0, 0, 0],
      ]);
      expect(torch.fullLike(x, 4).tolist()).toEqual([
        [4, 4, 4],
        [4, 4, 4],
      ]);
      const ints = torch.onesLike(x, { dtype: 'int32' });
      expect([ints.dtype, ints.tolist()]).toEqual([
        'int32',
        [
          [1, 1, 1],
          [1, 1, 1],
        ],
      ]);
      const ri = torch.randintLike(x, 2, 4, { dtype: 'int64' });
      expect(ri.dtype).toBe('int64');
      expect(flatValues(ri).every((v) => v === 2 || v === 3)).toBe(true);
      expect(torch.randLike(x, { device: 'cpu' }).device).toBe('cpu');
    }));

  test('device and requiresGrad options', () =>
    scoped(() => {
      const t = torch.zeros([2], { device: 'cpu', requiresGrad: true });
      expect(t.device).toBe('cpu');
      expect(t.requiresGrad).toBe(true);
      expect(t.isLeaf).toBe(true);
      expect(torch.tensor([1.5], { requiresGrad: true }).requiresGrad).toBe(true);
      expect(torch.ones([1]).requiresGrad).toBe(false);
      // to(device) keeps the dtype unless given one
      const i = torch.tensor([1, 2], { dtype: 'int16' });
      expect([i.cpu().device, i.cpu().dtype, i.to('cpu').tolist()]).toEqual(['cpu', 'int16', [1, 2]]);
      expect(i.to('cpu', 'float64').dtype).toBe('float64');
      expect(i.to('cpu', { dtype: 'bfloat16' }).dtype).toBe('bfloat16');
      const other = torch.zeros([1], { dtype: 'float64' });
      expect(i.to(other).dtype).toBe('float64');
    }));
});

describe('readback and copies', () => {
  test('item reads one element of any dtype', () =>
    scoped(() => {
      expect(torch.tensor([2.5]).item()).toBe(2.5);
      expect(torch.tensor([[7]]).item()).toBe(7);
      expect(torch.tensor(false).item()).toBe(false);
      expect(torch.tensor([3], { dtype: 'bfloat16' }).item()).toBe(3);
      expect(() => torch.tensor([1, 2]).item()).toThrow(/a Tensor with 2 elements cannot be converted to Scalar/);
    }));

  test('tolist nests by shape', () =>
    scoped(() => {
      expect(torch.arange(6).reshape([3, 1, 2]).tolist()).toEqual([[[0, 1]], [[2, 3]], [[4, 5]]]);
      expect(torch.zeros([2, 0]).tolist()).toEqual([[], []]);
      expect(torch.tensor([true, false]).tolist()).toEqual([true, false]);
    }));

  test('contiguous makes a row-major copy of a strided view', () =>
    scoped(() => {
      const x = torch.arange(6).reshape([2, 3]);
      const t = x.t();
      expect(t.isContiguous()).toBe(false);
      expect(t.stride()).toEqual([1, 3]);
      const c = t.contiguous();
      expect(c.isContiguous()).toBe(true);
      expect(c.stride()).toEqual([2, 1]);
      expect(c.tolist()).toEqual([
        [0, 3],
        [1, 4],
        [2, 5],
      ]);
      // the strided view reads back in logical order too
      expect(t.tolist()).toEqual([
        [0, 3],
        [1, 4],
        [2, 5],
      ]);
    }));

  test('clone owns its memory; views share it', () =>
    scoped(() => {
      const x = torch.zeros([3]);
      const c = x.clone();
      const v = x.view([3]);
      c.fill_(5);
      expect(x.tolist()).toEqual([0, 0, 0]);
      v.fill_(2);
      expect(x.tolist()).toEqual([2, 2, 2]);
      expect(c.tolist()).toEqual([5, 5, 5]);
    }));

  test('metadata accessors', () =>
    scoped(() => {
      const x = torch.zeros([2, 3, 4], { dtype: 'int16' });
      expect([x.dim(), x.ndim, x.numel(), x.size(), x.size(-1), x.size(0), x.device, x.isCuda]).toEqual([
        3,
        3,
        24,
        [2, 3, 4],
        4,
        2,
        'cpu',
        false,
      ]);
      expect(() => x.size(3)).toThrow(/dimension 3 out of range/);
    }));
});
