// torch.nn: module reflection (names, sharing, ModuleList), train/eval, freezing, state dicts,
// dtype moves, and the layers' numerics against PyTorch's torch.nn with the same weights.
import * as torch from '../../src/torch';
import { Tensor, nn } from '../../src/torch';
import { describeWithPython } from '../helpers/python';
import { encodeTensor, evalTorch, expectMatches, type PyResults } from '../helpers/torch-python';

const { assertClose } = torch.testing;

// A miniature decoder with the shapes of the real thing: nested modules, a ModuleList, a layer
// without bias, and optionally an output head tied to the embedding.
class Attention extends nn.Module {
  q = new nn.Linear(4, 4);
  k = new nn.Linear(4, 4, { bias: false });
}
class Block extends nn.Module {
  norm = new nn.RMSNorm(4);
  attn = new Attention();
  mlp = new nn.Linear(4, 4);
  drop = new nn.Dropout(0.1);
}
class TinyLM extends nn.Module {
  embed = new nn.Embedding(10, 4);
  layers = new nn.ModuleList([new Block(), new Block()]);
  finalNorm = new nn.RMSNorm(4);
  head = new nn.Linear(4, 10, { bias: false });
  constructor({ tied = false } = {}) {
    super();
    if (tied) {
      this.head.weight.dispose();
      this.head.weight = this.embed.weight;
    }
  }
}

const BLOCK_MODULES = ['norm', 'attn', 'attn.q', 'attn.k', 'mlp', 'drop'];
const BLOCK_PARAMS = ['norm.weight', 'attn.q.weight', 'attn.q.bias', 'attn.k.weight', 'mlp.weight', 'mlp.bias'];
const UNTIED_NAMES = [
  'embed.weight',
  ...BLOCK_PARAMS.map((n) => `layers.0.${n}`),
  ...BLOCK_PARAMS.map((n) => `layers.1.${n}`),
  'finalNorm.weight',
  'head.weight',
];

const names = (m: nn.Module): string[] => [...m.namedParameters()].map(([n]) => n);

describe('Module reflection', () => {
  test('namedParameters: field order, dotted names, ModuleList children named 0, 1, ...', () => {
    const m = new TinyLM();
    expect(names(m)).toEqual(UNTIED_NAMES);
    expect(m.parameters()).toHaveLength(UNTIED_NAMES.length);
    expect(m.parameters().every((p) => p instanceof nn.Parameter && p.requiresGrad && p.isLeaf)).toBe(true);
    expect([...m.namedModules()].map(([n]) => n)).toEqual([
      '',
      'embed',
      'layers',
      'layers.0',
      ...BLOCK_MODULES.map((n) => `layers.0.${n}`),
      'layers.1',
      ...BLOCK_MODULES.map((n) => `layers.1.${n}`),
      'finalNorm',
      'head',
    ]);
    expect([...m.namedChildren()].map(([n]) => n)).toEqual(['embed', 'layers', 'finalNorm', 'head']);
    expect(names(m.layers.at(1))).toEqual(BLOCK_PARAMS);
    expect([...m.layers.at(1).namedParameters('layers.1')].map(([n]) => n)).toEqual(BLOCK_PARAMS.map((n) => `layers.1.${n}`));
    expect(m.parameters(false)).toEqual([]); // TinyLM holds no parameter itself
    expect(m.numParameters()).toBe(10 * 4 + 2 * (4 + 16 + 4 + 16 + 16 + 4) + 4 + 40);
    m.dispose();
  });

  test('a parameter shared by two modules is listed once, under its first name', () => {
    const m = new TinyLM({ tied: true });
    expect(names(m)).toEqual(UNTIED_NAMES.filter((n) => n !== 'head.weight'));
    expect(m.head.weight).toBe(m.embed.weight);
    expect(m.numParameters()).toBe(10 * 4 + 2 * (4 + 16 + 4 + 16 + 16 + 4) + 4);
    m.dispose();
  });

  test('ModuleList: push, at (negative too), iteration and length', () => {
    const list = new nn.ModuleList([new nn.Linear(2, 2), new nn.Linear(2, 3)]);
    list.push(new nn.Linear(3, 1, { bias: false }));
    expect(list.length).toBe(3);
    expect(list.at(-1).outFeatures).toBe(1);
    expect([...list].map((l) => l.outFeatures)).toEqual([2, 3, 1]);
    expect(names(list)).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '2.weight']);
    // Twelve entries: "10" and "11" come after "9", as in PyTorch.
    const long = new nn.ModuleList(Array.from({ length: 12 }, () => new nn.RMSNorm(2)));
    expect(names(long)).toEqual(Array.from({ length: 12 }, (_, i) => `${i}.weight`));
    list.dispose();
    long.dispose();
  });

  test('buffers: registered by name, persistent ones in the state dict', () => {
    class WithBuffers extends nn.Module {
      proj = new nn.Linear(2, 2);
      constructor() {
        super();
        this.registerBuffer('invFreq', torch.tensor([1, 0.5], { dtype: 'float32' }), false);
        this.registerBuffer('step', torch.tensor([3]));
      }
    }
    const m = new WithBuffers();
    expect([...m.namedBuffers()].map(([n]) => n)).toEqual(['invFreq', 'step']);
    expect([...m.stateDict().keys()]).toEqual(['proj.weight', 'proj.bias', 'step']);
    m.dispose();
  });

  test('apply visits children before their parent', () => {
    const m = new TinyLM();
    const visited: string[] = [];
    m.layers.at(0).apply((mod) => visited.push(mod.constructor.name));
    expect(visited).toEqual(['RMSNorm', 'Linear', 'Linear', 'Attention', 'Linear', 'Dropout', 'Block']);
    m.dispose();
  });
});

describe('train / eval', () => {
  test('eval() and train() reach every submodule; train() on a child touches only its subtree', () => {
    const m = new TinyLM();
    const modes = () => [...m.modules()].map((x) => x.training);
    expect(modes().every(Boolean)).toBe(true);
    expect(m.eval()).toBe(m);
    expect(modes().some(Boolean)).toBe(false);
    m.layers.at(1).train();
    expect([...m.namedModules()].filter(([, x]) => x.training).map(([n]) => n)).toEqual([
      'layers.1',
      ...BLOCK_MODULES.map((n) => `layers.1.${n}`),
    ]);
    m.train();
    expect(modes().every(Boolean)).toBe(true);
    m.dispose();
  });
});

describe('freeze / unfreeze', () => {
  test('freezing a subtree stops its gradients; unfreeze restores them', () => {
    const m = new TinyLM();
    m.layers.at(0).freeze();
    const frozen = names(m).filter((n) => n.startsWith('layers.0.'));
    for (const [n, p] of m.namedParameters()) expect([n, p.requiresGrad]).toEqual([n, !frozen.includes(n)]);
    expect(m.numParameters({ trainableOnly: true })).toBe(m.numParameters() - 60);
    torch.scope(() => {
      let h = m.embed.forward(torch.tensor([[1, 2, 3]]));
      for (const block of m.layers) h = h.add(block.mlp.forward(block.norm.forward(h)));
      m.head.forward(m.finalNorm.forward(h)).sum().backward();
    });
    for (const [n, p] of m.namedParameters()) {
      const g = p.grad;
      if (frozen.includes(n) || n.includes('.attn.')) expect([n, g]).toEqual([n, null]);
      else expect([n, g === null]).toEqual([n, false]);
      g?.dispose();
    }
    m.unfreeze();
    expect(m.parameters().every((p) => p.requiresGrad)).toBe(true);
    m.dispose();
  });

  test('zeroGrad: set to null by default, zero-filled with setToNone: false', () => {
    const lin = new nn.Linear(3, 2);
    const step = () =>
      torch.scope(() =>
        lin
          .forward(torch.ones([1, 3]))
          .sum()
          .backward(),
      );
    step();
    lin.zeroGrad({ setToNone: false });
    torch.scope(() => {
      expect(lin.weight.grad!.tolist()).toEqual([
        [0, 0, 0],
        [0, 0, 0],
      ]);
      step();
      expect(lin.weight.grad!.tolist()).toEqual([
        [1, 1, 1],
        [1, 1, 1],
      ]);
    });
    lin.zeroGrad();
    expect(lin.weight.grad).toBeNull();
    expect(lin.bias!.grad).toBeNull();
    lin.dispose();
  });
});

describe('stateDict / loadStateDict', () => {
  /** A state dict of independent copies of m's tensors. */
  const copyOf = (m: nn.Module): Map<string, Tensor> =>
    new Map([...m.stateDict()].map(([k, t]) => [k, torch.keep(t.detach().clone())]));
  const disposeAll = (sd: Map<string, Tensor>) => sd.forEach((t) => t.dispose());

  test('the state dict holds the module’s own parameters under their dotted names', () => {
    const m = new TinyLM();
    const sd = m.stateDict();
    expect([...sd.keys()]).toEqual(UNTIED_NAMES);
    expect(sd.get('layers.1.attn.q.bias')).toBe(m.layers.at(1).attn.q.bias);
    m.dispose();
  });

  test('round trip: values arrive, Parameter objects stay the same', () => {
    const a = new TinyLM();
    const b = new TinyLM();
    const before = b.parameters();
    const source = copyOf(a);
    expect(b.loadStateDict(source)).toEqual({ missing: [], unexpected: [] });
    expect(b.parameters()).toEqual(before);
    b.parameters().forEach((p, i) => expect(p).toBe(before[i]));
    for (const [k, t] of a.stateDict()) assertClose(b.stateDict().get(k)!, t, { atol: 0, rtol: 0 });
    disposeAll(source);
    a.dispose();
    b.dispose();
  });

  test('strict: the error lists every missing and unexpected key, and nothing is loaded', () => {
    const a = new TinyLM();
    const b = new TinyLM();
    const original = torch.keep(b.finalNorm.weight.detach().clone());
    const source = copyOf(a);
    source.get('embed.weight')!.dispose();
    source.delete('embed.weight');
    source.delete('layers.1.mlp.bias');
    source.set('layers.2.mlp.bias', torch.keep(torch.zeros([4])));
    source.set('lm_head.weight', torch.keep(torch.zeros([10, 4])));
    expect(() => b.loadStateDict(source)).toThrow(
      'loadStateDict: missing keys: embed.weight, layers.1.mlp.bias; unexpected keys: layers.2.mlp.bias, lm_head.weight',
    );
    assertClose(b.finalNorm.weight, original, { atol: 0, rtol: 0 });
    // Not strict: loads what matches and reports the rest.
    expect(b.loadStateDict(source, { strict: false })).toEqual({
      missing: ['embed.weight', 'layers.1.mlp.bias'],
      unexpected: ['layers.2.mlp.bias', 'lm_head.weight'],
    });
    assertClose(b.finalNorm.weight, a.finalNorm.weight, { atol: 0, rtol: 0 });
    disposeAll(source);
    original.dispose();
    a.dispose();
    b.dispose();
  });

  test('a shape mismatch is an error naming the key, strict or not', () => {
    const m = new TinyLM();
    const source = copyOf(m);
    source.set('layers.1.mlp.weight', torch.keep(torch.zeros([4, 5])));
    for (const strict of [true, false])
      expect(() => m.loadStateDict(source, { strict })).toThrow(
        /layers\.1\.mlp\.weight: shape \[4,5\] in the source, \[4,4\] in the model/,
      );
    disposeAll(source);
    m.dispose();
  });

  test('values are converted to the parameter dtype, unless checkDtype asks for equality', () => {
    const lin = new nn.Linear(2, 2);
    const source = {
      weight: torch.tensor(
        [
          [1, 2],
          [3, 4],
        ],
        { dtype: 'float64' },
      ),
      bias: torch.tensor([0.5, -0.5], { dtype: 'float64' }),
    };
    expect(() => lin.loadStateDict(source, { checkDtype: true })).toThrow(
      /weight: dtype float64 in the source, float32 in the model; bias: dtype float64/,
    );
    lin.loadStateDict(source);
    expect(lin.weight.dtype).toBe('float32');
    expect(lin.weight.tolist()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(lin.bias!.tolist()).toEqual([0.5, -0.5]);
    Object.values(source).forEach((t) => t.dispose());
    lin.dispose();
  });
});

describe('Module.to', () => {
  test("to('float64') converts in place: same Parameter objects, requiresGrad and gradients kept", () => {
    class WithBuffers extends TinyLM {
      constructor() {
        super();
        this.registerBuffer('invFreq', torch.tensor([1, 0.5], { dtype: 'float32' }));
        this.registerBuffer('positions', torch.tensor([0, 1, 2]));
      }
    }
    const m = new WithBuffers();
    m.layers.at(1).freeze();
    torch.scope(() =>
      m.head
        .forward(m.embed.forward(torch.tensor([1, 2])))
        .sum()
        .backward(),
    );
    const params = m.parameters();
    const requires = params.map((p) => p.requiresGrad);
    const headGrad = torch.keep(m.head.weight.grad!);
    expect(m.to('float64')).toBe(m);
    expect(m.parameters()).toHaveLength(params.length);
    m.parameters().forEach((p, i) => {
      expect(p).toBe(params[i]);
      expect(p.dtype).toBe('float64');
      expect(p.requiresGrad).toBe(requires[i]);
      expect(p.isLeaf).toBe(true);
    });
    const g = m.head.weight.grad!;
    expect(g.dtype).toBe('float64');
    assertClose(g, headGrad, { checkDtype: false });
    expect((m as any).invFreq.dtype).toBe('float64');
    expect((m as any).positions.dtype).toBe('int64'); // integer buffers stay integers
    // the converted module still trains
    torch.scope(() => {
      const out = m.head.forward(m.embed.forward(torch.tensor([3])));
      expect(out.dtype).toBe('float64');
      out.sum().backward();
    });
    // the PyTorch alias works the same; non-floating dtypes are refused before anything changes
    m.to('float');
    expect(m.embed.weight.dtype).toBe('float32');
    expect((m as any).positions.dtype).toBe('int64');
    expect(() => m.to('int64')).toThrow(/Module\.to: parameters can only be converted to a floating dtype .* got 'int64'/);
    expect(m.parameters().every((p) => p.dtype === 'float32')).toBe(true);
    headGrad.dispose();
    g.dispose();
    m.dispose();
  });
});

describe('Dropout', () => {
  test('training: zeroes about p of the elements and scales the rest by 1 / (1 - p); eval: identity', () => {
    torch.manualSeed(1234);
    const drop = new nn.Dropout(0.3);
    torch.scope(() => {
      const x = torch.ones([20000]);
      const values = drop.forward(x).toTypedArray() as Float32Array;
      const zeros = values.filter((v) => v === 0).length;
      expect(zeros / values.length).toBeGreaterThan(0.28);
      expect(zeros / values.length).toBeLessThan(0.32);
      const kept = [...new Set(values.filter((v) => v !== 0))];
      expect(kept).toHaveLength(1);
      expect(kept[0]).toBeCloseTo(1 / 0.7, 6);
      drop.eval();
      expect(drop.forward(x)).toBe(x);
      expect(torch.F.dropout(x, 0.3, false)).toBe(x);
      drop.train();
      expect(new nn.Dropout(0).forward(x)).toBe(x);
      expect(new nn.Dropout(1).forward(x).sum().item()).toBe(0);
    });
  });

  test('a probability outside [0, 1] is refused when the layer is built', () => {
    expect(() => new nn.Dropout(1.5)).toThrow(/dropout probability has to be between 0 and 1, but got 1.5/);
    expect(() => new nn.Dropout(-0.1)).toThrow(/between 0 and 1/);
    expect(() => torch.F.dropout(torch.ones([2]), Number.NaN, false)).toThrow(/between 0 and 1/);
  });
});

describe('layer construction', () => {
  test('Linear initialises weight and bias uniformly within ±1/sqrt(inFeatures), as torch.nn.Linear', () => {
    torch.manualSeed(7);
    const lin = new nn.Linear(64, 256);
    const bound = 1 / Math.sqrt(64);
    const w = lin.weight.toTypedArray() as Float32Array;
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(std).toBeCloseTo(bound / Math.sqrt(3), 2); // a uniform distribution's standard deviation
    expect(Math.max(...(lin.bias!.toTypedArray() as Float32Array).map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(new nn.Linear(3, 2, { dtype: 'float64' }).weight.dtype).toBe('float64');
    expect(String(lin)).toBe('Linear(inFeatures=64, outFeatures=256, bias=true)');
    lin.dispose();
  });

  test('Embedding: a negative paddingIdx counts from the end; out of range is refused', () => {
    const emb = new nn.Embedding(6, 3, { paddingIdx: -1 });
    expect(emb.paddingIdx).toBe(5);
    expect(emb.weight.select(0, 5).tolist()).toEqual([0, 0, 0]);
    torch.scope(() =>
      emb
        .forward(torch.tensor([5, 1, 5]))
        .sum()
        .backward(),
    );
    expect(emb.weight.grad!.select(0, 5).tolist()).toEqual([0, 0, 0]);
    expect(emb.weight.grad!.select(0, 1).tolist()).toEqual([1, 1, 1]);
    expect(() => new nn.Embedding(6, 3, { paddingIdx: 6 })).toThrow(/paddingIdx must be an integer in \[-6, 6\), got 6/);
    expect(() => new nn.Embedding(6, 3, { paddingIdx: -7 })).toThrow(/got -7/);
    emb.dispose();
  });
});

describeWithPython('layer numerics match torch.nn with the same weights', () => {
  let py: PyResults;
  const ours = new Map<string, Tensor>();
  const gradsOf = (prefix: string, tensors: Record<string, Tensor>) => {
    for (const [k, t] of Object.entries(tensors)) ours.set(`${prefix}_${k}`, torch.keep(t));
  };

  beforeAll(() => {
    torch.manualSeed(2024);
    const inputs: Record<string, unknown> = {};
    const send = (name: string, t: Tensor) => (inputs[name] = encodeTensor(t));

    // Linear: output and the gradients of sum(y * g) for weight, bias and input.
    const lin = new nn.Linear(5, 3);
    const lx = torch.randn([2, 4, 5], { requiresGrad: true });
    const lg = torch.randn([2, 4, 3]);
    const ly = lin.forward(lx);
    ly.mul(lg).sum().backward();
    gradsOf('lin', { y: ly.detach(), wgrad: lin.weight.grad!, bgrad: lin.bias!.grad!, xgrad: lx.grad! });
    [
      ['lin_w', lin.weight],
      ['lin_b', lin.bias!],
      ['lin_x', lx],
      ['lin_g', lg],
    ].forEach(([n, t]) => send(n as string, t as Tensor));

    // Embedding with a padding row: the padding row gets no gradient.
    const emb = new nn.Embedding(7, 4, { paddingIdx: 2 });
    const ids = torch.tensor([
      [0, 2, 6],
      [2, 1, 1],
    ]);
    const eg = torch.randn([2, 3, 4]);
    const ey = emb.forward(ids);
    ey.mul(eg).sum().backward();
    gradsOf('emb', { y: ey.detach(), wgrad: emb.weight.grad! });
    [
      ['emb_w', emb.weight],
      ['emb_ids', ids],
      ['emb_g', eg],
    ].forEach(([n, t]) => send(n as string, t as Tensor));

    // RMSNorm (float32) with a non-trivial gain.
    const rms = new nn.RMSNorm(6, 1e-5);
    torch.nn.init.normal_(rms.weight, 1, 0.2);
    const rx = torch.randn([3, 2, 6], { requiresGrad: true });
    const rg = torch.randn([3, 2, 6]);
    const ry = rms.forward(rx);
    ry.mul(rg).sum().backward();
    gradsOf('rms', { y: ry.detach(), wgrad: rms.weight.grad!, xgrad: rx.grad! });
    [
      ['rms_w', rms.weight],
      ['rms_x', rx],
      ['rms_g', rg],
    ].forEach(([n, t]) => send(n as string, t as Tensor));

    // RMSNorm in bfloat16 follows Hugging Face's Qwen2RMSNorm (normalise in float32, cast back, scale).
    const rmsBf16 = new nn.RMSNorm(8, 1e-6, { dtype: 'bfloat16' });
    torch.nn.init.normal_(rmsBf16.weight, 1, 0.2);
    const bx = torch.randn([4, 8]).mul(3).to('bfloat16');
    gradsOf('bf16', { y: rmsBf16.forward(bx) });
    send('bf16_w', rmsBf16.weight);
    send('bf16_x', bx);

    py = evalTorch(
      {
        lin_y: 'lin_y',
        lin_wgrad: 'lin.weight.grad',
        lin_bgrad: 'lin.bias.grad',
        lin_xgrad: 'lin_x.grad',
        emb_y: 'emb_y',
        emb_wgrad: 'emb.weight.grad',
        rms_y: 'rms_y',
        rms_wgrad: 'rms.weight.grad',
        rms_xgrad: 'rms_x.grad',
        bf16_y: 'bf16_y',
        names_untied: 'names(TinyLM(False))',
        names_tied: 'names(TinyLM(True))',
      },
      inputs,
      String.raw`
import torch.nn as nn
def load(module, **tensors):
    with torch.no_grad():
        for k, v in tensors.items():
            getattr(module, k).copy_(v)
    return module
lin = load(nn.Linear(5, 3), weight=lin_w, bias=lin_b)
lin_x = lin_x.detach().requires_grad_(True)
lin_y = lin(lin_x)
(lin_y * lin_g).sum().backward()
emb = load(nn.Embedding(7, 4, padding_idx=2), weight=emb_w)
emb_y = emb(emb_ids)
(emb_y * emb_g).sum().backward()
rms = load(nn.RMSNorm(6, eps=1e-5), weight=rms_w)
rms_x = rms_x.detach().requires_grad_(True)
rms_y = rms(rms_x)
(rms_y * rms_g).sum().backward()
xf = bf16_x.float()
bf16_y = bf16_w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)).to(torch.bfloat16)

class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(4, 4)
        self.k = nn.Linear(4, 4, bias=False)
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(4)
        self.attn = Attention()
        self.mlp = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.1)
class TinyLM(nn.Module):
    def __init__(self, tied):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.layers = nn.ModuleList([Block(), Block()])
        self.finalNorm = nn.RMSNorm(4)
        self.head = nn.Linear(4, 10, bias=False)
        if tied:
            self.head.weight = self.embed.weight
def names(m):
    return [n for n, _ in m.named_parameters()]
`,
    );
    [lin, emb, rms, rmsBf16].forEach((m) => m.dispose());
  });

  afterAll(() => ours.forEach((t) => t.dispose()));

  test('Linear: output and gradients', () => {
    for (const k of ['y', 'wgrad', 'bgrad', 'xgrad']) expectMatches(ours.get(`lin_${k}`), py.get(`lin_${k}`));
  });
  test('Embedding (paddingIdx 2): output and weight gradient', () => {
    expectMatches(ours.get('emb_y'), py.get('emb_y'), { atol: 0, rtol: 0 });
    expectMatches(ours.get('emb_wgrad'), py.get('emb_wgrad'));
  });
  test('RMSNorm (float32): output and gradients', () => {
    for (const k of ['y', 'wgrad', 'xgrad']) expectMatches(ours.get(`rms_${k}`), py.get(`rms_${k}`));
  });
  test('RMSNorm (bfloat16) equals the Qwen2RMSNorm formula', () => {
    expectMatches(ours.get('bf16_y'), py.get('bf16_y'), { atol: 0, rtol: 0 });
  });
  test('parameter names and order equal named_parameters() of the same model in PyTorch', () => {
    const untied = new TinyLM();
    const tied = new TinyLM({ tied: true });
    expect(names(untied)).toEqual(py.get('names_untied'));
    expect(names(tied)).toEqual(py.get('names_tied'));
    untied.dispose();
    tied.dispose();
  });
});

describe('Module.dispose', () => {
  /** A module holding a tensor that is neither a parameter nor a buffer, freed by its own dispose(). */
  class Cached extends nn.Module {
    lin = new nn.Linear(3, 3);
    table: Tensor = torch.keep(torch.ones([4]));
    override dispose(): void {
      this.table.dispose();
      super.dispose();
    }
  }
  class Outer extends nn.Module {
    inner = new Cached();
    list = new nn.ModuleList([new Cached(), new nn.Linear(3, 2)]);
    scale = new nn.Parameter(torch.ones([1]));
  }

  test('frees the whole subtree through each child’s own dispose, once', () => {
    const before = torch.memory().liveTensors;
    // built in a scope: temporaries of construction are not the module's
    const m = torch.scope(() => {
      const outer = new Outer();
      outer.registerBuffer('steps', torch.keep(torch.zeros([1])));
      return outer;
    });
    expect(torch.memory().liveTensors).toBeGreaterThan(before);
    const held = [m.inner.table, (m.list.at(0) as Cached).table, m.scale, m.inner.lin.weight];
    m.dispose();
    expect(held.every((t) => t.isDisposed)).toBe(true);
    expect(torch.memory().liveTensors).toBe(before);
    m.dispose(); // again: nothing left, no error
    expect(torch.memory().liveTensors).toBe(before);
  });

  test('a parameter shared by two modules (tied weights) is freed once', () => {
    const before = torch.memory().liveTensors;
    const tied = torch.scope(() => new TinyLM({ tied: true }));
    tied.dispose();
    expect(torch.memory().liveTensors).toBe(before);
  });
});
