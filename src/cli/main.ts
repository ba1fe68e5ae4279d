#!/usr/bin/env node
// The `latent` command line. Each command lives in src/cli/commands/<name>.ts and exports a yargs
// CommandModule as `command`; they are discovered from that folder so commands stay independent.
import * as fs from 'fs';
import * as path from 'path';
import yargs from 'yargs';
import type { CommandModule } from 'yargs';

export function loadCommands(dir = path.join(__dirname, 'commands')): CommandModule[] {
  const files = fs
    .readdirSync(dir)
    .filter((f) => /\.(js|ts)$/.test(f) && !f.endsWith('.d.ts') && !f.endsWith('.map'))
    .sort();
  const seen = new Set<string>();
  const commands: CommandModule[] = [];
  for (const f of files) {
    const base = f.replace(/\.(js|ts)$/, '');
    if (seen.has(base)) continue;
    seen.add(base);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(path.join(dir, base));
    if (mod.command) commands.push(mod.command as CommandModule);
  }
  return commands;
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let cli = yargs(argv)
    .scriptName('latent')
    .usage('$0 <command> [options]\n\nTrain language models that reason partly in latent tokens.')
    .strict()
    .demandCommand(1, 'name a command (latent --help lists them)')
    .recommendCommands()
    .help()
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
