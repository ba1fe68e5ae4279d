// torch.optim.AdamW / SGD: trajectories against PyTorch on the same problem (with param groups,
// per-step learning rates and gradient clipping), state save/load, lifetime and errors.
import * as torch from '../../../src/torch';
import { Tensor, nn } from '../../../src/torch';
import { native } from '../../../src/torch/native';
import { maxAbsDifference } from '../../helpers/differences';
import { describeWithPython, runPython } from '../../helpers/python';
import {
  PARAM_NAMES,
  PYTHON_TRAIN,
  disposeParams,
  lossOf,
  makeParams,
  makeProblem,
  paramValues,
  pythonOptions,
  train,
  type ParamName,
  type Params,
  type Problem,
} from './problem';

const { AdamW, SGD } = torch.optim;
type AnyOptimizer = torch.optim.Optimizer<torch.optim.BaseOptions>;

interface GroupSetup {
  names: ParamName[];
  options: Record<string, unknown>;
}

interface Scenario {
  kind: 'AdamW' | 'SGD';
  defaults: Record<string, unknown>;
  groups: GroupSetup[];
  steps: number;
  lrs?: number[];
  clip?: { maxNorm: number; normType: number };
}

function build(scenario: Scenario, params: Params): AnyOptimizer {
  const groups = scenario.groups.map((g) => ({ params: g.names.map((n) => params[n]), ...g.options }));
  return scenario.kind === 'AdamW' ? new AdamW(groups as any, scenario.defaults) : new SGD(groups as any, scenario.defaults);
}

function runJs(scenario: Scenario, problem: Problem): { params: Record<ParamName, number[]>; norms: number[] } {
  const params = makeParams(problem);
  using optimizer = build(scenario, params);
  const norms = train(optimizer, params, problem, scenario);
  const out = paramValues(params);
  disposeParams(params);
  return { params: out, norms };
}

type RunResult = { params: Record<ParamName, number[]>; norms: number[] };

function runPy(scenarios: Scenario[], problem: Problem): RunResult[] {
  return runPython(
    PYTHON_TRAIN,
    scenarios.map((scenario) => ({
      ...problem,
      kind: scenario.kind,
      steps: scenario.steps,
      lrs: scenario.lrs ?? null,
      lrScales: scenario.groups.map((g) => (g.options.lrScale as number | undefined) ?? 1),
      clip: scenario.clip ?? null,
      groups: scenario.groups.map((g) => ({ names: g.names, options: pythonOptions({ ...scenario.defaults, ...g.options }) })),
    })),
  );
}

function expectClose(actual: number[], expected: number[], atol: number, what: string): void {
  expect(actual).toHaveLength(expected.length);
  const worst = maxAbsDifference(actual, expected); // Infinity on NaN, which `worst > atol` would pass
  if (worst > atol)
    throw new Error(
      `${what}: max abs difference ${worst} > ${atol}\n  got      ${actual.join(', ')}\n  expected ${expected.join(', ')}`,
    );
}

function maxMove(problem: Problem, params: Record<ParamName, number[]>): number {
  return Math.max(...PARAM_NAMES.flatMap((n) => params[n].map((v, i) => Math.abs(v - problem.init[n][i]))));
}

const problem = makeProblem();
const cosineLrs = (peak: number, steps: number) =>
  Array.from({ length: steps }, (_, s) =>
    torch.optim.warmupCosine({ peakLr: peak, warmupSteps: 4, totalSteps: steps, minLr: peak / 10 })(s),
  );

const SCENARIOS: Record<string, Scenario> = {
  'AdamW, two groups (weight decay on matrices only), warm-up + cosine lr, clipping at 0.5': {
    kind: 'AdamW',
    defaults: { lr: 0.05, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 },
    groups: [
      { names: ['w1', 'w2'], options: {} },
      { names: ['b1', 'b2'], options: { weightDecay: 0, lrScale: 0.5 } },
    ],
    steps: 20,
    lrs: cosineLrs(0.05, 20),
    clip: { maxNorm: 0.5, normType: 2 },
  },
  'AdamW with amsgrad and an infinity-norm clip': {
    kind: 'AdamW',
    defaults: { lr: 0.02, weightDecay: 0.01, amsgrad: true },
    groups: [{ names: ['w1', 'b1', 'w2', 'b2'], options: {} }],
    steps: 20,
    clip: { maxNorm: 0.2, normType: Infinity },
  },
  'SGD with momentum, dampening and weight decay, 1-norm clip': {
    kind: 'SGD',
    defaults: { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 },
    groups: [{ names: ['w1', 'b1', 'w2', 'b2'], options: {} }],
    steps: 20,
    clip: { maxNorm: 1, normType: 1 },
  },
  'SGD with Nesterov momentum, per-group momentum': {
    kind: 'SGD',
    defaults: { lr: 0.1, momentum: 0.9, nesterov: true },
    groups: [
      { names: ['w1', 'w2'], options: {} },
      { names: ['b1', 'b2'], options: { momentum: 0.5, weightDecay: 0.05 } },
    ],
    steps: 20,
    lrs: cosineLrs(0.1, 20),
  },
};

describeWithPython('optimizers match PyTorch step for step', () => {
  let python: Map<string, RunResult>;
  beforeAll(() => {
    const names = Object.keys(SCENARIOS);
    const results = runPy(
      names.map((n) => SCENARIOS[n]),
      problem,
    );
    python = new Map(names.map((n, i) => [n, results[i]]));
  });

  test.each(Object.keys(SCENARIOS))('%s', (name) => {
    const scenario = SCENARIOS[name];
    const js = runJs(scenario, problem);
    const py = python.get(name)!;
    // The run must actually train, or matching would prove nothing.
    expect(maxMove(problem, js.params)).toBeGreaterThan(0.05);
    for (const n of PARAM_NAMES) expectClose(js.params[n], py.params[n], 1e-6, `${name}: ${n}`);
    expectClose(js.norms, py.norms, 1e-5, `${name}: clip norms`);
    if (scenario.clip) expect(js.norms.some((x) => x > scenario.clip!.maxNorm)).toBe(true); // clipping was active
  });
});

describe('state dict', () => {
  const scenario = SCENARIOS['AdamW, two groups (weight decay on matrices only), warm-up + cosine lr, clipping at 0.5'];

  test.each(['AdamW', 'AdamW+amsgrad', 'SGD'])(
    '%s: save after 10 steps, load into a fresh optimizer, continue = uninterrupted',
    (which) => {
      const setup: Scenario =
        which === 'SGD'
          ? SCENARIOS['SGD with Nesterov momentum, per-group momentum']
          : which === 'AdamW+amsgrad'
            ? { ...scenario, defaults: { ...scenario.defaults, amsgrad: true } }
            : scenario;
      const uninterrupted = runJs(setup, problem);

      const first = makeParams(problem);
      const saved = torch.scope(() => {
        using optimizer = build(setup, first);
        train(optimizer, first, problem, { ...setup, steps: 10 });
        const sd = optimizer.stateDict();
        // A snapshot that survives the optimizer, with the hyperparameters through JSON as a checkpoint would.
        return {
          paramGroups: JSON.parse(JSON.stringify(sd.paramGroups)),
          state: new Map([...sd.state].map(([k, t]) => [k, t.clone()])),
          optimizer: sd.optimizer,
        };
      });
      const weights = paramValues(first);
      disposeParams(first);

      const resumed = makeParams({ ...problem, init: weights });
      // A different lr and lrScale in the fresh optimizer: loading must restore the saved ones.
      const fresh = build({ ...setup, defaults: { ...setup.defaults, lr: 123 } }, resumed);
      fresh.loadStateDict(saved);
      for (const t of saved.state.values()) t.dispose();
      train(fresh, resumed, problem, { ...setup, steps: 10 }, 10);
      const continued = paramValues(resumed);
      fresh.dispose();
      disposeParams(resumed);
      for (const n of PARAM_NAMES) expect(continued[n]).toEqual(uninterrupted.params[n]);
    },
  );

  test('layout: keys, step as an int64 scalar, groups with options, lrScale and parameter indices', () => {
    const params = makeParams(problem);
    using optimizer = build(scenario, params);
    const before = optimizer.stateDict();
    expect(before.state.size).toBe(0);
    train(optimizer, params, problem, { ...scenario, steps: 3 });
    torch.scope(() => {
      const sd = optimizer.stateDict();
      expect(sd.optimizer).toBe('AdamW');
      expect([...sd.state.keys()].sort()).toEqual(
        ['0', '1', '2', '3'].flatMap((i) => [`${i}.exp_avg`, `${i}.exp_avg_sq`, `${i}.step`]).sort(),
      );
      const step = sd.state.get('0.step')!;
      expect([step.dtype, step.shape, step.item()]).toEqual(['int64', [], 3]);
      expect(sd.state.get('1.exp_avg')!.shape).toEqual([2, 5]); // parameter 1 is w2 (group 0 holds w1, w2)
      expect(sd.paramGroups).toEqual([
        { lr: scenario.lrs![2], betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, amsgrad: false, lrScale: 1, params: [0, 1] },
        {
          lr: scenario.lrs![2] * 0.5,
          betas: [0.9, 0.95],
          eps: 1e-8,
          weightDecay: 0,
          amsgrad: false,
          lrScale: 0.5,
          params: [2, 3],
        },
      ]);
    });
    disposeParams(params);
  });

  test('the state tensors are live views: they change with the next step', () => {
    const params = makeParams(problem);
    using optimizer = new AdamW(Object.values(params), { lr: 0.01 });
    train(optimizer, params, problem, { steps: 1 });
    torch.scope(() => {
      const expAvg = optimizer.stateDict().state.get('0.exp_avg')!;
      const before = expAvg.clone();
      train(optimizer, params, problem, { steps: 1 });
      expect(torch.equal(before, expAvg)).toBe(false);
    });
    disposeParams(params);
  });

  test('loadStateDict refuses mismatches and leaves the optimizer unchanged', () => {
    const params = makeParams(problem);
    using optimizer = build(scenario, params);
    train(optimizer, params, problem, { ...scenario, steps: 2 });
    torch.scope(() => {
      const sd = optimizer.stateDict();
      const lrBefore = optimizer.paramGroups[0].lr;
      const variants: [string, () => torch.optim.OptimizerStateDict, RegExp][] = [
        ['kind', () => ({ ...sd, optimizer: 'SGD' }), /from SGD, not AdamW/],
        ['group count', () => ({ ...sd, paramGroups: sd.paramGroups.slice(0, 1) }), /1 param groups, the optimizer 2/],
        [
          'group layout',
          () => ({ ...sd, paramGroups: [{ ...sd.paramGroups[0], params: [0] }, sd.paramGroups[1]] }),
          /param group 0 lists parameters \[0\]/,
        ],
        [
          'unknown option',
          () => ({ ...sd, paramGroups: [{ ...sd.paramGroups[0], momentum: 0.9 }, sd.paramGroups[1]] as any }),
          /unknown option 'momentum'/,
        ],
        [
          'bad option value',
          () => ({
            ...sd,
            paramGroups: [
              { ...sd.paramGroups[0], lr: 7 },
              { ...sd.paramGroups[1], betas: [0.9, 1.5] },
            ],
          }),
          /betas\[1\] must be in \[0, 1\)/,
        ],
        [
          'unknown state key',
          () => ({ ...sd, state: new Map([...sd.state, ['0.momentum_buffer', sd.state.get('0.exp_avg')!]]) }),
          /unexpected state key '0.momentum_buffer'/,
        ],
        [
          'index out of range',
          () => ({ ...sd, state: new Map([...sd.state, ['9.exp_avg', sd.state.get('0.exp_avg')!]]) }),
          /unexpected state key '9.exp_avg'/,
        ],
        [
          'shape',
          () => ({ ...sd, state: new Map([...sd.state, ['0.exp_avg', torch.zeros([3])]]) }),
          /shape \[3\] but the parameter has shape \[5, 3\]/,
        ],
        [
          'missing field',
          () => ({ ...sd, state: new Map([...sd.state].filter(([k]) => k !== '2.exp_avg_sq')) }),
          /parameter 2 lacks 'exp_avg_sq'/,
        ],
        ['bad step', () => ({ ...sd, state: new Map([...sd.state, ['0.step', torch.tensor(-1)]]) }), /one non-negative integer/],
      ];
      for (const [, make, message] of variants) expect(() => optimizer.loadStateDict(make())).toThrow(message);
      expect(optimizer.paramGroups[0].lr).toBe(lrBefore);
      expect((optimizer.paramGroups[1].options as torch.optim.AdamWOptions).betas).toEqual([0.9, 0.95]);
      expect(optimizer.stateDict().state.get('0.step')!.item()).toBe(2);
    });
    disposeParams(params);
  });
});

describe('param groups and hyperparameters', () => {
  test("defaults are PyTorch's; group overrides; lr and other options are settable", () => {
    const params = makeParams(problem);
    using adamw = new AdamW([{ params: [params.w1] }, { params: [params.b1], lr: 0.5, betas: [0.8, 0.9] }]);
    expect(adamw.paramGroups[0].options).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false });
    expect(adamw.paramGroups[1].options).toEqual({ lr: 0.5, betas: [0.8, 0.9], eps: 1e-8, weightDecay: 1e-2, amsgrad: false });
    adamw.paramGroups[0].lr = 0.25;
    adamw.paramGroups[1].set({ eps: 1e-6, weightDecay: 0 });
    expect(adamw.paramGroups[0].lr).toBe(0.25);
    expect(torch.scope(() => adamw.stateDict().paramGroups.map((g) => [g.lr, g.eps, g.weightDecay]))).toEqual([
      [0.25, 1e-8, 1e-2],
      [0.5, 1e-6, 0],
    ]);
    // The JS mirror of the hyperparameters agrees with what the native optimizer uses.
    expect(native.optimGroups(adamw._native())).toEqual(adamw.paramGroups.map((g) => g.options));
    using sgd = new SGD([params.w2]);
    expect(sgd.paramGroups[0].options).toEqual({ lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false });
    expect(adamw.params).toEqual([params.w1, params.b1]);
    disposeParams(params);
  });

  test('a learning-rate change takes effect at the next step (an SGD step moves by exactly lr * grad)', () => {
    const p = torch.scope(() => new nn.Parameter(torch.tensor([1, 2], { dtype: 'float64' })));
    using sgd = new SGD([p], { lr: 0.1 });
    const stepWith = (lr: number) => {
      sgd.paramGroups[0].lr = lr;
      sgd.zeroGrad();
      torch.scope(() => p.mul(p).sum().backward()); // grad = 2p
      sgd.step();
    };
    stepWith(0.25); // p -= 0.25 * 2p  -> p / 2
    expect(p.tolist()).toEqual([0.5, 1]);
    stepWith(0.5); // p -= 0.5 * 2p -> 0
    expect(p.tolist()).toEqual([0, 0]);
    p.dispose();
  });

  test('invalid hyperparameters are refused with the group named', () => {
    const params = makeParams(problem);
    const all = Object.values(params);
    expect(() => new AdamW(all, { lr: -1 })).toThrow(/AdamW param group 0: lr must be a finite number >= 0, got -1/);
    expect(() => new AdamW(all, { betas: [1, 0.9] })).toThrow(/betas\[0\] must be in \[0, 1\), got 1/);
    expect(() => new AdamW([{ params: [params.w1] }, { params: [params.b1], eps: NaN }])).toThrow(
      /AdamW param group 1: eps must be a finite number/,
    );
    expect(() => new SGD(all, { nesterov: true })).toThrow(/Nesterov momentum requires a momentum > 0 and zero dampening/);
    expect(() => new SGD(all, { lr: 0.1, momentum: 0.9, dampening: 0.5, nesterov: true })).toThrow(/zero dampening/);
    expect(() => new AdamW(all, { weight_decay: 0.1 } as any)).toThrow(/AdamW: unknown option 'weight_decay'/);
    expect(() => new AdamW([{ params: [params.w1], momentum: 0.9 } as any])).toThrow(
      /AdamW param group 0: unknown option 'momentum'/,
    );
    expect(() => new AdamW([])).toThrow(/empty parameter list/);
    expect(() => new AdamW([{ params: [] }])).toThrow(/param group 0 has no parameters/);
    expect(() => new AdamW([{ params: [params.w1] }, { params: [params.b1, params.w1] }])).toThrow(
      /parameter 1 appears more than once/,
    );
    expect(() => new AdamW([params.w1, { params: [params.b1] }] as any)).toThrow(/mixes Tensors and param groups/);
    expect(() => new AdamW([params.w1, 3] as any)).toThrow(/mixes Tensors and param groups/);
    torch.scope(() => {
      expect(() => new AdamW([params.w1.mul(2)])).toThrow(/parameter 0 is not a leaf tensor/);
      expect(() => new AdamW([torch.tensor([1, 2])])).toThrow(/dtype Long; only floating-point tensors/);
    });
    using ok = new AdamW(all);
    expect(() => (ok.paramGroups[0].lr = Infinity)).toThrow(/lr must be a finite number >= 0, got inf/);
    expect(() => ok.paramGroups[0].set({ betas: [0.5] as any })).toThrow(/betas must be two numbers/);
    expect(ok.paramGroups[0].lr).toBe(1e-3);
    expect(() => (ok.paramGroups[0].lrScale = -1)).toThrow(/lrScale must be a finite number >= 0/);
    disposeParams(params);
  });
});

describe('lifetime', () => {
  test('optimizer state survives the scopes of training steps, and no tensor leaks per step', () => {
    const params = makeParams(problem);
    using optimizer = new AdamW(Object.values(params), { lr: 0.01 });
    train(optimizer, params, problem, { steps: 2 });
    const live = torch.memory().liveTensors;
    train(optimizer, params, problem, { steps: 5 });
    expect(torch.memory().liveTensors).toBe(live);
    torch.scope(() => expect(optimizer.stateDict().state.get('3.step')!.item()).toBe(7));
    disposeParams(params);
  });

  test('zeroGrad: to null by default, to zeros with setToNone: false', () => {
    const params = makeParams(problem);
    using optimizer = new SGD(Object.values(params), { lr: 0.1 });
    torch.scope(() => lossOf(params, problem).backward());
    optimizer.zeroGrad({ setToNone: false });
    torch.scope(() => {
      const g = params.w1.grad!;
      expect(g.abs().sum().item()).toBe(0);
      expect(g.shape).toEqual([5, 3]);
    });
    optimizer.zeroGrad();
    expect(params.w1.grad).toBeNull();
    disposeParams(params);
  });

  test('parameters without gradients are skipped (no state, unchanged)', () => {
    const params = makeParams(problem);
    using optimizer = new AdamW(Object.values(params), { lr: 0.1 });
    const b2 = Array.from(params.b2.toTypedArray() as Float32Array);
    torch.scope(() => params.w1.sum().backward());
    optimizer.step();
    expect(Array.from(params.b2.toTypedArray() as Float32Array)).toEqual(b2);
    expect(torch.scope(() => [...optimizer.stateDict().state.keys()])).toEqual(['0.step', '0.exp_avg', '0.exp_avg_sq']);
    disposeParams(params);
  });

  test('a parameter replaced or disposed after construction is reported at step()', () => {
    const lin = new nn.Linear(3, 2);
    const optimizer = new SGD(lin.parameters(), { lr: 0.1 });
    lin.to('float64'); // replaces the parameters' data
    expect(() => optimizer.step()).toThrow(/parameter 0 \(group 0\) had its data replaced .* Create the optimizer after moving/);
    optimizer.dispose();
    const fresh = new SGD(lin.parameters(), { lr: 0.1 });
    lin.bias!.dispose();
    expect(() => fresh.step()).toThrow(/parameter 1 \(group 0\) has been disposed/);
    fresh.dispose();
    lin.dispose();
  });

  test('a disposed optimizer refuses use; dispose is idempotent', () => {
    const params = makeParams(problem);
    const optimizer = new AdamW(Object.values(params));
    optimizer.dispose();
    optimizer.dispose();
    expect(optimizer.isDisposed).toBe(true);
    expect(() => optimizer.step()).toThrow(/AdamW optimizer has been disposed/);
    expect(() => optimizer.stateDict()).toThrow(/disposed/);
    expect(() => (optimizer.paramGroups[0].lr = 1)).toThrow(/disposed/);
    disposeParams(params);
  });

  test('the native object is checked: a foreign value is refused', () => {
    expect(() => native.optimStep({} as any)).toThrow(/expected a native optimizer object/);
    expect(() => native.optimStep(native.autocastState('cpu') as any)).toThrow(/expected a native optimizer object/);
  });
});

const CLIP_CASES: [normType: number, maxNorm: number][] = [
  [2, 0.1],
  [1, 0.1],
  [Infinity, 0.05],
  [3, 100], // no clipping: the coefficient is clamped to 1
];

describe("AdamW's fused kernel", () => {
  /** Runs `steps` AdamW steps on fixed gradients (the same values every step), as float32 or float64. */
  function run(
    grads: number[][],
    opts: { steps: number; dtype?: torch.DType; transposedGrads?: boolean; amsgrad?: boolean; lateParam?: number },
  ) {
    const dtype = opts.dtype ?? 'float32';
    const params = grads.map((g, i) =>
      torch
        .arange(g.length, { dtype })
        .mul(0.1 * (i + 1))
        .reshape([2, -1])
        .requiresGrad_(),
    );
    using optimizer = new AdamW([{ params: [params[0]] }, { params: params.slice(1), weightDecay: 0 }], {
      lr: 0.05,
      weightDecay: 0.1,
      amsgrad: opts.amsgrad ?? false,
    });
    const profile = torch.profiler.profile(() => {
      for (let s = 0; s < opts.steps; s++) {
        torch.scope(() =>
          params.forEach((p, i) => {
            if (s === 0 && i === opts.lateParam) return; // no gradient at the first step: its step count lags the others'
            const g = torch
              .tensor(
                grads[i].map((v) => v * (1 + 0.3 * s)),
                { dtype },
              )
              .reshape(p.shape);
            // the same values with transposed strides: a gradient the fused kernel does not take
            p.grad = opts.transposedGrads ? g.t().contiguous().t() : g;
          }),
        );
        optimizer.step();
      }
    });
    const values = torch.scope(() => params.map((p) => Array.from(p.detach().toTypedArray() as Float32Array | Float64Array)));
    const calls = (name: string) => profile.keyAverages().find((e) => e.name === name)?.count ?? 0;
    for (const p of params) p.dispose();
    return { values, fusedCalls: calls('aten::_fused_adamw_'), addcdivCalls: calls('aten::addcdiv_') };
  }
  const grads = [
    [0.5, -1, 2, 0.25, 3, -0.5],
    [1, 2, -3, 4],
    [-0.1, 0.2],
  ];

  test('one kernel call per param group and step, none of the unfused operators', () => {
    const r = run(grads, { steps: 3 });
    expect(r.fusedCalls).toBe(2 * 3);
    expect(r.addcdivCalls).toBe(0);
  });

  test('parameters of one group at different step counts: the same result as the unfused step', () => {
    const fused = run(grads, { steps: 4, lateParam: 1 });
    const unfused = run(grads, { steps: 4, lateParam: 1, transposedGrads: true });
    expect(fused.fusedCalls).toBe(8);
    expect(unfused.fusedCalls).toBe(0);
    expect(maxAbsDifference(fused.values.flat(), unfused.values.flat())).toBeLessThan(1e-6);
  });

  test.each([
    ['float32', 'float32', false, 1e-6],
    ['float32 with amsgrad', 'float32', true, 1e-6],
    ['float64', 'float64', false, 1e-12],
  ] as const)(
    '%s: a gradient the kernel cannot take falls back to the unfused step, with the same result',
    (_what, dtype, amsgrad, tol) => {
      const fused = run(grads, { steps: 5, dtype, amsgrad });
      const unfused = run(grads, { steps: 5, dtype, amsgrad, transposedGrads: true });
      expect(fused.fusedCalls).toBe(10);
      expect(unfused.fusedCalls).toBe(0);
      expect(unfused.addcdivCalls).toBeGreaterThan(0);
      expect(maxAbsDifference(fused.values.flat(), unfused.values.flat())).toBeLessThan(tol);
      // and the steps moved the parameters (matching would prove nothing otherwise): this one starts at 0
      expect(Math.abs(fused.values[1][0])).toBeGreaterThan(0.1);
    },
  );
});

describeWithPython('clipGradNorm_ matches torch.nn.utils.clip_grad_norm_', () => {
  let python: { total: number; grads: Record<string, number[]> }[];
  beforeAll(() => {
    python = runPython(
      String.raw`
import torch, torch.nn.functional as F
shapes = {"w1": [5, 3], "b1": [5], "w2": [2, 5], "b2": [2]}
def clip(problem, norm_type, max_norm):
    P = {k: torch.tensor(v, dtype=torch.float32).reshape(shapes[k]).requires_grad_() for k, v in problem["init"].items()}
    x = torch.tensor(problem["x"]).reshape(8, 3); y = torch.tensor(problem["y"]).reshape(8, 2)
    F.mse_loss(torch.tanh(x @ P["w1"].T + P["b1"]) @ P["w2"].T + P["b2"], y).backward()
    total = torch.nn.utils.clip_grad_norm_(list(P.values()), max_norm, norm_type).item()
    return {"total": total, "grads": {k: v.grad.reshape(-1).tolist() for k, v in P.items()}}
emit([clip(INPUT["problem"], n, m) for n, m in INPUT["cases"]])
`,
      { problem, cases: CLIP_CASES },
    );
  });

  test.each(CLIP_CASES.map((c, i) => [...c, i]))('normType %p, maxNorm %p', (normType, maxNorm, i) => {
    const params = makeParams(problem);
    torch.scope(() => lossOf(params, problem).backward());
    const total = torch.optim.clipGradNorm_(Object.values(params), maxNorm, normType);
    const grads = Object.fromEntries(
      PARAM_NAMES.map((n) => [n, torch.scope(() => Array.from(params[n].grad!.toTypedArray() as Float32Array))]),
    );
    expect(Math.abs(total - python[i].total)).toBeLessThan(1e-6);
    for (const n of PARAM_NAMES) expectClose(grads[n], python[i].grads[n], 1e-7, n);
    disposeParams(params);
  });
});

describe('clipGradNorm_ edge cases', () => {
  test('no gradients: returns 0 and changes nothing', () => {
    const p = torch.scope(() => new nn.Parameter(torch.ones([3])));
    expect(torch.optim.clipGradNorm_([p], 1)).toBe(0);
    expect(torch.optim.clipGradNorm_(p, 1)).toBe(0);
    p.dispose();
  });

  test('a non-finite norm: scaled by default (to NaN, as PyTorch), or refused with errorIfNonfinite', () => {
    const p = torch.scope(() => new nn.Parameter(torch.ones([2])));
    torch.scope(() => (p.grad = torch.tensor([Infinity, 1], { dtype: 'float32' })));
    expect(() => torch.optim.clipGradNorm_([p], 1, 2, { errorIfNonfinite: true })).toThrow(
      /total norm of order 2 .* is non-finite/,
    );
    expect(torch.optim.clipGradNorm_([p], 1)).toBe(Infinity);
    torch.scope(() => expect(p.grad!.tolist()).toEqual([NaN, 0]));
    expect(() => torch.optim.clipGradNorm_([p], NaN)).toThrow(/maxNorm must be a number/);
    expect(() => torch.optim.clipGradNorm_([3 as unknown as Tensor], 1)).toThrow(/params\[0\] is not a Tensor/);
    p.dispose();
  });
});
