// `latent train rl …` (phase 2: GRPO from a phase-1 run). Mounted by ./train.ts as `rlCommand` (it
// exports no `command`: it is not a top-level command).
import type { Argv, CommandModule } from 'yargs';
import { readConfigFile } from '../config-file';
import { RL_DEFAULTS } from '../../rl/defaults';
import { nextCommands, shownDefault } from '../options';

const D = RL_DEFAULTS;
const d = shownDefault;

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
  'from',
  'data',
  'steps',
  'group',
  'questions',
  'epochs',
  'miniBatch',
  'microBatch',
  'rolloutBatch',
  'lr',
  'lrDecay',
  'minLr',
  'warmup',
  'weightDecay',
  'gradClip',
  'clip',
  'clipHigh',
  'kl',
  'temperature',
  'topP',
  'maxNewTokens',
  'maxLatents',
  'maxSpans',
  'latentGrad',
  'scaleRewards',
  'lossAggregation',
  'answerMode',
  'formatReward',
  'latentCost',
  'calibratedStart',
  'evalEvery',
  'evalExamples',
  'saveEvery',
  'logEvery',
  'sampleEvery',
  'samplesPerStep',
  'maxTrainExamples',
  'device',
  'seed',
] as const;

export const rlCommand: CommandModule = {
  command: 'rl',
  describe: 'phase 2: GRPO with verifiable rewards over language and latent spans, from a phase-1 run',
  builder: (y: Argv) =>
    y
      .option('from', {
        type: 'string',
        describe: 'phase-1 run directory (its latest checkpoint is the initial and the reference policy)',
        defaultDescription: 'required',
      })
      .option('data', {
        type: 'string',
        describe: 'directory with train.jsonl and test.jsonl (GSM8K format)',
        defaultDescription: 'required',
      })
      .option('out', { type: 'string', describe: 'run directory of this RL run', defaultDescription: 'required' })
      .option('steps', {
        type: 'number',
        describe: 'GRPO steps (each samples and updates on a batch of questions)',
        defaultDescription: d(D.steps),
      })
      .option('group', { type: 'number', describe: 'rollouts per question (G)', defaultDescription: d(D.group) })
      .option('questions', { type: 'number', describe: 'questions per step', defaultDescription: d(D.questionsPerStep) })
      .option('epochs', {
        type: 'number',
        describe: 'update passes over each batch of rollouts',
        defaultDescription: d(D.updateEpochs),
      })
      .option('mini-batch', {
        type: 'number',
        describe: 'rollouts per optimizer step',
        defaultDescription: 'all rollouts of a step',
      })
      .option('micro-batch', {
        type: 'number',
        describe: 'rollouts per forward/backward (gradient accumulation)',
        defaultDescription: d(D.microBatchSize),
      })
      .option('rollout-batch', {
        type: 'number',
        describe: 'rows per batched sampling pass',
        defaultDescription: d(D.rolloutBatchSize),
      })
      .option('lr', { type: 'number', describe: 'learning rate', defaultDescription: d(D.lr) })
      .option('lr-decay', { choices: ['constant', 'cosine', 'linear'] as const, defaultDescription: d(D.lrDecay) })
      .option('min-lr', { type: 'number', describe: 'floor of a cosine or linear decay', defaultDescription: d(D.minLr) })
      .option('warmup', { type: 'number', describe: 'linear warm-up steps', defaultDescription: d(D.warmupSteps) })
      .option('weight-decay', { type: 'number', defaultDescription: d(D.weightDecay) })
      .option('grad-clip', { type: 'number', defaultDescription: d(D.gradClip) })
      .option('clip', { type: 'number', describe: 'ε of the clipped ratio objective', defaultDescription: d(D.clipEpsilon) })
      .option('clip-high', { type: 'number', describe: 'upper ε', defaultDescription: '--clip' })
      .option('kl', {
        type: 'number',
        describe: 'β of the KL penalty to the reference policy (k3 estimator; 0: none)',
        defaultDescription: d(D.klCoef),
      })
      .option('temperature', {
        type: 'number',
        describe: 'sampling temperature of language tokens',
        defaultDescription: d(D.temperature),
      })
      .option('top-p', { type: 'number', defaultDescription: d(D.topP) })
      .option('max-new-tokens', { type: 'number', defaultDescription: d(D.maxNewTokens) })
      .option('max-latents', {
        type: 'number',
        describe: 'hard cap on latents per span',
        defaultDescription: 'the phase-1 run’s',
      })
      .option('max-spans', { type: 'number', describe: 'cap on spans per rollout', defaultDescription: 'none' })
      .option('latent-grad', {
        choices: ['stored', 'recurrent'] as const,
        describe: 'stored: re-score with the sampled latents; recurrent: recompute them and backpropagate through the recurrence',
        defaultDescription: d(D.latentGrad),
      })
      .option('scale-rewards', {
        type: 'boolean',
        describe: 'divide advantages by the group standard deviation (--no-scale-rewards: mean-centred only)',
        defaultDescription: d(D.scaleRewards),
      })
      .option('loss-aggregation', {
        choices: ['sequence', 'token'] as const,
        describe: 'mean of per-rollout means (GRPO) or mean over all actions (DAPO)',
        defaultDescription: d(D.lossAggregation),
      })
      .option('answer-mode', {
        choices: ['hash', 'last-number'] as const,
        describe: 'graded answer: the number after #### or the last number',
        defaultDescription: d(D.answerMode),
      })
      .option('format-reward', {
        type: 'number',
        describe: 'bonus for a "#### <number>" line',
        defaultDescription: d(D.formatReward),
      })
      .option('latent-cost', { type: 'number', describe: 'reward subtracted per latent', defaultDescription: d(D.latentCost) })
      .option('calibrated-start', {
        type: 'boolean',
        describe: 'centre the start classifier on the phase-1 calibrated threshold',
        defaultDescription: d(D.calibratedStart),
      })
      .option('eval-every', { type: 'number', defaultDescription: d(D.evalEvery) })
      .option('eval-examples', {
        type: 'number',
        describe: 'test questions for the periodic greedy accuracy (0: none)',
        defaultDescription: d(D.evalExamples),
      })
      .option('save-every', { type: 'number', defaultDescription: d(D.saveEvery) })
      .option('log-every', { type: 'number', defaultDescription: d(D.logEvery) })
      .option('sample-every', {
        type: 'number',
        describe: 'write rollouts to samples.jsonl every N steps',
        defaultDescription: d(D.sampleEvery),
      })
      .option('samples-per-step', { type: 'number', defaultDescription: d(D.samplesPerStep) })
      .option('max-train-examples', { type: 'number', defaultDescription: 'all' })
      .option('device', { type: 'string', describe: 'cpu | cuda | cuda:N', defaultDescription: 'the phase-1 run’s' })
      .option('seed', { type: 'number', defaultDescription: d(D.seed) })
      .option('config', {
        type: 'string',
        describe: 'JSON file with any of these options as RL config fields (command-line options win)',
      })
      .option('resume', { type: 'string', describe: 'continue the RL run in this directory from its latest checkpoint' })
      .group(['from', 'data', 'out', 'config', 'resume'], 'Run:')
      .group(
        ['steps', 'group', 'questions', 'epochs', 'mini-batch', 'micro-batch', 'rollout-batch', 'max-train-examples', 'seed'],
        'Rollouts and batches:',
      )
      .group(
        [
          'lr',
          'lr-decay',
          'min-lr',
          'warmup',
          'weight-decay',
          'grad-clip',
          'clip',
          'clip-high',
          'kl',
          'scale-rewards',
          'loss-aggregation',
          'latent-grad',
        ],
        'Objective and optimization:',
      )
      .group(['temperature', 'top-p', 'max-new-tokens', 'max-latents', 'max-spans', 'calibrated-start'], 'Sampling:')
      .group(['answer-mode', 'format-reward', 'latent-cost'], 'Reward:')
      .group(
        ['eval-every', 'eval-examples', 'save-every', 'log-every', 'sample-every', 'samples-per-step'],
        'Evaluation, logging and checkpoints:',
      )
      .group(['device'], 'Hardware:'),
  handler: async (a: Record<string, unknown>) => {
    const { resolveRlConfig, trainRl } = await import('../../rl/trainer');
    const fromRun = a.resume ? (await import('../../train/run-dir')).readRunConfig(a.resume as string, 'rl') : {};
    const fromFile = readConfigFile(a.config as string | undefined);
    const cli: Record<string, unknown> = {};
    if (a.resume ?? a.out) cli.out = a.resume ?? a.out;
    for (const k of FIELDS) if (a[k] !== undefined) cli[RENAMED[k] ?? k] = a[k];
    const merged = { ...fromRun, ...fromFile, ...cli } as Record<string, unknown>;
    for (const k of ['from', 'data', 'out']) if (!merged[k]) throw new Error(`--${k} is required`);
    const config = resolveRlConfig(merged as never);
    const summary = await trainRl(config, { resume: !!a.resume });
    console.log(
      JSON.stringify({ steps: summary.steps, finalReward: summary.finalReward, stopped: summary.stopped, out: summary.out }),
    );
    if (summary.stopped === 'completed') process.stderr.write(`${nextCommands('rl', summary.out)}\n`);
    if (summary.stopped === 'non-finite') process.exitCode = 2;
    if (summary.stopped === 'interrupted') process.exitCode = 130; // as a shell reports a run stopped by Ctrl-C
  },
};
