// `latent export RUN --out DIR`: a run's language model as a Hugging Face directory (see src/train/export.ts).
import type { Argv, CommandModule } from 'yargs';
import { checkRunDir } from '../options';

export const command: CommandModule = {
  command: 'export <run>',
  describe:
    'write the language model of a run (latest checkpoint) as a Hugging Face directory: config, safetensors, tokenizer with <bot>/<eot>',
  builder: (y: Argv) =>
    y
      .positional('run', { type: 'string', describe: 'run directory (sft or rl)' })
      .option('out', {
        type: 'string',
        demandOption: true,
        describe: 'output directory (new, empty, or a model this library wrote, which is replaced)',
      })
      .option('force', {
        type: 'boolean',
        default: false,
        describe: 'also write into a non-empty directory that holds no model of this library (other files are kept)',
      })
      .option('dtype', {
        choices: ['float32', 'bfloat16', 'float16', 'float64'] as const,
        describe: 'dtype of the written weights',
        defaultDescription: 'the model’s',
      })
      .example(
        '$0 export runs/phase0 --out runs/phase0-model',
        'phase 0 → phase 1: then latent train sft --model runs/phase0-model …',
      ),
  handler: async (a: Record<string, unknown>) => {
    const run = String(a.run);
    const out = String(a.out);
    const kind = checkRunDir('<run>', run);
    const { ProgressBar } = await import('../../train/progress');
    let bar: InstanceType<typeof ProgressBar> | undefined;
    const options = {
      dtype: a.dtype as never,
      force: Boolean(a.force),
      onProgress: (done: number, total: number) => (bar ??= new ProgressBar({ total, label: `export ${out}` })).update(done),
    };
    const { checkExportDir, exportSftRun, writeHfModel } = await import('../../train/export');
    let result: { out: string; step: number; files: string[] };
    if (kind === 'rl') {
      checkExportDir(run, out, options.force);
      const { loadRlRun } = await import('../../rl/trainer');
      const loaded = await loadRlRun(run);
      try {
        result = { out, step: loaded.step, files: writeHfModel(loaded.opened.lm, out, options) };
      } finally {
        loaded.opened.lm.dispose();
      }
    } else {
      result = await exportSftRun(run, out, options);
    }
    bar?.finish();
    console.log(JSON.stringify({ out: result.out, step: result.step, files: result.files }));
    process.stderr.write(
      `next:\n  latent train sft --model ${out} --data DIR --mode two-trunk --out RUN   # phase 1 from this model\n`,
    );
  },
};
