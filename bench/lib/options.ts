// Command-line options shared by every benchmark run through bench/run.js.
import * as path from 'path';
import type { ClockKind, TimingOptions } from './timing';

export interface BenchOptions extends TimingOptions {
  clock: ClockKind;
  /** case names to run (all when undefined) */
  cases?: string[];
  /** intra-op threads for every implementation (undefined: libtorch's default in this process) */
  threads?: number;
  /** interleaved rounds (ours, then each counterpart), samples pooled across rounds */
  rounds: number;
  /** counterpart ids not to run */
  skip: string[];
  /** where to write the JSON result (undefined: build/bench-results/<suite>-<timestamp>.json) */
  out?: string;
  help: boolean;
}

export const OPTIONS_HELP = `options:
  --cases a,b,...     run only these cases (names as in the table)
  --repeats N         samples per case, implementation and round; the table shows their median
  --sample-ms MS      target duration of one sample
  --warmup-ms MS      warm-up time per case before sampling
  --clock wall|cpu    measure wall time (default) or the CPU time of each process (all its threads):
                      steadier on a busy machine, but a multi-threaded case counts every thread
  --threads N         intra-op threads for every implementation (default: libtorch's default here)
  --rounds N          interleave N rounds of (ours, counterparts) and pool their samples
  --skip ids          do not run these counterparts (e.g. --skip cpp or --skip pytorch,cpp)
  --out FILE          write the JSON result here (default build/bench-results/<bench>-<time>.json)
  --help              this text and the list of cases`;

export class UsageError extends Error {
  override name = 'UsageError';
}

function positiveNumber(flag: string, raw: string | undefined, integer: boolean, allowZero = false): number {
  const v = Number(raw);
  const ok =
    raw !== undefined &&
    raw.trim() !== '' &&
    Number.isFinite(v) &&
    (allowZero ? v >= 0 : v > 0) &&
    (!integer || Number.isInteger(v));
  if (!ok)
    throw new UsageError(
      `${flag} expects a ${integer ? 'whole' : ''} number ${allowZero ? '>= 0' : '> 0'}, got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`,
    );
  return v;
}

function list(flag: string, raw: string | undefined): string[] {
  const items = (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!items.length) throw new UsageError(`${flag} expects a comma-separated list, got ${JSON.stringify(raw ?? '')}`);
  return items;
}

/** Parses argv (`--flag value` or `--flag=value`); `defaults` are the benchmark's own defaults. */
export function parseOptions(argv: readonly string[], defaults: TimingOptions & { rounds?: number }): BenchOptions {
  const o: BenchOptions = {
    warmupMs: defaults.warmupMs,
    sampleMs: defaults.sampleMs,
    repeats: defaults.repeats,
    clock: defaults.clock ?? 'wall',
    rounds: defaults.rounds ?? 1,
    skip: [],
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string | undefined => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case '--help':
      case '-h':
        o.help = true;
        break;
      case '--cases':
        o.cases = list(flag, value());
        break;
      case '--repeats':
        o.repeats = positiveNumber(flag, value(), true);
        break;
      case '--sample-ms':
        o.sampleMs = positiveNumber(flag, value(), false);
        break;
      case '--warmup-ms':
        o.warmupMs = positiveNumber(flag, value(), false, true);
        break;
      case '--clock': {
        const clock = value();
        if (clock !== 'wall' && clock !== 'cpu')
          throw new UsageError(`--clock expects "wall" or "cpu", got ${clock === undefined ? 'nothing' : JSON.stringify(clock)}`);
        o.clock = clock;
        break;
      }
      case '--threads':
        o.threads = positiveNumber(flag, value(), true);
        break;
      case '--rounds':
        o.rounds = positiveNumber(flag, value(), true);
        break;
      case '--skip':
        o.skip = list(flag, value());
        break;
      case '--out':
        o.out = path.resolve(value() ?? '');
        if (o.out === path.resolve('')) throw new UsageError('--out expects a file name');
        break;
      default:
        throw new UsageError(`unknown option ${JSON.stringify(arg)}\n${OPTIONS_HELP}`);
    }
  }
  return o;
}
