// The CPU caching allocator (native/cpu_allocator.cc, torch.cpu): large blocks freed by one tensor are
// reused by the next of the same size class, values stay right, the cap holds, and caching can be off.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import * as torch from '../../src/torch';
import { runTsChild } from '../train/ts-child';

const MiB = 2 ** 20;

describe('torch.cpu caching allocator', () => {
  beforeEach(() => torch.cpu.emptyCache());

  it('reuses the block a freed large tensor held for the next tensor of the same size class', () => {
    const before = torch.cpu.cacheStats();
    torch.scope(() => void torch.ones([(4 * MiB) / 4]));
    const freed = torch.cpu.cacheStats();
    expect(freed.misses).toBe(before.misses + 1);
    expect(freed.cachedBytes).toBe(4 * MiB);
    // A slightly smaller request rounds up to the same 2 MiB class and gets the cached block.
    const sum = torch.scope(() =>
      torch
        .full([(4 * MiB) / 4 - 1000], 2, { dtype: 'float32' })
        .sum()
        .item(),
    );
    expect(sum).toBe(2 * ((4 * MiB) / 4 - 1000));
    const reused = torch.cpu.cacheStats();
    expect(reused.hits).toBe(freed.hits + 1);
    expect(reused.misses).toBe(freed.misses);
    expect(torch.cpu.emptyCache()).toBe(4 * MiB);
    expect(torch.cpu.cacheStats().cachedBytes).toBe(0);
  });

  it('leaves small tensors to the default allocator', () => {
    const before = torch.cpu.cacheStats();
    torch.scope(() => {
      for (let i = 0; i < 10; i++) torch.ones([1000]).add(1);
    });
    const after = torch.cpu.cacheStats();
    expect([after.hits, after.misses, after.cachedBytes]).toEqual([before.hits, before.misses, 0]);
  });

  it('gives the right values from reused blocks in a loop, and stays flat: after the first step every block is a reuse', () => {
    const step = (k: number) =>
      torch.scope(() => {
        const a = torch.arange(0, 600_000, { dtype: 'float32' }); // 2.4 MB: the 4 MiB class
        const b = a.mul(2).add(k);
        expect(b.select(0, 123_456).item()).toBe(2 * 123_456 + k);
      });
    step(0);
    const first = torch.cpu.cacheStats();
    expect(first.cachedBytes).toBe(3 * 4 * MiB); // a, the product, the sum
    for (let k = 1; k < 5; k++) step(k);
    const last = torch.cpu.cacheStats();
    expect(last.misses).toBe(first.misses);
    expect(last.hits).toBe(first.hits + 4 * 3);
    expect(last.cachedBytes).toBe(first.cachedBytes);
    expect(last.limitBytes).toBe(4096 * MiB);
  });

  it('holds at most a quarter more than the program had live at its peak: sizes that change evict the classes not asked for', () => {
    // A fresh process (cpu-cache.child.ts): the peak is process-wide, and earlier tests in this worker raise it.
    const r = runTsChild(join(__dirname, 'cpu-cache.child.ts'), ['eviction']);
    expect(r.status).toBe(0);
    const { afterSizes, withKept } = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
      afterSizes: number;
      withKept: number;
    };
    // One tensor live at a time: the cache holds at most the largest class (14 MiB), not all five.
    expect(afterSizes).toBeLessThanOrEqual(14 * MiB);
    expect(withKept).toBeLessThanOrEqual(14 * MiB);
  });

  it('keeps the blocks a repeated step frees and needs again, within the quarter above the peak', () => {
    // Without the margin, the 2 MiB request evicted the cached 8 MiB block (10 MiB > the 8 MiB peak)
    // and the next step's 8 MiB request evicted the 2 MiB one: two misses a step, each a fresh block.
    const r = runTsChild(join(__dirname, 'cpu-cache.child.ts'), ['recurring']);
    expect(r.status).toBe(0);
    const { missesAfterFirstStep, cachedBytes } = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
      missesAfterFirstStep: number;
      cachedBytes: number;
    };
    expect(missesAfterFirstStep).toBe(0);
    expect(cachedBytes).toBe(10 * MiB);
  });

  it('is off with LT_CPU_CACHE_MB=0 and capped by it otherwise', () => {
    const addon = join(__dirname, '..', '..', 'build', 'Release', 'latent_tokens.node');
    const limit = (value: string) => {
      const r = spawnSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(addon)}).cpuCacheStats()[3])`], {
        encoding: 'utf8',
        env: { ...process.env, LT_CPU_CACHE_MB: value },
      });
      expect(r.status).toBe(0);
      return Number(r.stdout.trim());
    };
    expect(limit('0')).toBe(0);
    expect(limit('64')).toBe(64 * MiB);
  });
});
