// What the benchmark runner's end-to-end tests share: whether the addon is built, bench/run.js run as a
// user runs it, and a temporary output directory for each suite.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from '../lib/paths';

export const addonBuilt =
  fs.existsSync(path.join(ROOT, 'build', 'Release', 'latent_tokens.node')) || !!process.env.LATENT_TOKENS_ADDON;

/** Runs `node bench/run.js ...args` from the repository root and returns its status and output. */
export function runBench(args: string[], timeoutMs: number) {
  return spawnSync(process.execPath, [path.join(ROOT, 'bench', 'run.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
  });
}

/** The tail of a quick test run's arguments: one thread, the CPU clock, the result written to `out`. */
export function oneThreadCpuClock(out: string): string[] {
  return ['--threads', '1', '--clock', 'cpu', '--out', out];
}

/** A fresh temporary directory (`dir`), made before the enclosing describe's tests and removed after. */
export function tempDirSuite(prefix: string): { dir: string } {
  const suite = { dir: '' };
  beforeAll(() => {
    suite.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  afterAll(() => fs.rmSync(suite.dir, { recursive: true, force: true }));
  return suite;
}
