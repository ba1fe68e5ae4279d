// What a result was measured on, recorded with every result and printed above every table.
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as torch from '../../src/torch';
import { readTorchEnv, ROOT } from './paths';

export interface Environment {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  node: string;
  libtorch: string;
  threads: number;
  /** 1-minute load average when the run started: other work on the machine makes timings noisy */
  loadAverage: number;
  /** git commit of the working tree (with "+dirty" when it has changes), when available */
  commit: string | null;
}

function gitCommit(): string | null {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (head.status !== 0) return null;
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
  return head.stdout.trim() + (dirty.status === 0 && dirty.stdout.trim() ? '+dirty' : '');
}

// The addon reports TORCH_VERSION ("2.13.0"); .torch-env.json has the full build tag ("2.13.0+cpu").
function libtorchVersion(v: torch.VersionInfo): string {
  const recorded = readTorchEnv()?.version;
  if (recorded && recorded.startsWith(v.libtorch)) return recorded;
  return `${v.libtorch}${v.cuda ? `+cuda${v.cuda}` : ''}`;
}

export function describeEnvironment(threads: number): Environment {
  const cpus = os.cpus();
  const v = torch.version();
  return {
    date: new Date().toISOString(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    libtorch: libtorchVersion(v),
    threads,
    loadAverage: Math.round(os.loadavg()[0] * 100) / 100,
    commit: gitCommit(),
  };
}

export function formatEnvironment(e: Environment): string {
  return (
    `${e.date.slice(0, 10)} | ${e.cpu}, ${e.cores} cores, ${e.memoryGiB} GiB | ${e.platform}\n` +
    `node ${e.node} | libtorch ${e.libtorch} | ${e.threads} intra-op thread${e.threads === 1 ? '' : 's'} | load ${e.loadAverage}` +
    (e.commit ? ` | commit ${e.commit}` : '')
  );
}

/** A warning when other processes keep the machine busy (their CPU time distorts every column), or null. */
export function busyMachineWarning(e: Environment, clock: 'wall' | 'cpu'): string | null {
  if (e.loadAverage < 0.5 * e.cores) return null;
  return (
    `the machine is busy (1-minute load average ${e.loadAverage} on ${e.cores} cores): timings will be noisy, ` +
    'and multi-threaded cases slow down sharply when their threads compete with other processes' +
    (clock === 'wall' ? ' (--clock cpu leaves out the time spent waiting for a core)' : '') +
    '; rerun on an idle machine for numbers to publish'
  );
}
