// Phase-1 training (supervised latent training, full or two-trunk), its evaluation, checkpoints,
// run directories and progress bars.
export {
  SFT_DEFAULTS,
  resolveSftConfig,
  trainSft,
  loadSftRun,
  openSftRun,
  loadSftData,
  restoreSftCheckpoint,
  runDirExists,
  SftData,
  type SftConfig,
  type SftRun,
  type SftSummary,
  type TrainOptions,
} from './sft';
export { evaluateSftRun, formatDiagnostics, type SftEvalOptions, type SftDiagnostics } from './sft-eval';
export {
  saveCheckpoint,
  saveTrainingCheckpoint,
  loadCheckpoint,
  loadTrainingCheckpoint,
  latestCheckpoint,
  listStepCheckpoints,
  resolveCheckpoint,
  readCheckpointManifest,
  readOptimizerState,
  CheckpointError,
  MANIFEST_FILE,
  MODEL_FILE,
  OPTIMIZER_FILE,
  type JsonValue,
  type CheckpointContents,
  type SavePhase,
  type SaveOptions,
  type CheckpointManifest,
  type LoadTargets,
  type LoadedCheckpoint,
} from './checkpoint';
export { RunDir, StopSignal } from './run-dir';
export { ProgressBar, formatStats, type ProgressOptions } from './progress';
export { exportSftRun, writeHfModel, checkExportDir, type HfExportOptions, type HfExportResult } from './export';
