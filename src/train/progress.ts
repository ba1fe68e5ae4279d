// Progress bars for long work: one line redrawn in place on a terminal (loss, throughput, ETA), or a
// plain line every few percent when output is a file or a pipe (CI logs stay readable).

export interface ProgressOptions {
  total: number;
  label: string;
  stream?: NodeJS.WriteStream;
  /** minimum milliseconds between redraws */
  intervalMs?: number;
  /** draw nothing (tests, library use) */
  quiet?: boolean;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function formatStats(stats: Record<string, number | string | undefined>): string {
  return Object.entries(stats)
    .filter(([, v]) => v !== undefined)
    .map(
      ([k, v]) =>
        `${k} ${typeof v === 'number' ? (Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(4)) : v}`,
    )
    .join('  ');
}

export class ProgressBar {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly started = Date.now();
  private lastDraw = 0;
  private lastPercentLogged = -1;
  private current = 0;
  private stats: Record<string, number | string | undefined> = {};
  private done = false;

  constructor(private readonly o: ProgressOptions) {
    this.stream = o.stream ?? process.stderr;
    this.tty = !!this.stream.isTTY && !process.env.CI;
  }

  update(current: number, stats: Record<string, number | string | undefined> = {}): void {
    this.current = current;
    this.stats = { ...this.stats, ...stats };
    if (this.o.quiet) return;
    const now = Date.now();
    if (this.tty) {
      if (now - this.lastDraw >= (this.o.intervalMs ?? 200) || current >= this.o.total) {
        this.lastDraw = now;
        this.draw();
      }
    } else {
      const percent = Math.floor((100 * current) / Math.max(1, this.o.total));
      // A log gets a line per 10 %, from the first second on: phases that finish sooner leave none.
      if (now - this.started < 1000) return;
      if (percent >= this.lastPercentLogged + 10 || current >= this.o.total) {
        this.lastPercentLogged = percent - (percent % 10);
        this.stream.write(`${this.line()}\n`);
      }
    }
  }

  /** Seconds since the bar started. */
  elapsed(): number {
    return (Date.now() - this.started) / 1000;
  }

  eta(): number {
    const rate = this.current / Math.max(1e-9, this.elapsed());
    return (this.o.total - this.current) / rate;
  }

  private line(): string {
    const { total, label } = this.o;
    const frac = Math.min(1, this.current / Math.max(1, total));
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = this.tty ? `[${'█'.repeat(filled)}${' '.repeat(width - filled)}] ` : '';
    const timing = `${formatDuration(this.elapsed())}<${formatDuration(this.eta())}`;
    return `${label} ${bar}${this.current}/${total} ${timing}  ${formatStats(this.stats)}`;
  }

  private draw(): void {
    const cols = this.stream.columns || 120;
    this.stream.write(
      `\r${this.line()
        .slice(0, cols - 1)
        .padEnd(cols - 1)}`,
    );
  }

  /** Finishes the bar (leaves its last state on screen). */
  finish(message?: string): void {
    if (this.done) return;
    this.done = true;
    if (this.o.quiet) return;
    if (this.tty) {
      this.draw();
      this.stream.write('\n');
    } else if (this.lastPercentLogged < 100 && (this.lastPercentLogged >= 0 || this.elapsed() >= 1))
      this.stream.write(`${this.line()}\n`);
    if (message) this.stream.write(`${message}\n`);
  }
}
