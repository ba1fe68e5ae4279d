// `latent launch --nproc N [--nnodes M --node-rank R --master ADDR:PORT] -- latent train sft …`:
// data-parallel training over N processes per node, in the manner of torchrun (see src/distributed/launch.ts).
import type { Argv, CommandModule } from 'yargs';

export const command: CommandModule = {
  command: 'launch',
  describe: 'run a command as N data-parallel ranks per node (sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)',
  builder: (y: Argv) =>
    y
      .parserConfiguration({ 'populate--': true })
      .usage(
        '$0 launch --nproc N [options] -- <command> [args]\n\ne.g. latent launch --nproc 2 -- latent train sft --model ... --batch 16',
      )
      .option('nproc', {
        alias: 'nproc-per-node',
        type: 'number',
        demandOption: true,
        describe: 'processes (ranks) on this node',
      })
      .option('nnodes', { type: 'number', default: 1, describe: 'nodes in the job' })
      .option('node-rank', { type: 'number', default: 0, describe: "this node's index in [0, nnodes)" })
      .option('master', {
        type: 'string',
        describe: 'ADDR:PORT of the rendezvous on node 0 (required with --nnodes > 1)',
        defaultDescription: '127.0.0.1 and a free port',
      })
      .option('timeout', {
        type: 'number',
        describe: 'seconds before a missing or stuck rank fails the job',
        defaultDescription: '1800',
      })
      .option('backend', {
        choices: ['gloo', 'nccl'] as const,
        describe: 'process-group backend',
        defaultDescription: 'nccl for CUDA training when available, else gloo',
      })
      .option('kill-grace', {
        type: 'number',
        default: 10,
        describe: 'seconds between SIGTERM and SIGKILL when stopping the ranks after a failure',
      })
      .check((a) => {
        const rest = (a['--'] as unknown[] | undefined) ?? [];
        if (rest.length === 0)
          throw new Error('no command to launch: put it after `--`, e.g. latent launch --nproc 2 -- latent train sft ...');
        return true;
      }),
  handler: async (a: Record<string, unknown>) => {
    const { launch } = await import('../../distributed/launch');
    const result = await launch({
      nproc: a.nproc as number,
      nnodes: a.nnodes as number,
      nodeRank: a.nodeRank as number,
      master: a.master as string | undefined,
      command: (a['--'] as unknown[]).map(String),
      timeoutSeconds: a.timeout as number | undefined,
      backend: a.backend as 'gloo' | 'nccl' | undefined,
      killGraceMs: (a.killGrace as number) * 1000,
    });
    process.exitCode = result.exitCode;
  },
};
