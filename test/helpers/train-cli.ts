// The training commands run in-process, as the safety tests of `latent train sft` and `latent train rl` drive them.
import * as path from 'path';
import yargs, { type CommandModule } from 'yargs';
import { listStepCheckpoints } from '../../src/train/checkpoint';
import { interruptOnceListening } from './interrupt';

/** Parses and runs `args` with `commands`, strictly, with the commands' console output silenced. */
export function quietCli(...commands: CommandModule[]): (args: string[]) => Promise<void> {
  return async (args) => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      let parser = yargs(args);
      for (const command of commands) parser = parser.command(command);
      await parser.strict().fail(false).parseAsync();
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  };
}

/** `--name value` for each flag of `defaults`, overridden by `over` (yargs makes a repeated option an array). */
export function flagArgs(defaults: Record<string, string>, over: Record<string, string> = {}): string[] {
  return Object.entries({ ...defaults, ...over }).flatMap(([name, value]) => [`--${name}`, value]);
}

/**
 * Runs `train50` (training for 50 steps into `out`, saving only at the end), presses Ctrl-C once its loop is running,
 * and checks that the command exits 130 after saving one checkpoint, before step 50.
 */
export async function expectCtrlCSavesAndExits130(train50: () => Promise<void>, out: string): Promise<void> {
  const stopWatching = interruptOnceListening();
  try {
    await train50();
  } finally {
    stopWatching();
  }
  try {
    expect(process.exitCode).toBe(130);
  } finally {
    process.exitCode = 0;
  }
  const steps = listStepCheckpoints(path.join(out, 'checkpoints')).map((c) => c.step);
  expect(steps).toHaveLength(1);
  expect(steps[0]).toBeLessThan(50);
}
