// `latent train sft …` (phase 1) and `latent train rl …` (phase 2).
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { readConfigFile } from '../config-file';
import { rlCommand } from './train-rl';
import { addOptionGroups, checkDataDir, checkModelArg, nextCommands } from '../options';
import { sftConfigFromFlags, sftOptions } from '../sft-options';

const sft: CommandModule = {
  command: 'sft',
  describe: 'phase 1: supervised latent training on GSM8K-format data (full fine-tuning or two-trunk)',
  builder: (y: Argv) =>
    addOptionGroups(y, {
      'Run:': {
        ...sftOptions({
          model: 'Hugging Face model directory or hub id (e.g. Qwen/Qwen2-0.5B)',
          data: 'directory with train.jsonl and test.jsonl (GSM8K format)',
        }),
        out: { type: 'string', describe: 'run directory', defaultDescription: 'required' },
        ...sftOptions({
          mode: 'full fine-tuning, or a frozen language trunk and a trainable latent trunk',
          latents: 'latent positions per calculator breakpoint (0: no-latent baseline)',
        }),
        sweep: {
          type: 'string',
          describe: 'a k sweep: comma-separated latent counts (e.g. 0,1,2,4); one run per k in OUT/k<k>, same steps, data and lr',
          defaultDescription: 'none',
        },
        ...sftOptions({
          markersAtZero: 'with --latents 0: keep <bot><eot> at every breakpoint (the markers-only control)',
          latentInput:
            "how a hidden state becomes the next latent's input: affine, raw, scaled, gated, soft; controls: pause (pause-as-thought), planted-result (planted positive), zeros (planted null)",
          latentTemperature: 'soft and gated latent inputs: temperature of the token distribution',
          coupling:
            "two-trunk: the frozen copy reads the latent copy's keys/values (shared-kv), or re-encodes latent positions from their embeddings (reencode)",
          freezeMarkers: 'keep the <bot>/<eot> embeddings at their initial rows',
        }),
        config: { type: 'string', describe: 'JSON file with any of these options (command-line options win)' },
        resume: { type: 'string', describe: 'continue the run in this directory from its latest checkpoint' },
      },
      'Optimization:': sftOptions({
        steps: 'optimizer steps',
        batchSize: 'examples per step',
        lr: 'peak learning rate (linear warm-up, cosine decay)',
        minLr: 'floor of the cosine decay',
        warmupSteps: 'warm-up steps (clamped to --steps; config.json records the effective value)',
        warmupRatio: 'warm-up as a fraction of --steps, when --warmup is not given',
        weightDecay: 'AdamW weight decay on matrices',
        gradClip: 'gradient-norm clipping',
        maxTrainExamples: 'use only the first N training examples',
        seed: undefined,
      }),
      'Latent heads:': sftOptions({
        startLossWeight: 'weight of the start classifier loss',
        stopLossWeight: 'weight of the end classifier loss',
        maxLatents: 'hard cap on latents per span at inference',
        latentSchedule:
          "latents per breakpoint: k everywhere (fixed), or the result's digit count (digits) or the expression's operator count (operations), between 1 and k",
        headLr: 'peak learning rate of the start and end classifiers (their own parameter group, same schedule)',
        startFitExamples:
          'after training, refit the start classifier on frozen features of this many training examples (0: no fit)',
      }),
      'Evaluation and checkpoints:': sftOptions({
        validationSize: 'training examples held out for validation',
        evalEvery: 'steps between evaluations (the last step is always evaluated)',
        evalExamples: 'validation and test examples per evaluation, the final one included (fewer: cheaper)',
        saveEvery: 'steps between checkpoints (the last step is always saved)',
      }),
      'Hardware:': sftOptions({
        device: 'cpu | cuda | cuda:N',
        dtype: 'parameter dtype',
        frozenDtype: 'two-trunk: dtype of the frozen language copy',
      }),
    })
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
    const cli = { ...sftConfigFromFlags(a), out: a.resume ?? a.out };
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
