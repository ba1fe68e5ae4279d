// The rendezvous is closed to strangers: with a loopback master nothing listens beyond loopback, every
// rank must present the job's secret, and (in two network namespaces joined by a veth pair, made by
// this test) two ranks on two "hosts" train to the same parameters as one process.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { freePort } from '../../src/distributed/launch';
import { maxAbsDifference } from '../helpers/differences';
import { killAll, NODE_TS, runRanks, start, WORKER, type Finished } from './spawn';

afterEach(killAll);

const explain = (f: Finished) =>
  `exit ${f.code ?? f.signal}\nstdout:\n${f.stdout.slice(0, 3000)}\nstderr:\n${f.stderr.slice(0, 3000)}`;
function succeeded(f: Finished): void {
  if (f.code !== 0) throw new Error(`a rank failed: ${explain(f)}`);
}
const isLoopback = (address: string) => /^127\.\d+\.\d+\.\d+:\d+$/.test(address) || address.startsWith('[0:0:0:0:0:0:0:1]:');

test('with a loopback master, every rank listens on loopback addresses only (the store included)', async () => {
  const ranks = await runRanks(2, 'listeners');
  ranks.forEach(succeeded);
  const all = ranks.flatMap((f) => f.result.listening as string[]);
  expect(all.length).toBeGreaterThanOrEqual(3); // the store, and Gloo on each rank
  expect(all.filter((a) => !isLoopback(a))).toEqual([]);
});

describe('the job secret', () => {
  async function pair(secrets: [string | undefined, string | undefined]): Promise<Finished[]> {
    const port = await freePort();
    return Promise.all(
      secrets.map(
        (secret, rank) =>
          start([...NODE_TS, WORKER, 'init'], {
            env: {
              RANK: String(rank),
              WORLD_SIZE: '2',
              MASTER_ADDR: '127.0.0.1',
              MASTER_PORT: String(port),
              LT_DIST_TIMEOUT: '5',
              LT_DIST_SECRET: secret ?? '',
            },
          }).done,
      ),
    );
  }

  test('a rank with another secret is turned away, and both sides say why', async () => {
    const [r0, r1] = await pair(['job-secret', 'not-the-secret']);
    expect(r0.result.error.message).toMatch(/rank\(s\) 1 did not present this job's secret/);
    expect(r1.result.error.message).toMatch(/rank 0 rejected this rank's secret/);
  });

  test('the same secret joins', async () => {
    const ranks = await pair(['job-secret', 'job-secret']);
    ranks.forEach(succeeded);
  });

  test('without a secret a group of several ranks is refused before connecting', async () => {
    const [r0] = await pair([undefined, undefined]);
    expect(r0.result.error).toEqual({
      name: 'ValueError',
      message: expect.stringMatching(/needs the job's shared secret \(LT_DIST_SECRET/),
    });
    expect(r0.result.elapsedMs).toBeLessThan(20_000); // from the init call, not the process's start
  });
});

// ---- two hosts: network namespaces joined by a veth pair ----

const tag = `${process.pid % 100000}`;
const hostA = `lt-a-${tag}`;
const hostB = `lt-b-${tag}`;
const subnet = `10.${200 + (process.pid % 50)}.${process.pid % 250}`;
const [addrA, addrB] = [`${subnet}.1`, `${subnet}.2`];
const [vethA, vethB] = [`lta${tag}`, `ltb${tag}`];

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
}

/** Why two namespaces cannot be made here, or null once they are (hostA and hostB, joined by a veth pair). */
function makeHosts(): string | null {
  try {
    ip('netns', 'add', hostA);
  } catch (e) {
    return `network namespaces cannot be created here (${(e as Error).message}; needs root and iproute2)`;
  }
  ip('netns', 'add', hostB);
  ip('link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB);
  ip('link', 'set', vethA, 'netns', hostA);
  ip('link', 'set', vethB, 'netns', hostB);
  for (const [host, dev, addr] of [
    [hostA, vethA, addrA],
    [hostB, vethB, addrB],
  ]) {
    ip('-n', host, 'addr', 'add', `${addr}/24`, 'dev', dev);
    ip('-n', host, 'link', 'set', dev, 'up');
    ip('-n', host, 'link', 'set', 'lo', 'up');
  }
  return null;
}

function removeHosts(): void {
  for (const host of [hostA, hostB]) spawnSync('ip', ['netns', 'del', host]); // the veth pair goes with them
}

const onHost = (host: string, args: string[], env: NodeJS.ProcessEnv) =>
  start(['ip', 'netns', 'exec', host, ...NODE_TS, WORKER, ...args], { env });

describe('two hosts in network namespaces', () => {
  let skipped: string | null = null;
  beforeAll(() => {
    skipped = makeHosts();
    if (skipped) console.warn(`skipping the two-host tests: ${skipped}`);
  });
  afterAll(removeHosts);

  test('2 ranks on 2 hosts train to the same parameters as 1 process', async () => {
    if (skipped) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-netns-'));
    try {
      const rank = (r: number, host: string, dev: string) =>
        onHost(host, ['train', path.join(dir, `rank${r}.json`)], {
          RANK: String(r),
          WORLD_SIZE: '2',
          MASTER_ADDR: addrA,
          MASTER_PORT: '29500',
          LT_DIST_SECRET: `netns-${tag}`,
          GLOO_SOCKET_IFNAME: dev,
        }).done;
      const [ranks, single] = await Promise.all([
        Promise.all([rank(0, hostA, vethA), rank(1, hostB, vethB)]),
        runRanks(1, 'train', [path.join(dir, 'single.json')], { env: { WORLD_SIZE: '' } }).then((r) => r[0]),
      ]);
      ranks.forEach(succeeded);
      succeeded(single);
      const [r0, r1] = ranks.map((f) => f.result);
      expect([r0.world, r1.world, single.result.world]).toEqual([2, 2, 1]);
      for (const name of Object.keys(r0.params)) {
        expect(r1.params[name]).toEqual(r0.params[name]);
        const ref = single.result.params[name] as number[];
        const diff = maxAbsDifference(r0.params[name], ref);
        expect({ name, close: diff < 1e-5 }).toEqual({ name, close: true });
      }
      r0.losses.forEach((l: number, i: number) => expect(l).toBeCloseTo(single.result.losses[i], 5));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('with a numeric master address, the store listens on that address alone (not on every interface)', async () => {
    if (skipped) return;
    const env = (r: number, dev: string) => ({
      RANK: String(r),
      WORLD_SIZE: '2',
      MASTER_ADDR: addrA,
      MASTER_PORT: '29502',
      LT_DIST_SECRET: `netns-${tag}`,
      GLOO_SOCKET_IFNAME: dev,
    });
    const [r0, r1] = await Promise.all([
      onHost(hostA, ['listeners'], env(0, vethA)).done,
      onHost(hostB, ['listeners'], env(1, vethB)).done,
    ]);
    [r0, r1].forEach(succeeded);
    expect(r0.result.listening).toContain(`${addrA}:29502`);
    expect((r0.result.listening as string[]).filter((a) => !a.startsWith(`${addrA}:`))).toEqual([]);
    expect((r1.result.listening as string[]).filter((a) => !a.startsWith(`${addrB}:`))).toEqual([]);
  });

  test('with a loopback master on a host that has another address, nothing listens on that address', async () => {
    if (skipped) return;
    const env = (r: number) => ({
      RANK: String(r),
      WORLD_SIZE: '2',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: '29501',
      LT_DIST_SECRET: `netns-${tag}`,
    });
    const ranks = await Promise.all([0, 1].map((r) => onHost(hostA, ['listeners'], env(r)).done));
    ranks.forEach(succeeded);
    const all = ranks.flatMap((f) => f.result.listening as string[]);
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect(all.filter((a) => !isLoopback(a))).toEqual([]);
    expect(all.some((a) => a.startsWith(`${addrA}:`))).toBe(false);
  });
});
