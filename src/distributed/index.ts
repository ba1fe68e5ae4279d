// Data-parallel training across processes on torch.distributed's c10d (Gloo on CPU, NCCL on CUDA).
// See process-group.ts (groups and collectives), ddp.ts (the trainer's pieces), launch.ts (`latent launch`).
export { readLaunchEnv, DEFAULT_TIMEOUT_MS, LaunchEnvError, type LaunchEnv } from './env';
export {
  ProcessGroup,
  DistributedError,
  DEFAULT_BUCKET_BYTES,
  availableBackends,
  initProcessGroup,
  initFromEnv,
  getProcessGroup,
  isInitialized,
  rank,
  worldSize,
  isMain,
  destroyProcessGroup,
  localDevice,
  type ReduceOp,
  type BackendName,
  type InitOptions,
  type InitFromEnvOptions,
} from './process-group';
export {
  broadcastParameters,
  allReduceGradients,
  shardBatch,
  globalMeanLosses,
  anyRank,
  type MeanTerm,
  type GlobalMeans,
  type GroupOption,
} from './ddp';
export { globalLatentLosses } from './latent';
export { launch, parseMaster, freePort, LaunchError, type LaunchOptions, type LaunchResult, type RankExit } from './launch';
