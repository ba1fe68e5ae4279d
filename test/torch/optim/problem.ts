// A small fixed regression problem (a 3-5-2 tanh MLP, MSE loss) trained the same way here and in
// PyTorch, so optimizer trajectories can be compared step by step.
import * as torch from '../../../src/torch';
import { Tensor, nn } from '../../../src/torch';
import { SeededRandom } from '../../helpers/random';

export const PARAM_NAMES = ['w1', 'b1', 'w2', 'b2'] as const;
export type ParamName = (typeof PARAM_NAMES)[number];
const SHAPES: Record<ParamName, number[]> = { w1: [5, 3], b1: [5], w2: [2, 5], b2: [2] };

export interface Problem {
  init: Record<ParamName, number[]>;
  x: number[];
  y: number[];
}

/** Float32-exact values in (-1, 1) so JS and Python start from identical bits. */
function values(rng: SeededRandom, n: number): number[] {
  return Array.from({ length: n }, () => Math.fround(rng.next() * 2 - 1));
}

export function makeProblem(seed = 7): Problem {
  const rng = new SeededRandom(seed);
  const init = Object.fromEntries(
    PARAM_NAMES.map((n) => [
      n,
      values(
        rng,
        SHAPES[n].reduce((a, b) => a * b, 1),
      ),
    ]),
  ) as Problem['init'];
  return { init, x: values(rng, 8 * 3), y: values(rng, 8 * 2) };
}

export type Params = Record<ParamName, nn.Parameter>;

export function makeParams(problem: Problem): Params {
  return Object.fromEntries(
    PARAM_NAMES.map((n) => [
      n,
      torch.scope(() => new nn.Parameter(torch.tensor(Float32Array.from(problem.init[n]), { shape: SHAPES[n] }))),
    ]),
  ) as Params;
}

export function disposeParams(params: Params): void {
  for (const p of Object.values(params)) p.dispose();
}

export function lossOf(params: Params, problem: Problem): Tensor {
  const x = torch.tensor(Float32Array.from(problem.x), { shape: [8, 3] });
  const y = torch.tensor(Float32Array.from(problem.y), { shape: [8, 2] });
  const hidden = x.matmul(params.w1.t()).add(params.b1).tanh();
  return torch.F.mseLoss(hidden.matmul(params.w2.t()).add(params.b2), y);
}

export interface TrainOptions {
  /** learning rate per step (applied with each group's lrScale), or undefined to keep the group rates */
  lrs?: number[];
  steps: number;
  clip?: { maxNorm: number; normType: number };
}

/** Runs `steps` iterations (zeroGrad, forward, backward, optional clipping, step); returns the clip norms. */
export function train(
  optimizer: torch.optim.Optimizer<torch.optim.BaseOptions>,
  params: Params,
  problem: Problem,
  options: TrainOptions,
  firstStep = 0,
): number[] {
  const norms: number[] = [];
  for (let s = firstStep; s < firstStep + options.steps; s++) {
    torch.scope(() => {
      if (options.lrs) torch.optim.setLr(optimizer, options.lrs[s]);
      optimizer.zeroGrad();
      lossOf(params, problem).backward();
      if (options.clip) norms.push(torch.optim.clipGradNorm_(Object.values(params), options.clip.maxNorm, options.clip.normType));
      optimizer.step();
    });
  }
  return norms;
}

export function paramValues(params: Params): Record<ParamName, number[]> {
  return Object.fromEntries(PARAM_NAMES.map((n) => [n, Array.from(params[n].toTypedArray() as Float32Array)])) as Record<
    ParamName,
    number[]
  >;
}

/**
 * The same training in PyTorch, for a list of runs in one process (importing torch takes seconds).
 * Each run: `groups[i].names` lists the parameters of group i, options use PyTorch's keyword names.
 * Emits, per run, the final parameters and the clip norms.
 */
export const PYTHON_TRAIN = String.raw`
import torch
import torch.nn.functional as F
torch.set_num_threads(1)
shapes = {"w1": [5, 3], "b1": [5], "w2": [2, 5], "b2": [2]}

def run(cfg):
    P = {k: torch.tensor(v, dtype=torch.float32).reshape(shapes[k]).requires_grad_() for k, v in cfg["init"].items()}
    x = torch.tensor(cfg["x"], dtype=torch.float32).reshape(8, 3)
    y = torch.tensor(cfg["y"], dtype=torch.float32).reshape(8, 2)
    groups = [dict(params=[P[n] for n in g["names"]], **g["options"]) for g in cfg["groups"]]
    cls = {"AdamW": torch.optim.AdamW, "SGD": torch.optim.SGD}[cfg["kind"]]
    opt = cls(groups, foreach=False)
    norms = []
    for step in range(cfg["steps"]):
        if cfg["lrs"] is not None:
            for g, scale in zip(opt.param_groups, cfg["lrScales"]):
                g["lr"] = cfg["lrs"][step] * scale
        opt.zero_grad()
        out = torch.tanh(x @ P["w1"].T + P["b1"]) @ P["w2"].T + P["b2"]
        F.mse_loss(out, y).backward()
        if cfg["clip"] is not None:
            norms.append(torch.nn.utils.clip_grad_norm_(list(P.values()), cfg["clip"]["maxNorm"], cfg["clip"]["normType"]).item())
        opt.step()
    return {"params": {k: v.detach().reshape(-1).tolist() for k, v in P.items()}, "norms": norms}

emit([run(cfg) for cfg in INPUT])
`;

const PY_OPTION_NAMES: Record<string, string> = { weightDecay: 'weight_decay' };

/** Options in PyTorch's keyword names. */
export function pythonOptions(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(options)
      .filter(([k]) => k !== 'lrScale')
      .map(([k, v]) => [PY_OPTION_NAMES[k] ?? k, v]),
  );
}
