// Grad-mode switches and torch.autograd.grad, as functions and as `using` guards.
import { native as N } from './native';
import { Tensor, wrap } from './tensor';

/** Runs fn with gradient recording off (torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}
/** Runs fn with gradient recording on, e.g. inside a noGrad region (torch.enable_grad). */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}
function withGradMode<T>(on: boolean, fn: () => T): T {
  const previous = N.setGradEnabled(on);
  try {
    return fn();
  } finally {
    N.setGradEnabled(previous);
  }
}
export function isGradEnabled(): boolean {
  return N.isGradEnabled();
}
export function setGradEnabled(on: boolean): boolean {
  return N.setGradEnabled(on);
}
/** `using _ = torch.noGradGuard();` — gradient recording off until the block ends. */
export function noGradGuard(): { [Symbol.dispose](): void } {
  const previous = N.setGradEnabled(false);
  return { [Symbol.dispose]: () => void N.setGradEnabled(previous) };
}
export function enableGradGuard(): { [Symbol.dispose](): void } {
  const previous = N.setGradEnabled(true);
  return { [Symbol.dispose]: () => void N.setGradEnabled(previous) };
}
/** Runs fn in inference mode (torch.inference_mode): no autograd bookkeeping at all. */
export function inferenceMode<T>(fn: () => T, enabled = true): T {
  N.enterInferenceMode(enabled);
  try {
    return fn();
  } finally {
    N.exitInferenceMode();
  }
}
export function inferenceModeGuard(enabled = true): { [Symbol.dispose](): void } {
  N.enterInferenceMode(enabled);
  return { [Symbol.dispose]: () => N.exitInferenceMode() };
}
export function isInferenceModeEnabled(): boolean {
  return N.isInferenceMode();
}

export interface GradOptions {
  gradOutputs?: (Tensor | null)[] | Tensor;
  retainGraph?: boolean;
  createGraph?: boolean;
  allowUnused?: boolean;
}

/** torch.autograd.grad: gradients of outputs with respect to inputs (null for unused inputs with allowUnused). */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], options: GradOptions = {}): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const gos =
    options.gradOutputs === undefined
      ? null
      : (Array.isArray(options.gradOutputs) ? options.gradOutputs : [options.gradOutputs]).map((g) => (g ? g._h : null));
  const hs = N.autogradGrad(
    outs.map((t) => t._h),
    ins.map((t) => t._h),
    gos,
    options.retainGraph ?? null,
    options.createGraph ?? false,
    options.allowUnused ?? false,
  );
  return hs.map((h) => (h === null ? null : wrap(h)));
}

/** torch.autograd.backward over several outputs at once. */
export function backward(
  tensors: Tensor[],
  gradTensors?: (Tensor | null)[],
  options: { retainGraph?: boolean; createGraph?: boolean; inputs?: Tensor[] } = {},
): void {
  N.backward(
    tensors.map((t) => t._h),
    gradTensors ? gradTensors.map((g) => (g ? g._h : null)) : null,
    options.retainGraph ?? null,
    options.createGraph ?? null,
    options.inputs ? options.inputs.map((t) => t._h) : null,
  );
}
