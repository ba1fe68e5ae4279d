// A process group of one rank, in this process: the native entry points, argument checks, lifetime.
import * as torch from '../../src/torch';
import * as dist from '../../src/distributed';
import { freePort } from '../../src/distributed/launch';

describe('a one-rank Gloo group', () => {
  let group: dist.ProcessGroup;
  beforeAll(async () => {
    group = dist.ProcessGroup.init({
      rank: 0,
      worldSize: 1,
      masterAddr: '127.0.0.1',
      masterPort: await freePort(),
      timeoutMs: 5000,
    });
  });
  afterAll(() => group.destroy());

  test('reports its build and itself', () => {
    expect(dist.availableBackends()).toMatchObject({ c10d: true, gloo: true });
    expect(group).toMatchObject({
      rank: 0,
      worldSize: 1,
      backend: 'gloo',
      device: 'cpu',
      timeoutMs: 5000,
      isMain: true,
      destroyed: false,
    });
  });

  test('collectives of one rank leave values as they are (avg too), in place', () => {
    torch.scope(() => {
      const a = torch.tensor([1.5, -2, 3], { dtype: 'float32' });
      const b = torch
        .tensor(
          [
            [1, 2],
            [3, 4],
          ],
          { dtype: 'float64' },
        )
        .t(); // non-contiguous: packed and copied back
      const c = torch.tensor([7, 8]);
      group.allReduce([a, b, c], 'sum', { bucketBytes: 8 });
      group.allReduce([a, b], 'avg');
      group.allReduce(c, 'max');
      expect(a.tolist()).toEqual([1.5, -2, 3]);
      expect(b.tolist()).toEqual([
        [1, 3],
        [2, 4],
      ]);
      expect(c.tolist()).toEqual([7, 8]);
      group.broadcast([a, b], 0);
      expect(a.tolist()).toEqual([1.5, -2, 3]);
      const gathered = group.allGather(a);
      expect(gathered.map((t) => t.tolist())).toEqual([[1.5, -2, 3]]);
      group.barrier();
      expect(group.allReduceNumbers([1, 2.5], 'sum')).toEqual([1, 2.5]);
      expect(group.broadcastObject({ a: [1, 'two'] })).toEqual({ a: [1, 'two'] });
    });
  });

  test('parameters with gradients: broadcast and averaging work on leaves that require grad', () => {
    torch.scope(() => {
      const w = new torch.nn.Parameter(torch.tensor([1, 2, 3], { dtype: 'float32' }));
      const unused = new torch.nn.Parameter(torch.tensor([5], { dtype: 'float32' }));
      w.mul(2).sum().backward();
      dist.broadcastParameters([w, unused], { group });
      dist.allReduceGradients([w, unused], { group });
      expect(w.grad!.tolist()).toEqual([2, 2, 2]);
      expect(unused.grad).toBeNull(); // no rank has a gradient: none is made up
      const [loss] = dist.globalMeanLosses([{ mean: w.sum().div(3), count: 3 }], { group }).losses;
      expect(loss.item()).toBeCloseTo(2, 6);
      w.dispose();
      unused.dispose();
    });
  });

  test('bad arguments are TypeError/ValueError naming the problem', () => {
    const t = torch.tensor([1, 2]);
    expect(() => group.allReduce(t, 'avg')).toThrow(/'avg' needs floating-point tensors, got Tensor\[\[2\], int64, cpu\]/);
    expect(() => group.allReduce(t, 'mean' as dist.ReduceOp)).toThrow(
      /reduce op must be 'sum', 'avg', 'max', 'min' or 'product', got 'mean'/,
    );
    expect(() => group.broadcast(t, 1)).toThrow(/root must be in \[0, 1\), got 1/);
    expect(() => group.allReduce(t, 'sum', { bucketBytes: 0 })).toThrow(/bucketBytes must be positive/);
    const gone = torch.tensor([1]);
    gone.dispose();
    expect(() => group.allReduce(gone)).toThrow();
    t.dispose();
  });

  test('the default group: one at a time; rank/world/isMain without one', async () => {
    expect(dist.isInitialized()).toBe(false);
    expect([dist.rank(), dist.worldSize(), dist.isMain(), dist.anyRank(true), dist.anyRank(false)]).toEqual([
      0,
      1,
      true,
      true,
      false,
    ]);
    expect(() => dist.getProcessGroup()).toThrow(/no process group: call initFromEnv\(\)/);
    expect(dist.initFromEnv({ env: {} })).toBe(1); // not launched: no group
    expect(dist.isInitialized()).toBe(false);
    const port = await freePort();
    const g = dist.initProcessGroup({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 5000 });
    expect(() => dist.initProcessGroup({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: port })).toThrow(
      /already initialized/,
    );
    expect(dist.initFromEnv({ env: { WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: 'x', MASTER_PORT: '1' } })).toBe(1); // idempotent: the existing group
    expect(dist.getProcessGroup()).toBe(g);
    dist.destroyProcessGroup();
    dist.destroyProcessGroup();
    expect(g.destroyed).toBe(true);
    expect(() => g.barrier()).toThrow(/barrier: the process group \(rank 0 of 1\) has been destroyed/);
  });

  test('rendezvous arguments are checked before any connection', async () => {
    const port = await freePort();
    const init = (o: Partial<dist.InitOptions>) => () =>
      dist.ProcessGroup.init({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 1000, ...o });
    expect(init({ rank: 1 })).toThrow(/rank must be in \[0, 1\), got 1/);
    expect(init({ masterPort: 0 })).toThrow(/masterPort must be in \[1, 65535\]/);
    expect(init({ timeoutMs: 0 })).toThrow(/timeoutMs must be positive/);
    expect(init({ backend: 'mpi' as dist.BackendName })).toThrow(/backend must be 'gloo' or 'nccl'/);
    if (!dist.availableBackends().nccl)
      expect(init({ backend: 'nccl', device: 'cuda:0' })).toThrow(/the NCCL backend is unavailable: /);
  });
});
