// The preconditions of native/guards.cc: malformed calls to kernels that trust their inputs throw a
// typed error through every route (typed functions, torch.ops, autograd), and well-formed calls still
// give PyTorch's results (Python's torch on the same inputs).
import './../helpers/one-thread';
import { constants as bufferConstants } from 'buffer';
import * as torch from '../../src/torch';
import { native } from '../../src/torch/native';
import { pythonUnavailableReason } from '../helpers/python';
import { encodeTensor, evalTorch, expectMatches, type PyResults } from '../helpers/torch-python';
import { SeededRandom } from '../helpers/random';

const rng = new SeededRandom(13);
const randn = (shape: number[]) =>
  torch
    .tensor(
      Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() * 2 - 1),
      { dtype: 'float32' },
    )
    .reshape(shape);
const ints = (values: torch.NestedArray, dtype: torch.DType = 'int64') => torch.tensor(values, { dtype });

function thrown(f: () => unknown): { name: string; message: string } | null {
  try {
    torch.scope(() => {
      const out = f();
      for (const t of [out].flat()) if (t instanceof torch.Tensor) void t.toDense().sum().item();
    });
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
  return null;
}

describe('malformed calls throw instead of reading out of bounds', () => {
  const x = randn([2, 4, 3]);
  const short = torch.ones([2]);
  test('nativeBatchNorm with a weight shorter than the channels: typed and through torch.ops', () => {
    for (const f of [
      () => torch.nativeBatchNorm(x, short, short, short, short, false, 0.1, 1e-5),
      () => torch.nativeBatchNorm(x, short, null, null, null, true, 0.1, 1e-5),
      () => torch.ops('aten::native_batch_norm')(x, short, short, short, short, false, 0.1, 1e-5),
      () =>
        torch.ops('native_batch_norm', 'out')(
          x,
          short,
          null,
          null,
          null,
          true,
          0.1,
          1e-5,
          torch.empty([0]),
          torch.empty([0]),
          torch.empty([0]),
        ),
      () => torch.ops('aten::_native_batch_norm_legit_no_training')(x, null, null, short, short, 0.1, 1e-5),
    ])
      expect(thrown(f)).toEqual({
        name: 'ValueError',
        message: expect.stringMatching(/must have shape \[4\] \(one entry per channel of input \[2, 4, 3\]\), got \[2\]/),
      });
    // evaluation mode needs the running statistics
    expect(thrown(() => torch.nativeBatchNorm(x, null, null, null, null, false, 0.1, 1e-5))?.message).toMatch(
      /running_mean is required when training=false/,
    );
  });

  test('embeddingDenseBackward with out-of-range indices (scaleGradByFreq and not)', () => {
    for (const freq of [true, false]) {
      expect(thrown(() => torch.embeddingDenseBackward(randn([3, 4]), ints([0, 100, -5]), 10, -1, freq))).toEqual({
        name: 'IndexError',
        message: expect.stringMatching(/indices must lie in \[0, 10\), got values from -5 to 100/),
      });
    }
    expect(thrown(() => torch.embeddingDenseBackward(randn([2, 4]), ints([0, 1, 2]), 10, -1, true))?.message).toMatch(
      /must be indices' shape \[3\] plus an embedding dimension/,
    );
  });

  test('segmentReduce refuses unsafe: true, and checks lengths and offsets itself', () => {
    expect(thrown(() => torch.segmentReduce(randn([4]), 'sum', { lengths: ints([100, 200]), unsafe: true }))?.message).toMatch(
      /unsafe=true .* is refused/,
    );
    expect(thrown(() => torch.segmentReduce(randn([4]), 'sum', { lengths: ints([1, 2]), unsafe: true }))?.name).toBe(
      'ValueError',
    );
    expect(thrown(() => torch.segmentReduce(randn([4]), 'sum', { offsets: ints([0, 9]) }))?.name).toBe('IndexError');
    expect(thrown(() => torch.segmentReduce(randn([4]), 'sum', { offsets: ints([0, 3, 2, 4]) }))?.message).toMatch(
      /never decrease/,
    );
    // the backward kernel trusts the lengths as much
    expect(
      thrown(() =>
        torch.ops('aten::_segment_reduce_backward')(randn([2]), randn([2]), randn([4]), 'sum', ints([3, 9]), null, 0, null),
      )?.name,
    ).toBe('IndexError');
  });

  test('sparseCooTensor with an out-of-range index: 2-D, and 1-D (which summed to a wrong value)', () => {
    expect(
      thrown(() =>
        torch
          .sparseCooTensor(
            ints([
              [0, 1000000],
              [0, 5],
            ]),
            torch.ones([2]),
            [2, 2],
          )
          .toDense(),
      )?.message,
    ).toMatch(/size is 2 but found index 1000000/);
    expect(
      thrown(() =>
        torch
          .sparseCooTensor(ints([[0, 7]]), torch.ones([2]), [3])
          .toDense()
          .sum(),
      )?.message,
    ).toMatch(/size is 3 but found index 7/);
    expect(thrown(() => torch.ops('aten::_sparse_coo_tensor_unsafe')(ints([[0, 7]]), torch.ones([2]), [3]))?.message).toMatch(
      /found index 7/,
    );
    expect(
      thrown(() => torch.ops('aten::_sparse_coo_tensor_with_dims_and_tensors')(1, 0, [3], ints([[-1, 0]]), torch.ones([2])))
        ?.message,
    ).toMatch(/negative/);
    // indices written after construction are checked again by toDense
    const s = torch.sparseCooTensor(ints([[0, 1]]), torch.ones([2]), [3]);
    torch.ops('aten::_indices')(s).fill_(50);
    expect(thrown(() => s.toDense())?.message).toMatch(/found index 50/);
  });

  test('an LSTM backward only takes the workspace its forward returned', () => {
    const [inp, w0, w1, b0, b1, h, c] = [
      randn([3, 2, 5]),
      randn([28, 5]),
      randn([28, 7]),
      randn([28]),
      randn([28]),
      randn([2, 7]),
      randn([2, 7]),
    ];
    const [out, hy, cy, ws] = torch.mkldnnRnnLayer(inp, w0, w1, b0, b1, h, c, false, [], 2, 7, 1, true, false, false, true);
    const backward = (workspace: torch.Tensor, hidden = 7) =>
      torch.mkldnnRnnLayerBackward(
        inp,
        w0,
        w1,
        b0,
        b1,
        h,
        c,
        out,
        hy,
        cy,
        torch.onesLike(out),
        null,
        null,
        false,
        2,
        hidden,
        1,
        true,
        true,
        false,
        [],
        false,
        workspace,
      );
    expect(thrown(() => backward(ws))).toBeNull();
    expect(thrown(() => backward(ws.clone()))?.message).toMatch(/workspace must be the one mkldnn_rnn_layer returned/);
    expect(thrown(() => backward(torch.zeros([ws.shape[0] * 2], { dtype: 'uint8' })))?.name).toBe('ValueError');
    expect(thrown(() => backward(ws, 6))?.name).toBe('ValueError');
  });

  test('reading a tensor longer than a JavaScript typed array throws OutOfMemoryError (V8 aborted the process)', () => {
    // One element past the limit; torch.empty does not touch the pages, so no memory is used.
    const n = bufferConstants.MAX_LENGTH + 1;
    let big: torch.Tensor | null = null;
    try {
      big = torch.empty([n], { dtype: 'uint8' });
    } catch (e) {
      expect((e as Error).name).toBe('OutOfMemoryError'); // a Node.js whose limit is beyond any allocation
    }
    if (big) {
      for (const read of [() => torch.toBytes(big), () => big.toTypedArray()])
        expect(thrown(read)).toEqual({
          name: 'OutOfMemoryError',
          message: expect.stringMatching(/a JavaScript typed array holds at most/),
        });
      big.dispose();
    }
  });

  test('the guarded operators are listed by the addon', () => {
    const names = (native as unknown as { guardedOperators(): string[] }).guardedOperators();
    for (const n of [
      'aten::native_batch_norm',
      'aten::native_batch_norm.out',
      'aten::embedding_dense_backward',
      'aten::segment_reduce',
      'aten::lu_unpack',
      'aten::quantized_lstm_cell',
    ])
      expect(names).toContain(n);
  });
});

const skipPython = pythonUnavailableReason();
(skipPython ? describe.skip : describe)('well-formed calls give PyTorch’s results', () => {
  const x = randn([3, 4, 5]);
  const w = randn([4]);
  const b = randn([4]);
  const grad = randn([6, 3]);
  const idx = ints([
    [1, 3, 1],
    [0, 9, 3],
  ]);
  const data = randn([2, 6]);
  const lengths = ints([
    [2, 0, 4],
    [3, 3, 0],
  ]);
  const A = randn([2, 4, 4]);
  const lstmIn = randn([5, 2, 3]).requiresGrad_(true);
  const h0 = randn([1, 2, 4]);
  const c0 = randn([1, 2, 4]);
  const params = [randn([16, 3]), randn([16, 4]), randn([16]), randn([16])];
  const pool = randn([1, 2, 6, 6]);
  let py: PyResults;
  const inputs = { x, w, b, grad, idx, data, lengths, A, lstmIn, h0, c0, params, pool };
  beforeAll(() => {
    py = evalTorch(
      {
        bn: 'torch.native_batch_norm(x, w, b, None, None, True, 0.1, 1e-5)',
        edb: 'torch.ops.aten.embedding_dense_backward(grad, idx, 10, 3, True)',
        seg: 'torch.segment_reduce(data, "sum", lengths=lengths, axis=1)',
        sparse: 'torch.sparse_coo_tensor(torch.tensor([[0, 2, 2]]), torch.tensor([1., 2., 3.]), [4]).to_dense()',
        lu: 'torch.lu_unpack(*torch.linalg.lu_factor(A))',
        lstm: 'lstm_result',
        pool: 'pool_grads',
        bnModes: 'bn_grads',
      },
      Object.fromEntries(
        Object.entries(inputs).map(([k, v]) => [
          k,
          Array.isArray(v) ? v.map((t) => encodeTensor(t)) : encodeTensor(v, { requiresGrad: k === 'lstmIn' }),
        ]),
      ),
      String.raw`
lstm_result = []
for batch_first in (False, True):
    xi = (lstmIn.transpose(0, 1) if batch_first else lstmIn).detach().requires_grad_(True)
    out = torch.lstm(xi, [h0, c0], params, True, 1, 0.0, True, False, batch_first)
    out[0].sum().backward()
    lstm_result += [out[0].detach(), out[1], out[2], xi.grad]
pool_grads = []
for f in (lambda t: F.max_pool2d(t, 2, return_indices=True)[0], lambda t: F.adaptive_max_pool2d(t, 3, return_indices=True)[0]):
    p = pool.clone().requires_grad_(True)
    f(p).pow(2).sum().backward()
    pool_grads.append(p.grad)
bn_grads = []
for rm, rv, training in ((None, None, True), (torch.zeros(4), torch.ones(4), True), (torch.zeros(4), torch.ones(4), False)):
    xi = x.clone().requires_grad_(True)
    wi = w.clone().requires_grad_(True)
    torch.batch_norm(xi, wi, b, rm, rv, training, 0.1, 1e-5, False).pow(2).sum().backward()
    bn_grads += [xi.grad, wi.grad]
`,
    );
  });

  test('batch norm, embedding backward, segment reduction, sparse, lu_unpack', () =>
    torch.scope(() => {
      expectMatches(torch.nativeBatchNorm(x, w, b, null, null, true, 0.1, 1e-5), py.get('bn'), { atol: 1e-5 });
      expectMatches(torch.embeddingDenseBackward(grad, idx, 10, 3, true), py.get('edb'), { atol: 1e-6 });
      expectMatches(torch.segmentReduce(data, 'sum', { lengths, axis: 1 }), py.get('seg'), { atol: 1e-6 });
      expectMatches(
        torch.sparseCooTensor(ints([[0, 2, 2]]), torch.tensor([1, 2, 3], { dtype: 'float32' }), [4]).toDense(),
        py.get('sparse'),
      );
      expectMatches([...torch.luUnpack(...(torch.linalgLuFactor(A) as unknown as [torch.Tensor, torch.Tensor]))], py.get('lu'), {
        atol: 1e-5,
      });
    }));

  test('batch norm backward in training (with and without running statistics) and evaluation mode', () =>
    torch.scope(() => {
      const grads: torch.Tensor[] = [];
      for (const [rm, rv, training] of [
        [null, null, true],
        [torch.zeros([4]), torch.ones([4]), true],
        [torch.zeros([4]), torch.ones([4]), false],
      ] as const) {
        const xi = x.clone().requiresGrad_(true);
        const wi = w.clone().requiresGrad_(true);
        torch.batchNorm(xi, wi, b, rm, rv, training, 0.1, 1e-5, false).pow(2).sum().backward();
        grads.push(xi.grad!, wi.grad!);
      }
      expectMatches(grads, py.get('bnModes'), { atol: 1e-4, rtol: 1e-4 });
    }));

  test('LSTM forward and backward (oneDNN layer kernels) and max-pooling backward through autograd', () =>
    torch.scope(() => {
      const lstm: torch.Tensor[] = [];
      for (const batchFirst of [false, true]) {
        const xi = (batchFirst ? lstmIn.transpose(0, 1) : lstmIn).detach().requiresGrad_(true);
        const out = torch.lstm(xi, [h0, c0], params, true, 1, 0, true, false, batchFirst);
        out[0].sum().backward();
        lstm.push(out[0].detach(), out[1], out[2], xi.grad!);
      }
      expectMatches(lstm, py.get('lstm'), { atol: 1e-5 });
      const grads = [
        (t: torch.Tensor) => torch.maxPool2dWithIndices(t, 2)[0],
        (t: torch.Tensor) => torch.adaptiveMaxPool2d(t, 3)[0],
      ].map((f) => {
        const p = pool.clone().requiresGrad_(true);
        f(p).pow(2).sum().backward();
        return p.grad!;
      });
      expectMatches(grads, py.get('pool'), { atol: 1e-5 });
    }));
});
