// Deterministic tensor lifetime: dispose, scopes, keep, `using`, and no growth over long loops.
import '../helpers/one-thread';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'path';
import * as torch from '../../src/torch';
import type { Tensor } from '../../src/torch';
import { runTsChild } from '../train/ts-child';

const live = () => torch.memory().liveTensors;

/** Asserts that fn leaves the live-tensor count where it found it. */
function expectNoLeak(fn: () => void): void {
  const before = live();
  fn();
  expect(live()).toBe(before);
}

describe('dispose', () => {
  test('frees at once and is idempotent', () => {
    const before = live();
    const t = torch.ones([4]);
    expect(live()).toBe(before + 1);
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(live()).toBe(before);
    t.dispose();
    t[Symbol.dispose]();
    expect(live()).toBe(before);
  });

  test('using a disposed tensor raises DisposedTensorError', () => {
    const t = torch.ones([2]);
    t.dispose();
    expect(() => t.add(1)).toThrow(expect.objectContaining({ name: 'DisposedTensorError' }));
    expect(() => t.shape).toThrow(/the tensor was disposed/);
  });

  test('disposing a view leaves the base intact, and the other way round', () => {
    const base = torch.arange(6);
    const view = base.view([2, 3]);
    view.dispose();
    expect(base.tolist()).toEqual([0, 1, 2, 3, 4, 5]);
    const second = base.narrow(0, 1, 2);
    base.dispose();
    expect(second.tolist()).toEqual([1, 2]); // the storage lives while any tensor uses it
    second.dispose();
  });

  test('memory() counts bytes per device, each storage once', () => {
    const cpu = () => torch.memory().devices.cpu ?? { tensors: 0, bytes: 0 };
    const before = cpu();
    const t = torch.zeros([1000]);
    const v = t.view([10, 100]);
    expect(cpu().tensors).toBe(before.tensors + 2);
    expect(cpu().bytes).toBe(before.bytes + 4000);
    t.dispose();
    v.dispose();
    expect(cpu()).toEqual(before);
  });
});

describe('scope', () => {
  test('frees everything made inside except what it returns', () => {
    const before = live();
    const made: Tensor[] = [];
    const result = torch.scope(() => {
      const a = torch.ones([3]);
      const b = a.mul(2);
      const c = b.add(a);
      made.push(a, b, c);
      return c;
    });
    expect(live()).toBe(before + 1);
    expect(made.map((t) => t.isDisposed)).toEqual([true, true, false]);
    expect(result.tolist()).toEqual([3, 3, 3]);
    result.dispose();
    expect(live()).toBe(before);
  });

  test('returned arrays, objects, Maps and Sets keep their tensors', () =>
    expectNoLeak(() => {
      const made: Tensor[] = [];
      const out = torch.scope(() => {
        const mk = (v: number) => {
          const t = torch.full([1], v);
          made.push(t);
          return t;
        };
        mk(0); // dropped
        return { list: [mk(1), mk(2)], nested: { deep: mk(3) }, map: new Map([['m', mk(4)]]), set: new Set([mk(5)]), n: 7 };
      });
      expect(made[0].isDisposed).toBe(true);
      expect(made.slice(1).every((t) => !t.isDisposed)).toBe(true);
      expect([
        out.list[0].item(),
        out.list[1].item(),
        out.nested.deep.item(),
        out.map.get('m')!.item(),
        [...out.set][0].item(),
        out.n,
      ]).toEqual([1, 2, 3, 4, 5, 7]);
      made.forEach((t) => t.dispose());
    }));

  test('nested scopes hand returned tensors to the enclosing scope', () =>
    expectNoLeak(() => {
      let fromInner: Tensor | undefined;
      let innerTemp: Tensor | undefined;
      const outer = torch.scope(() => {
        fromInner = torch.scope(() => {
          innerTemp = torch.ones([2]);
          return innerTemp.add(1);
        });
        expect(innerTemp!.isDisposed).toBe(true);
        expect(fromInner.isDisposed).toBe(false);
        return fromInner.mul(3);
      });
      // the outer scope did not return fromInner, so it went with the outer scope
      expect(fromInner!.isDisposed).toBe(true);
      expect(outer.tolist()).toEqual([6, 6]);
      outer.dispose();
    }));

  test('keep exempts a tensor from every scope', () => {
    const before = live();
    let kept: Tensor | undefined;
    torch.scope(() =>
      torch.scope(() => {
        kept = torch.keep(torch.ones([2]));
        torch.ones([2]);
      }),
    );
    expect(kept!.isDisposed).toBe(false);
    expect(live()).toBe(before + 1);
    kept!.dispose();
    expect(live()).toBe(before);
  });

  test('an exception frees the scope and propagates', () =>
    expectNoLeak(() => {
      let temp: Tensor | undefined;
      expect(() =>
        torch.scope(() => {
          temp = torch.ones([2]);
          torch.scope(() => {
            torch.ones([3]);
            throw new Error('boom');
          });
        }),
      ).toThrow('boom');
      expect(temp!.isDisposed).toBe(true);
      // the scope stack is whole again: a new scope works as usual
      const t = torch.scope(() => torch.zeros([1]));
      expect(t.isDisposed).toBe(false);
      t.dispose();
    }));

  test('async scopes end when the promise settles', async () => {
    const before = live();
    let early: Tensor | undefined;
    const result = await torch.scope(async () => {
      early = torch.ones([2]);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(early.isDisposed).toBe(false); // still inside the scope
      return early.add(1);
    });
    expect(early!.isDisposed).toBe(true);
    expect(result.tolist()).toEqual([2, 2]);
    result.dispose();
    expect(live()).toBe(before);
    await expect(
      torch.scope(async () => {
        torch.ones([1]);
        throw new Error('async boom');
      }),
    ).rejects.toThrow('async boom');
    expect(live()).toBe(before);
  });
});

describe('using', () => {
  test('scopeGuard frees on block exit except what it keeps', () =>
    expectNoLeak(() => {
      let temp: Tensor | undefined;
      let kept: Tensor | undefined;
      {
        using guard = torch.scopeGuard();
        temp = torch.ones([2]);
        kept = guard.keep(temp.add(1));
      }
      expect(temp.isDisposed).toBe(true);
      expect(kept.tolist()).toEqual([2, 2]);
      kept.dispose();
    }));

  test('scopeGuard inside a scope hands kept tensors to that scope', () =>
    expectNoLeak(() => {
      let kept: Tensor | undefined;
      const out = torch.scope(() => {
        {
          using guard = torch.scopeGuard();
          kept = guard.keep(torch.ones([1]));
        }
        expect(kept.isDisposed).toBe(false);
        return torch.zeros([1]);
      });
      expect(kept!.isDisposed).toBe(true);
      out.dispose();
    }));

  test('a tensor declared with using is disposed at block exit', () =>
    expectNoLeak(() => {
      let ref: Tensor | undefined;
      {
        using t = torch.ones([3]);
        ref = t;
        expect(torch.scope(() => t.sum().item())).toBe(3);
      }
      expect(ref.isDisposed).toBe(true);
    }));
});

describe('debug tracking', () => {
  test('liveTensors lists creation sites while debugging', () => {
    torch.setDebug(true);
    try {
      const t = torch.ones([2, 2]);
      const entry = torch.liveTensors().find((e) => e.handle === t._h);
      expect(entry?.description).toBe('Tensor[[2, 2], float32, cpu]');
      expect(entry?.site).toContain('memory.test.ts');
      t.dispose();
      expect(torch.liveTensors().some((e) => e.handle === t._h)).toBe(false);
    } finally {
      torch.setDebug(false);
    }
  });
});

describe('long loops do not grow', () => {
  /** global.gc when node runs with --expose-gc; else obtained by turning the flag on for a fresh context. */
  function findGc(): (() => void) | undefined {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) return exposed;
    try {
      setFlagsFromString('--expose-gc');
      return runInNewContext('gc') as () => void;
    } catch {
      return undefined;
    }
  }

  test('5,000 forward/backward steps in scopes keep the live count and RSS flat', () => {
    const gc = findGc();
    torch.manualSeed(0);
    const w = torch.keep(torch.randn([32, 32], { requiresGrad: true }));
    const b = torch.keep(torch.zeros([32], { requiresGrad: true }));
    const x = torch.keep(torch.randn([16, 32]));
    const step = () =>
      torch.scope(() => {
        const loss = x.matmul(w).add(b).relu().sum();
        loss.backward();
        const g = w.grad!;
        return g.abs().sum().item() + b.grad!.sum().item();
      });
    const liveAtStart = live();
    for (let i = 0; i < 500; i++) step(); // warm-up: allocator caches, JIT, grad buffers
    gc?.();
    const rssAfterWarmup = process.memoryUsage().rss;
    const liveAfterWarmup = live();
    let checksum = 0;
    for (let i = 0; i < 5000; i++) checksum += step();
    gc?.();
    const growth = process.memoryUsage().rss - rssAfterWarmup;
    expect(Number.isFinite(checksum)).toBe(true);
    expect(live()).toBe(liveAfterWarmup);
    expect(liveAfterWarmup).toBe(liveAtStart);
    expect(growth).toBeLessThan(8 * 1024 * 1024);
    [w, b, x].forEach((t) => t.dispose());
  });
});

describe("V8's view of tensor memory", () => {
  const scenario = (name: string) => {
    const r = runTsChild(join(__dirname, 'gc-pressure.child.ts'), [name]);
    expect(r.status).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { major: number; leftLive: number };
  };

  test('tensors scopes free are not reported to V8: 25 GiB through scopes triggers no full collection', () => {
    // Reported, they looked like external growth, and V8 ran full collections to free nothing.
    expect(scenario('scoped').major).toBeLessThanOrEqual(1);
  });

  test('tensors left to their finalizer are reported: forgotten ones are collected', () => {
    const { major, leftLive } = scenario('forgotten');
    expect(major).toBeGreaterThanOrEqual(1);
    expect(leftLive).toBeLessThan(50);
  });
});
