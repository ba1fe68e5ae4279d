// Unit tests of the benchmark harness (bench/lib) that need neither the native addon nor Python.
// Run: npx jest --roots '<rootDir>/bench'
import { parseCounterpartOutput, protocolArgs } from '../lib/counterparts';
import { parseOptions } from '../lib/options';
import { buildRow, formatDuration, formatRatio, formatTable, type SuiteResult, type TimedResult } from '../lib/report';
import { median, quantileSorted, summarize } from '../lib/stats';
import { iterationsPerSample, measure, stopwatch } from '../lib/timing';

const DEFAULTS = { warmupMs: 100, sampleMs: 20, repeats: 5 };

describe('stats', () => {
  test('quantiles interpolate between neighbours', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0.25)).toBe(1.75);
    expect(quantileSorted([7], 0.9)).toBe(7);
    expect(() => quantileSorted([], 0.5)).toThrow(/empty/);
    expect(() => quantileSorted([1], 1.5)).toThrow(/outside/);
  });

  test('median ignores order and a single outlier', () => {
    expect(median([5, 1, 1000, 3, 4])).toBe(4);
  });

  test('summarize reports median, extremes and the relative spread', () => {
    const s = summarize([10, 12, 11, 13, 9]);
    expect(s).toMatchObject({ n: 5, median: 11, min: 9, max: 13, p25: 10, p75: 12 });
    expect(s.relativeIqr).toBeCloseTo(2 / 11);
    expect(() => summarize([1, NaN])).toThrow(/not a finite number/);
  });
});

describe('timing', () => {
  test('calibrates the iterations per sample to the sample time', () => {
    expect(iterationsPerSample(1e6, 20)).toBe(20); // 1 ms per iteration, 20 ms samples
    expect(iterationsPerSample(3e7, 20)).toBe(1); // slower than a sample: one iteration
    expect(iterationsPerSample(0, 20)).toBe(2e7); // guards against a zero estimate
  });

  test('reports per-unit time of every sample', () => {
    let calls = 0;
    const busyWaitNs = 200_000;
    const iteration = () => {
      calls++;
      const end = process.hrtime.bigint() + BigInt(busyWaitNs);
      while (process.hrtime.bigint() < end);
    };
    const m = measure(iteration, 10, { warmupMs: 1, sampleMs: 1, repeats: 4 });
    expect(m.samplesNs).toHaveLength(4);
    expect(m.unitsPerIteration).toBe(10);
    expect(m.iterationsPerSample).toBeGreaterThanOrEqual(1);
    // Each iteration busy-waits at least 200 µs, i.e. at least 20 µs per unit.
    for (const s of m.samplesNs) expect(s).toBeGreaterThanOrEqual(busyWaitNs / 10);
    expect(calls).toBeGreaterThanOrEqual(2 + 4 * m.iterationsPerSample);
  });

  test('the CPU clock counts work, not waiting', async () => {
    const cpu = stopwatch('cpu');
    const wall = stopwatch('wall');
    await new Promise((resolve) => setTimeout(resolve, 400));
    const waited = wall();
    expect(waited).toBeGreaterThanOrEqual(390e6);
    // Sleeping takes little CPU time: the process clock counts every thread (GC, libtorch's pool), so
    // the bound is a fraction of the wait rather than zero.
    expect(cpu()).toBeLessThan(0.5 * waited);
    const m = measure(
      () => {
        const end = process.hrtime.bigint() + 100_000n;
        while (process.hrtime.bigint() < end);
      },
      1,
      { warmupMs: 0, sampleMs: 1, repeats: 3, clock: 'cpu' },
    );
    // Busy-waiting 100 µs of wall time costs about as much CPU time (less only if the process was descheduled).
    for (const s of m.samplesNs) expect(s).toBeGreaterThan(20_000);
  });

  test('rejects meaningless settings', () => {
    expect(() => measure(() => {}, 0, DEFAULTS)).toThrow(/units per iteration/);
    expect(() => measure(() => {}, 1, { ...DEFAULTS, repeats: 0 })).toThrow(/repeats/);
    expect(() => measure(() => {}, 1, { ...DEFAULTS, sampleMs: 0 })).toThrow(/sample time/);
    expect(() => measure(() => {}, 1, { ...DEFAULTS, clock: 'tsc' as 'cpu' })).toThrow(/clock must be/);
  });
});

describe('options', () => {
  test('defaults come from the benchmark', () => {
    const o = parseOptions([], { ...DEFAULTS, rounds: 3 });
    expect(o).toMatchObject({ ...DEFAULTS, rounds: 3, clock: 'wall', skip: [], help: false });
    expect(o.cases).toBeUndefined();
    expect(o.threads).toBeUndefined();
    expect(parseOptions([], DEFAULTS).rounds).toBe(1);
  });

  test('parses both --flag value and --flag=value', () => {
    const o = parseOptions(
      [
        '--cases',
        'add, view',
        '--repeats=9',
        '--sample-ms',
        '2.5',
        '--warmup-ms=0',
        '--threads',
        '1',
        '--skip',
        'cpp',
        '--rounds',
        '2',
        '--clock',
        'cpu',
      ],
      DEFAULTS,
    );
    expect(o).toMatchObject({
      cases: ['add', 'view'],
      repeats: 9,
      sampleMs: 2.5,
      warmupMs: 0,
      threads: 1,
      skip: ['cpp'],
      rounds: 2,
      clock: 'cpu',
    });
  });

  test('names the offending option', () => {
    expect(() => parseOptions(['--repeats', '2.5'], DEFAULTS)).toThrow(/--repeats expects a whole number/);
    expect(() => parseOptions(['--sample-ms', '0'], DEFAULTS)).toThrow(/--sample-ms expects/);
    expect(() => parseOptions(['--threads'], DEFAULTS)).toThrow(/got nothing/);
    expect(() => parseOptions(['--cases', ','], DEFAULTS)).toThrow(/comma-separated list/);
    expect(() => parseOptions(['--fast'], DEFAULTS)).toThrow(/unknown option "--fast"/);
    expect(() => parseOptions(['--clock', 'tsc'], DEFAULTS)).toThrow(/--clock expects "wall" or "cpu", got "tsc"/);
  });
});

describe('counterpart protocol', () => {
  const report = {
    implementation: 'PyTorch 2.13.0+cpu',
    threads: 2,
    unknown_cases: ['nope'],
    results: { add: { description: 'a + b', samples_ns: [900, 950], iterations_per_sample: 20, units_per_iteration: 1000 } },
  };

  test('reads the JSON report from the last line of stdout', () => {
    const run = parseCounterpartOutput('py', `some noise\n${JSON.stringify(report)}\n`);
    expect(run.implementation).toBe('PyTorch 2.13.0+cpu');
    expect(run.unknownCases).toEqual(['nope']);
    expect(run.results.get('add')).toEqual({
      description: 'a + b',
      samplesNs: [900, 950],
      iterationsPerSample: 20,
      unitsPerIteration: 1000,
    });
  });

  test('rejects malformed reports with the reason', () => {
    expect(() => parseCounterpartOutput('py', 'Traceback ...')).toThrow(/py: the last line of its output is not the JSON report/);
    expect(() => parseCounterpartOutput('py', JSON.stringify({ ...report, threads: undefined }))).toThrow(/"threads" is missing/);
    const bad = { ...report, results: { add: { ...report.results.add, samples_ns: [900, -1] } } };
    expect(() => parseCounterpartOutput('py', JSON.stringify(bad))).toThrow(/case "add": "samples_ns"/);
  });

  test('passes the timing settings on the command line', () => {
    expect(protocolArgs({ cases: ['add', 'view'], threads: 2, warmupMs: 100, sampleMs: 20, repeats: 5, clock: 'cpu' })).toEqual([
      '--cases',
      'add,view',
      '--threads',
      '2',
      '--warmup-ms',
      '100',
      '--sample-ms',
      '20',
      '--repeats',
      '5',
      '--clock',
      'cpu',
    ]);
  });
});

describe('report', () => {
  test('formats durations in the unit that keeps them short', () => {
    expect(formatDuration(712.4)).toBe('712 ns');
    expect(formatDuration(9999)).toBe('9999 ns');
    expect(formatDuration(53_600)).toBe('53.6 µs');
    expect(formatDuration(1_287_601)).toBe('1288 µs');
    expect(formatDuration(16_000_000)).toBe('16.0 ms');
    expect(formatRatio(0.5349)).toBe('0.53×');
    expect(formatRatio(null)).toBe('–');
  });

  const timed = (ns: number[], description = 'x'): TimedResult => ({
    description,
    samplesNs: ns,
    iterationsPerSample: 1,
    unitsPerIteration: 1000,
  });

  test('rows compare medians and check goals; missing counterparts stay empty', () => {
    const theirs = new Map([['pytorch', new Map([['add', timed([1000, 1000, 2000], 'a + b')]])]]);
    const row = buildRow(
      {
        name: 'add',
        group: 'g',
        compareAs: 'add',
        goals: [
          { vs: 'pytorch', max: 0.65 },
          { vs: 'cpp', max: 1.3 },
        ],
      },
      timed([600, 650, 700]),
      ['pytorch', 'cpp'],
      theirs,
    );
    expect(row.ratios.pytorch).toBeCloseTo(0.65);
    expect(row.ratios.cpp).toBeNull();
    expect(row.counterparts.cpp).toBeNull();
    expect(row.goals).toEqual([
      { vs: 'pytorch', max: 0.65, ratio: row.ratios.pytorch, met: true },
      { vs: 'cpp', max: 1.3, ratio: null, met: null },
    ]);
    const diag = buildRow({ name: 'napi', group: 'g', compareAs: null, goals: [] }, timed([30]), ['pytorch'], theirs);
    expect(diag.ratios.pytorch).toBeNull();
  });

  test('the table has a section per group, medians, ratios and goal marks', () => {
    const theirs = new Map([['pytorch', new Map([['add', timed([1000])]])]]);
    const rows = [
      buildRow(
        { name: 'add', group: 'per call', compareAs: 'add', goals: [{ vs: 'pytorch', max: 0.65 }] },
        timed([700]),
        ['pytorch'],
        theirs,
      ),
      buildRow({ name: 'add.raw', group: 'diagnosis', compareAs: 'add', goals: [] }, timed([500]), ['pytorch'], theirs),
    ];
    const result = {
      counterparts: [{ id: 'pytorch', label: 'PyTorch', implementation: 'PyTorch 2.13', unavailable: null }],
      rows,
    } as unknown as SuiteResult;
    const lines = formatTable(result).split('\n');
    expect(lines[0]).toMatch(/^\| case +\| +ours \| +PyTorch \| ours\/PyTorch \| +goal \|$/);
    expect(lines[2]).toMatch(/^\| \*\*per call\*\*/);
    expect(lines[3]).toMatch(/^\| add +\| +700 ns ±0% \| +1000 ns ±0% \| +0\.70× \| ≤0\.65× PyTorch ✗ \|$/);
    expect(lines[4]).toMatch(/\*\*diagnosis\*\*/);
    expect(lines[5]).toMatch(/^\| add\.raw \(vs add\) +\| +500 ns ±0% \| +1000 ns ±0% \| +0\.50× \|/);
    // Every line has the same width: the columns are aligned.
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
  });
});
