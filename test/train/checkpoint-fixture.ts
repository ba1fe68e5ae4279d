// A tiny deterministic training run shared by the checkpoint tests and their crash child process:
// the same `version` always yields the same weights, optimizer state and step.
import * as torch from '../../src/torch';
import { Tensor, nn } from '../../src/torch';

export class TinyNet extends nn.Module {
  first = new nn.Linear(3, 4);
  second = new nn.Linear(4, 2, { bias: false });
  forward(x: Tensor): Tensor {
    return this.second.forward(this.first.forward(x).tanh());
  }
}

export interface Run {
  model: TinyNet;
  optimizer: torch.optim.AdamW;
  step: number;
  dispose(): void;
}

export const SCHEDULE = torch.optim.warmupCosine({ peakLr: 0.05, warmupSteps: 2, totalSteps: 40, minLr: 0.005 });

/** One training step on a batch drawn from torch's generator (so RNG state matters for resuming). */
export function trainStep(run: Run): void {
  torch.scope(() => {
    torch.optim.applyLrSchedule(run.optimizer, SCHEDULE, run.step);
    run.optimizer.zeroGrad();
    const x = torch.randn([6, 3]);
    const y = x.sum(1, true).sin().expand([6, 2]);
    torch.F.mseLoss(run.model.forward(x), y).backward();
    torch.optim.clipGradNorm_(run.model.parameters(), 1);
    run.optimizer.step();
  });
  run.step++;
}

/** A fresh model and optimizer (seeded), trained `steps` steps. */
export function makeRun(steps: number, seed = 0): Run {
  torch.manualSeed(seed);
  const model = new TinyNet();
  const optimizer = new torch.optim.AdamW(
    [{ params: [model.first.weight, model.second.weight] }, { params: [model.first.bias!], weightDecay: 0, lrScale: 0.5 }],
    { weightDecay: 0.1 },
  );
  const run: Run = {
    model,
    optimizer,
    step: 0,
    dispose() {
      optimizer.dispose();
      model.dispose();
    },
  };
  for (let i = 0; i < steps; i++) trainStep(run);
  return run;
}

/** Every model value, for exact comparisons. */
export function weightsOf(model: nn.Module): Record<string, number[]> {
  return Object.fromEntries([...model.stateDict()].map(([k, t]) => [k, Array.from(t.toTypedArray() as Float32Array)]));
}

/** Every optimizer state value, for exact comparisons. */
export function optimizerStateOf(optimizer: torch.optim.Optimizer<torch.optim.BaseOptions>): Record<string, number[]> {
  return torch.scope(() => {
    const sd = optimizer.stateDict();
    return Object.fromEntries(
      [...sd.state].map(([k, t]) => [k, k.endsWith('.step') ? [t.item()] : Array.from(t.toTypedArray() as Float32Array)]),
    );
  });
}
