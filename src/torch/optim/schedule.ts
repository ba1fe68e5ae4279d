// Learning-rate schedules: pure functions of the step, so a schedule's whole state is its config
// plus the step a run has reached (which checkpoints record anyway).
import { ValueError } from '../errors';
import type { BaseOptions, Optimizer } from './optimizer';

export type DecayShape = 'cosine' | 'linear' | 'constant';

/** The complete description of a schedule (JSON-serializable; see scheduleFromConfig). */
export interface ScheduleConfig {
  /** the rate at the end of warm-up */
  peakLr: number;
  /** steps of linear warm-up from peakLr / warmupSteps up to peakLr (0: start at peakLr) */
  warmupSteps: number;
  /** steps of the whole run, warm-up included: the decay reaches minLr there and stays */
  totalSteps: number;
  /** how the rate falls from peakLr to minLr after warm-up ('constant': it does not) */
  decay: DecayShape;
  /** the floor the decay ends at */
  minLr: number;
}

/**
 * The learning rate for a step: `step` is the 0-based index of the optimizer step about to be taken
 * (the number of updates done so far). `config` describes it completely.
 */
export interface LrSchedule {
  (step: number): number;
  readonly config: Readonly<ScheduleConfig>;
}

export interface WarmupDecayOptions {
  peakLr: number;
  totalSteps: number;
  warmupSteps?: number;
  decay?: DecayShape;
  minLr?: number;
}

function checkNumber(name: string, v: unknown, { integer = false } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v)))
    throw new ValueError(
      `learning-rate schedule: ${name} must be a finite ${integer ? 'integer' : 'number'} >= 0, got ${String(v)}`,
    );
  return v;
}

/**
 * Linear warm-up, then cosine, linear or no decay down to a floor:
 *   step < warmupSteps:  peakLr * (step + 1) / warmupSteps
 *   afterwards:          minLr + (peakLr - minLr) * f(p),  p = (step - warmupSteps) / (totalSteps - warmupSteps) clamped to [0, 1]
 * with f(p) = (1 + cos(pi p)) / 2 (cosine), 1 - p (linear) or 1 (constant).
 */
export function warmupDecay(options: WarmupDecayOptions): LrSchedule {
  const config: ScheduleConfig = {
    peakLr: checkNumber('peakLr', options.peakLr),
    warmupSteps: checkNumber('warmupSteps', options.warmupSteps ?? 0, { integer: true }),
    totalSteps: checkNumber('totalSteps', options.totalSteps, { integer: true }),
    decay: options.decay ?? 'cosine',
    minLr: checkNumber('minLr', options.minLr ?? 0),
  };
  if (!['cosine', 'linear', 'constant'].includes(config.decay))
    throw new ValueError(`learning-rate schedule: decay must be 'cosine', 'linear' or 'constant', got ${String(config.decay)}`);
  if (config.minLr > config.peakLr)
    throw new ValueError(`learning-rate schedule: minLr (${config.minLr}) is above peakLr (${config.peakLr})`);
  if (config.warmupSteps > config.totalSteps)
    throw new ValueError(`learning-rate schedule: warmupSteps (${config.warmupSteps}) exceeds totalSteps (${config.totalSteps})`);
  Object.freeze(config);
  const { peakLr, warmupSteps, totalSteps, decay, minLr } = config;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const schedule = (step: number): number => {
    if (!Number.isSafeInteger(step) || step < 0)
      throw new ValueError(`learning-rate schedule: step must be an integer >= 0, got ${String(step)}`);
    if (step < warmupSteps) return (peakLr * (step + 1)) / warmupSteps;
    if (decay === 'constant') return peakLr;
    const progress = Math.min(1, (step - warmupSteps) / decaySteps);
    const fraction = decay === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
    return minLr + (peakLr - minLr) * fraction;
  };
  return Object.assign(schedule, { config });
}

/** Linear warm-up, then cosine decay to minLr (default 0) at totalSteps. */
export function warmupCosine(options: Omit<WarmupDecayOptions, 'decay'>): LrSchedule {
  return warmupDecay({ ...options, decay: 'cosine' });
}

/** Linear warm-up, then linear decay to minLr (default 0) at totalSteps. */
export function warmupLinear(options: Omit<WarmupDecayOptions, 'decay'>): LrSchedule {
  return warmupDecay({ ...options, decay: 'linear' });
}

/** A constant rate, optionally after a linear warm-up. */
export function constantLr(lr: number, { warmupSteps = 0 }: { warmupSteps?: number } = {}): LrSchedule {
  return warmupDecay({ peakLr: lr, warmupSteps, totalSteps: warmupSteps, decay: 'constant', minLr: 0 });
}

/** Rebuilds a schedule from its `config` (e.g. one stored in a checkpoint). */
export function scheduleFromConfig(config: ScheduleConfig): LrSchedule {
  if (config === null || typeof config !== 'object')
    throw new ValueError(`learning-rate schedule: config must be an object, got ${String(config)}`);
  return warmupDecay(config);
}

/** Sets every param group's learning rate to `lr` times the group's lrScale. */
export function setLr(optimizer: Optimizer<BaseOptions>, lr: number): void {
  checkNumber('lr', lr);
  for (const group of optimizer.paramGroups) group.lr = lr * group.lrScale;
}

/** Sets the learning rates for `step` (see LrSchedule) and returns the schedule's rate. */
export function applyLrSchedule(optimizer: Optimizer<BaseOptions>, schedule: LrSchedule, step: number): number {
  const lr = schedule(step);
  setLr(optimizer, lr);
  return lr;
}
