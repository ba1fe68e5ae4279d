// Run directories: the resolved config, metrics and evaluations as JSONL, checkpoints, reports.
//
// Opening and creating are separate: `new RunDir(dir)` and RunDir.open only read (and create
// nothing, so a mistyped path stays a mistake, not a new folder); RunDir.create makes a new run and
// refuses a directory that already holds anything, so a run never writes over files it did not create.
import * as fs from 'fs';
import * as path from 'path';
import { writeTextAtomic } from '../util/atomic-write';

import { RUN_CONFIG_FILE, runConfigProblems } from './run-files';

export { RUN_CONFIG_FILE };

/** A run directory, or one of its files, that cannot be used; the message names the path. */
export class RunDirError extends Error {
  override name = 'RunDirError';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
  }
}

export class RunDir {
  readonly dir: string;
  /** The run at `dir`, as a path: nothing is checked or created (see open and create). */
  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }
  /** An existing run (a directory with config.json); throws RunDirError otherwise. Creates nothing. */
  static open(dir: string, { kind }: { kind?: string } = {}): RunDir {
    const run = new RunDir(dir);
    const config = run.path(RUN_CONFIG_FILE);
    if (!fs.existsSync(run.dir)) throw new RunDirError(run.dir, 'not a run directory (it does not exist)');
    if (!fs.statSync(run.dir).isDirectory()) throw new RunDirError(run.dir, 'not a run directory (it is a file)');
    if (!fs.existsSync(config)) throw new RunDirError(run.dir, `not a run directory (no ${RUN_CONFIG_FILE})`);
    if (kind !== undefined) {
      const saved = run.readJson<{ kind?: unknown }>(RUN_CONFIG_FILE);
      if (saved?.kind !== kind) throw new RunDirError(config, `a '${String(saved?.kind)}' run, not a '${kind}' run`);
    }
    return run;
  }
  /**
   * A new run at `dir`: created when missing; an existing directory must be empty. Anything else
   * (a file, a model, an earlier run) is refused before anything is written; resume a run with open.
   */
  static create(dir: string): RunDir {
    const run = new RunDir(dir);
    if (fs.existsSync(run.dir)) {
      if (!fs.statSync(run.dir).isDirectory())
        throw new RunDirError(run.dir, 'exists and is not a directory; choose another --out');
      const entries = fs.readdirSync(run.dir);
      if (entries.length) {
        const what = run.holdsRun()
          ? 'already holds a run (resume it with --resume, or choose another --out)'
          : `is not empty (${listNames(entries)}); choose another --out`;
        throw new RunDirError(run.dir, `${what}; nothing was written`);
      }
    }
    fs.mkdirSync(run.dir, { recursive: true });
    return run;
  }
  /** Whether config.json is a run's (a JSON object with a `kind`, as the trainers write), not a model's or a user's. */
  private holdsRun(): boolean {
    try {
      return typeof this.readJson<{ kind?: unknown }>(RUN_CONFIG_FILE)?.kind === 'string';
    } catch {
      return false;
    }
  }
  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }
  /** Writes a JSON file atomically (fsynced temporary file renamed over the old one). */
  writeJson(name: string, value: unknown): void {
    writeTextAtomic(this.path(name), JSON.stringify(value, null, 2) + '\n');
  }
  /** A JSON file of the run (null when missing); RunDirError naming the file when it is not valid JSON. */
  readJson<T>(name: string): T | null {
    const file = this.path(name);
    if (!fs.existsSync(file)) return null;
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
    } catch (e) {
      throw new RunDirError(file, `not valid JSON (${(e as Error).message})`, { cause: e });
    }
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

/** The saved config.json of the run at `dir`, as RunDir.open checks it; errors name the file. */
export function readRunConfig(dir: string, kind?: string): Record<string, unknown> {
  const run = RunDir.open(dir, { kind });
  const config = run.readJson<unknown>(RUN_CONFIG_FILE);
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new RunDirError(run.path(RUN_CONFIG_FILE), 'not a JSON object');
  const problems = runConfigProblems(config as Record<string, unknown>);
  if (problems.length) throw new RunDirError(run.path(RUN_CONFIG_FILE), problems.map((p) => p.message).join('; '));
  return config as Record<string, unknown>;
}

function listNames(entries: string[]): string {
  return entries.slice(0, 5).join(', ') + (entries.length > 5 ? `, … (${entries.length} entries)` : '');
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
