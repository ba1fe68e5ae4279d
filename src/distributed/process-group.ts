// Process groups (torch.distributed's c10d, through the addon) and the default group of a launched run.
//
// A group is created once per process: every rank calls initProcessGroup (or initFromEnv under
// `latent launch`) with the same world size and rendezvous address; rank 0 hosts the store. After
// that, every rank must call the same collectives in the same order with tensors of the same shapes
// and dtypes — the contract of torch.distributed. A peer that exits fails the collective at once; one
// that stops calling collectives fails it after the group's timeout. Never an endless wait.
import * as torch from '../torch';
import type { Tensor } from '../torch';
import { TorchError } from '../torch/errors';
import { wrap } from '../torch/tensor';
import { dist as N, type NativeBackends, type NativeProcessGroup } from './native';
import { DEFAULT_TIMEOUT_MS, readLaunchEnv } from './env';

export type ReduceOp = 'sum' | 'avg' | 'max' | 'min' | 'product';
export type BackendName = 'gloo' | 'nccl';

/** PyTorch DDP's default bucket size (bucket_cap_mb = 25). */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

/** A collective or rendezvous failed: a peer exited or stalled past the timeout, or ranks disagreed. */
export class DistributedError extends TorchError {
  override name = 'DistributedError';
  constructor(message: string) {
    super(message, 'DistributedError');
  }
}

/** Runs a native call, turning its communication failures into DistributedError. */
function guarded<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error && (e as { kind?: string }).kind === 'DistributedError' && !(e instanceof DistributedError)) {
      const err = new DistributedError(e.message);
      if (e.stack?.startsWith(`${e.name}: `)) err.stack = err.name + e.stack.slice(e.name.length);
      throw err;
    }
    throw e;
  }
}

/** What this build can do: Gloo (CPU) is in every libtorch with distributed; NCCL needs a CUDA build. */
export function availableBackends(): NativeBackends {
  return N.distBackends();
}

export interface InitOptions {
  rank: number;
  worldSize: number;
  /** where rank 0 hosts the rendezvous store */
  masterAddr: string;
  masterPort: number;
  /** default gloo */
  backend?: BackendName;
  /** rendezvous and collective timeout (default 30 minutes, as torch.distributed) */
  timeoutMs?: number;
  /** Gloo: bind to this host's address (default: 127.0.0.1 when masterAddr is a loopback address, else the machine's host name) */
  hostname?: string;
  /** Gloo: bind to these network interfaces instead (GLOO_SOCKET_IFNAME) */
  interfaces?: string[];
  /** NCCL: this rank's CUDA device, e.g. 'cuda:1' */
  device?: string;
  /**
   * The job's shared secret (LT_DIST_SECRET), required for more than one rank: every rank must present
   * it to rank 0 before the group forms. It keeps strangers out of the rendezvous; it does not encrypt
   * or authenticate the collectives' own traffic, so run multi-node jobs on a trusted network only.
   */
  secret?: string;
}

function isLoopback(addr: string): boolean {
  return addr === 'localhost' || addr === '::1' || /^127\.\d+\.\d+\.\d+$/.test(addr);
}

function cudaIndex(device: string): number {
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (!m) throw new RangeError(`the NCCL backend needs a CUDA device ('cuda' or 'cuda:N'), got '${device}'`);
  return m[1] === undefined ? 0 : Number(m[1]);
}

export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: BackendName;
  readonly timeoutMs: number;
  /** where the group's own small tensors (numbers, objects) live: cpu for Gloo, the rank's GPU for NCCL */
  readonly device: string;
  private handle: NativeProcessGroup | null;

  /** Joins the group: blocks until all worldSize ranks have joined (or the timeout passes). */
  static init(o: InitOptions): ProcessGroup {
    const backend = o.backend ?? 'gloo';
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const device = backend === 'nccl' ? `cuda:${cudaIndex(o.device ?? 'cuda')}` : 'cpu';
    const hostname = o.hostname ?? (backend === 'gloo' && !o.interfaces?.length && isLoopback(o.masterAddr) ? '127.0.0.1' : null);
    const handle = guarded(() =>
      N.distInit({
        backend,
        rank: o.rank,
        worldSize: o.worldSize,
        masterAddr: o.masterAddr,
        masterPort: o.masterPort,
        timeoutMs,
        hostname,
        interfaces: o.interfaces ?? null,
        device: backend === 'nccl' ? cudaIndex(device) : null,
        secret: o.secret ?? null,
      }),
    );
    return new ProcessGroup(handle, o.rank, o.worldSize, backend, timeoutMs, device);
  }

  private constructor(
    handle: NativeProcessGroup,
    rank: number,
    worldSize: number,
    backend: BackendName,
    timeoutMs: number,
    device: string,
  ) {
    this.handle = handle;
    this.rank = rank;
    this.worldSize = worldSize;
    this.backend = backend;
    this.timeoutMs = timeoutMs;
    this.device = device;
  }

  get isMain(): boolean {
    return this.rank === 0;
  }
  get destroyed(): boolean {
    return this.handle === null;
  }

  private live(op: string): NativeProcessGroup {
    if (!this.handle)
      throw new DistributedError(`${op}: the process group (rank ${this.rank} of ${this.worldSize}) has been destroyed`);
    return this.handle;
  }

  /** Reduces each tensor over all ranks, in place (lists are packed into buckets of `bucketBytes`). */
  allReduce(tensors: Tensor | readonly Tensor[], op: ReduceOp = 'sum', { bucketBytes = DEFAULT_BUCKET_BYTES } = {}): void {
    const list = Array.isArray(tensors) ? tensors : [tensors as Tensor];
    const h = this.live('allReduce');
    guarded(() =>
      N.distAllReduce(
        h,
        list.map((t) => t._h),
        op,
        bucketBytes,
      ),
    );
  }

  /** Overwrites each tensor with rank `src`'s, in place. */
  broadcast(tensors: Tensor | readonly Tensor[], src = 0, { bucketBytes = DEFAULT_BUCKET_BYTES } = {}): void {
    const list = Array.isArray(tensors) ? tensors : [tensors as Tensor];
    const h = this.live('broadcast');
    guarded(() =>
      N.distBroadcast(
        h,
        list.map((t) => t._h),
        src,
        bucketBytes,
      ),
    );
  }

  /** Every rank's `tensor` (same shape and dtype on all ranks), in rank order. */
  allGather(tensor: Tensor): Tensor[] {
    const h = this.live('allGather');
    return guarded(() => N.distAllGather(h, tensor._h)).map(wrap);
  }

  /** Returns once every rank has reached it. */
  barrier(): void {
    const h = this.live('barrier');
    guarded(() => N.distBarrier(h));
  }

  /** Reduces plain numbers (counts, sums, flags) over all ranks, in float64. */
  allReduceNumbers(values: readonly number[], op: ReduceOp = 'sum'): number[] {
    if (values.length === 0) return [];
    return torch.scope(() => {
      const t = torch.tensor(Float64Array.from(values), { device: this.device });
      this.allReduce(t, op);
      return Array.from(t.toTypedArray() as Float64Array);
    });
  }

  /** Rank `src`'s value (anything JSON can carry) on every rank; the others' `value` is ignored. */
  broadcastObject<T>(value: T, src = 0): T {
    return torch.scope(() => {
      const bytes = this.rank === src ? Buffer.from(JSON.stringify(value) ?? 'null', 'utf8') : Buffer.alloc(0);
      const length = torch.tensor([bytes.length], { dtype: 'int64', device: this.device });
      this.broadcast(length, src);
      const n = Number(length.item());
      const payload =
        this.rank === src
          ? torch.tensor(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), { device: this.device })
          : torch.zeros([n], { dtype: 'uint8', device: this.device });
      this.broadcast(payload, src);
      return JSON.parse(Buffer.from(payload.toTypedArray() as Uint8Array).toString('utf8')) as T;
    });
  }

  /** Leaves the group: stops its threads and closes its connections (rank 0 also stops the store). Idempotent. */
  destroy(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = null;
    N.distDestroy(h);
  }
}

// ---- the default group (one per process, like torch.distributed's) ----

let defaultGroup: ProcessGroup | null = null;

/** Creates the default process group (blocking until every rank has joined). */
export function initProcessGroup(o: InitOptions): ProcessGroup {
  if (defaultGroup && !defaultGroup.destroyed)
    throw new DistributedError(
      `the default process group is already initialized (rank ${defaultGroup.rank} of ${defaultGroup.worldSize}); destroyProcessGroup() first`,
    );
  defaultGroup = ProcessGroup.init(o);
  return defaultGroup;
}

export interface InitFromEnvOptions {
  /** the training device: a CUDA device selects NCCL when the build has it (LT_DIST_BACKEND overrides) */
  device?: string;
  backend?: BackendName;
  env?: NodeJS.ProcessEnv;
}

/**
 * Joins the default group described by the launch environment (RANK, WORLD_SIZE, MASTER_ADDR, ...;
 * see env.ts) and returns the world size. Returns 1 without creating a group when this process was
 * not launched as one of several ranks. Idempotent.
 */
export function initFromEnv({ device = 'cpu', backend, env = process.env }: InitFromEnvOptions = {}): number {
  if (defaultGroup && !defaultGroup.destroyed) return defaultGroup.worldSize;
  const launch = readLaunchEnv(env);
  if (!launch || launch.worldSize === 1) return 1;
  const cuda = device.startsWith('cuda');
  const chosen = backend ?? launch.backend ?? (cuda && availableBackends().nccl ? 'nccl' : 'gloo');
  initProcessGroup({
    rank: launch.rank,
    worldSize: launch.worldSize,
    masterAddr: launch.masterAddr,
    masterPort: launch.masterPort,
    timeoutMs: launch.timeoutMs,
    backend: chosen,
    interfaces: launch.glooInterfaces ?? undefined,
    device: chosen === 'nccl' ? localDevice(device, env) : undefined,
    secret: launch.secret ?? undefined,
  });
  return launch.worldSize;
}

/** The default group; throws when none was initialized. */
export function getProcessGroup(): ProcessGroup {
  if (!defaultGroup || defaultGroup.destroyed)
    throw new DistributedError('no process group: call initFromEnv() (under `latent launch`) or initProcessGroup() first');
  return defaultGroup;
}

export function isInitialized(): boolean {
  return !!defaultGroup && !defaultGroup.destroyed;
}

/** This process's rank in the default group (0 without one). */
export function rank(): number {
  return isInitialized() ? defaultGroup!.rank : 0;
}

/** Ranks in the default group (1 without one). */
export function worldSize(): number {
  return isInitialized() ? defaultGroup!.worldSize : 1;
}

/**
 * Whether this process writes checkpoints, metrics and reports: rank 0 of the default group; without
 * a group (before initFromEnv, after destroyProcessGroup), rank 0 of the launch, or an unlaunched process.
 */
export function isMain(): boolean {
  if (isInitialized()) return defaultGroup!.rank === 0;
  try {
    return (readLaunchEnv()?.rank ?? 0) === 0;
  } catch {
    return true; // a malformed launch environment is reported by initFromEnv
  }
}

/** Destroys the default group (no-op without one). */
export function destroyProcessGroup(): void {
  defaultGroup?.destroy();
  defaultGroup = null;
}

/** The device of this rank: a bare 'cuda' becomes cuda:LOCAL_RANK when launched; others are unchanged. */
export function localDevice(device: string, env: NodeJS.ProcessEnv = process.env): string {
  if (device !== 'cuda') return device;
  const launch = readLaunchEnv(env);
  return launch && launch.worldSize > 1 ? `cuda:${launch.localRank}` : device;
}
