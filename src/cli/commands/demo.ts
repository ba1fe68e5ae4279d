// `latent demo`: the whole study end to end on the embedded arithmetic task, nothing to download.
import type { Argv, CommandModule } from 'yargs';

interface Args {
  quick?: boolean;
  tiny?: boolean;
  out: string;
  device: string;
  seed: number;
  threads: number;
  tokenizer?: string;
  phase2: boolean;
  task?: string;
  seeds?: string;
  sweep?: string;
  chained: boolean;
  compare?: boolean;
}

const list = (name: string, text: string | undefined): number[] | undefined => {
  if (text === undefined) return undefined;
  if (text === 'none') return [];
  const values = text.split(',').map((t) => Number(t.trim()));
  if (values.some((v) => !Number.isInteger(v)))
    throw new Error(`--${name}: expected comma-separated integers (or none), got ${JSON.stringify(text)}`);
  return values;
};

export const command: CommandModule<object, Args> = {
  command: 'demo',
  describe:
    'run the whole study on a built-in arithmetic task: data, a small Qwen2, phase 0, phase 1 (k=0 reference, pause-as-thought, full, two-trunk, planted positive and null), latent eval with verdicts, phase 2, one report',
  builder: (y: Argv) =>
    y
      .option('quick', {
        type: 'boolean',
        describe:
          'one seed, a smaller model and fewer steps: about 2½ minutes of CPU (many more on a busy machine); without it 3 seeds, a k sweep and a second task (hours on 2 CPU cores)',
        defaultDescription: 'false',
      })
      .option('tiny', { type: 'boolean', hidden: true, describe: 'a seconds-long pipeline check (tests)' })
      .option('out', { type: 'string', default: 'runs/demo', describe: 'output directory (an earlier demo there is replaced)' })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu | cuda | cuda:N' })
      .option('seed', { type: 'number', default: 0, describe: 'seeds the data, the model and training' })
      .option('threads', {
        type: 'number',
        default: 1,
        describe: 'CPU threads for tensor operations (1 is fastest for these small models, and on a busy machine)',
      })
      .option('tokenizer', {
        type: 'string',
        describe:
          'a Qwen tokenizer directory, or "bpe" to train one on the task (default: $QWEN_TOKENIZER_DIR or ../shared/qwen-tokenizer when present, else bpe)',
      })
      .option('phase2', {
        type: 'boolean',
        default: true,
        describe: 'run phase 2 (GRPO) when it is part of the build (--no-phase2 skips it)',
      })
      .option('task', {
        choices: ['basic', 'chained'],
        describe:
          'the main task: basic (every intermediate written) or chained (two operations per line, intermediates unwritten, held-out test calculations)',
      })
      .option('seeds', { type: 'string', describe: 'phase-1 seeds, comma-separated (default: 0 with --quick, 0,1,2 without)' })
      .option('sweep', {
        type: 'string',
        describe: 'further k for the full-mode k sweep, comma-separated, or none (default: none with --quick, 1,4 without)',
      })
      .option('chained', {
        type: 'boolean',
        default: true,
        describe: 'the default demo adds the chained task (--no-chained leaves it out)',
      })
      .option('compare', {
        type: 'boolean',
        describe:
          'latent compare of two-trunk raw, affine, gated and affine with reencode, under the phase-1 budget (--no-compare skips it)',
        defaultDescription: 'on without --quick',
      })
      .conflicts('quick', 'tiny'),
  handler: async (a) => {
    const { runDemo, formatDemoResult, DemoInterrupted } = await import('../../demo/run');
    try {
      const result = await runDemo({
        out: a.out,
        size: a.tiny ? 'tiny' : a.quick ? 'quick' : 'full',
        device: a.device,
        seed: a.seed,
        threads: a.threads,
        tokenizer: a.tokenizer === undefined ? 'auto' : a.tokenizer === 'bpe' ? 'bpe' : { dir: a.tokenizer },
        phase2: a.phase2,
        task: a.task as 'basic' | 'chained' | undefined,
        seeds: list('seeds', a.seeds),
        sweep: list('sweep', a.sweep),
        chained: a.chained,
        compare: a.compare,
      });
      console.log(formatDemoResult(result));
    } catch (e) {
      if (e instanceof DemoInterrupted) {
        console.error(`\nlatent demo: ${e.message}`);
        process.exitCode = 130;
        return;
      }
      throw e;
    }
  },
};
