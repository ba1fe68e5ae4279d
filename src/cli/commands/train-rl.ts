// `latent train rl …` (phase 2: GRPO from a phase-1 run). Mounted by ./train.ts as `rlCommand` (it
// exports no `command`: it is not a top-level command).
import type { Argv, CommandModule, Options } from 'yargs';
import { readConfigFile } from '../config-file';
import { RL_DEFAULTS } from '../../rl/defaults';
import type { RlConfig } from '../../rl/trainer';
import { addOptionGroups, configFromFlags, configOptions, nextCommands } from '../options';

/** RlConfig fields whose flag is shorter than the field's kebab case. */
const FLAG_NAMES = {
  questionsPerStep: 'questions',
  updateEpochs: 'epochs',
  klCoef: 'kl',
  clipEpsilon: 'clip',
  clipEpsilonHigh: 'clip-high',
  warmupSteps: 'warmup',
  miniBatchSize: 'mini-batch',
  microBatchSize: 'micro-batch',
  rolloutBatchSize: 'rollout-batch',
} as const satisfies Partial<Record<keyof RlConfig, string>>;

type RlOptions = Partial<Record<keyof RlConfig, Options>>;

/** The flags of RlConfig fields by --help heading, keyed by field (see FLAG_NAMES); the default shown is RL_DEFAULTS' unless stated. */
const RL_OPTIONS: Record<string, RlOptions> = {
  'Run:': {
    from: {
      type: 'string',
      describe: 'phase-1 run directory (its latest checkpoint is the initial and the reference policy)',
      defaultDescription: 'required',
    },
    data: {
      type: 'string',
      describe: 'directory with train.jsonl and test.jsonl (GSM8K format)',
      defaultDescription: 'required',
    },
    out: { type: 'string', describe: 'run directory of this RL run', defaultDescription: 'required' },
  },
  'Rollouts and batches:': {
    steps: { type: 'number', describe: 'GRPO steps (each samples and updates on a batch of questions)' },
    group: { type: 'number', describe: 'rollouts per question (G)' },
    questionsPerStep: { type: 'number', describe: 'questions per step' },
    updateEpochs: { type: 'number', describe: 'update passes over each batch of rollouts' },
    miniBatchSize: { type: 'number', describe: 'rollouts per optimizer step', defaultDescription: 'all rollouts of a step' },
    microBatchSize: { type: 'number', describe: 'rollouts per forward/backward (gradient accumulation)' },
    rolloutBatchSize: { type: 'number', describe: 'rows per batched sampling pass' },
    maxTrainExamples: { type: 'number', defaultDescription: 'all' },
    seed: { type: 'number' },
  },
  'Objective and optimization:': {
    lr: { type: 'number', describe: 'learning rate' },
    lrDecay: { choices: ['constant', 'cosine', 'linear'] },
    minLr: { type: 'number', describe: 'floor of a cosine or linear decay' },
    warmupSteps: { type: 'number', describe: 'linear warm-up steps' },
    weightDecay: { type: 'number' },
    gradClip: { type: 'number' },
    clipEpsilon: { type: 'number', describe: 'ε of the clipped ratio objective' },
    clipEpsilonHigh: { type: 'number', describe: 'upper ε', defaultDescription: '--clip' },
    klCoef: { type: 'number', describe: 'β of the KL penalty to the reference policy (k3 estimator; 0: none)' },
    scaleRewards: {
      type: 'boolean',
      describe: 'divide advantages by the group standard deviation (--no-scale-rewards: mean-centred only)',
    },
    lossAggregation: {
      choices: ['sequence', 'token'],
      describe: 'mean of per-rollout means (GRPO) or mean over all actions (DAPO)',
    },
    latentGrad: {
      choices: ['stored', 'recurrent'],
      describe: 'stored: re-score with the sampled latents; recurrent: recompute them and backpropagate through the recurrence',
    },
  },
  'Sampling:': {
    temperature: { type: 'number', describe: 'sampling temperature of language tokens' },
    topP: { type: 'number' },
    maxNewTokens: { type: 'number' },
    maxLatents: { type: 'number', describe: 'hard cap on latents per span', defaultDescription: 'the phase-1 run’s' },
    maxSpans: { type: 'number', describe: 'cap on spans per rollout' },
    calibratedStart: { type: 'boolean', describe: 'centre the start classifier on the phase-1 calibrated threshold' },
  },
  'Reward:': {
    answerMode: { choices: ['hash', 'last-number'], describe: 'graded answer: the number after #### or the last number' },
    formatReward: { type: 'number', describe: 'bonus for a "#### <number>" line' },
    latentCost: { type: 'number', describe: 'reward subtracted per latent' },
  },
  'Evaluation, logging and checkpoints:': {
    evalEvery: { type: 'number' },
    evalExamples: { type: 'number', describe: 'test questions for the periodic greedy accuracy (0: none)' },
    saveEvery: { type: 'number' },
    logEvery: { type: 'number' },
    sampleEvery: { type: 'number', describe: 'write rollouts to samples.jsonl every N steps' },
    samplesPerStep: { type: 'number' },
  },
  'Hardware:': { device: { type: 'string', describe: 'cpu | cuda | cuda:N', defaultDescription: 'the phase-1 run’s' } },
};

const FIELDS = Object.values(RL_OPTIONS).flatMap((group) => Object.keys(group) as (keyof RlConfig)[]);

export const rlCommand: CommandModule = {
  command: 'rl',
  describe: 'phase 2: GRPO with verifiable rewards over language and latent spans, from a phase-1 run',
  builder: (y: Argv) =>
    addOptionGroups(y, {
      ...Object.fromEntries(
        Object.entries(RL_OPTIONS).map(([heading, options]) => [heading, configOptions(options, RL_DEFAULTS, FLAG_NAMES)]),
      ),
      'Run:': {
        ...configOptions(RL_OPTIONS['Run:'], RL_DEFAULTS, FLAG_NAMES),
        config: {
          type: 'string',
          describe: 'JSON file with any of these options as RL config fields (command-line options win)',
        },
        resume: { type: 'string', describe: 'continue the RL run in this directory from its latest checkpoint' },
      },
    }),
  handler: async (a: Record<string, unknown>) => {
    const { resolveRlConfig, trainRl } = await import('../../rl/trainer');
    const fromRun = a.resume ? (await import('../../train/run-dir')).readRunConfig(a.resume as string, 'rl') : {};
    const fromFile = readConfigFile(a.config as string | undefined);
    const cli: Record<string, unknown> = configFromFlags(a, FIELDS, FLAG_NAMES);
    if (a.resume) cli.out = a.resume;
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
