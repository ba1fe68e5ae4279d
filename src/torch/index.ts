// The tensor library: `import { torch } from 'latent-tokens'` (or `import * as torch from 'latent-tokens/torch'`).
// Operator functions have PyTorch's names in camelCase (index_select -> indexSelect, masked_fill_ ->
// maskedFill_), PyTorch's argument order, and keyword arguments in a trailing options object.
import { constants as bufferConstants } from 'buffer';
import { native } from './native';
import { makeTorchError } from './errors';
import { Tensor } from './tensor';
import { installTensorMethods } from './generated/ops';
import { installFormatting } from './format';
import * as rt from './op-runtime';

native.setErrorFactory(makeTorchError);
// V8 aborts on a typed array past its length limit: the addon checks against this one (an addon built
// before the check keeps its own default of 2^32, Node 20's limit).
native.setMaxTypedArrayLength?.(bufferConstants.MAX_LENGTH);
installTensorMethods(Tensor.prototype);
installFormatting(Tensor.prototype);

export * from './generated/ops';
export { Tensor } from './tensor';
export * from './types';
export * from './errors';
export { tensor, fromBytes, toBytes, type TensorOptions, type NestedArray } from './creation';
export { scope, scopeGuard, keep, memory, setDebug, liveTensors } from './memory';
export * from './autograd';
export {
  manualSeed,
  getRngState,
  setRngState,
  setNumThreads,
  getNumThreads,
  version,
  cuda,
  cpu,
  type VersionInfo,
} from './runtime';
import * as autograd from './autograd';
export { autograd };

/**
 * Any ATen operator by schema name, for what the typed layer does not cover:
 * `torch.ops('aten::_log_softmax', '')(x, 1, false)`. Arguments are positional in schema order
 * (keyword-only ones included); undefined takes the schema default. Tensor results come back as
 * Tensors, tuples as arrays.
 */
export function ops(name: string, overload = ''): ((...args: unknown[]) => any) & { schema: string } {
  const id = rt.op(name, overload);
  const schema = native.schemaOf(id);
  const slots = rt.tensorSlots(schema);
  const display = name.includes('::') ? name : `aten::${name}`;
  const returns = rt.returnTypes(schema);
  const fn = (...args: unknown[]) =>
    rt.wrapReturns(native.callOp(id, ...args.map((v, i) => rt.boxedArg(display, slots[i], v))), returns);
  return Object.assign(fn, { schema });
}
export * as nn from './nn';
export * as F from './nn/functional';
export * as testing from './testing';
export * as optim from './optim';
export * as amp from './amp';
export * as profiler from './profiler';
export { autocast, autocastGuard, isAutocastEnabled, getAutocastDtype } from './amp';
export { latentStep, latentStepReference, type LatentStepOutput } from './kernels/latent-step';
