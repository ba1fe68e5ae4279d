// The environment of rank `rank` among `world` ranks on this host, as `latent launch` sets it (the job's shared
// secret included): what the distributed benchmark and the distributed tests give the ranks they start themselves.
export function localRankEnv(rank: number, world: number, port: number, secret: string): NodeJS.ProcessEnv {
  return {
    RANK: String(rank),
    LOCAL_RANK: String(rank),
    WORLD_SIZE: String(world),
    LOCAL_WORLD_SIZE: String(world),
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(port),
    LT_DIST_SECRET: secret,
  };
}
