// The launcher behind `latent launch`, in the manner of torchrun: starts one process per rank with
// RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT set, forwards SIGINT and
// SIGTERM to them, and fails the whole job when one rank fails: the others get SIGTERM, then SIGKILL
// after a grace period, and the launcher exits with the failed rank's status.
import { spawn, type ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import * as net from 'net';
import * as os from 'os';

export interface LaunchOptions {
  /** processes on this node */
  nproc: number;
  nnodes?: number;
  nodeRank?: number;
  /** ADDR:PORT where rank 0 hosts the rendezvous; default 127.0.0.1 and a free port (one node only) */
  master?: string;
  /** the program of every rank and its arguments; a leading `latent` runs this CLI (see `self`) */
  command: string[];
  /** the argv that runs this CLI, substituted for a leading `latent` (default: this process's node and script) */
  self?: string[];
  /** collective and rendezvous timeout in seconds (LT_DIST_TIMEOUT) */
  timeoutSeconds?: number;
  /** LT_DIST_BACKEND */
  backend?: 'gloo' | 'nccl';
  /** after a failure or a second signal: how long ranks get between SIGTERM and SIGKILL */
  killGraceMs?: number;
  /** extra environment for every rank */
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export interface RankExit {
  rank: number;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LaunchResult {
  /** 0 when every rank succeeded; else the first failed rank's exit code (128 + signal number when killed) */
  exitCode: number;
  ranks: RankExit[];
  /** the first rank that failed, which brought the job down */
  failed: RankExit | null;
}

export class LaunchError extends Error {
  override name = 'LaunchError';
}

export function parseMaster(spec: string): { addr: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(spec.trim());
  if (!m) throw new LaunchError(`--master ${JSON.stringify(spec)}: expected ADDR:PORT (e.g. 10.0.0.1:29500)`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new LaunchError(`--master ${spec}: port ${port} is not in 1-65535`);
  return { addr: m[1].replace(/^\[|\]$/g, ''), port };
}

/** A TCP port that was free a moment ago (the standalone rendezvous of a one-node job). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return 128 + (os.constants.signals[signal] ?? 0);
  return code ?? 1;
}

function describeExit(e: RankExit): string {
  return e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
}

function positiveInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new LaunchError(`${name} must be an integer >= ${min}, got ${v}`);
}

export async function launch(o: LaunchOptions): Promise<LaunchResult> {
  const nnodes = o.nnodes ?? 1;
  const nodeRank = o.nodeRank ?? 0;
  positiveInt('--nproc', o.nproc, 1);
  positiveInt('--nnodes', nnodes, 1);
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes)
    throw new LaunchError(`--node-rank must be in [0, ${nnodes}), got ${nodeRank}`);
  if (nnodes > 1 && !o.master)
    throw new LaunchError('--master ADDR:PORT is required with --nnodes > 1 (the address of node 0, reachable from every node)');
  if (o.command.length === 0)
    throw new LaunchError('no command to launch: put it after `--`, e.g. latent launch --nproc 2 -- latent train sft ...');
  if (o.timeoutSeconds !== undefined && !(o.timeoutSeconds > 0))
    throw new LaunchError(`--timeout must be a positive number of seconds, got ${o.timeoutSeconds}`);
  const log = o.log ?? ((line: string) => process.stderr.write(`latent launch: ${line}\n`));
  const killGraceMs = o.killGraceMs ?? 10_000;
  const master = o.master ? parseMaster(o.master) : { addr: '127.0.0.1', port: await freePort() };
  const worldSize = nnodes * o.nproc;
  const self = o.self ?? [process.execPath, ...process.execArgv, process.argv[1]];
  const [program, ...args] = o.command[0] === 'latent' ? [...self, ...o.command.slice(1)] : o.command;

  const base: NodeJS.ProcessEnv = { ...process.env, ...o.env };
  // As torchrun: split the cores between the ranks unless told otherwise (oversubscription is slow).
  if (base.OMP_NUM_THREADS === undefined) base.OMP_NUM_THREADS = String(Math.max(1, Math.floor(os.cpus().length / o.nproc)));
  if (o.timeoutSeconds !== undefined) base.LT_DIST_TIMEOUT = String(o.timeoutSeconds);
  if (o.backend) base.LT_DIST_BACKEND = o.backend;
  // The job's shared secret, presented by every rank to rank 0: made here for a one-node job; nodes of a
  // multi-node job cannot agree on a random one, so there it must come from the environment.
  if (!base.LT_DIST_SECRET) {
    if (nnodes > 1)
      throw new LaunchError(
        'LT_DIST_SECRET must be set, to the same value on every node, with --nnodes > 1 (e.g. `openssl rand -hex 32`)',
      );
    base.LT_DIST_SECRET = randomBytes(32).toString('hex');
  }

  const children: { rank: number; proc: ChildProcess }[] = [];
  const exits: RankExit[] = [];
  let failed: RankExit | null = null;
  let signals = 0;
  let killTimer: NodeJS.Timeout | null = null;

  const alive = () => children.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
  const signalAll = (sig: NodeJS.Signals) => {
    for (const c of alive()) {
      try {
        c.proc.kill(sig);
      } catch {
        // already gone
      }
    }
  };
  const terminateAll = () => {
    signalAll('SIGTERM');
    if (!killTimer) {
      killTimer = setTimeout(() => {
        const left = alive();
        if (left.length)
          log(`ranks ${left.map((c) => c.rank).join(', ')} still running ${killGraceMs / 1000} s after SIGTERM: SIGKILL`);
        signalAll('SIGKILL');
      }, killGraceMs);
      killTimer.unref();
    }
  };
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log(`${sig}: forwarded to ${alive().length} ranks (again to stop them at once)`);
      signalAll(sig);
    } else {
      log(`${sig} again: killing all ranks`);
      signalAll('SIGKILL');
    }
  };
  // If the launcher itself goes down, its ranks must not run on.
  const onExit = () => signalAll('SIGKILL');
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);

  try {
    await new Promise<void>((resolve) => {
      let pending = o.nproc;
      for (let local = 0; local < o.nproc; local++) {
        const rank = nodeRank * o.nproc + local;
        const env: NodeJS.ProcessEnv = {
          ...base,
          RANK: String(rank),
          LOCAL_RANK: String(local),
          WORLD_SIZE: String(worldSize),
          LOCAL_WORLD_SIZE: String(o.nproc),
          GROUP_RANK: String(nodeRank),
          NODE_RANK: String(nodeRank),
          MASTER_ADDR: master.addr,
          MASTER_PORT: String(master.port),
        };
        // Own process group: a terminal's Ctrl-C reaches the launcher only, which forwards it once.
        const proc = spawn(program, args, { env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
        children.push({ rank, proc });
        let finished = false;
        const done = (code: number | null, signal: NodeJS.Signals | null) => {
          if (finished) return;
          finished = true;
          const e: RankExit = { rank, pid: proc.pid ?? -1, code, signal };
          exits.push(e);
          if ((code !== 0 || signal) && !failed) {
            failed = e;
            const others = alive().length;
            const what = e.pid < 0 ? 'could not be started' : `(pid ${e.pid}) ${describeExit(e)}`;
            log(`rank ${rank} ${what}${others ? `; stopping the other ${others} rank${others > 1 ? 's' : ''}` : ''}`);
            terminateAll();
          }
          if (--pending === 0) resolve();
        };
        proc.on('exit', done);
        proc.on('error', (err) => {
          // spawn failed (no such program)
          if (proc.pid === undefined) {
            log(`rank ${rank}: cannot start ${JSON.stringify(program)}: ${err.message}`);
            done(127, null);
          }
        });
      }
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    if (killTimer) clearTimeout(killTimer);
  }
  const failure = failed as RankExit | null;
  exits.sort((a, b) => a.rank - b.rank);
  return { exitCode: failure ? exitStatus(failure.code, failure.signal) : 0, ranks: exits, failed: failure };
}
