// `latent report RUNDIR [RUNDIR…]`: regenerate the HTML report (curves, latent diagnostics, rollouts)
// of one run, or compare several (e.g. a k=0 baseline against latent runs).
import * as path from 'path';
import type { CommandModule } from 'yargs';

export interface ReportArgs {
  rundirs: string[];
  out?: string;
  title?: string;
}

/** Default output folder: `<RUNDIR>/report` for one run, `./latent-report` when comparing several. */
export function defaultReportDir(rundirs: readonly string[]): string {
  return rundirs.length === 1 ? path.join(rundirs[0], 'report') : path.resolve('latent-report');
}

export const command: CommandModule<object, ReportArgs> = {
  command: 'report <rundirs..>',
  describe: 'write an HTML report (training curves, latent diagnostics, rollouts) for one or more run directories',
  builder: (yargs) =>
    yargs
      .positional('rundirs', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: 'run directories (written by the trainers)',
      })
      .option('out', {
        type: 'string',
        describe: 'output folder for report.html and plots/ (default: RUNDIR/report, or ./latent-report for several runs)',
      })
      .option('title', { type: 'string', describe: 'page title', defaultDescription: 'from the run names' })
      .example('$0 report runs/sft-k4', 'report of one run')
      .example('$0 report runs/sft-k0 runs/sft-k4 --out cmp', 'the k=0 baseline next to a latent run'),
  handler: async (args) => {
    // Loaded on use: every `latent` invocation loads all command modules, and the charting libraries are not small.
    const { writeReport } = await import('../../report');
    const result = await writeReport(args.rundirs, { out: args.out ?? defaultReportDir(args.rundirs), title: args.title });
    for (const run of result.runs) {
      if (run.skippedLines)
        process.stderr.write(
          `latent report: ${run.name}: skipped ${run.skippedLines} unreadable line(s); see the report's data notes\n`,
        );
    }
    for (const w of result.plotWarnings) process.stderr.write(`latent report: plots/${w.file}: ${w.message}\n`);
    console.log(result.htmlPath);
  },
};
