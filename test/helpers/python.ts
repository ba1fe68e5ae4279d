// Runs Python snippets with the project's Python (the one whose torch the addon links against) and
// returns what they emit as JSON. Reusable by any test that checks results against PyTorch:
//
//   const out = runPython<{ sum: number }>('emit({"sum": sum(INPUT)})', [1, 2, 3]);
//
// The snippet sees `INPUT` (the decoded input) and calls `emit(value)` once. Values cross as JSON
// with a few tagged forms so nothing is lost: NaN/±Infinity/-0 as {"$float": "nan" | "inf" | "-inf" | "-0"},
// integers beyond 2^53 as {"$int": "digits"} (BigInt in JS), and — when the snippet imported torch —
// tensors as {"$tensor": {shape, dtype, data, requiresGrad}} (flat row-major data; 16-bit floats as
// float32 values). Inputs may use the same tagged forms; `$tensor` inputs arrive as torch tensors.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..');

export interface PythonLocation {
  path: string;
  /** where the path came from: LT_PYTHON, .torch-env.json or .venv */
  source: string;
}

let located: { python: PythonLocation | null; reason: string } | undefined;

/** The project's Python: $LT_PYTHON, else .torch-env.json's "python", else <repo>/.venv/bin/python. */
export function findPython(): PythonLocation | null {
  return locate().python;
}

/** Why findPython() found nothing (null when it found one). */
export function pythonUnavailableReason(): string | null {
  const l = locate();
  return l.python ? null : l.reason;
}

function locate(): { python: PythonLocation | null; reason: string } {
  if (located) return located;
  const tried: string[] = [];
  const candidates: PythonLocation[] = [];
  if (process.env.LT_PYTHON) candidates.push({ path: process.env.LT_PYTHON, source: 'LT_PYTHON' });
  const envFile = join(REPO_ROOT, '.torch-env.json');
  if (existsSync(envFile)) {
    try {
      const recorded = JSON.parse(readFileSync(envFile, 'utf8')) as { python?: unknown };
      if (typeof recorded.python === 'string' && recorded.python)
        candidates.push({ path: recorded.python, source: '.torch-env.json' });
    } catch (e) {
      tried.push(`${envFile} is not valid JSON (${(e as Error).message})`);
    }
  }
  candidates.push({ path: join(REPO_ROOT, '.venv', 'bin', 'python'), source: '.venv' });
  for (const c of candidates) {
    if (existsSync(c.path)) return (located = { python: c, reason: '' });
    tried.push(`${c.path} (${c.source}) does not exist`);
  }
  return (located = { python: null, reason: `no Python found: ${tried.join('; ')}` });
}

/** A Python exception (or a crash) while running a snippet; carries Python's stderr. */
export class PythonError extends Error {
  override name = 'PythonError';
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

const RESULT_MARKER = '@@LT_PYTHON_RESULT@@';

// Reads {code, input} from stdin, runs the code with INPUT/emit defined, prints the emitted JSON.
const BOOTSTRAP = String.raw`
import json, math, sys

def _torch():
    return sys.modules.get("torch")

def _enc(v):
    t = _torch()
    if t is not None and isinstance(v, t.Tensor):
        x = v.detach().cpu()
        dtype = str(x.dtype).replace("torch.", "")
        if x.dtype in (t.float16, t.bfloat16):
            x = x.float()
        return {"$tensor": {"shape": list(x.shape), "dtype": dtype, "data": [_enc(e) for e in x.reshape(-1).tolist()],
                            "requiresGrad": bool(v.requires_grad)}}
    if t is not None and isinstance(v, t.Size):
        return list(v)
    if t is not None and isinstance(v, t.dtype):
        return str(v).replace("torch.", "")
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v if abs(v) <= 2**53 else {"$int": str(v)}
    if isinstance(v, float):
        if math.isnan(v): return {"$float": "nan"}
        if math.isinf(v): return {"$float": "inf" if v > 0 else "-inf"}
        return v
    if isinstance(v, dict):
        return {str(k): _enc(e) for k, e in v.items()}
    if isinstance(v, (list, tuple)):
        return [_enc(e) for e in v]
    if hasattr(v, "tolist"):
        return _enc(v.tolist())
    raise TypeError("cannot send a %s back to JavaScript" % type(v).__name__)

def _dec(v):
    if isinstance(v, list):
        return [_dec(e) for e in v]
    if isinstance(v, dict):
        if "$float" in v:
            return float(v["$float"])
        if "$int" in v:
            return int(v["$int"])
        if "$tensor" in v:
            import torch
            spec = v["$tensor"]
            x = torch.tensor(_dec(spec["data"]), dtype=getattr(torch, spec["dtype"])).reshape(spec["shape"])
            return x.requires_grad_(True) if spec.get("requiresGrad") else x
        return {k: _dec(e) for k, e in v.items()}
    return v

_emitted = []
def emit(value):
    if _emitted:
        raise RuntimeError("emit() called twice")
    _emitted.append(json.dumps(_enc(value), allow_nan=False))

_request = json.loads(sys.stdin.read())
INPUT = _dec(_request["input"])
exec(compile(_request["code"], "<snippet>", "exec"), {"INPUT": INPUT, "emit": emit, "__name__": "__snippet__"})
if not _emitted:
    raise RuntimeError("the snippet never called emit()")
sys.stdout.write("\n${RESULT_MARKER}" + _emitted[0] + "\n")
`;

export interface RunPythonOptions {
  /** default 120 s (importing torch alone takes a few seconds on a small machine) */
  timeoutMs?: number;
}

/** Runs `code` (which calls emit(value) once) with INPUT = input; returns the decoded value. */
export function runPython<T = unknown>(code: string, input: unknown = null, options: RunPythonOptions = {}): T {
  const python = findPython();
  if (!python) throw new PythonError(pythonUnavailableReason()!, '');
  const proc = spawnSync(python.path, ['-c', BOOTSTRAP], {
    input: JSON.stringify({ code, input: encodeForPython(input) }),
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 512 * 1024 * 1024,
    // One thread: results must not depend on the machine, and the jest workers need the cores.
    env: { ...process.env, OMP_NUM_THREADS: '1', PYTHONHASHSEED: '0' },
  });
  if (proc.error) throw new PythonError(`could not run ${python.path}: ${proc.error.message}`, proc.stderr ?? '');
  const at = proc.stdout.lastIndexOf(RESULT_MARKER);
  if (proc.status !== 0 || at < 0) {
    const tail = (proc.stderr || '').trim().split('\n').slice(-15).join('\n');
    throw new PythonError(`Python snippet failed (exit ${proc.status ?? proc.signal}):\n${tail}`, proc.stderr);
  }
  return decodeFromPython(JSON.parse(proc.stdout.slice(at + RESULT_MARKER.length))) as T;
}

/** A tensor as Python sent it: flat row-major data, NaN/Infinity restored, int64 beyond 2^53 as BigInt. */
export interface PyTensor {
  kind: 'tensor';
  shape: number[];
  dtype: string;
  data: (number | boolean | bigint)[];
  requiresGrad: boolean;
}

export function isPyTensor(v: unknown): v is PyTensor {
  return typeof v === 'object' && v !== null && (v as PyTensor).kind === 'tensor' && Array.isArray((v as PyTensor).shape);
}

/** Tags what JSON cannot carry (NaN, ±Infinity, BigInt) for the Python side. */
export function encodeForPython(v: unknown): unknown {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return { $float: 'nan' };
    if (!Number.isFinite(v)) return { $float: v > 0 ? 'inf' : '-inf' };
    if (Object.is(v, -0)) return { $float: '-0' }; // JSON.stringify(-0) is "0"
    return v;
  }
  if (typeof v === 'bigint') return { $int: v.toString() };
  if (Array.isArray(v)) return v.map(encodeForPython);
  if (v !== null && typeof v === 'object') {
    if ('$tensor' in v || '$float' in v || '$int' in v) return v; // already tagged
    return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, encodeForPython(e)]));
  }
  return v;
}

export function decodeFromPython(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decodeFromPython);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, any>;
  if ('$float' in o)
    return o.$float === 'nan' ? NaN : o.$float === 'inf' ? Infinity : o.$float === '-inf' ? -Infinity : Number(o.$float);
  if ('$int' in o) return BigInt(o.$int);
  if ('$tensor' in o) {
    const t = o.$tensor;
    return {
      kind: 'tensor',
      shape: t.shape,
      dtype: t.dtype,
      data: t.data.map(decodeFromPython),
      requiresGrad: t.requiresGrad,
    } satisfies PyTensor;
  }
  return Object.fromEntries(Object.entries(o).map(([k, e]) => [k, decodeFromPython(e)]));
}

let reasonPrinted = false;
/**
 * `describe` when the project's Python exists, else a skipped describe whose title and a printed
 * warning say why.
 */
export function describeWithPython(name: string, body: () => void): void {
  const reason = pythonUnavailableReason();
  if (reason === null) {
    describe(name, body);
    return;
  }
  if (!reasonPrinted) {
    reasonPrinted = true;
    console.warn(`Skipping tests that compare with PyTorch: ${reason}. Set LT_PYTHON to a Python with torch installed.`);
  }
  describe.skip(`${name} (skipped: ${reason})`, body);
}
