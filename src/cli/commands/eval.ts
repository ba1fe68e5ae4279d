// `latent eval RUNDIR`: test losses, latent-utilisation ablations, latent decoding, accuracy.
import type { Argv, CommandModule } from 'yargs';

export const command: CommandModule = {
  command: 'eval <run>',
  describe:
    'evaluate a run: test losses, start classifier, latent ablations with CIs, decoded latents, answer accuracy with and without latents',
  builder: (y: Argv) =>
    y
      .positional('run', { type: 'string', describe: 'run directory' })
      .option('examples', { type: 'number', default: 200, describe: 'test examples for losses and ablations' })
      .option('generate', { type: 'number', default: 50, describe: 'test examples for answer accuracy (0: skip)' })
      .option('inspect', { type: 'number', default: 20, describe: 'examples whose latents are decoded' })
      .option('generate-batch', {
        type: 'number',
        default: 8,
        describe: 'questions generated together for answer accuracy (greedy: the answers do not depend on it)',
      })
      .option('max-new-tokens', { type: 'number', default: 200 })
      .option('reference', {
        type: 'string',
        describe:
          'the matched no-span reference run (evaluated first), for the helps endpoint; two-trunk runs default to their frozen base',
        defaultDescription: 'two-trunk: the frozen base; else none',
      })
      .option('pause', {
        type: 'string',
        describe: 'the pause-as-thought run (evaluated first), for "content beyond compute"',
        defaultDescription: 'none',
      })
      .option('oracle', {
        type: 'boolean',
        default: true,
        describe: 'also generate with spans at the gold breakpoints (--no-oracle skips it)',
      })
      .option('ablate-generation', {
        type: 'boolean',
        default: false,
        describe: 'also generate with oracle spans fed shuffled and constant latents',
      })
      .option('pass-k', { type: 'number', default: 8, describe: 'RL runs: samples per question for pass@k (0: skip)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the diagnostics as JSON' }),
  handler: async (a: Record<string, unknown>) => {
    const { readRunConfig } = await import('../../train/run-dir');
    const kind = readRunConfig(String(a.run)).kind; // a path that is not a run is refused here, and nothing is created
    if (kind === 'rl') {
      const { evaluateRlRun, formatRlDiagnostics } = await import('../../rl/evaluate');
      const d = await evaluateRlRun(String(a.run), {
        examples: a.generate as number,
        passK: a.passK as number,
        maxNewTokens: a.maxNewTokens as number,
      });
      console.log(a.json ? JSON.stringify(d) : formatRlDiagnostics(d));
    } else {
      const { evaluateSftRun, formatDiagnostics } = await import('../../train/sft-eval');
      const d = await evaluateSftRun(String(a.run), {
        examples: a.examples as number,
        generate: a.generate as number,
        inspect: a.inspect as number,
        generateBatch: a.generateBatch as number,
        maxNewTokens: a.maxNewTokens as number,
        reference: a.reference as string | undefined,
        pause: a.pause as string | undefined,
        oracle: a.oracle as boolean,
        ablateGeneration: a.ablateGeneration as boolean,
      });
      console.log(a.json ? JSON.stringify(d) : formatDiagnostics(d));
    }
    await regenerateReport(String(a.run));
  },
};

/** Refreshes RUNDIR/report.html. The evaluation is already saved, so a failed report is a warning, not an error. */
export async function regenerateReport(run: string): Promise<void> {
  try {
    const { writeReport } = await import('../../report/run');
    const result = await writeReport([run], { out: run });
    console.error(`report: ${result.htmlPath}`);
  } catch (e) {
    console.error(`warning: report not refreshed (${e instanceof Error ? e.message : String(e)}); diagnostics.json is saved`);
    if (process.env.LATENT_DEBUG) console.error(e);
  }
}
