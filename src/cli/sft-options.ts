// The flags of SftConfig fields: `latent train sft` takes them all, `latent compare` the budget's among
// them. Each flag's type (or choices) and the default --help shows are defined here once; each command
// words its own --help line.
import type { Options } from 'yargs';
import type { SftConfig } from '../train/sft';
import { SFT_DEFAULTS } from '../train/sft-defaults';
import { configFromFlags, configOptions } from './options';

/** Fields whose flag is shorter than the field's kebab case. */
const FLAG_NAMES = { batchSize: 'batch', warmupSteps: 'warmup' } as const;

/** By field: the flag's type or choices, and the default --help shows where it is not the field's in SFT_DEFAULTS. */
const SFT_FLAGS = {
  model: { type: 'string', defaultDescription: 'required' },
  data: { type: 'string', defaultDescription: 'required' },
  mode: { choices: ['full', 'two-trunk'] },
  latents: { type: 'number' },
  markersAtZero: { type: 'boolean' },
  latentInput: { type: 'string' },
  steps: { type: 'number' },
  batchSize: { type: 'number' },
  lr: { type: 'number' },
  warmupSteps: { type: 'number', defaultDescription: `${SFT_DEFAULTS.warmupRatio} × --steps` },
  warmupRatio: { type: 'number' },
  minLr: { type: 'number' },
  weightDecay: { type: 'number' },
  gradClip: { type: 'number' },
  startLossWeight: { type: 'number' },
  stopLossWeight: { type: 'number' },
  maxLatents: { type: 'number' },
  latentSchedule: { choices: ['fixed', 'digits', 'operations'] },
  headLr: { type: 'number', defaultDescription: '--lr' },
  startFitExamples: { type: 'number' },
  maxTrainExamples: { type: 'number', defaultDescription: 'all' },
  validationSize: { type: 'number' },
  evalEvery: { type: 'number' },
  evalExamples: { type: 'number' },
  saveEvery: { type: 'number' },
  device: { type: 'string' },
  dtype: { choices: ['float32', 'bfloat16', 'float64'], defaultDescription: 'the checkpoint’s' },
  frozenDtype: { choices: ['float32', 'bfloat16', 'float16'], defaultDescription: 'bfloat16 on CUDA, else the model’s' },
  latentTemperature: { type: 'number' },
  coupling: { choices: ['shared-kv', 'reencode'] },
  freezeMarkers: { type: 'boolean' },
  seed: { type: 'number' },
} as const satisfies Partial<Record<keyof SftConfig, Options>>;

export type SftFlagField = keyof typeof SFT_FLAGS;

/** The flags of the fields in `describe`, in its order, each with this command's --help line (undefined: none). */
export function sftOptions(describe: Partial<Record<SftFlagField, string | undefined>>): Record<string, Options> {
  const fields = Object.keys(describe) as SftFlagField[];
  return configOptions(
    Object.fromEntries(fields.map((f) => [f, { ...SFT_FLAGS[f], describe: describe[f] }])),
    SFT_DEFAULTS,
    FLAG_NAMES,
  );
}

/** The SftConfig fields given as flags (see configFromFlags); a command's flags not given, and fields it has none for, are left out. */
export function sftConfigFromFlags(a: Record<string, unknown>): Partial<Record<SftFlagField, unknown>> {
  return configFromFlags(a, Object.keys(SFT_FLAGS) as SftFlagField[], FLAG_NAMES);
}
