// torch.latentStep (native/kernels/latent_step.cc, .cu) against latentStepReference, the same formula
// composed from primitive operators: forward values and all six gradients, finite differences,
// reduced precisions, strided inputs, argument errors, autograd behaviour and (when a GPU is
// visible) the CUDA kernels.
import * as torch from '../../../src/torch';
import { Tensor } from '../../../src/torch';
import { latentStep, latentStepReference, type LatentStepOutput } from '../../../src/torch/kernels/latent-step';

type FloatDType = 'float32' | 'float64' | 'bfloat16' | 'float16';
type StepFn = typeof latentStep;

interface Inputs {
  h: Tensor;
  normWeight: Tensor;
  gain: Tensor;
  bias: Tensor;
  stopWeight: Tensor;
  stopBias: Tensor;
  scale: number;
}

const RESULT_NAMES = [
  'embed',
  'stopLogit',
  'grad h',
  'grad normWeight',
  'grad gain',
  'grad bias',
  'grad stopWeight',
  'grad stopBias',
];
const SCALE = 0.37;

interface InputOptions {
  dtype?: FloatDType;
  device?: string;
  stopBiasShape?: number[];
  seed?: number;
}

/**
 * Leaf tensors requiring grad. Values are drawn in float64 on the CPU and then converted, so the same
 * seed gives the same (rounded) values in every dtype and on every device.
 */
function makeInputs(rows: number, dim: number, options: InputOptions = {}): Inputs {
  const { dtype = 'float64', device = 'cpu', stopBiasShape = [], seed = 1 } = options;
  torch.manualSeed(seed);
  const leaf = (t: Tensor): Tensor => t.to(dtype).to(device).detach().requiresGrad_();
  const f64 = { dtype: 'float64' as const };
  return {
    h: leaf(torch.randn([rows, dim], f64).mul(2)),
    normWeight: leaf(torch.randn([dim], f64).mul(0.2).add(1)),
    gain: leaf(torch.randn([dim], f64).mul(0.2).add(1)),
    bias: leaf(torch.randn([dim], f64).mul(0.1)),
    stopWeight: leaf(torch.randn([dim], f64).mul(1 / Math.sqrt(dim))),
    stopBias: leaf(torch.randn(stopBiasShape, f64)),
    scale: SCALE,
  };
}

const tensorsOf = (x: Inputs): Tensor[] => [x.h, x.normWeight, x.gain, x.bias, x.stopWeight, x.stopBias];

const call = (fn: StepFn, x: Inputs): LatentStepOutput =>
  fn(x.h, x.normWeight, x.gain, x.bias, x.scale, x.stopWeight, x.stopBias);

/** The same inputs as float64 CPU leaves (exact: every float dtype converts to float64 exactly). */
function asFloat64(x: Inputs): Inputs {
  const leaf = (t: Tensor): Tensor => t.detach().to('cpu').to('float64').requiresGrad_();
  return {
    h: leaf(x.h),
    normWeight: leaf(x.normWeight),
    gain: leaf(x.gain),
    bias: leaf(x.bias),
    stopWeight: leaf(x.stopWeight),
    stopBias: leaf(x.stopBias),
    scale: x.scale,
  };
}

/** Upstream gradients for embed and stopLogit (drawn in float64, converted like the inputs). */
function upstream(x: Inputs, seed = 7): [Tensor, Tensor] {
  torch.manualSeed(seed);
  const [rows, dim] = x.h.shape;
  const as = (t: Tensor) => t.to(x.h.dtype).to(x.h.device);
  return [as(torch.randn([rows, dim], { dtype: 'float64' })), as(torch.randn([rows], { dtype: 'float64' }))];
}

/** [embed, stopLogit, dh, dnormWeight, dgain, dbias, dstopWeight, dstopBias] */
function outputsAndGradients(fn: StepFn, x: Inputs, gradEmbed: Tensor, gradStop: Tensor): Tensor[] {
  const out = call(fn, x);
  const grads = torch.autograd.grad([out.embed, out.stopLogit], tensorsOf(x), { gradOutputs: [gradEmbed, gradStop] });
  return [
    out.embed,
    out.stopLogit,
    ...grads.map((g, i) => {
      if (g === null) throw new Error(`no gradient for input ${i}`);
      return g;
    }),
  ];
}

function expectAllClose(actual: Tensor[], expected: Tensor[], tol: { atol: number; rtol: number }, what: string): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    expect(a.shape).toEqual(expected[i].shape);
    const onCpu64 = (t: Tensor) => t.detach().to('cpu').to('float64');
    torch.testing.assertClose(onCpu64(a), onCpu64(expected[i]), { ...tol, msg: `${what}: ${RESULT_NAMES[i]}` });
  });
}

// Reduced precisions: latentStep computes in float32 from exactly converted inputs and rounds each
// result once, so it is within one rounding (the unit roundoff u) of the exact value.
const UNIT_ROUNDOFF: Record<FloatDType, number> = { float64: 2 ** -53, float32: 2 ** -24, bfloat16: 2 ** -8, float16: 2 ** -11 };
const TYPED_TOLERANCE: Record<FloatDType, { atol: number; rtol: number }> = {
  float64: { atol: 1e-10, rtol: 1e-10 },
  float32: { atol: 1e-5, rtol: 1e-5 },
  bfloat16: { atol: 1e-4, rtol: 1.01 * UNIT_ROUNDOFF.bfloat16 },
  float16: { atol: 1e-4, rtol: 1.01 * UNIT_ROUNDOFF.float16 },
};

/**
 * latentStep in `dtype` on `device` against the float64 composition on the same (rounded) inputs and
 * upstream gradients: forward values and all six gradients.
 */
function checkAgainstFloat64Reference(
  rows: number,
  dim: number,
  dtype: FloatDType,
  device: string,
  stopBiasShape: number[] = [],
): void {
  torch.scope(() => {
    const x = makeInputs(rows, dim, { dtype, device, stopBiasShape });
    const [ge, gs] = upstream(x);
    const fused = outputsAndGradients(latentStep, x, ge, gs);
    fused.forEach((t, i) => {
      expect(t.dtype).toBe(dtype);
      expect(t.device).toBe(x.h.device);
      if (i >= 2) expect(t.shape).toEqual(tensorsOf(x)[i - 2].shape);
    });
    const reference = outputsAndGradients(
      latentStepReference,
      asFloat64(x),
      ge.to('cpu').to('float64'),
      gs.to('cpu').to('float64'),
    );
    expectAllClose(fused, reference, TYPED_TOLERANCE[dtype], `${dtype} [${rows}, ${dim}] on ${device}`);
  });
}

const SHAPES: [number, number][] = [1, 3, 64].flatMap((rows) => [64, 896, 4096].map((dim): [number, number] => [rows, dim]));

describe('latentStep matches the composition of primitive operators (CPU)', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    test.each(SHAPES)(`${dtype}: B=%i, D=%i, values and all gradients, same dtype`, (rows, dim) => {
      torch.scope(() => {
        const x = makeInputs(rows, dim, { dtype });
        const [ge, gs] = upstream(x);
        expectAllClose(
          outputsAndGradients(latentStep, x, ge, gs),
          outputsAndGradients(latentStepReference, x, ge, gs),
          TYPED_TOLERANCE[dtype],
          dtype,
        );
      });
    });
  }

  test('a one-element stopBias of shape [1] keeps its shape in the gradient', () => {
    checkAgainstFloat64Reference(3, 40, 'float64', 'cpu', [1]);
  });

  test('eps enters as in RMSNorm (large eps, small h)', () => {
    torch.scope(() => {
      const x = makeInputs(4, 33);
      const h = x.h.detach().mul(1e-3).requiresGrad_();
      const y = { ...x, h };
      const fused = latentStep(h, y.normWeight, y.gain, y.bias, y.scale, y.stopWeight, y.stopBias, 0.5);
      const ref = latentStepReference(h, y.normWeight, y.gain, y.bias, y.scale, y.stopWeight, y.stopBias, 0.5);
      torch.testing.assertClose(fused.embed, ref.embed, { atol: 1e-12, rtol: 1e-12 });
      torch.testing.assertClose(fused.stopLogit, ref.stopLogit, { atol: 1e-12, rtol: 1e-12 });
    });
  });

  test('an empty batch gives empty outputs and zero parameter gradients', () => {
    torch.scope(() => {
      const x = makeInputs(0, 16);
      const [ge, gs] = upstream(x);
      const [embed, stop, gh, ...paramGrads] = outputsAndGradients(latentStep, x, ge, gs);
      expect(embed.shape).toEqual([0, 16]);
      expect(stop.shape).toEqual([0]);
      expect(gh.shape).toEqual([0, 16]);
      for (const g of paramGrads) expect(g.abs().sum().item()).toBe(0);
    });
  });
});

describe('latentStep gradients against finite differences (float64)', () => {
  // D = 5 stays below the kernels' 16 accumulation lanes; D = 37 has full lanes and a tail.
  test.each([
    [1, 5, []],
    [2, 37, []],
    [3, 37, [1]],
  ] as [number, number, number[]][])('B=%i, D=%i, stopBias shape %j', (rows, dim, stopBiasShape) => {
    torch.scope(() => {
      const x = makeInputs(rows, dim, { stopBiasShape });
      const step = (h: Tensor, w: Tensor, g: Tensor, b: Tensor, sw: Tensor, sb: Tensor) => {
        const out = latentStep(h, w, g, b, SCALE, sw, sb);
        return [out.embed, out.stopLogit];
      };
      expect(torch.testing.gradcheck(step, tensorsOf(x), { atol: 1e-7, rtol: 1e-5 })).toBe(true);
    });
  });

  test('second order: the createGraph gradients are themselves differentiable', () => {
    torch.scope(() => {
      const x = makeInputs(2, 6);
      const [ge, gs] = upstream(x);
      // gradcheck's finite differences call this with gradient recording off and with inputs that
      // do not require grad: the first-order gradients need both.
      const firstOrder = (...inputs: Tensor[]) =>
        torch.enableGrad(() => {
          const [h, w, g, b, sw, sb] = inputs.map((t) => (t.requiresGrad ? t : t.detach().requiresGrad_()));
          const out = latentStep(h, w, g, b, SCALE, sw, sb);
          const grads = torch.autograd.grad([out.embed, out.stopLogit], [h, w, g, sw], {
            gradOutputs: [ge, gs],
            createGraph: true,
          });
          return grads.map((t) => t!);
        });
      expect(torch.testing.gradcheck(firstOrder, tensorsOf(x), { atol: 1e-7, rtol: 1e-5 })).toBe(true);
    });
  });
});

describe('latentStep in reduced precision (CPU)', () => {
  for (const dtype of ['bfloat16', 'float16'] as const) {
    test.each([
      [1, 64],
      [3, 896],
      [64, 4096],
    ])(`${dtype}: B=%i, D=%i, within one rounding of the exact values`, (rows, dim) => {
      checkAgainstFloat64Reference(rows, dim, dtype, 'cpu');
    });
  }

  test('bfloat16: closer to the exact values than the bfloat16 composition', () => {
    torch.scope(() => {
      const x = makeInputs(8, 896, { dtype: 'bfloat16' });
      const exact = call(latentStepReference, asFloat64(x));
      const error = (out: LatentStepOutput, key: keyof LatentStepOutput) => out[key].double().sub(exact[key]).abs().max().item();
      const fused = call(latentStep, x);
      const composed = call(latentStepReference, x);
      for (const key of ['embed', 'stopLogit'] as const) expect(error(fused, key)).toBeLessThan(error(composed, key));
    });
  });
});

describe('latentStep with strided and non-contiguous inputs', () => {
  test('h as the last position of [B, T, D] (strided rows, no copy needed) and its gradient', () => {
    torch.scope(() => {
      const x = makeInputs(3, 50);
      torch.manualSeed(3);
      const hidden = torch.randn([3, 4, 50], { dtype: 'float64' }).requiresGrad_();
      const h = hidden.select(1, -1);
      expect(h.isContiguous()).toBe(false);
      const y = { ...x, h };
      const [ge, gs] = upstream(y);
      const fusedOut = call(latentStep, y);
      const refOut = call(latentStepReference, y);
      torch.testing.assertClose(fusedOut.embed, refOut.embed, { atol: 1e-10, rtol: 1e-10 });
      const [fusedGrad] = torch.autograd.grad([fusedOut.embed, fusedOut.stopLogit], [hidden], { gradOutputs: [ge, gs] });
      const [refGrad] = torch.autograd.grad([refOut.embed, refOut.stopLogit], [hidden], { gradOutputs: [ge, gs] });
      torch.testing.assertClose(fusedGrad!, refGrad!, { atol: 1e-10, rtol: 1e-10 });
      expect(fusedGrad!.select(1, 0).abs().sum().item()).toBe(0);
    });
  });

  test('transposed h, strided parameter vectors and an expanded upstream gradient', () => {
    torch.scope(() => {
      const x = makeInputs(5, 24);
      const hT = x.h.detach().t().contiguous().requiresGrad_(); // [D, B]
      const h = hT.t(); // [B, D] with column-major strides
      const strided = (t: Tensor) => torch.stack([t.detach(), t.detach()], 1).requiresGrad_(); // [D, 2]
      const parents = [x.normWeight, x.gain, x.bias, x.stopWeight].map(strided);
      const [w, g, b, sw] = parents.map((p) => p.select(1, 1));
      expect(w.isContiguous()).toBe(false);
      const lossOf = (fn: StepFn) => {
        const out = fn(h, w, g, b, SCALE, sw, x.stopBias);
        // sum()'s gradient reaches embed as an expanded (stride 0) tensor
        return out.embed.sum().add(out.stopLogit.mul(out.stopLogit).sum());
      };
      const inputs = [hT, ...parents, x.stopBias];
      const fused = torch.autograd.grad([lossOf(latentStep)], inputs);
      const ref = torch.autograd.grad([lossOf(latentStepReference)], inputs);
      fused.forEach((t, i) => torch.testing.assertClose(t!, ref[i]!, { atol: 1e-10, rtol: 1e-10, msg: `input ${i}` }));
    });
  });
});

describe('latentStep autograd behaviour', () => {
  test('records one node; none under noGrad or without inputs that require grad', () => {
    torch.scope(() => {
      const x = makeInputs(2, 8);
      expect(call(latentStep, x).embed.gradFn).toMatch(/LatentStep/);
      expect(call(latentStep, x).stopLogit.requiresGrad).toBe(true);
      const detached = {
        ...x,
        h: x.h.detach(),
        normWeight: x.normWeight.detach(),
        gain: x.gain.detach(),
        bias: x.bias.detach(),
        stopWeight: x.stopWeight.detach(),
        stopBias: x.stopBias.detach(),
      };
      expect(call(latentStep, detached).embed.requiresGrad).toBe(false);
      const out = torch.noGrad(() => call(latentStep, x));
      expect(out.embed.requiresGrad).toBe(false);
      expect(out.embed.gradFn).toBeNull();
      const inference = torch.inferenceMode(() => call(latentStep, x));
      torch.testing.assertClose(inference.embed, out.embed, { atol: 0, rtol: 0 });
    });
  });

  test('only the inputs that require grad get gradients; an unused output counts as zero gradient', () => {
    torch.scope(() => {
      const x = makeInputs(3, 20);
      const frozen = { ...x, normWeight: x.normWeight.detach(), stopWeight: x.stopWeight.detach() };
      const fusedOut = call(latentStep, frozen);
      fusedOut.embed.square().sum().backward();
      const refX = asFloat64(frozen);
      call(latentStepReference, refX).embed.square().sum().backward();
      expect(frozen.normWeight.grad).toBeNull();
      expect(frozen.stopWeight.grad).toBeNull();
      for (const key of ['h', 'gain', 'bias'] as const)
        torch.testing.assertClose(frozen[key].grad!, refX[key].grad!, { atol: 1e-10, rtol: 1e-10, msg: key });
      // stopLogit took no part in the loss: the composition leaves stopBias out of the graph, the
      // fused node gives it a zero gradient
      expect(refX.stopBias.grad).toBeNull();
      expect(frozen.stopBias.grad!.item()).toBe(0);
    });
  });

  test('in-place modification of a saved input is detected at backward', () => {
    torch.scope(() => {
      const x = makeInputs(2, 8);
      const h = x.h.mul(1);
      const out = latentStep(h, x.normWeight, x.gain, x.bias, SCALE, x.stopWeight, x.stopBias);
      h.add_(1);
      expect(() => out.embed.sum().backward()).toThrow(/modified by an inplace operation/);
    });
  });

  test('frees what it allocates inside a scope', () => {
    const before = torch.memory().liveTensors;
    torch.scope(() => {
      const x = makeInputs(4, 32);
      const out = call(latentStep, x);
      out.embed.sum().add(out.stopLogit.sum()).backward();
    });
    expect(torch.memory().liveTensors).toBe(before);
  });
});

describe('latentStep argument errors', () => {
  const errorOf = (fn: () => unknown): { name: string; message: string } => {
    try {
      fn();
    } catch (e) {
      return { name: (e as Error).name, message: (e as Error).message };
    }
    throw new Error('expected an error');
  };

  let x: Inputs;
  let cleanup: { [Symbol.dispose](): void };
  beforeEach(() => {
    cleanup = torch.scopeGuard();
    x = makeInputs(2, 8);
  });
  afterEach(() => cleanup[Symbol.dispose]());

  const withArgs = (change: Partial<Inputs> & { eps?: number }) => () => {
    const y = { ...x, ...change };
    return latentStep(y.h, y.normWeight, y.gain, y.bias, y.scale, y.stopWeight, y.stopBias, change.eps);
  };

  test('shapes', () => {
    expect(errorOf(withArgs({ h: torch.zeros([8], { dtype: 'float64' }) }))).toMatchObject({
      name: 'ValueError',
      message: expect.stringMatching(/h must be \[B, D\]/),
    });
    expect(errorOf(withArgs({ h: torch.zeros([2, 3, 8], { dtype: 'float64' }) })).name).toBe('ValueError');
    expect(errorOf(withArgs({ h: torch.zeros([2, 0], { dtype: 'float64' }) })).message).toMatch(/no features/);
    expect(errorOf(withArgs({ normWeight: torch.zeros([9], { dtype: 'float64' }) }))).toMatchObject({
      name: 'ValueError',
      message: expect.stringMatching(/normWeight must have shape \[8\]/),
    });
    expect(errorOf(withArgs({ gain: torch.zeros([1, 8], { dtype: 'float64' }) })).message).toMatch(/gain must have shape/);
    expect(errorOf(withArgs({ bias: torch.zeros([4], { dtype: 'float64' }) })).message).toMatch(/bias must have shape/);
    expect(errorOf(withArgs({ stopWeight: torch.zeros([7], { dtype: 'float64' }) })).message).toMatch(
      /stopWeight must have shape/,
    );
    expect(errorOf(withArgs({ stopBias: torch.zeros([2], { dtype: 'float64' }) }))).toMatchObject({
      name: 'ValueError',
      message: expect.stringMatching(/stopBias must be a scalar/),
    });
    // the message names the op and its tensor arguments
    expect(errorOf(withArgs({ gain: torch.zeros([3], { dtype: 'float64' }) })).message).toMatch(
      /in torch\.latentStep\(arg0: Tensor\[\[2, 8\], float64, cpu\]/,
    );
  });

  test('dtypes', () => {
    expect(errorOf(withArgs({ gain: torch.zeros([8], { dtype: 'float32' }) }))).toMatchObject({
      name: 'TypeError',
      message: expect.stringMatching(/gain has dtype float32 but h has float64/),
    });
    const ints = (shape: number[]) => torch.zeros(shape, { dtype: 'int64' });
    const allInt = {
      h: ints([2, 8]),
      normWeight: ints([8]),
      gain: ints([8]),
      bias: ints([8]),
      stopWeight: ints([8]),
      stopBias: ints([]),
    };
    expect(errorOf(withArgs(allInt))).toMatchObject({
      name: 'TypeError',
      message: expect.stringMatching(/supports float32, float64, float16 and bfloat16/),
    });
  });

  test('devices', () => {
    const meta = (shape: number[]) => torch.zeros(shape, { dtype: 'float64', device: 'meta' });
    expect(errorOf(withArgs({ bias: meta([8]) }))).toMatchObject({
      name: 'RuntimeError',
      message: expect.stringMatching(/all tensors on one device, but h is on cpu and bias on meta/),
    });
    const allMeta = {
      h: meta([2, 8]),
      normWeight: meta([8]),
      gain: meta([8]),
      bias: meta([8]),
      stopWeight: meta([8]),
      stopBias: meta([]),
    };
    expect(errorOf(withArgs(allMeta)).message).toMatch(/unsupported device meta/);
  });

  test('scale, eps and non-tensor arguments', () => {
    expect(errorOf(withArgs({ scale: NaN }))).toMatchObject({
      name: 'TypeError',
      message: expect.stringMatching(/scale must be a finite number/),
    });
    expect(errorOf(withArgs({ eps: -1 })).message).toMatch(/eps must be a finite number >= 0/);
    expect(errorOf(withArgs({ gain: [1, 2] as unknown as Tensor }))).toMatchObject({
      name: 'TypeError',
      message: 'latentStep: gain must be a Tensor, got object',
    });
    const disposed = torch.zeros([8], { dtype: 'float64' });
    disposed.dispose();
    expect(errorOf(withArgs({ bias: disposed })).name).toBe('DisposedTensorError');
  });
});

// ---- CUDA ----
const cudaReason = torch.cuda.unavailableReason();
if (cudaReason !== null) console.warn(`latentStep CUDA tests skipped: ${cudaReason}`);
const describeCuda = cudaReason === null ? describe : describe.skip;

(cudaReason === null ? describe.skip : describe)('without a usable GPU', () => {
  test('CUDA inputs cannot be made, and the error says why (not a crash)', () => {
    expect(torch.cuda.isAvailable()).toBe(false);
    expect(cudaReason).toMatch(/\S/);
    let error: Error | null = null;
    try {
      torch.zeros([2, 8], { device: 'cuda' });
    } catch (e) {
      error = e as Error;
    }
    expect(error?.name).toBe('CudaUnavailableError');
  });
});

describeCuda('latentStep on CUDA', () => {
  const CUDA_SHAPES: [number, number][] = [
    [1, 64],
    [1, 896],
    [3, 4096],
    [8, 896],
    [64, 4096],
    [300, 37],
  ];
  for (const dtype of ['float32', 'float64', 'bfloat16', 'float16'] as const) {
    test.each(CUDA_SHAPES)(`${dtype}: B=%i, D=%i, values and all gradients`, (rows, dim) => {
      checkAgainstFloat64Reference(rows, dim, dtype, 'cuda');
    });
  }

  test('CUDA and CPU kernels agree (float32), strided rows included', () => {
    torch.scope(() => {
      torch.manualSeed(5);
      const hidden = torch.randn([6, 3, 896]);
      const results = ['cpu', 'cuda'].map((device) => {
        const x = makeInputs(6, 896, { dtype: 'float32', device });
        const h = hidden.to(device).detach().requiresGrad_();
        const y = { ...x, h: h.select(1, 2) };
        const [ge, gs] = upstream(y);
        const out = outputsAndGradients(latentStep, y, ge, gs);
        return [
          ...out.slice(0, 2),
          ...torch.autograd.grad([call(latentStep, y).embed], [h], { gradOutputs: [ge] }).map((t) => t!),
        ];
      });
      results[1].forEach((t, i) =>
        torch.testing.assertClose(t.cpu(), results[0][i], { atol: 1e-5, rtol: 1e-5, msg: `result ${i}` }),
      );
    });
  });

  test('inputs on different devices are rejected', () => {
    torch.scope(() => {
      const x = makeInputs(2, 8, { device: 'cuda' });
      expect(() => latentStep(x.h, x.normWeight.cpu(), x.gain, x.bias, SCALE, x.stopWeight, x.stopBias)).toThrow(
        /all tensors on one device, but h is on cuda:0 and normWeight on cpu/,
      );
    });
  });
});
