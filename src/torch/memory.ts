// Deterministic tensor lifetime: scopes free what they created, dispose() frees at once, and a
// FinalizationRegistry is only the backstop for tensors created outside any scope and forgotten.
import { native } from './native';
import type { Tensor } from './tensor';

const FLAG_REGISTERED = 1; // registered with the finalizer
const FLAG_KEPT = 2; // escaped every scope via keep()

const finalizer = new FinalizationRegistry<number>((handle) => {
  native.release(handle);
});

type Scope = Tensor[];
const scopes: Scope[] = [];
let debug = false;

/** Called by wrap() for every tensor the library creates. */
export function track(t: Tensor): void {
  const top = scopes.length ? scopes[scopes.length - 1] : undefined;
  // An indexed store, not push(): optimized code here called the Array.prototype.push builtin (about
  // 130 instructions per tensor in callgrind) where the store is inlined.
  if (top !== undefined) top[top.length] = t;
  else registerLater(t);
  if (debug) native.setCreationSite(t._h, new Error().stack?.split('\n').slice(3, 9).join('\n') ?? '');
}

function register(t: Tensor): void {
  if (t._flags & FLAG_REGISTERED || t._h < 0) return;
  t._flags |= FLAG_REGISTERED;
  finalizer.register(t, t._h, t);
  native.accountExternal(t._h); // only a tensor left to the GC needs V8 to know its size
}

// Tensors outside every scope get their finalizer when the current job's microtasks run, not at
// creation: a temporary disposed before then never pays for register() and unregister() (together
// more than the rest of a small operator call). Until then this list keeps them reachable, so a
// tensor cannot be collected unregistered; past MAX_UNREGISTERED they are registered at once.
let unregistered: Tensor[] = [];
let flushQueued = false;
const MAX_UNREGISTERED = 4096;

function registerLater(t: Tensor): void {
  unregistered[unregistered.length] = t; // as in track()
  if (unregistered.length >= MAX_UNREGISTERED) registerPending();
  else if (!flushQueued) {
    flushQueued = true;
    queueMicrotask(registerPending);
  }
}

function registerPending(): void {
  flushQueued = false;
  const list = unregistered;
  unregistered = [];
  for (const t of list) register(t);
}

/** Releases the tensor's memory now. Idempotent. */
export function disposeTensor(t: Tensor): void {
  if (t._h < 0) return;
  native.release(t._h);
  if (t._flags & FLAG_REGISTERED) finalizer.unregister(t);
  t._h = -1;
}

/** Collects every tensor reachable from a scope's result (tensors, arrays, plain objects, Maps, Sets). */
function collect(value: unknown, out: Set<Tensor>, seen: Set<unknown>, TensorClass: Constructor): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof TensorClass) {
    out.add(value as Tensor);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, out, seen, TensorClass);
  else if (value instanceof Map)
    for (const [k, v] of value) {
      collect(k, out, seen, TensorClass);
      collect(v, out, seen, TensorClass);
    }
  else if (value instanceof Set) for (const v of value) collect(v, out, seen, TensorClass);
  else if (Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) collect(v, out, seen, TensorClass);
}

/** Any class (the Tensor class here); only used with instanceof. */
type Constructor = abstract new (...args: never[]) => unknown;

let TensorCtor: Constructor = Object;
/** @internal set by tensor.ts to break the import cycle */
export function setTensorClass(cls: Constructor): void {
  TensorCtor = cls;
}

function endScope(scope: Scope, result: unknown): void {
  const escaping = new Set<Tensor>();
  collect(result, escaping, new Set(), TensorCtor);
  const parent = scopes.length ? scopes[scopes.length - 1] : undefined;
  if (releaseBuffer.length < scope.length) releaseBuffer = new Float64Array(Math.max(scope.length, 2 * releaseBuffer.length));
  const release = releaseBuffer;
  let n = 0;
  for (let i = 0; i < scope.length; i++) {
    const t = scope[i];
    if (t._h < 0) continue;
    if (escaping.size !== 0 && escaping.has(t)) {
      if (parent) parent.push(t);
      else registerLater(t);
    } else if (t._flags & FLAG_KEPT) {
      registerLater(t);
    } else {
      release[n++] = t._h;
      t._h = -1;
    }
  }
  if (n) native.releaseMany(release, n);
}

/** The handles a scope frees, passed to native as one typed array (no per-element N-API reads). */
let releaseBuffer = new Float64Array(1024);

/**
 * Runs fn and frees every tensor created inside it, except those it returns (also inside arrays,
 * plain objects, Maps and Sets) and those passed to keep(). Returned tensors move to the enclosing
 * scope. Works with async functions: the scope ends when the promise settles — but do not interleave
 * two async scopes, since scopes form one stack.
 */
export function scope<T>(fn: () => T): T {
  const s: Scope = [];
  scopes.push(s);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    popScope(s, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => (popScope(s, v), v),
      (e) => {
        popScope(s, undefined);
        throw e;
      },
    ) as T;
  }
  popScope(s, result);
  return result;
}

function popScope(s: Scope, result: unknown): void {
  const i = scopes.lastIndexOf(s);
  if (i < 0) return;
  // Scopes opened inside this one and never closed (an exception in between) end with it.
  while (scopes.length > i + 1) endScope(scopes.pop()!, undefined);
  scopes.pop();
  endScope(s, result);
}

/**
 * A scope for `using` declarations: `using s = torch.scopeGuard();` frees on block exit whatever
 * was created since, except tensors passed to s.keep() (moved to the enclosing scope).
 */
export function scopeGuard(): { keep<T>(value: T): T; [Symbol.dispose](): void } {
  const s: Scope = [];
  scopes.push(s);
  const kept: unknown[] = [];
  return {
    keep<T>(value: T): T {
      kept.push(value);
      return value;
    },
    [Symbol.dispose]() {
      popScope(s, kept);
    },
  };
}

/** Marks tensors so that no scope frees them; they live until dispose() (or garbage collection). */
export function keep<T>(value: T): T {
  const found = new Set<Tensor>();
  collect(value, found, new Set(), TensorCtor);
  for (const t of found) t._flags |= FLAG_KEPT;
  return value;
}

/** Live tensor count and bytes per device (each storage counted once). */
export function memory(): { liveTensors: number; devices: Record<string, { tensors: number; bytes: number }> } {
  return native.memory();
}

/** Records the JS stack of every tensor created from now on; liveTensors() lists them. */
export function setDebug(on: boolean): void {
  debug = on;
  native.setDebug(on);
}

export function liveTensors(): { handle: number; description: string; site: string }[] {
  return native.liveTensors();
}

export function scopeDepth(): number {
  return scopes.length;
}
