// The demo's overall progress: a numbered line per stage with the time spent so far and an estimate
// of the time left. The estimate scales each remaining stage's expected seconds by how fast the
// finished stages ran against their own expectations (a slower or busier machine stretches it); a
// prior worth a tenth of the plan keeps a few quick first stages from swinging it.

export interface PlannedStage {
  /** short identifier (also the key in the timing summary) */
  id: string;
  /** what the stage does, shown to the user */
  title: string;
  /** expected seconds on the reference machine */
  expectedSeconds: number;
}

export interface StageTiming {
  id: string;
  title: string;
  seconds: number;
  /** CPU seconds (user + system) of this process during the stage: on a shared machine the wall time says little */
  cpuSeconds: number;
  skipped?: string;
}

function formatClock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** User + system CPU seconds since `start` (process.cpuUsage counts every thread of the process). */
function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

export class StageTracker {
  private readonly started = Date.now();
  private index = 0;
  private current: { stage: PlannedStage; started: number; cpu: NodeJS.CpuUsage } | null = null;
  /** actual / expected seconds over finished stages */
  private actual = 0;
  private expected = 0;
  readonly timings: StageTiming[] = [];

  constructor(
    private readonly stages: readonly PlannedStage[],
    private readonly write: (line: string) => void,
  ) {
    const ids = new Set<string>();
    for (const s of stages) {
      if (ids.has(s.id)) throw new Error(`StageTracker: stage id "${s.id}" is planned twice`);
      ids.add(s.id);
    }
  }

  get total(): number {
    return this.stages.length;
  }

  /** Seconds since the tracker was created. */
  elapsed(): number {
    return (Date.now() - this.started) / 1000;
  }

  /** Actual over expected seconds of the finished stages, pulled towards 1 by the prior. */
  pace(): number {
    const prior = 0.1 * this.stages.reduce((sum, s) => sum + s.expectedSeconds, 0);
    return prior + this.expected > 0 ? (this.actual + prior) / (this.expected + prior) : 1;
  }

  /** Estimated seconds left, including the rest of the running stage. */
  remaining(): number {
    const pace = this.pace();
    let notBegun = 0;
    for (let i = this.index; i < this.stages.length; i++) notBegun += this.stages[i].expectedSeconds;
    const running = this.current
      ? Math.max(0, this.current.stage.expectedSeconds * pace - (Date.now() - this.current.started) / 1000)
      : 0;
    return notBegun * pace + running;
  }

  /** Starts the next planned stage (it must be `id`, so the plan and the code cannot drift apart). */
  begin(id: string): void {
    if (this.current) throw new Error(`StageTracker: stage "${this.current.stage.id}" is still running`);
    const stage = this.stages[this.index];
    if (!stage || stage.id !== id) throw new Error(`StageTracker: expected stage "${stage?.id ?? '(none left)'}", got "${id}"`);
    this.index++;
    this.current = { stage, started: Date.now(), cpu: process.cpuUsage() };
    this.write(
      `\n[${this.index}/${this.total}] ${stage.title} · ${formatClock(this.elapsed())} elapsed, about ${formatClock(this.remaining())} left`,
    );
  }

  /** Ends the running stage; `note` is printed after it (a result worth seeing). */
  end(note?: string): number {
    const c = this.requireCurrent();
    const seconds = (Date.now() - c.started) / 1000;
    this.actual += seconds;
    this.expected += c.stage.expectedSeconds;
    this.timings.push({ id: c.stage.id, title: c.stage.title, seconds, cpuSeconds: cpuSince(c.cpu) });
    this.current = null;
    this.write(`  done in ${formatClock(seconds)}${note ? `: ${note}` : ''}`);
    return seconds;
  }

  /** Ends the running stage as skipped, with the reason. */
  skip(reason: string): void {
    const c = this.requireCurrent();
    this.timings.push({
      id: c.stage.id,
      title: c.stage.title,
      seconds: (Date.now() - c.started) / 1000,
      cpuSeconds: cpuSince(c.cpu),
      skipped: reason,
    });
    this.current = null;
    this.write(`  skipped: ${reason}`);
  }

  private requireCurrent(): { stage: PlannedStage; started: number; cpu: NodeJS.CpuUsage } {
    if (!this.current) throw new Error('StageTracker: no stage is running');
    return this.current;
  }
}
