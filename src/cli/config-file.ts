// The JSON option files of `latent train sft|rl` (--config, and a run's config.json on --resume).
import * as fs from 'fs';
import type { SftConfig } from '../train/sft';

/** The object in `file`, or {} when no file is given; an unreadable or malformed file names itself. */
export function readConfigFile(file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`--config ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** The SftConfig fields that `latent train sft` takes as flags (`latent compare` takes the budget's subset of them). */
export const SFT_FLAG_FIELDS = [
  'model',
  'data',
  'mode',
  'latents',
  'markersAtZero',
  'latentInput',
  'steps',
  'batchSize',
  'lr',
  'warmupSteps',
  'warmupRatio',
  'minLr',
  'weightDecay',
  'gradClip',
  'startLossWeight',
  'stopLossWeight',
  'maxLatents',
  'latentSchedule',
  'headLr',
  'startFitExamples',
  'maxTrainExamples',
  'validationSize',
  'evalEvery',
  'evalExamples',
  'saveEvery',
  'device',
  'dtype',
  'frozenDtype',
  'latentTemperature',
  'coupling',
  'freezeMarkers',
  'seed',
] as const satisfies readonly (keyof SftConfig)[];

/** Config fields whose flag has a shorter name. */
const FLAG_NAMES: Partial<Record<keyof SftConfig, string>> = { batchSize: 'batch', warmupSteps: 'warmup' };

/**
 * The config `fields` given on the command line, read from yargs' camel-cased arguments (`--batch` is
 * batchSize, `--warmup` warmupSteps, every other field its own flag). Flags not given (and fields the
 * command has no flag for) are left out, so the result can be spread over a config file's values.
 */
export function configFromFlags(
  a: Record<string, unknown>,
  fields: readonly (keyof SftConfig)[] = SFT_FLAG_FIELDS,
): Partial<Record<keyof SftConfig, unknown>> {
  const out: Partial<Record<keyof SftConfig, unknown>> = {};
  for (const f of fields) {
    const v = a[FLAG_NAMES[f] ?? f];
    if (v !== undefined) out[f] = v;
  }
  return out;
}
