// Process-wide controls: seeding, threads, version information and CUDA presence.
import '../helpers/one-thread';
import * as torch from '../../src/torch';
import { describeWithPython, runPython } from '../helpers/python';
import { flatValues, mismatch } from '../helpers/torch-python';

describe('manualSeed', () => {
  test('the same seed gives the same numbers, another seed others', () =>
    torch.scope(() => {
      const draw = (seed: number) => {
        torch.manualSeed(seed);
        return [torch.rand([4]), torch.randn([3]), torch.randint(0, 1000, [5]), torch.multinomial(torch.ones([10]), 3)].map(
          flatValues,
        );
      };
      expect(draw(123)).toEqual(draw(123));
      expect(draw(124)).not.toEqual(draw(123));
      torch.manualSeed((2n ** 40n) as never); // seeds are 64-bit
    }));

  test('rejects what is not an integer seed', () => {
    expect(() => torch.manualSeed(NaN)).toThrow(expect.objectContaining({ name: 'TypeError' }));
    expect(() => torch.manualSeed(1.5)).toThrow(/expected an integer, got 1.5/);
  });
});

describeWithPython('seeding and version match the project Python', () => {
  let python: { version: string; draws: unknown[] };
  beforeAll(() => {
    python = runPython(
      'import torch\ntorch.manual_seed(42)\n' +
        'emit({"version": torch.__version__, "draws": [torch.rand(5), torch.randn(4, dtype=torch.float64), torch.randint(0, 100, (6,)), torch.randperm(7)]})',
    );
  });

  test('rand, randn, randint and randperm after manual_seed(42) are the same numbers as in Python', () =>
    torch.scope(() => {
      torch.manualSeed(42);
      const ours = [torch.rand([5]), torch.randn([4], { dtype: 'float64' }), torch.randint(0, 100, [6]), torch.randperm(7)];
      expect(mismatch(ours, python.draws, { atol: 0, rtol: 0 })).toBeNull();
    }));

  test('libtorch version is Python torch.__version__ without its local suffix', () => {
    expect(torch.version().libtorch).toBe(python.version.split('+')[0]);
  });
});

describe('threads', () => {
  test('setNumThreads / getNumThreads', () => {
    const original = torch.getNumThreads();
    expect(original).toBeGreaterThanOrEqual(1);
    try {
      torch.setNumThreads(1);
      expect(torch.getNumThreads()).toBe(1);
      torch.setNumThreads(2);
      expect(torch.getNumThreads()).toBe(2);
      // results do not depend on the thread count
      torch.scope(() => {
        torch.manualSeed(1);
        const x = torch.randn([256, 256]);
        torch.setNumThreads(1);
        const one = x.matmul(x).sum().item();
        torch.setNumThreads(2);
        expect(x.matmul(x).sum().item()).toBeCloseTo(one, 0);
      });
      expect(() => torch.setNumThreads(0)).toThrow(/setNumThreads needs a positive count/);
    } finally {
      torch.setNumThreads(original);
    }
  });
});

describe('version', () => {
  test('describes the libtorch build', () => {
    const v = torch.version();
    expect(v.libtorch).toMatch(/^\d+\.\d+\.\d+/);
    for (const flag of [v.mkl, v.mkldnn, v.openmp, v.lapack, v.addonCuda]) expect(typeof flag).toBe('boolean');
    expect(v.parallel).toMatch(/ATen\/Parallel/);
    expect(v.config).toMatch(/PyTorch built with/);
    // CUDA runtime version exactly when libtorch has CUDA
    if (v.cuda !== null) expect(v.cuda).toMatch(/^\d+\.\d+$/);
    if (!v.addonCuda) expect(torch.cuda.isAvailable()).toBe(false);
  });
});

const hasCuda = torch.cuda.isAvailable();

describe('CUDA', () => {
  (hasCuda ? test.skip : test)('without a usable GPU: unavailable, with a reason', () => {
    expect(torch.cuda.isAvailable()).toBe(false);
    expect(torch.cuda.deviceCount()).toBe(0);
    const reason = torch.cuda.unavailableReason();
    expect(typeof reason).toBe('string');
    expect(reason!.length).toBeGreaterThan(10);
    expect(() => torch.cuda.synchronize()).toThrow(expect.objectContaining({ name: 'CudaUnavailableError' }));
    expect(() => torch.cuda.memoryStats()).toThrow(expect.objectContaining({ name: 'CudaUnavailableError' }));
    expect(() => torch.cuda.emptyCache()).not.toThrow();
  });

  (hasCuda ? test.skip : test)('making a CUDA tensor throws CudaUnavailableError, not a crash', () => {
    const reason = torch.cuda.unavailableReason()!;
    const attempts: [string, () => unknown][] = [
      ['factory', () => torch.zeros([2], { device: 'cuda' })],
      ['factory on a numbered device', () => torch.ones([2], { device: 'cuda:1' })],
      ['torch.tensor', () => torch.tensor([1, 2], { device: 'cuda' })],
      ['Tensor.cuda()', () => torch.ones([2]).cuda()],
      ['Tensor.to', () => torch.ones([2]).to('cuda:0')],
      ['*Like', () => torch.zerosLike(torch.ones([2]), { device: 'cuda' })],
    ];
    for (const [what, attempt] of attempts) {
      let caught: unknown;
      try {
        torch.scope(attempt);
      } catch (e) {
        caught = e;
      }
      expect([what, caught instanceof torch.CudaUnavailableError]).toEqual([what, true]);
      const message = (caught as Error).message;
      expect(message).toContain('CUDA is not available');
      expect(message).toContain(reason);
      expect(message.length).toBeLessThan(1000); // not the dispatcher's table of backends
    }
  });

  (hasCuda ? test : test.skip)('with a GPU: tensors move there and back', () =>
    torch.scope(() => {
      const x = torch.arange(6, { dtype: 'float32' }).reshape([2, 3]);
      const g = x.cuda();
      expect(g.device).toBe('cuda:0');
      expect(g.isCuda).toBe(true);
      expect(g.mul(2).cpu().tolist()).toEqual([
        [0, 2, 4],
        [6, 8, 10],
      ]);
      torch.cuda.synchronize();
      expect(torch.cuda.unavailableReason()).toBeNull();
    }),
  );
});

describe('getRngState / setRngState', () => {
  test('restoring a saved state replays the same draws; the state is a uint8 vector', () => {
    torch.manualSeed(3);
    torch.scope(() => torch.rand([5]));
    const state = torch.getRngState();
    try {
      expect(state.dtype).toBe('uint8');
      expect(state.dim()).toBe(1);
      const first = torch.scope(() => torch.randn([7]).tolist() as number[]);
      const other = torch.scope(() => torch.randn([7]).tolist() as number[]);
      expect(other).not.toEqual(first);
      torch.setRngState(state);
      expect(torch.scope(() => torch.randn([7]).tolist() as number[])).toEqual(first);
    } finally {
      state.dispose();
    }
  });

  test('a state of the wrong kind is a type error', () => {
    torch.scope(() => {
      expect(() => torch.setRngState(torch.zeros([4]))).toThrow(/1-D uint8 tensor/);
    });
  });
});
