// Operators against PyTorch: every case is computed here and, from the same input elements, by the
// Python torch of the project (one Python process for the whole table).
import '../helpers/one-thread';
import * as torch from '../../src/torch';
import type { Tensor } from '../../src/torch';
import { describeWithPython } from '../helpers/python';
import { encodeTensor, evalTorch, expectMatches, flatValues, type PyResults, type Tolerance } from '../helpers/torch-python';

// Inputs, made once; Python receives each under the same name.
const T: Record<string, Tensor> = {};
function makeInputs(): void {
  torch.manualSeed(20240501);
  const add = (name: string, t: Tensor) => (T[name] = torch.keep(t));
  add('a', torch.randn([3, 4]));
  add('b', torch.randn([4]));
  add('c', torch.randn([3, 1]));
  add('p', torch.rand([3, 4]).add(0.1)); // positive, for log/sqrt/rsqrt/fractional pow
  add('m', torch.randn([4, 5]));
  add('bt1', torch.randn([2, 3, 4]));
  add('bt2', torch.randn([2, 4, 5]));
  add('w', torch.randn([5, 4]));
  add('bias', torch.randn([5]));
  add(
    'ia',
    torch.tensor([
      [7, -3, 0, 12],
      [5, 9, -8, 1],
      [3, 3, 4, -1],
    ]),
  );
  add('idx', torch.tensor([2, 0]));
  add(
    'gidx',
    torch.tensor([
      [0, 1, 0, 3],
      [2, 2, 1, 0],
      [1, 0, 3, 3],
    ]),
  );
  add(
    'perm',
    torch.tensor([
      [3, 0, 1, 2],
      [0, 1, 2, 3],
      [2, 3, 0, 1],
    ]),
  ); // scatter targets without duplicates
  add(
    'mask',
    torch.tensor([
      [true, false, false, true],
      [false, false, true, true],
      [true, true, false, false],
    ]),
  );
  add('logits', torch.randn([5, 7]));
  add('target', torch.tensor([1, 0, 6, -100, 3]));
  add('target_ok', torch.tensor([1, 0, 6, 2, 3]));
  add('class_weight', torch.rand([7]).add(0.5));
  add('emb', torch.randn([10, 3]));
  add(
    'eidx',
    torch.tensor([
      [1, 2],
      [9, 0],
    ]),
  );
  add('q', torch.randn([2, 2, 5, 8]));
  add('k', torch.randn([2, 2, 5, 8]));
  add('v', torch.randn([2, 2, 5, 8]));
  add('attn_mask', torch.tensor([[true, false, true, true, false]]));
  add('d64', torch.randn([3, 3], { dtype: 'float64' }));
}

interface OpCase {
  name: string;
  js: () => unknown;
  py: string;
  tol?: Tolerance;
}

const cases: OpCase[] = [
  // arithmetic, broadcasting, scalars and type promotion
  { name: 'add broadcast row', js: () => torch.add(T.a, T.b), py: 'a + b' },
  { name: 'add alpha', js: () => torch.add(T.a, T.c, { alpha: 2 }), py: 'torch.add(a, c, alpha=2)' },
  { name: 'add scalar method', js: () => T.a.add(1.5), py: 'a + 1.5' },
  { name: 'sub scalar', js: () => T.a.sub(2), py: 'a - 2' },
  { name: 'rsub', js: () => torch.rsub(T.a, 1), py: '1 - a' },
  { name: 'mul broadcast column', js: () => T.a.mul(T.c), py: 'a * c' },
  { name: 'div', js: () => T.a.div(T.p), py: 'a / p' },
  {
    name: 'div floor mode',
    js: () => torch.div(T.ia, 3, { roundingMode: 'floor' }),
    py: "torch.div(ia, 3, rounding_mode='floor')",
  },
  { name: 'int + int scalar stays int64', js: () => T.ia.add(2), py: 'ia + 2' },
  { name: 'int / int promotes to float', js: () => T.ia.div(2), py: 'ia / 2' },
  { name: 'int * float scalar promotes', js: () => T.ia.mul(0.5), py: 'ia * 0.5' },
  { name: 'float32 + float64 promotes', js: () => T.a.narrow(1, 0, 3).add(T.d64), py: 'a[:, :3] + d64' },
  { name: 'remainder', js: () => torch.remainder(T.ia, 5), py: 'torch.remainder(ia, 5)' },
  { name: 'neg', js: () => T.a.neg(), py: '-a' },
  { name: 'abs', js: () => T.ia.abs(), py: 'ia.abs()' },
  // comparisons
  { name: 'gt scalar', js: () => T.a.gt(0), py: 'a > 0' },
  { name: 'le broadcast', js: () => T.a.le(T.b), py: 'a <= b' },
  { name: 'eq int', js: () => torch.eq(T.ia, 3), py: 'ia == 3' },
  { name: 'ne', js: () => T.a.ne(T.c), py: 'a != c' },
  { name: 'maximum', js: () => torch.maximum(T.a, T.b), py: 'torch.maximum(a, b)' },
  { name: 'isclose', js: () => torch.isclose(T.a, T.a.add(1e-7)), py: 'torch.isclose(a, a + 1e-7)' },
  // reductions
  { name: 'sum all', js: () => T.a.sum(), py: 'a.sum()' },
  { name: 'sum dim', js: () => T.a.sum(1), py: 'a.sum(1)' },
  { name: 'sum keepdim via options', js: () => T.a.sum({ dim: 0, keepdim: true }), py: 'a.sum(0, keepdim=True)' },
  { name: 'sum of int64', js: () => T.ia.sum(), py: 'ia.sum()' },
  { name: 'sum dtype option', js: () => T.a.sum({ dtype: 'float64' }), py: 'a.sum(dtype=torch.float64)' },
  { name: 'mean last dim', js: () => T.a.mean(-1), py: 'a.mean(-1)' },
  { name: 'prod', js: () => T.a.prod(1), py: 'a.prod(1)' },
  { name: 'max with indices', js: () => torch.max(T.a, 1), py: 'torch.max(a, 1)' },
  { name: 'max all', js: () => T.a.max(), py: 'a.max()' },
  {
    name: 'named tuple fields',
    // eslint-disable-next-line @typescript-eslint/unbound-method -- `.values` is the named tuple's Tensor field, not Array.prototype.values
    js: () => [torch.max(T.a, 1).values, T.a.min(1).indices, torch.sort(T.a).indices],
    py: '[torch.max(a, 1).values, a.min(1).indices, torch.sort(a).indices]',
  },
  { name: 'min dim keepdim', js: () => T.a.min(0, true), py: 'a.min(0, keepdim=True)' },
  { name: 'var (unbiased)', js: () => torch.var(T.a, 1), py: 'torch.var(a, 1)' },
  { name: 'var correction 0', js: () => T.a.var(1, { correction: 0 }), py: 'a.var(1, correction=0)' },
  { name: 'std all', js: () => T.a.std(), py: 'a.std()' },
  { name: 'logsumexp', js: () => torch.logsumexp(T.a, 1), py: 'torch.logsumexp(a, 1)' },
  { name: 'cumsum', js: () => T.a.cumsum(1), py: 'a.cumsum(1)' },
  { name: 'argmin flat', js: () => T.a.argmin(), py: 'a.argmin()' },
  { name: 'amax over dims', js: () => T.bt1.amax([0, 2]), py: 'bt1.amax([0, 2])' },
  { name: 'all / any', js: () => [T.mask.all(), T.mask.any(1)], py: '[mask.all(), mask.any(1)]' },
  // matrix products
  { name: 'matmul 2-D', js: () => torch.matmul(T.a, T.m), py: 'a @ m' },
  { name: 'matmul matrix-vector', js: () => T.a.matmul(T.b), py: 'a @ b' },
  { name: 'matmul batched broadcast', js: () => T.bt1.matmul(T.m), py: 'bt1 @ m' },
  { name: 'mm', js: () => torch.mm(T.a, T.m), py: 'torch.mm(a, m)' },
  { name: 'bmm', js: () => torch.bmm(T.bt1, T.bt2), py: 'torch.bmm(bt1, bt2)' },
  { name: 'linear', js: () => torch.linear(T.a, T.w, T.bias), py: 'F.linear(a, w, bias)' },
  { name: 'linear without bias', js: () => torch.linear(T.a, T.w), py: 'F.linear(a, w)' },
  {
    name: 'einsum batched',
    js: () => torch.einsum('bij,bjk->bik', [T.bt1, T.bt2]),
    py: "torch.einsum('bij,bjk->bik', bt1, bt2)",
  },
  { name: 'einsum transpose-sum', js: () => torch.einsum('ij->j', [T.a]), py: "torch.einsum('ij->j', a)" },
  { name: 'outer', js: () => torch.outer(T.b, T.bias), py: 'torch.outer(b, bias)' },
  // views
  { name: 'view', js: () => T.a.view([4, 3]), py: 'a.view(4, 3)' },
  { name: 'view -1', js: () => T.a.view(-1), py: 'a.view(-1)' },
  { name: 'reshape', js: () => T.bt1.reshape([6, -1]), py: 'bt1.reshape(6, -1)' },
  { name: 'permute', js: () => T.bt1.permute([2, 0, 1]), py: 'bt1.permute(2, 0, 1)' },
  { name: 'transpose', js: () => T.bt1.transpose(0, 2), py: 'bt1.transpose(0, 2)' },
  { name: 't', js: () => T.a.t(), py: 'a.t()' },
  { name: 'narrow', js: () => T.a.narrow(1, 1, 2), py: 'a.narrow(1, 1, 2)' },
  { name: 'select', js: () => T.a.select(0, 1), py: 'a.select(0, 1)' },
  { name: 'select negative index', js: () => T.a.select(1, -1), py: 'a[:, -1]' },
  { name: 'unsqueeze', js: () => T.a.unsqueeze(1), py: 'a.unsqueeze(1)' },
  { name: 'squeeze dim', js: () => T.c.squeeze(1), py: 'c.squeeze(1)' },
  { name: 'squeeze all', js: () => T.c.unsqueeze(0).squeeze(), py: 'c.unsqueeze(0).squeeze()' },
  { name: 'expand', js: () => T.c.expand([3, 5]), py: 'c.expand(3, 5)' },
  { name: 'expand -1 keeps size', js: () => T.b.expand([2, -1]), py: 'b.expand(2, -1)' },
  { name: 'slice with step', js: () => torch.slice(T.a, 1, 1, 4, 2), py: 'a[:, 1:4:2]' },
  { name: 'slice negative start', js: () => T.a.slice(0, -2), py: 'a[-2:]' },
  { name: 'slice beyond the end clamps', js: () => T.a.slice(1, 2, 100), py: 'a[:, 2:100]' },
  { name: 'flatten', js: () => T.bt1.flatten(1), py: 'bt1.flatten(1)' },
  { name: 'unflatten', js: () => torch.unflatten(T.a, 1, [2, 2]), py: 'a.unflatten(1, (2, 2))' },
  // indexing
  { name: 'indexSelect', js: () => torch.indexSelect(T.a, 1, T.idx), py: 'torch.index_select(a, 1, idx)' },
  { name: 'gather', js: () => torch.gather(T.a, 1, T.gidx), py: 'torch.gather(a, 1, gidx)' },
  {
    name: 'scatter src',
    js: () => torch.scatter(torch.zeros([3, 4]), 1, T.perm, T.a),
    py: 'torch.zeros(3, 4).scatter(1, perm, a)',
  },
  { name: 'scatter value', js: () => torch.scatter(T.a, 1, T.idx.unsqueeze(0), -1), py: 'a.scatter(1, idx.unsqueeze(0), -1)' },
  {
    name: 'scatterAdd with duplicate targets',
    js: () => torch.scatterAdd(torch.ones([3, 4]), 1, T.gidx, T.a),
    py: 'torch.ones(3, 4).scatter_add(1, gidx, a)',
  },
  { name: 'maskedFill scalar', js: () => torch.maskedFill(T.a, T.mask, -1), py: 'a.masked_fill(mask, -1)' },
  { name: 'maskedFill -inf', js: () => T.a.maskedFill(T.mask, -Infinity), py: "a.masked_fill(mask, float('-inf'))" },
  { name: 'where tensor/tensor', js: () => torch.where(T.mask, T.a, T.c), py: 'torch.where(mask, a, c)' },
  { name: 'where tensor/scalar', js: () => torch.where(T.mask, T.a, 0), py: 'torch.where(mask, a, 0)' },
  { name: 'where nonzero form', js: () => torch.where(T.mask), py: 'torch.where(mask)' },
  { name: 'boolean mask index', js: () => T.a.index([T.mask]), py: 'a[mask]' },
  { name: 'integer index rows', js: () => T.a.index([T.idx]), py: 'a[idx]' },
  { name: 'integer index columns', js: () => T.a.index([null, T.idx]), py: 'a[:, idx]' },
  // joining and splitting
  { name: 'cat dim 0', js: () => torch.cat([T.a, T.a.mul(2)]), py: 'torch.cat([a, a * 2])' },
  { name: 'cat dim 1', js: () => torch.cat([T.a, T.c], 1), py: 'torch.cat([a, c], 1)' },
  { name: 'stack', js: () => torch.stack([T.a, T.p], 1), py: 'torch.stack([a, p], 1)' },
  { name: 'split equal', js: () => torch.split(T.a, 3, 1), py: 'torch.split(a, 3, 1)' },
  { name: 'split sizes', js: () => T.a.split([1, 3], 1), py: 'a.split([1, 3], 1)' },
  { name: 'chunk', js: () => T.a.chunk(2), py: 'a.chunk(2)' },
  // softmax and losses
  { name: 'softmax', js: () => torch.softmax(T.a, 1), py: 'torch.softmax(a, 1)' },
  { name: 'softmax float64', js: () => T.a.softmax(0, 'float64'), py: 'a.softmax(0, dtype=torch.float64)' },
  { name: 'logSoftmax', js: () => torch.logSoftmax(T.logits, -1), py: 'torch.log_softmax(logits, -1)' },
  {
    name: 'crossEntropyLoss ignores -100',
    js: () => torch.crossEntropyLoss(T.logits, T.target),
    py: 'F.cross_entropy(logits, target)',
  },
  {
    name: 'crossEntropyLoss none',
    js: () => torch.crossEntropyLoss(T.logits, T.target, null, 0),
    py: "F.cross_entropy(logits, target, reduction='none')",
  },
  {
    name: 'crossEntropyLoss sum',
    js: () => torch.crossEntropyLoss(T.logits, T.target, { reduction: 2 }),
    py: "F.cross_entropy(logits, target, reduction='sum')",
  },
  {
    name: 'crossEntropyLoss ignoreIndex',
    js: () => torch.crossEntropyLoss(T.logits, T.target_ok, { ignoreIndex: 3 }),
    py: 'F.cross_entropy(logits, target_ok, ignore_index=3)',
  },
  {
    name: 'crossEntropyLoss weight + label smoothing',
    js: () => torch.crossEntropyLoss(T.logits, T.target, T.class_weight, 1, -100, 0.1),
    py: 'F.cross_entropy(logits, target, weight=class_weight, label_smoothing=0.1)',
  },
  {
    name: 'nllLoss',
    js: () => torch.nllLoss(torch.logSoftmax(T.logits, 1), T.target),
    py: 'F.nll_loss(F.log_softmax(logits, 1), target)',
  },
  {
    name: 'nllLoss none',
    js: () => torch.nllLoss(T.logits, T.target_ok, { reduction: 0 }),
    py: "F.nll_loss(logits, target_ok, reduction='none')",
  },
  { name: 'embedding', js: () => torch.embedding(T.emb, T.eidx), py: 'F.embedding(eidx, emb)' },
  // elementwise functions
  { name: 'silu', js: () => torch.silu(T.a), py: 'F.silu(a)' },
  { name: 'gelu', js: () => torch.gelu(T.a), py: 'F.gelu(a)' },
  { name: 'gelu tanh', js: () => torch.gelu(T.a, { approximate: 'tanh' }), py: "F.gelu(a, approximate='tanh')" },
  { name: 'relu', js: () => T.a.relu(), py: 'a.relu()' },
  { name: 'sigmoid', js: () => torch.sigmoid(T.a), py: 'torch.sigmoid(a)' },
  { name: 'tanh', js: () => torch.tanh(T.a), py: 'torch.tanh(a)' },
  { name: 'exp', js: () => torch.exp(T.a), py: 'torch.exp(a)' },
  { name: 'log', js: () => torch.log(T.p), py: 'torch.log(p)' },
  { name: 'log of negatives is nan', js: () => torch.log(T.a), py: 'torch.log(a)' },
  { name: 'rsqrt', js: () => torch.rsqrt(T.p), py: 'torch.rsqrt(p)' },
  { name: 'sqrt', js: () => T.p.sqrt(), py: 'p.sqrt()' },
  { name: 'pow scalar exponent', js: () => torch.pow(T.a, 2), py: 'a ** 2' },
  { name: 'pow fractional', js: () => T.p.pow(0.5), py: 'p ** 0.5' },
  { name: 'pow scalar base', js: () => torch.pow(2, T.a), py: '2 ** a' },
  { name: 'pow tensor exponent', js: () => torch.pow(T.p, T.a), py: 'p ** a' },
  // selection and ordering
  { name: 'topk', js: () => torch.topk(T.a, 2, 1), py: 'torch.topk(a, 2, 1)' },
  { name: 'topk smallest', js: () => T.a.topk(2, { dim: 0, largest: false }), py: 'a.topk(2, dim=0, largest=False)' },
  { name: 'argmax dim', js: () => torch.argmax(T.a, 1), py: 'torch.argmax(a, 1)' },
  { name: 'argmax keepdim', js: () => T.a.argmax(0, true), py: 'a.argmax(0, keepdim=True)' },
  { name: 'sort', js: () => torch.sort(T.a, 1), py: 'torch.sort(a, 1)' },
  { name: 'sort descending', js: () => T.a.sort({ dim: 0, descending: true }), py: 'a.sort(dim=0, descending=True)' },
  {
    name: 'sort stable ties',
    js: () => torch.sort(T.ia.flatten(), { stable: true }),
    py: 'torch.sort(ia.flatten(), stable=True)',
  },
  { name: 'triu', js: () => torch.triu(T.a), py: 'torch.triu(a)' },
  { name: 'triu diagonal', js: () => T.a.triu(1), py: 'a.triu(1)' },
  { name: 'tril negative diagonal', js: () => torch.tril(T.a, -1), py: 'torch.tril(a, -1)' },
  { name: 'clamp', js: () => torch.clamp(T.a, -0.5, 0.5), py: 'a.clamp(-0.5, 0.5)' },
  { name: 'clamp min only', js: () => T.a.clamp({ min: 0 }), py: 'a.clamp(min=0)' },
  { name: 'clamp tensor bounds', js: () => torch.clamp(T.a, T.c, null), py: 'torch.clamp(a, min=c)' },
  // norms
  { name: 'vector norm', js: () => torch.linalgVectorNorm(T.a), py: 'torch.linalg.vector_norm(a)' },
  { name: 'vector norm ord 1 dim', js: () => torch.linalgVectorNorm(T.a, 1, 1), py: 'torch.linalg.vector_norm(a, 1, 1)' },
  {
    name: 'vector norm inf keepdim',
    js: () => torch.linalgVectorNorm(T.a, Infinity, [0], true),
    py: "torch.linalg.vector_norm(a, float('inf'), [0], True)",
  },
  { name: 'norm', js: () => torch.norm(T.a), py: 'torch.norm(a)' },
  { name: 'norm p dim', js: () => T.a.norm(3, [1], true), py: 'a.norm(3, [1], True)' },
  // any ATen operator by schema name
  {
    name: 'torch.ops boxed call',
    js: () => torch.ops('aten::_log_softmax')(T.a, 1, false),
    py: 'torch._log_softmax(a, 1, False)',
  },
  {
    name: 'mixed tuple: tensor and tensor list',
    js: () => torch.histogramdd(T.a.reshape([-1, 1]), [3]),
    py: 'torch.histogramdd(a.reshape(-1, 1), [3])',
  },
  {
    name: 'torch.ops mixed tuple',
    js: () => torch.ops('aten::histogramdd')(T.a.reshape([-1, 2]), [2, 3]),
    py: 'torch.ops.aten.histogramdd(a.reshape(-1, 2), [2, 3])',
  },
  {
    name: 'torch.ops with overload',
    js: () => torch.ops('aten::add', 'Scalar')(T.ia, 2, 3),
    py: 'torch.ops.aten.add.Scalar(ia, 2, 3)',
  },
  // attention
  {
    name: 'scaledDotProductAttention causal',
    js: () => torch.scaledDotProductAttention(T.q, T.k, T.v, null, 0, true),
    py: 'F.scaled_dot_product_attention(q, k, v, is_causal=True)',
  },
  {
    name: 'scaledDotProductAttention mask + scale',
    js: () => torch.scaledDotProductAttention(T.q, T.k, T.v, { attnMask: T.attn_mask, scale: 0.5 }),
    py: 'F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=0.5)',
  },
];

describeWithPython('operators match PyTorch', () => {
  let python: PyResults;

  beforeAll(() => {
    makeInputs();
    const inputs = Object.fromEntries(Object.entries(T).map(([name, t]) => [name, encodeTensor(t)]));
    python = evalTorch(Object.fromEntries(cases.map((c) => [c.name, c.py])), inputs);
  });

  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    torch.scope(() => expectMatches(c.js(), python.get(c.name), c.tol));
  });
});

describe('in-place operators update and return the receiver', () => {
  test('add_, mul_, sub_, div_ with tensors and scalars', () =>
    torch.scope(() => {
      const x = torch.tensor([1, 2, 3], { dtype: 'float32' });
      expect(x.add_(torch.tensor([1, 1, 1], { dtype: 'float32' }))).toBe(x);
      expect(x.mul_(2)).toBe(x);
      expect(x.tolist()).toEqual([4, 6, 8]);
      expect(x.add_(1, { alpha: 3 })).toBe(x);
      expect(x.sub_(torch.tensor(1.0))).toBe(x);
      expect(x.div_(2)).toBe(x);
      expect(x.tolist()).toEqual([3, 4, 5]);
    }));

  test('copy_, zero_, fill_ and in-place through a view', () =>
    torch.scope(() => {
      const x = torch.zeros([2, 3]);
      expect(x.copy_(torch.arange(6).reshape([2, 3]))).toBe(x); // copies across dtypes
      expect([x.dtype, x.tolist()]).toEqual([
        'float32',
        [
          [0, 1, 2],
          [3, 4, 5],
        ],
      ]);
      expect(x.select(0, 1).fill_(9)).not.toBe(x);
      expect(x.tolist()).toEqual([
        [0, 1, 2],
        [9, 9, 9],
      ]);
      expect(x.fill_(torch.tensor(2.5))).toBe(x);
      expect(x.tolist()).toEqual([
        [2.5, 2.5, 2.5],
        [2.5, 2.5, 2.5],
      ]);
      expect(x.zero_()).toBe(x);
      expect(x.sum().item()).toBe(0);
      expect(torch.zero_(x)).toBe(x);
      expect(x.copy_(torch.tensor([1, 2, 3], { dtype: 'float32' }))).toBe(x); // broadcasts the source
      expect(x.tolist()).toEqual([
        [1, 2, 3],
        [1, 2, 3],
      ]);
    }));

  test('maskedFill_ and clamp_ modify in place', () =>
    torch.scope(() => {
      const x = torch.tensor([-2, 0.5, 3]);
      expect(x.maskedFill_(torch.tensor([true, false, false]), 0)).toBe(x);
      expect(x.clamp_(0, 1)).toBe(x);
      expect(x.tolist()).toEqual([0, 0.5, 1]);
    }));

  test('in-place on a leaf that requires grad is refused, as in PyTorch', () =>
    torch.scope(() => {
      const w = torch.ones([2], { requiresGrad: true });
      expect(() => w.add_(1)).toThrow(/a leaf Variable that requires grad is being used in an in-place operation/);
      expect(torch.noGrad(() => w.add_(1))).toBe(w);
      expect(w.tolist()).toEqual([2, 2]);
    }));
});

describe('sampling', () => {
  test('multinomial draws in proportion to the weights', () =>
    torch.scope(() => {
      torch.manualSeed(99);
      const probs = torch.tensor([0.1, 0.0, 0.6, 0.3]);
      const n = 20000;
      const draws = torch.multinomial(probs, n, true);
      expect([draws.shape, draws.dtype]).toEqual([[n], 'int64']);
      const counts = flatValues(torch.bincount(draws, null, 4)) as number[];
      expect(counts[1]).toBe(0); // zero weight is never drawn
      // Within 5 standard deviations of the binomial expectation for each category.
      [0.1, 0, 0.6, 0.3].forEach((p, i) =>
        expect(Math.abs(counts[i] - n * p)).toBeLessThanOrEqual(5 * Math.sqrt(n * p * (1 - p)) + 1e-9),
      );
    }));

  test('multinomial without replacement never repeats', () =>
    torch.scope(() => {
      torch.manualSeed(3);
      const rows = torch.multinomial(torch.ones([50, 6]), 6);
      for (const row of rows.tolist() as number[][]) expect([...row].sort()).toEqual([0, 1, 2, 3, 4, 5]);
      expect(() => torch.multinomial(torch.ones([3]), 4)).toThrow(
        /cannot sample n_sample > prob_dist.size\(-1\) samples without replacement/,
      );
    }));
});
