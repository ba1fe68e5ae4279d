// Qwen2 configuration: Hugging Face's config.json (Qwen2Config) parsed, validated and written back.
// Features this implementation does not have (sliding-window attention, rope scaling variants) are
// refused with a message naming the file and the key, rather than silently computing something else.
import * as fs from 'fs';
import * as path from 'path';
import type { DType } from '../../torch';

export const CONFIG_FILE = 'config.json';
export const GENERATION_CONFIG_FILE = 'generation_config.json';

/** A config.json that is malformed, inconsistent, or asks for a feature this implementation lacks. */
export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

export interface Qwen2Config {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  /** Per-head width; `hidden_size / num_attention_heads` unless config.json gives `head_dim`. */
  headDim: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  /** Dropout on attention probabilities while training (HF `attention_dropout`; 0 in released models). */
  attentionDropout: number;
  bosTokenId: number | null;
  /** End-of-sequence ids (config.json allows one id or a list). */
  eosTokenIds: number[];
  padTokenId: number | null;
  /** Dtype the checkpoint declares (`torch_dtype`, or `dtype` in transformers 5); null when absent. */
  torchDtype: DType | null;
  /**
   * The config.json object as read (empty for a config built in code). Saving writes it back with the
   * fields above updated, so keys this implementation does not interpret survive a load/save cycle.
   */
  raw: Record<string, unknown>;
}

/** The dimensions a new model needs; everything else takes Qwen2's defaults. */
export interface Qwen2ConfigInit {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads?: number;
  headDim?: number;
  ropeTheta?: number;
  rmsNormEps?: number;
  tieWordEmbeddings?: boolean;
  maxPositionEmbeddings?: number;
  attentionDropout?: number;
  bosTokenId?: number | null;
  eosTokenIds?: number[];
  padTokenId?: number | null;
  torchDtype?: DType | null;
}

const TORCH_DTYPES: Record<string, DType> = {
  float32: 'float32',
  float: 'float32',
  float64: 'float64',
  double: 'float64',
  bfloat16: 'bfloat16',
  float16: 'float16',
  half: 'float16',
};

/** Builds and validates a config from dimensions (for new models). */
export function makeQwen2Config(init: Qwen2ConfigInit): Qwen2Config {
  const config: Qwen2Config = {
    vocabSize: init.vocabSize,
    hiddenSize: init.hiddenSize,
    intermediateSize: init.intermediateSize,
    numHiddenLayers: init.numHiddenLayers,
    numAttentionHeads: init.numAttentionHeads,
    numKeyValueHeads: init.numKeyValueHeads ?? init.numAttentionHeads,
    headDim: init.headDim ?? init.hiddenSize / init.numAttentionHeads,
    ropeTheta: init.ropeTheta ?? 10000,
    rmsNormEps: init.rmsNormEps ?? 1e-6,
    tieWordEmbeddings: init.tieWordEmbeddings ?? false,
    maxPositionEmbeddings: init.maxPositionEmbeddings ?? 32768,
    attentionDropout: init.attentionDropout ?? 0,
    bosTokenId: init.bosTokenId ?? null,
    eosTokenIds: init.eosTokenIds ?? [],
    padTokenId: init.padTokenId ?? null,
    torchDtype: init.torchDtype ?? null,
    raw: {},
  };
  validate(config, 'Qwen2 config');
  return config;
}

/** Parses a config.json object. `source` (usually the file path) prefixes every error message. */
export function parseQwen2Config(json: unknown, source = CONFIG_FILE): Qwen2Config {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelConfigError(`${source}: expected a JSON object`);
  }
  const raw = json as Record<string, unknown>;
  const fail = (message: string): never => {
    throw new ModelConfigError(`${source}: ${message}`);
  };

  const modelType = raw.model_type;
  if (modelType !== undefined && modelType !== 'qwen2') {
    fail(`model_type is ${JSON.stringify(modelType)}; only "qwen2" checkpoints are supported (Qwen2, Qwen2.5)`);
  }
  const int = (key: string, fallback?: number): number => {
    const v = raw[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      return fail(`missing required key "${key}"`);
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      fail(`"${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const num = (key: string, fallback: number): number => {
    const v = raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`"${key}" must be a finite number, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const optionalId = (key: string): number | null => {
    const v = raw[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      fail(`"${key}" must be a token id (a non-negative integer), got ${JSON.stringify(v)}`);
    return v as number;
  };

  const hiddenAct = raw.hidden_act ?? 'silu';
  if (hiddenAct !== 'silu') fail(`hidden_act ${JSON.stringify(hiddenAct)} is not supported (Qwen2 uses "silu")`);
  if (raw.use_sliding_window === true) {
    fail(
      'use_sliding_window is true: sliding-window attention is not implemented (set it to false to attend to the full context)',
    );
  }
  const layerTypes = raw.layer_types;
  if (Array.isArray(layerTypes) && layerTypes.some((t) => t !== 'full_attention')) {
    fail('layer_types lists layers other than "full_attention": sliding-window attention is not implemented');
  }

  const hiddenSize = int('hidden_size');
  const numAttentionHeads = int('num_attention_heads');
  const ropeTheta = parseRope(raw, fail);
  let eosTokenIds: number[] = [];
  const eos = raw.eos_token_id;
  if (Array.isArray(eos)) {
    eosTokenIds = eos.map((id, i) => {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
        return fail(`eos_token_id[${i}] must be a token id, got ${JSON.stringify(id)}`);
      return id;
    });
  } else if (eos !== undefined && eos !== null) {
    eosTokenIds = [optionalId('eos_token_id')!];
  }
  const dtypeName = raw.torch_dtype ?? raw.dtype;
  let torchDtype: DType | null = null;
  if (typeof dtypeName === 'string') {
    torchDtype = TORCH_DTYPES[dtypeName.replace(/^torch\./, '')] ?? null;
    if (torchDtype === null) fail(`torch_dtype ${JSON.stringify(dtypeName)} is not a floating dtype this library supports`);
  }

  const config: Qwen2Config = {
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numHiddenLayers: int('num_hidden_layers'),
    numAttentionHeads,
    numKeyValueHeads: int('num_key_value_heads', numAttentionHeads),
    headDim: int('head_dim', hiddenSize / numAttentionHeads),
    ropeTheta,
    rmsNormEps: num('rms_norm_eps', 1e-6),
    tieWordEmbeddings: raw.tie_word_embeddings === undefined ? false : raw.tie_word_embeddings === true,
    maxPositionEmbeddings: int('max_position_embeddings', 32768),
    attentionDropout: num('attention_dropout', 0),
    bosTokenId: optionalId('bos_token_id'),
    eosTokenIds,
    padTokenId: optionalId('pad_token_id'),
    torchDtype,
    raw: { ...raw },
  };
  if (raw.tie_word_embeddings !== undefined && typeof raw.tie_word_embeddings !== 'boolean') {
    fail(`"tie_word_embeddings" must be true or false, got ${JSON.stringify(raw.tie_word_embeddings)}`);
  }
  validate(config, source);
  return config;
}

/** rope_theta from either transformers 4 (`rope_theta` + `rope_scaling`) or 5 (`rope_parameters`). */
function parseRope(raw: Record<string, unknown>, fail: (message: string) => never): number {
  const checkType = (type: unknown, key: string) => {
    if (type !== undefined && type !== null && type !== 'default') {
      fail(`${key} ${JSON.stringify(type)} is not supported (only the default rotary embedding is implemented)`);
    }
  };
  const scaling = raw.rope_scaling;
  if (scaling !== undefined && scaling !== null) {
    if (typeof scaling !== 'object') fail(`"rope_scaling" must be an object or null, got ${JSON.stringify(scaling)}`);
    const s = scaling as Record<string, unknown>;
    checkType(s.rope_type ?? s.type, 'rope_scaling type');
  }
  let theta: unknown = raw.rope_theta;
  const parameters = raw.rope_parameters;
  if (parameters !== undefined && parameters !== null) {
    if (typeof parameters !== 'object') fail(`"rope_parameters" must be an object, got ${JSON.stringify(parameters)}`);
    const p = parameters as Record<string, unknown>;
    checkType(p.rope_type ?? p.type, 'rope_parameters.rope_type');
    if (p.rope_theta !== undefined) theta = p.rope_theta;
  }
  if (theta === undefined || theta === null) return 10000;
  if (typeof theta !== 'number' || !(theta > 0)) fail(`rope_theta must be a positive number, got ${JSON.stringify(theta)}`);
  return theta;
}

function validate(c: Qwen2Config, source: string): void {
  const fail = (message: string): never => {
    throw new ModelConfigError(`${source}: ${message}`);
  };
  const positive: [string, number][] = [
    ['vocab_size', c.vocabSize],
    ['hidden_size', c.hiddenSize],
    ['intermediate_size', c.intermediateSize],
    ['num_hidden_layers', c.numHiddenLayers],
    ['num_attention_heads', c.numAttentionHeads],
    ['num_key_value_heads', c.numKeyValueHeads],
    ['max_position_embeddings', c.maxPositionEmbeddings],
  ];
  for (const [key, v] of positive) if (!Number.isInteger(v) || v <= 0) fail(`${key} must be a positive integer, got ${v}`);
  if (!Number.isInteger(c.headDim) || c.headDim <= 0) {
    fail(`hidden_size ${c.hiddenSize} is not divisible by num_attention_heads ${c.numAttentionHeads}; give head_dim explicitly`);
  }
  if (c.headDim % 2 !== 0) fail(`head_dim ${c.headDim} must be even (rotary embeddings rotate pairs of dimensions)`);
  if (c.numAttentionHeads % c.numKeyValueHeads !== 0) {
    fail(`num_attention_heads ${c.numAttentionHeads} must be a multiple of num_key_value_heads ${c.numKeyValueHeads}`);
  }
  if (!(c.ropeTheta > 0)) fail(`rope_theta must be positive, got ${c.ropeTheta}`);
  if (!(c.rmsNormEps > 0)) fail(`rms_norm_eps must be positive, got ${c.rmsNormEps}`);
  if (!(c.attentionDropout >= 0 && c.attentionDropout < 1))
    fail(`attention_dropout must be in [0, 1), got ${c.attentionDropout}`);
  const ids: [string, number | null][] = [
    ['bos_token_id', c.bosTokenId],
    ['pad_token_id', c.padTokenId],
    ...c.eosTokenIds.map((id): [string, number] => ['eos_token_id', id]),
  ];
  for (const [key, id] of ids) {
    if (id !== null && !(Number.isInteger(id) && id >= 0 && id < c.vocabSize))
      fail(`${key} ${id} is outside the vocabulary (vocab_size ${c.vocabSize})`);
  }
}

/** Reads and parses `<dir>/config.json`. */
export function readQwen2Config(dir: string): Qwen2Config {
  const file = path.join(dir, CONFIG_FILE);
  if (!fs.existsSync(file)) throw new ModelConfigError(`${file}: not found (a Hugging Face model directory holds a config.json)`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelConfigError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseQwen2Config(json, file);
}

/**
 * The config.json object Hugging Face transformers reads as a Qwen2Config: `raw` (keys not interpreted
 * here survive) with every interpreted field written in transformers' spelling.
 */
export function qwen2ConfigToJson(
  c: Qwen2Config,
  { torchDtype = c.torchDtype }: { torchDtype?: DType | null } = {},
): Record<string, unknown> {
  const json: Record<string, unknown> = { ...c.raw };
  Object.assign(json, {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    hidden_act: 'silu',
    max_position_embeddings: c.maxPositionEmbeddings,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    tie_word_embeddings: c.tieWordEmbeddings,
    attention_dropout: c.attentionDropout,
    use_sliding_window: false,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds.length === 0 ? null : [...c.eosTokenIds],
  });
  if (c.padTokenId !== null) json.pad_token_id = c.padTokenId;
  if (json.rope_parameters && typeof json.rope_parameters === 'object') {
    json.rope_parameters = { ...json.rope_parameters, rope_type: 'default', rope_theta: c.ropeTheta };
  }
  if (torchDtype) {
    json.torch_dtype = torchDtype;
    if ('dtype' in json) json.dtype = torchDtype;
  }
  return json;
}

/** Generation defaults from generation_config.json (only what generate() uses). */
export interface GenerationDefaults {
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
}

/**
 * Reads `<dir>/generation_config.json` when present; ids it lacks come from the model config. Its eos
 * ids take precedence (instruct models list both `<|im_end|>` and `<|endoftext|>` there).
 */
export function readGenerationDefaults(dir: string, config: Qwen2Config): GenerationDefaults {
  const defaults: GenerationDefaults = {
    bosTokenId: config.bosTokenId,
    eosTokenIds: [...config.eosTokenIds],
    padTokenId: config.padTokenId,
  };
  const file = path.join(dir, GENERATION_CONFIG_FILE);
  if (!fs.existsSync(file)) return defaults;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelConfigError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const id = (key: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw new ModelConfigError(`${file}: "${key}" must be a token id, got ${JSON.stringify(v)}`);
    return v;
  };
  if (json.bos_token_id != null) defaults.bosTokenId = id('bos_token_id', json.bos_token_id);
  if (json.pad_token_id != null) defaults.padTokenId = id('pad_token_id', json.pad_token_id);
  const eos = json.eos_token_id;
  if (Array.isArray(eos)) defaults.eosTokenIds = eos.map((v) => id('eos_token_id', v));
  else if (eos != null) defaults.eosTokenIds = [id('eos_token_id', eos)];
  return defaults;
}

/** generation_config.json contents for a model (what transformers writes for a config without sampling settings). */
export function generationConfigJson(g: GenerationDefaults): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  if (g.bosTokenId !== null) json.bos_token_id = g.bosTokenId;
  if (g.eosTokenIds.length) json.eos_token_id = g.eosTokenIds.length === 1 ? g.eosTokenIds[0] : [...g.eosTokenIds];
  if (g.padTokenId !== null) json.pad_token_id = g.padTokenId;
  return json;
}
