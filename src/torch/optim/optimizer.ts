// Optimizers over torch::optim (native/optim.cc): the update rules are libtorch's (AdamW steps with
// its fused kernel, what torch.optim.AdamW(fused=True) runs), the state (moments, momentum buffers)
// lives in the addon, outside the tensor handle table, so no torch.scope can free it; it reaches JS
// only through stateDict().
import { native as N, type NativeOptimizer } from '../native';
import { Tensor, wrap } from '../tensor';
import { tensor } from '../creation';
import { DisposedTensorError, TorchTypeError, ValueError } from '../errors';

/** Hyperparameters every optimizer here has, per param group. */
export interface BaseOptions {
  lr: number;
  weightDecay: number;
}

export interface AdamWOptions extends BaseOptions {
  betas: [number, number];
  eps: number;
  amsgrad: boolean;
}

export interface SGDOptions extends BaseOptions {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

/** PyTorch's defaults (torch.optim.AdamW). */
export const ADAMW_DEFAULTS: Readonly<AdamWOptions> = Object.freeze({
  lr: 1e-3,
  betas: [0.9, 0.999] as [number, number],
  eps: 1e-8,
  weightDecay: 1e-2,
  amsgrad: false,
});
/** PyTorch's defaults (torch.optim.SGD). */
export const SGD_DEFAULTS: Readonly<SGDOptions> = Object.freeze({
  lr: 1e-3,
  momentum: 0,
  dampening: 0,
  weightDecay: 0,
  nesterov: false,
});

/**
 * One param group: its tensors and any hyperparameters that differ from the optimizer's.
 * `lrScale` multiplies the learning rate that applyLrSchedule/setLr give this group (default 1),
 * e.g. a smaller rate for embeddings.
 */
export type ParamGroupSpec<O extends BaseOptions> = { params: Iterable<Tensor>; lrScale?: number } & Partial<O>;

/** The tensors to optimize (one group), or a list of param groups. */
export type Params<O extends BaseOptions> = Iterable<Tensor> | readonly ParamGroupSpec<O>[];

export type OptimizerName = 'AdamW' | 'SGD';

/** A param group as stored in a state dict: its hyperparameters and the indices of its parameters. */
export type SavedParamGroup<O extends BaseOptions> = O & { lrScale: number; params: number[] };

/**
 * An optimizer's state as PyTorch lays it out: hyperparameters per group (JSON-serializable) and
 * state tensors keyed `<parameter index>.<field>`, with parameters numbered in group order
 * (AdamW: `step` (int64 scalar), `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq` with amsgrad; SGD:
 * `momentum_buffer`). The tensors are new handles to the live state, not copies: write or copy them
 * before the next step() if a snapshot is needed.
 */
export interface OptimizerStateDict<O extends BaseOptions = BaseOptions> {
  optimizer: OptimizerName;
  paramGroups: SavedParamGroup<O>[];
  state: Map<string, Tensor>;
}

const STATE_FIELDS: Record<OptimizerName, { tensors: readonly string[]; hasStep: boolean }> = {
  AdamW: { tensors: ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'], hasStep: true },
  SGD: { tensors: ['momentum_buffer'], hasStep: false },
};

/** A copy of `base` with the defined values of `override` applied. */
function mergeDefined<O extends object>(base: O, override: Partial<O>): O {
  const out = { ...base };
  for (const [k, v] of Object.entries(override)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function checkKnownKeys(where: string, given: object, known: readonly string[]): void {
  const unknown = Object.keys(given).filter((k) => !known.includes(k));
  if (unknown.length)
    throw new ValueError(
      `${where}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${known.join(', ')})`,
    );
}

function checkLrScale(where: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new ValueError(`${where}: lrScale must be a finite number >= 0, got ${String(v)}`);
  return v;
}

/** A param group of a live optimizer. Setting a hyperparameter takes effect at the next step(). */
export class ParamGroup<O extends BaseOptions> {
  private current: O;
  private scale: number;

  /** @internal */
  constructor(
    private readonly owner: Optimizer<O>,
    readonly index: number,
    readonly params: readonly Tensor[],
    options: O,
    lrScale: number,
  ) {
    this.current = options;
    this.scale = lrScale;
  }

  get lr(): number {
    return this.current.lr;
  }
  set lr(value: number) {
    this.set({ lr: value } as Partial<O>);
  }
  get weightDecay(): number {
    return this.current.weightDecay;
  }
  set weightDecay(value: number) {
    this.set({ weightDecay: value } as Partial<O>);
  }
  /** Multiplier applied by applyLrSchedule / setLr to this group's learning rate. */
  get lrScale(): number {
    return this.scale;
  }
  set lrScale(value: number) {
    this.scale = checkLrScale(`${this.owner.name} param group ${this.index}`, value);
  }
  /** A snapshot of the group's hyperparameters. */
  get options(): Readonly<O> {
    return structuredClone(this.current);
  }

  /** Updates some hyperparameters; all-or-nothing (the native side validates before applying). */
  set(options: Partial<O>): void {
    checkKnownKeys(`${this.owner.name} param group ${this.index}`, options, Object.keys(this.current));
    N.optimSetGroup(this.owner._native(), this.index, options);
    this.current = mergeDefined(this.current, options);
  }
}

/** Shared machinery of AdamW and SGD: param groups, step, zeroGrad, state dicts, lifetime. */
export abstract class Optimizer<O extends BaseOptions> implements Disposable {
  readonly paramGroups: readonly ParamGroup<O>[];
  /** The options every group started from (before its own overrides). */
  readonly defaults: Readonly<O>;
  private handle: NativeOptimizer | null;
  // Native handles of the parameters when the optimizer was built: a Parameter whose data is
  // replaced later (module.to()) gets a new handle, which the optimizer would never see.
  private readonly boundHandles: number[];

  protected constructor(
    readonly name: OptimizerName,
    kind: 'adamw' | 'sgd',
    params: Params<O>,
    defaults: O,
  ) {
    const optionKeys = Object.keys(defaults);
    this.defaults = Object.freeze(structuredClone(defaults));
    const specs = normalizeParams(name, params);
    const groups = specs.map((spec, g) => {
      const { params: groupParams, lrScale, ...overrides } = spec;
      checkKnownKeys(`${name} param group ${g}`, overrides, optionKeys);
      const tensors = [...groupParams];
      tensors.forEach((t, i) => {
        if (!(t instanceof Tensor))
          throw new TorchTypeError(`${name} param group ${g}: parameter ${i} is not a Tensor (got ${describeValue(t)})`);
        if (t.isDisposed) throw new DisposedTensorError(`${name} param group ${g}: parameter ${i} has been disposed`);
      });
      const options = mergeDefined(defaults, overrides as unknown as Partial<O>);
      return { tensors, options, lrScale: checkLrScale(`${name} param group ${g}`, lrScale ?? 1) };
    });
    this.handle = N.optimCreate(
      kind,
      groups.map((g) => ({ ...(g.options as unknown as Record<string, unknown>), params: g.tensors.map((t) => t._h) })),
    );
    this.paramGroups = groups.map((g, i) => new ParamGroup<O>(this, i, Object.freeze(g.tensors), g.options, g.lrScale));
    this.boundHandles = groups.flatMap((g) => g.tensors.map((t) => t._h));
  }

  /** Every parameter, group by group (the numbering of state dicts). */
  get params(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  get isDisposed(): boolean {
    return this.handle === null;
  }

  /** @internal the native optimizer; throws once disposed */
  _native(): NativeOptimizer {
    if (this.handle === null) throw new DisposedTensorError(`this ${this.name} optimizer has been disposed`);
    return this.handle;
  }

  /** One update of every parameter that has a gradient (parameters without one are skipped). */
  step(): void {
    const handle = this._native();
    this.checkParamsBound();
    N.optimStep(handle);
  }

  /** Clears the gradients: to null (default, as PyTorch), or to zeros with setToNone: false. */
  zeroGrad({ setToNone = true }: { setToNone?: boolean } = {}): void {
    N.optimZeroGrad(this._native(), setToNone);
  }

  stateDict(): OptimizerStateDict<O> {
    const entries = N.optimGetState(this._native());
    const state = new Map<string, Tensor>();
    entries.forEach((entry, i) => {
      if (entry === null) return;
      for (const [field, value] of Object.entries(entry)) {
        state.set(`${i}.${field}`, field === 'step' ? tensor(value) : wrap(value));
      }
    });
    let offset = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const params = g.params.map((_, i) => offset + i);
      offset += params.length;
      return { ...structuredClone(g.options as O), lrScale: g.lrScale, params };
    });
    return { optimizer: this.name, paramGroups, state };
  }

  /**
   * Restores hyperparameters and state saved by stateDict() from an optimizer of the same kind over
   * parameters of the same shapes in the same group layout. The state tensors are copied (converted
   * to each parameter's dtype and device); the source stays the caller's.
   */
  loadStateDict(source: OptimizerStateDict<BaseOptions>): void {
    const where = `${this.name}.loadStateDict`;
    if (source.optimizer !== this.name)
      throw new ValueError(`${where}: the state dict is from ${String(source.optimizer)}, not ${this.name}`);
    if (!Array.isArray(source.paramGroups) || source.paramGroups.length !== this.paramGroups.length)
      throw new ValueError(
        `${where}: the state dict has ${source.paramGroups?.length} param groups, the optimizer ${this.paramGroups.length}`,
      );
    const optionKeys = Object.keys(this.defaults);
    let offset = 0;
    const groupOptions = source.paramGroups.map((saved, g) => {
      const { params, lrScale, ...options } = saved as SavedParamGroup<BaseOptions> & Record<string, unknown>;
      const expected = this.paramGroups[g].params.length;
      if (!Array.isArray(params) || params.length !== expected || params.some((p, i) => p !== offset + i))
        throw new ValueError(
          `${where}: param group ${g} lists parameters [${Array.isArray(params) ? params.join(', ') : String(params)}], ` +
            `the optimizer has ${expected} there (indices ${offset}..${offset + expected - 1})`,
        );
      offset += expected;
      checkKnownKeys(`${where}: param group ${g}`, options, optionKeys);
      return { options: options as Partial<O>, lrScale: checkLrScale(`${where}: param group ${g}`, lrScale ?? 1) };
    });
    const entries = this.parseState(source.state, offset, where);
    const handle = this._native();
    // Group options first, rolled back if any is refused, then the state (replaced atomically).
    const previous = this.paramGroups.map((g) => g.options);
    try {
      groupOptions.forEach(({ options }, g) => this.paramGroups[g].set(options));
      N.optimSetState(handle, entries);
    } catch (error) {
      previous.forEach((options, g) => this.paramGroups[g].set(options));
      throw error;
    }
    groupOptions.forEach(({ lrScale }, g) => (this.paramGroups[g].lrScale = lrScale));
  }

  /** Frees the optimizer and its state now (the parameters are untouched). Idempotent. */
  dispose(): void {
    if (this.handle === null) return;
    N.optimDispose(this.handle);
    this.handle = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  private parseState(state: Map<string, Tensor>, numParams: number, where: string): (Record<string, number> | null)[] {
    if (!(state instanceof Map)) throw new TorchTypeError(`${where}: state must be a Map from '<index>.<field>' to Tensor`);
    const { tensors: tensorFields, hasStep } = STATE_FIELDS[this.name];
    const fields = hasStep ? [...tensorFields, 'step'] : tensorFields;
    const entries: (Record<string, number> | null)[] = Array.from({ length: numParams }, () => null);
    for (const [key, value] of state) {
      const m = /^(\d+)\.([a-z_]+)$/.exec(key);
      const index = m ? Number(m[1]) : -1;
      if (!m || index >= numParams || !fields.includes(m[2]))
        throw new ValueError(
          `${where}: unexpected state key '${key}' (expected '<index>.<field>' with index < ${numParams} and field one of ${fields.join(', ')})`,
        );
      if (!(value instanceof Tensor)) throw new TorchTypeError(`${where}: state '${key}' is not a Tensor`);
      const entry = (entries[index] ??= {});
      if (m[2] === 'step') {
        const step = Number(value.item());
        if (value.numel() !== 1 || !Number.isSafeInteger(step) || step < 0)
          throw new ValueError(`${where}: state '${key}' must hold one non-negative integer, got ${value.toString()}`);
        entry.step = step;
      } else {
        entry[m[2]] = value._h;
      }
    }
    return entries;
  }

  private checkParamsBound(): void {
    let i = 0;
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (p._h !== this.boundHandles[i]) {
          const what = p._h < 0 ? 'has been disposed' : 'had its data replaced (module.to() or Parameter._replaceData)';
          throw new ValueError(
            `${this.name}.step: parameter ${i} (group ${group.index}) ${what} after the optimizer was created, so the ` +
              `optimizer would update a tensor the model no longer uses. Create the optimizer after moving or converting the model.`,
          );
        }
        i++;
      }
    }
  }
}

function describeValue(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
}

function normalizeParams<O extends BaseOptions>(name: string, params: Params<O>): ParamGroupSpec<O>[] {
  if (params === null || typeof params !== 'object' || typeof (params as Iterable<unknown>)[Symbol.iterator] !== 'function')
    throw new TorchTypeError(
      `${name}: params must be an iterable of Tensors or an array of param groups, got ${describeValue(params)}`,
    );
  const items = [...(params as Iterable<unknown>)];
  if (items.length === 0) throw new ValueError(`${name}: got an empty parameter list`);
  if (items.every((x) => x instanceof Tensor)) return [{ params: items } as unknown as ParamGroupSpec<O>];
  items.forEach((x, g) => {
    const spec = x as { params?: unknown };
    if (
      x instanceof Tensor ||
      x === null ||
      typeof x !== 'object' ||
      spec.params === undefined ||
      typeof (spec.params as Iterable<unknown>)[Symbol.iterator] !== 'function'
    )
      throw new TorchTypeError(
        `${name}: params mixes Tensors and param groups, or group ${g} lacks an iterable 'params' (got ${describeValue(x)})`,
      );
  });
  return items as ParamGroupSpec<O>[];
}

/**
 * torch.optim.AdamW: Adam with decoupled weight decay (Loshchilov & Hutter). A step is libtorch's fused
 * kernel (`_fused_adamw_`, one pass over each parameter's memory), or torch::optim::AdamW's operators
 * for a parameter the kernel does not take (a non-contiguous gradient, say); both update one state.
 */
export class AdamW extends Optimizer<AdamWOptions> {
  constructor(params: Params<AdamWOptions>, options: Partial<AdamWOptions> = {}) {
    checkKnownKeys('AdamW', options, Object.keys(ADAMW_DEFAULTS));
    super(
      'AdamW',
      'adamw',
      params,
      mergeDefined({ ...ADAMW_DEFAULTS, betas: [...ADAMW_DEFAULTS.betas] as [number, number] }, options),
    );
  }
}

/** torch.optim.SGD: stochastic gradient descent with optional (Nesterov) momentum and weight decay. */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: Params<SGDOptions>, options: Partial<SGDOptions> = {}) {
    checkKnownKeys('SGD', options, Object.keys(SGD_DEFAULTS));
    super('SGD', 'sgd', params, mergeDefined({ ...SGD_DEFAULTS }, options));
  }
}
