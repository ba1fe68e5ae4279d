import * as torch from '../../src/torch';
import { describeWithPython, runPython } from '../helpers/python';

const byName = (r: torch.profiler.ProfilerResult) => new Map(r.keyAverages().map((e) => [e.name, e]));

describe('torch.profiler', () => {
  const a = torch.randn([16, 16]);
  const b = torch.randn([16, 16]);
  afterAll(() => (a.dispose(), b.dispose()));

  it('counts every operator call by name', () => {
    const r = torch.profiler.profile(() =>
      torch.scope(() => {
        for (let i = 0; i < 3; i++) a.add(b);
        a.mul(b);
      }),
    );
    const rows = byName(r);
    expect(rows.get('aten::add')?.count).toBe(3);
    expect(rows.get('aten::mul')?.count).toBe(1);
    expect(rows.has('aten::mm')).toBe(false);
  });

  it('splits nested time into self and total, and never counts more time than passed', () => {
    const x = torch.randn([128, 128]);
    const t0 = process.hrtime.bigint();
    const r = torch.profiler.profile(() => torch.scope(() => void x.matmul(x).matmul(x)));
    const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
    x.dispose();
    const rows = byName(r);
    const matmul = rows.get('aten::matmul')!;
    const mm = rows.get('aten::mm')!;
    expect(matmul.count).toBe(2);
    expect(mm.count).toBe(2);
    // aten::matmul calls aten::mm: the mm time is inside matmul's total and outside its self time
    expect(matmul.cpuTimeTotal).toBeGreaterThanOrEqual(mm.cpuTimeTotal);
    expect(matmul.selfCpuTimeTotal).toBeLessThanOrEqual(matmul.cpuTimeTotal - mm.cpuTimeTotal + 1e-3);
    expect(mm.selfCpuTimeTotal).toBeGreaterThan(0);
    for (const e of rows.values()) expect(e.selfCpuTimeTotal).toBeLessThanOrEqual(e.cpuTimeTotal);
    expect(r.selfCpuTimeTotal).toBeGreaterThan(0);
    expect(r.selfCpuTimeTotal).toBeLessThanOrEqual(wallUs);
  });

  it('reports the autograd nodes that backward() runs', () => {
    const w = torch.randn([16, 16], { requiresGrad: true });
    const r = torch.profiler.profile(() => torch.scope(() => a.matmul(w).relu().sum().backward()));
    w.grad?.dispose();
    const node = byName(r).get('MmBackward0');
    expect(node?.count).toBe(1);
    expect(node?.isBackward).toBe(true);
    expect(byName(r).get('aten::mm')?.isBackward).toBe(false);
    w.dispose();
  });

  it('counts only what runs while it is active', () => {
    torch.profiler.profile(() => torch.scope(() => void a.add(b)));
    torch.scope(() => void a.sub(b));
    const r = torch.profiler.profile(() => torch.scope(() => void a.neg()));
    expect([...byName(r).keys()].filter((n) => n.startsWith('aten::'))).toEqual(['aten::neg']);
  });

  it('profiles an async function until its promise settles', async () => {
    const r = await torch.profiler.profile(async () => {
      await Promise.resolve();
      torch.scope(() => void a.div(b));
    });
    expect(byName(r).get('aten::div')?.count).toBe(1);
  });

  it('allows one profile at a time, and stops when the function throws', () => {
    const outer = new torch.profiler.Profiler();
    outer.start();
    expect(() => torch.profiler.profile(() => null)).toThrow(torch.ValueError);
    expect(() => outer.start()).toThrow(/already running/);
    outer.stop();
    expect(() => outer.stop()).toThrow(/not running/);
    expect(() =>
      torch.profiler.profile(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    // the failed profile was stopped: a new one starts
    expect(byName(torch.profiler.profile(() => torch.scope(() => void a.add(b)))).get('aten::add')?.count).toBe(1);
  });

  it('prints a table sorted by self time, with calls and shares', () => {
    const r = torch.profiler.profile(() => torch.scope(() => void torch.randn([64, 64]).matmul(torch.randn([64, 64]))));
    const lines = r.table({ rowLimit: 3 }).split('\n');
    expect(lines[0]).toMatch(/^Name\s+Self CPU\s+Self CPU %\s+CPU total\s+Calls\s+Self CPU avg$/);
    expect(lines).toHaveLength(4);
    const sorted = r.keyAverages();
    expect(lines[1].startsWith(sorted[0].name)).toBe(true);
    for (let i = 1; i < sorted.length; i++)
      expect(sorted[i - 1].selfCpuTimeTotal).toBeGreaterThanOrEqual(sorted[i].selfCpuTimeTotal);
    expect(r.keyAverages('count')[0].count).toBe(Math.max(...sorted.map((e) => e.count)));
  });

  it('leaves no tensor behind', () => {
    const before = torch.liveTensors().length;
    torch.profiler.profile(() => torch.scope(() => void a.add(b)));
    expect(torch.liveTensors().length).toBe(before);
  });
});

describeWithPython('torch.profiler against PyTorch', () => {
  it('sees the same operator calls as torch.profiler for the same program', () => {
    // (not aten::sum: our x.sum() takes the overload that redispatches to sum.dim_IntList, two events)
    const names = ['aten::mm', 'aten::relu', 'MmBackward0', 'ReluBackward0', 'aten::threshold_backward'];
    const x = torch.randn([8, 32]);
    const w = torch.randn([32, 16], { requiresGrad: true });
    const ours = byName(
      torch.profiler.profile(() =>
        torch.scope(() => {
          for (let i = 0; i < 2; i++) x.matmul(w).relu().sum().backward();
        }),
      ),
    );
    const theirs = runPython<Record<string, number>>(
      `
import torch
from torch.profiler import profile, ProfilerActivity
x = torch.randn(8, 32); w = torch.randn(32, 16, requires_grad=True)
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(2): x.matmul(w).relu().sum().backward()
counts = {e.key: e.count for e in prof.key_averages()}
emit({n: counts.get(n, 0) for n in INPUT})
`,
      names,
    );
    x.dispose();
    w.grad?.dispose();
    w.dispose();
    for (const n of names) expect([n, ours.get(n)?.count ?? 0]).toEqual([n, theirs[n]]);
    expect(theirs['aten::mm']).toBe(4); // two forward products and two for w's gradient: the comparison is not vacuous
  });
});
