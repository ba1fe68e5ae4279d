// Parity with Hugging Face transformers' Qwen2ForCausalLM (an independent implementation) on random
// checkpoints written by makeModel, in both directions of the file format: transformers loads what we
// write, we load what transformers writes. One Python process serves the whole file.
import * as fs from 'fs';
import * as path from 'path';
import * as torch from '../../../src/torch';
import { generate, loadQwen2, makeModel, saveQwen2, type MakeModelOptions } from '../../../src/models/qwen2';
import { describeWithPython, runPython } from '../../helpers/python';
import { relativeError, scratchDir } from './helpers';

const SEQUENCES = [[1, 2, 3, 4, 5, 6, 7], [300, 17], [9]];
const PROMPT = [5, 99, 42];
const NEW_TOKENS = 8;

interface Case extends MakeModelOptions {
  name: string;
}
const CASES: Case[] = [
  // untied, grouped-query attention (2 query heads per kv head), float32 checkpoint
  { name: 'untied-gqa-f32', layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, vocab: 512, dtype: 'float32' },
  // tied embeddings, head_dim given explicitly (24, not 64 / 4), 4 query heads per kv head, bf16 checkpoint, rope_theta 1e6
  {
    name: 'tied-headdim-bf16',
    layers: 2,
    hidden: 64,
    heads: 4,
    kvHeads: 1,
    headDim: 24,
    intermediate: 96,
    vocab: 512,
    tie: true,
    dtype: 'bfloat16',
    ropeTheta: 1e6,
  },
  // plain multi-head attention, three layers
  { name: 'mha-3layers', layers: 3, hidden: 48, heads: 6, kvHeads: 6, intermediate: 80, vocab: 512, dtype: 'float32' },
];

// For float64, the reference's RMSNorm is patched to stay in float64: transformers casts the input to
// float32 (an upcast meant for 16-bit models, but a downcast for float64), which would make the
// reference itself only float32-accurate. Everything else is stock.
const PYTHON = String.raw`
import torch
from transformers import Qwen2ForCausalLM
from transformers.models.qwen2 import modeling_qwen2 as mq
torch.set_num_threads(1)
stock_norm = mq.Qwen2RMSNorm.forward
def norm_keeping_float64(self, h):
    if h.dtype != torch.float64:
        return stock_norm(self, h)
    variance = h.pow(2).mean(-1, keepdim=True)
    return self.weight * (h * torch.rsqrt(variance + self.variance_epsilon))
mq.Qwen2RMSNorm.forward = norm_keeping_float64

def load(d, dtype):
    return Qwen2ForCausalLM.from_pretrained(d, dtype=dtype).eval()

def run(m, seqs, hidden):
    out = []
    with torch.no_grad():
        for s in seqs:
            o = m(torch.tensor([s]), output_hidden_states=hidden)
            r = {"logits": o.logits[0].tolist()}
            if hidden:
                r["hiddenStates"] = [h[0].tolist() for h in o.hidden_states]
            out.append(r)
    return out

result = {"cases": {}, "saved": {}}
for case in INPUT["cases"]:
    d = case["dir"]
    m64 = load(d, torch.float64)
    g = m64.generate(torch.tensor([INPUT["prompt"]]), max_new_tokens=INPUT["newTokens"], do_sample=False,
                     eos_token_id=None, pad_token_id=0)
    m32 = load(d, torch.float32)
    mbf = load(d, torch.bfloat16)
    m32.save_pretrained(case["hfDir"], max_shard_size="40KB")
    result["cases"][case["name"]] = {
        "f64": run(m64, INPUT["sequences"], True),
        "f32": run(m32, INPUT["sequences"], False),
        "bf16": [{"logits": o["logits"]} for o in run(mbf, INPUT["sequences"], False)],
        "generated": g[0, len(INPUT["prompt"]):].tolist(),
        "keys": sorted(m32.state_dict().keys()),
        "tied": bool(m32.config.tie_word_embeddings),
        "headDim": m32.model.layers[0].self_attn.head_dim,
    }
for name, d in INPUT["saved"].items():
    result["saved"][name] = run(load(d, torch.float64), INPUT["sequences"], False)
emit(result)
`;

interface PyRun {
  logits: number[][];
  hiddenStates?: number[][][];
}
interface PyCase {
  f64: PyRun[];
  f32: PyRun[];
  bf16: PyRun[];
  generated: number[];
  keys: string[];
  tied: boolean;
  headDim: number;
}
interface PyResult {
  cases: Record<string, PyCase>;
  saved: Record<string, PyRun[]>;
}

describeWithPython('Qwen2 against Hugging Face transformers', () => {
  const scratch = scratchDir('parity');
  const dirOf = (name: string) => path.join(scratch.dir, name);
  let py: PyResult;

  beforeAll(() => {
    CASES.forEach((c, i) => makeModel(dirOf(c.name), { ...c, std: 0.15, seed: 100 + i, scheme: 'full' }));
    // Written by us, read by transformers: the untied model re-saved sharded, the tied bf16 one as float32.
    const untied = loadQwen2(dirOf(CASES[0].name));
    saveQwen2(untied.model, dirOf('saved-sharded'), { maxShardBytes: 60_000 });
    untied.model.dispose();
    const tied = loadQwen2(dirOf(CASES[1].name));
    saveQwen2(tied.model, dirOf('saved-tied-f32'), { dtype: 'float32' });
    tied.model.dispose();
    py = runPython<PyResult>(PYTHON, {
      cases: CASES.map((c) => ({ name: c.name, dir: dirOf(c.name), hfDir: dirOf(`${c.name}-hf`) })),
      saved: { sharded: dirOf('saved-sharded'), tiedF32: dirOf('saved-tied-f32') },
      sequences: SEQUENCES,
      prompt: PROMPT,
      newTokens: NEW_TOKENS,
    });
  });
  afterAll(() => scratch.cleanup());

  /** Our logits (and optionally hidden states) of each test sequence, run one at a time. */
  function ours(dir: string, dtype: torch.DType, hidden = false) {
    const { model } = loadQwen2(dir, { dtype });
    try {
      return SEQUENCES.map((seq) =>
        torch.noGrad(() => {
          const out = model.forward({ inputIds: torch.tensor([seq], { dtype: 'int64' }), outputHiddenStates: hidden });
          return {
            logits: out.logits.select(0, 0).to('float64').tolist() as number[][],
            hiddenStates: out.hiddenStates?.map((h) => h.select(0, 0).tolist() as number[][]),
            lastHidden: out.lastHidden.select(0, 0).tolist() as number[][],
          };
        }),
      );
    } finally {
      model.dispose();
    }
  }

  test.each(CASES.map((c) => c.name))('%s: float64 logits and hidden states agree to 1e-9', (name) => {
    const mine = ours(dirOf(name), 'float64', true);
    const ref = py.cases[name].f64;
    SEQUENCES.forEach((_, i) => {
      expect(relativeError(mine[i].logits, ref[i].logits)).toBeLessThan(1e-9);
      // transformers' hidden_states: embeddings, the layers' outputs, and last the normed final state
      const refStates = ref[i].hiddenStates!;
      const n = refStates.length - 1;
      expect(mine[i].hiddenStates!.length).toBe(n + 1);
      for (let l = 0; l < n; l++) expect(relativeError(mine[i].hiddenStates![l], refStates[l])).toBeLessThan(1e-9);
      expect(relativeError(mine[i].lastHidden, refStates[n])).toBeLessThan(1e-9);
    });
  });

  test.each(CASES.map((c) => c.name))('%s: float32 logits agree to 1e-4', (name) => {
    const mine = ours(dirOf(name), 'float32');
    SEQUENCES.forEach((_, i) => expect(relativeError(mine[i].logits, py.cases[name].f32[i].logits)).toBeLessThan(1e-4));
  });

  test('bfloat16 computation tracks transformers in bfloat16', () => {
    const name = CASES[1].name;
    const mine = ours(dirOf(name), 'bfloat16');
    SEQUENCES.forEach((_, i) => expect(relativeError(mine[i].logits, py.cases[name].bf16[i].logits)).toBeLessThan(2e-2));
  });

  test('parameter names are the checkpoint names, tying and head_dim as transformers reads them', () => {
    for (const c of CASES) {
      const { model } = loadQwen2(dirOf(c.name), { dtype: 'float32' });
      const keys = [...model.stateDict().keys()].sort();
      const ref = py.cases[c.name];
      // transformers lists the tied lm_head.weight among its keys; we hold it once, as the embedding
      expect(keys).toEqual(ref.keys.filter((k) => !(ref.tied && k === 'lm_head.weight')));
      expect(model.config.tieWordEmbeddings).toBe(ref.tied);
      expect(model.config.headDim).toBe(ref.headDim);
      model.dispose();
    }
  });

  test.each(CASES.map((c) => c.name))('%s: greedy generation with the KV cache matches transformers.generate', (name) => {
    const { model } = loadQwen2(dirOf(name), { dtype: 'float64' });
    const [result] = generate(model, [PROMPT], { maxNewTokens: NEW_TOKENS });
    model.dispose();
    expect(result.tokens).toEqual(py.cases[name].generated);
    expect(result.finishReason).toBe('length');
  });

  test('checkpoints we save (sharded; converted dtype) load in transformers with the same logits', () => {
    expect(fs.existsSync(path.join(dirOf('saved-sharded'), 'model.safetensors.index.json'))).toBe(true);
    const untied = ours(dirOf(CASES[0].name), 'float64');
    const tied = ours(dirOf(CASES[1].name), 'float64');
    SEQUENCES.forEach((_, i) => {
      expect(relativeError(py.saved.sharded[i].logits, untied[i].logits)).toBeLessThan(1e-9);
      expect(relativeError(py.saved.tiedF32[i].logits, tied[i].logits)).toBeLessThan(1e-9);
    });
  });

  test.each(CASES.map((c) => c.name))('%s: checkpoints transformers saves (sharded) load here with the same logits', (name) => {
    const hfDir = dirOf(`${name}-hf`);
    expect(fs.existsSync(path.join(hfDir, 'model.safetensors.index.json'))).toBe(true);
    const fromHf = ours(hfDir, 'float32');
    SEQUENCES.forEach((_, i) => expect(relativeError(fromHf[i].logits, py.cases[name].f32[i].logits)).toBeLessThan(1e-4));
  });
});
