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
import { BYTE_LEVEL_ALPHABET, byteLevelToBytes, renderBytesReadably } from './byte-level';

type JsonObject = { [key: string]: unknown };

/** One entry of tokenizer.json's `added_tokens` (same field names as the Rust library writes). */
export interface AddedTokenSpec {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** The parts of tokenizer.json this module reads or rewrites; everything else is carried through unchanged. */
/** An added special token as Hugging Face writes it: whole, never split, stripped or normalized. */
export function specialAddedToken(id: number, content: string): AddedTokenSpec {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

export interface TokenizerJson {
  version?: string;
  truncation?: unknown;
  padding?: unknown;
  added_tokens: AddedTokenSpec[];
  normalizer: JsonObject | null;
  pre_tokenizer: JsonObject | null;
  post_processor: JsonObject | null;
  decoder: JsonObject | null;
  model: JsonObject & { type?: string; vocab?: unknown; merges?: unknown };
  [key: string]: unknown;
}

/** tokenizer_config.json as transformers writes it; only a few keys are interpreted here. */
export type TokenizerConfig = JsonObject;

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

const TOKENIZER_FILE = 'tokenizer.json';
const CONFIG_FILE = 'tokenizer_config.json';
/** Named special-token slots of tokenizer_config.json that map to a single token. */
const NAMED_SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'pad_token', 'unk_token'] as const;
/** tokenizer_config.json keys listing extra special tokens (transformers v4 name, v5 name). */
const EXTRA_SPECIAL_TOKEN_LIST_KEYS = ['additional_special_tokens', 'extra_special_tokens'] as const;

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
    const texts = [...corpus];
    const modelVocab = this.modelVocab();
    const model = this.json.model;
    this.checkRestrictable(model);
    const merges = parseMerges(model.merges, this.source);
    const mergeRank = new Map<string, number>();
    merges.forEach(([left, right], rank) => {
      const key = pairKey(left, right);
      if (!mergeRank.has(key)) mergeRank.set(key, rank);
    });

    const keptIds = new Set<number>();
    const keepToken = (token: string, why: string): void => {
      const id = this.tokenToId(token);
      if (id === undefined) throw new Error(`Tokenizer.restrictTo: ${why} "${token}" is not in the vocabulary of ${this.source}`);
      keptIds.add(id);
    };
    const corpusTokens = texts.map((text, index) => {
      if (typeof text !== 'string') throw new TypeError(`Tokenizer.restrictTo: corpus[${index}] is not a string`);
      const { ids, tokens } = this.inner.encode(text, { add_special_tokens: false });
      for (const id of ids) keptIds.add(id);
      return tokens;
    });
    for (const token of options.keepTokens ?? []) keepToken(token, 'keepTokens entry');
    for (const key of NAMED_SPECIAL_TOKEN_KEYS) {
      const token = specialTokenContent(this.config[key]);
      if (token !== undefined) keepToken(token, `${key} from tokenizer_config.json`);
    }
    if (typeof model.unk_token === 'string') keepToken(model.unk_token, 'model.unk_token');
    mapPostProcessorTokens(this.json.post_processor, (token) => {
      keepToken(token, 'post-processor token');
      return 0;
    });
    for (const symbol of BYTE_LEVEL_ALPHABET) {
      const id = modelVocab.get(symbol);
      if (id !== undefined) keptIds.add(id);
    }

    // Close the kept BPE tokens under their derivations: the merges that build them and the pieces those merges join.
    const keptMergeRanks = new Set<number>();
    for (const id of [...keptIds]) {
      const token = this.idToToken(id)!;
      if (modelVocab.get(token) !== id) continue; // added-only tokens are matched whole, never built by merges
      const derivation = bpeDerivation(Array.from(token), mergeRank);
      if (derivation.pieces.length !== 1 || derivation.pieces[0] !== token) continue; // not producible by BPE: kept as is
      for (const rank of derivation.appliedRanks) {
        keptMergeRanks.add(rank);
        const [left, right] = merges[rank];
        for (const piece of [left, right, left + right]) {
          const pieceId = modelVocab.get(piece);
          if (pieceId === undefined)
            throw new Error(`${this.source}: model.merges[${rank}] uses "${piece}", which is not in the vocabulary`);
          keptIds.add(pieceId);
        }
      }
    }

    const newToOld = [...keptIds].sort((a, b) => a - b);
    const oldToNew = new Map(newToOld.map((oldId, newId) => [oldId, newId]));
    const restrictedJson = this.restrictedJson(oldToNew, modelVocab, merges, keptMergeRanks, model);
    const restrictedConfig = this.restrictedConfig(oldToNew);
    const tokenizer = Tokenizer.build(
      restrictedJson,
      restrictedConfig,
      `${this.source} (restricted to ${newToOld.length} tokens)`,
    );
    if (options.verify ?? true) verifySameTokens(corpusTokens, tokenizer, texts);
    return { tokenizer, oldToNew, newToOld };
  }

  private restrictedJson(
    oldToNew: Map<number, number>,
    modelVocab: Map<string, number>,
    merges: [string, string][],
    keptMergeRanks: Set<number>,
    model: TokenizerJson['model'],
  ): TokenizerJson {
    const vocab: Record<string, number> = {};
    for (const [token, oldId] of modelVocab) {
      const newId = oldToNew.get(oldId);
      if (newId !== undefined) vocab[token] = newId;
    }
    const stringMerges = Array.isArray(model.merges) && typeof model.merges[0] === 'string';
    const keptMerges = [...keptMergeRanks]
      .sort((a, b) => a - b)
      .map((rank) => (stringMerges ? `${merges[rank][0]} ${merges[rank][1]}` : merges[rank]));
    const newIdOf = (token: string): number => oldToNew.get(this.tokenToId(token)!)!;
    // Copy everything but the (large) vocabulary and merges, which are rebuilt.
    const { model: _model, added_tokens: _added, ...pipeline } = this.json;
    const { vocab: _vocab, merges: _merges, ...modelSettings } = model;
    return {
      ...structuredClone(pipeline),
      added_tokens: this.json.added_tokens.filter((t) => oldToNew.has(t.id)).map((t) => ({ ...t, id: oldToNew.get(t.id)! })),
      post_processor: mapPostProcessorTokens(this.json.post_processor, newIdOf),
      model: { ...structuredClone(modelSettings), vocab, merges: keptMerges },
    };
  }

  private restrictedConfig(oldToNew: Map<number, number>): TokenizerConfig {
    const config = structuredClone(this.config);
    const keptContents = new Set<string>();
    const decoder: Record<string, unknown> = {};
    for (const token of this.json.added_tokens) {
      const newId = oldToNew.get(token.id);
      if (newId === undefined) continue;
      keptContents.add(token.content);
      decoder[String(newId)] = addedTokenConfigEntry(token);
    }
    config.added_tokens_decoder = decoder;
    for (const key of EXTRA_SPECIAL_TOKEN_LIST_KEYS) {
      const list = config[key];
      if (Array.isArray(list)) config[key] = list.filter((t) => keptContents.has(specialTokenContent(t) ?? ''));
    }
    // A chat template that emits dropped tokens would silently produce different text: drop it instead.
    const template = config.chat_template;
    if (typeof template === 'string') {
      const dropped = this.json.added_tokens.some((t) => !oldToNew.has(t.id) && template.includes(t.content));
      if (dropped) delete config.chat_template;
    }
    return config;
  }

  private checkRestrictable(model: TokenizerJson['model']): void {
    const problems: string[] = [];
    if (model.type !== 'BPE') problems.push(`model type is ${String(model.type)}, not BPE`);
    if (!containsComponent(this.json.pre_tokenizer, 'ByteLevel')) problems.push('the pre-tokenizer is not byte-level');
    if (model.dropout !== null && model.dropout !== undefined) problems.push('BPE dropout is set');
    if (model.byte_fallback === true) problems.push('byte_fallback is on');
    for (const key of ['continuing_subword_prefix', 'end_of_word_suffix']) {
      if (typeof model[key] === 'string' && model[key] !== '') problems.push(`${key} is "${String(model[key])}"`);
    }
    if (problems.length > 0) {
      throw new Error(`Tokenizer.restrictTo supports byte-level BPE tokenizers only; ${this.source}: ${problems.join('; ')}`);
    }
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

// ---------------------------------------------------------------------------------------------------------------
// tokenizer.json / tokenizer_config.json handling

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a JSON file; syntax errors name the file, line and column. */
function readJsonFile(file: string): JsonObject {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const position = /position (\d+)/.exec(message);
    let where = '';
    if (position) {
      const before = text.slice(0, Number(position[1]));
      const line = before.split('\n').length;
      where = ` at line ${line}, column ${Number(position[1]) - before.lastIndexOf('\n')}`;
    }
    throw new Error(`${file}: invalid JSON${where}: ${message}`, { cause: error });
  }
  if (!isObject(value)) throw new Error(`${file}: expected a JSON object at the top level`);
  return value;
}

function validateTokenizerJson(value: unknown, source: string): TokenizerJson {
  if (!isObject(value)) throw new Error(`${source}: tokenizer.json must hold a JSON object`);
  if (!isObject(value.model)) throw new Error(`${source}: tokenizer.json has no "model" object`);
  if (!isObject(value.model.vocab) && !Array.isArray(value.model.vocab)) {
    throw new Error(`${source}: tokenizer.json "model" has no "vocab"`);
  }
  const added = value.added_tokens ?? [];
  if (!Array.isArray(added)) throw new Error(`${source}: tokenizer.json "added_tokens" must be an array`);
  const addedTokens = added.map((entry: unknown, index) => {
    if (!isObject(entry) || !Number.isInteger(entry.id) || (entry.id as number) < 0 || typeof entry.content !== 'string') {
      throw new Error(`${source}: added_tokens[${index}] needs an integer "id" ≥ 0 and a string "content"`);
    }
    return toAddedTokenSpec(entry.id as number, entry);
  });
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    if (value[key] === undefined) value[key] = null;
    else if (value[key] !== null && !isObject(value[key]))
      throw new Error(`${source}: tokenizer.json "${key}" must be an object or null`);
  }
  return { ...value, added_tokens: addedTokens } as TokenizerJson;
}

function toAddedTokenSpec(id: number, entry: JsonObject): AddedTokenSpec {
  return {
    id,
    content: entry.content as string,
    single_word: entry.single_word === true,
    lstrip: entry.lstrip === true,
    rstrip: entry.rstrip === true,
    normalized: entry.normalized === true,
    special: entry.special === true,
  };
}

function addedTokenConfigEntry(token: AddedTokenSpec): JsonObject {
  const { content, lstrip, normalized, rstrip, single_word, special } = token;
  return { content, lstrip, normalized, rstrip, single_word, special };
}

/** Adds tokens listed only in tokenizer_config.json's `added_tokens_decoder` to tokenizer.json's list, as transformers does. */
function mergeConfigAddedTokens(json: TokenizerJson, config: TokenizerConfig, source: string): void {
  const decoder = config.added_tokens_decoder;
  if (decoder === undefined) return;
  if (!isObject(decoder)) throw new Error(`${source}: tokenizer_config.json "added_tokens_decoder" must be an object`);
  const byId = new Map(json.added_tokens.map((t) => [t.id, t]));
  for (const [key, entry] of Object.entries(decoder)) {
    const id = Number(key);
    if (!Number.isInteger(id) || id < 0 || !isObject(entry) || typeof entry.content !== 'string') {
      throw new Error(
        `${source}: tokenizer_config.json added_tokens_decoder["${key}"] needs an integer id key and a string "content"`,
      );
    }
    const existing = byId.get(id);
    if (existing) {
      if (existing.content !== entry.content) {
        throw new Error(
          `${source}: id ${id} is "${existing.content}" in tokenizer.json but "${entry.content}" in tokenizer_config.json`,
        );
      }
      continue;
    }
    const spec = toAddedTokenSpec(id, entry);
    json.added_tokens.push(spec);
    byId.set(id, spec);
  }
  json.added_tokens.sort((a, b) => a.id - b.id);
}

function recordAddedTokenInConfig(config: TokenizerConfig, token: AddedTokenSpec): void {
  const decoder = isObject(config.added_tokens_decoder) ? config.added_tokens_decoder : {};
  decoder[String(token.id)] = addedTokenConfigEntry(token);
  config.added_tokens_decoder = decoder;
  const listKey = EXTRA_SPECIAL_TOKEN_LIST_KEYS.find((key) => Array.isArray(config[key])) ?? 'additional_special_tokens';
  const list = Array.isArray(config[listKey]) ? (config[listKey] as unknown[]) : [];
  if (!list.some((t) => specialTokenContent(t) === token.content)) list.push(token.content);
  config[listKey] = list;
}

/** A special token in tokenizer_config.json is a string or an AddedToken object `{content: ...}`. */
function specialTokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

function modelVocabOf(model: TokenizerJson['model'], source: string): Map<string, number> {
  const vocab = model.vocab;
  if (isObject(vocab)) return new Map(Object.entries(vocab) as [string, number][]);
  if (Array.isArray(vocab)) {
    // Unigram stores [piece, score] pairs; the id is the position.
    return new Map(vocab.map((entry, id) => [Array.isArray(entry) ? String(entry[0]) : String(entry), id]));
  }
  throw new Error(`${source}: tokenizer.json "model.vocab" is neither an object nor an array`);
}

/** True when `component` (a normalizer/pre-tokenizer/decoder config) is of `type` or a Sequence containing one. */
function containsComponent(component: unknown, type: string): boolean {
  if (!isObject(component)) return false;
  if (component.type === type) return true;
  const children = component.pretokenizers ?? component.decoders ?? component.normalizers ?? component.processors;
  return Array.isArray(children) && children.some((child) => containsComponent(child, type));
}

/**
 * Rewrites the token ids a post-processor inserts (TemplateProcessing, Bert/Roberta, Sequence of these) via `idOf`;
 * also used with a recording callback to list those tokens. ByteLevel post-processors carry no ids.
 */
function mapPostProcessorTokens(processor: JsonObject | null, idOf: (token: string) => number): JsonObject | null {
  if (processor === null) return null;
  const copy = structuredClone(processor);
  switch (copy.type) {
    case 'ByteLevel':
      return copy;
    case 'Sequence':
      copy.processors = (copy.processors as JsonObject[]).map((child) => mapPostProcessorTokens(child, idOf));
      return copy;
    case 'TemplateProcessing': {
      const specials = (copy.special_tokens ?? {}) as Record<string, { tokens: string[]; ids: number[] }>;
      for (const special of Object.values(specials)) special.ids = special.tokens.map(idOf);
      return copy;
    }
    case 'BertProcessing':
    case 'RobertaProcessing':
      for (const key of ['sep', 'cls']) {
        const [token] = copy[key] as [string, number];
        copy[key] = [token, idOf(token)];
      }
      return copy;
    default:
      throw new Error(`post-processor type ${String(copy.type)} is not supported by Tokenizer.restrictTo`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// BPE restriction

function parseMerges(merges: unknown, source: string): [string, string][] {
  if (!Array.isArray(merges)) throw new Error(`${source}: BPE model has no "merges" array`);
  return merges.map((merge: unknown, index) => {
    if (Array.isArray(merge) && merge.length === 2 && typeof merge[0] === 'string' && typeof merge[1] === 'string') {
      return [merge[0], merge[1]];
    }
    if (typeof merge === 'string') {
      const parts = merge.split(' ');
      if (parts.length === 2) return [parts[0], parts[1]];
    }
    throw new Error(`${source}: model.merges[${index}] is not a pair of tokens: ${JSON.stringify(merge)}`);
  });
}

/** Unambiguous map key for a merge pair (the length prefix fixes where `left` ends). */
function pairKey(left: string, right: string): string {
  return `${left.length}:${left}${right}`;
}

/**
 * Runs BPE on `symbols` as the Rust and JS implementations do (always merge the lowest-ranked adjacent pair, leftmost
 * first on ties) and reports the ranks of the merges applied and the resulting pieces.
 */
function bpeDerivation(symbols: string[], mergeRank: Map<string, number>): { appliedRanks: number[]; pieces: string[] } {
  const pieces = [...symbols];
  const appliedRanks: number[] = [];
  for (;;) {
    let bestIndex = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < pieces.length; i++) {
      const rank = mergeRank.get(pairKey(pieces[i], pieces[i + 1]));
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        bestIndex = i;
      }
    }
    if (bestIndex < 0) return { appliedRanks, pieces };
    appliedRanks.push(bestRank);
    pieces.splice(bestIndex, 2, pieces[bestIndex] + pieces[bestIndex + 1]);
  }
}

function verifySameTokens(expectedTokens: string[][], restricted: Tokenizer, texts: readonly string[]): void {
  texts.forEach((text, index) => {
    const expected = expectedTokens[index];
    const actual = restricted.tokenize(text);
    const same = expected.length === actual.length && expected.every((token, i) => token === actual[i]);
    if (!same) {
      const at = expected.findIndex((token, i) => token !== actual[i]);
      throw new Error(
        `Tokenizer.restrictTo: corpus[${index}] tokenizes differently after restriction at token ${at}: ` +
          `${JSON.stringify(expected.slice(at, at + 5))} vs ${JSON.stringify(actual.slice(at, at + 5))} (please report this)`,
      );
    }
  });
}
