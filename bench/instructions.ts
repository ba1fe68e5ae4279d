// Instructions per call of the core benchmark's per-call cases, counted by callgrind: unlike times,
// counts stay put on a loaded machine, so they show where a change saves work. Ours and PyTorch
// (bench/python/core.py's cases) run the same loops as in `bench core`.
//
//   npm run bench -- instructions [--cases add,view] [--skip pytorch] [--warmup N] [--iterations N] [--keep DIR]
//
// One process per implementation runs every case under `valgrind --tool=callgrind`: a warm-up, then
// N iterations between two calls of a marker function, before each of which callgrind dumps its
// counts; the part between the markers is the case's (start-up, loading and JIT warm-up fall outside).
// Counts are of the main thread (callgrind --separate-threads): libtorch runs these small ops on the
// calling thread, and the work of V8's background threads (compiling, marking) is not per call.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../src/torch/native';
import { diagnosis, perCall } from './core';
import type { BenchCase } from './lib';

const ROOT = path.resolve(__dirname, '..');

function pythonExecutable(): string {
  if (process.env.LT_PYTHON) return process.env.LT_PYTHON;
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, '.torch-env.json'), 'utf8')).python;
  } catch {
    return path.join(ROOT, '.venv', 'bin', 'python');
  }
}

/**
 * Child mode (under callgrind): per case, a warm-up, then `iterations` iterations between two calls
 * of the marker (native.liveCount), before each of which callgrind dumps its counts.
 */
function runOurs(cases: BenchCase[], warmup: number, iterations: number): void {
  for (const c of cases) {
    const { iteration, dispose } = c.setup();
    for (let i = 0; i < warmup; i++) iteration();
    native.liveCount();
    for (let i = 0; i < iterations; i++) iteration();
    native.liveCount();
    dispose?.();
  }
}

// The same for PyTorch; the marker is os.getpid() (libc's getpid).
const PYTHON_CHILD = `
import os, sys
sys.path.insert(0, 'bench/python')
import torch
torch.set_num_threads(1)
import core
warmup, iterations = int(sys.argv[1]), int(sys.argv[2])
for name in sys.argv[3].split(','):
    it = core.CASES[name].setup()
    for _ in range(warmup): it()
    os.getpid()
    for _ in range(iterations): it()
    os.getpid()
`;

/** Runs a child under callgrind, dumping before each marker call; returns the instructions of each part. */
function parts(command: string, args: string[], marker: string, keep?: string): number[] {
  const dir = keep ? fs.mkdtempSync(path.join(keep, 'callgrind-')) : fs.mkdtempSync(path.join(os.tmpdir(), 'lt-callgrind-'));
  try {
    const out = path.join(dir, 'callgrind.out');
    const r = spawnSync(
      'valgrind',
      ['--tool=callgrind', '--separate-threads=yes', `--callgrind-out-file=${out}`, `--dump-before=${marker}`, command, ...args],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, OMP_NUM_THREADS: '1' },
        maxBuffer: 64 << 20,
      },
    );
    if (r.status !== 0)
      throw new Error(`callgrind run failed (${command}): status ${r.status}\n${(r.stderr ?? '').slice(-2000)}`);
    // The main thread's counts only (-01): V8's compiler and GC threads do work whose amount depends on
    // what ran before (counted with them, `add` read 5,984 or 8,284 instructions a call depending on
    // the cases run beside it).
    const part = (f: string) => Number(/^callgrind\.out\.(\d+)-01$/.exec(f)?.[1] ?? NaN);
    const files = fs
      .readdirSync(dir)
      .filter((f) => Number.isFinite(part(f)))
      .sort((a, b) => part(a) - part(b));
    return files.map((f) => {
      const m = /^(?:totals|summary):\s*(\d+)/m.exec(fs.readFileSync(path.join(dir, f), 'utf8'));
      return m ? Number(m[1]) : NaN;
    });
  } finally {
    if (keep) console.error(`callgrind dumps kept in ${dir} (callgrind_annotate --inclusive=yes FILE)`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Instructions per call of each case: the parts between the two markers of each case. A marker that
 * calls another matching function (getpid) dumps twice; the tiny parts in between are dropped.
 */
function perCallCounts(all: number[], cases: BenchCase[], iterations: number): number[] {
  const dumps = all.filter((v) => v > 100_000);
  if (dumps.length !== 2 * cases.length) throw new Error(`expected ${2 * cases.length} callgrind dumps, got ${dumps.length}`);
  return cases.map((c, i) => dumps[2 * i + 1] / (iterations * (c.unitsPerIteration ?? 1)));
}

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

export async function main(argv: string[]): Promise<void> {
  const all = [...perCall, ...diagnosis];
  const warmup = Number(option(argv, '--warmup') ?? 60);
  const n = Number(option(argv, '--iterations') ?? 20);
  const names = option(argv, '--cases')?.split(',') ?? perCall.map((c) => c.name);
  const cases = names.map((name) => {
    const c = all.find((x) => x.name === name);
    if (!c) throw new Error(`unknown case ${name}`);
    return c;
  });
  if (argv.includes('--child')) {
    runOurs(cases, warmup, n);
    return;
  }
  const ours = perCallCounts(
    parts(
      process.execPath,
      [
        // TurboFan on the main thread: under valgrind the background compiler thread is slow enough
        // that a case's code could still be waiting for optimisation (running as baseline code, with
        // ~1,300 more instructions a call) when its counted iterations start.
        '--no-concurrent-recompilation',
        path.join(ROOT, 'bench', 'run.js'),
        'instructions',
        '--child',
        '--cases',
        names.join(','),
        '--warmup',
        String(warmup),
        '--iterations',
        String(n),
      ],
      '*::live_count(*',
      option(argv, '--keep'),
    ),
    cases,
    n,
  );
  const pyCases = cases.filter((c) => !c.name.includes('.') && c.name !== 'napi_crossing');
  const skipPython = (option(argv, '--skip') ?? '').split(',').includes('pytorch') || pyCases.length === 0;
  const py = skipPython
    ? []
    : perCallCounts(
        parts(
          pythonExecutable(),
          ['-c', PYTHON_CHILD, String(warmup), String(n), pyCases.map((c) => c.name).join(',')],
          '*getpid*',
          option(argv, '--keep'),
        ),
        pyCases,
        n,
      );
  const fmt = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? Math.round(v).toLocaleString('en') : '–');
  const rows = ['| case | ours (instructions/call) | PyTorch (instructions/call) | ours/PyTorch |', '|---|--:|--:|--:|'];
  cases.forEach((c, i) => {
    const j = pyCases.indexOf(c);
    const p = j >= 0 ? py[j] : undefined;
    rows.push(`| ${c.name} | ${fmt(ours[i])} | ${fmt(p)} | ${p ? (ours[i] / p).toFixed(2) + '×' : '–'} |`);
  });
  console.log(rows.join('\n'));
}
