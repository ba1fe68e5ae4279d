/** Tokenizers and corpora shared by the tokenizer and vocabulary-restriction tests. */
import * as fs from 'fs';
import * as path from 'path';
import { BYTE_LEVEL_ALPHABET } from '../../src/models/byte-level';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const QWEN_DIR = process.env.QWEN_TOKENIZER_DIR ?? path.join(REPO_ROOT, '..', 'shared', 'qwen-tokenizer');
const GSM8K_TRAIN = path.join(REPO_ROOT, '..', 'shared', 'gsm8k', 'train.jsonl');
const haveQwen = fs.existsSync(path.join(QWEN_DIR, 'tokenizer.json'));
if (!haveQwen) console.log(`skipping Qwen tokenizer tests: no tokenizer.json in ${QWEN_DIR} (set QWEN_TOKENIZER_DIR)`);
export const describeQwen = haveQwen ? describe : describe.skip;

/**
 * A tiny GPT-2 style byte-level BPE: ids 0..255 are the bytes, then merges building " the", "he", " low", "lo",
 * and one added special token at id 300 (leaving a gap, as real vocabularies sometimes do).
 */
export function tinyTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE_LEVEL_ALPHABET.forEach((symbol, byte) => (vocab[symbol] = byte));
  const merges: [string, string][] = [
    ['Ġ', 't'],
    ['h', 'e'],
    ['Ġt', 'he'],
    ['l', 'o'],
    ['lo', 'w'],
    ['Ġ', 'low'],
  ];
  merges.forEach(([a, b], i) => (vocab[a + b] = 256 + i));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 300, content: '<|end|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}
export const tinyConfig = { eos_token: '<|end|>', pad_token: { content: '<|end|>', __type: 'AddedToken' } };

/** GSM8K question+answer texts when the shared data is present, otherwise a fixed set of varied sentences. */
export function loadCorpus(count: number): string[] {
  if (fs.existsSync(GSM8K_TRAIN)) {
    return fs
      .readFileSync(GSM8K_TRAIN, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .slice(0, count)
      .map((line) => {
        const { question, answer } = JSON.parse(line) as { question: string; answer: string };
        return `${question}\n${answer}`;
      });
  }
  return Array.from(
    { length: count },
    (_, i) => `Question ${i}: ${i * 7} apples cost $${(i * 1.25).toFixed(2)}; <<${i}*3=${i * 3}>> #### ${i * 3}`,
  );
}
