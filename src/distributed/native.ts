// The addon's c10d entry points (native/distributed.cc), typed. Everything here deals in tensor handles;
// process-group.ts wraps them.
import { native } from '../torch/native';

/** A c10d process group owned by the addon (opaque to JS; destroyed by distDestroy or when collected). */
export type NativeProcessGroup = { readonly __brand: 'NativeProcessGroup' };

export interface NativeInitOptions {
  backend: 'gloo' | 'nccl';
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  timeoutMs: number;
  /** Gloo: bind to the address of this host name (e.g. 127.0.0.1); default: the machine's host name */
  hostname?: string | null;
  /** Gloo: bind to these network interfaces (GLOO_SOCKET_IFNAME) */
  interfaces?: string[] | null;
  /** the job's shared secret, which every rank must present (required for more than one rank) */
  secret?: string | null;
  /** NCCL: the CUDA device of this rank */
  device?: number | null;
}

export interface NativeBackends {
  c10d: boolean;
  gloo: boolean;
  nccl: boolean;
  ncclUnavailableReason: string | null;
}

export interface DistributedAddon {
  distBackends(): NativeBackends;
  distInit(options: NativeInitOptions): NativeProcessGroup;
  distAllReduce(group: NativeProcessGroup, tensors: number[], op: string, bucketBytes: number): void;
  distBroadcast(group: NativeProcessGroup, tensors: number[], root: number, bucketBytes: number): void;
  distAllGather(group: NativeProcessGroup, tensor: number): number[];
  distBarrier(group: NativeProcessGroup): void;
  distDestroy(group: NativeProcessGroup): void;
  distInfo(group: NativeProcessGroup): {
    backend: string;
    rank: number;
    worldSize: number;
    timeoutMs: number;
    endpoint: string;
    destroyed: boolean;
  };
}

export const dist = native as unknown as DistributedAddon;
