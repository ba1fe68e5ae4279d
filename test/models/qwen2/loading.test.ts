// Checkpoint loading and saving: dtypes, tied and untied heads, shards, and the errors a bad
// checkpoint or config.json produces. Parity of the saved files with transformers is in parity.test.ts.
import * as fs from 'fs';
import * as path from 'path';
import * as torch from '../../../src/torch';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../../src/torch/io/safetensors';
import {
  CheckpointError,
  loadQwen2,
  makeModel,
  parseQwen2Config,
  qwen2ConfigToJson,
  readGenerationDefaults,
  saveQwen2,
  type MakeModelOptions,
} from '../../../src/models/qwen2';
import { ids, relativeError, scratchDir, wordTokenizer } from './helpers';

const SMALL: MakeModelOptions = {
  layers: 2,
  hidden: 32,
  heads: 4,
  kvHeads: 2,
  intermediate: 48,
  vocab: 96,
  std: 0.2,
  seed: 5,
  scheme: 'full',
};

const BASE_CONFIG = {
  model_type: 'qwen2',
  vocab_size: 96,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
};

const scratch = scratchDir('loading');
afterAll(() => scratch.cleanup());
const dirOf = (name: string) => path.join(scratch.dir, name);

function logitsOf(dir: string, dtype: torch.DType = 'float64', strict = true): torch.Tensor {
  const { model } = loadQwen2(dir, { dtype, strict });
  const out = torch.noGrad(() => model.forward({ inputIds: ids([1, 5, 9, 2]) }).logits);
  model.dispose();
  return out;
}

/** Rewrites a checkpoint's single safetensors file through `edit` (which may drop, add or reshape tensors). */
function rewriteWeights(from: string, to: string, edit: (tensors: TensorToWrite[]) => TensorToWrite[]): void {
  fs.cpSync(from, to, { recursive: true });
  const file = path.join(to, 'model.safetensors');
  const source = SafetensorsFile.open(file);
  const tensors = [...source.entries.values()].map((e) => ({
    name: e.name,
    dtype: e.dtype,
    shape: e.shape,
    data: source.read(e.name),
  }));
  source.close();
  writeSafetensors(file, edit(tensors), { format: 'pt' });
}

describe('loading checkpoints', () => {
  beforeAll(() => {
    makeModel(dirOf('f32'), { ...SMALL, dtype: 'float32' });
    makeModel(dirOf('bf16'), { ...SMALL, dtype: 'bfloat16' });
    makeModel(dirOf('tied'), { ...SMALL, tie: true, dtype: 'float32' });
  });

  test('loads in the checkpoint dtype by default, or converts to a requested one', () => {
    const bf16 = loadQwen2(dirOf('bf16'));
    expect(bf16.model.dtype).toBe('bfloat16');
    expect(bf16.config.torchDtype).toBe('bfloat16');
    const asF32 = loadQwen2(dirOf('bf16'), { dtype: 'float32' });
    expect(asF32.model.dtype).toBe('float32');
    for (const [name, p] of bf16.model.stateDict()) {
      const converted = asF32.model.stateDict().get(name)!;
      expect([name, converted.dtype, relativeError(converted, p.to('float32'))]).toEqual([name, 'float32', 0]);
    }
    // the bf16 file holds the float32 draws rounded to bfloat16
    const f32 = loadQwen2(dirOf('f32'));
    expect(f32.model.dtype).toBe('float32');
    const w = 'model.layers.1.mlp.up_proj.weight';
    expect(relativeError(bf16.model.stateDict().get(w)!, f32.model.stateDict().get(w)!.to('bfloat16'))).toBe(0);
    for (const m of [bf16, asF32, f32]) m.model.dispose();
  });

  test('tied checkpoints have no lm_head; the head is the embedding matrix', () => {
    const tied = loadQwen2(dirOf('tied'), { dtype: 'float64' });
    expect(tied.model.lm_head).toBeNull();
    expect(tied.model.stateDict().has('lm_head.weight')).toBe(false);
    using file = SafetensorsFile.open(path.join(dirOf('tied'), 'model.safetensors'));
    expect(file.has('lm_head.weight')).toBe(false);
    const out = torch.noGrad(() => tied.model.forward({ inputIds: ids([3, 4]) }));
    const manual = torch.linear(out.lastHidden, tied.model.model.embed_tokens.weight);
    expect(relativeError(out.logits, manual)).toBe(0);
    const untied = loadQwen2(dirOf('f32'));
    expect(untied.model.lm_head).not.toBeNull();
    expect(untied.model.outputEmbeddings).toBe(untied.model.lm_head!.weight);
    tied.model.dispose();
    untied.model.dispose();
  });

  test('state dict keys are the Hugging Face names', () => {
    const { model } = loadQwen2(dirOf('f32'));
    const layer = (i: number) =>
      [
        'input_layernorm.weight',
        'mlp.down_proj.weight',
        'mlp.gate_proj.weight',
        'mlp.up_proj.weight',
        'post_attention_layernorm.weight',
        'self_attn.k_proj.bias',
        'self_attn.k_proj.weight',
        'self_attn.o_proj.weight',
        'self_attn.q_proj.bias',
        'self_attn.q_proj.weight',
        'self_attn.v_proj.bias',
        'self_attn.v_proj.weight',
      ].map((k) => `model.layers.${i}.${k}`);
    expect([...model.stateDict().keys()].sort()).toEqual(
      ['lm_head.weight', 'model.embed_tokens.weight', ...layer(0), ...layer(1), 'model.norm.weight'].sort(),
    );
    model.dispose();
  });

  test('saves sharded (index + shards) and in another dtype; loading gives the same model', () => {
    const { model, config } = loadQwen2(dirOf('f32'));
    saveQwen2(model, dirOf('sharded'), { maxShardBytes: 20_000 });
    saveQwen2(model, dirOf('as-f64'), { dtype: 'float64' });
    model.dispose();
    const index = JSON.parse(fs.readFileSync(path.join(dirOf('sharded'), 'model.safetensors.index.json'), 'utf8'));
    expect(new Set(Object.values(index.weight_map)).size).toBeGreaterThan(1);
    expect(fs.existsSync(path.join(dirOf('sharded'), 'model.safetensors'))).toBe(false);
    expect(relativeError(logitsOf(dirOf('sharded')), logitsOf(dirOf('f32')))).toBe(0);
    expect(loadQwen2(dirOf('as-f64')).model.dtype).toBe('float64');
    expect(relativeError(logitsOf(dirOf('as-f64')), logitsOf(dirOf('f32')))).toBe(0);
    const saved = JSON.parse(fs.readFileSync(path.join(dirOf('as-f64'), 'config.json'), 'utf8'));
    expect(saved).toMatchObject({
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      torch_dtype: 'float64',
      hidden_size: config.hiddenSize,
      tie_word_embeddings: false,
    });
  });

  test('a model directory with a tokenizer loads it; generation_config.json eos ids take precedence', () => {
    const dir = dirOf('with-tokenizer');
    const tokenizer = wordTokenizer(96);
    const { model, config } = loadQwen2(dirOf('f32'));
    saveQwen2(model, dir, { tokenizer, generation: { bosTokenId: null, eosTokenIds: [95, 94], padTokenId: 95 } });
    model.dispose();
    const loaded = loadQwen2(dir);
    expect(loaded.tokenizer).not.toBeNull();
    expect(loaded.tokenizer!.encode('w3 w4')).toEqual([3, 4]);
    expect(loaded.generation).toEqual({ bosTokenId: null, eosTokenIds: [95, 94], padTokenId: 95 });
    expect(readGenerationDefaults(dirOf('f32'), config).eosTokenIds).toEqual([]);
    expect(loadQwen2(dir, { tokenizer: false }).tokenizer).toBeNull();
    expect(loadQwen2(dirOf('f32')).tokenizer).toBeNull();
    loaded.model.dispose();
  });

  test('a missing tensor is named in the error', () => {
    const dir = dirOf('missing');
    rewriteWeights(dirOf('f32'), dir, (ts) => ts.filter((t) => t.name !== 'model.layers.1.self_attn.v_proj.bias'));
    expect(() => loadQwen2(dir)).toThrow(/missing tensor "model\.layers\.1\.self_attn\.v_proj\.bias" \[16\]/);
    try {
      loadQwen2(dir);
    } catch (e) {
      expect((e as Error).name).toBe('CheckpointError');
      expect(e).toBeInstanceOf(CheckpointError);
    }
  });

  test('a mis-shaped tensor is named with both shapes', () => {
    const dir = dirOf('misshaped');
    rewriteWeights(dirOf('f32'), dir, (ts) =>
      ts.map((t) => (t.name === 'model.layers.0.mlp.gate_proj.weight' ? { ...t, shape: [32, 48] } : t)),
    );
    expect(() => loadQwen2(dir)).toThrow(
      /model\.safetensors: tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[32,48\], the model expects \[48,32\]/,
    );
  });

  test('unexpected tensors are refused unless strict is off; a tied copy of lm_head is ignored', () => {
    const extra = dirOf('extra');
    rewriteWeights(dirOf('f32'), extra, (ts) => [
      ...ts,
      { name: 'model.layers.0.mystery', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
    ]);
    expect(() => loadQwen2(extra)).toThrow(/"model\.layers\.0\.mystery" is not part of a Qwen2 model/);
    expect(relativeError(logitsOf(extra, 'float32', false), logitsOf(dirOf('f32'), 'float32'))).toBe(0);

    const tiedWithHead = dirOf('tied-with-head');
    rewriteWeights(dirOf('tied'), tiedWithHead, (ts) => [
      ...ts,
      { ...ts.find((t) => t.name === 'model.embed_tokens.weight')!, name: 'lm_head.weight' },
    ]);
    expect(relativeError(logitsOf(tiedWithHead), logitsOf(dirOf('tied')))).toBe(0);
  });

  test('a config that does not match the weights lists the missing tensors', () => {
    const dir = dirOf('wrong-config');
    fs.cpSync(dirOf('f32'), dir, { recursive: true });
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 3 }));
    expect(() => loadQwen2(dir)).toThrow(
      /missing tensors "model\.layers\.2\.self_attn\.q_proj\.weight" \[32,32\], .* \(12 in all\)/,
    );
  });

  test('a directory without weights or config explains what is missing', () => {
    fs.mkdirSync(dirOf('empty'));
    expect(() => loadQwen2(dirOf('empty'))).toThrow(/config\.json: not found/);
    expect(() => loadQwen2(dirOf('nowhere'))).toThrow(/model directory not found/);
    fs.mkdirSync(dirOf('config-only'));
    fs.copyFileSync(path.join(dirOf('f32'), 'config.json'), path.join(dirOf('config-only'), 'config.json'));
    expect(() => loadQwen2(dirOf('config-only'))).toThrow(
      /cannot open the weights.*neither model\.safetensors nor model\.safetensors\.index\.json/,
    );
  });
});

describe('config.json', () => {
  test('reads transformers 4 and 5 spellings of the same config', () => {
    const v4 = parseQwen2Config({
      ...BASE_CONFIG,
      rope_theta: 1000000.0,
      rope_scaling: null,
      torch_dtype: 'bfloat16',
      eos_token_id: 7,
      tie_word_embeddings: true,
    });
    const v5 = parseQwen2Config({
      ...BASE_CONFIG,
      rope_parameters: { rope_type: 'default', rope_theta: 1000000.0 },
      dtype: 'bfloat16',
      eos_token_id: [7],
    });
    for (const c of [v4, v5]) {
      expect(c).toMatchObject({
        ropeTheta: 1e6,
        torchDtype: 'bfloat16',
        eosTokenIds: [7],
        headDim: 8,
        numKeyValueHeads: 2,
        rmsNormEps: 1e-6,
      });
    }
    expect(v4.tieWordEmbeddings).toBe(true);
    expect(v5.tieWordEmbeddings).toBe(false);
    const defaults = parseQwen2Config({ ...BASE_CONFIG, num_key_value_heads: undefined });
    expect(defaults).toMatchObject({
      numKeyValueHeads: 4,
      ropeTheta: 10000,
      maxPositionEmbeddings: 32768,
      bosTokenId: null,
      torchDtype: null,
    });
  });

  test('round-trips, keeping keys it does not interpret', () => {
    const c = parseQwen2Config({ ...BASE_CONFIG, head_dim: 16, initializer_range: 0.02, use_cache: true, rope_theta: 5e5 });
    const json = qwen2ConfigToJson(c, { torchDtype: 'float32' });
    expect(json).toMatchObject({
      initializer_range: 0.02,
      use_cache: true,
      head_dim: 16,
      torch_dtype: 'float32',
      rope_theta: 5e5,
    });
    expect(parseQwen2Config(json)).toEqual({ ...c, torchDtype: 'float32', raw: json });
  });

  test.each([
    [
      { use_sliding_window: true, sliding_window: 4096 },
      /use_sliding_window is true: sliding-window attention is not implemented/,
    ],
    [{ rope_scaling: { type: 'yarn', factor: 4 } }, /rope_scaling type "yarn" is not supported/],
    [
      { rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 1e4 } },
      /rope_parameters\.rope_type "linear" is not supported/,
    ],
    [{ model_type: 'llama' }, /model_type is "llama"; only "qwen2"/],
    [{ hidden_act: 'gelu' }, /hidden_act "gelu" is not supported/],
    [{ num_attention_heads: 5 }, /not divisible by num_attention_heads 5; give head_dim/],
    [{ num_key_value_heads: 3 }, /num_attention_heads 4 must be a multiple of num_key_value_heads 3/],
    [{ hidden_size: undefined }, /missing required key "hidden_size"/],
    [{ vocab_size: '96' }, /"vocab_size" must be a positive integer, got "96"/],
    [{ eos_token_id: 96 }, /eos_token_id 96 is outside the vocabulary \(vocab_size 96\)/],
    [{ torch_dtype: 'int8' }, /torch_dtype "int8" is not a floating dtype/],
    [{ head_dim: 7 }, /head_dim 7 must be even/],
  ])('refuses %p', (patch, message) => {
    expect(() => parseQwen2Config({ ...BASE_CONFIG, ...patch }, '/models/x/config.json')).toThrow(message);
    expect(() => parseQwen2Config({ ...BASE_CONFIG, ...patch }, '/models/x/config.json')).toThrow(/^\/models\/x\/config\.json: /);
  });
});
