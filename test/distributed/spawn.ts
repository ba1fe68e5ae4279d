// Child processes for the distributed tests: ranks of test/distributed/fixtures/worker.ts (directly, or
// under the `latent launch` CLI), each tracked so that none outlives its test (killAll in afterEach).
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import { freePort } from '../../src/distributed/launch';
import { localRankEnv } from '../../bench/lib/ranks';

export const REPO = path.resolve(__dirname, '..', '..');
const REGISTER = path.join(__dirname, 'fixtures', 'ts-register.js');
export const WORKER = path.join(__dirname, 'fixtures', 'worker.ts');
export const CLI = path.join(REPO, 'src', 'cli', 'main.ts');
/** `node` with TypeScript support: the argv prefix of every child */
export const NODE_TS = [process.execPath, '-r', REGISTER];

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** the worker's `RESULT {...}` line, parsed */
  result: any;
  elapsedMs: number;
}

export interface Child {
  proc: ChildProcess;
  /** output so far */
  stdout(): string;
  stderr(): string;
  done: Promise<Finished>;
}

const live = new Set<ChildProcess>();
const grandchildren = new Set<number>();

/** Pids of the ranks a launcher reported (`READY rank R pid P` lines), killed by killAll too. */
export function readyPids(stdout: string): number[] {
  const pids = [...stdout.matchAll(/READY rank \d+ pid (\d+)/g)].map((m) => Number(m[1]));
  for (const pid of pids) grandchildren.add(pid);
  return pids;
}

/**
 * How long a child may run, or its output be awaited, before the test gives up on it: a guard against
 * hangs, not a speed check. A child's first start on a new machine transpiles ~110 files into an empty
 * cache (ts-register), and in CI on a loaded 2-core machine a two-rank launch then took over 30 s.
 * Under jest's 120 s, so a hang still ends in the child's output rather than a bare test timeout.
 */
const HANG_GUARD_MS = 90_000;

/** Starts a process (stdout/stderr captured); it is killed when its deadline passes or by killAll. */
export function start(
  argv: string[],
  { env = {}, deadlineMs = HANG_GUARD_MS }: { env?: NodeJS.ProcessEnv; deadlineMs?: number } = {},
): Child {
  const started = Date.now();
  const proc = spawn(argv[0], argv.slice(1), {
    cwd: REPO,
    env: { ...process.env, OMP_NUM_THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (err += d));
  const timer = setTimeout(() => {
    err += `\n[test] deadline of ${deadlineMs} ms passed: SIGKILL\n`;
    proc.kill('SIGKILL');
  }, deadlineMs);
  const done = new Promise<Finished>((resolve) => {
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(proc);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      let result = null;
      try {
        result = line ? JSON.parse(line.slice(7)) : null;
      } catch (e) {
        err += `\n[test] unreadable RESULT line: ${(e as Error).message}\n`;
      }
      resolve({ code, signal, stdout: out, stderr: err, result, elapsedMs: Date.now() - started });
    });
  });
  return { proc, stdout: () => out, stderr: () => err, done };
}

/** Resolves once `predicate` holds of the child's output (polling), or rejects after `ms`. */
export async function waitForOutput(child: Child, predicate: (stdout: string) => boolean, ms = HANG_GUARD_MS): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate(child.stdout())) {
    if (Date.now() > until)
      throw new Error(`no expected output after ${ms} ms; stdout:\n${child.stdout()}\nstderr:\n${child.stderr()}`);
    if (child.proc.exitCode !== null || child.proc.signalCode !== null)
      throw new Error(`the process ended first; stdout:\n${child.stdout()}\nstderr:\n${child.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `world` ranks of worker.ts running `scenario`, with the launch environment set by hand. */
export async function startRanks(
  world: number,
  scenario: string,
  args: string[] = [],
  { env = {}, ranks, deadlineMs }: { env?: NodeJS.ProcessEnv; ranks?: number[]; deadlineMs?: number } = {},
): Promise<Child[]> {
  const port = await freePort();
  const secret = `test-secret-${port}`;
  return (ranks ?? [...Array(world).keys()]).map((rank) =>
    start([...NODE_TS, WORKER, scenario, ...args], {
      env: {
        ...localRankEnv(rank, world, port, secret),
        ...env,
      },
      deadlineMs,
    }),
  );
}

export async function runRanks(
  world: number,
  scenario: string,
  args: string[] = [],
  options: Parameters<typeof startRanks>[3] = {},
): Promise<Finished[]> {
  return Promise.all((await startRanks(world, scenario, args, options)).map((c) => c.done));
}

/** `latent launch <launchArgs> -- <command>` through the CLI. */
export function startLaunch(
  launchArgs: string[],
  command: string[],
  options: { env?: NodeJS.ProcessEnv; deadlineMs?: number } = {},
): Child {
  return start([...NODE_TS, CLI, 'launch', ...launchArgs, '--', ...command], options);
}

/** Whether a process of this pid still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills every child still running (tests call it in afterEach). */
export function killAll(): void {
  for (const p of live) p.kill('SIGKILL');
  live.clear();
  for (const pid of grandchildren) if (alive(pid)) process.kill(pid, 'SIGKILL');
  grandchildren.clear();
}
