// Counterparts: the same cases implemented elsewhere (PyTorch's Python API, C++ calling ATen), run as
// child processes in the same benchmark run.
//
// Protocol (implemented by bench/python/harness.py and bench/cpp/harness.h):
//   <program> --cases a,b --threads T --warmup-ms W --sample-ms S --repeats R --clock wall|cpu
// runs the named cases with the loop of bench/lib/timing.ts, writes progress to stderr and, as the last
// line of stdout, one JSON object:
//   {"implementation": "...", "threads": T, "unknown_cases": [...],
//    "results": {"<case>": {"description": "...", "samples_ns": [...], "iterations_per_sample": n,
//                           "units_per_iteration": u}}}
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { findPython, readTorchEnv, ROOT } from './paths';
import type { ClockKind, TimingOptions } from './timing';

export interface CounterpartCaseResult {
  description: string;
  samplesNs: number[];
  iterationsPerSample: number;
  unitsPerIteration: number;
}

export interface CounterpartRun {
  implementation: string;
  threads: number;
  unknownCases: string[];
  results: Map<string, CounterpartCaseResult>;
}

/** How to start a counterpart (with `env` added to this process's environment). */
export type ReadyLaunch = { command: string; args: string[]; env?: Record<string, string> };
/** How to start a counterpart, or why it cannot run here. */
export type Launch = ReadyLaunch | { unavailable: string };

export interface Counterpart {
  /** short id used in ratio columns, --skip and the JSON ("pytorch", "cpp") */
  id: string;
  /** column header */
  label: string;
  /** resolves (and builds, if needed) the program; called once per run, before any timing */
  prepare(): Launch;
}

export interface RunRequest extends TimingOptions {
  cases: string[];
  threads: number;
  clock: ClockKind;
}

function fail(who: string, problem: string): never {
  throw new Error(`${who}: ${problem}`);
}

/** Validates a counterpart's JSON report (the last stdout line). Exported for tests. */
export function parseCounterpartOutput(who: string, stdout: string): CounterpartRun {
  const lines = stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  let doc: any;
  try {
    doc = JSON.parse(last);
  } catch {
    fail(who, `the last line of its output is not the JSON report: ${JSON.stringify(last.slice(0, 200))}`);
  }
  if (doc === null || typeof doc !== 'object') fail(who, 'the report is not a JSON object');
  if (typeof doc.implementation !== 'string') fail(who, 'report field "implementation" is missing');
  if (!Number.isInteger(doc.threads)) fail(who, 'report field "threads" is missing');
  if (doc.results === null || typeof doc.results !== 'object') fail(who, 'report field "results" is missing');
  const results = new Map<string, CounterpartCaseResult>();
  for (const [name, r] of Object.entries<any>(doc.results)) {
    const samples = r?.samples_ns;
    if (
      !Array.isArray(samples) ||
      samples.length === 0 ||
      !samples.every((s: unknown) => typeof s === 'number' && Number.isFinite(s) && s > 0)
    )
      fail(who, `case "${name}": "samples_ns" must be a non-empty list of positive numbers`);
    if (!Number.isInteger(r.iterations_per_sample) || !Number.isInteger(r.units_per_iteration))
      fail(who, `case "${name}": "iterations_per_sample" and "units_per_iteration" must be integers`);
    results.set(name, {
      description: String(r.description ?? ''),
      samplesNs: samples,
      iterationsPerSample: r.iterations_per_sample,
      unitsPerIteration: r.units_per_iteration,
    });
  }
  const unknownCases = Array.isArray(doc.unknown_cases) ? doc.unknown_cases.map(String) : [];
  return { implementation: doc.implementation, threads: doc.threads, unknownCases, results };
}

export function protocolArgs(req: RunRequest): string[] {
  return [
    '--cases',
    req.cases.join(','),
    '--threads',
    String(req.threads),
    '--warmup-ms',
    String(req.warmupMs),
    '--sample-ms',
    String(req.sampleMs),
    '--repeats',
    String(req.repeats),
    '--clock',
    req.clock,
  ];
}

/** Runs a prepared counterpart; its stderr (progress) goes to ours. */
export function runCounterpart(cp: Counterpart, launch: ReadyLaunch, req: RunRequest): CounterpartRun {
  const r = spawnSync(launch.command, [...launch.args, ...protocolArgs(req)], {
    cwd: ROOT,
    env: launch.env ? { ...process.env, ...launch.env } : process.env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  const who = `${cp.label} (${[launch.command, ...launch.args].join(' ')})`;
  if (r.error) fail(who, `could not start: ${r.error.message}`);
  if (r.status !== 0) fail(who, `exited with ${r.status ?? r.signal}${r.stdout ? `; stdout:\n${r.stdout.slice(-2000)}` : ''}`);
  const run = parseCounterpartOutput(who, r.stdout);
  if (run.threads !== req.threads) fail(who, `ran with ${run.threads} threads instead of the requested ${req.threads}`);
  return run;
}

/**
 * A Python script (run with the project's Python) implementing the protocol via bench/python/harness.py;
 * `env` selects a variant of the script (e.g. another PyTorch setting) as a counterpart of its own.
 */
export function pythonCounterpart(script: string, id = 'pytorch', label = 'PyTorch', env?: Record<string, string>): Counterpart {
  return {
    id,
    label,
    prepare(): Launch {
      const file = path.resolve(ROOT, script);
      if (!fs.existsSync(file)) return { unavailable: `${path.relative(ROOT, file)} does not exist` };
      const py = findPython();
      if ('missing' in py) return { unavailable: py.missing };
      // -B: no __pycache__ next to the scripts.
      return { command: py.python, args: ['-B', file], env };
    },
  };
}

export const CPP_SOURCE_DIR = path.join(ROOT, 'bench', 'cpp');
export const CPP_BUILD_DIR = path.join(ROOT, 'build', 'bench-cpp');

function commandExists(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

function cachedPrefixPath(): string | undefined {
  try {
    const cache = fs.readFileSync(path.join(CPP_BUILD_DIR, 'CMakeCache.txt'), 'utf8');
    return /^CMAKE_PREFIX_PATH:[A-Z]+=(.*)$/m.exec(cache)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Builds a target of bench/cpp/CMakeLists.txt into build/bench-cpp/ against the libtorch recorded in
 * .torch-env.json (incremental: a no-op when up to date). Returns the executable or why it failed.
 */
export function buildCppTarget(target: string): { executable: string } | { unavailable: string } {
  const env = readTorchEnv();
  if (!env)
    return { unavailable: 'no .torch-env.json (run `npm run build:native` first): the libtorch to build against is unknown' };
  if (!commandExists('cmake')) return { unavailable: 'cmake is not installed' };
  const prefix = `${env.libtorch};${path.join(env.libtorch, 'share', 'cmake')}`;
  const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
  const started = Date.now();
  if (cachedPrefixPath() !== prefix) {
    log(
      `configuring the C++ floor (bench/cpp -> ${path.relative(ROOT, CPP_BUILD_DIR)}) against libtorch ${env.version} at ${env.libtorch}`,
    );
    const args = ['-S', CPP_SOURCE_DIR, '-B', CPP_BUILD_DIR, '-DCMAKE_BUILD_TYPE=Release', `-DCMAKE_PREFIX_PATH=${prefix}`];
    if (commandExists('ninja')) args.push('-G', 'Ninja');
    // A stale cache from another libtorch or generator would make cmake refuse: start afresh.
    fs.rmSync(path.join(CPP_BUILD_DIR, 'CMakeCache.txt'), { force: true });
    fs.rmSync(path.join(CPP_BUILD_DIR, 'CMakeFiles'), { recursive: true, force: true });
    const r = spawnSync('cmake', args, { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) return { unavailable: `cmake configure failed:\n${(r.stdout ?? '') + (r.stderr ?? '')}`.trimEnd() };
  }
  log(
    `building the C++ floor: cmake --build ${path.relative(ROOT, CPP_BUILD_DIR)} --target ${target} (the first build takes about a minute)`,
  );
  const r = spawnSync('cmake', ['--build', CPP_BUILD_DIR, '--target', target], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) return { unavailable: `C++ build of ${target} failed:\n${(r.stdout ?? '') + (r.stderr ?? '')}`.trimEnd() };
  const upToDate = /no work to do/i.test(r.stdout ?? '');
  log(upToDate ? `${target} is up to date` : `built ${target} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const executable = path.join(CPP_BUILD_DIR, target);
  if (!fs.existsSync(executable)) return { unavailable: `the build succeeded but ${executable} does not exist` };
  return { executable };
}

/** A C++ program (a target of bench/cpp/CMakeLists.txt) implementing the protocol via harness.h. */
export function cppCounterpart(target: string, id = 'cpp', label = 'C++ ATen'): Counterpart {
  return {
    id,
    label,
    prepare(): Launch {
      const built = buildCppTarget(target);
      return 'executable' in built ? { command: built.executable, args: [] } : built;
    },
  };
}
