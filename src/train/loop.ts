// The skeleton both trainers (sft.ts, rl/trainer.ts) run: yield between steps so that Ctrl-C is
// seen, stop on a non-finite step with the last good checkpoint kept, save every `saveEvery` steps
// and at the end, and release the interrupt handler whatever happens.
import { StopSignal } from './run-dir';

export type LoopStop = 'completed' | 'interrupted' | 'non-finite';

/** A step's outcome: its statistics, or why it was not applied (a non-finite loss or gradient). */
export type StepOutcome<S> = { stats: S } | { nonFinite: string };

export interface TrainingLoop<S> {
  /** steps already done (a resumed run) and the total */
  from: number;
  steps: number;
  saveEvery: number;
  /** stop (with a checkpoint, as on Ctrl-C) once this step is reached */
  stopAfter?: number;
  /** one optimisation step; `step` counts the steps done before it */
  step(step: number): StepOutcome<S>;
  /** after a completed step (`step` now counts it): logging, evaluations */
  after?(step: number, stats: S): void;
  save(step: number): void;
  /** with several ranks: whether any rank asks to stop (all must stop at the same step) */
  anyRank?(requested: boolean): boolean;
  /** always called last, with the step reached and why the loop ended */
  finally?(step: number, stopped: LoopStop): void;
}

export interface LoopResult<S> {
  step: number;
  stopped: LoopStop;
  /** the statistics of the last completed step, or null when none completed */
  last: S | null;
}

export async function trainingLoop<S>(o: TrainingLoop<S>): Promise<LoopResult<S>> {
  const stop = new StopSignal();
  let step = o.from;
  let lastSaved = step;
  let stopped: LoopStop = 'completed';
  let last: S | null = null;
  const save = () => {
    o.save(step);
    lastSaved = step;
  };
  try {
    while (step < o.steps) {
      // Let signal handlers (Ctrl-C) run between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const outcome = o.step(step);
      if ('nonFinite' in outcome) {
        process.stderr.write(
          `\nstep ${step}: ${outcome.nonFinite}; stopping with the last good checkpoint (step ${lastSaved})\n`,
        );
        stopped = 'non-finite';
        break;
      }
      step++;
      last = outcome.stats;
      o.after?.(step, outcome.stats);
      if (step % o.saveEvery === 0) save();
      const requested = o.anyRank ? o.anyRank(stop.requested) : stop.requested;
      if (requested || (o.stopAfter !== undefined && step >= o.stopAfter)) {
        stopped = 'interrupted';
        break;
      }
    }
    if (stopped !== 'non-finite' && lastSaved !== step) save();
  } finally {
    stop.dispose();
    o.finally?.(step, stopped);
  }
  return { step, stopped, last };
}
