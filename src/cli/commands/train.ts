// `latent train sft …` (phase 1) and `latent train rl …` (phase 2).
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { readConfigFile } from '../config-file';
import { rlCommand } from './train-rl';

const sft: CommandModule = {
  command: 'sft',
  describe: 'phase 1: supervised latent training on GSM8K-format data (full fine-tuning or two-trunk)',
  builder: (y: Argv) =>
    y
      .option('model', { type: 'string', describe: 'Hugging Face model directory or hub id (e.g. Qwen/Qwen2-0.5B)' })
      .option('data', { type: 'string', describe: 'directory with train.jsonl and test.jsonl (GSM8K format)' })
      .option('mode', { choices: ['full', 'two-trunk'] as const, describe: 'full fine-tuning, or a frozen language trunk and a trainable latent trunk' })
      .option('latents', { type: 'number', describe: 'latent positions per calculator breakpoint (0: no-latent baseline)' })
      .option('sweep', { type: 'string', describe: 'a k sweep: comma-separated latent counts (e.g. 0,1,2,4); one run per k in OUT/k<k>, same steps, data and lr' })
      .option('markers-at-zero', { type: 'boolean', describe: 'with --latents 0: keep <bot><eot> at every breakpoint (the markers-only control)' })
      .option('latent-input', { type: 'string', describe: "how a hidden state becomes the next latent's input: affine (default), raw, scaled, gated, soft; controls: pause (pause-as-thought), planted-result (planted positive), zeros (planted null)" })
      .option('steps', { type: 'number' })
      .option('batch', { type: 'number', describe: 'examples per step' })
      .option('lr', { type: 'number', describe: 'peak learning rate (linear warm-up, cosine decay)' })
      .option('warmup', { type: 'number', describe: 'warm-up steps' })
      .option('weight-decay', { type: 'number' })
      .option('grad-clip', { type: 'number' })
      .option('start-loss-weight', { type: 'number' })
      .option('stop-loss-weight', { type: 'number' })
      .option('max-latents', { type: 'number', describe: 'hard cap on latents per span at inference' })
      .option('max-train-examples', { type: 'number' })
      .option('validation-size', { type: 'number' })
      .option('eval-every', { type: 'number' })
      .option('eval-examples', { type: 'number' })
      .option('save-every', { type: 'number' })
      .option('device', { type: 'string', describe: 'cpu | cuda | cuda:N' })
      .option('dtype', { choices: ['float32', 'bfloat16', 'float64'] as const, describe: 'parameter dtype (default: the checkpoint’s)' })
      .option('frozen-dtype', { choices: ['float32', 'bfloat16', 'float16'] as const, describe: 'two-trunk: dtype of the frozen language copy (default: bfloat16 on CUDA)' })
      .option('seed', { type: 'number' })
      .option('out', { type: 'string', describe: 'run directory' })
      .option('config', { type: 'string', describe: 'JSON file with any of these options (command-line options win)' })
      .option('resume', { type: 'string', describe: 'continue the run in this directory from its latest checkpoint' }),
  handler: async (a: Record<string, unknown>) => {
    const { resolveSftConfig, trainSft } = await import('../../train/sft');
    const fromRun = a.resume ? readConfigFile(path.join(String(a.resume), 'config.json')) : {};
    const fromFile = readConfigFile(a.config as string | undefined);
    const cli = {
      model: a.model, data: a.data, mode: a.mode, latents: a.latents, markersAtZero: a.markersAtZero, latentInput: a.latentInput, steps: a.steps, batchSize: a.batch, lr: a.lr,
      warmupSteps: a.warmup, weightDecay: a.weightDecay, gradClip: a.gradClip, startLossWeight: a.startLossWeight,
      stopLossWeight: a.stopLossWeight, maxLatents: a.maxLatents, maxTrainExamples: a.maxTrainExamples,
      validationSize: a.validationSize, evalEvery: a.evalEvery, evalExamples: a.evalExamples, saveEvery: a.saveEvery,
      device: a.device, dtype: a.dtype, frozenDtype: a.frozenDtype, seed: a.seed, out: a.resume ?? a.out,
    };
    const merged = { ...fromRun, ...fromFile, ...Object.fromEntries(Object.entries(cli).filter(([, v]) => v !== undefined)) } as Record<string, unknown>;
    for (const k of ['model', 'data', 'out']) if (!merged[k]) throw new Error(`--${k} is required`);
    const sweep = a.sweep === undefined ? null : parseSweep(String(a.sweep));
    if (sweep && a.resume) throw new Error('--sweep and --resume do not combine; resume each run of the sweep by its directory');
    const configs = sweep
      ? sweep.map((k) => resolveSftConfig({ ...merged, latents: k, out: path.join(String(merged.out), `k${k}`) } as never))
      : [resolveSftConfig(merged as never)];
    const { isMain } = await import('../../distributed');
    for (const config of configs) {
      const summary = await trainSft(config, { resume: !!a.resume });
      if (isMain()) console.log(JSON.stringify({ latents: config.latents, steps: summary.steps, finalLoss: summary.finalLoss, stopped: summary.stopped, out: summary.out }));
      if (summary.stopped === 'non-finite') process.exitCode = 2;
      if (summary.stopped !== 'completed') break;
    }
  },
};

/** `0,1,2,4` → [0, 1, 2, 4]: distinct non-negative integers, in the order given. */
export function parseSweep(text: string): number[] {
  const ks = text.split(',').map((t) => t.trim()).filter((t) => t !== '').map(Number);
  if (!ks.length || ks.some((k) => !Number.isInteger(k) || k < 0)) throw new Error(`--sweep: expected comma-separated non-negative integers (e.g. 0,1,2,4), got ${JSON.stringify(text)}`);
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
