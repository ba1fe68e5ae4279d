// Data-parallel benchmark (src/distributed): processes on this machine over loopback Gloo.
//
//   npm run bench -- distributed [--world 1,2] [--sizes 4K,64K,1M,16M,64M] [--steps N] [--rounds N] [--skip pytorch] [--out FILE]
//
// 1. Training step time with 1 and 2 processes: an MLP (about 6.3 M parameters, 25 MB of float32
//    gradients) on a global batch of 64 rows, each rank taking its shard; the ranks split the cores
//    (OMP_NUM_THREADS = cores / processes, as `latent launch` does). Reported per step: the whole step
//    and the gradient all-reduce inside it (allReduceGradients: 25 MB buckets).
// 2. All-reduce bandwidth between 2 processes, ours (the addon's ProcessGroupGloo) against PyTorch's
//    torch.distributed gloo all_reduce loop (bench/python/distributed.py), in the same run, with the
//    same sizes, iteration counts and network interface (GLOO_SOCKET_IFNAME=lo). Gloo ships no
//    benchmark of its own in torch's wheels, so PyTorch's binding of the same Gloo is the reference.
//    Bus bandwidth = size × 2(n−1)/n / time (the bytes each rank sends in a ring all-reduce). The two
//    sides alternate for --rounds rounds and their samples are pooled, so that changes in the
//    machine's load hit both alike (the header prints the load average: on a busy 2-core machine
//    these timings swing by 2× from run to run).
//
// On a 2-core machine, 2 ranks get 1 core each: the step's compute does not get faster (the same
// cores do the same work) and the all-reduce is added on top, so no speedup is expected there; the
// numbers show the communication overhead that a machine with more cores (or GPUs) amortizes.
import { spawn } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as torch from '../src/torch';
import * as dist from '../src/distributed';
import { freePort } from '../src/distributed/launch';
import { findPython, formatDuration, median, ROOT, UsageError } from './lib';
import { describeEnvironment, formatEnvironment } from './lib/environment';
import { localRankEnv } from './lib/ranks';

const MLP = [512, 2048, 2048, 512];
const GLOBAL_BATCH = 64;
const WARMUP_STEPS = 3;
const ALLREDUCE_REPEATS = 5;
/** bytes moved per timed sample of an all-reduce size (so small sizes run many iterations) */
const SAMPLE_BYTES = 256 * 2 ** 20;

interface Options {
  world: number[];
  sizes: number[];
  steps: number;
  rounds: number;
  skip: Set<string>;
  out: string | null;
}

const HELP = `usage: npm run bench -- distributed [options]
  --world 1,2            process counts for the step-time comparison (default 1,2)
  --sizes 4K,64K,1M,...  all-reduce sizes in bytes (K/M suffixes; default 4K,64K,1M,16M,64M)
  --steps N              timed training steps per process count (default 10)
  --rounds N             alternate the runs (process counts; ours and PyTorch's all-reduce) N times, pooling samples (default 3)
  --skip pytorch         leave the PyTorch all-reduce counterpart out
  --out FILE             where to write the JSON result (default build/bench-results/distributed-<time>.json)`;

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s.trim());
  if (!m) throw new UsageError(`--sizes: ${JSON.stringify(s)} is not a size like 4K, 16M or 1024`);
  const bytes = Number(m[1]) * { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
  if (bytes < 4 || bytes % 4) throw new UsageError(`--sizes: ${s} is not a whole number of float32 values`);
  return bytes;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    world: [1, 2],
    sizes: ['4K', '64K', '1M', '16M', '64M'].map(parseSize),
    steps: 10,
    rounds: 3,
    skip: new Set(),
    out: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--help' || a === '-h') {
      console.log(HELP);
      process.exit(0);
    } else if (a === '--world') {
      o.world = value().split(',').map(Number);
      if (o.world.some((w) => !Number.isInteger(w) || w < 1)) throw new UsageError('--world: positive integers, e.g. 1,2');
    } else if (a === '--sizes') o.sizes = value().split(',').map(parseSize);
    else if (a === '--steps') {
      o.steps = Number(value());
      if (!Number.isInteger(o.steps) || o.steps < 1) throw new UsageError('--steps: a positive integer');
    } else if (a === '--rounds') {
      o.rounds = Number(value());
      if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new UsageError('--rounds: a positive integer');
    } else if (a === '--skip') o.skip = new Set(value().split(','));
    else if (a === '--out') o.out = value();
    else throw new UsageError(`unknown option ${a}\n${HELP}`);
  }
  return o;
}

/** Iterations per timed sample of one all-reduce size: the same formula here and in Python. */
export function iterationsFor(bytes: number): number {
  return Math.max(3, Math.min(2000, Math.floor(SAMPLE_BYTES / bytes)));
}

// ---- the ranks (this file run again with --worker) ----

class Mlp extends torch.nn.Module {
  layers = new torch.nn.ModuleList(MLP.slice(1).map((d, i) => new torch.nn.Linear(MLP[i], d)));
  forward(x: torch.Tensor): torch.Tensor {
    for (let i = 0; i < this.layers.length; i++) {
      x = this.layers.at(i).forward(x);
      if (i < this.layers.length - 1) x = torch.relu(x);
    }
    return x;
  }
}

function stepWorker(steps: number): unknown {
  const world = dist.initFromEnv();
  torch.manualSeed(0);
  const net = new Mlp();
  if (world > 1) dist.broadcastParameters(net.parameters());
  const optimizer = new torch.optim.AdamW(net.parameters(), { lr: 1e-4 });
  const x = torch.keep(torch.randn([GLOBAL_BATCH, MLP[0]]));
  const y = torch.keep(torch.randn([GLOBAL_BATCH, MLP[MLP.length - 1]]));
  const rows = dist.shardBatch([...Array(GLOBAL_BATCH).keys()], dist.rank(), world);
  const stepMs: number[] = [];
  const commMs: number[] = [];
  for (let s = 0; s < WARMUP_STEPS + steps; s++) {
    if (world > 1) dist.getProcessGroup().barrier();
    const t0 = performance.now();
    let comm = 0;
    torch.scope(() => {
      const xs = x.narrow(0, rows[0], rows.length);
      const ys = y.narrow(0, rows[0], rows.length);
      const loss = torch.F.mseLoss(net.forward(xs), ys);
      loss.backward();
      if (world > 1) {
        const c0 = performance.now();
        dist.allReduceGradients(net.parameters());
        comm = performance.now() - c0;
      }
      optimizer.step();
      optimizer.zeroGrad({ setToNone: true });
    });
    if (s >= WARMUP_STEPS) {
      stepMs.push(performance.now() - t0);
      commMs.push(comm);
    }
  }
  const params = net.parameters().reduce((n, p) => n + p.numel(), 0);
  if (world > 1) dist.destroyProcessGroup();
  return { world, threads: torch.getNumThreads(), params, stepMs, commMs };
}

function allReduceWorker(sizes: number[]): unknown {
  dist.initFromEnv();
  const g = dist.getProcessGroup();
  const nsPerOp: Record<number, number[]> = {};
  for (const bytes of sizes) {
    const t = torch.keep(torch.ones([bytes / 4]));
    const iters = iterationsFor(bytes);
    for (let i = 0; i < 3; i++) g.allReduce(t, 'sum');
    nsPerOp[bytes] = [];
    for (let r = 0; r < ALLREDUCE_REPEATS; r++) {
      g.barrier();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < iters; i++) g.allReduce(t, 'sum');
      nsPerOp[bytes].push(Number(process.hrtime.bigint() - t0) / iters);
    }
    t.dispose();
  }
  dist.destroyProcessGroup();
  return { nsPerOp };
}

// ---- the parent: start ranks, collect what rank 0 wrote ----

async function runRanks(world: number, command: (outFile: string) => string[], env: NodeJS.ProcessEnv = {}): Promise<any> {
  const port = await freePort();
  // a group of several ranks needs the job's shared secret, one per run as `latent launch` makes it
  const secret = randomBytes(16).toString('hex');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-bench-dist-'));
  const outFile = path.join(dir, 'rank0.json');
  try {
    const exits = await Promise.all(
      [...Array(world).keys()].map(
        (rank) =>
          new Promise<{ rank: number; code: number | null; stderr: string }>((resolve) => {
            const argv = command(outFile);
            const p = spawn(argv[0], argv.slice(1), {
              cwd: ROOT,
              stdio: ['ignore', 'ignore', 'pipe'],
              env: {
                ...process.env,
                ...localRankEnv(rank, world, port, secret),
                OMP_NUM_THREADS: String(Math.max(1, Math.floor(os.cpus().length / world))),
                GLOO_SOCKET_IFNAME: 'lo',
                LT_DIST_TIMEOUT: '120',
                ...env,
              },
            });
            let stderr = '';
            p.stderr.on('data', (d) => (stderr += d));
            p.on('close', (code) => resolve({ rank, code, stderr }));
          }),
      ),
    );
    const failed = exits.find((e) => e.code !== 0);
    if (failed) throw new Error(`rank ${failed.rank} of ${world} failed (exit ${failed.code}):\n${failed.stderr.slice(-3000)}`);
    return JSON.parse(fs.readFileSync(outFile, 'utf8'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const self = (role: string, spec: unknown) => (outFile: string) => [
  process.execPath,
  path.join(ROOT, 'bench', 'run.js'),
  'distributed',
  '--worker',
  role,
  JSON.stringify(spec),
  outFile,
];

const busGBps = (bytes: number, ns: number, world: number) => (bytes * (2 * (world - 1))) / world / ns;

function formatBytes(b: number): string {
  return b >= 2 ** 20 ? `${b / 2 ** 20} MB` : b >= 2 ** 10 ? `${b / 2 ** 10} KB` : `${b} B`;
}

export async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--worker') {
    const [, role, spec, outFile] = argv;
    const o = JSON.parse(spec);
    const result = role === 'step' ? stepWorker(o.steps) : role === 'allreduce' ? allReduceWorker(o.sizes) : null;
    if (result === null) throw new UsageError(`unknown worker role ${role}`);
    if ((dist.readLaunchEnv()?.rank ?? 0) === 0) fs.writeFileSync(outFile, JSON.stringify(result));
    return;
  }
  const o = parseArgs(argv);
  const env = describeEnvironment(torch.getNumThreads());
  console.log(`# distributed (loopback Gloo)\n\n${formatEnvironment(env)}\n`);

  // rounds alternate the process counts too, pooling each one's samples
  const steps: any[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    for (const [i, world] of o.world.entries()) {
      process.stderr.write(`step time round ${round}/${o.rounds}: ${world} process${world > 1 ? 'es' : ''}...\n`);
      const r = await runRanks(world, self('step', { steps: o.steps }));
      if (!steps[i]) steps[i] = r;
      else {
        steps[i].stepMs.push(...r.stepMs);
        steps[i].commMs.push(...r.commMs);
      }
    }
  }
  const base = median(steps[0].stepMs);
  console.log(
    `## Training step (MLP ${MLP.join('-')}, ${(steps[0].params / 1e6).toFixed(1)} M parameters, global batch ${GLOBAL_BATCH}, AdamW)\n`,
  );
  console.log('| processes | threads each | ms/step | speedup vs first row | of which gradient all-reduce |');
  console.log('|---|---|---|---|---|');
  for (const s of steps) {
    const ms = median(s.stepMs);
    const comm = median(s.commMs);
    console.log(
      `| ${s.world} | ${s.threads} | ${ms.toFixed(1)} | ${(base / ms).toFixed(2)}× | ${s.world > 1 ? `${comm.toFixed(1)} ms (${((100 * comm) / ms).toFixed(0)}%)` : '—'} |`,
    );
  }

  const ours: Record<string, number[]> = {};
  let theirs: Record<string, number[]> | null = null;
  let theirsMissing: string | null = o.skip.has('pytorch') ? 'skipped' : null;
  const python = findPython();
  if (!theirsMissing && 'missing' in python) theirsMissing = python.missing;
  const pool = (into: Record<string, number[]>, from: Record<string, number[]>) => {
    for (const [k, v] of Object.entries(from)) (into[k] ??= []).push(...v);
  };
  for (let round = 1; round <= o.rounds; round++) {
    process.stderr.write(`all-reduce round ${round}/${o.rounds}: ours...\n`);
    pool(ours, (await runRanks(2, self('allreduce', { sizes: o.sizes }))).nsPerOp);
    if (theirsMissing || !('python' in python)) continue;
    process.stderr.write(`all-reduce round ${round}/${o.rounds}: PyTorch...\n`);
    try {
      const spec = { sizes: o.sizes, repeats: ALLREDUCE_REPEATS, sampleBytes: SAMPLE_BYTES };
      pool(
        (theirs ??= {}),
        (
          await runRanks(2, (outFile) => [
            python.python,
            path.join(ROOT, 'bench', 'python', 'distributed.py'),
            JSON.stringify(spec),
            outFile,
          ])
        ).nsPerOp,
      );
    } catch (e) {
      theirs = null;
      theirsMissing = (e as Error).message.split('\n')[0];
    }
  }
  console.log(`\n## All-reduce (float32 sum), 2 processes over loopback Gloo, 1 thread each\n`);
  console.log('| size | ours | PyTorch | ours/PyTorch | ours bus GB/s | PyTorch bus GB/s |');
  console.log('|---|---|---|---|---|---|');
  for (const bytes of o.sizes) {
    const a = median(ours[bytes]);
    const b = theirs ? median(theirs[bytes]) : null;
    console.log(
      `| ${formatBytes(bytes)} | ${formatDuration(a)} | ${b === null ? '—' : formatDuration(b)} | ${b === null ? '—' : (a / b).toFixed(2)} | ${busGBps(bytes, a, 2).toFixed(2)} | ${b === null ? '—' : busGBps(bytes, b, 2).toFixed(2)} |`,
    );
  }
  if (theirsMissing) console.log(`\nPyTorch counterpart did not run: ${theirsMissing}`);
  const file = o.out ?? path.join(ROOT, 'build', 'bench-results', `distributed-${env.date.replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        suite: 'distributed',
        environment: env,
        options: { ...o, skip: [...o.skip] },
        steps,
        allReduce: { ours, pytorch: theirs, pytorchMissing: theirsMissing },
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nfull result: ${path.relative(process.cwd(), file)}`);
}
