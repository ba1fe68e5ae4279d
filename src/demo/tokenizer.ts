// The demo's tokenizer: the Qwen tokenizer restricted to the task's texts when a copy is on disk,
// otherwise a byte-level BPE tokenizer trained here on those texts, so the demo needs no download.
//
// The trained tokenizer has Qwen's pipeline (NFC, the same pre-tokenizer regex with single digits,
// byte-level symbols) and differs only in its merges, which come from the task instead of the web.
// Every byte has a symbol, so no text is ever lost; numbers are always split into digits, as Qwen does.
import * as fs from 'fs';
import * as path from 'path';
import { BYTE_LEVEL_ALPHABET } from '../models/byte-level';
import { Tokenizer, specialAddedToken, type AddedTokenSpec, type TokenizerJson } from '../models/tokenizer';

/** Qwen2's end-of-text token: the demo's end-of-sequence and padding token. */
export const END_OF_TEXT = '<|endoftext|>';

/** Qwen2's pre-tokenizer pattern, as it appears in its tokenizer.json. */
const QWEN_SPLIT_PATTERN = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
/** The same pattern for JavaScript, which lacks inline `(?i:…)` groups before Node 23. */
const QWEN_SPLIT_REGEX =
  /'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };

export interface BpeTrainingOptions {
  /** Largest vocabulary, counting the 256 byte symbols and the special tokens. */
  vocabSize: number;
  /** Stop merging when the most frequent pair occurs fewer times than this (default 2). */
  minFrequency?: number;
  /** Special tokens appended after the learned vocabulary (default: `<|endoftext|>`); the first is eos and pad. */
  specialTokens?: string[];
}

/** The byte-level symbols of one pre-tokenized piece of text (UTF-8 bytes through GPT-2's byte map). */
function byteLevelSymbols(piece: string): string[] {
  return Array.from(Buffer.from(piece, 'utf8'), (byte) => BYTE_LEVEL_ALPHABET[byte]);
}

/** Separates the two halves of a pair key; no byte-level symbol contains U+0000 (byte 0 maps to U+0100). */
const PAIR_SEPARATOR = '\u0000';

/**
 * Trains a byte-level BPE tokenizer on `corpus`, Hugging Face format (loads in Python `tokenizers` and
 * `transformers` as a PreTrainedTokenizerFast). Deterministic: ties between equally frequent pairs go
 * to the lexicographically smallest pair. Checks that every corpus text decodes back to itself.
 */
export function trainByteLevelBpe(corpus: readonly string[], options: BpeTrainingOptions): Tokenizer {
  const specialTokens = options.specialTokens ?? [END_OF_TEXT];
  const minFrequency = options.minFrequency ?? 2;
  const budget = options.vocabSize - BYTE_LEVEL_ALPHABET.length - specialTokens.length;
  if (!Number.isInteger(options.vocabSize) || budget < 0) {
    throw new RangeError(
      `trainByteLevelBpe: vocabSize must be an integer ≥ ${BYTE_LEVEL_ALPHABET.length + specialTokens.length} (256 bytes + special tokens), got ${options.vocabSize}`,
    );
  }
  if (!specialTokens.length)
    throw new RangeError('trainByteLevelBpe: give at least one special token (the end-of-sequence token)');

  const wordCounts = new Map<string, number>();
  corpus.forEach((text, index) => {
    if (typeof text !== 'string') throw new TypeError(`trainByteLevelBpe: corpus[${index}] is not a string`);
    for (const match of text.normalize('NFC').matchAll(QWEN_SPLIT_REGEX))
      wordCounts.set(match[0], (wordCounts.get(match[0]) ?? 0) + 1);
  });
  const words = [...wordCounts].map(([word, count]) => ({ symbols: byteLevelSymbols(word), count }));

  const merges: [string, string][] = [];
  while (merges.length < budget) {
    const pairCounts = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = symbols[i] + PAIR_SEPARATOR + symbols[i + 1];
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + count);
      }
    }
    let best: string | undefined;
    let bestCount = 0;
    for (const [key, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    if (best === undefined || bestCount < minFrequency) break;
    const [left, right] = best.split(PAIR_SEPARATOR) as [string, string];
    merges.push([left, right]);
    for (const word of words) {
      const s = word.symbols;
      for (let i = 0; i + 1 < s.length; i++) if (s[i] === left && s[i + 1] === right) s.splice(i, 2, left + right);
    }
  }

  const vocab: Record<string, number> = {};
  BYTE_LEVEL_ALPHABET.forEach((symbol, id) => (vocab[symbol] = id));
  for (const [left, right] of merges) if (!(left + right in vocab)) vocab[left + right] = Object.keys(vocab).length;
  const firstSpecialId = Object.keys(vocab).length;
  const addedTokens: AddedTokenSpec[] = specialTokens.map((content, i) => specialAddedToken(firstSpecialId + i, content));
  const json: TokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: { type: 'NFC' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'Split', pattern: { Regex: QWEN_SPLIT_PATTERN }, behavior: 'Isolated', invert: false }, BYTE_LEVEL],
    },
    post_processor: BYTE_LEVEL,
    decoder: BYTE_LEVEL,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const config = {
    add_bos_token: false,
    add_prefix_space: false,
    bos_token: null,
    eos_token: specialTokens[0],
    pad_token: specialTokens[0],
    unk_token: null,
    clean_up_tokenization_spaces: false,
    model_max_length: 32768,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  const tokenizer = Tokenizer.fromJson(json, config, `byte-level BPE trained on ${corpus.length} demo texts`);
  corpus.forEach((text, index) => {
    const back = tokenizer.decode(tokenizer.encode(text, { addSpecialTokens: false }));
    if (back !== text.normalize('NFC')) {
      throw new Error(
        `trainByteLevelBpe: corpus[${index}] does not survive encode/decode (${JSON.stringify(text.slice(0, 60))}…); please report this`,
      );
    }
  });
  return tokenizer;
}

export type TokenizerChoice = 'auto' | 'bpe' | { dir: string };

export interface DemoTokenizer {
  tokenizer: Tokenizer;
  /** Where it came from, for the log and docs: the Qwen directory, or how the BPE tokenizer was trained. */
  source: string;
  kind: 'qwen-restricted' | 'trained-bpe';
}

/** The Qwen tokenizer directory the demo uses when one exists: $QWEN_TOKENIZER_DIR, then `<repo>/../shared/qwen-tokenizer`. */
export function findQwenTokenizer(repoRoot = path.resolve(__dirname, '..', '..')): string | null {
  const candidates = [process.env.QWEN_TOKENIZER_DIR, path.resolve(repoRoot, '..', 'shared', 'qwen-tokenizer')];
  for (const dir of candidates) if (dir && fs.existsSync(path.join(dir, 'tokenizer.json'))) return dir;
  return null;
}

/**
 * The tokenizer for the demo's texts. `auto`: the Qwen tokenizer restricted to the texts (only the tokens
 * they use, so the embedding stays small) when findQwenTokenizer finds one, else a trained BPE tokenizer.
 * `{dir}` insists on that directory's tokenizer (restricted likewise); `bpe` always trains one.
 */
export function demoTokenizer(texts: readonly string[], choice: TokenizerChoice, bpeVocabSize: number): DemoTokenizer {
  const dir = choice === 'bpe' ? null : choice === 'auto' ? findQwenTokenizer() : choice.dir;
  if (dir === null) {
    return {
      tokenizer: trainByteLevelBpe(texts, { vocabSize: bpeVocabSize }),
      source: `byte-level BPE trained on the task (at most ${bpeVocabSize} tokens)`,
      kind: 'trained-bpe',
    };
  }
  const full = Tokenizer.fromDir(dir);
  if (full.tokenToId(END_OF_TEXT) === undefined)
    throw new Error(`${dir}: the tokenizer has no ${END_OF_TEXT} token; the demo expects a Qwen2 tokenizer`);
  const { tokenizer } = full.restrictTo(texts, { keepTokens: [END_OF_TEXT] });
  return { tokenizer, source: `${dir} restricted to the task's tokens`, kind: 'qwen-restricted' };
}
