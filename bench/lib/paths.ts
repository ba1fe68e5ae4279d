// Locations the harness relies on: the repository root, the recorded torch environment and the
// project's Python.
import * as fs from 'fs';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const TORCH_ENV_FILE = path.join(ROOT, '.torch-env.json');

/** What scripts/torch-env.js recorded about the libtorch in use (see .torch-env.json). */
export interface TorchEnv {
  libtorch: string;
  version: string;
  cuda: string | null;
  python: string | null;
}

export function readTorchEnv(): TorchEnv | null {
  let text: string;
  try {
    text = fs.readFileSync(TORCH_ENV_FILE, 'utf8');
  } catch {
    return null;
  }
  let env: Partial<TorchEnv>;
  try {
    env = JSON.parse(text);
  } catch (e) {
    throw new Error(`${TORCH_ENV_FILE}: not valid JSON (${(e as Error).message}); rerun \`npm run build:native\` to rewrite it`, {
      cause: e,
    });
  }
  if (typeof env.libtorch !== 'string') throw new Error(`${TORCH_ENV_FILE}: "libtorch" is missing or not a string`);
  return {
    libtorch: env.libtorch,
    version: String(env.version ?? 'unknown'),
    cuda: env.cuda ?? null,
    python: env.python ?? null,
  };
}

/**
 * The project's Python: $LT_PYTHON, else .torch-env.json "python", else <repo>/.venv/bin/python.
 * Returns the path, or the reason none was found.
 */
export function findPython(): { python: string } | { missing: string } {
  const tried: string[] = [];
  const candidates: [string, string | null | undefined][] = [
    ['$LT_PYTHON', process.env.LT_PYTHON],
    ['.torch-env.json "python"', readTorchEnv()?.python],
    ['.venv', path.join(ROOT, '.venv', 'bin', 'python')],
  ];
  for (const [source, p] of candidates) {
    if (!p) continue;
    if (fs.existsSync(p)) return { python: p };
    tried.push(`${source}: ${p} does not exist`);
  }
  return { missing: `no Python with torch found (${tried.length ? tried.join('; ') : 'set LT_PYTHON or create .venv'})` };
}
