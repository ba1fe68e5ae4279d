// Safetensors load throughput: a 512 MiB file of 8 float32 tensors of 64 MiB, loaded by ours
// (SafetensorsFile.open + loadTensor per tensor: with a warm page cache, tensors over a copy-on-write
// mapping of the file; cold, or with map: false, pread(2) straight into tensor memory) and, in the
// same run, read by `cat` (the read limit), by Python into a reused buffer (the floor of any loader
// that copies), by the Python path without the safetensors package (readinto + torch.frombuffer) and
// by the safetensors package (bench/python/safetensors_load.py).
//
//   npm run bench -- safetensors [--dir DIR] [harness options]
//
// --dir DIR: where to write the file (default: the OS temp dir); it is deleted at the end.
// Two groups of cases: a warm page cache (the file was just read), and a cold one (every iteration
// starts by dropping the file's pages with posix_fadvise(DONTNEED), in every implementation).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as torch from '../src/torch';
import { spawnSync } from 'child_process';
import { loadTensor, type LoadTensorOptions } from '../src/torch/io/load';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../src/torch/io/safetensors';
import { native } from '../src/torch/native';
import { pythonCounterpart, ROOT, runSuite, UsageError, type BenchCase, type Counterpart, type SuiteResult } from './lib';

const TENSORS = 8;
const TENSOR_ELEMENTS = 16 * 1024 * 1024; // 64 MiB of float32
const FILE_VARIABLE = 'LT_BENCH_SAFETENSORS_FILE'; // how bench/python/safetensors_load.py finds the file
const PYTHON_SCRIPT = 'bench/python/safetensors_load.py';

/** Writes the benchmark file: tensors w0..w7, each filled with a different ramp (one tensor in JS memory at a time). */
function writeBenchFile(file: string, tensors = TENSORS, elements = TENSOR_ELEMENTS): void {
  const specs: TensorToWrite[] = Array.from({ length: tensors }, (_, i) => ({
    name: `w${i}`,
    dtype: 'F32',
    shape: [elements / 1024, 1024],
    data: () => {
      const values = new Float32Array(elements);
      for (let k = 0; k < elements; k++) values[k] = i + k / elements;
      return values;
    },
  }));
  writeSafetensors(file, specs, { format: 'pt' });
}

function loadAll(file: string, options: LoadTensorOptions = {}): void {
  torch.scope(() => {
    using st = SafetensorsFile.open(file);
    for (const name of st.entries.keys()) loadTensor(st, name, options);
  });
}

const RSS_PROBE = '--rss-probe';

/**
 * Child-process side of the peak-memory rows: loads the whole file once with `map` and keeps the
 * tensors, then prints the resident set before and at its peak (getrusage), in bytes.
 */
function rssProbe(file: string, map: 'auto' | 'false'): void {
  const before = process.memoryUsage().rss;
  const tensors = torch.scope(() => {
    using st = SafetensorsFile.open(file);
    return [...st.entries.keys()].map((name) => torch.keep(loadTensor(st, name, { map: map === 'auto' ? 'auto' : false })));
  });
  const peak = process.resourceUsage().maxRSS * 1024;
  for (const t of tensors) t.dispose();
  console.log(JSON.stringify({ before, peak }));
}

/** Peak resident-set growth of one load in a fresh process, for each way of loading. */
function peakRss(file: string, bytes: number): string {
  const lines = ['| load | RSS before | peak RSS | peak growth / file size |', '|---|--:|--:|--:|'];
  for (const map of ['auto', 'false'] as const) {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bench', 'run.js'), 'safetensors', RSS_PROBE, map, file], {
      encoding: 'utf8',
    });
    if (r.status !== 0) {
      lines.push(`| map: ${map} | probe failed (${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n').pop()} | | |`);
      continue;
    }
    const { before, peak } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: number; peak: number };
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
    lines.push(
      `| map: ${map}${map === 'auto' ? ' (warm: mapped)' : ' (pread copy)'} | ${mib(before)} | ${mib(peak)} | ${((peak - before) / bytes).toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}

/** The loader ours had before loadTensor (and the Qwen2 loader used): bytes into a JS Buffer, then a copy into a tensor. */
function loadAllThroughJs(file: string): void {
  torch.scope(() => {
    using st = SafetensorsFile.open(file);
    for (const entry of st.entries.values()) torch.fromBytes(st.read(entry.name), 'float32', entry.shape);
  });
}

function evicting(file: string, iteration: () => void): () => void {
  return () => {
    native.evictFromPageCache(file);
    iteration();
  };
}

function cases(file: string): BenchCase[] {
  const warm = `warm page cache: ${TENSORS} × 64 MiB float32`;
  const cold = 'cold page cache: the file is evicted (posix_fadvise DONTNEED) at the start of every iteration';
  const readLimit = [{ vs: 'cat', max: 1.2 }];
  const open = (options = '') =>
    `using f = SafetensorsFile.open(FILE); for (name of f.entries.keys()) loadTensor(f, name${options})`;
  const evict = 'native.evictFromPageCache(FILE); ';
  return [
    {
      name: 'load',
      group: warm,
      description: open() + " (map: 'auto': warm, so mapped)",
      unitsPerIteration: 1,
      goals: readLimit,
      setup: () => ({ iteration: () => loadAll(file) }),
    },
    {
      name: 'load.copy',
      group: warm,
      description: open(', {map: false}') + ' (pread copies)',
      unitsPerIteration: 1,
      compareAs: 'load',
      setup: () => ({ iteration: () => loadAll(file, { map: false }) }),
    },
    {
      name: 'load.copy_reader_threads_2',
      group: warm,
      description: open(', {map: false, readerThreads: 2}'),
      unitsPerIteration: 1,
      compareAs: 'load',
      setup: () => ({ iteration: () => loadAll(file, { map: false, readerThreads: 2 }) }),
    },
    {
      name: 'load.through_js_buffer',
      group: warm,
      description: 'per tensor: torch.fromBytes(f.read(name), dtype, shape) (the bytes pass through a JS Buffer)',
      unitsPerIteration: 1,
      compareAs: 'load',
      setup: () => ({ iteration: () => loadAllThroughJs(file) }),
    },
    {
      name: 'load_cold',
      group: cold,
      description: evict + open() + " (map: 'auto': cold, so pread)",
      unitsPerIteration: 1,
      goals: readLimit,
      setup: () => ({ iteration: evicting(file, () => loadAll(file)) }),
    },
  ];
}

/** One implementation of bench/python/safetensors_load.py, as a column of its own. */
function pythonImplementation(impl: string, id: string, label: string): Counterpart {
  const script = pythonCounterpart(PYTHON_SCRIPT, id, label);
  return {
    id,
    label,
    prepare() {
      const launch = script.prepare();
      return 'unavailable' in launch ? launch : { command: launch.command, args: [...launch.args, '--impl', impl] };
    },
  };
}

/** Median throughput of every cell, in GB/s (10^9 bytes per second), from the suite's result. */
function throughputTable(result: SuiteResult, bytes: number): string {
  const gbps = (ns: number | undefined) => (ns === undefined ? '–' : (bytes / ns).toFixed(2));
  const columns = result.counterparts;
  const header = ['case', 'ours', ...columns.map((c) => c.label)];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '--:')).join('|')}|`];
  for (const row of result.rows) {
    const theirs = columns.map((c) => gbps(row.counterparts[c.id]?.summary.median));
    lines.push(`| ${row.name} | ${gbps(row.ours.summary.median)} | ${theirs.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Splits our own --dir option from the harness's options. */
function parseDir(argv: string[]): { dir: string; rest: string[] } {
  const rest: string[] = [];
  let dir = os.tmpdir();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--dir' || arg.startsWith('--dir=')) {
      const value = arg === '--dir' ? argv[++i] : arg.slice('--dir='.length);
      if (!value) throw new UsageError('--dir expects a directory');
      if (!fs.existsSync(value) || !fs.statSync(value).isDirectory()) throw new UsageError(`--dir: ${value} is not a directory`);
      dir = value;
    } else rest.push(arg);
  }
  return { dir, rest };
}

export async function main(argv: string[]): Promise<void> {
  if (argv[0] === RSS_PROBE) return rssProbe(argv[2], argv[1] === 'auto' ? 'auto' : 'false');
  const { dir, rest } = parseDir(argv);
  const help = rest.includes('--help') || rest.includes('-h');
  const workDir = help ? dir : fs.mkdtempSync(path.join(dir, 'lt-bench-safetensors-'));
  const file = path.join(workDir, 'bench.safetensors');
  try {
    if (!help) {
      process.stderr.write(`bench safetensors: writing ${file} (${TENSORS} × 64 MiB)\n`);
      writeBenchFile(file);
      process.env[FILE_VARIABLE] = file;
    }
    const bytes = help ? 0 : fs.statSync(file).size;
    const result = await runSuite(
      {
        name: 'safetensors',
        title:
          'safetensors: load throughput of a 512 MiB file, ours vs the read limit (cat), a copying floor, PyTorch and the safetensors package',
        cases: cases(file),
        counterparts: [
          pythonImplementation('cat', 'cat', 'cat'),
          pythonImplementation('readinto', 'readinto', 'readinto'),
          pythonImplementation('frombuffer', 'pytorch', 'PyTorch'),
          pythonImplementation('safetensors', 'safetensors', 'safetensors'),
        ],
        // One iteration reads 512 MiB (0.1–1 s): single-iteration samples, two warm-up iterations.
        timing: { warmupMs: 0, sampleMs: 1, repeats: 5, rounds: 3 },
        notes: [
          'Every implementation reads the same file; times are per whole-file load (all 8 tensors), open and header parsing included.',
          'cat (the read limit) copies the page cache into one small buffer that stays in the CPU cache; every loader must also write the 512 MiB ' +
            'to memory that is not yet in any cache (and, when the memory is new, fault it in): readinto (one reused, pre-touched buffer) is that floor.',
          "Ours (map: 'auto') maps the file copy-on-write once and makes each tensor a view of its bytes, its page-table entries filled at load (MADV_POPULATE_READ): nothing is copied.",
          'Ours with map: false allocates each tensor (at::empty) and preads into it, asking for transparent huge pages: 4 KiB first-touch faults made a 512 MiB load 4× slower on a KVM guest.',
          'The safetensors package\'s default mmap backend reads nothing at load time, so its column uses backend="pread".',
          "Cold rows: posix_fadvise(DONTNEED) drops the file from this machine's page cache; a VM host may still cache it.",
        ],
      },
      rest,
    );
    if (help)
      console.log(
        '\nsafetensors options:\n  --dir DIR           write the 512 MiB file in DIR (default: the OS temp dir); deleted at the end',
      );
    if (result) {
      console.log(`\nThroughput (GB/s = 10^9 bytes of the ${bytes}-byte file per second, from the medians above):\n`);
      console.log(throughputTable(result, bytes));
      console.log(`\nPeak resident set of one load in a fresh process (tensors kept until the end):\n\n${peakRss(file, bytes)}`);
    }
  } finally {
    if (!help) fs.rmSync(workDir, { recursive: true, force: true });
  }
}
