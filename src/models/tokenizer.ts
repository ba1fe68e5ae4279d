/**
 * Hugging Face "fast" tokenizers (tokenizer.json) for latent-tokens.
 *
 * Wraps the pure-TypeScript `@huggingface/tokenizers` implementation (ids identical to the Rust library) and adds
 * what training code needs on top: special-token ids from tokenizer_config.json, appending new special tokens
 * (e.g. latent `<bot>` / `<eot>` markers), saving in a form Python `tokenizers` / `transformers` load, readable
 * per-token text for diagnostics, and restricting a large byte-level BPE vocabulary to the tokens a corpus uses
 * (for small demo models whose embedding matrix must stay small).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { writeTextAtomic } from '../util/atomic-write';
import { byteLevelToBytes, renderBytesReadably } from './byte-level';
import { restrictFiles, verifySameTokens } from './restrict-vocab';
import {
  CONFIG_FILE,
  NAMED_SPECIAL_TOKEN_KEYS,
  TOKENIZER_FILE,
  addedTokenConfigEntry,
  containsComponent,
  isObject,
  mergeConfigAddedTokens,
  modelVocabOf,
  readJsonFile,
  recordAddedTokenInConfig,
  specialAddedToken,
  specialTokenContent,
  validateTokenizerJson,
  type AddedTokenSpec,
  type JsonObject,
  type TokenizerConfig,
  type TokenizerJson,
} from './tokenizer-files';

export { specialAddedToken, type AddedTokenSpec, type TokenizerConfig, type TokenizerJson } from './tokenizer-files';

export interface EncodeOptions {
  /** Let the post-processor add its special tokens (BOS/EOS templates). Default true, as in Hugging Face. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (eos, pad, added special tokens such as `<bot>`) from the text. Default false. */
  skipSpecialTokens?: boolean;
}

export interface RestrictOptions {
  /** Token strings to keep even if the corpus does not use them (they must exist in this tokenizer). */
  keepTokens?: string[];
  /** Re-encode the corpus with the restricted tokenizer and check the tokens are identical. Default true. */
  verify?: boolean;
}

export interface RestrictedTokenizer {
  tokenizer: Tokenizer;
  /** Old id → new id, for every kept token. */
  oldToNew: Map<number, number>;
  /** New id → old id (`newToOld[newId]`), e.g. to gather rows of a pretrained embedding matrix. */
  newToOld: number[];
}

export class Tokenizer {
  private readonly json: TokenizerJson;
  private readonly config: TokenizerConfig;
  /** Where this tokenizer came from, for error messages. */
  readonly source: string;
  private inner!: HfTokenizer;
  private addedById = new Map<number, AddedTokenSpec>();
  private highestId = -1;
  private readonly byteLevel: boolean;

  private constructor(json: TokenizerJson, config: TokenizerConfig, source: string) {
    this.json = json;
    this.config = config;
    this.source = source;
    this.byteLevel = containsComponent(json.decoder, 'ByteLevel');
    this.rebuild();
  }

  /** Loads `<dir>/tokenizer.json` and, when present, `<dir>/tokenizer_config.json`. */
  static fromDir(dir: string): Tokenizer {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new Error(`Tokenizer.fromDir: directory not found: ${dir}`);
    }
    const tokenizerPath = path.join(dir, TOKENIZER_FILE);
    if (!fs.existsSync(tokenizerPath)) {
      throw new Error(
        `Tokenizer.fromDir: ${dir} has no ${TOKENIZER_FILE} (it contains: ${fs.readdirSync(dir).join(', ') || 'nothing'}). ` +
          `Only "fast" tokenizers are supported; in Python, AutoTokenizer.from_pretrained(...).save_pretrained(dir) writes one.`,
      );
    }
    const configPath = path.join(dir, CONFIG_FILE);
    return Tokenizer.fromFile(tokenizerPath, fs.existsSync(configPath) ? configPath : undefined);
  }

  /** Loads a tokenizer.json and an optional tokenizer_config.json (special tokens, added tokens). */
  static fromFile(tokenizerJsonPath: string, configPath?: string): Tokenizer {
    const json = readJsonFile(tokenizerJsonPath);
    const config = configPath === undefined ? {} : readJsonFile(configPath);
    return Tokenizer.build(json, config, configPath ? `${tokenizerJsonPath} + ${configPath}` : tokenizerJsonPath);
  }

  /** Builds a tokenizer from already-parsed tokenizer.json / tokenizer_config.json contents (they are copied). */
  static fromJson(tokenizerJson: unknown, config: unknown = {}, source = 'tokenizer.json (in memory)'): Tokenizer {
    return Tokenizer.build(structuredClone(tokenizerJson), structuredClone(config), source);
  }

  /** Takes ownership of `tokenizerJson` and `config` (no copy: tokenizer.json files are large). */
  private static build(tokenizerJson: unknown, config: unknown, source: string): Tokenizer {
    const json = validateTokenizerJson(tokenizerJson, source);
    if (!isObject(config)) throw new Error(`${source}: tokenizer_config.json must hold a JSON object`);
    mergeConfigAddedTokens(json, config, source);
    return new Tokenizer(json, config, source);
  }

  /** Number of ids, including added tokens: highest id + 1 (the minimum embedding size). */
  get vocabSize(): number {
    return this.highestId + 1;
  }

  get bosTokenId(): number | undefined {
    return this.namedSpecialTokenId('bos_token');
  }

  get eosTokenId(): number | undefined {
    return this.namedSpecialTokenId('eos_token');
  }

  get padTokenId(): number | undefined {
    return this.namedSpecialTokenId('pad_token');
  }

  /** Ids of all tokens marked special (named ones and added special tokens), ascending. */
  get specialTokenIds(): number[] {
    const ids = new Set<number>();
    for (const token of this.addedById.values()) if (token.special) ids.add(token.id);
    for (const key of NAMED_SPECIAL_TOKEN_KEYS) {
      const id = this.namedSpecialTokenId(key);
      if (id !== undefined) ids.add(id);
    }
    return [...ids].sort((a, b) => a - b);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`Tokenizer.encode: expected a string, got ${typeof text}`);
    return this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): number[][] {
    return texts.map((text) => this.encode(text, options));
  }

  /** Token strings (vocabulary entries, e.g. byte-level `Ġthe`) of `text`, without post-processor tokens. */
  tokenize(text: string): string[] {
    if (typeof text !== 'string') throw new TypeError(`Tokenizer.tokenize: expected a string, got ${typeof text}`);
    return this.inner.encode(text, { add_special_tokens: false }).tokens;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    ids.forEach((id, position) => this.checkId(id, `Tokenizer.decode: ids[${position}]`));
    if (ids.length === 0) return '';
    return this.inner.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  /**
   * Readable text of a single token for diagnostics. Byte-level tokens are shown as the text their bytes spell;
   * bytes that are not complete UTF-8 on their own (a piece of a multi-byte character) appear as `<0xE4>`.
   */
  decodeToken(id: number): string {
    const token = this.checkId(id, 'Tokenizer.decodeToken');
    if (this.addedById.has(id)) return token;
    if (!this.byteLevel) return this.inner.decode([id], { skip_special_tokens: false });
    const bytes = byteLevelToBytes(token);
    return bytes === undefined ? token : renderBytesReadably(bytes);
  }

  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) ? this.inner.id_to_token(id) : undefined;
  }

  /**
   * Registers `tokens` as special added tokens (matched whole in any text, never split, skipped by
   * `decode(..., {skipSpecialTokens: true})`) and returns their ids. New tokens get ids after the current highest
   * id, in order; tokens that already exist keep their id (calling this twice is harmless).
   */
  addSpecialTokens(tokens: readonly string[]): number[] {
    let changed = false;
    const modelVocab = this.modelVocab();
    const ids = tokens.map((content, index) => {
      if (typeof content !== 'string' || content.length === 0) {
        throw new Error(`Tokenizer.addSpecialTokens: tokens[${index}] must be a non-empty string`);
      }
      const existingAdded = this.json.added_tokens.find((t) => t.content === content);
      if (existingAdded) return existingAdded.id;
      // As in Hugging Face: a token already in the model vocabulary keeps its id but becomes unsplittable.
      const id = modelVocab.get(content) ?? this.highestId + 1;
      const spec = specialAddedToken(id, content);
      this.json.added_tokens.push(spec);
      this.highestId = Math.max(this.highestId, id);
      recordAddedTokenInConfig(this.config, spec);
      changed = true;
      return id;
    });
    if (changed) {
      this.json.added_tokens.sort((a, b) => a.id - b.id);
      // transformers takes added-token ids from added_tokens_decoder once it exists, and numbers any
      // added token it lacks after them: it must list every added token, not only the new ones.
      const decoder = this.config.added_tokens_decoder as JsonObject;
      for (const t of this.json.added_tokens) decoder[String(t.id)] ??= addedTokenConfigEntry(t);
      this.rebuild();
    }
    return ids;
  }

  /**
   * Writes `<dir>/tokenizer.json` and `<dir>/tokenizer_config.json` (creating `dir`); each file is replaced atomically.
   * Without a tokenizer class in the config, the generic fast tokenizer is named so that any transformers version loads it.
   */
  save(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    const config = { tokenizer_class: 'PreTrainedTokenizerFast', ...this.config };
    const write = (file: string, text: string): void => writeTextAtomic(path.join(dir, file), text);
    write(TOKENIZER_FILE, JSON.stringify(this.json));
    write(CONFIG_FILE, JSON.stringify(config, null, 2) + '\n');
  }

  /**
   * Builds a compact tokenizer containing only what `corpus` needs, with ids 0..n-1 (kept tokens in their old order).
   *
   * Kept: every token the corpus encodes to, the named special tokens (bos/eos/pad/unk), `keepTokens`, tokens the
   * post-processor inserts, all 256 byte symbols, and for each kept BPE token the intermediate tokens and merges that
   * build it. BPE always applies the lowest-ranked merge present, so any subset of the merge list that still contains
   * every merge a word actually uses reproduces that word's tokens exactly: corpus texts tokenize to the same token
   * strings as with the full tokenizer (checked when `verify` is on).
   *
   * Other text may tokenize into smaller pieces than with the full tokenizer (its longer tokens are gone), but it is
   * never lost: every byte has a token, so `decode(encode(text))` still returns the (NFC-normalised) text.
   * Added tokens the corpus does not contain (e.g. latent markers) are dropped unless listed in `keepTokens`;
   * alternatively add them to the restricted tokenizer afterwards.
   * Only byte-level BPE tokenizers (GPT-2, Qwen, Llama 3 style) are supported.
   */
  restrictTo(corpus: Iterable<string>, options: RestrictOptions = {}): RestrictedTokenizer {
    const restricted = restrictFiles(
      {
        json: this.json,
        config: this.config,
        source: this.source,
        encode: (text) => this.inner.encode(text, { add_special_tokens: false }),
        tokenToId: (token) => this.tokenToId(token),
        idToToken: (id) => this.idToToken(id),
      },
      corpus,
      options.keepTokens ?? [],
    );
    const tokenizer = Tokenizer.build(restricted.json, restricted.config, restricted.source);
    if (options.verify ?? true) verifySameTokens(restricted.corpusTokens, tokenizer, restricted.texts);
    return { tokenizer, oldToNew: restricted.oldToNew, newToOld: restricted.newToOld };
  }

  private rebuild(): void {
    // transformers' default for clean_up_tokenization_spaces is false in v5; the JS library defaults to true.
    const innerConfig = { ...this.config, clean_up_tokenization_spaces: this.config.clean_up_tokenization_spaces ?? false };
    try {
      this.inner = new HfTokenizer(this.json, innerConfig);
    } catch (error) {
      throw new Error(`${this.source}: cannot build the tokenizer: ${(error as Error).message}`, { cause: error });
    }
    this.addedById = new Map(this.json.added_tokens.map((t) => [t.id, t]));
    let highest = -1;
    for (const id of this.modelVocab().values()) if (id > highest) highest = id;
    for (const id of this.addedById.keys()) if (id > highest) highest = id;
    this.highestId = highest;
    for (const key of NAMED_SPECIAL_TOKEN_KEYS) {
      const token = specialTokenContent(this.config[key]);
      if (token !== undefined && this.tokenToId(token) === undefined) {
        throw new Error(`${this.source}: ${key} "${token}" from tokenizer_config.json is not in the vocabulary`);
      }
    }
  }

  private modelVocab(): Map<string, number> {
    return modelVocabOf(this.json.model, this.source);
  }

  private namedSpecialTokenId(key: (typeof NAMED_SPECIAL_TOKEN_KEYS)[number]): number | undefined {
    const token = specialTokenContent(this.config[key]);
    return token === undefined ? undefined : this.tokenToId(token);
  }

  /** Returns the token string of `id`, or throws naming `where` and the valid range. */
  private checkId(id: number, where: string): string {
    const token = Number.isInteger(id) ? this.inner.id_to_token(id) : undefined;
    if (token === undefined) {
      throw new RangeError(`${where}: ${String(id)} is not a token id of ${this.source} (ids are 0..${this.highestId})`);
    }
    return token;
  }
}
