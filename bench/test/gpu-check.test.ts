// bench/gpu-check.sh --dry-run: every step of the GPU check (tests, benchmarks, summary table and
// JSON) run here on the CPU with tiny shapes, so that the script is known to work before GPU time is
// spent on it. Needs the native addon; the PyTorch columns need the project's Python.
// Run: npx jest --roots '<rootDir>/bench' bench/test/gpu-check
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { findPython, ROOT } from '../lib/paths';

const addonBuilt = fs.existsSync(path.join(ROOT, 'build', 'Release', 'latent_tokens.node'));
const hasPython = 'python' in findPython();
if (!addonBuilt) console.log('bench/test/gpu-check.test.ts: skipped: the native addon is not built (npm run build:native)');
const withAddon = addonBuilt ? describe : describe.skip;

interface Summary {
  steps: { name: string; result: string }[];
  benchmarks: {
    label: string;
    status: string;
    rows: { case: string; ours: number; pytorch: number | null; ratio: number | null; note: string }[];
  }[];
  decodeFloor: {
    weightBytes: number;
    copyBandwidth: number;
    floorNs: number;
    oursNs: number;
    pytorchNs: number | null;
    dtype: string;
  } | null;
}

describe('gpu-check report', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-gpu-report-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('lists a benchmark without a result as failed, and rejects bad arguments', () => {
    const json = path.join(dir, 'summary.json');
    const script = path.join(ROOT, 'bench', 'gpu-check-report.js');
    const r = spawnSync(
      process.execPath,
      [script, '--json', json, '--step', 'build=ok', `qwen2=${path.join(dir, 'missing.json')}`],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\| build \| ok \|$/m);
    expect(r.stdout).toMatch(/^\| qwen2 \| failed \(no result; see its log\) \|$/m);
    const summary = JSON.parse(fs.readFileSync(json, 'utf8')) as Summary;
    expect(summary.benchmarks).toEqual([{ label: 'qwen2', status: 'failed (no result; see its log)', rows: [] }]);
    const bad = spawnSync(process.execPath, [script, '--json', json, 'no-equals-sign'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/expected LABEL=RESULT\.json/);
  });
});

withAddon('bench/gpu-check.sh --dry-run', () => {
  let out: string;
  beforeAll(() => (out = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-gpu-check-'))));
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  test('runs every step on the CPU and prints one table and writes the JSON', () => {
    const r = spawnSync('bash', [path.join(ROOT, 'bench', 'gpu-check.sh'), '--dry-run'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, NODE: process.execPath, OUT: out },
      timeout: 900_000,
    });
    if (r.status !== 0) console.log(r.stdout, r.stderr);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^## gpu-check$/m);
    expect(r.stdout).toMatch(/^\| build \| skipped \(dry run\)/m);
    // The CUDA tests are selected: the GPU ones skipped, the no-GPU ones (CUDA unavailable errors) run.
    expect(r.stdout).toMatch(/^\| tests \| Tests: +.*\(exit 0\); CUDA tests: [1-9]\d* passed, 0 failed, [1-9]\d* skipped \|$/m);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'gpu-check.json'), 'utf8')) as Summary;
    expect(summary.benchmarks.map((b) => b.label)).toEqual(['latent-step-float32', 'qwen2-bfloat16', 'sft-bfloat16']);
    for (const b of summary.benchmarks) {
      expect(b.status).toMatch(/^ran/);
      expect(b.rows.length).toBeGreaterThan(0);
      for (const row of b.rows) {
        expect(row.ours).toBeGreaterThan(0);
        if (hasPython) expect(row.pytorch).toBeGreaterThan(0);
      }
    }
    expect(summary.benchmarks[0].rows.find((row) => row.case === 'fwd.B1.D896.fused')!.note).toMatch(
      /^fused [\d.]+× faster than composed$/,
    );
    expect(summary.benchmarks[1].rows.map((row) => row.case)).toEqual(['forward', 'train_step', 'decode_token']);
    expect(summary.benchmarks[2].rows.map((row) => row.case)).toEqual(['full.k4']);
    expect(summary.decodeFloor).not.toBeNull();
    expect(summary.decodeFloor!.dtype).toBe('bfloat16');
    expect(summary.decodeFloor!.floorNs).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/^decode per token vs the memory-bandwidth floor/m);
    expect(fs.existsSync(path.join(out, 'gpu-check-logs.tar.gz'))).toBe(true);
  }, 900_000);
});
