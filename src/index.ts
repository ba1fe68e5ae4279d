// latent-tokens: the library's entry point.
//   torch   the tensor library (PyTorch's API on libtorch)
//   models  Qwen2 and the tokenizer
//   data    GSM8K and the arithmetic task generator
//   latent  latent sequences, the latent forward, heads, generation, evaluation, diagnostics
//   train   the phase-1 trainer, checkpoints, run directories
//   demo    the end-to-end study on the embedded arithmetic task
export * as torch from './torch';
export * as models from './models';
export * as data from './data';
export * as latent from './latent';
export * as train from './train';
export * as demo from './demo';
export { Tokenizer } from './models/tokenizer';
