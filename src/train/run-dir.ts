// Run directories: the resolved config, metrics and evaluations as JSONL, checkpoints, reports.
import * as fs from 'fs';
import * as path from 'path';
import { writeTextAtomic } from '../util/atomic-write';

export class RunDir {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = path.resolve(dir);
    fs.mkdirSync(this.dir, { recursive: true });
  }
  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }
  writeJson(name: string, value: unknown): void {
    writeTextAtomic(this.path(name), JSON.stringify(value, null, 2) + '\n');
  }
  readJson<T>(name: string): T | null {
    const file = this.path(name);
    return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as T) : null;
  }
  /** Appends one JSON line (metrics.jsonl, evals.jsonl); synchronous so a crash loses at most the current line. */
  append(name: string, record: Record<string, unknown>): void {
    fs.appendFileSync(this.path(name), JSON.stringify(record) + '\n');
  }
  readJsonl<T>(name: string): T[] {
    const file = this.path(name);
    if (!fs.existsSync(file)) return [];
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as T];
        } catch {
          return [];
        }
      });
  }
  /** Drops JSONL records after `step` (a resumed run rewrites what followed its checkpoint). */
  truncateJsonl(name: string, step: number): void {
    const kept = this.readJsonl<{ step: number }>(name).filter((r) => r.step <= step);
    const file = this.path(name);
    if (fs.existsSync(file)) writeTextAtomic(file, kept.map((r) => JSON.stringify(r) + '\n').join(''));
  }
}

/** Ctrl-C handling for training loops: the first SIGINT asks the loop to stop at the next step boundary. */
export class StopSignal {
  requested = false;
  private readonly handler = () => {
    if (this.requested) {
      process.stderr.write('\nsecond interrupt: exiting without saving\n');
      process.exit(130);
    }
    this.requested = true;
    process.stderr.write('\ninterrupt: saving a checkpoint and stopping (Ctrl-C again to abort)\n');
  };
  constructor() {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
  }
  dispose(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }
}
