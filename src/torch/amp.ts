// Automatic mixed precision: autocast regions (at::autocast, entered and left like torch.autocast)
// and GradScaler, the loss scaling float16 training needs (torch.amp.GradScaler's algorithm, with
// ATen's _amp_foreach_non_finite_check_and_unscale_ and _amp_update_scale_).
import { native as N, type NativeAutocastState } from './native';
import { Tensor } from './tensor';
import { full } from './generated/ops';
import * as rt from './op-runtime';
import { keep, scope } from './memory';
import { noGrad } from './autograd';
import { cuda } from './runtime';
import { ValueError, RuntimeError, TorchTypeError } from './errors';
import type { BaseOptions, Optimizer } from './optim/optimizer';

export type AutocastDeviceType = 'cpu' | 'cuda';
export type AutocastDType = 'bfloat16' | 'float16';

export interface AutocastOptions {
  deviceType: AutocastDeviceType;
  /** the lower precision (default: the device's current autocast dtype, bfloat16 on CPU and float16 on CUDA) */
  dtype?: AutocastDType;
  /** false runs the region without autocast, also inside an enclosing autocast region (default true) */
  enabled?: boolean;
  /** reuse casts of leaf tensors within the outermost region (default: the current setting, normally on) */
  cacheEnabled?: boolean;
}

/** An entered autocast region; exit() (or `using`) restores the state from before it. */
export class AutocastRegion implements Disposable {
  private exited = false;

  /** @internal */
  constructor(
    readonly deviceType: AutocastDeviceType,
    private readonly previous: NativeAutocastState,
  ) {}

  /**
   * Leaves the region. Regions entered inside it and still open are left first (as a scope
   * closes the scopes opened inside it). Idempotent.
   */
  exit(): void {
    if (this.exited) return;
    const i = openRegions.lastIndexOf(this);
    while (openRegions.length > i + 1) openRegions[openRegions.length - 1].exit();
    openRegions.splice(i, 1);
    this.exited = true;
    N.autocastExit(this.deviceType, this.previous);
  }

  [Symbol.dispose](): void {
    this.exit();
  }
}

const openRegions: AutocastRegion[] = [];
let warnedNoCuda = false;

function checkDeviceType(deviceType: unknown): AutocastDeviceType {
  if (deviceType !== 'cpu' && deviceType !== 'cuda')
    throw new ValueError(`autocast: deviceType must be 'cpu' or 'cuda', got ${String(deviceType)}`);
  return deviceType;
}

/**
 * Enters an autocast region for `using`: `using ac = torch.autocastGuard({deviceType: 'cpu'});`.
 * Inside it, eligible operators (matmul, linear, ...) on the device run in the lower precision and
 * precision-sensitive ones (softmax, losses, ...) in float32, with PyTorch's per-operator policy.
 * As in PyTorch, a CUDA region on a machine without CUDA warns once and runs disabled.
 */
export function autocastGuard(options: AutocastOptions): AutocastRegion {
  if (options === null || typeof options !== 'object')
    throw new TorchTypeError('autocast: expected an options object {deviceType, dtype?, enabled?, cacheEnabled?}');
  const deviceType = checkDeviceType(options.deviceType);
  const current = N.autocastState(deviceType);
  const dtype = options.dtype ?? current.dtype;
  if (dtype !== 'bfloat16' && dtype !== 'float16')
    throw new ValueError(`autocast: dtype must be 'bfloat16' or 'float16', got ${String(dtype)}`);
  let enabled = options.enabled ?? true;
  if (enabled && deviceType === 'cuda' && !cuda.isAvailable()) {
    if (!warnedNoCuda) {
      warnedNoCuda = true;
      process.emitWarning(
        `autocast: deviceType 'cuda' requested but CUDA is unavailable (${cuda.unavailableReason()}); the region runs without autocast`,
        'AutocastWarning',
      );
    }
    enabled = false;
  }
  const previous = N.autocastEnter(deviceType, dtype, enabled, options.cacheEnabled ?? current.cacheEnabled);
  const region = new AutocastRegion(deviceType, previous);
  openRegions.push(region);
  return region;
}

/**
 * Runs fn inside an autocast region (see autocastGuard) and leaves it when fn returns or throws —
 * or, for an async fn, when its promise settles (do not interleave async regions: the autocast
 * state is per thread, not per promise chain).
 */
export function autocast<T>(options: AutocastOptions, fn: () => T): T {
  const region = autocastGuard(options);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    region.exit();
    throw error;
  }
  if (result instanceof Promise) return result.finally(() => region.exit()) as T;
  region.exit();
  return result;
}

export function isAutocastEnabled(deviceType: AutocastDeviceType): boolean {
  return N.autocastState(checkDeviceType(deviceType)).enabled;
}

export function getAutocastDtype(deviceType: AutocastDeviceType): AutocastDType {
  return N.autocastState(checkDeviceType(deviceType)).dtype as AutocastDType;
}

// ---- GradScaler ----

export interface GradScalerOptions {
  /** where the scale lives before the first scale() call decides (default 'cuda') */
  device?: string;
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
  enabled?: boolean;
}

/** What GradScaler.stateDict() returns: plain numbers, JSON-serializable. */
export interface GradScalerState {
  scale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  growthTracker: number;
}

type Stage = 'ready' | 'unscaled' | 'stepped';

interface OptimizerRecord {
  stage: Stage;
  /** per device: 1 when a gradient of this optimizer had an inf/NaN this iteration */
  foundInf: Map<string, Tensor>;
}

/**
 * Dynamic loss scaling for float16 training (torch.amp.GradScaler): multiply the loss by the scale
 * before backward, then `step(optimizer)` unscales the gradients and skips the update if any is
 * inf/NaN, and `update()` halves the scale after an overflow and doubles it after
 * `growthInterval` clean steps. Master weights (the optimized parameters) must be float32.
 *
 *   const scaler = new torch.amp.GradScaler();
 *   scaler.scale(loss).backward();
 *   scaler.unscale_(opt); torch.optim.clipGradNorm_(params, 1);   // optional
 *   scaler.step(opt); scaler.update(); opt.zeroGrad();
 */
export class GradScaler implements Disposable {
  readonly device: string;
  private enabled: boolean;
  private initScale: number;
  private growthFactor: number;
  private backoffFactor: number;
  private growthInterval: number;
  private initGrowthTracker = 0;
  private scaleTensor: Tensor | null = null;
  private growthTracker: Tensor | null = null;
  private readonly records = new Map<Optimizer<BaseOptions>, OptimizerRecord>();

  constructor(options: GradScalerOptions = {}) {
    const {
      device = 'cuda',
      initScale = 2 ** 16,
      growthFactor = 2,
      backoffFactor = 0.5,
      growthInterval = 2000,
      enabled = true,
    } = options;
    if (!(Number.isFinite(initScale) && initScale > 0))
      throw new ValueError(`GradScaler: initScale must be a finite number > 0, got ${initScale}`);
    if (!(Number.isFinite(growthFactor) && growthFactor > 1))
      throw new ValueError(`GradScaler: growthFactor must be > 1, got ${growthFactor}`);
    if (!(backoffFactor > 0 && backoffFactor < 1))
      throw new ValueError(`GradScaler: backoffFactor must be in (0, 1), got ${backoffFactor}`);
    if (!(Number.isSafeInteger(growthInterval) && growthInterval > 0))
      throw new ValueError(`GradScaler: growthInterval must be a positive integer, got ${growthInterval}`);
    this.device = device;
    this.initScale = initScale;
    this.growthFactor = growthFactor;
    this.backoffFactor = backoffFactor;
    this.growthInterval = growthInterval;
    this.enabled = enabled;
    if (enabled && device.startsWith('cuda') && !cuda.isAvailable()) {
      process.emitWarning(
        `GradScaler: device '${device}' requested but CUDA is unavailable (${cuda.unavailableReason()}); scaling is disabled`,
        'GradScalerWarning',
      );
      this.enabled = false;
    }
  }

  isEnabled(): boolean {
    return this.enabled;
  }

  /** outputs times the current scale (a new tensor, or an array of them); unchanged when disabled. */
  scale(outputs: Tensor): Tensor;
  scale(outputs: Tensor[]): Tensor[];
  scale(outputs: Tensor | Tensor[]): Tensor | Tensor[] {
    if (!this.enabled) return outputs;
    const one = (t: Tensor): Tensor => {
      if (!(t instanceof Tensor)) throw new TorchTypeError('GradScaler.scale: outputs must be a Tensor or an array of Tensors');
      const s = this.scaleOn(t.device);
      if (s.device === t.device) return t.mul(s);
      return scope(() => t.mul(s.to(t.device)));
    };
    return Array.isArray(outputs) ? outputs.map(one) : one(outputs);
  }

  /**
   * Divides the optimizer's gradients by the scale in place and records whether any is inf/NaN.
   * Call it before gradient clipping; step() calls it when you have not.
   */
  unscale_(optimizer: Optimizer<BaseOptions>): void {
    if (!this.enabled) return;
    const scale = this.requireScale('unscale_');
    const record = this.recordOf(optimizer);
    if (record.stage === 'unscaled')
      throw new RuntimeError('GradScaler.unscale_() has already been called on this optimizer since the last update().');
    if (record.stage === 'stepped') throw new RuntimeError('GradScaler.unscale_() is being called after step().');
    noGrad(() =>
      scope(() => {
        const invScale = scale.double().reciprocal().float();
        const groups = new Map<string, { device: string; grads: Tensor[] }>();
        for (const param of optimizer.params) {
          const grad = param.grad;
          if (grad === null) continue;
          if (grad.dtype === 'float16')
            throw new ValueError(
              'GradScaler: attempting to unscale float16 gradients; the optimized parameters (master weights) must be float32.',
            );
          const device = grad.device;
          const key = `${device}/${grad.dtype}`;
          let group = groups.get(key);
          if (group === undefined) groups.set(key, (group = { device, grads: [] }));
          group.grads.push(grad);
        }
        for (const { device, grads } of groups.values()) {
          let foundInf = record.foundInf.get(device);
          if (foundInf === undefined) {
            foundInf = keep(full([], 0, { dtype: 'float32', device }));
            record.foundInf.set(device, foundInf);
          }
          const deviceInvScale = invScale.device === device ? invScale : invScale.to(device);
          N.callOp(
            rt.op('_amp_foreach_non_finite_check_and_unscale_', '', true),
            grads.map((g) => g._h),
            foundInf._h,
            deviceInvScale._h,
          );
        }
      }),
    );
    record.stage = 'unscaled';
  }

  /**
   * Unscales (unless unscale_ was called) and steps the optimizer unless a gradient was inf/NaN.
   * Returns whether the step was taken.
   */
  step(optimizer: Optimizer<BaseOptions>): boolean {
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    this.requireScale('step');
    const record = this.recordOf(optimizer);
    if (record.stage === 'stepped') throw new RuntimeError('GradScaler.step() has already been called since the last update().');
    if (record.stage === 'ready') this.unscale_(optimizer);
    if (record.foundInf.size === 0)
      throw new RuntimeError(
        'GradScaler.step: no inf checks were recorded for this optimizer (none of its parameters has a gradient).',
      );
    const overflow = [...record.foundInf.values()].some((f) => f.item() !== 0);
    if (!overflow) optimizer.step();
    record.stage = 'stepped';
    return !overflow;
  }

  /**
   * Adjusts the scale for the next iteration from this iteration's inf checks (back off after an
   * overflow, grow after growthInterval clean steps), or sets it to `newScale`.
   */
  update(newScale?: number | Tensor): void {
    if (!this.enabled) return;
    const scale = this.requireScale('update');
    try {
      if (newScale !== undefined) {
        if (newScale instanceof Tensor) {
          if (newScale.numel() !== 1) throw new ValueError('GradScaler.update: newScale must be a one-element tensor');
          noGrad(() => scale.copy_(newScale));
        } else {
          if (!(Number.isFinite(newScale) && newScale > 0))
            throw new ValueError(`GradScaler.update: newScale must be a finite number > 0, got ${newScale}`);
          scale.fill_(newScale);
        }
        return;
      }
      const foundInfs = [...this.records.values()].flatMap((r) => [...r.foundInf.values()]);
      if (foundInfs.length === 0)
        throw new RuntimeError(
          'GradScaler.update: no inf checks were recorded prior to update() (call step() or unscale_() first).',
        );
      scope(() => {
        let combined = foundInfs[0].to(scale.device);
        for (const f of foundInfs.slice(1)) combined = combined.add(f.to(scale.device));
        N.callOp(
          rt.op('_amp_update_scale_', '', true),
          scale._h,
          this.growthTracker!._h,
          combined._h,
          this.growthFactor,
          this.backoffFactor,
          this.growthInterval,
        );
      });
    } finally {
      this.resetRecords();
    }
  }

  /** The current scale (1 when disabled). */
  getScale(): number {
    if (!this.enabled) return 1;
    return this.scaleTensor === null ? this.initScale : this.scaleTensor.item();
  }

  getGrowthFactor(): number {
    return this.growthFactor;
  }
  getBackoffFactor(): number {
    return this.backoffFactor;
  }
  getGrowthInterval(): number {
    return this.growthInterval;
  }

  /** The scaler's state (null when disabled, as PyTorch's empty dict). */
  stateDict(): GradScalerState | null {
    if (!this.enabled) return null;
    return {
      scale: this.getScale(),
      growthFactor: this.growthFactor,
      backoffFactor: this.backoffFactor,
      growthInterval: this.growthInterval,
      growthTracker: this.growthTracker === null ? this.initGrowthTracker : this.growthTracker.item(),
    };
  }

  loadStateDict(state: GradScalerState | null): void {
    if (!this.enabled) return;
    if (state === null || typeof state !== 'object')
      throw new ValueError(
        'GradScaler.loadStateDict: the state is empty, possibly because it was saved from a disabled GradScaler.',
      );
    for (const k of ['scale', 'growthFactor', 'backoffFactor', 'growthInterval', 'growthTracker'] as const)
      if (typeof state[k] !== 'number' || !Number.isFinite(state[k]))
        throw new ValueError(`GradScaler.loadStateDict: '${k}' must be a finite number, got ${String(state[k])}`);
    this.initScale = state.scale;
    this.growthFactor = state.growthFactor;
    this.backoffFactor = state.backoffFactor;
    this.growthInterval = state.growthInterval;
    this.initGrowthTracker = state.growthTracker;
    this.scaleTensor?.fill_(state.scale);
    this.growthTracker?.fill_(state.growthTracker);
  }

  /** Frees the scaler's tensors. Idempotent. */
  dispose(): void {
    this.resetRecords();
    this.scaleTensor?.dispose();
    this.growthTracker?.dispose();
    this.scaleTensor = this.growthTracker = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  private scaleOn(device: string): Tensor {
    if (this.scaleTensor === null) {
      this.scaleTensor = keep(full([], this.initScale, { dtype: 'float32', device }));
      this.growthTracker = keep(full([], this.initGrowthTracker, { dtype: 'int32', device }));
    }
    return this.scaleTensor;
  }

  private requireScale(method: string): Tensor {
    if (this.scaleTensor === null)
      throw new RuntimeError(
        `GradScaler.${method}: the scale has not been used yet; call scaler.scale(loss) (and backward) earlier in the iteration.`,
      );
    return this.scaleTensor;
  }

  private recordOf(optimizer: Optimizer<BaseOptions>): OptimizerRecord {
    let record = this.records.get(optimizer);
    if (record === undefined) this.records.set(optimizer, (record = { stage: 'ready', foundInf: new Map() }));
    return record;
  }

  private resetRecords(): void {
    for (const r of this.records.values()) for (const f of r.foundInf.values()) f.dispose();
    this.records.clear();
  }
}
