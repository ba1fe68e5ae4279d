import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { inspect } from 'node:util';
import { join, resolve } from 'node:path';

import { SafetensorsError, type SafetensorsErrorCode } from '../../../src/torch/io/safetensors';

/** Deterministic generator (mulberry32) so every run builds the same files. */
export { SeededRandom } from '../../helpers/random';

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Gives each test of the file a fresh temporary directory (handed to `use`), removed after the test. */
export function tempDirForEachTest(prefix: string, use: (dir: string) => void): void {
  let dir = '';
  beforeEach(() => use((dir = makeTempDir(prefix))));
  afterEach(() => removeDir(dir));
}

/** Runs `fn`, expecting a SafetensorsError (checked by name, as callers across module copies would). */
export function catchSafetensorsError(fn: () => unknown): SafetensorsError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) throw new Error('expected a SafetensorsError, but nothing was thrown');
  if (!(thrown instanceof Error) || thrown.name !== 'SafetensorsError') {
    throw new Error(`expected a SafetensorsError, got ${inspect(thrown)}`, { cause: thrown });
  }
  return thrown as SafetensorsError;
}

export function expectSafetensorsError(fn: () => unknown, code: SafetensorsErrorCode): SafetensorsError {
  const error = catchSafetensorsError(fn);
  if (error.code !== code) throw new Error(`expected code ${code}, got ${error.code}: ${error.message}`);
  return error;
}

/**
 * The Python interpreter with safetensors/torch for interop tests: $LT_PYTHON, else <repo>/.venv.
 * Returns the reason instead when none is usable, so tests can print why they skip.
 */
export function findPython(): { python: string } | { reason: string } {
  const candidates = [process.env.LT_PYTHON, resolve(__dirname, '../../../.venv/bin/python')].filter(
    (p): p is string => p !== undefined && p !== '',
  );
  for (const python of candidates) {
    if (!existsSync(python)) continue;
    const probe = spawnSync(python, ['-c', 'import safetensors, torch, numpy'], { encoding: 'utf8' });
    if (probe.status === 0) return { python };
    return { reason: `${python} cannot import safetensors/torch/numpy: ${probe.stderr.trim().split('\n').pop()}` };
  }
  return { reason: 'no Python found (set LT_PYTHON or create <repo>/.venv with safetensors and torch)' };
}

/** Runs a Python script with arguments; throws with its stderr when it fails. Returns stdout. */
export function runPython(python: string, script: string, args: readonly string[] = []): string {
  const result = spawnSync(python, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`python failed (${result.status}):\n${result.stderr}`);
  return result.stdout;
}
