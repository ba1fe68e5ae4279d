// Mixed precision: autocast regions (dtype policy and values against PyTorch's torch.autocast,
// nesting, restoring state on every exit path, training with float32 master weights) and
// GradScaler (scale trajectory, skipped steps and parameters against torch.amp.GradScaler on CPU).
import * as torch from '../../src/torch';
import { Tensor, nn } from '../../src/torch';
import { describeWithPython, runPython, type PyTensor } from '../helpers/python';
import { encodeTensor, expectMatches } from '../helpers/torch-python';
import { SeededRandom } from '../helpers/random';

const CPU_BF16 = { deviceType: 'cpu', dtype: 'bfloat16' } as const;

function randomTensor(rng: SeededRandom, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return torch.tensor(
    Float32Array.from({ length: n }, () => rng.next() * 2 - 1),
    { shape },
  );
}

describe('autocast regions', () => {
  test('matmul and linear run in bfloat16, fp32-policy ops (losses) in float32; outside the region nothing changes', () => {
    torch.scope(() => {
      const rng = new SeededRandom(1);
      const a = randomTensor(rng, [4, 5]);
      const b = randomTensor(rng, [5, 3]);
      const dtypes = torch.autocast(CPU_BF16, () => {
        const c = a.matmul(b);
        return [
          c.dtype,
          torch.linear(a, b.t()).dtype,
          torch.F.mseLoss(c, torch.zeros([4, 3], { dtype: 'bfloat16' })).dtype,
          torch.F.crossEntropy(c, torch.tensor([0, 1, 2, 0])).dtype,
        ];
      });
      expect(dtypes).toEqual(['bfloat16', 'bfloat16', 'float32', 'float32']);
      expect(a.matmul(b).dtype).toBe('float32');
    });
  });

  test('state is restored after the region, after an exception, and for nested regions', () => {
    expect(torch.isAutocastEnabled('cpu')).toBe(false);
    const cpuDefault = torch.getAutocastDtype('cpu');
    torch.autocast({ deviceType: 'cpu', dtype: 'float16' }, () => {
      expect([torch.isAutocastEnabled('cpu'), torch.getAutocastDtype('cpu')]).toEqual([true, 'float16']);
      torch.autocast({ deviceType: 'cpu', enabled: false }, () => {
        expect(torch.isAutocastEnabled('cpu')).toBe(false);
        // a disabled inner region computes in float32
        torch.scope(() => expect(torch.ones([2, 2]).matmul(torch.ones([2, 2])).dtype).toBe('float32'));
      });
      expect([torch.isAutocastEnabled('cpu'), torch.getAutocastDtype('cpu')]).toEqual([true, 'float16']);
    });
    expect([torch.isAutocastEnabled('cpu'), torch.getAutocastDtype('cpu')]).toEqual([false, cpuDefault]);
    expect(() =>
      torch.autocast(CPU_BF16, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(torch.isAutocastEnabled('cpu')).toBe(false);
  });

  test('the `using` guard form, and guards left open inside an outer one are closed with it', () => {
    {
      using _region = torch.autocastGuard(CPU_BF16);
      expect(torch.isAutocastEnabled('cpu')).toBe(true);
    }
    expect(torch.isAutocastEnabled('cpu')).toBe(false);
    const outer = torch.autocastGuard(CPU_BF16);
    torch.autocastGuard({ deviceType: 'cpu', enabled: false }); // never closed by its creator
    outer.exit();
    outer.exit(); // idempotent
    expect(torch.isAutocastEnabled('cpu')).toBe(false);
  });

  test('an async function keeps the region until its promise settles', async () => {
    const seen = await torch.autocast(CPU_BF16, async () => {
      await new Promise((r) => setTimeout(r, 1));
      return torch.isAutocastEnabled('cpu');
    });
    expect(seen).toBe(true);
    expect(torch.isAutocastEnabled('cpu')).toBe(false);
  });

  test('bad options are refused; CUDA without a GPU warns and runs disabled, as PyTorch', () => {
    expect(() => torch.autocast({ deviceType: 'mps' as any }, () => 0)).toThrow(/deviceType must be 'cpu' or 'cuda', got mps/);
    expect(() => torch.autocast({ deviceType: 'cpu', dtype: 'float64' as any }, () => 0)).toThrow(
      /dtype must be 'bfloat16' or 'float16', got float64/,
    );
    if (!torch.cuda.isAvailable()) {
      const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
      expect(torch.autocast({ deviceType: 'cuda' }, () => torch.isAutocastEnabled('cuda'))).toBe(false);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/CUDA is unavailable/), 'AutocastWarning');
      warn.mockRestore();
    }
  });

  test('float32 master weights train with bfloat16 compute: grads are float32 and the loss decreases', () => {
    torch.manualSeed(0);
    const model = new nn.Linear(8, 4);
    const rng = new SeededRandom(3);
    const x = torch.keep(randomTensor(rng, [32, 8]));
    const y = torch.keep(randomTensor(rng, [32, 4]));
    using opt = new torch.optim.AdamW(model.parameters(), { lr: 0.05, weightDecay: 0 });
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      torch.scope(() => {
        opt.zeroGrad();
        const loss = torch.autocast(CPU_BF16, () => {
          const out = model.forward(x);
          expect(out.dtype).toBe('bfloat16');
          return torch.F.mseLoss(out, y);
        });
        loss.backward();
        expect(model.weight.grad!.dtype).toBe('float32');
        losses.push(loss.item());
        opt.step();
      });
    }
    expect(model.weight.dtype).toBe('float32');
    expect(losses[29]).toBeLessThan(losses[0] * 0.7);
    x.dispose();
    y.dispose();
    model.dispose();
  });
});

describeWithPython('autocast matches torch.autocast', () => {
  test("bfloat16 matmul and linear give PyTorch's values", () => {
    torch.scope(() => {
      const rng = new SeededRandom(2);
      const a = randomTensor(rng, [6, 16]);
      const b = randomTensor(rng, [16, 5]);
      const bias = randomTensor(rng, [5]);
      const [mm, lin] = torch.autocast(CPU_BF16, () => [a.matmul(b), torch.linear(a, b.t(), bias)]);
      const py = runPython<{ mm: PyTensor; lin: PyTensor }>(
        String.raw`
import torch, torch.nn.functional as F
with torch.autocast("cpu", dtype=torch.bfloat16):
    emit({"mm": INPUT["a"] @ INPUT["b"], "lin": F.linear(INPUT["a"], INPUT["b"].T, INPUT["bias"])})
`,
        { a: encodeTensor(a), b: encodeTensor(b), bias: encodeTensor(bias) },
      );
      expectMatches(mm, py.mm, { atol: 0, rtol: 0 });
      expectMatches(lin, py.lin, { atol: 0, rtol: 0 });
    });
  });
});

// ---- GradScaler ----

// Per iteration, the coefficients c of loss = sum(p * c): the gradient is c (times the scale), so
// an infinite coefficient injects an overflow.
const COEFFS: number[][] = [
  [1, -2, 0.5, 3],
  [0.25, 1, -1, 2], // unscale_ + clip before step
  [1, Infinity, 1, 1], // overflow: skipped, scale backs off
  [-1, 0.5, 0.5, 1],
  [2, 1, -3, 0.5],
  [1, 1, 1, 1], // 3rd clean step in a row: the scale grows
  [NaN, 1, 1, 1], // overflow again
  [0.5, -0.5, 2, 1],
  [1, 2, 3, 4],
  [3, 2, 1, 0.5],
];
const CLIP_AT = 1;
const SCALER_OPTIONS = { initScale: 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 3 };

function runScalerJs(): { params: number[]; scales: number[]; stepped: boolean[] } {
  const p = torch.scope(() => new nn.Parameter(torch.tensor([1, 2, 3, 4], { dtype: 'float32' })));
  using opt = new torch.optim.SGD([p], { lr: 0.1, momentum: 0.9 });
  using scaler = new torch.amp.GradScaler({ device: 'cpu', ...SCALER_OPTIONS });
  const scales: number[] = [];
  const stepped: boolean[] = [];
  COEFFS.forEach((c, i) => {
    torch.scope(() => {
      opt.zeroGrad();
      const loss = p.mul(torch.tensor(c, { dtype: 'float32' })).sum();
      scaler.scale(loss).backward();
      if (i === CLIP_AT) {
        scaler.unscale_(opt);
        torch.optim.clipGradNorm_([p], 1);
      }
      stepped.push(scaler.step(opt));
      scaler.update();
      scales.push(scaler.getScale());
    });
  });
  const params = Array.from(p.toTypedArray() as Float32Array);
  p.dispose();
  return { params, scales, stepped };
}

describeWithPython('GradScaler matches torch.amp.GradScaler (CPU, float32, injected inf/NaN)', () => {
  test('scale trajectory, skipped steps and parameters', () => {
    const js = runScalerJs();
    const py = runPython<{ params: number[]; scales: number[]; stepped: boolean[] }>(
      String.raw`
import torch
cfg = INPUT
p = torch.tensor([1., 2., 3., 4.], requires_grad=True)
opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, foreach=False)
o = cfg["options"]
scaler = torch.amp.GradScaler("cpu", init_scale=o["initScale"], growth_factor=o["growthFactor"],
                              backoff_factor=o["backoffFactor"], growth_interval=o["growthInterval"])
scales, stepped = [], []
for i, c in enumerate(cfg["coeffs"]):
    opt.zero_grad()
    loss = (p * torch.tensor(c, dtype=torch.float32)).sum()
    scaler.scale(loss).backward()
    if i == cfg["clipAt"]:
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_([p], 1.0)
    before = p.detach().clone()
    scaler.step(opt)
    stepped.append(not torch.equal(before, p.detach()))
    scaler.update()
    scales.append(scaler.get_scale())
emit({"params": p.detach().tolist(), "scales": scales, "stepped": stepped})
`,
      { coeffs: COEFFS, clipAt: CLIP_AT, options: SCALER_OPTIONS },
    );
    expect(js.stepped).toEqual(py.stepped);
    expect(js.stepped.filter((s) => !s)).toHaveLength(2);
    expect(js.scales).toEqual(py.scales);
    expect(js.scales).toEqual([16, 16, 8, 8, 8, 16, 8, 8, 8, 16]);
    js.params.forEach((v, i) => expect(Math.abs(v - py.params[i])).toBeLessThan(1e-6));
  });
});

describe('GradScaler', () => {
  test('scale() multiplies by the current scale; unscale_ divides the grads back', () => {
    const p = torch.scope(() => new nn.Parameter(torch.tensor([1, 2], { dtype: 'float32' })));
    using opt = new torch.optim.SGD([p], { lr: 0.1 });
    using scaler = new torch.amp.GradScaler({ device: 'cpu', initScale: 1024 });
    expect(scaler.getScale()).toBe(1024);
    torch.scope(() => {
      const loss = p.mul(torch.tensor([3, 5], { dtype: 'float32' })).sum();
      const scaled = scaler.scale(loss);
      expect(scaled.item()).toBe(13 * 1024);
      const [x, y] = scaler.scale([loss, loss.mul(2)]);
      expect([x.item(), y.item()]).toEqual([13 * 1024, 26 * 1024]);
      scaled.backward();
      expect(p.grad!.tolist()).toEqual([3 * 1024, 5 * 1024]);
      scaler.unscale_(opt);
      expect(p.grad!.tolist()).toEqual([3, 5]);
    });
    p.dispose();
  });

  test('call-order errors, float16 gradients, and a disabled scaler passing through', () => {
    const p = torch.scope(() => new nn.Parameter(torch.tensor([1, 2], { dtype: 'float32' })));
    using opt = new torch.optim.SGD([p], { lr: 0.1 });
    using scaler = new torch.amp.GradScaler({ device: 'cpu' });
    expect(() => scaler.step(opt)).toThrow(/call scaler.scale\(loss\)/);
    expect(() => scaler.update()).toThrow(/call scaler.scale\(loss\)/);
    torch.scope(() => scaler.scale(p.sum()).backward());
    scaler.unscale_(opt);
    expect(() => scaler.unscale_(opt)).toThrow(/already been called on this optimizer since the last update/);
    scaler.step(opt);
    expect(() => scaler.step(opt)).toThrow(/step\(\) has already been called since the last update/);
    expect(() => scaler.unscale_(opt)).toThrow(/unscale_\(\) is being called after step\(\)/);
    scaler.update();
    opt.zeroGrad();
    expect(() => scaler.step(opt)).toThrow(/no inf checks were recorded/);
    scaler.update(4); // an explicit new scale needs no inf checks
    expect(scaler.getScale()).toBe(4);

    const half = torch.scope(() => new nn.Parameter(torch.tensor([1, 2], { dtype: 'float16' })));
    using halfOpt = new torch.optim.SGD([half], { lr: 0.1 });
    torch.scope(() => scaler.scale(half.sum()).backward());
    expect(() => scaler.unscale_(halfOpt)).toThrow(/unscale float16 gradients/);

    using disabled = new torch.amp.GradScaler({ enabled: false });
    torch.scope(() => {
      const loss = p.sum();
      expect(disabled.scale(loss)).toBe(loss);
      opt.zeroGrad();
      loss.backward();
      expect(disabled.step(opt)).toBe(true);
      disabled.update();
    });
    expect([disabled.getScale(), disabled.stateDict()]).toEqual([1, null]);
    p.dispose();
    half.dispose();
  });

  test('invalid settings are refused; a CUDA scaler without a GPU is disabled with a warning', () => {
    expect(() => new torch.amp.GradScaler({ device: 'cpu', growthFactor: 1 })).toThrow(/growthFactor must be > 1/);
    expect(() => new torch.amp.GradScaler({ device: 'cpu', backoffFactor: 1 })).toThrow(/backoffFactor must be in \(0, 1\)/);
    expect(() => new torch.amp.GradScaler({ device: 'cpu', growthInterval: 0 })).toThrow(
      /growthInterval must be a positive integer/,
    );
    expect(() => new torch.amp.GradScaler({ device: 'cpu', initScale: Infinity })).toThrow(
      /initScale must be a finite number > 0/,
    );
    if (!torch.cuda.isAvailable()) {
      const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
      expect(new torch.amp.GradScaler().isEnabled()).toBe(false);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/CUDA is unavailable/), 'GradScalerWarning');
      warn.mockRestore();
    }
  });

  test('state dict round trip (JSON) restores the scale and growth tracker; no tensor leaks per iteration', () => {
    const p = torch.scope(() => new nn.Parameter(torch.tensor([1, 2], { dtype: 'float32' })));
    using opt = new torch.optim.SGD([p], { lr: 0.01 });
    using scaler = new torch.amp.GradScaler({ device: 'cpu', initScale: 8, growthInterval: 5 });
    const iterate = (s: torch.amp.GradScaler) =>
      torch.scope(() => {
        opt.zeroGrad();
        s.scale(p.sum()).backward();
        s.step(opt);
        s.update();
      });
    iterate(scaler);
    const live = torch.memory().liveTensors;
    iterate(scaler);
    iterate(scaler);
    expect(torch.memory().liveTensors).toBe(live);
    const saved = JSON.parse(JSON.stringify(scaler.stateDict()));
    expect(saved).toEqual({ scale: 8, growthFactor: 2, backoffFactor: 0.5, growthInterval: 5, growthTracker: 3 });
    using restored = new torch.amp.GradScaler({ device: 'cpu' });
    restored.loadStateDict(saved);
    iterate(restored);
    iterate(restored); // 5th clean step: grows
    expect(restored.getScale()).toBe(16);
    expect(() => restored.loadStateDict(null)).toThrow(/saved from a disabled GradScaler/);
    expect(() => restored.loadStateDict({ ...saved, scale: 'x' })).toThrow(/'scale' must be a finite number/);
    p.dispose();
  });
});
