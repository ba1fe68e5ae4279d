// The environment a launcher (`latent launch`, torchrun) gives each rank, read and validated.
//
//   RANK, WORLD_SIZE            this process's rank and the number of processes
//   LOCAL_RANK, LOCAL_WORLD_SIZE  the same within this node (which GPU to use)
//   MASTER_ADDR, MASTER_PORT    where rank 0 hosts the rendezvous store
//   LT_DIST_TIMEOUT             seconds before a missing or stuck peer fails a collective (default 1800)
//   LT_DIST_BACKEND             gloo | nccl (default: nccl for CUDA devices when available, else gloo)
//   GLOO_SOCKET_IFNAME          network interfaces Gloo binds to (comma-separated), as in PyTorch
//   LT_DIST_SECRET              the job's shared secret, which every rank presents to rank 0 (`latent launch`
//                               makes one per job; set the same one on every node of a multi-node job)

export interface LaunchEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  /** collective and rendezvous timeout */
  timeoutMs: number;
  backend: 'gloo' | 'nccl' | null;
  glooInterfaces: string[] | null;
  /** LT_DIST_SECRET */
  secret: string | null;
}

/** torch.distributed's default (30 minutes): long enough for rank 0 to write a large checkpoint. */
export const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

export class LaunchEnvError extends Error {
  override name = 'LaunchEnvError';
}

function integer(env: NodeJS.ProcessEnv, name: string, { min = 0, fallback }: { min?: number; fallback?: number } = {}): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new LaunchEnvError(`${name} is not set; it is set by \`latent launch\` (or torchrun) for every rank`);
  }
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min)
    throw new LaunchEnvError(`${name}=${JSON.stringify(raw)} is not an integer >= ${min}`);
  return Number(raw);
}

/** The launch environment, or null when this process was not started as one of several ranks. */
export function readLaunchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv | null {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === '') return null;
  const worldSize = integer(env, 'WORLD_SIZE', { min: 1 });
  const rank = integer(env, 'RANK');
  if (rank >= worldSize) throw new LaunchEnvError(`RANK=${rank} is not below WORLD_SIZE=${worldSize}`);
  const localWorldSize = integer(env, 'LOCAL_WORLD_SIZE', { min: 1, fallback: worldSize });
  const localRank = integer(env, 'LOCAL_RANK', { fallback: rank % localWorldSize });
  if (localRank >= localWorldSize)
    throw new LaunchEnvError(`LOCAL_RANK=${localRank} is not below LOCAL_WORLD_SIZE=${localWorldSize}`);
  const masterAddr = env.MASTER_ADDR?.trim() || (worldSize === 1 ? '127.0.0.1' : '');
  if (!masterAddr) throw new LaunchEnvError('MASTER_ADDR is not set; it is set by `latent launch` (or torchrun) for every rank');
  const masterPort = integer(env, 'MASTER_PORT', { min: 1, fallback: worldSize === 1 ? 29500 : undefined });
  if (masterPort > 65535) throw new LaunchEnvError(`MASTER_PORT=${masterPort} is not a TCP port (1-65535)`);
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (env.LT_DIST_TIMEOUT !== undefined && env.LT_DIST_TIMEOUT !== '') {
    const s = Number(env.LT_DIST_TIMEOUT);
    if (!(s > 0) || !Number.isFinite(s))
      throw new LaunchEnvError(`LT_DIST_TIMEOUT=${JSON.stringify(env.LT_DIST_TIMEOUT)} is not a positive number of seconds`);
    timeoutMs = Math.round(s * 1000);
  }
  const backend = env.LT_DIST_BACKEND?.trim() || null;
  if (backend !== null && backend !== 'gloo' && backend !== 'nccl')
    throw new LaunchEnvError(`LT_DIST_BACKEND=${JSON.stringify(backend)} must be gloo or nccl`);
  const interfaces =
    env.GLOO_SOCKET_IFNAME?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? [];
  return {
    rank,
    worldSize,
    localRank,
    localWorldSize,
    masterAddr,
    masterPort,
    timeoutMs,
    backend,
    glooInterfaces: interfaces.length ? interfaces : null,
    secret: env.LT_DIST_SECRET || null,
  };
}
