// Autograd: backward, accumulation, retained graphs, higher-order gradients and the grad-mode switches.
import '../helpers/one-thread';
import * as torch from '../../src/torch';
import type { Tensor } from '../../src/torch';
import { describeWithPython } from '../helpers/python';
import { encodeTensor, evalTorch, expectMatches } from '../helpers/torch-python';

const scoped = <T>(fn: () => T): T => torch.scope(fn);
const values = (t: Tensor | null) => (t === null ? null : (t.tolist() as number[]));

describe('backward', () => {
  test('computes the gradient of a scalar', () =>
    scoped(() => {
      const x = torch.tensor([1, 2, 3], { dtype: 'float32', requiresGrad: true });
      const y = x.mul(x).sum(); // d/dx sum(x^2) = 2x
      expect(y.gradFn).toBe('SumBackward0');
      expect(x.mul(x).gradFn).toBe('MulBackward0');
      expect([x.isLeaf, y.isLeaf, x.gradFn]).toEqual([true, false, null]);
      expect(x.grad).toBeNull();
      y.backward();
      expect(values(x.grad)).toEqual([2, 4, 6]);
    }));

  test('gradients accumulate until cleared', () =>
    scoped(() => {
      const x = torch.tensor([1, -1], { dtype: 'float32', requiresGrad: true });
      x.mul(3).sum().backward();
      x.mul(3).sum().backward();
      expect(values(x.grad)).toEqual([6, 6]);
      x.grad = null;
      expect(x.grad).toBeNull();
      x.mul(x).sum().backward();
      expect(values(x.grad)).toEqual([2, -2]);
      x.grad = torch.zeros([2]);
      x.sum().backward();
      expect(values(x.grad)).toEqual([1, 1]);
      expect(() => (x.grad = torch.zeros([3]))).toThrow(/assigned grad has shape \[3\] but the tensor has shape \[2\]/);
    }));

  test('a handle to .grad can be disposed without losing the gradient', () =>
    scoped(() => {
      const x = torch.ones([2], { requiresGrad: true });
      x.sum().backward();
      const g = x.grad!;
      g.dispose();
      expect(values(x.grad)).toEqual([1, 1]);
    }));

  test('non-scalar outputs take an explicit gradient', () =>
    scoped(() => {
      const x = torch.tensor([1, 2], { dtype: 'float32', requiresGrad: true });
      const y = x.mul(x);
      expect(() => y.backward()).toThrow(/grad can be implicitly created only for scalar outputs/);
      y.backward(torch.tensor([1, 10], { dtype: 'float32' }));
      expect(values(x.grad)).toEqual([2, 40]);
    }));

  test('retainGraph allows a second backward; without it the graph is freed', () =>
    scoped(() => {
      const x = torch.tensor([2], { dtype: 'float32', requiresGrad: true });
      const y = x.exp().sum();
      y.backward(null, { retainGraph: true });
      y.backward();
      expect(x.grad!.item()).toBeCloseTo(2 * Math.exp(2), 4);
      expect(() => y.backward()).toThrow(/Trying to backward through the graph a second time/);
    }));

  test('inputs restricts which leaves receive gradients', () =>
    scoped(() => {
      const a = torch.ones([1], { requiresGrad: true });
      const b = torch.ones([1], { requiresGrad: true });
      a.mul(b)
        .mul(3)
        .sum()
        .backward(null, { inputs: [b] });
      expect(a.grad).toBeNull();
      expect(values(b.grad)).toEqual([3]);
    }));

  test('torch.autograd.backward over several outputs', () =>
    scoped(() => {
      const x = torch.ones([2], { requiresGrad: true });
      torch.autograd.backward([x.mul(2).sum(), x.mul(5).sum()]);
      expect(values(x.grad)).toEqual([7, 7]);
    }));
});

describe('torch.autograd.grad', () => {
  test('first and second derivatives with createGraph', () =>
    scoped(() => {
      const x = torch.tensor([1, 2, -3], { dtype: 'float64', requiresGrad: true });
      const y = x.pow(3).sum();
      const [dy] = torch.autograd.grad(y, x, { createGraph: true });
      expect(values(dy)).toEqual([3, 12, 27]); // 3x^2
      expect(dy!.requiresGrad).toBe(true);
      const [d2y] = torch.autograd.grad(dy!.sum(), [x]);
      expect(values(d2y)).toEqual([6, 12, -18]); // 6x
      expect(x.grad).toBeNull(); // grad() does not accumulate into .grad
    }));

  test('gradOutputs weight the outputs; allowUnused gives null', () =>
    scoped(() => {
      const x = torch.tensor([1, 2], { dtype: 'float32', requiresGrad: true });
      const unused = torch.ones([2], { requiresGrad: true });
      const [gx, gu] = torch.autograd.grad([x.mul(x)], [x, unused], { gradOutputs: [torch.tensor([1, 0.5])], allowUnused: true });
      expect(values(gx)).toEqual([2, 2]);
      expect(gu).toBeNull();
      expect(() => torch.autograd.grad(x.sum(), [unused])).toThrow(/appears to not have been used in the graph/);
    }));

  test('backward with createGraph lets the gradient be differentiated', () =>
    scoped(() => {
      const x = torch.tensor([3], { dtype: 'float32', requiresGrad: true });
      x.pow(2).sum().backward(null, { createGraph: true });
      const g = x.grad!;
      expect(g.requiresGrad).toBe(true);
      const [gg] = torch.autograd.grad(g.sum(), x);
      expect(values(gg)).toEqual([2]);
      x.grad = null; // the gradient's graph references x: break the cycle, as PyTorch advises
    }));
});

describe('grad modes', () => {
  test('noGrad records nothing; enableGrad re-enables inside it', () =>
    scoped(() => {
      const x = torch.ones([2], { requiresGrad: true });
      expect(torch.isGradEnabled()).toBe(true);
      const y = torch.noGrad(() => {
        expect(torch.isGradEnabled()).toBe(false);
        const inner = torch.enableGrad(() => x.mul(2));
        expect(inner.requiresGrad).toBe(true);
        return x.mul(2);
      });
      expect(y.requiresGrad).toBe(false);
      expect(y.gradFn).toBeNull();
      expect(torch.isGradEnabled()).toBe(true);
    }));

  test('the previous mode comes back after an exception', () => {
    expect(() =>
      torch.noGrad(() => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(torch.isGradEnabled()).toBe(true);
  });

  test('noGradGuard with using', () =>
    scoped(() => {
      const x = torch.ones([1], { requiresGrad: true });
      {
        using _guard = torch.noGradGuard();
        expect(x.add(1).requiresGrad).toBe(false);
      }
      expect(x.add(1).requiresGrad).toBe(true);
    }));

  test('inferenceMode: no autograd bookkeeping, and its tensors cannot join a graph later', () =>
    scoped(() => {
      const w = torch.ones([2], { requiresGrad: true });
      const made = torch.inferenceMode(() => {
        expect(torch.isInferenceModeEnabled()).toBe(true);
        const t = w.mul(2);
        expect(t.requiresGrad).toBe(false);
        return t;
      });
      expect(torch.isInferenceModeEnabled()).toBe(false);
      expect(made.tolist()).toEqual([2, 2]);
      expect(() => made.mul(w).sum().backward()).toThrow(/Inference tensors cannot be saved for backward/);
      {
        using _guard = torch.inferenceModeGuard();
        expect(torch.isInferenceModeEnabled()).toBe(true);
      }
      expect(torch.isInferenceModeEnabled()).toBe(false);
    }));
});

describe('detach and requiresGrad_', () => {
  test('detach shares storage but leaves the graph', () =>
    scoped(() => {
      const x = torch.ones([3], { requiresGrad: true });
      const y = x.mul(2);
      const d = y.detach();
      expect([d.requiresGrad, d.gradFn, d.isLeaf]).toEqual([false, null, true]);
      d.fill_(7);
      expect(y.tolist()).toEqual([7, 7, 7]);
      const e = x.detach();
      torch.noGrad(() => e.zero_());
      expect(x.tolist()).toEqual([0, 0, 0]);
    }));

  test('requiresGrad_ on leaves; refused on results of operations', () =>
    scoped(() => {
      const x = torch.ones([2]);
      expect(x.requiresGrad).toBe(false);
      expect(x.requiresGrad_()).toBe(x);
      expect(x.requiresGrad).toBe(true);
      x.requiresGrad = false;
      expect(x.requiresGrad).toBe(false);
      const y = torch.ones([2], { requiresGrad: true }).mul(2);
      expect(() => y.requiresGrad_(false)).toThrow(/you can only change requires_grad flags of leaf variables/);
      expect(() => torch.tensor([1, 2]).requiresGrad_()).toThrow(
        /Only Tensors of floating point and complex dtype can require gradients/,
      );
    }));
});

describeWithPython('gradients match PyTorch', () => {
  test('a small network with cross-entropy: gradients of every parameter', () =>
    scoped(() => {
      torch.manualSeed(11);
      const x = torch.randn([6, 5]);
      const w1 = torch.randn([8, 5]).mul(0.5).requiresGrad_();
      const b1 = torch.randn([8]).requiresGrad_();
      const w2 = torch.randn([4, 8]).mul(0.5).requiresGrad_();
      const target = torch.tensor([0, 3, 1, 1, 2, -100]);
      const inputs = { x, w1, b1, w2, target };
      const encoded = Object.fromEntries(
        Object.entries(inputs).map(([k, t]) => [k, encodeTensor(t, { requiresGrad: t.requiresGrad })]),
      );
      const python = evalTorch(
        {
          grads: 'torch.autograd.grad(loss, [w1, b1, w2])',
          loss: 'loss',
          hess: 'torch.autograd.grad(torch.autograd.grad((w2 ** 3).sum(), w2, create_graph=True)[0].sum(), w2)',
        },
        encoded,
        'h = F.gelu(F.linear(x, w1, b1))\nloss = F.cross_entropy(F.linear(h, w2), target, label_smoothing=0.05)',
      );
      const h = torch.gelu(torch.linear(x, w1, b1));
      const loss = torch.crossEntropyLoss(torch.linear(h, w2), target, { labelSmoothing: 0.05 });
      expectMatches(loss, python.get('loss'));
      expectMatches(torch.autograd.grad(loss, [w1, b1, w2]), python.get('grads'));
      const [d1] = torch.autograd.grad(w2.pow(3).sum(), w2, { createGraph: true });
      expectMatches(torch.autograd.grad(d1!.sum(), w2), python.get('hess'));
    }));
});
