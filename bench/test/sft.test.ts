// End-to-end test of the phase-1 training benchmark (bench/sft.ts) with the smallest timing settings:
// ours and the PyTorch reimplementation (bench/python/sft.py) run in one benchmark run, and their
// first training steps on the same weights and batch must agree, which checks that the Python side
// implements the same algorithm. Needs the native addon; the PyTorch part needs the project's Python.
// Run: npx jest --roots '<rootDir>/bench' bench/test/sft
import * as fs from 'fs';
import * as path from 'path';
import { addonBuilt, oneThreadCpuClock, runBench as runBenchChild, tempDirSuite } from './bench-child';
import { findPython } from '../lib/paths';

const python = findPython();
const hasPython = 'python' in python;
if (!addonBuilt) console.log('bench/test/sft.test.ts: skipped: the native addon is not built (npm run build:native)');
if (addonBuilt && !hasPython) console.log(`bench/test/sft.test.ts: PyTorch side not checked: ${python.missing}`);
const withAddon = addonBuilt ? describe : describe.skip;

const runBench = (args: string[]) => runBenchChild(['sft', ...args], 900_000);

withAddon('sft benchmark', () => {
  const tmp = tempDirSuite('lt-bench-sft-test-');

  test('--help lists the four cases; an unknown case is a usage error', () => {
    const help = runBench(['--help']);
    expect(help.status).toBe(0);
    for (const name of ['full.k4', 'full.k0', 'two_trunk.k4', 'two_trunk.k0'])
      expect(help.stdout).toMatch(new RegExp(`^ +${name.replace('.', '\\.')} +`, 'm'));
    const bad = runBench(['--cases', 'full.k4,full.k9']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--cases: no case named "full\.k9"/);
  });

  test('times both modes here and in PyTorch, whose first steps agree with ours', () => {
    const out = path.join(tmp.dir, 'sft.json');
    const cases = ['full.k0', 'two_trunk.k4']; // in the suite's order
    const args = ['--cases', cases.join(','), '--repeats', '1', '--rounds', '1', '--warmup-ms', '0', ...oneThreadCpuClock(out)];
    const r = runBench(hasPython ? args : [...args, '--skip', 'pytorch']);
    expect(r.stderr).not.toMatch(/WARNING: .*(failed|exited|not run)/);
    expect(r.status).toBe(0);
    const result = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(result.rows.map((row: { name: string }) => row.name)).toEqual(cases);
    for (const row of result.rows) expect(row.ours.summary.median).toBeGreaterThan(0);
    if (!hasPython) return;
    for (const row of result.rows) expect(row.counterparts.pytorch.summary.median).toBeGreaterThan(0);
    // float32 on both sides, same weights, batch and algorithm: agreement to rounding
    const worst = /largest relative difference: (\S+)/.exec(r.stdout);
    expect(worst).not.toBeNull();
    expect(Number(worst![1])).toBeLessThan(1e-4);
    expect(r.stdout).toMatch(/^\| two_trunk\.k4 \| [\d.]+ \(/m);
  }, 900_000);

  test("--profile puts our operators per step beside PyTorch's", () => {
    const args = ['--profile', '--steps', '1', '--cases', 'two_trunk.k0', '--threads', '1'];
    const r = runBench(args);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^### two_trunk\.k0: operators per step \(1 profiled steps, 1 thread\)$/m);
    const mm = /^\| `aten::mm` \| (\d+) \| (\d+) \| [\d.]+ \| [\d.]+ \| [-+][\d.]+ \|$/m.exec(r.stdout);
    expect(mm).not.toBeNull();
    expect(Number(mm![1])).toBeGreaterThan(0);
    // the same forward and backward: the same matrix products on both sides
    if (hasPython) expect(mm![2]).toBe(mm![1]);
    else expect(r.stderr).toMatch(/PyTorch side not run/);
    expect(r.stdout).toMatch(/^\| \*\*all \d+ operators\*\*/m);
    const stray = runBench(['--steps', '3']);
    expect(stray.status).toBe(2);
    expect(stray.stderr).toMatch(/--steps goes with --profile/);
  }, 900_000);
});
