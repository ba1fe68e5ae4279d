// Checking the tensor library against PyTorch: send JS tensors to Python, evaluate a batch of
// expressions there in one process (importing torch costs seconds), and compare results.
//
//   const py = evalTorch({ sum: 'a.sum(1)', top: 'torch.topk(a, 2)' }, { a: encodeTensor(a) });
//   expectMatches(a.sum(1), py.get('sum'));
import { Tensor } from '../../src/torch';
import { encodeForPython, isPyTensor, runPython, type PyTensor } from './python';

const FLOAT_DTYPES = new Set(['float32', 'float64', 'bfloat16', 'float16']);

/** The elements of a tensor, row-major: numbers (int64 beyond 2^53 as BigInt), booleans for bool. */
export function flatValues(t: Tensor): (number | boolean | bigint)[] {
  const isBool = t.dtype === 'bool';
  return Array.from(t.toTypedArray() as ArrayLike<number | bigint>, (v) =>
    typeof v === 'bigint' ? (v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v) : isBool ? v !== 0 : v,
  );
}

/** A tensor in the tagged form python.ts sends to Python (it arrives there as a torch tensor). */
export function encodeTensor(t: Tensor, options: { requiresGrad?: boolean } = {}): { $tensor: object } {
  return {
    $tensor: {
      shape: t.shape,
      dtype: t.dtype,
      data: encodeForPython(flatValues(t)),
      requiresGrad: options.requiresGrad ?? false,
    },
  };
}

export type PyOutcome = { ok: unknown } | { error: string; message: string };

/** Results of evalTorch, by expression name. */
export class PyResults {
  constructor(private readonly outcomes: Record<string, PyOutcome>) {}

  /** The value of an expression; throws with Python's error if it raised there. */
  get(name: string): unknown {
    const o = this.outcomes[name];
    if (o === undefined) throw new Error(`no Python expression named '${name}'`);
    if ('error' in o) throw new Error(`Python raised for '${name}': ${o.error}: ${o.message}`);
    return o.ok;
  }

  /** The Python exception type and message of an expression that raised (null if it did not). */
  error(name: string): { error: string; message: string } | null {
    const o = this.outcomes[name];
    if (o === undefined) throw new Error(`no Python expression named '${name}'`);
    return 'error' in o ? o : null;
  }
}

/**
 * Evaluates Python expressions (torch, F = torch.nn.functional and math in scope, plus `inputs` by
 * name; `setup` runs first and may define more names) in one Python process. An expression that
 * raises is recorded, not fatal: PyResults.error tells what Python raised.
 */
export function evalTorch(expressions: Record<string, string>, inputs: Record<string, unknown> = {}, setup = ''): PyResults {
  const code = String.raw`
import math
import torch
import torch.nn.functional as F
torch.set_num_threads(1)
ns = {"torch": torch, "F": F, "math": math}
ns.update(INPUT["inputs"])
exec(INPUT["setup"], ns)
out = {}
for name, expr in INPUT["exprs"].items():
    try:
        out[name] = {"ok": eval(expr, ns)}
    except Exception as e:
        out[name] = {"error": type(e).__name__, "message": str(e)}
emit(out)
`;
  const outcomes = runPython<Record<string, PyOutcome>>(code, { exprs: expressions, inputs, setup });
  return new PyResults(outcomes);
}

export interface Tolerance {
  atol?: number;
  rtol?: number;
  /** compare dtypes too (default true) */
  dtype?: boolean;
}

function close(a: number, b: number, atol: number, rtol: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= atol + rtol * Math.abs(b);
}

/** Why `actual` differs from Python's `expected` (tensors, tuples/lists of them, scalars), or null. */
export function mismatch(actual: unknown, expected: unknown, tol: Tolerance = {}, path = 'result'): string | null {
  const atol = tol.atol ?? 1e-5;
  const rtol = tol.rtol ?? 1e-4;
  if (isPyTensor(expected)) {
    if (!(actual instanceof Tensor)) return `${path}: expected a tensor, got ${String(actual)}`;
    return tensorMismatch(actual, expected, atol, rtol, tol.dtype ?? true, path);
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array of ${expected.length}, got ${String(actual)}`;
    if (actual.length !== expected.length) return `${path}: expected ${expected.length} elements, got ${actual.length}`;
    for (let i = 0; i < expected.length; i++) {
      const m = mismatch(actual[i], expected[i], tol, `${path}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (typeof expected === 'number' && typeof actual === 'number') {
    return close(actual, expected, atol, rtol) ? null : `${path}: expected ${expected}, got ${actual}`;
  }
  return Object.is(actual, expected) || actual === expected
    ? null
    : `${path}: expected ${String(expected)}, got ${String(actual)}`;
}

function tensorMismatch(
  actual: Tensor,
  expected: PyTensor,
  atol: number,
  rtol: number,
  checkDtype: boolean,
  path: string,
): string | null {
  const shape = actual.shape;
  if (shape.length !== expected.shape.length || shape.some((d, i) => d !== expected.shape[i]))
    return `${path}: expected shape [${expected.shape}], got [${shape}]`;
  if (checkDtype && actual.dtype !== expected.dtype) return `${path}: expected dtype ${expected.dtype}, got ${actual.dtype}`;
  const got = flatValues(actual);
  const exact = !FLOAT_DTYPES.has(expected.dtype);
  for (let i = 0; i < got.length; i++) {
    const a = got[i];
    const e = expected.data[i];
    const ok =
      exact || typeof a !== 'number' || typeof e !== 'number' ? a === e || Number(a) === Number(e) : close(a, e, atol, rtol);
    if (!ok) return `${path}: element ${i} (of ${got.length}) differs: expected ${String(e)}, got ${String(a)}`;
  }
  return null;
}

/** Jest assertion: actual matches Python's value (shape, dtype and values within tolerance). */
export function expectMatches(actual: unknown, expected: unknown, tol: Tolerance = {}): void {
  const m = mismatch(actual, expected, tol);
  if (m) throw new Error(m);
}
