// Two ranks over loopback Gloo, in separate processes: collectives, data-parallel training equal to a
// single process, failures (a rank dies, stalls, never comes) ending in clear errors within the
// timeout, and the launcher (environment, `latent` substitution, signal forwarding, failing the job).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { maxAbsDifference } from '../helpers/differences';
import { alive, killAll, NODE_TS, readyPids, runRanks, startLaunch, waitForOutput, WORKER, type Finished } from './spawn';

afterEach(killAll);

const explain = (f: Finished) =>
  `exit ${f.code ?? f.signal}\nstdout:\n${f.stdout.slice(0, 3000)}\nstderr:\n${f.stderr.slice(0, 3000)}`;
function succeeded(f: Finished): void {
  if (f.code !== 0) throw new Error(`a rank failed: ${explain(f)}`);
}

test('collectives give the right values on every rank (ranks started by `latent launch`)', async () => {
  const launched = await startLaunch(['--nproc', '2'], [...NODE_TS, WORKER, 'collectives']).done;
  succeeded(launched);
  const results = launched.stdout
    .split('\n')
    .filter((l) => l.startsWith('RESULT '))
    .map((l) => JSON.parse(l.slice(7)));
  expect(results.map((r) => r.rank).sort()).toEqual([0, 1]);
  for (const r of results) {
    expect(r).toMatchObject({
      world: 2,
      backend: 'gloo',
      sum: [3, -2, 1], // [1, 0, .5] + [2, -2, .5]
      avg: [1.5, 5, 3],
      max: [1, 0, 7],
      min: [0, -1, 7],
      product: [6, 2.25],
      // in 16-byte buckets: [0..5]+[1..6]; a transposed (non-contiguous) tensor; a scalar; an empty tensor; int64
      bucketed: [
        [
          [1, 3, 5],
          [7, 9, 11],
        ],
        [
          [3, 9, 15],
          [6, 12, 18],
        ],
        1.5,
        [0],
        [1, 200],
      ],
      broadcast: [
        [1, 1, 1],
        [
          [10, 10],
          [10, 10],
        ],
      ], // from rank 1
      allGather: [
        [0, 0],
        [1, 1],
      ],
      numbers: [1, 2, 0.1],
      object: { from: 0, text: 'latent ✓', list: [1, 2, 3] },
      anyRank: [true, false],
    });
    expect(r.avgOfInts).toMatch(/^ValueError: allReduce: 'avg' needs floating-point tensors/);
  }
});

test('20 data-parallel steps: parameters identical across ranks and equal to one process on the same global batches', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-ddp-'));
  try {
    const [ranks, single] = await Promise.all([
      runRanks(2, 'train', [path.join(dir, 'ddp.json')]),
      runRanks(1, 'train', [path.join(dir, 'single.json')], { env: { WORLD_SIZE: '' } }).then((r) => r[0]),
    ]);
    ranks.forEach(succeeded);
    succeeded(single);
    const [r0, r1] = ranks.map((f) => f.result);
    expect(single.result.world).toBe(1);
    expect(r0.world).toBe(2);
    // the ranks started from different weights (seeded by rank): broadcastParameters made them rank 0's
    for (const name of Object.keys(r0.params)) {
      expect(r1.params[name]).toEqual(r0.params[name]); // bit-identical
      const ref = single.result.params[name] as number[];
      const diff = maxAbsDifference(r0.params[name], ref);
      expect({ name, diff: diff < 1e-5 }).toEqual({ name, diff: true });
    }
    // the logged losses are the global batch's on every rank
    expect(r1.losses).toEqual(r0.losses);
    r0.losses.forEach((l: number, i: number) => expect(l).toBeCloseTo(single.result.losses[i], 5));
    // training did something
    expect(r0.losses[19]).toBeLessThan(r0.losses[0] * 0.7);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('failures end in a clear error within the timeout', () => {
  const TIMEOUT_S = 2;
  const env = { LT_DIST_TIMEOUT: String(TIMEOUT_S) };

  test('a rank that dies fails the others at once', async () => {
    const [r0, r1] = await runRanks(2, 'die', [], { env });
    expect(r1.code).toBe(3);
    expect(r0.code).toBe(1);
    expect(r0.result.error.name).toBe('DistributedError');
    expect(r0.result.error.message).toMatch(
      /^allReduce failed on rank 0 of 2 \(gloo, rendezvous 127\.0\.0\.1:\d+, timeout 2 s\): .*(closed|reset)/s,
    );
    expect(r0.result.error.message).toMatch(/a peer rank probably exited or crashed/);
    expect(r0.result.elapsedMs).toBeLessThan(TIMEOUT_S * 1000);
  });

  test('a rank that stops calling collectives fails the others after the timeout', async () => {
    const [r0, r1] = await runRanks(2, 'stall', [], { env });
    expect(r0.result.error.message).toMatch(/^allReduce failed on rank 0 of 2 .*Timed out waiting 2000ms/s);
    expect(r0.result.elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_S * 1000 - 100);
    expect(r0.result.elapsedMs).toBeLessThan(TIMEOUT_S * 1000 + 5000); // slack for a loaded machine
    // the staller, back, finds its peer gone
    expect(r1.result.error.message).toMatch(/^allReduce failed on rank 1 of 2/);
    expect([r0.code, r1.code]).toEqual([1, 1]);
  });

  test('a rank that never comes fails the rendezvous on both sides', async () => {
    const [[only0], [only1]] = await Promise.all([
      runRanks(2, 'init', [], { env, ranks: [0] }),
      runRanks(2, 'init', [], { env, ranks: [1] }),
    ]);
    expect(only0.result.error.message).toMatch(
      /^rendezvous failed for rank 0 of 2 .*1\/2 clients joined.*were they all started/s,
    );
    expect(only1.result.error.message).toMatch(
      /^rendezvous failed for rank 1 of 2 .*is rank 0 running, and can this host reach 127\.0\.0\.1:\d+\?/s,
    );
    // TCPStore retries its connection (each try up to the timeout, with a back-off): a few timeouts, never endless
    for (const f of [only0, only1]) expect(f.result.elapsedMs).toBeLessThan(5 * TIMEOUT_S * 1000);
    expect(only0.stderr).not.toMatch(/Exception raised from|frame #/); // the retries' C++ backtraces are kept quiet
  });
});

describe('latent launch', () => {
  test('a failed rank fails the job: the others are stopped (SIGKILL after the grace period) and its status is the exit code', async () => {
    const launcher = startLaunch(['--nproc', '2', '--kill-grace', '1'], [...NODE_TS, WORKER, 'sleep']);
    const f = await launcher.done;
    expect(f.code).toBe(7);
    expect(f.stderr).toMatch(/latent launch: rank 0 \(pid \d+\) exited with code 7; stopping the other 1 rank/);
    expect(f.stderr).toMatch(/rank 1: SIGTERM ignored/);
    expect(f.stderr).toMatch(/ranks 1 still running 1 s after SIGTERM: SIGKILL/);
    const pids = readyPids(f.stdout);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  test('SIGINT to the launcher reaches every rank once; the job ends with theirs', async () => {
    const launcher = startLaunch(['--nproc', '2'], [...NODE_TS, WORKER, 'signal']);
    await waitForOutput(launcher, (out) => readyPids(out).length === 2);
    launcher.proc.kill('SIGINT');
    const f = await launcher.done;
    expect(f.code).toBe(0);
    expect(f.stderr).toMatch(/SIGINT: forwarded to 2 ranks/);
    expect(f.stdout.match(/SIGINT rank [01]/g)!.sort()).toEqual(['SIGINT rank 0', 'SIGINT rank 1']);
  });

  test('`latent` runs this CLI in every rank, with the launch environment', async () => {
    const f = await startLaunch(['--nproc', '2', '--timeout', '5'], ['latent', 'version']).done;
    succeeded(f);
    expect(f.stdout.match(/^latent-tokens \d/gm)).toHaveLength(2);
  });

  test('a missing command is refused', async () => {
    const f = await startLaunch(['--nproc', '2'], []).done;
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(/no command to launch/);
  });
});

test('a rank whose launch environment is incomplete says what is missing instead of waiting', async () => {
  const [f] = await runRanks(2, 'init', [], { env: { RANK: '' }, ranks: [0] });
  expect(f.code).toBe(1);
  expect(f.result.error.message).toMatch(/RANK is not set; it is set by `latent launch` \(or torchrun\) for every rank/);
  expect(f.result.elapsedMs).toBeLessThan(10_000); // from the init call: the process's start is not what is timed
});
