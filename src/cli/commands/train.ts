// `latent train sft …` (phase 1) and `latent train rl …` (phase 2).
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { configFromFlags, readConfigFile } from '../config-file';
import { rlCommand } from './train-rl';
import { SFT_DEFAULTS } from '../../train/sft-defaults';
import { checkDataDir, checkModelArg, nextCommands, shownDefault } from '../options';

const D = SFT_DEFAULTS;
const d = shownDefault;

const sft: CommandModule = {
  command: 'sft',
  describe: 'phase 1: supervised latent training on GSM8K-format data (full fine-tuning or two-trunk)',
  builder: (y: Argv) =>
    y
      .option('model', {
        type: 'string',
        describe: 'Hugging Face model directory or hub id (e.g. Qwen/Qwen2-0.5B)',
        defaultDescription: 'required',
      })
      .option('data', {
        type: 'string',
        describe: 'directory with train.jsonl and test.jsonl (GSM8K format)',
        defaultDescription: 'required',
      })
      .option('out', { type: 'string', describe: 'run directory', defaultDescription: 'required' })
      .option('mode', {
        choices: ['full', 'two-trunk'] as const,
        describe: 'full fine-tuning, or a frozen language trunk and a trainable latent trunk',
        defaultDescription: d(D.mode),
      })
      .option('latents', {
        type: 'number',
        describe: 'latent positions per calculator breakpoint (0: no-latent baseline)',
        defaultDescription: d(D.latents),
      })
      .option('sweep', {
        type: 'string',
        describe: 'a k sweep: comma-separated latent counts (e.g. 0,1,2,4); one run per k in OUT/k<k>, same steps, data and lr',
        defaultDescription: 'none',
      })
      .option('markers-at-zero', {
        type: 'boolean',
        describe: 'with --latents 0: keep <bot><eot> at every breakpoint (the markers-only control)',
        defaultDescription: d(D.markersAtZero),
      })
      .option('latent-input', {
        type: 'string',
        describe:
          "how a hidden state becomes the next latent's input: affine, raw, scaled, gated, soft; controls: pause (pause-as-thought), planted-result (planted positive), zeros (planted null)",
        defaultDescription: d(D.latentInput),
      })
      .option('latent-temperature', {
        type: 'number',
        describe: 'soft and gated latent inputs: temperature of the token distribution',
        defaultDescription: d(D.latentTemperature),
      })
      .option('coupling', {
        choices: ['shared-kv', 'reencode'] as const,
        describe:
          "two-trunk: the frozen copy reads the latent copy's keys/values (shared-kv), or re-encodes latent positions from their embeddings (reencode)",
        defaultDescription: d(D.coupling),
      })
      .option('freeze-markers', {
        type: 'boolean',
        describe: 'keep the <bot>/<eot> embeddings at their initial rows',
        defaultDescription: d(D.freezeMarkers),
      })
      .option('config', { type: 'string', describe: 'JSON file with any of these options (command-line options win)' })
      .option('resume', { type: 'string', describe: 'continue the run in this directory from its latest checkpoint' })
      .group(
        [
          'model',
          'data',
          'out',
          'mode',
          'latents',
          'sweep',
          'markers-at-zero',
          'latent-input',
          'latent-temperature',
          'coupling',
          'freeze-markers',
          'config',
          'resume',
        ],
        'Run:',
      )
      .option('steps', { type: 'number', describe: 'optimizer steps', defaultDescription: d(D.steps) })
      .option('batch', { type: 'number', describe: 'examples per step', defaultDescription: d(D.batchSize) })
      .option('lr', {
        type: 'number',
        describe: 'peak learning rate (linear warm-up, cosine decay)',
        defaultDescription: d(D.lr),
      })
      .option('min-lr', { type: 'number', describe: 'floor of the cosine decay', defaultDescription: d(D.minLr) })
      .option('warmup', {
        type: 'number',
        describe: 'warm-up steps (clamped to --steps; config.json records the effective value)',
        defaultDescription: `${D.warmupRatio} × --steps`,
      })
      .option('warmup-ratio', {
        type: 'number',
        describe: 'warm-up as a fraction of --steps, when --warmup is not given',
        defaultDescription: d(D.warmupRatio),
      })
      .option('weight-decay', {
        type: 'number',
        describe: 'AdamW weight decay on matrices',
        defaultDescription: d(D.weightDecay),
      })
      .option('grad-clip', { type: 'number', describe: 'gradient-norm clipping', defaultDescription: d(D.gradClip) })
      .option('max-train-examples', {
        type: 'number',
        describe: 'use only the first N training examples',
        defaultDescription: 'all',
      })
      .option('seed', { type: 'number', defaultDescription: d(D.seed) })
      .group(
        ['steps', 'batch', 'lr', 'min-lr', 'warmup', 'warmup-ratio', 'weight-decay', 'grad-clip', 'max-train-examples', 'seed'],
        'Optimization:',
      )
      .option('start-loss-weight', {
        type: 'number',
        describe: 'weight of the start classifier loss',
        defaultDescription: d(D.startLossWeight),
      })
      .option('stop-loss-weight', {
        type: 'number',
        describe: 'weight of the end classifier loss',
        defaultDescription: d(D.stopLossWeight),
      })
      .option('max-latents', {
        type: 'number',
        describe: 'hard cap on latents per span at inference',
        defaultDescription: d(D.maxLatents),
      })
      .option('latent-schedule', {
        choices: ['fixed', 'digits', 'operations'] as const,
        describe:
          "latents per breakpoint: k everywhere (fixed), or the result's digit count (digits) or the expression's operator count (operations), between 1 and k",
        defaultDescription: d(D.latentSchedule),
      })
      .option('head-lr', {
        type: 'number',
        describe: 'peak learning rate of the start and end classifiers (their own parameter group, same schedule)',
        defaultDescription: '--lr',
      })
      .option('start-fit-examples', {
        type: 'number',
        describe: 'after training, refit the start classifier on frozen features of this many training examples (0: no fit)',
        defaultDescription: d(D.startFitExamples),
      })
      .group(
        ['start-loss-weight', 'stop-loss-weight', 'max-latents', 'latent-schedule', 'head-lr', 'start-fit-examples'],
        'Latent heads:',
      )
      .option('validation-size', {
        type: 'number',
        describe: 'training examples held out for validation',
        defaultDescription: d(D.validationSize),
      })
      .option('eval-every', {
        type: 'number',
        describe: 'steps between evaluations (the last step is always evaluated)',
        defaultDescription: d(D.evalEvery),
      })
      .option('eval-examples', {
        type: 'number',
        describe: 'validation and test examples per evaluation, the final one included (fewer: cheaper)',
        defaultDescription: d(D.evalExamples),
      })
      .option('save-every', {
        type: 'number',
        describe: 'steps between checkpoints (the last step is always saved)',
        defaultDescription: d(D.saveEvery),
      })
      .group(['validation-size', 'eval-every', 'eval-examples', 'save-every'], 'Evaluation and checkpoints:')
      .option('device', { type: 'string', describe: 'cpu | cuda | cuda:N', defaultDescription: d(D.device) })
      .option('dtype', {
        choices: ['float32', 'bfloat16', 'float64'] as const,
        describe: 'parameter dtype',
        defaultDescription: 'the checkpoint’s',
      })
      .option('frozen-dtype', {
        choices: ['float32', 'bfloat16', 'float16'] as const,
        describe: 'two-trunk: dtype of the frozen language copy',
        defaultDescription: 'bfloat16 on CUDA, else the model’s',
      })
      .group(['device', 'dtype', 'frozen-dtype'], 'Hardware:')
      .example(
        '$0 train sft --model Qwen/Qwen2-0.5B --data ../gsm8k --latents 0 --out runs/phase0',
        'phase 0: the k = 0 fine-tune',
      )
      .example(
        '$0 train sft --model runs/phase0-model --data ../gsm8k --mode two-trunk --out runs/k4',
        'phase 1 from the exported phase-0 model',
      ),
  handler: async (a: Record<string, unknown>) => {
    const { resolveSftConfig, trainSft } = await import('../../train/sft');
    const fromRun = a.resume ? (await import('../../train/run-dir')).readRunConfig(a.resume as string, 'sft') : {};
    const fromFile = readConfigFile(a.config as string | undefined);
    const cli = { ...configFromFlags(a), out: a.resume ?? a.out };
    const merged = {
      ...fromRun,
      ...fromFile,
      ...Object.fromEntries(Object.entries(cli).filter(([, v]) => v !== undefined)),
    } as Record<string, unknown>;
    for (const k of ['model', 'data', 'out']) if (!merged[k]) throw new Error(`--${k} is required`);
    checkModelArg('--model', String(merged.model));
    checkDataDir('--data', String(merged.data));
    const sweep = a.sweep === undefined ? null : parseSweep(a.sweep as string);
    if (sweep && a.resume) throw new Error('--sweep and --resume do not combine; resume each run of the sweep by its directory');
    const configs = sweep
      ? sweep.map((k) => resolveSftConfig({ ...merged, latents: k, out: path.join(String(merged.out), `k${k}`) } as never))
      : [resolveSftConfig(merged as never)];
    if (typeof merged.warmupSteps === 'number' && merged.warmupSteps > configs[0].warmupSteps)
      process.stderr
        .write(`latent: --warmup ${merged.warmupSteps} is longer than the run; warming up for all ${configs[0].steps} steps
`);
    const { isMain } = await import('../../distributed');
    for (const config of configs) {
      const summary = await trainSft(config, { resume: !!a.resume });
      if (isMain())
        console.log(
          JSON.stringify({
            latents: config.latents,
            steps: summary.steps,
            finalLoss: summary.finalLoss,
            stopped: summary.stopped,
            out: summary.out,
          }),
        );
      if (isMain() && summary.stopped === 'completed')
        process.stderr.write(`${nextCommands('sft', summary.out, { latents: config.latents, data: config.data })}
`);
      if (summary.stopped === 'non-finite') process.exitCode = 2;
      if (summary.stopped === 'interrupted') process.exitCode = 130; // as a shell reports a run stopped by Ctrl-C
      if (summary.stopped !== 'completed') break;
    }
  },
};

/** `0,1,2,4` → [0, 1, 2, 4]: distinct non-negative integers, in the order given. */
export function parseSweep(text: string): number[] {
  const ks = text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .map(Number);
  if (!ks.length || ks.some((k) => !Number.isInteger(k) || k < 0))
    throw new Error(`--sweep: expected comma-separated non-negative integers (e.g. 0,1,2,4), got ${JSON.stringify(text)}`);
  if (new Set(ks).size !== ks.length) throw new Error(`--sweep: ${JSON.stringify(text)} repeats a value`);
  return ks;
}

export const command: CommandModule = {
  command: 'train <phase>',
  describe: 'train a model with latent tokens (sft: phase 1; rl: phase 2)',
  builder: (y: Argv) => {
    return y.command(sft).command(rlCommand).demandCommand(1);
  },
  handler: () => undefined,
};
