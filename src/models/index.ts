export * as qwen2 from './qwen2';
