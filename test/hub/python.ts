/**
 * Test helper for cross-checks against Python libraries (huggingface_hub, tokenizers, transformers). The interpreter
 * is the project's, located by test/helpers/python.ts (LT_PYTHON, .torch-env.json, .venv); tests skip with the
 * printed reason when it is missing or lacks a module.
 */
import { spawn, spawnSync } from 'child_process';
import { findPython, pythonUnavailableReason } from '../helpers/python';

export interface PythonLookup {
  python?: string;
  /** Why no usable Python was found. */
  reason?: string;
}

/** The project's Python, if it can import every module in `modules`. */
export function findPythonWith(modules: readonly string[]): PythonLookup {
  const located = findPython();
  if (!located) return { reason: pythonUnavailableReason() ?? 'no Python found' };
  const probe = spawnSync(located.path, ['-c', modules.map((m) => `import ${m}`).join('; ')], { encoding: 'utf8' });
  if (probe.status !== 0) {
    return { reason: `${located.path} cannot import ${modules.join(', ')}: ${probe.stderr.trim().split('\n').pop()}` };
  }
  return { python: located.path };
}

/**
 * Runs a script without blocking the event loop (tests serving HTTP from this process need that; runPython in
 * test/helpers/python.ts is synchronous) and parses the last line it prints as JSON. A non-zero exit rejects.
 */
export function runPythonAsync(python: string, script: string, env: NodeJS.ProcessEnv = process.env): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-c', script], { env: { ...env, PYTHONWARNINGS: 'ignore' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`python exited with ${code}:\n${stderr}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? ''));
      } catch {
        reject(new Error(`python printed no JSON:\n${stdout}\n${stderr}`));
      }
    });
  });
}
