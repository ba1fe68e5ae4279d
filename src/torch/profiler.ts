// torch.profiler: where a step's time goes, by operator. Every ATen operator and autograd node that
// runs while a profile is active is counted and timed by name in the addon (native/profiler.cc),
// from the same RecordFunction events that PyTorch's torch.profiler reads, so the two tables can be
// put side by side:
//
//   const prof = torch.profiler.profile(() => step());
//   console.log(prof.table({ sortBy: 'selfCpuTimeTotal', rowLimit: 15 }));
//
// Times are wall-clock on the thread that ran the event (PyTorch's "CPU time"); an event's self time
// excludes the events nested in it. On CUDA they measure launches, not kernels (synchronize first).
import { native as N, type NativeProfilerRow } from './native';
import { ValueError } from './errors';
import { textTable } from '../util/text-table';

/** One operator's totals over a profile (PyTorch's FunctionEventAvg, in microseconds). */
export interface ProfilerEvent {
  /** `aten::mm`, or an autograd node such as `MmBackward0` */
  name: string;
  count: number;
  /** wall time inside the event, nested events included */
  cpuTimeTotal: number;
  /** cpuTimeTotal less the events nested in it */
  selfCpuTimeTotal: number;
  /** an autograd node run by backward() */
  isBackward: boolean;
}

export type ProfilerSortKey = 'selfCpuTimeTotal' | 'cpuTimeTotal' | 'count';

export interface ProfilerTableOptions {
  /** default 'selfCpuTimeTotal' */
  sortBy?: ProfilerSortKey;
  /** rows shown (default all) */
  rowLimit?: number;
}

/** The operators of one profile. */
export class ProfilerResult {
  private readonly events: readonly ProfilerEvent[];

  constructor(rows: readonly NativeProfilerRow[]) {
    this.events = rows.map((r) => ({
      name: r.name,
      count: r.count,
      cpuTimeTotal: r.totalNs / 1000,
      selfCpuTimeTotal: r.selfNs / 1000,
      isBackward: r.backward,
    }));
  }

  /** One row per operator name, largest `sortBy` first (PyTorch's key_averages()). */
  keyAverages(sortBy: ProfilerSortKey = 'selfCpuTimeTotal'): ProfilerEvent[] {
    return [...this.events].sort((a, b) => b[sortBy] - a[sortBy] || a.name.localeCompare(b.name));
  }

  /** Sum of self times: the time spent in operators, each microsecond counted once. */
  get selfCpuTimeTotal(): number {
    return this.events.reduce((s, e) => s + e.selfCpuTimeTotal, 0);
  }

  /** The key averages as a terminal table, with each row's share of the total self time. */
  table(options: ProfilerTableOptions = {}): string {
    const rows = this.keyAverages(options.sortBy ?? 'selfCpuTimeTotal').slice(0, options.rowLimit ?? Infinity);
    const total = this.selfCpuTimeTotal || 1;
    const us = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(1)} us`);
    const cells = rows.map((e) => [
      e.name,
      us(e.selfCpuTimeTotal),
      `${((100 * e.selfCpuTimeTotal) / total).toFixed(1)}%`,
      us(e.cpuTimeTotal),
      String(e.count),
      us(e.selfCpuTimeTotal / e.count),
    ]);
    return textTable(['Name', 'Self CPU', 'Self CPU %', 'CPU total', 'Calls', 'Self CPU avg'], cells).join('\n');
  }
}

/** A profile started and stopped by hand, for work that does not fit in one function. */
export class Profiler {
  private running = false;

  start(): void {
    if (this.running) throw new ValueError('this profiler is already running');
    N.profilerStart();
    this.running = true;
  }

  stop(): ProfilerResult {
    if (!this.running) throw new ValueError('this profiler is not running');
    this.running = false;
    return new ProfilerResult(N.profilerStop());
  }
}

/**
 * Runs `fn` under a profile and returns the per-operator totals; an async `fn` is profiled until its
 * promise settles (work of other tasks interleaved with it is counted too). One profile at a time.
 */
export function profile(fn: () => Promise<unknown>): Promise<ProfilerResult>;
export function profile(fn: () => unknown): ProfilerResult;
export function profile(fn: () => unknown): ProfilerResult | Promise<ProfilerResult> {
  const profiler = new Profiler();
  profiler.start();
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    profiler.stop();
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      () => profiler.stop(),
      (e: unknown) => {
        profiler.stop();
        throw e;
      },
    );
  }
  return profiler.stop();
}
