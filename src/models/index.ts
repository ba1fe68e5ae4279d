export * as qwen2 from './qwen2';
export {
  Tokenizer,
  type AddedTokenSpec,
  type TokenizerJson,
  type TokenizerConfig,
  type EncodeOptions,
  type DecodeOptions,
  type RestrictOptions,
  type RestrictedTokenizer,
} from './tokenizer';
