// Child process of argument-safety.test.ts: runs one scenario in which JavaScript runs while native
// code converts the arguments of a call. A use-after-free there kills this process (SIGSEGV) instead
// of the test runner. Prints one JSON line: { ok: true, ... } or { ok: false, name, message }.
import * as torch from '../../src/torch';
import { native } from '../../src/torch/native';

const scenario = process.argv[2];

/**
 * An array whose element 0 runs `onRead` from read `fromRead` on (the typed layer's overload check
 * reads it once before native code does).
 */
function arrayWithGetter(value: number, onRead: () => void, fromRead = 2): number[] {
  const arr: number[] = [0];
  let reads = 0;
  Object.defineProperty(arr, 0, {
    get() {
      if (++reads >= fromRead) onRead();
      return value;
    },
  });
  return arr;
}

function run(): Record<string, unknown> {
  switch (scenario) {
    case 'shape-getter-creates-tensors': {
      // Grow the handle table to a large capacity and free it again, so that the next growth moves
      // its storage (a large block: unmapped when freed).
      torch.scope(() => {
        for (let i = 0; i < 150_000; i++) torch.empty([0]);
      });
      const x = torch.arange(6, { dtype: 'float32' });
      const made: torch.Tensor[] = [];
      const shape = arrayWithGetter(6, () => {
        for (let i = 0; i < 400_000; i++) made.push(torch.empty([0]));
      });
      const v = x.view(shape);
      const values = v.tolist();
      for (const t of made) t.dispose();
      return { values };
    }
    case 'shape-getter-disposes-input': {
      const x = torch.arange(6, { dtype: 'float32' });
      const shape = arrayWithGetter(6, () => x.dispose());
      try {
        const v = x.view(shape);
        return { values: v.tolist() };
      } catch (e) {
        return { error: (e as Error).name };
      }
    }
    case 'shape-getter-detaches-buffer': {
      // 64 MiB: large enough that freeing the buffer returns its pages to the system.
      let data: Float32Array | null = new Float32Array(16 << 20).fill(1);
      const shape = arrayWithGetter(
        16 << 20,
        () => {
          structuredClone(data!.buffer, { transfer: [data!.buffer as ArrayBuffer] });
          data = null;
          (globalThis as { gc?: () => void }).gc?.();
        },
        1,
      );
      try {
        const t = native.fromBytes(data, 'float32', shape);
        return { made: typeof t };
      } catch (e) {
        return { error: (e as Error).name, message: (e as Error).message };
      }
    }
    case 'stale-handle-after-slot-reuse': {
      // A handle kept after dispose must not reach the tensor that later reuses its slot, however
      // often the slot was reused in between.
      const first = torch.zeros([3]);
      const stale = first._h;
      first.dispose();
      // The slot is reused LIFO: 1 + 2047 = 2^11 releases bring a 9-, 10- or 11-bit generation back round.
      for (let i = 0; i < 2047; i++) torch.zeros([1]).dispose();
      const later = torch.ones([5]);
      let shape: unknown;
      try {
        shape = native.shape(stale);
      } catch (e) {
        shape = (e as Error).name;
      }
      later.dispose();
      return { shape };
    }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

console.log(JSON.stringify({ ok: true, ...run() }));
