// Helpers used by the generated operator layer (src/torch/generated/ops.ts): argument predicates for
// overload resolution, handle extraction, result wrapping and lazy operator resolution.
import { native as N } from './native';
import { Tensor, wrap } from './tensor';
import { DTYPE_NAMES } from './types';
import { TorchTypeError } from './errors';

/** Removes and returns a trailing options object (a plain object literal), if any. */
export function opts(a: any[]): any {
  const n = a.length;
  if (n === 0) return undefined;
  const last = a[n - 1];
  if (last !== null && typeof last === 'object' && Object.getPrototypeOf(last) === Object.prototype) {
    a.length = n - 1;
    return last;
  }
  // Trailing undefineds (optional parameters left out) do not count as arguments.
  let m = n;
  while (m > 0 && a[m - 1] === undefined) m--;
  if (m !== n) a.length = m;
  return undefined;
}

export const isN = (v: unknown): boolean => typeof v === 'number' || typeof v === 'bigint';
export const isS = (v: unknown): boolean => typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint';
export const isNL = (v: unknown): boolean => typeof v === 'number' || (Array.isArray(v) && (v.length === 0 || typeof v[0] === 'number'));
export const isTL = (v: unknown): boolean => Array.isArray(v) && (v.length === 0 || v[0] instanceof Tensor || v[0] === null);
export const isDType = (v: unknown): boolean => typeof v === 'string' && DTYPE_NAMES.has(v);
export const isDevice = (v: unknown): boolean => typeof v === 'string' && !DTYPE_NAMES.has(v);

export function keysIn(o: any, names: string[]): boolean {
  if (o === undefined) return true;
  for (const k in o) if (o[k] !== undefined && !names.includes(k)) return false;
  return true;
}

export const hOpt = (t: Tensor | null | undefined): number | null => (t == null ? null : t._h);
export const hList = (ts: (Tensor | null)[]): (number | null)[] => ts.map((t) => (t === null ? null : t._h));

export const wrapList = (hs: number[]): Tensor[] => hs.map(wrap);
/** A tuple of tensors, with PyTorch's named fields when the schema names them (values, indices). */
export function wrapTuple(hs: number[], names?: string[]): any {
  const out: any = hs.map(wrap);
  if (names) names.forEach((n, i) => Object.defineProperty(out, n, { value: out[i], enumerable: false }));
  return out;
}
export const wrapMixed = (vs: any[]): any[] => vs.map((v) => (typeof v === 'number' ? v : Array.isArray(v) ? wrapList(v) : v));

const opIds = new Map<string, number>();
/** Resolves an operator once and caches its id. */
export function op(name: string, overload: string, inplace = false): number {
  const key = `${name}.${overload}.${inplace}`;
  let id = opIds.get(key);
  if (id === undefined) {
    id = N.resolveOp(name, overload, inplace);
    opIds.set(key, id);
  }
  return id;
}

function describe(v: unknown): string {
  if (v instanceof Tensor) return v.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${v.shape}], dtype=${v.dtype}, device=${v.device})`;
  if (Array.isArray(v)) return `[${v.slice(0, 6).map(describe).join(', ')}${v.length > 6 ? ', ...' : ''}]`;
  if (v === null) return 'null';
  if (typeof v === 'object') return `{${Object.keys(v as object).join(', ')}}`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export function noMatch(name: string, a: any[], schemas: string[]): never {
  throw new TorchTypeError(
    `${name}() received an invalid combination of arguments: (${a.map(describe).join(', ')})\n` +
      `  expected one of:\n${schemas.map((s) => `    ${s}`).join('\n')}`,
    'TypeError',
  );
}

/** Applies the `requiresGrad` option of factory functions. */
export function factoryResult(t: Tensor, o: any): Tensor {
  if (o !== undefined && o.requiresGrad) t.requiresGrad_(true);
  return t;
}
