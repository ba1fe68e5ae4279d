// The TorchError hierarchy, mirroring PyTorch's exception types. Native code creates these through a
// factory registered at load time (native.setErrorFactory), so every error from the addon is one.

export class TorchError extends Error {
  override name = 'TorchError';
  /** The PyTorch exception type this corresponds to (RuntimeError, IndexError, ...). */
  readonly kind: string;
  constructor(message: string, kind = 'RuntimeError') {
    super(message);
    this.kind = kind;
  }
}
/** torch's RuntimeError: the general failure of an operator. */
export class RuntimeError extends TorchError {
  override name = 'RuntimeError';
}
export class IndexError extends TorchError {
  override name = 'IndexError';
}
export class ValueError extends TorchError {
  override name = 'ValueError';
}
/** A wrong argument type or count (PyTorch's TypeError). */
export class TorchTypeError extends TorchError {
  override name = 'TypeError';
}
export class NotImplementedError extends TorchError {
  override name = 'NotImplementedError';
}
export class OutOfMemoryError extends TorchError {
  override name = 'OutOfMemoryError';
}
export class LinAlgError extends TorchError {
  override name = 'LinAlgError';
}
/** A tensor was used after dispose() or after its scope ended. */
export class DisposedTensorError extends TorchError {
  override name = 'DisposedTensorError';
}
/** A CUDA operation on a machine or build without a usable GPU. */
export class CudaUnavailableError extends TorchError {
  override name = 'CudaUnavailableError';
}

const KINDS: Record<string, new (message: string, kind?: string) => TorchError> = {
  RuntimeError,
  IndexError,
  ValueError,
  TypeError: TorchTypeError,
  NotImplementedError,
  OutOfMemoryError,
  LinAlgError,
  DisposedTensorError,
  CudaUnavailableError,
};

export function makeTorchError(kind: string, message: string): TorchError {
  const Cls = KINDS[kind] ?? RuntimeError;
  const err = new Cls(message, kind);
  // Drop this factory frame so the stack starts at the user's call.
  if (Error.captureStackTrace) Error.captureStackTrace(err, makeTorchError);
  return err;
}

export function isTorchError(e: unknown): e is TorchError {
  return e instanceof TorchError;
}
