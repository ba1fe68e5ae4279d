// The defaults of a phase-1 run, apart from the trainer so that the CLI can show them in --help
// without loading the tensor library.
import type { SftConfig } from './sft';

/** Warm-up as a fraction of the run's steps when --warmup is not given. */
export const SFT_WARMUP_RATIO = 0.05;

export const SFT_DEFAULTS: Omit<SftConfig, 'model' | 'data' | 'out' | 'warmupSteps'> = {
  kind: 'sft',
  mode: 'full',
  latents: 4,
  markersAtZero: false,
  latentInput: 'affine',
  steps: 1000,
  batchSize: 8,
  lr: 1e-5,
  minLr: 1e-6,
  warmupRatio: SFT_WARMUP_RATIO,
  weightDecay: 0.01,
  gradClip: 1.0,
  startLossWeight: 0.1,
  stopLossWeight: 0.1,
  validationSize: 200,
  maxTrainExamples: null,
  evalEvery: 200,
  evalExamples: 100,
  saveEvery: 500,
  logEvery: 1,
  maxLatents: 8,
  markerInitToken: '=',
  device: 'cpu',
  dtype: null,
  frozenDtype: null,
  latentTemperature: 1,
  coupling: 'shared-kv',
  freezeMarkers: false,
  latentSchedule: 'fixed',
  headLr: null,
  startFitExamples: 256,
  seed: 0,
};
