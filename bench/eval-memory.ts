// Kernel time of the eval path with a large vocabulary: the latent forward that `latent eval` runs
// for its losses (latentForward under noGrad, batches of 8) and a training step (the same forward,
// backward), on a 2-layer Qwen2 with Qwen's 151,936-token vocabulary, so that the logits and their
// softmax are hundreds of MiB per batch. Each configuration runs in a fresh process, which reports
// its user and system CPU time and minor page faults per iteration (getrusage); configurations
// alternate over rounds. The configurations: the CPU caching allocator on (the default) and off
// (LT_CPU_CACHE_MB=0: every large buffer is mmap'd, faulted in and unmapped anew, as glibc does).
//
//   npm run bench -- eval-memory [--rounds N] [--iterations N]
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as torch from '../src/torch';
import { benchQwen2 } from './lib/model';
import { LatentHeads } from '../src/latent/heads';
import { latentForward } from '../src/latent/forward';
import { qwen2Backbone } from '../src/latent/qwen2-trunks';
import { makeBatches } from './sft';
import { ROOT } from './lib';

const SHAPE = { layers: 2, hidden: 128, heads: 4, kvHeads: 2, intermediate: 256, vocab: 151936 };
const PROBE = '--probe';
const CONFIGS = [
  { name: 'cache on (default)', env: {} as Record<string, string> },
  { name: 'cache off (LT_CPU_CACHE_MB=0)', env: { LT_CPU_CACHE_MB: '0' } },
];
type Mode = 'eval' | 'train';

interface Probe {
  wallMs: number;
  userMs: number;
  sysMs: number;
  minorFaults: number;
}

/** Child side: `iterations` forwards (eval) or steps (train) after one warm-up, per-iteration averages. */
function probe(mode: Mode, iterations: number): void {
  const model = benchQwen2(SHAPE);
  const heads = torch.scope(() => {
    const row = model.model.embed_tokens.weight.select(0, 1).detach();
    return new LatentHeads({ hidden: SHAPE.hidden, markerInit: torch.stack([row, row]), scale: 0.02, dtype: 'float32' });
  });
  const seqs = makeBatches().batches.get(4)!;
  const backbone = qwen2Backbone(model);
  const once = () =>
    torch.scope(() => {
      const run = () => latentForward(seqs, { backbone, latentTrunk: backbone, heads, botId: 1022, eotId: 1023 });
      if (mode === 'eval') return torch.noGrad(() => run().loss.item());
      const r = run();
      r.loss.backward();
      model.zeroGrad();
      heads.zeroGrad();
      return r.loss.item();
    });
  once();
  const u0 = process.resourceUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) once();
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const u1 = process.resourceUsage();
  const out: Probe = {
    wallMs: wall / iterations,
    userMs: (u1.userCPUTime - u0.userCPUTime) / 1e3 / iterations,
    sysMs: (u1.systemCPUTime - u0.systemCPUTime) / 1e3 / iterations,
    minorFaults: (u1.minorPageFault - u0.minorPageFault) / iterations,
  };
  console.log(JSON.stringify(out));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export async function main(argv: string[]): Promise<void> {
  if (argv[0] === PROBE) return probe(argv[1] as Mode, Number(argv[2]));
  const option = (name: string, fallback: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  const rounds = option('--rounds', 3);
  const iterations = option('--iterations', 4);
  const samples = new Map<string, Probe[]>();
  for (let round = 1; round <= rounds; round++)
    for (const mode of ['eval', 'train'] as Mode[])
      for (const c of CONFIGS) {
        process.stderr.write(`bench eval-memory [round ${round}/${rounds}]: ${mode}, ${c.name}\n`);
        const r = spawnSync(
          process.execPath,
          [path.join(ROOT, 'bench', 'run.js'), 'eval-memory', PROBE, mode, String(iterations)],
          {
            encoding: 'utf8',
            env: { ...process.env, ...c.env },
          },
        );
        if (r.status !== 0)
          throw new Error(`bench eval-memory: probe failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
        const key = `${mode}|${c.name}`;
        samples.set(key, [...(samples.get(key) ?? []), JSON.parse(r.stdout.trim().split('\n').pop()!) as Probe]);
      }
  const load = (await import('os')).loadavg()[0].toFixed(1);
  console.log(
    `\n### eval path: latentForward over 8 sequences, 2-layer Qwen2 (hidden ${SHAPE.hidden}), vocabulary ${SHAPE.vocab}\n\n` +
      `${new Date().toISOString().slice(0, 10)} · ${rounds} rounds × ${iterations} iterations per process, medians over rounds · 1-minute load ${load}\n`,
  );
  console.log('| mode | allocator | wall / iteration | user | sys | sys share | minor faults / iteration |');
  console.log('|---|---|--:|--:|--:|--:|--:|');
  for (const mode of ['eval', 'train'] as Mode[])
    for (const c of CONFIGS) {
      const s = samples.get(`${mode}|${c.name}`)!;
      const [wall, user, sys, faults] = (['wallMs', 'userMs', 'sysMs', 'minorFaults'] as const).map((k) =>
        median(s.map((p) => p[k])),
      );
      console.log(
        `| ${mode === 'eval' ? 'eval (noGrad forward)' : 'train (forward + backward)'} | ${c.name} | ${wall.toFixed(0)} ms | ${user.toFixed(0)} ms | ` +
          `${sys.toFixed(0)} ms | ${((100 * sys) / (user + sys)).toFixed(0)} % | ${faults.toFixed(0)} |`,
      );
    }
}
