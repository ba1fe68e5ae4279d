/**
 * Restricting a large byte-level BPE vocabulary to the tokens a corpus uses, for small models whose embedding matrix
 * must stay small: which tokens and merges to keep, and the rewritten tokenizer.json and tokenizer_config.json.
 * `Tokenizer.restrictTo` is the entry point; this module works on the tokenizer's files and encoder alone.
 */
import { BYTE_LEVEL_ALPHABET } from './byte-level';
import {
  EXTRA_SPECIAL_TOKEN_LIST_KEYS,
  NAMED_SPECIAL_TOKEN_KEYS,
  addedTokenConfigEntry,
  containsComponent,
  modelVocabOf,
  specialTokenContent,
  type JsonObject,
  type TokenizerConfig,
  type TokenizerJson,
} from './tokenizer-files';

/** What restriction reads of a tokenizer: its two files and its encoder. */
export interface RestrictionSource {
  json: TokenizerJson;
  config: TokenizerConfig;
  /** Where the tokenizer came from, for error messages. */
  source: string;
  /** Ids and token strings of `text`, without post-processor tokens. */
  encode(text: string): { ids: number[]; tokens: string[] };
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}

/** The restricted tokenizer's files and id maps, with the corpus' tokens under the full tokenizer (to verify). */
export interface RestrictedFiles {
  json: TokenizerJson;
  config: TokenizerConfig;
  source: string;
  /** Old id → new id, for every kept token. */
  oldToNew: Map<number, number>;
  /** New id → old id. */
  newToOld: number[];
  texts: string[];
  corpusTokens: string[][];
}

/** The files of `from` restricted to what `corpus` and `keepTokens` need (see `Tokenizer.restrictTo`). */
export function restrictFiles(from: RestrictionSource, corpus: Iterable<string>, keepTokens: readonly string[]): RestrictedFiles {
  const texts = [...corpus];
  const model = from.json.model;
  const modelVocab = modelVocabOf(model, from.source);
  checkRestrictable(from, model);
  const merges = parseMerges(model.merges, from.source);
  const mergeRank = new Map<string, number>();
  merges.forEach(([left, right], rank) => {
    const key = pairKey(left, right);
    if (!mergeRank.has(key)) mergeRank.set(key, rank);
  });

  const keptIds = new Set<number>();
  const keepToken = (token: string, why: string): void => {
    const id = from.tokenToId(token);
    if (id === undefined) throw new Error(`Tokenizer.restrictTo: ${why} "${token}" is not in the vocabulary of ${from.source}`);
    keptIds.add(id);
  };
  const corpusTokens = texts.map((text, index) => {
    if (typeof text !== 'string') throw new TypeError(`Tokenizer.restrictTo: corpus[${index}] is not a string`);
    const { ids, tokens } = from.encode(text);
    for (const id of ids) keptIds.add(id);
    return tokens;
  });
  for (const token of keepTokens) keepToken(token, 'keepTokens entry');
  for (const key of NAMED_SPECIAL_TOKEN_KEYS) {
    const token = specialTokenContent(from.config[key]);
    if (token !== undefined) keepToken(token, `${key} from tokenizer_config.json`);
  }
  if (typeof model.unk_token === 'string') keepToken(model.unk_token, 'model.unk_token');
  mapPostProcessorTokens(from.json.post_processor, (token) => {
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
    const token = from.idToToken(id)!;
    if (modelVocab.get(token) !== id) continue; // added-only tokens are matched whole, never built by merges
    const derivation = bpeDerivation(Array.from(token), mergeRank);
    if (derivation.pieces.length !== 1 || derivation.pieces[0] !== token) continue; // not producible by BPE: kept as is
    for (const rank of derivation.appliedRanks) {
      keptMergeRanks.add(rank);
      const [left, right] = merges[rank];
      for (const piece of [left, right, left + right]) {
        const pieceId = modelVocab.get(piece);
        if (pieceId === undefined)
          throw new Error(`${from.source}: model.merges[${rank}] uses "${piece}", which is not in the vocabulary`);
        keptIds.add(pieceId);
      }
    }
  }

  const newToOld = [...keptIds].sort((a, b) => a - b);
  const oldToNew = new Map(newToOld.map((oldId, newId) => [oldId, newId]));
  return {
    json: restrictedJson(from, oldToNew, modelVocab, merges, keptMergeRanks),
    config: restrictedConfig(from, oldToNew),
    source: `${from.source} (restricted to ${newToOld.length} tokens)`,
    oldToNew,
    newToOld,
    texts,
    corpusTokens,
  };
}

function restrictedJson(
  from: RestrictionSource,
  oldToNew: Map<number, number>,
  modelVocab: Map<string, number>,
  merges: [string, string][],
  keptMergeRanks: Set<number>,
): TokenizerJson {
  const model = from.json.model;
  const vocab: Record<string, number> = {};
  for (const [token, oldId] of modelVocab) {
    const newId = oldToNew.get(oldId);
    if (newId !== undefined) vocab[token] = newId;
  }
  const stringMerges = Array.isArray(model.merges) && typeof model.merges[0] === 'string';
  const keptMerges = [...keptMergeRanks]
    .sort((a, b) => a - b)
    .map((rank) => (stringMerges ? `${merges[rank][0]} ${merges[rank][1]}` : merges[rank]));
  const newIdOf = (token: string): number => oldToNew.get(from.tokenToId(token)!)!;
  // Copy everything but the (large) vocabulary and merges, which are rebuilt.
  const { model: _model, added_tokens: _added, ...pipeline } = from.json;
  const { vocab: _vocab, merges: _merges, ...modelSettings } = model;
  return {
    ...structuredClone(pipeline),
    added_tokens: from.json.added_tokens.filter((t) => oldToNew.has(t.id)).map((t) => ({ ...t, id: oldToNew.get(t.id)! })),
    post_processor: mapPostProcessorTokens(from.json.post_processor, newIdOf),
    model: { ...structuredClone(modelSettings), vocab, merges: keptMerges },
  };
}

function restrictedConfig(from: RestrictionSource, oldToNew: Map<number, number>): TokenizerConfig {
  const config = structuredClone(from.config);
  const keptContents = new Set<string>();
  const decoder: Record<string, unknown> = {};
  for (const token of from.json.added_tokens) {
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
    const dropped = from.json.added_tokens.some((t) => !oldToNew.has(t.id) && template.includes(t.content));
    if (dropped) delete config.chat_template;
  }
  return config;
}

function checkRestrictable(from: RestrictionSource, model: TokenizerJson['model']): void {
  const problems: string[] = [];
  if (model.type !== 'BPE') problems.push(`model type is ${String(model.type)}, not BPE`);
  if (!containsComponent(from.json.pre_tokenizer, 'ByteLevel')) problems.push('the pre-tokenizer is not byte-level');
  if (model.dropout !== null && model.dropout !== undefined) problems.push('BPE dropout is set');
  if (model.byte_fallback === true) problems.push('byte_fallback is on');
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix']) {
    if (typeof model[key] === 'string' && model[key] !== '') problems.push(`${key} is "${String(model[key])}"`);
  }
  if (problems.length > 0) {
    throw new Error(`Tokenizer.restrictTo supports byte-level BPE tokenizers only; ${from.source}: ${problems.join('; ')}`);
  }
}

/**
 * Rewrites the token ids a post-processor inserts (TemplateProcessing, Bert/Roberta, Sequence of these) via `idOf`;
 * also used with a recording callback to list those tokens. ByteLevel post-processors carry no ids.
 */
export function mapPostProcessorTokens(processor: JsonObject | null, idOf: (token: string) => number): JsonObject | null {
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

/** Throws when `restricted` tokenizes a corpus text differently from the full tokenizer (`expectedTokens`). */
export function verifySameTokens(
  expectedTokens: string[][],
  restricted: { tokenize(text: string): string[] },
  texts: readonly string[],
): void {
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
