// Shared fixtures of the Qwen2 tests: scratch directories, small random models, a word-level
// tokenizer whose text is readable, and relative-error comparison.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as torch from '../../../src/torch';
import type { Tensor } from '../../../src/torch';
import { Tokenizer } from '../../../src/models/tokenizer';
import { Qwen2ForCausalLM, initQwen2Weights, makeQwen2Config, type Qwen2ConfigInit } from '../../../src/models/qwen2';
import { maxAbs, maxAbsDifference } from '../../helpers/differences';

/** A fresh temporary directory, removed by the returned cleanup. */
export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lt-qwen2-${prefix}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export const TINY: Qwen2ConfigInit = {
  vocabSize: 64,
  hiddenSize: 32,
  intermediateSize: 48,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
};

/** An in-memory random model (every parameter random, std 0.2 so that all of them matter). */
export function tinyModel(
  init: Partial<Qwen2ConfigInit> = {},
  { dtype = 'float64', seed = 7 }: { dtype?: torch.DType; seed?: number } = {},
): Qwen2ForCausalLM {
  const model = new Qwen2ForCausalLM(makeQwen2Config({ ...TINY, ...init }), { dtype });
  initQwen2Weights(model, { std: 0.2, seed, scheme: 'full' });
  return model.eval();
}

/** max |a - b| / max |b| over all elements (nested arrays or tensors); Infinity on a NaN. */
export function relativeError(actual: Tensor | unknown[], expected: Tensor | unknown[]): number {
  const a = flat(actual);
  const b = flat(expected);
  if (a.length !== b.length) throw new Error(`relativeError: ${a.length} elements vs ${b.length}`);
  return maxAbsDifference(a, b) / (maxAbs(b) || 1);
}

function flat(x: Tensor | unknown[]): number[] {
  if (Array.isArray(x)) {
    const items: unknown[] = x.flat(Infinity);
    return items.map(Number);
  }
  return Array.from(x.to('float64').toTypedArray() as Float64Array);
}

/**
 * A word-level tokenizer over `size` ids: "w0" ... "w{size-2}" and "<eos>" (special) as the last id.
 * Decoding joins words with spaces, so any generated ids give readable text.
 */
export function wordTokenizer(size: number): Tokenizer {
  const vocab: Record<string, number> = {};
  for (let i = 0; i < size - 1; i++) vocab[`w${i}`] = i;
  vocab['<eos>'] = size - 1;
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: size - 1, content: '<eos>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: 'w0' },
  };
  return Tokenizer.fromJson(json, { eos_token: '<eos>' });
}

/** Ids as an int64 [1, T] tensor. */
export function ids(values: number[]): Tensor {
  return torch.tensor([values], { dtype: 'int64' });
}
