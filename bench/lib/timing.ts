// The measurement loop shared by every benchmark (bench/python/harness.py and bench/cpp/harness.h
// implement the same loop, so that the three columns of a table are measured the same way):
//
//   1. warm-up: run the iteration for at least `warmupMs` (and at least twice, and for at least 1 ms
//      so that the estimate is above the clock's resolution), which also times it;
//   2. calibrate: iterations per sample = ceil(sampleMs / time of one iteration);
//   3. `repeats` samples, each timing that many back-to-back iterations.
//
// A sample is reported per unit (one operator call when an iteration is a batch of calls).
//
// The clock is wall time, or with `clock: 'cpu'` the CPU time of the whole process (every thread,
// user and system): on a machine shared with other work, CPU time leaves out the time the process
// waits for a core, which otherwise dominates the timing of single-threaded cases.

export type ClockKind = 'wall' | 'cpu';

export interface TimingOptions {
  /** minimum warm-up time before sampling (ms) */
  warmupMs: number;
  /** target duration of one sample (ms) */
  sampleMs: number;
  /** number of samples */
  repeats: number;
  /** what is measured: wall time (default) or the process's CPU time */
  clock?: ClockKind;
}

export interface Measurement {
  /** nanoseconds per unit, one entry per sample */
  samplesNs: number[];
  iterationsPerSample: number;
  unitsPerIteration: number;
}

/** A stopwatch started now: returns the nanoseconds elapsed on the given clock. */
export function stopwatch(clock: ClockKind = 'wall'): () => number {
  if (clock === 'cpu') {
    const start = process.cpuUsage();
    return () => {
      const used = process.cpuUsage(start);
      return (used.user + used.system) * 1000;
    };
  }
  const start = process.hrtime.bigint();
  return () => Number(process.hrtime.bigint() - start);
}

/** The warm-up lasts at least this long, whatever warmupMs says, so that calibration has a measurable time. */
export const MIN_CALIBRATION_NS = 1e6;

export function iterationsPerSample(iterationNs: number, sampleMs: number): number {
  return Math.max(1, Math.ceil((sampleMs * 1e6) / Math.max(iterationNs, 1)));
}

export function validateTiming(o: TimingOptions): void {
  if (!(o.warmupMs >= 0)) throw new RangeError(`warm-up time must be >= 0 ms, got ${o.warmupMs}`);
  if (!(o.sampleMs > 0)) throw new RangeError(`sample time must be > 0 ms, got ${o.sampleMs}`);
  if (!Number.isInteger(o.repeats) || o.repeats < 1) throw new RangeError(`repeats must be an integer >= 1, got ${o.repeats}`);
  if (o.clock !== undefined && o.clock !== 'wall' && o.clock !== 'cpu')
    throw new RangeError(`clock must be "wall" or "cpu", got ${JSON.stringify(o.clock)}`);
}

/**
 * Times `iteration` (which performs `unitsPerIteration` units of work, e.g. a batch of 1,000 calls)
 * and returns per-unit samples in nanoseconds.
 */
export function measure(iteration: () => void, unitsPerIteration: number, o: TimingOptions): Measurement {
  validateTiming(o);
  if (!Number.isInteger(unitsPerIteration) || unitsPerIteration < 1)
    throw new RangeError(`units per iteration must be an integer >= 1, got ${unitsPerIteration}`);
  const warmupNs = o.warmupMs * 1e6;
  let runs = 0;
  const warmup = stopwatch(o.clock);
  let elapsed = 0;
  while (runs < 2 || elapsed < warmupNs || elapsed < MIN_CALIBRATION_NS) {
    iteration();
    runs++;
    elapsed = warmup();
  }
  const iterations = iterationsPerSample(elapsed / runs, o.sampleMs);
  const samplesNs: number[] = [];
  for (let r = 0; r < o.repeats; r++) {
    const sample = stopwatch(o.clock);
    for (let i = 0; i < iterations; i++) iteration();
    samplesNs.push(sample() / (iterations * unitsPerIteration));
  }
  return { samplesNs, iterationsPerSample: iterations, unitsPerIteration };
}
