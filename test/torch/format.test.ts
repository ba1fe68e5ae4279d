// util.inspect / toString of tensors must read exactly as Python's repr(torch.tensor(...)).
import * as util from 'node:util';
import '../helpers/one-thread';
import * as torch from '../../src/torch';
import { describeWithPython } from '../helpers/python';
import { encodeTensor, evalTorch, type PyResults } from '../helpers/torch-python';

// Each case builds a leaf tensor in JS; Python gets the leaf's elements as `x` (so random data cannot
// differ) and applies `py`, as JS applies `then` (for the autograd suffixes).
type Case = { name: string; make: () => torch.Tensor; then?: (x: torch.Tensor) => torch.Tensor; py?: string };
const cases: Case[] = [
  {
    name: 'small ints 2-D',
    make: () =>
      torch.tensor([
        [1, 2],
        [3, -4],
      ]),
  },
  { name: 'int64 scalar', make: () => torch.tensor(7) },
  { name: 'float scalar', make: () => torch.tensor(2.5) },
  { name: 'tiny float scalar', make: () => torch.tensor(1e-5) },
  {
    name: 'floats',
    make: () =>
      torch.tensor(
        [
          [1.5, 2.25],
          [-3.125, 4],
        ],
        { dtype: 'float32' },
      ),
  },
  { name: 'integral floats', make: () => torch.tensor([1, 2, -3], { dtype: 'float32' }) },
  { name: 'integral floats over 1000x range (sci)', make: () => torch.tensor([1, 10000], { dtype: 'float32' }) },
  { name: 'mixed magnitudes (sci)', make: () => torch.tensor([1e-5, 1, 1234.5], { dtype: 'float32' }) },
  { name: 'large values (sci)', make: () => torch.tensor([1e9, 2.5], { dtype: 'float64' }) },
  {
    name: 'tiny values (sci)',
    make: () =>
      torch.tensor(
        [
          [3e-7, -2e-6],
          [0, 1e-30],
        ],
        { dtype: 'float64' },
      ),
  },
  { name: 'nan and infinities', make: () => torch.tensor([NaN, 1, Infinity, -Infinity], { dtype: 'float32' }) },
  { name: 'nan with fractions', make: () => torch.tensor([NaN, 0.5, -Infinity], { dtype: 'float32' }) },
  { name: 'all zeros', make: () => torch.zeros([3]) },
  { name: 'negative zero', make: () => torch.tensor([-0, 1.5], { dtype: 'float32' }) },
  { name: 'round half to even', make: () => torch.tensor([0.03125, 1.03125, -2.00005], { dtype: 'float64' }) },
  { name: 'rounding carries into the exponent', make: () => torch.tensor([9.99996e-5, 1], { dtype: 'float64' }) },
  {
    name: 'bool',
    make: () =>
      torch.tensor([
        [true, false],
        [false, true],
      ]),
  },
  { name: 'float64', make: () => torch.tensor([1.5, 2.5], { dtype: 'float64' }) },
  { name: 'int32', make: () => torch.tensor([1, -20, 300], { dtype: 'int32' }) },
  { name: 'int8', make: () => torch.tensor([-128, 0, 127], { dtype: 'int8' }) },
  { name: 'uint8', make: () => torch.tensor([0, 255], { dtype: 'uint8' }) },
  { name: 'float16', make: () => torch.tensor([0.1, 2, 65504], { dtype: 'float16' }) },
  { name: 'bfloat16', make: () => torch.tensor([0.1, -2.5], { dtype: 'bfloat16' }) },
  { name: 'int64 beyond 2^53', make: () => torch.tensor([2n ** 62n + 1n, -5n]) },
  { name: 'empty float32', make: () => torch.tensor([], { dtype: 'float32' }) },
  { name: 'empty int64', make: () => torch.zeros([0], { dtype: 'int64' }) },
  { name: 'empty 2-D', make: () => torch.zeros([0, 3]) },
  { name: '3-D', make: () => torch.arange(24).reshape([2, 3, 4]) },
  { name: 'long vector wraps lines', make: () => torch.arange(100, { dtype: 'float32' }) },
  { name: 'random vector wraps lines', make: () => torch.randn([30]) },
  { name: 'summarised int vector', make: () => torch.arange(2000) },
  { name: 'summarised matrix', make: () => torch.randn([50, 40]) },
  { name: 'summarised short matrix', make: () => torch.randn([3, 400]) },
  { name: 'summarised 3-D', make: () => torch.randn([4, 20, 20]).mul(100) },
  { name: 'non-contiguous', make: () => torch.arange(12, { dtype: 'float32' }).reshape([3, 4]).t() },
  { name: 'requires grad', make: () => torch.tensor([1.5, 2]), then: (x) => x.requiresGrad_(), py: 'x.requires_grad_(True)' },
  {
    name: 'grad_fn',
    make: () => torch.tensor([1.5, 2]),
    then: (x) =>
      x
        .requiresGrad_()
        .mul(torch.tensor([2.0, 3.0]))
        .sum(),
    py: '(x.requires_grad_(True) * torch.tensor([2.0, 3.0])).sum()',
  },
  {
    name: 'float64 with grad_fn wraps suffixes',
    make: () => torch.randn([3, 7], { dtype: 'float64' }),
    then: (x) => x.requiresGrad_().mul(torch.tensor(2.0, { dtype: 'float64' })),
    py: 'x.requires_grad_(True) * torch.tensor(2.0, dtype=torch.float64)',
  },
];

describeWithPython('tensor printing matches PyTorch repr', () => {
  let python: PyResults;
  const made = new Map<string, torch.Tensor>();

  beforeAll(() => {
    torch.manualSeed(1234);
    const exprs: Record<string, string> = {};
    const inputs: Record<string, unknown> = {};
    cases.forEach((c, i) => {
      const leaf = c.make();
      inputs[`x${i}`] = encodeTensor(leaf);
      exprs[c.name] = `repr((lambda x: ${c.py ?? 'x'})(x${i}))`;
      made.set(c.name, c.then ? c.then(leaf) : leaf);
    });
    python = evalTorch(exprs, inputs);
  });

  test.each(cases.map((c) => [c.name]))('%s', (name) => {
    const t = made.get(name)!;
    expect(util.inspect(t)).toBe(python.get(name));
    expect(String(t)).toBe(python.get(name));
  });
});

test('a disposed tensor prints as such instead of throwing', () => {
  const t = torch.ones([2]);
  t.dispose();
  expect(util.inspect(t)).toBe('tensor(<disposed>)');
});

test('tensors nested in objects print through util.inspect', () => {
  const t = torch.tensor([1, 2]);
  expect(util.inspect({ weight: t })).toBe('{ weight: tensor([1, 2]) }');
  t.dispose();
});
