// Qwen2 / Qwen2.5 causal language models: configuration, modeling, KV cache, Hugging Face checkpoint
// loading and saving, generation, and random checkpoints.
export {
  CONFIG_FILE,
  GENERATION_CONFIG_FILE,
  ModelConfigError,
  generationConfigJson,
  makeQwen2Config,
  parseQwen2Config,
  qwen2ConfigToJson,
  readGenerationDefaults,
  readQwen2Config,
  type GenerationDefaults,
  type Qwen2Config,
  type Qwen2ConfigInit,
} from './config';
export { KVCache } from './cache';
export {
  Qwen2Attention,
  Qwen2DecoderLayer,
  Qwen2ForCausalLM,
  Qwen2MLP,
  Qwen2Model,
  Qwen2RotaryEmbedding,
  applyRotaryPosEmb,
  buildAttentionMask,
  rotateHalf,
  type AttentionMask,
  type ModelPlacement,
  type Qwen2BaseOutput,
  type Qwen2CausalLMOutput,
  type Qwen2Inputs,
} from './modeling';
export {
  CheckpointError,
  ModelDirError,
  fromPretrained,
  loadQwen2,
  loadQwen2Weights,
  saveQwen2,
  type LoadOptions,
  type PretrainedQwen2,
  type SaveOptions,
} from './loading';
export {
  StreamingText,
  filterLogits,
  generate,
  sampleTokens,
  type FinishReason,
  type GenerateOptions,
  type GenerationResult,
  type SamplingOptions,
  type TokenEvent,
} from './generate';
export { initQwen2Weights, makeModel, type InitOptions, type MakeModelOptions } from './make-model';
