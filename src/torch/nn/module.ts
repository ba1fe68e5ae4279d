// Module: named parameters, buffers and children, found by reflection on the instance's fields (as
// torch.nn.Module's __setattr__ registers them), train/eval, freezing, state dicts and device moves.
import { Tensor } from '../tensor';
import { keep } from '../memory';
import { noGrad } from '../autograd';
import { Parameter } from './parameter';
import { ValueError } from '../errors';
import { DTYPE_ALIASES, DTYPE_NAMES, isFloatingDType, type DType, type DeviceLike } from '../types';

export type StateDict = Map<string, Tensor>;

export class Module {
  training = true;
  /** names of fields holding buffers; the value says whether it is saved in the state dict */
  private readonly _bufferNames = new Map<string, boolean>();

  /** Registers a tensor that is state but not a parameter (e.g. rotary frequencies). */
  registerBuffer(name: string, tensor: Tensor | null, persistent = true): void {
    if (tensor) keep(tensor);
    (this as any)[name] = tensor;
    this._bufferNames.set(name, persistent);
  }

  /** Direct children, in field order. */
  *namedChildren(): Generator<[string, Module]> {
    for (const [k, v] of Object.entries(this)) if (v instanceof Module) yield [k, v];
  }
  *children(): Generator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [k, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${k}` : k);
  }
  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }

  /** Parameters with their dotted names; a parameter shared by two modules is listed once (PyTorch's rule). */
  *namedParameters(prefix = '', recurse = true): Generator<[string, Parameter]> {
    const seen = new Set<Parameter>();
    const mods: Iterable<[string, Module]> = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [mp, m] of mods) {
      for (const [k, v] of Object.entries(m)) {
        if (v instanceof Parameter && !seen.has(v)) {
          seen.add(v);
          yield [mp ? `${mp}.${k}` : k, v];
        }
      }
    }
  }
  parameters(recurse = true): Parameter[] {
    return [...this.namedParameters('', recurse)].map(([, p]) => p);
  }
  *namedBuffers(prefix = '', { persistentOnly = false } = {}): Generator<[string, Tensor]> {
    for (const [mp, m] of this.namedModules(prefix)) {
      for (const [k, persistent] of m._bufferNames) {
        const b = (m as any)[k];
        if (b instanceof Tensor && (persistent || !persistentOnly)) yield [mp ? `${mp}.${k}` : k, b];
      }
    }
  }
  buffers(): Tensor[] {
    return [...this.namedBuffers()].map(([, b]) => b);
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Sets requires_grad on every parameter of this subtree (freeze: false). */
  requiresGrad_(on = true): this {
    for (const p of this.parameters()) p.requiresGrad_(on);
    return this;
  }
  freeze(): this {
    return this.requiresGrad_(false);
  }
  unfreeze(): this {
    return this.requiresGrad_(true);
  }

  zeroGrad({ setToNone = true } = {}): void {
    for (const p of this.parameters()) {
      if (setToNone) p.grad = null;
      else {
        const g = p.grad;
        if (g) {
          g.zero_();
          g.dispose();
        }
      }
    }
  }

  /** Parameters and persistent buffers by dotted name. The tensors are the module's own (not copies). */
  stateDict(): StateDict {
    const sd: StateDict = new Map();
    for (const [k, p] of this.namedParameters()) sd.set(k, p);
    for (const [k, b] of this.namedBuffers('', { persistentOnly: true })) sd.set(k, b);
    return sd;
  }

  /**
   * Copies values into the parameters and buffers. strict: the keys must match exactly; shapes must
   * always match; values are converted to each parameter's dtype unless checkDtype is set.
   */
  loadStateDict(
    source: StateDict | Record<string, Tensor>,
    { strict = true, checkDtype = false } = {},
  ): { missing: string[]; unexpected: string[] } {
    const src = source instanceof Map ? source : new Map(Object.entries(source));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k));
    const problems: string[] = [];
    if (strict && (missing.length || unexpected.length)) {
      if (missing.length) problems.push(`missing keys: ${missing.join(', ')}`);
      if (unexpected.length) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    }
    for (const [k, t] of own) {
      const s = src.get(k);
      if (!s) continue;
      if (s.shape.join(',') !== t.shape.join(','))
        problems.push(`${k}: shape [${s.shape}] in the source, [${t.shape}] in the model`);
      else if (checkDtype && s.dtype !== t.dtype) problems.push(`${k}: dtype ${s.dtype} in the source, ${t.dtype} in the model`);
    }
    if (problems.length) throw new ValueError(`loadStateDict: ${problems.join('; ')}`);
    noGrad(() => {
      for (const [k, t] of own) {
        const s = src.get(k);
        if (s) t.copy_(s);
      }
    });
    return { missing, unexpected };
  }

  /**
   * Moves or converts every parameter (and its gradient) and buffer in place, keeping the Parameter
   * objects (module.to('cuda'), module.to('bfloat16')). As in PyTorch, only floating dtypes are
   * accepted, and a dtype conversion leaves integer and bool buffers alone.
   */
  to(target: DType | DeviceLike): this {
    const dtype: DType | null = DTYPE_ALIASES[target] ?? (DTYPE_NAMES.has(target) ? (target as DType) : null);
    if (dtype !== null && !isFloatingDType(dtype))
      throw new ValueError(
        `Module.to: parameters can only be converted to a floating dtype (float32, float64, bfloat16, float16), got '${target}'`,
      );
    noGrad(() => {
      for (const p of this.parameters()) {
        const g = p.grad;
        const moved = p.to(target);
        p._replaceData(moved);
        moved.dispose();
        if (g) {
          const movedGrad = g.to(target);
          p.grad = movedGrad; // the handles go; the gradient stays attached to p
          movedGrad.dispose();
          g.dispose();
        }
      }
      for (const m of this.modules()) {
        for (const [k] of m._bufferNames) {
          const b = (m as any)[k];
          if (!(b instanceof Tensor)) continue;
          if (dtype !== null && !isFloatingDType(b.dtype)) continue; // step counters, masks, token ids
          (m as any)[k] = keep(b.to(target));
          b.dispose();
        }
      }
    });
    return this;
  }

  /** Calls fn on every module of the subtree (children first), as Module.apply. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  numParameters({ trainableOnly = false } = {}): number {
    return this.parameters().reduce((n, p) => n + (trainableOnly && !p.requiresGrad ? 0 : p.numel()), 0);
  }

  /**
   * Frees the subtree: each child through its own dispose() (so that a module holding tensors outside
   * its parameters and buffers frees them too), then this module's parameters and buffers. Shared
   * tensors are freed once; calling it again does nothing.
   */
  dispose(): void {
    for (const c of this.children()) c.dispose();
    for (const p of this.parameters(false)) p.dispose();
    for (const [k] of this._bufferNames) {
      const b = (this as Record<string, unknown>)[k];
      if (b instanceof Tensor) b.dispose();
    }
  }

  toString(): string {
    const lines = [...this.namedChildren()].map(([k, m]) => `  (${k}): ${m.toString().replace(/\n/g, '\n  ')}`);
    const extra = this.extraRepr();
    return `${this.constructor.name}(${extra}${lines.length ? '\n' + lines.join('\n') + '\n' : ''})`;
  }
  protected extraRepr(): string {
    return '';
  }
}

/** Holds submodules in a list; children are named '0', '1', ... as in PyTorch. */
export class ModuleList<M extends Module = Module> extends Module {
  constructor(modules: M[] = []) {
    super();
    modules.forEach((m, i) => ((this as any)[String(i)] = m));
    Object.defineProperty(this, 'length', { value: modules.length, writable: true, enumerable: false });
  }
  declare length: number;
  at(i: number): M {
    return (this as any)[String(i < 0 ? i + this.length : i)];
  }
  push(m: M): void {
    (this as any)[String(this.length)] = m;
    this.length++;
  }
  *[Symbol.iterator](): Generator<M> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }
}
