// Every failure surfaces as a TorchError subclass with PyTorch's exception type and a message that
// names the operator and its tensor arguments.
import '../helpers/one-thread';
import * as torch from '../../src/torch';
import type { Tensor } from '../../src/torch';
import { native } from '../../src/torch/native';
import { describeWithPython } from '../helpers/python';
import { encodeTensor, evalTorch, type PyResults } from '../helpers/torch-python';

/** Runs fn and returns the TorchError it throws (failing if it returns or throws anything else). */
function torchError(fn: () => unknown): torch.TorchError {
  let result: unknown;
  try {
    result = torch.scope(fn);
  } catch (e) {
    if (e instanceof torch.TorchError) return e;
    throw new Error(`expected a TorchError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
  }
  throw new Error(`expected a TorchError, but the call returned ${String(result)}`);
}

let a: Tensor;
beforeAll(() => {
  torch.manualSeed(5);
  a = torch.keep(torch.randn([2, 3]));
});
afterAll(() => a.dispose());

describeWithPython('error types match PyTorch', () => {
  // [name, JS call, the same call in Python]
  const cases: [string, () => unknown, string][] = [
    ['broadcast shape mismatch', () => torch.add(a, torch.ones([4])), 'a + torch.ones(4)'],
    ['matmul shape mismatch', () => torch.matmul(a, a), 'a @ a'],
    ['cat size mismatch', () => torch.cat([a, torch.ones([2, 4])]), 'torch.cat([a, torch.ones(2, 4)])'],
    ['invalid reshape', () => a.reshape([5]), 'a.reshape(5)'],
    ['view of a strided tensor', () => a.t().view([6]), 'a.t().view(6)'],
    ['item of many elements', () => a.item(), 'a.item()'],
    ['select index out of range', () => a.select(0, 5), 'a.select(0, 5)'],
    ['dimension out of range', () => a.sum(5), 'a.sum(5)'],
    ['unsqueeze dimension out of range', () => a.unsqueeze(4), 'a.unsqueeze(4)'],
    [
      'indexSelect index out of range',
      () => torch.indexSelect(a, 0, torch.tensor([7])),
      'torch.index_select(a, 0, torch.tensor([7]))',
    ],
    [
      'gather index out of bounds',
      () =>
        torch.gather(
          a,
          1,
          torch.tensor([
            [0, 5, 0],
            [0, 0, 0],
          ]),
        ),
      'torch.gather(a, 1, torch.tensor([[0, 5, 0], [0, 0, 0]]))',
    ],
    ['embedding index out of range', () => torch.embedding(a, torch.tensor([5])), 'F.embedding(torch.tensor([5]), a)'],
    [
      'cross-entropy target out of bounds',
      () => torch.crossEntropyLoss(a, torch.tensor([1, 9])),
      'F.cross_entropy(a, torch.tensor([1, 9]))',
    ],
    ['narrow past the end', () => a.narrow(1, 2, 5), 'a.narrow(1, 2, 5)'],
    ['topk k too large', () => a.topk(5), 'a.topk(5)'],
    [
      'negative multinomial weights',
      () => torch.multinomial(torch.tensor([-1, 1], { dtype: 'float32' }), 1),
      'torch.multinomial(torch.tensor([-1.0, 1.0]), 1)',
    ],
    ['in-place result type', () => torch.tensor([1, 2]).add_(0.5), 'torch.tensor([1, 2]).add_(0.5)'],
    [
      'cholesky of a non-positive-definite matrix',
      () => torch.linalgCholesky(torch.eye(2).neg()),
      'torch.linalg.cholesky(-torch.eye(2))',
    ],
    ['wrong argument type', () => torch.add(a, 'x' as unknown as Tensor), "torch.add(a, 'x')"],
    ['too many arguments', () => (torch.relu as (...args: unknown[]) => Tensor)(a, a), 'torch.relu(a, a)'],
    ['missing argument', () => (torch.add as (...args: unknown[]) => Tensor)(a), 'torch.add(a)'],
  ];
  let python: PyResults;
  beforeAll(() => {
    python = evalTorch(Object.fromEntries(cases.map(([name, , py]) => [name, py])), { a: encodeTensor(a) });
  });

  test.each(cases)('%s', (name, js) => {
    const raised = python.error(name);
    if (!raised) throw new Error(`Python did not raise for: ${name}`);
    const err = torchError(js);
    // torch.linalg.LinAlgError is torch._C._LinAlgError in Python
    expect(err.name).toBe(raised.error.replace(/^_/, ''));
    // libtorch's own message comes through first (Python may prefix the function name for argument errors)
    if (err.name !== 'TypeError') expect(err.message.split('\n')[0]).toBe(raised.message.split('\n')[0]);
  });
});

describe('argument errors', () => {
  test('a wrong type lists the accepted signatures', () => {
    const err = torchError(() => torch.add(a, 'x' as unknown as Tensor));
    expect(err).toBeInstanceOf(torch.TorchTypeError);
    expect(err.name).toBe('TypeError');
    expect(err.message).toContain(
      'add() received an invalid combination of arguments: (Tensor(shape=[2,3], dtype=float32, device=cpu), "x")',
    );
    expect(err.message).toContain('add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor');
    expect(err.message).toContain('add.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor');
  });

  test('wrong argument counts', () => {
    const call = torch.relu as (...args: unknown[]) => Tensor;
    expect(torchError(() => call()).message).toMatch(/relu\(\) received an invalid combination of arguments: \(\)/);
    expect(torchError(() => call(a, a)).name).toBe('TypeError');
    const boxed = torch.ops('aten::relu');
    expect(torchError(() => boxed(a, a, a)).message).toMatch(/^aten::relu takes 1 arguments but 3 were given/);
  });

  test('an unknown option is reported with the options given', () => {
    const err = torchError(() => a.sum({ dimension: 1 } as never));
    expect(err.name).toBe('TypeError');
    expect(err.message).toContain('{dimension: 1}');
  });

  test('a wrong element in a tensor list names the argument', () => {
    const err = torchError(() => torch.cat([a, 3 as unknown as Tensor]));
    expect(err.name).toBe('TypeError');
    expect(err.message).toMatch(/^cat\(\): argument 'tensors' must be a list of Tensors, got 3 at index 1/);
    expect(torchError(() => torch.cat([a, undefined as unknown as Tensor])).name).toBe('TypeError');
  });

  test('torch.ops never takes a number for a tensor (handles are numbers natively)', () => {
    const relu = torch.ops('aten::relu');
    const err = torchError(() => relu(a._h));
    expect(err.name).toBe('TypeError');
    expect(err.message).toMatch(/^aten::relu: argument 'self' must be a Tensor, got \d+/);
    expect(torchError(() => torch.ops('aten::add', 'Scalar')(a, a)).message).toMatch(
      /argument 'other' must be a non-Tensor value/,
    );
    expect(torchError(() => torch.ops('aten::cat')([a, 1])).message).toMatch(/argument 'tensors' must be an array of Tensors/);
    expect(torch.ops('aten::cat')([a, a]).shape).toEqual([4, 3]);
  });

  test('shape mismatch messages name the operator and describe its tensors', () => {
    const err = torchError(() => torch.add(a, torch.ones([4])));
    expect(err).toBeInstanceOf(torch.RuntimeError);
    expect(err.message).toBe(
      'The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1\n' +
        '  in aten::add.Tensor(arg0: Tensor[[2, 3], float32, cpu], arg1: Tensor[[4], float32, cpu])',
    );
    expect(err.kind).toBe('RuntimeError');
    expect(torch.isTorchError(err)).toBe(true);
    expect(err.stack).toContain('errors.test.ts');
  });

  test('out-of-range indices raise IndexError', () => {
    const err = torchError(() => a.select(1, -4));
    expect(err).toBeInstanceOf(torch.IndexError);
    expect(err.message).toMatch(/^select\(\): index -4 out of range for tensor of size \[2, 3\] at dimension 1/);
  });

  test('fixed-length list arguments must have their length', () => {
    const pad = torch.ops('aten::reflection_pad1d_backward');
    const err = torchError(() => pad(torch.ones([1, 2, 5]), torch.ones([1, 2, 3]), []));
    expect(err.name).toBe('TypeError');
    expect(err.message).toMatch(/argument 'padding' \(SymInt\[2\]\): expected 2 integers \(or one for all\), got 0/);
    expect(torchError(() => pad(torch.ones([1, 2, 5]), torch.ones([1, 2, 3]), [1, 1, 1])).name).toBe('TypeError');
    // one number stands for all, and an empty list where it is the default (stride=[] means kernel_size)
    expect(pad(torch.ones([1, 2, 5]), torch.ones([1, 2, 3]), 1).shape).toEqual([1, 2, 3]);
    const pool = torch.ops('aten::max_pool2d');
    expect(pool(torch.ones([1, 4, 4]), [2, 2], []).shape).toEqual([1, 2, 2]);
  });
});

describe('unknown names', () => {
  test('unknown dtype strings', () => {
    const fromFactory = torchError(() => torch.zeros([2], { dtype: 'float99' as never }));
    expect(fromFactory.name).toBe('TypeError');
    expect(fromFactory.message).toMatch(/^zeros\(\): unknown dtype "float99" \(expected one of float32, float64, bfloat16/);
    expect(torchError(() => torch.tensor([1], { dtype: 'float99' as never })).message).toMatch(
      /^torch\.tensor\(\): unknown dtype "float99"/,
    );
    expect(torchError(() => torch.fromBytes(new Uint8Array(4), 'float99' as never, [1])).message).toMatch(
      /unknown dtype 'float99'/,
    );
  });

  test('unknown device strings', () => {
    const err = torchError(() => torch.zeros([2], { device: 'tpu' }));
    expect(err.name).toBe('TypeError');
    expect(err.message).toMatch(/^unknown device 'tpu' \(expected 'cpu', 'cuda' or 'cuda:N'\)/);
    expect(torchError(() => a.to('tpu:0')).message).toMatch(/unknown device 'tpu:0'/);
    expect(torchError(() => torch.tensor([1], { device: 'cpu:x' })).name).toBe('TypeError');
  });

  test('unknown operators', () => {
    const err = torchError(() => torch.ops('aten::no_such_operator'));
    expect(err.name).toBe('ValueError');
    expect(err.message).toMatch(/^no operator aten::no_such_operator in this libtorch/);
  });
});

describe('disposed tensors', () => {
  const disposed = () => {
    const t = torch.ones([2]);
    t.dispose();
    return t;
  };

  test.each([
    ['as an operator argument', () => torch.add(disposed(), a)],
    ['as the receiver of a method', () => disposed().add(1)],
    ['in a tensor list', () => torch.cat([a, disposed()])],
    ['reading its shape', () => disposed().shape],
    ['reading an element', () => disposed().item()],
    ['reading it out', () => disposed().tolist()],
    ['backward', () => disposed().backward()],
    ['as the gradient of backward', () => torch.ones([2], { requiresGrad: true }).mul(2).backward(disposed())],
    ['autograd.grad input', () => torch.autograd.grad(torch.ones([1], { requiresGrad: true }).sum(), [disposed()])],
    ['assigning it as a gradient', () => (torch.ones([2], { requiresGrad: true }).grad = disposed())],
  ])('%s raises DisposedTensorError', (_name, fn) => {
    const err = torchError(fn);
    expect(err).toBeInstanceOf(torch.DisposedTensorError);
    expect(err.name).toBe('DisposedTensorError');
    expect(err.message).toMatch(/the tensor was disposed \(its memory was released\) and cannot be used/);
  });

  test('the error message marks which argument was disposed', () => {
    expect(torchError(() => torch.cat([a, disposed()])).message).toMatch(
      /in aten::cat\(arg0: \[Tensor\[\[2, 3\], float32, cpu\], <disposed tensor>\]\)/,
    );
  });
});

describe('JS values that cannot become torch values', () => {
  test('detached ArrayBuffers are refused', () => {
    const detach = (view: ArrayBufferView) => structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });
    const f = new Float32Array([1, 2, 3, 4]);
    detach(f);
    expect(f.byteLength).toBe(0);
    const err = torchError(() => torch.fromBytes(f, 'float32', [4]));
    expect(err.name).toBe('TypeError');
    expect(err.message).toMatch(/the TypedArray's ArrayBuffer is detached \(transferred or freed\)/);
    const g = new Int32Array(2);
    detach(g);
    expect(torchError(() => torch.tensor(g)).message).toMatch(/detached|holds 0 bytes/);
    const target = torch.zeros([2]);
    const h = new Float32Array(2);
    detach(h);
    expect(torchError(() => native.copyFromBytes(target._h, h)).message).toMatch(/detached/);
    // ArrayBuffer.prototype.transfer (Node 21+) detaches too
    const transfer = (ArrayBuffer.prototype as { transfer?: () => ArrayBuffer }).transfer;
    if (transfer) {
      const k = new Float64Array(1);
      transfer.call(k.buffer);
      expect(torchError(() => torch.fromBytes(k, 'float64', [1])).name).toBe('TypeError');
    }
  });

  test.each([
    ['NaN as a dimension', () => a.sum(NaN)],
    ['NaN as an index', () => a.select(0, NaN)],
    ['NaN in a shape', () => torch.zeros([2, NaN])],
    ['Infinity as a length', () => a.narrow(0, 0, Infinity)],
    ['a fraction as an index', () => a.select(0, 0.5)],
  ])('%s is a TypeError', (_name, fn) => {
    const err = torchError(fn);
    expect(err.name).toBe('TypeError');
    expect(err.message).toMatch(/expected an integer, got (nan|inf|0\.5)/);
  });

  test('BigInt beyond int64 is refused; within int64 is accepted', () => {
    expect(torchError(() => a.select(0, (2n ** 70n) as never)).message).toMatch(/^integer out of the int64 range/);
    expect(torchError(() => a.add((2n ** 64n) as never)).message).toMatch(/^integer out of the int64 range/);
    expect(torchError(() => torch.full([1], (-(2n ** 63n) - 1n) as never)).name).toBe('TypeError');
    expect(a.select(0, 1n as never).shape).toEqual([3]);
    expect(torch.full([1], (2n ** 62n) as never).toTypedArray()).toEqual(new BigInt64Array([2n ** 62n]));
  });

  test('integers beyond 2^53 must be BigInts', () => {
    expect(torchError(() => a.select(0, 2 ** 60)).message).toMatch(
      /integer beyond 2\^53 cannot be passed as a JS number; use a BigInt/,
    );
  });
});
