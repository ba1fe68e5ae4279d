// latent-tokens: the library's entry point. Each namespace is also a subpath of its own
// (`import * as torch from 'latent-tokens/torch'`).
//   torch        the tensor library (PyTorch's API on libtorch)
//   models       Qwen2 and the tokenizer
//   data         GSM8K and the arithmetic task generator
//   latent       latent sequences, the latent forward, heads, generation, evaluation, diagnostics
//   train        the phase-1 trainer, checkpoints, run directories
//   rl           phase 2: GRPO over language and latent spans
//   report       HTML reports of run directories
//   hub          Hugging Face hub ids and the shared model cache
//   distributed  data-parallel training over torch.distributed's c10d
//   demo         the end-to-end study on the embedded arithmetic task
export * as torch from './torch';
export * as models from './models';
export * as data from './data';
export * as latent from './latent';
export * as train from './train';
export * as rl from './rl';
export * as report from './report';
export * as hub from './hub';
export * as distributed from './distributed';
export * as demo from './demo';
export { Tokenizer } from './models/tokenizer';
