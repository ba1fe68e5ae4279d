// End-to-end tests of the benchmark runner, the core benchmark and its counterparts, with timing
// settings small enough to take seconds. Needs the native addon; the PyTorch and C++ columns are
// checked when the project's Python and cmake are available.
// Run: npx jest --roots '<rootDir>/bench'
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { addonBuilt, oneThreadCpuClock, runBench as runBenchChild, tempDirSuite } from './bench-child';
import { findPython, readTorchEnv } from '../lib/paths';

const python = findPython();
const hasPython = 'python' in python;
const hasCmake = spawnSync('cmake', ['--version'], { stdio: 'ignore' }).status === 0 && readTorchEnv() !== null;
if (!addonBuilt) console.log('bench/test/core.test.ts: skipped: the native addon is not built (npm run build:native)');
if (addonBuilt && !hasPython) console.log(`bench/test/core.test.ts: PyTorch column not checked: ${python.missing}`);
if (addonBuilt && !hasCmake) console.log('bench/test/core.test.ts: C++ column not checked: no cmake or no .torch-env.json');
const withAddon = addonBuilt ? describe : describe.skip;

const runBench = (args: string[]) => runBenchChild(args, 600_000);

describe('bench/run.js', () => {
  test('lists the benchmarks when none is named', () => {
    const r = runBench([]);
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/benchmarks: .*\bcore\b/);
  });

  test('names an unknown benchmark', () => {
    const r = runBench(['no_such_bench']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no benchmark named "no_such_bench" \(expected bench\/no_such_bench\.ts\)/);
  });
});

withAddon('core benchmark', () => {
  const tmp = tempDirSuite('lt-bench-');

  test('--help lists the cases; bad options are usage errors', () => {
    const help = runBench(['core', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^ +index_select +torch\.indexSelect\(x, 0, index\)$/m);
    const bad = runBench(['core', '--cases', 'add,nope']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--cases: no case named "nope"; cases: add, add_method,/);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });

  test('runs ours and the counterparts in one run and writes the result', () => {
    const out = path.join(tmp.dir, 'core.json');
    const cases = ['add', 'view', 'matmul_512', 'napi_crossing', 'add.native_release_batch'];
    const r = runBench([
      'core',
      '--cases',
      cases.join(','),
      '--repeats',
      '2',
      '--rounds',
      '2',
      '--sample-ms',
      '2',
      '--warmup-ms',
      '1',
      ...oneThreadCpuClock(out),
    ]);
    expect(r.stderr).not.toMatch(/WARNING: .* (failed|exited)/);
    expect(r.status).toBe(0);
    const result = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(result.environment).toMatchObject({ threads: 1, cores: os.cpus().length, node: process.version });
    expect(result.options).toMatchObject({ clock: 'cpu', repeats: 2, rounds: 2 });
    expect(result.rows.map((row: any) => row.name)).toEqual(cases);
    const byName = Object.fromEntries(result.rows.map((row: any) => [row.name, row]));
    for (const row of result.rows) {
      expect(row.ours.samplesNs).toHaveLength(4); // 2 repeats x 2 rounds, pooled
      expect(row.ours.summary.median).toBeGreaterThan(0);
    }
    expect(byName.add.ours.unitsPerIteration).toBe(1000);
    expect(byName.matmul_512.ours.unitsPerIteration).toBe(1);
    expect(byName.napi_crossing.compareAs).toBeNull();
    expect(byName['add.native_release_batch'].compareAs).toBe('add');

    const columns = Object.fromEntries(result.counterparts.map((c: any) => [c.id, c]));
    const expectColumn = (id: string, available: boolean, implementation: RegExp, description: string) => {
      if (!available) return;
      expect(columns[id].unavailable).toBeNull();
      expect(columns[id].implementation).toMatch(implementation);
      expect(byName.add.counterparts[id].description).toBe(description);
      expect(byName.add.counterparts[id].samplesNs).toHaveLength(4);
      expect(byName.add.ratios[id]).toBeCloseTo(byName.add.ours.summary.median / byName.add.counterparts[id].summary.median);
      // A diagnosis row is compared with the full call's counterpart.
      expect(byName['add.native_release_batch'].counterparts[id].summary.median).toBe(byName.add.counterparts[id].summary.median);
      expect(byName.napi_crossing.counterparts[id]).toBeNull();
      expect(byName.add.goals.find((g: any) => g.vs === id).met).toEqual(expect.any(Boolean));
    };
    expectColumn('pytorch', hasPython, /^PyTorch \d+\.\d+/, 'a + b');
    expectColumn('cpp', hasCmake, /^C\+\+ ATen \(libtorch \d+\.\d+/, 'at::add(a, b)');

    expect(r.stdout).toMatch(/^\| case +\| +ours \| +PyTorch \| +C\+\+ \| ours\/PyTorch \| ours\/C\+\+ \| +goal +\|$/m);
    expect(r.stdout).toMatch(/^\| add +\| +\d+ ns ±\d+% \|/m);
    expect(r.stdout).toContain(
      'CPU time of each process (all threads): median ± half the interquartile range of 4 samples per cell',
    );
    expect(r.stdout).toContain(`result: ${out}`);
  }, 600_000);

  test('--skip leaves a counterpart out and says so', () => {
    const out = path.join(tmp.dir, 'skip.json');
    const r = runBench([
      'core',
      '--cases',
      'view',
      '--repeats',
      '1',
      '--rounds',
      '1',
      '--sample-ms',
      '1',
      '--warmup-ms',
      '0',
      '--skip',
      'pytorch,cpp',
      '--out',
      out,
    ]);
    expect(r.status).toBe(0);
    const result = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(result.counterparts.map((c: any) => [c.id, c.implementation, c.unavailable])).toEqual([
      ['pytorch', null, 'skipped with --skip'],
      ['cpp', null, 'skipped with --skip'],
    ]);
    expect(result.rows[0].ratios).toEqual({ pytorch: null, cpp: null });
    expect(r.stdout).toMatch(/- PyTorch: did not run \(skipped with --skip\)/);
  }, 120_000);
});

withAddon('runSuite', () => {
  // Imported lazily: loading the tensor library needs the addon.
  const load = () => ({
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    torch: require('../../src/torch') as typeof import('../../src/torch'),
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    lib: require('../lib') as typeof import('../lib'),
  });

  test('fails a case whose loop leaks tensors, naming it', async () => {
    const { torch, lib } = load();
    const out = path.join(os.tmpdir(), `lt-bench-leak-${process.pid}.json`);
    let x: import('../../src/torch').Tensor | undefined;
    const suite = {
      name: 'leak',
      title: 'leak',
      counterparts: [],
      timing: { warmupMs: 0, sampleMs: 0.1, repeats: 1 },
      cases: [
        {
          name: 'leaky',
          group: 'g',
          description: 'torch.add(x, x) without a scope',
          unitsPerIteration: 1,
          setup: () => {
            x = torch.ones([2]);
            return { iteration: () => void torch.add(x!, x!), dispose: () => x!.dispose() };
          },
        },
      ],
    };
    const before = torch.memory().liveTensors;
    await expect(lib.runSuite(suite, ['--out', out])).rejects.toThrow(/case "leaky" leaks: \d+ tensors are still alive/);
    expect(x!.isDisposed).toBe(true); // the inputs are freed even when the case fails
    expect(fs.existsSync(out)).toBe(false);
    expect(torch.memory().liveTensors).toBeGreaterThan(before); // the leaked results, as reported
  });
});
