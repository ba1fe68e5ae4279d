// `latent train rl …` (phase 2: GRPO from a phase-1 run). Mounted by ./train.ts as `rlCommand` (it
// exports no `command`: it is not a top-level command).
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { readConfigFile } from '../config-file';

/** CLI option -> RlConfig field, for the options whose names differ. */
const RENAMED: Record<string, string> = {
  questions: 'questionsPerStep',
  epochs: 'updateEpochs',
  kl: 'klCoef',
  clip: 'clipEpsilon',
  clipHigh: 'clipEpsilonHigh',
  warmup: 'warmupSteps',
  miniBatch: 'miniBatchSize',
  microBatch: 'microBatchSize',
  rolloutBatch: 'rolloutBatchSize',
};

const FIELDS = [
  'from', 'data', 'steps', 'group', 'questions', 'epochs', 'miniBatch', 'microBatch', 'rolloutBatch', 'lr', 'lrDecay', 'minLr', 'warmup',
  'weightDecay', 'gradClip', 'clip', 'clipHigh', 'kl', 'temperature', 'topP', 'maxNewTokens', 'maxLatents', 'maxSpans', 'latentGrad',
  'scaleRewards', 'lossAggregation', 'answerMode', 'formatReward', 'latentCost', 'calibratedStart', 'evalEvery', 'evalExamples',
  'saveEvery', 'logEvery', 'sampleEvery', 'samplesPerStep', 'maxTrainExamples', 'device', 'seed',
] as const;

export const rlCommand: CommandModule = {
  command: 'rl',
  describe: 'phase 2: GRPO with verifiable rewards over language and latent spans, from a phase-1 run',
  builder: (y: Argv) =>
    y
      .option('from', { type: 'string', describe: 'phase-1 run directory (its latest checkpoint is the initial and the reference policy)' })
      .option('data', { type: 'string', describe: 'directory with train.jsonl and test.jsonl (GSM8K format)' })
      .option('out', { type: 'string', describe: 'run directory of this RL run' })
      .option('steps', { type: 'number', describe: 'GRPO steps (each samples and updates on a batch of questions)' })
      .option('group', { type: 'number', describe: 'rollouts per question (G)' })
      .option('questions', { type: 'number', describe: 'questions per step' })
      .option('epochs', { type: 'number', describe: 'update passes over each batch of rollouts' })
      .option('mini-batch', { type: 'number', describe: 'rollouts per optimizer step (default: all of a step)' })
      .option('micro-batch', { type: 'number', describe: 'rollouts per forward/backward (gradient accumulation)' })
      .option('rollout-batch', { type: 'number', describe: 'rows per batched sampling pass' })
      .option('lr', { type: 'number', describe: 'learning rate' })
      .option('lr-decay', { choices: ['constant', 'cosine', 'linear'] as const })
      .option('min-lr', { type: 'number', describe: 'floor of a cosine or linear decay' })
      .option('warmup', { type: 'number', describe: 'linear warm-up steps' })
      .option('weight-decay', { type: 'number' })
      .option('grad-clip', { type: 'number' })
      .option('clip', { type: 'number', describe: 'ε of the clipped ratio objective' })
      .option('clip-high', { type: 'number', describe: 'upper ε (default: --clip)' })
      .option('kl', { type: 'number', describe: 'β of the KL penalty to the reference policy (k3 estimator; 0: none)' })
      .option('temperature', { type: 'number', describe: 'sampling temperature of language tokens' })
      .option('top-p', { type: 'number' })
      .option('max-new-tokens', { type: 'number' })
      .option('max-latents', { type: 'number', describe: 'hard cap on latents per span (default: the phase-1 run’s)' })
      .option('max-spans', { type: 'number', describe: 'cap on spans per rollout' })
      .option('latent-grad', { choices: ['stored', 'recurrent'] as const, describe: 'stored: re-score with the sampled latents; recurrent: recompute them and backpropagate through the recurrence' })
      .option('scale-rewards', { type: 'boolean', describe: 'divide advantages by the group standard deviation (--no-scale-rewards: mean-centred only)' })
      .option('loss-aggregation', { choices: ['sequence', 'token'] as const, describe: 'mean of per-rollout means (GRPO) or mean over all actions (DAPO)' })
      .option('answer-mode', { choices: ['hash', 'last-number'] as const, describe: 'graded answer: the number after #### or the last number' })
      .option('format-reward', { type: 'number', describe: 'bonus for a "#### <number>" line' })
      .option('latent-cost', { type: 'number', describe: 'reward subtracted per latent' })
      .option('calibrated-start', { type: 'boolean', describe: 'centre the start classifier on the phase-1 calibrated threshold' })
      .option('eval-every', { type: 'number' })
      .option('eval-examples', { type: 'number', describe: 'test questions for the periodic greedy accuracy (0: none)' })
      .option('save-every', { type: 'number' })
      .option('log-every', { type: 'number' })
      .option('sample-every', { type: 'number', describe: 'write rollouts to samples.jsonl every N steps' })
      .option('samples-per-step', { type: 'number' })
      .option('max-train-examples', { type: 'number' })
      .option('device', { type: 'string', describe: 'cpu | cuda | cuda:N (default: the phase-1 run’s)' })
      .option('seed', { type: 'number' })
      .option('config', { type: 'string', describe: 'JSON file with any of these options as RL config fields (command-line options win)' })
      .option('resume', { type: 'string', describe: 'continue the RL run in this directory from its latest checkpoint' }),
  handler: async (a: Record<string, unknown>) => {
    const { resolveRlConfig, trainRl } = await import('../../rl/trainer');
    const fromRun = a.resume ? readConfigFile(path.join(String(a.resume), 'config.json')) : {};
    const fromFile = readConfigFile(a.config as string | undefined);
    const cli: Record<string, unknown> = {};
    if (a.resume ?? a.out) cli.out = a.resume ?? a.out;
    for (const k of FIELDS) if (a[k] !== undefined) cli[RENAMED[k] ?? k] = a[k];
    const merged = { ...fromRun, ...fromFile, ...cli } as Record<string, unknown>;
    for (const k of ['from', 'data', 'out']) if (!merged[k]) throw new Error(`--${k} is required`);
    const config = resolveRlConfig(merged as never);
    const summary = await trainRl(config, { resume: !!a.resume });
    console.log(JSON.stringify({ steps: summary.steps, finalReward: summary.finalReward, stopped: summary.stopped, out: summary.out }));
    if (summary.stopped === 'non-finite') process.exitCode = 2;
  },
};
