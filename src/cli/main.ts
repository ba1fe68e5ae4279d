#!/usr/bin/env node
// The `latent` command line. Each command lives in src/cli/commands/<name>.ts and exports a yargs
// CommandModule as `command`; the commands load their heavy modules (libtorch, models) only when they
// run, so `latent --help` stays fast.
import yargs from 'yargs';
import type { CommandModule } from 'yargs';
import { command as compare } from './commands/compare';
import { command as demo } from './commands/demo';
import { command as evaluate } from './commands/eval';
import { command as exportRun } from './commands/export';
import { command as generate } from './commands/generate';
import { command as inspectLatents } from './commands/inspect-latents';
import { command as launch } from './commands/launch';
import { command as logits } from './commands/logits';
import { command as makeModel } from './commands/make-model';
import { command as report } from './commands/report';
import { command as train } from './commands/train';
import { command as version } from './commands/version';

/** The top-level commands, in the order `latent --help` lists them. */
export function loadCommands(): CommandModule[] {
  return [
    compare,
    demo,
    evaluate,
    exportRun,
    generate,
    inspectLatents,
    launch,
    logits,
    makeModel,
    report,
    train,
    version,
  ] as CommandModule[];
}

/**
 * yargs turns a number option given a non-number into NaN; refuse it before any command runs, in one
 * line naming the flag and what was given.
 */
export function rejectNotANumber(parsed: Record<string, unknown>, argv: readonly string[]): void {
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== 'number' || !Number.isNaN(value) || /[A-Z]/.test(key)) continue;
    const flag = `--${key}`;
    const at = argv.findIndex((x) => x === flag || x.startsWith(`${flag}=`));
    const given = at < 0 ? String(value) : argv[at].includes('=') ? argv[at].slice(flag.length + 1) : (argv[at + 1] ?? '');
    throw new Error(`${flag} ${JSON.stringify(given)}: not a number`);
  }
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let cli = yargs(argv)
    .scriptName('latent')
    .usage('$0 <command> [options]\n\nTrain language models that reason partly in latent tokens.')
    .strict()
    .demandCommand(1, 'name a command (latent --help lists them)')
    .recommendCommands()
    .help()
    .check((parsed) => (rejectNotANumber(parsed, argv), true), true)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err, y) => {
      if (err) {
        process.stderr.write(`latent: ${err.name && err.name !== 'Error' ? err.name + ': ' : ''}${err.message}\n`);
        if (process.env.LATENT_DEBUG) process.stderr.write(`${err.stack}\n`);
      } else {
        process.stderr.write(`${y.help()}\n\nlatent: ${msg}\n`);
      }
      process.exit(1);
    });
  for (const c of loadCommands()) cli = cli.command(c);
  await cli.parseAsync();
}

if (require.main === module) void main();
