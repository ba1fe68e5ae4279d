/**
 * The files of a Hugging Face "fast" tokenizer: tokenizer.json and tokenizer_config.json, their types, reading and
 * validation, and the bookkeeping of added tokens that both files record (as transformers keeps them in step).
 */
import * as fs from 'fs';

export type JsonObject = { [key: string]: unknown };

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

/** An added special token as Hugging Face writes it: whole, never split, stripped or normalized. */
export function specialAddedToken(id: number, content: string): AddedTokenSpec {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** The parts of tokenizer.json this module reads or rewrites; everything else is carried through unchanged. */
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

export const TOKENIZER_FILE = 'tokenizer.json';
export const CONFIG_FILE = 'tokenizer_config.json';
/** Named special-token slots of tokenizer_config.json that map to a single token. */
export const NAMED_SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'pad_token', 'unk_token'] as const;
/** tokenizer_config.json keys listing extra special tokens (transformers v4 name, v5 name). */
export const EXTRA_SPECIAL_TOKEN_LIST_KEYS = ['additional_special_tokens', 'extra_special_tokens'] as const;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a JSON file; syntax errors name the file, line and column. */
export function readJsonFile(file: string): JsonObject {
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

export function validateTokenizerJson(value: unknown, source: string): TokenizerJson {
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

export function toAddedTokenSpec(id: number, entry: JsonObject): AddedTokenSpec {
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

export function addedTokenConfigEntry(token: AddedTokenSpec): JsonObject {
  const { content, lstrip, normalized, rstrip, single_word, special } = token;
  return { content, lstrip, normalized, rstrip, single_word, special };
}

/** Adds tokens listed only in tokenizer_config.json's `added_tokens_decoder` to tokenizer.json's list, as transformers does. */
export function mergeConfigAddedTokens(json: TokenizerJson, config: TokenizerConfig, source: string): void {
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

export function recordAddedTokenInConfig(config: TokenizerConfig, token: AddedTokenSpec): void {
  const decoder = isObject(config.added_tokens_decoder) ? config.added_tokens_decoder : {};
  decoder[String(token.id)] = addedTokenConfigEntry(token);
  config.added_tokens_decoder = decoder;
  const listKey = EXTRA_SPECIAL_TOKEN_LIST_KEYS.find((key) => Array.isArray(config[key])) ?? 'additional_special_tokens';
  const list = Array.isArray(config[listKey]) ? (config[listKey] as unknown[]) : [];
  if (!list.some((t) => specialTokenContent(t) === token.content)) list.push(token.content);
  config[listKey] = list;
}

/** A special token in tokenizer_config.json is a string or an AddedToken object `{content: ...}`. */
export function specialTokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

export function modelVocabOf(model: TokenizerJson['model'], source: string): Map<string, number> {
  const vocab = model.vocab;
  if (isObject(vocab)) return new Map(Object.entries(vocab) as [string, number][]);
  if (Array.isArray(vocab)) {
    // Unigram stores [piece, score] pairs; the id is the position.
    return new Map(vocab.map((entry, id) => [Array.isArray(entry) ? String(entry[0]) : String(entry), id]));
  }
  throw new Error(`${source}: tokenizer.json "model.vocab" is neither an object nor an array`);
}

/** True when `component` (a normalizer/pre-tokenizer/decoder config) is of `type` or a Sequence containing one. */
export function containsComponent(component: unknown, type: string): boolean {
  if (!isObject(component)) return false;
  if (component.type === type) return true;
  const children = component.pretokenizers ?? component.decoders ?? component.normalizers ?? component.processors;
  return Array.isArray(children) && children.some((child) => containsComponent(child, type));
}
