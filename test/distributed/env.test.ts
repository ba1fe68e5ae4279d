// The launch environment, batch sharding and launcher argument checks (no processes).
import { readLaunchEnv, DEFAULT_TIMEOUT_MS } from '../../src/distributed/env';
import { shardBatch } from '../../src/distributed/ddp';
import { parseMaster, launch } from '../../src/distributed/launch';
import { isMain, localDevice } from '../../src/distributed/process-group';

const base = {
  RANK: '1',
  WORLD_SIZE: '4',
  LOCAL_RANK: '1',
  LOCAL_WORLD_SIZE: '2',
  MASTER_ADDR: '10.0.0.1',
  MASTER_PORT: '29500',
};

describe('readLaunchEnv', () => {
  test('reads what a launcher sets, with defaults', () => {
    expect(readLaunchEnv(base)).toEqual({
      rank: 1,
      worldSize: 4,
      localRank: 1,
      localWorldSize: 2,
      masterAddr: '10.0.0.1',
      masterPort: 29500,
      timeoutMs: DEFAULT_TIMEOUT_MS,
      backend: null,
      glooInterfaces: null,
      secret: null,
    });
    expect(readLaunchEnv({ ...base, LT_DIST_SECRET: 's3cret' })?.secret).toBe('s3cret');
    expect(
      readLaunchEnv({ ...base, LT_DIST_TIMEOUT: '2.5', LT_DIST_BACKEND: 'gloo', GLOO_SOCKET_IFNAME: 'eth0, eth1' }),
    ).toMatchObject({
      timeoutMs: 2500,
      backend: 'gloo',
      glooInterfaces: ['eth0', 'eth1'],
    });
    // torchrun-style environments without LOCAL_* are one node
    expect(readLaunchEnv({ RANK: '2', WORLD_SIZE: '3', MASTER_ADDR: 'h', MASTER_PORT: '1' })).toMatchObject({
      localRank: 2,
      localWorldSize: 3,
    });
  });

  test('is null when not launched', () => {
    expect(readLaunchEnv({})).toBeNull();
  });

  test.each([
    [{ RANK: '' }, /RANK is not set/],
    [{ RANK: '4' }, /RANK=4 is not below WORLD_SIZE=4/],
    [{ WORLD_SIZE: 'two' }, /WORLD_SIZE="two" is not an integer >= 1/],
    [{ WORLD_SIZE: '0' }, /WORLD_SIZE="0" is not an integer >= 1/],
    [{ LOCAL_RANK: '2' }, /LOCAL_RANK=2 is not below LOCAL_WORLD_SIZE=2/],
    [{ MASTER_ADDR: '' }, /MASTER_ADDR is not set/],
    [{ MASTER_PORT: '70000' }, /MASTER_PORT=70000 is not a TCP port/],
    [{ LT_DIST_TIMEOUT: '-1' }, /LT_DIST_TIMEOUT="-1" is not a positive number of seconds/],
    [{ LT_DIST_BACKEND: 'mpi' }, /LT_DIST_BACKEND="mpi" must be gloo or nccl/],
  ])('rejects %j', (over, message) => {
    expect(() => readLaunchEnv({ ...base, ...over })).toThrow(message);
  });

  test('isMain without a group follows the launch environment', () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, base); // rank 1 of 4
      expect(isMain()).toBe(false);
      process.env.RANK = '0';
      expect(isMain()).toBe(true);
      delete process.env.WORLD_SIZE; // not launched
      process.env.RANK = '3';
      expect(isMain()).toBe(true);
    } finally {
      for (const k of Object.keys(base)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  test('localDevice gives each launched rank its own GPU', () => {
    expect(localDevice('cuda', base)).toBe('cuda:1');
    expect(localDevice('cuda:0', base)).toBe('cuda:0');
    expect(localDevice('cpu', base)).toBe('cpu');
    expect(localDevice('cuda', {})).toBe('cuda');
  });
});

describe('shardBatch', () => {
  test('partitions a global batch into contiguous shards differing by at most one', () => {
    const batch = [...'abcdefg'];
    for (const world of [1, 2, 3, 7]) {
      const shards = [...Array(world).keys()].map((r) => shardBatch(batch, r, world));
      expect(shards.flat()).toEqual(batch);
      const sizes = shards.map((s) => s.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
    expect(shardBatch(batch, 0, 2)).toEqual(['a', 'b', 'c']);
    expect(shardBatch(batch, 1, 2)).toEqual(['d', 'e', 'f', 'g']);
  });

  test("without a process group the whole batch is this rank's", () => {
    expect(shardBatch([1, 2, 3])).toEqual([1, 2, 3]);
  });

  test('rejects batches smaller than the world and bad ranks', () => {
    expect(() => shardBatch([1], 0, 2)).toThrow(/a global batch of 1 cannot feed 2 ranks/);
    expect(() => shardBatch([1, 2], 2, 2)).toThrow(/rank must be in \[0, 2\), got 2/);
    expect(() => shardBatch([1, 2], 0, 0)).toThrow(/world size must be a positive integer/);
  });
});

describe('launcher arguments', () => {
  test('parseMaster', () => {
    expect(parseMaster('10.1.2.3:29500')).toEqual({ addr: '10.1.2.3', port: 29500 });
    expect(parseMaster('[::1]:1234')).toEqual({ addr: '::1', port: 1234 });
    expect(() => parseMaster('host')).toThrow(/expected ADDR:PORT/);
    expect(() => parseMaster('host:0')).toThrow(/port 0 is not in 1-65535/);
  });

  test.each([
    [{ nproc: 0 }, /--nproc must be an integer >= 1, got 0/],
    [{ nnodes: 2 }, /--master ADDR:PORT is required with --nnodes > 1/],
    [{ nnodes: 2, nodeRank: 2, master: 'h:1' }, /--node-rank must be in \[0, 2\), got 2/],
    [{ command: [] }, /no command to launch/],
    [{ timeoutSeconds: 0 }, /--timeout must be a positive number/],
  ])('launch rejects %j before starting anything', async (over, message) => {
    await expect(launch({ nproc: 2, command: ['true'], ...over })).rejects.toThrow(message);
  });
});
