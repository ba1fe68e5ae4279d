// Gradient checks of the operators a transformer uses: autograd's analytic gradients (through
// torch.autograd.grad) against central finite differences, in float64, via torch.testing.gradcheck.
// Every case also runs with a deliberately wrong gradient (1% off) to show the check can fail.
import * as torch from '../../src/torch';
import { Tensor } from '../../src/torch';
import { SeededRandom } from '../helpers/random';

const { F } = torch;
const { gradcheck, assertClose } = torch.testing;

// ---- the table ----------------------------------------------------------------------------------

/** How an input's values are drawn: standard normal, or kept away from kinks and domain edges. */
type Sampler = 'normal' | 'positive' | { awayFrom: number[] };
type InputSpec = number[] | { shape: number[]; sample: Sampler };
interface Case {
  name: string;
  /** shapes of the float64 inputs that require grad (constants such as targets live in fn) */
  inputs: InputSpec[];
  fn: (...xs: Tensor[]) => Tensor | Tensor[];
}

const long = (data: number[] | number[][]): Tensor => torch.tensor(data);
const bool = (data: boolean[] | boolean[][]): Tensor => torch.tensor(data);
const positive = (...shape: number[]): InputSpec => ({ shape, sample: 'positive' });
const awayFrom = (points: number[], ...shape: number[]): InputSpec => ({ shape, sample: { awayFrom: points } });

const CASES: Case[] = [
  // arithmetic with broadcasting
  {
    name: 'add (broadcast)',
    inputs: [
      [2, 3, 4],
      [3, 1],
    ],
    fn: (a, b) => a.add(b),
  },
  { name: 'sub (broadcast, alpha)', inputs: [[2, 3], [3]], fn: (a, b) => torch.sub(a, b, { alpha: 0.5 }) },
  {
    name: 'mul (broadcast both ways)',
    inputs: [
      [4, 1, 3],
      [1, 2, 3],
    ],
    fn: (a, b) => a.mul(b),
  },
  { name: 'div (broadcast)', inputs: [[2, 3], positive(2, 1)], fn: (a, b) => a.div(b) },
  // matrix products
  {
    name: 'matmul (batched @ matrix)',
    inputs: [
      [2, 3, 4],
      [4, 5],
    ],
    fn: (a, b) => torch.matmul(a, b),
  },
  { name: 'matmul (matrix @ vector)', inputs: [[3, 4], [4]], fn: (a, b) => a.matmul(b) },
  {
    name: 'bmm',
    inputs: [
      [2, 3, 4],
      [2, 4, 2],
    ],
    fn: (a, b) => torch.bmm(a, b),
  },
  { name: 'linear (weight, bias)', inputs: [[2, 3, 4], [5, 4], [5]], fn: (x, w, b) => F.linear(x, w, b) },
  // normalisations and losses
  { name: 'softmax', inputs: [[3, 5]], fn: (x) => F.softmax(x, -1) },
  {
    name: 'softmax over a causal -inf mask',
    inputs: [[4, 4]],
    fn: (x) => F.softmax(x.maskedFill(torch.triu(torch.ones([4, 4], { dtype: 'bool' }), 1), -Infinity), -1),
  },
  { name: 'logSoftmax', inputs: [[4, 3]], fn: (x) => F.logSoftmax(x, 0) },
  { name: 'logsumexp', inputs: [[3, 5]], fn: (x) => torch.logsumexp(x, -1) },
  { name: 'crossEntropy (ignoreIndex -100)', inputs: [[4, 3]], fn: (x) => F.crossEntropy(x, long([0, 2, -100, 1])) },
  {
    name: 'crossEntropy ([N, C, T], sum, labelSmoothing, ignoreIndex 2)',
    inputs: [[2, 3, 4]],
    fn: (x) =>
      F.crossEntropy(
        x,
        long([
          [0, 1, 2, 1],
          [2, 2, 0, 1],
        ]),
        { ignoreIndex: 2, reduction: 'sum', labelSmoothing: 0.1 },
      ),
  },
  {
    name: 'nllLoss (ignoreIndex -1)',
    inputs: [[3, 4]],
    fn: (x) => F.nllLoss(F.logSoftmax(x, 1), long([1, -1, 3]), { ignoreIndex: -1 }),
  },
  { name: 'rmsNorm (nn.rmsNorm)', inputs: [[2, 3, 8], [8]], fn: (x, w) => torch.nn.rmsNorm(x, w, 1e-6) },
  { name: 'layerNorm (weight, bias)', inputs: [[2, 5], [5], [5]], fn: (x, w, b) => torch.layerNorm(x, [5], w, b, 1e-5) },
  // lookups
  {
    name: 'embedding (repeated ids)',
    inputs: [[5, 3]],
    fn: (w) =>
      F.embedding(
        long([
          [0, 2, 2],
          [4, 0, 1],
        ]),
        w,
      ),
  },
  {
    name: 'gather',
    inputs: [[3, 4]],
    fn: (x) =>
      torch.gather(
        x,
        1,
        long([
          [0, 3],
          [1, 1],
          [2, 0],
        ]),
      ),
  },
  { name: 'indexSelect (repeated index)', inputs: [[4, 3]], fn: (x) => torch.indexSelect(x, 0, long([0, 2, 0])) },
  // activations and pointwise functions
  { name: 'silu', inputs: [[3, 4]], fn: (x) => F.silu(x) },
  { name: 'gelu (exact)', inputs: [[3, 4]], fn: (x) => F.gelu(x) },
  { name: 'gelu (tanh)', inputs: [[3, 4]], fn: (x) => F.gelu(x, 'tanh') },
  { name: 'relu (away from 0)', inputs: [awayFrom([0], 3, 4)], fn: (x) => F.relu(x) },
  { name: 'sigmoid', inputs: [[3, 4]], fn: (x) => torch.sigmoid(x) },
  { name: 'tanh', inputs: [[3, 4]], fn: (x) => torch.tanh(x) },
  { name: 'exp', inputs: [[3, 4]], fn: (x) => x.exp() },
  { name: 'log', inputs: [positive(3, 4)], fn: (x) => x.log() },
  { name: 'rsqrt', inputs: [positive(3, 4)], fn: (x) => x.rsqrt() },
  { name: 'sqrt', inputs: [positive(3, 4)], fn: (x) => x.sqrt() },
  { name: 'pow (tensor ^ scalar)', inputs: [[3, 4]], fn: (x) => x.pow(3) },
  { name: 'pow (tensor ^ tensor)', inputs: [positive(3, 4), [3, 4]], fn: (x, y) => torch.pow(x, y) },
  { name: 'clamp (away from the bounds)', inputs: [awayFrom([-0.5, 0.5], 3, 4)], fn: (x) => x.clamp(-0.5, 0.5) },
  // reductions
  { name: 'mean (dims, keepdim)', inputs: [[2, 3, 4]], fn: (x) => x.mean([0, 2], true) },
  { name: 'sum (all)', inputs: [[2, 3, 4]], fn: (x) => x.sum() },
  { name: 'sum (dim)', inputs: [[2, 3, 4]], fn: (x) => x.sum(1) },
  { name: 'var (unbiased)', inputs: [[3, 5]], fn: (x) => torch.var(x, 1) },
  { name: 'var (correction 0, keepdim)', inputs: [[3, 5]], fn: (x) => torch.var(x, [0], { correction: 0, keepdim: true }) },
  { name: 'cumsum', inputs: [[3, 4]], fn: (x) => x.cumsum(1) },
  // attention
  {
    name: 'scaledDotProductAttention (causal)',
    inputs: [
      [1, 2, 4, 3],
      [1, 2, 4, 3],
      [1, 2, 4, 3],
    ],
    fn: (q, k, v) => F.scaledDotProductAttention(q, k, v, { isCausal: true }),
  },
  {
    name: 'scaledDotProductAttention (boolean mask, scale)',
    inputs: [
      [1, 1, 3, 2],
      [1, 1, 4, 2],
      [1, 1, 4, 3],
    ],
    fn: (q, k, v) =>
      F.scaledDotProductAttention(q, k, v, {
        attnMask: bool([
          [true, true, false, true],
          [true, false, true, true],
          [false, true, true, true],
        ]),
        scale: 0.7,
      }),
  },
  // shape and indexing
  { name: 'transpose', inputs: [[2, 3, 4]], fn: (x) => x.transpose(0, 2) },
  { name: 'permute', inputs: [[2, 3, 4]], fn: (x) => x.permute([2, 0, 1]) },
  { name: 'view', inputs: [[2, 3, 4]], fn: (x) => x.view([6, 4]).mul(long([1, 2, 3, 4])) },
  { name: 'reshape (non-contiguous input)', inputs: [[2, 3, 4]], fn: (x) => x.transpose(0, 1).reshape([-1]).cumsum(0) },
  { name: 'narrow', inputs: [[2, 5]], fn: (x) => x.narrow(1, 1, 3) },
  { name: 'select', inputs: [[3, 4]], fn: (x) => x.select(0, 1) },
  {
    name: 'cat',
    inputs: [
      [2, 3],
      [2, 1],
      [2, 2],
    ],
    fn: (a, b, c) => torch.cat([a, b, c], 1),
  },
  {
    name: 'stack',
    inputs: [
      [2, 3],
      [2, 3],
    ],
    fn: (a, b) => torch.stack([a, b], 1),
  },
  {
    name: 'maskedFill',
    inputs: [[2, 3]],
    fn: (x) =>
      x.maskedFill(
        bool([
          [true, false, false],
          [false, true, true],
        ]),
        -1.5,
      ),
  },
  {
    name: 'where',
    inputs: [
      [2, 3],
      [2, 3],
    ],
    fn: (a, b) =>
      torch.where(
        bool([
          [true, false, true],
          [false, false, true],
        ]),
        a,
        b,
      ),
  },
  // composites a transformer block is made of, and several outputs at once
  {
    name: 'SwiGLU MLP (composite)',
    inputs: [
      [2, 4],
      [6, 4],
      [6, 4],
      [4, 6],
    ],
    fn: (x, gate, up, down) => F.linear(F.silu(F.linear(x, gate)).mul(F.linear(x, up)), down),
  },
  { name: 'two outputs (softmax, logsumexp)', inputs: [[2, 4]], fn: (x) => [F.softmax(x, 1), torch.logsumexp(x, 1)] },
];

// ---- input generation ---------------------------------------------------------------------------

function seedOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

function normal(rng: SeededRandom): number {
  // Box-Muller; 1 - u keeps the log argument in (0, 1].
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

function draw(rng: SeededRandom, sample: Sampler): number {
  if (sample === 'normal') return normal(rng);
  if (sample === 'positive') return 0.5 + 1.5 * rng.next();
  // Far enough (compared with the finite-difference step) from every kink.
  for (;;) {
    const v = normal(rng);
    if (sample.awayFrom.every((p) => Math.abs(v - p) > 0.05)) return v;
  }
}

/** Float64 leaves requiring grad, the same for a given case name on every run. */
function makeInputs(c: Case): Tensor[] {
  const rng = new SeededRandom(seedOf(c.name));
  return c.inputs.map((spec) => {
    const { shape, sample } = Array.isArray(spec) ? { shape: spec, sample: 'normal' as Sampler } : spec;
    const values = Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => draw(rng, sample));
    return torch.tensor(values, { shape, requiresGrad: true });
  });
}

/** fn with every output's gradient scaled by 1/1.01: analytically 1% off, numerically unchanged. */
function withWrongGradient(fn: Case['fn']): Case['fn'] {
  const skew = (y: Tensor): Tensor => y.div(1.01).add(y.detach().mul(1 - 1 / 1.01));
  return (...xs) => {
    const out = fn(...xs);
    return out instanceof Tensor ? skew(out) : out.map(skew);
  };
}

// ---- tests --------------------------------------------------------------------------------------

test('the table covers at least 30 distinct operators', () => {
  expect(CASES.length).toBeGreaterThanOrEqual(30);
  expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
});

describe('gradcheck: analytic gradients match finite differences (float64)', () => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    torch.scope(() => {
      const inputs = makeInputs(c);
      expect(gradcheck(c.fn, inputs)).toBe(true);
    });
  });
});

describe('gradcheck detects a 1% error in the gradient', () => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    torch.scope(() => {
      const inputs = makeInputs(c);
      expect(() => gradcheck(withWrongGradient(c.fn), inputs)).toThrow(
        /Jacobian mismatch for output \d+ with respect to input \d+/,
      );
    });
  });
});

describe('gradcheck itself', () => {
  const x = (): Tensor =>
    torch.tensor(
      [
        [0.3, -1.2, 2.0],
        [0.7, 1.5, -0.4],
      ],
      { dtype: 'float64', requiresGrad: true },
    );

  test('reports the output, the input and the worst element of a wrong gradient', () => {
    torch.scope(() => {
      // x * detach(x): autograd sees d/dx = x, the true derivative is 2x.
      let message = '';
      try {
        gradcheck((t) => t.mul(t.detach()), [x()]);
      } catch (e) {
        expect((e as Error).name).toBe('GradcheckError');
        message = (e as Error).message;
      }
      expect(message).toMatch(/Jacobian mismatch for output 0 with respect to input 0: 6 of 36 entries differ/);
      // the largest |x| is 2.0 at (0, 2): numerical 4, analytical 2
      const worst = /worst: d output\(0, 2\) \/ d input\(0, 2\): numerical (\S+), analytical (\S+)\n/.exec(message);
      expect(worst).not.toBeNull();
      expect(Number(worst![1])).toBeCloseTo(4, 6);
      expect(Number(worst![2])).toBeCloseTo(2, 12);
      expect(message).toMatch(/numerical \(rows: output elements, columns: input elements\):\n {2}\[/);
    });
  });

  test('names the input whose gradient autograd does not see', () => {
    torch.scope(() => {
      const y = torch.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
      expect(() => gradcheck((a, b) => a.add(b.detach()), [x(), y])).toThrow(/with respect to input 1/);
    });
  });

  test('names the wrong output among several', () => {
    torch.scope(() => {
      expect(() => gradcheck((t) => [t.sin(), t.mul(t.detach())], [x()])).toThrow(/for output 1 with respect to input 0/);
    });
  });

  test('skips integer outputs and passes non-differentiable inputs through', () => {
    torch.scope(() => {
      const index = torch.tensor([2, 0]);
      expect(gradcheck((t, i) => [t.argmax(1), t.indexSelect(1, i)], [x(), index])).toBe(true);
    });
  });

  test('raiseException: false returns false instead of throwing', () => {
    torch.scope(() => {
      expect(gradcheck((t) => t.mul(t.detach()), [x()], { raiseException: false })).toBe(false);
      expect(gradcheck((t) => t.mul(t), [x()], { raiseException: false })).toBe(true);
    });
  });

  test('tolerances decide: a 1e-4 relative error passes at rtol 1e-3 and fails at rtol 1e-5', () => {
    torch.scope(() => {
      const skewed = (t: Tensor) =>
        t
          .mul(t)
          .mul(1 - 1e-4)
          .add(t.detach().mul(t.detach()).mul(1e-4));
      expect(gradcheck(skewed, [x()], { atol: 0, rtol: 1e-3 })).toBe(true);
      expect(() => gradcheck(skewed, [x()], { atol: 0, rtol: 1e-5 })).toThrow(/Jacobian mismatch/);
    });
  });

  test('rejects inputs it cannot check', () => {
    torch.scope(() => {
      const f32 = torch.tensor([1.5, 2.5], { requiresGrad: true });
      expect(() => gradcheck((t) => t.mul(2), [f32])).toThrow(/input 0 is float32; inputs that require grad must be float64/);
      const noGradInput = torch.tensor([1.5, 2.5], { dtype: 'float64' });
      expect(() => gradcheck((t) => t.mul(2), [noGradInput])).toThrow(/no input requires grad/);
      expect(() => gradcheck((t) => t.mul(2), [x()], { eps: 0 })).toThrow(/eps must be > 0/);
      expect(() => gradcheck((t) => t.argmax(), [x()])).toThrow(/no floating-point output/);
    });
  });

  test('frees every tensor it creates and leaves the inputs untouched', () => {
    const input = x();
    const before = input.tolist();
    const live = torch.memory().liveTensors;
    gradcheck((t) => F.softmax(t.mul(t), 1), [input]);
    expect(torch.memory().liveTensors).toBe(live);
    expect(input.tolist()).toEqual(before);
    expect(input.grad).toBeNull();
    input.dispose();
  });
});

describe('assertClose', () => {
  test('passes within the dtype default tolerance and with explicit tolerances', () => {
    torch.scope(() => {
      const a = torch.tensor([1, 2, 3], { dtype: 'float32' });
      assertClose(a, torch.tensor([1, 2, 3 + 1e-6], { dtype: 'float32' }));
      assertClose(a, torch.tensor([1.05, 2, 3], { dtype: 'float32' }), { atol: 0.1, rtol: 0 });
      assertClose(a, [1, 2, 3]);
    });
  });

  test('reports mismatched elements and the greatest differences with their index', () => {
    torch.scope(() => {
      const a = torch.tensor(
        [
          [1, 2],
          [3, 4],
        ],
        { dtype: 'float64' },
      );
      const b = torch.tensor(
        [
          [1, 2],
          [3.5, 4.001],
        ],
        { dtype: 'float64' },
      );
      expect(() => assertClose(a, b, { msg: 'layer 3 logits' })).toThrow(
        /^layer 3 logits\n\nTensor-likes are not close!\n\nMismatched elements: 2 \/ 4 \(50\.0%\)\nGreatest absolute difference: 0\.5 at index \(1, 0\) \(up to 1e-7 allowed\)\nGreatest relative difference: 0\.14\d* at index \(1, 0\)/,
      );
    });
  });

  test('checks shape, dtype and NaN handling', () => {
    torch.scope(() => {
      const a = torch.tensor([1, 2, 3], { dtype: 'float32' });
      expect(() => assertClose(a, torch.tensor([[1, 2, 3]], { dtype: 'float32' }))).toThrow(
        /'shape' do not match: \[3\] != \[1,3\]/,
      );
      expect(() => assertClose(a, a.double())).toThrow(/'dtype' do not match: float32 != float64/);
      assertClose(a, a.double(), { checkDtype: false });
      const nan = torch.tensor([1, NaN], { dtype: 'float32' });
      expect(() => assertClose(nan, nan)).toThrow(/not close/);
      assertClose(nan, nan, { equalNan: true });
      const inf = torch.tensor([Infinity], { dtype: 'float32' });
      expect(() => assertClose(inf, torch.tensor([-Infinity], { dtype: 'float32' }))).toThrow(/Scalars are not close/);
    });
  });

  test('compares integers exactly, int64 beyond 2^53 included', () => {
    torch.scope(() => {
      const big = torch.tensor([2n ** 60n, 5n]);
      assertClose(big, torch.tensor([2n ** 60n, 5n]));
      expect(() => assertClose(big, torch.tensor([2n ** 60n + 1n, 5n]))).toThrow(
        /Tensor-likes are not equal!\n\nMismatched elements: 1 \/ 2/,
      );
    });
  });

  test('wants both tolerances or neither', () => {
    torch.scope(() => {
      const a = torch.tensor([1.5], { dtype: 'float32' });
      expect(() => assertClose(a, a, { atol: 1e-3 })).toThrow(/give both atol and rtol or neither/);
    });
  });
});
