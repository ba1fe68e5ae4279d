// A benchmark suite: cases timed here ("ours") and, in the same run, the same cases in counterpart
// programs (PyTorch's Python API, C++ on ATen), reported as a table of medians and ours/counterpart
// ratios, and as JSON under build/bench-results/.
import * as torch from '../../src/torch';
import { runCounterpart, type Counterpart, type CounterpartRun } from './counterparts';
import { busyMachineWarning, describeEnvironment, formatEnvironment } from './environment';
import { OPTIONS_HELP, parseOptions, UsageError, type BenchOptions } from './options';
import { ROOT } from './paths';
import {
  buildRow,
  defaultResultPath,
  formatDescriptions,
  formatDuration,
  formatImplementations,
  formatTable,
  writeResult,
  type ColumnInfo,
  type Goal,
  type SuiteResult,
  type TimedResult,
} from './report';
import { summarize } from './stats';
import { measure, type TimingOptions } from './timing';

export interface BenchCase {
  /** stable id, shared with the counterparts' implementations of the same case */
  name: string;
  /** table section, e.g. "per-call, small tensors" */
  group: string;
  /** the code timed, as it would be written (shown in the report) */
  description: string;
  /** units of work (operator calls) per iteration; times are reported per unit */
  unitsPerIteration: number;
  /** makes the inputs and returns the iteration to time; dispose() frees the inputs */
  setup(): { iteration: () => void; dispose?: () => void };
  /** the counterpart case to compare with: its own name by default, null for ours-only diagnostics */
  compareAs?: string | null;
  goals?: Goal[];
}

export interface Suite {
  /** the benchmark's name (bench/<name>.ts), used for result files */
  name: string;
  title: string;
  cases: BenchCase[];
  counterparts: Counterpart[];
  /** default timing (rounds: see --rounds; 1 when absent); the command line can override each value */
  timing: TimingOptions & { rounds?: number };
  /** printed under the table and stored in the JSON */
  notes?: string[];
}

const log = (msg: string) => process.stderr.write(`${msg}\n`);

function help(suite: Suite): string {
  const width = Math.max(...suite.cases.map((c) => c.name.length));
  return [
    `${suite.title}\n`,
    `usage: npm run bench -- ${suite.name} [options]`,
    OPTIONS_HELP,
    `defaults: --repeats ${suite.timing.repeats} --sample-ms ${suite.timing.sampleMs} --warmup-ms ${suite.timing.warmupMs} --rounds ${suite.timing.rounds ?? 1}`,
    `counterparts: ${suite.counterparts.map((c) => `${c.id} (${c.label})`).join(', ') || 'none'}`,
    'cases:',
    ...suite.cases.map((c) => `  ${c.name.padEnd(width)}  ${c.description}`),
  ].join('\n');
}

function selectCases(suite: Suite, o: BenchOptions): BenchCase[] {
  const names = new Set<string>();
  for (const c of suite.cases) {
    if (names.has(c.name)) throw new Error(`bench ${suite.name}: two cases are named "${c.name}"`);
    names.add(c.name);
  }
  if (!o.cases) return suite.cases;
  const unknown = o.cases.filter((n) => !names.has(n));
  if (unknown.length)
    throw new UsageError(`--cases: no case named ${unknown.map((n) => `"${n}"`).join(', ')}; cases: ${[...names].join(', ')}`);
  return suite.cases.filter((c) => o.cases!.includes(c.name));
}

/** Times one case here; fails when the case leaves tensors alive (a leaking loop would distort the timing). */
function timeOurs(c: BenchCase, o: BenchOptions): TimedResult {
  const liveBefore = torch.memory().liveTensors;
  const { iteration, dispose } = c.setup();
  let m;
  try {
    const liveAfterSetup = torch.memory().liveTensors;
    m = measure(iteration, c.unitsPerIteration, o);
    const leaked = torch.memory().liveTensors - liveAfterSetup;
    if (leaked > 0)
      throw new Error(
        `case "${c.name}" leaks: ${leaked} tensors are still alive after ${o.repeats} samples; free the results in its iteration`,
      );
  } finally {
    dispose?.();
  }
  const leftover = torch.memory().liveTensors - liveBefore;
  if (leftover > 0) throw new Error(`case "${c.name}": its dispose() leaves ${leftover} of its input tensors alive`);
  return { description: c.description, ...m };
}

function mergeSamples(into: Map<string, TimedResult>, name: string, r: TimedResult): void {
  const prev = into.get(name);
  into.set(name, prev ? { ...r, samplesNs: [...prev.samplesNs, ...r.samplesNs] } : r);
}

/**
 * Runs the suite with the command-line options in argv: prints progress to stderr and the environment,
 * table and notes to stdout, writes the JSON result, and returns it (null after --help).
 */
export async function runSuite(suite: Suite, argv: readonly string[]): Promise<SuiteResult | null> {
  const o = parseOptions(argv, suite.timing);
  if (o.help) {
    console.log(help(suite));
    return null;
  }
  const cases = selectCases(suite, o);
  const knownIds = suite.counterparts.map((c) => c.id);
  const badSkip = o.skip.filter((id) => !knownIds.includes(id));
  if (badSkip.length) throw new UsageError(`--skip: unknown counterpart ${badSkip.join(', ')} (known: ${knownIds.join(', ')})`);

  const threads = o.threads ?? torch.getNumThreads();
  torch.setNumThreads(threads);
  const environment = describeEnvironment(threads);
  const busy = busyMachineWarning(environment, o.clock);
  if (busy) log(`bench: WARNING: ${busy}`);

  // Prepare (build) every counterpart before timing anything, so that a compiler never competes with a measurement.
  const columns: ColumnInfo[] = [];
  const launches = new Map<string, { command: string; args: string[] }>();
  for (const cp of suite.counterparts) {
    const column: ColumnInfo = { id: cp.id, label: cp.label, implementation: null, unavailable: null };
    columns.push(column);
    if (o.skip.includes(cp.id)) {
      column.unavailable = 'skipped with --skip';
      continue;
    }
    const launch = cp.prepare();
    if ('unavailable' in launch) {
      column.unavailable = launch.unavailable;
      log(`bench: WARNING: ${cp.label} will not run: ${launch.unavailable}`);
    } else launches.set(cp.id, launch);
  }

  const counterpartCases = [
    ...new Set(cases.map((c) => (c.compareAs === undefined ? c.name : c.compareAs)).filter((n): n is string => n !== null)),
  ];
  const ours = new Map<string, TimedResult>();
  const theirs = new Map<string, Map<string, TimedResult>>();
  const started = Date.now();
  for (let round = 1; round <= o.rounds; round++) {
    const tag = o.rounds > 1 ? ` [round ${round}/${o.rounds}]` : '';
    log(`bench ${suite.name}${tag}: ours (${cases.length} cases, ${threads} threads)`);
    for (const c of cases) {
      const r = timeOurs(c, o);
      mergeSamples(ours, c.name, r);
      const s = summarize(r.samplesNs);
      log(
        `  ${c.name.padEnd(24)} ${formatDuration(s.median).padStart(9)} ±${Math.round(s.relativeIqr * 50)}%  (${o.repeats} samples × ${r.iterationsPerSample} × ${r.unitsPerIteration})`,
      );
    }
    for (const column of columns) {
      const launch = launches.get(column.id);
      if (!launch || !counterpartCases.length) continue;
      log(`bench ${suite.name}${tag}: ${column.label}`);
      let run: CounterpartRun;
      try {
        run = runCounterpart(
          suite.counterparts.find((c) => c.id === column.id)!,
          launch,
          { ...o, cases: counterpartCases, threads, clock: o.clock },
        );
      } catch (e) {
        log(`bench: WARNING: ${(e as Error).message}`);
        column.unavailable = (e as Error).message.split('\n')[0];
        launches.delete(column.id);
        theirs.delete(column.id);
        continue;
      }
      column.implementation = run.implementation;
      if (run.unknownCases.length) log(`bench: WARNING: ${column.label} does not implement ${run.unknownCases.join(', ')}`);
      const merged = theirs.get(column.id) ?? new Map<string, TimedResult>();
      for (const [name, r] of run.results) mergeSamples(merged, name, r);
      theirs.set(column.id, merged);
    }
  }
  for (const column of columns) if (!theirs.has(column.id)) column.implementation = null;

  const ids = columns.map((c) => c.id);
  const rows = cases.map((c) =>
    buildRow(
      { name: c.name, group: c.group, compareAs: c.compareAs === undefined ? c.name : c.compareAs, goals: c.goals ?? [] },
      ours.get(c.name)!,
      ids,
      theirs,
    ),
  );
  const result: SuiteResult = {
    suite: suite.name,
    title: suite.title,
    environment,
    options: {
      repeats: o.repeats,
      sampleMs: o.sampleMs,
      warmupMs: o.warmupMs,
      rounds: o.rounds,
      clock: o.clock,
      threads,
      cases: o.cases ?? null,
      skip: o.skip,
    },
    ours: `latent-tokens (node ${process.version}, libtorch ${environment.libtorch})`,
    counterparts: columns,
    rows,
    notes: suite.notes ?? [],
  };
  const out = o.out ?? defaultResultPath(ROOT, suite.name, environment.date);
  writeResult(out, result);

  console.log(`\n## ${suite.title}\n\n${formatEnvironment(environment)}\n`);
  if (busy) console.log(`**Warning:** ${busy}.\n`);
  console.log(formatTable(result));
  const clock = o.clock === 'cpu' ? 'CPU time of each process (all threads)' : 'wall time';
  console.log(
    `\n${clock}: median ± half the interquartile range of ${o.repeats * o.rounds} samples per cell; ratios compare medians.\n`,
  );
  console.log(formatImplementations(result));
  console.log(`\nWhat each row times:\n${formatDescriptions(result)}`);
  if (result.notes.length) console.log(`\n${result.notes.map((n) => `- ${n}`).join('\n')}`);
  const goals = rows.flatMap((r) => r.goals);
  const met = goals.filter((g) => g.met === true).length;
  const unknown = goals.filter((g) => g.met === null).length;
  if (goals.length)
    console.log(`\ngoals met: ${met}/${goals.length}${unknown ? ` (${unknown} not measurable in this run)` : ''}`);
  console.log(`\nresult: ${out} (${((Date.now() - started) / 1000).toFixed(0)} s of timing)`);
  return result;
}
