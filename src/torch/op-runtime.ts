// Helpers used by the generated operator layer (src/torch/generated/ops.ts): argument predicates for
// overload resolution, handle extraction, result wrapping and lazy operator resolution.
import { native as N } from './native';
import { Tensor, wrap } from './tensor';
import { DTYPE_NAMES, DTYPES } from './types';
import { TorchTypeError } from './errors';

/** Removes and returns a trailing options object (a plain object literal), if any. */
export function opts(a: any[]): any {
  const n = a.length;
  if (n === 0) return undefined;
  const last = a[n - 1];
  // Arrays first: Object.getPrototypeOf is a runtime call in V8, and int lists are common last arguments.
  if (last !== null && typeof last === 'object' && !Array.isArray(last) && Object.getPrototypeOf(last) === Object.prototype) {
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
export const isNL = (v: unknown): boolean =>
  typeof v === 'number' || (Array.isArray(v) && (v.length === 0 || typeof v[0] === 'number'));
export const isTL = (v: unknown): boolean => Array.isArray(v) && (v.length === 0 || v[0] instanceof Tensor || v[0] === null);
export const isDType = (v: unknown): boolean => typeof v === 'string' && DTYPE_NAMES.has(v);
export const isDevice = (v: unknown): boolean => typeof v === 'string' && !DTYPE_NAMES.has(v);

export function keysIn(o: any, names: string[]): boolean {
  if (o === undefined) return true;
  for (const k in o) if (o[k] !== undefined && !names.includes(k)) return false;
  return true;
}

// ---- int lists for the packed entry points (native p_*; see scripts/gen-ops.js) ----

/** Shared with native code (static memory there): regions of 16 doubles, the length first (-1: null). */
const PACK = new Float64Array(N.packBuffer());
/** Counts pk() calls: one started while another was reading its list (a getter) shows as a change. */
let packCalls = 0;

/**
 * Writes an int list (a number is a one-element list; null or undefined is None) into the pack
 * region at `at` for the next native call. False when the value cannot be packed — more than 15
 * elements, an element that is not an int32 number (BigInt, boolean, 1.5, 2^40: native converts
 * those from the array as before), or another pk() ran meanwhile from a getter of this list — and
 * the caller then takes the general path.
 */
export function pk(v: unknown, at: number): boolean {
  const call = ++packCalls;
  if (typeof v === 'number') {
    if ((v | 0) !== v) return false;
    PACK[at] = 1;
    PACK[at + 1] = v;
    return true;
  }
  if (v == null) {
    PACK[at] = -1;
    return true;
  }
  if (!Array.isArray(v)) return false;
  const n = v.length;
  if (n > 15) return false;
  for (let i = 0; i < n; i++) {
    const e = v[i];
    if (typeof e !== 'number' || (e | 0) !== e) return false;
    PACK[at + 1 + i] = e;
  }
  PACK[at] = n;
  return packCalls === call;
}

export const hOpt = (t: Tensor | null | undefined): number | null => (t == null ? null : t._h);
/**
 * Handles of a tensor list. Overload resolution checks only the first element, and native code would
 * take a stray number for a tensor handle, so every element is checked here.
 */
export function hList(ts: (Tensor | null)[], op: string, arg: string): (number | null)[] {
  return ts.map((t, i) => {
    if (t instanceof Tensor) return t._h;
    if (t === null) return null;
    throw new TorchTypeError(
      `${op}(): argument '${arg}' must be a list of Tensors, got ${describe(t)} at index ${i}`,
      'TypeError',
    );
  });
}

export const wrapList = (hs: number[]): Tensor[] => hs.map(wrap);
/** A tuple of tensors, with PyTorch's named fields when the schema names them (values, indices). */
export function wrapTuple(hs: number[], names?: string[]): any {
  const out: any = hs.map(wrap);
  if (names) names.forEach((n, i) => Object.defineProperty(out, n, { value: out[i], enumerable: false }));
  return out;
}
/** A tuple of tensors, tensor lists and plain values; tensor handles are numbers too, so the schema's return types say which is which. */
export const wrapMixed = (vs: any[], types: string[]): any[] =>
  vs.map((v, i) => (types[i] === 'Tensor' ? wrap(v) : types[i] === 'Tensor[]' ? wrapList(v) : v));

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
  if (v instanceof Tensor)
    return v.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${v.shape}], dtype=${v.dtype}, device=${v.device})`;
  if (Array.isArray(v)) return `[${v.slice(0, 6).map(describe).join(', ')}${v.length > 6 ? ', ...' : ''}]`;
  if (v === null) return 'null';
  if (typeof v === 'object') return `{${Object.keys(v).join(', ')}}`;
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- only primitives and functions reach here
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** Describes an options object with its values: {dim: 1, keepdim: true}. */
function describeOptions(o: Record<string, unknown>): string {
  return `{${Object.entries(o)
    .map(([k, v]) => `${k}: ${describe(v)}`)
    .join(', ')}}`;
}

/** Throws the TypeError for a call that matched no overload; `o` is the options object it was given. */
export function noMatch(name: string, a: any[], schemas: string[], o?: Record<string, unknown>): never {
  // The most common cause with options: a dtype name torch does not know.
  if (o !== undefined && typeof o.dtype === 'string' && !DTYPE_NAMES.has(o.dtype))
    throw new TorchTypeError(
      `${name}(): unknown dtype ${JSON.stringify(o.dtype)} (expected one of ${DTYPES.join(', ')})`,
      'TypeError',
    );
  const given = a.map(describe);
  if (o !== undefined) given.push(describeOptions(o));
  throw new TorchTypeError(
    `${name}() received an invalid combination of arguments: (${given.join(', ')})\n` +
      `  expected one of:\n${schemas.map((s) => `    ${s}`).join('\n')}`,
    'TypeError',
  );
}

/** Applies the `requiresGrad` option of factory functions. */
export function factoryResult(t: Tensor, o: any): Tensor {
  if (o !== undefined && o.requiresGrad) t.requiresGrad_(true);
  return t;
}

// ---- torch.ops(): boxed calls by schema name ----

/** How a schema argument holds tensors. */
export type TensorSlot = { name: string; kind: 'tensor' | 'optional' | 'list' | 'none' };

/** Splits at commas outside brackets: defaults such as `int[2] stride=[1, 1]` contain commas. */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '[' || c === '(') depth++;
    else if (c === ']' || c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = s.slice(start).trim();
  if (last) out.push(last);
  return out;
}

/** The arguments of a schema string in call order (keyword-only ones included), by how they hold tensors. */
export function tensorSlots(schema: string): TensorSlot[] {
  const open = schema.indexOf('(');
  const close = schema.lastIndexOf(') ->');
  if (open < 0 || close < 0) return [];
  return splitArgs(schema.slice(open + 1, close))
    .filter((a) => a !== '*')
    .map((a) => {
      const [rawType, name = '?'] = a.split(/\s+/);
      const type = rawType.replace(/\([^)]*\)/g, ''); // alias annotations: Tensor(a!)
      const kind = !type.startsWith('Tensor') ? 'none' : type.endsWith(']') ? 'list' : type.endsWith('?') ? 'optional' : 'tensor';
      return { name: name.replace(/=.*/, ''), kind };
    });
}

/**
 * One JS argument of a boxed call as native takes it. Tensor handles are plain numbers there, so a
 * number where a tensor belongs (or a tensor where a number belongs) is refused here.
 */
export function boxedArg(op: string, slot: TensorSlot | undefined, v: unknown): unknown {
  if (slot === undefined || v === undefined) return v instanceof Tensor ? v._h : v;
  const wrong = (what: string): never => {
    throw new TorchTypeError(`${op}: argument '${slot.name}' must be ${what}, got ${describe(v)}`, 'TypeError');
  };
  switch (slot.kind) {
    case 'none':
      return v instanceof Tensor ? wrong('a non-Tensor value') : v;
    case 'tensor':
      return v instanceof Tensor ? v._h : wrong('a Tensor');
    case 'optional':
      return v === null ? null : v instanceof Tensor ? v._h : wrong('a Tensor or null');
    case 'list':
      if (!Array.isArray(v)) return wrong('an array of Tensors');
      return v.map((t) => (t instanceof Tensor ? t._h : t === null ? null : wrong('an array of Tensors')));
  }
}

/** The return types of a schema string without alias annotations or names: ['Tensor', 'float']. */
export function returnTypes(schema: string): string[] {
  const arrow = schema.lastIndexOf('->');
  if (arrow < 0) return [];
  let r = schema.slice(arrow + 2).trim();
  if (r.startsWith('(') && r.endsWith(')')) r = r.slice(1, -1);
  return splitArgs(r).map((t) => t.split(/\s+/)[0].replace(/\([^)]*\)/g, ''));
}

/** What native returned for a boxed call, with tensor handles (numbers, like any int) wrapped per the schema. */
export function wrapReturns(r: any, types: string[]): any {
  if (types.length === 1) return types[0] === 'Tensor' ? wrap(r) : types[0] === 'Tensor[]' ? wrapList(r) : r;
  return Array.isArray(r) ? wrapMixed(r, types) : r;
}
