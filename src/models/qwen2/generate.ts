// Autoregressive generation with the KV cache: greedy or sampled (temperature, top-k, top-p, applied in
// that order as Hugging Face's logits warpers), batched over prompts of different lengths (left
// padding; positions count real tokens only), stopping on eos ids or stop strings, and streaming
// each token (and the text it completes) to a callback as it is produced.
import * as torch from '../../torch';
import type { Tensor } from '../../torch';
import type { Tokenizer } from '../tokenizer';
import { KVCache } from './cache';
import type { Qwen2ForCausalLM } from './modeling';

export interface SamplingOptions {
  /** Softmax temperature; 0 (the default) decodes greedily (argmax). */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = off). */
  topP?: number;
}

export interface TokenEvent {
  /** index of the prompt this token continues */
  sequence: number;
  tokenId: number;
  /** 0 for the first generated token */
  step: number;
  /**
   * Text that became final with this token ('' without a tokenizer). Text that could still turn into
   * a stop string, or an incomplete UTF-8 character, is held back until it is decided.
   */
  text: string;
  /** set on the sequence's last token */
  finishReason?: FinishReason;
}

export type FinishReason = 'eos' | 'stop-string' | 'length';

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Tokens that end a sequence (kept as its last generated token). Default: none. */
  eosTokenIds?: readonly number[];
  /** Id placed left of shorter prompts (masked out; any valid id works). Default: the first eos id, else 0. */
  padTokenId?: number;
  /** Strings that end a sequence; the text is cut before them. Needs a tokenizer. */
  stopStrings?: readonly string[];
  /** Decodes generated tokens into text (results and stream). */
  tokenizer?: Tokenizer | null;
  /** Called for every generated token, in order. */
  onToken?: (event: TokenEvent) => void;
  /** Seeds the global generator (torch.manualSeed) before sampling. */
  seed?: number;
}

export interface GenerationResult {
  /** generated ids (without the prompt), ending with the eos id when finishReason is 'eos' */
  tokens: number[];
  /** decoded text without special tokens, cut before a stop string; null without a tokenizer */
  text: string | null;
  finishReason: FinishReason;
}

/** Generates continuations of `prompts` (token ids). Runs in inference mode; memory stays flat across steps. */
export function generate(
  model: Qwen2ForCausalLM,
  prompts: readonly (readonly number[])[],
  options: GenerateOptions,
): GenerationResult[] {
  const { maxNewTokens, eosTokenIds = [], stopStrings = [], tokenizer = null, onToken } = options;
  checkGenerateOptions(model, prompts, options);
  if (stopStrings.length && !tokenizer)
    throw new TypeError('generate: stopStrings need a tokenizer to decode the generated text');
  if (options.seed !== undefined) torch.manualSeed(options.seed);
  const padTokenId = options.padTokenId ?? eosTokenIds[0] ?? 0;
  const eos = new Set(eosTokenIds);
  const device = model.device;

  const sequences = prompts.map(() => ({
    tokens: [] as number[],
    finishReason: null as FinishReason | null,
    text: tokenizer ? new StreamingText(tokenizer, stopStrings) : null,
  }));
  const cache = new KVCache(model.config.numHiddenLayers);
  try {
    torch.inferenceMode(() => {
      const width = Math.max(...prompts.map((p) => p.length));
      const padded = prompts.map((p) => [...new Array(width - p.length).fill(padTokenId), ...p]);
      const needsMask = prompts.some((p) => p.length !== width);
      let next = torch.scope(() => {
        const inputIds = torch.tensor(padded, { dtype: 'int64', device });
        const attentionMask = needsMask
          ? torch.tensor(
              prompts.map((p) => [...new Array(width - p.length).fill(false), ...new Array(p.length).fill(true)]),
              { device },
            )
          : undefined;
        const { logits } = model.forward({ inputIds, attentionMask, cache, logitsToKeep: 1 });
        return pickTokens(logits.select(1, 0), options);
      });
      for (let step = 0; step < maxNewTokens; step++) {
        sequences.forEach((seq, i) => {
          if (seq.finishReason !== null) return;
          const tokenId = next[i];
          seq.tokens.push(tokenId);
          let finishReason: FinishReason | null = eos.has(tokenId) ? 'eos' : null;
          let text = '';
          if (seq.text) {
            const update = seq.text.push(tokenId, finishReason !== null || step === maxNewTokens - 1);
            text = update.text;
            if (update.stopped && finishReason === null) finishReason = 'stop-string';
          }
          if (finishReason === null && step === maxNewTokens - 1) finishReason = 'length';
          seq.finishReason = finishReason;
          onToken?.({ sequence: i, tokenId, step, text, ...(finishReason ? { finishReason } : {}) });
        });
        if (sequences.every((s) => s.finishReason !== null)) break;
        const fed = next;
        next = torch.scope(() => {
          const inputIds = torch.tensor(
            fed.map((id) => [id]),
            { dtype: 'int64', device },
          );
          const { logits } = model.forward({ inputIds, cache, logitsToKeep: 1 });
          return pickTokens(logits.select(1, 0), options);
        });
      }
    });
  } finally {
    cache.dispose();
  }
  return sequences.map((s) => ({
    tokens: s.tokens,
    text: s.text ? s.text.final : null,
    finishReason: s.finishReason ?? 'length',
  }));
}

function checkGenerateOptions(model: Qwen2ForCausalLM, prompts: readonly (readonly number[])[], o: GenerateOptions): void {
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1)
    throw new RangeError(`generate: maxNewTokens must be a positive integer, got ${o.maxNewTokens}`);
  if (prompts.length === 0) throw new RangeError('generate: no prompts');
  const vocab = model.config.vocabSize;
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new RangeError(`generate: prompt ${i} is empty`);
    const bad = p.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
    if (bad >= 0) throw new RangeError(`generate: prompt ${i} token ${bad} is ${p[bad]}, outside the vocabulary [0, ${vocab})`);
  });
  for (const id of [...(o.eosTokenIds ?? []), ...(o.padTokenId === undefined ? [] : [o.padTokenId])]) {
    if (!Number.isInteger(id) || id < 0 || id >= vocab)
      throw new RangeError(`generate: token id ${id} (eos/pad) is outside the vocabulary [0, ${vocab})`);
  }
  checkSampling(o);
}

function checkSampling({ temperature = 0, topK = 0, topP = 1 }: SamplingOptions): void {
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new RangeError(`temperature must be >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`topK must be a non-negative integer, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${topP}`);
}

/** Next token of each row of logits [B, vocab], as JS numbers. */
function pickTokens(logits: Tensor, sampling: SamplingOptions): number[] {
  return (sampleTokens(logits, sampling).tolist() as (number | bigint)[]).map(Number);
}

/**
 * One token per row of logits [B, vocab]: the argmax at temperature 0 (the default), else a draw after
 * temperature, top-k and top-p filtering (Hugging Face's TemperatureLogitsWarper, TopKLogitsWarper and
 * TopPLogitsWarper, in that order). Returns int64 [B].
 */
export function sampleTokens(logits: Tensor, sampling: SamplingOptions = {}): Tensor {
  checkSampling(sampling);
  const { temperature = 0, topK = 0, topP = 1 } = sampling;
  if (temperature === 0) return logits.argmax(-1);
  return torch.scope(() => {
    const scores = filterLogits(logits.to('float32').div(temperature), { topK, topP });
    return torch.multinomial(scores.softmax(-1), 1).squeeze(-1);
  });
}

/** Sets to -inf the logits [B, vocab] outside the top-k and outside the top-p nucleus. */
export function filterLogits(scores: Tensor, { topK = 0, topP = 1 }: { topK?: number; topP?: number }): Tensor {
  return torch.scope(() => {
    let out = scores;
    const vocab = scores.shape[scores.dim() - 1];
    if (topK > 0 && topK < vocab) {
      const kth = torch.topk(out, topK, -1)[0].narrow(-1, topK - 1, 1);
      out = out.maskedFill(out.lt(kth), -Infinity);
    }
    if (topP < 1) {
      const [sorted, indices] = torch.sort(out, -1, false); // ascending
      const cumulative = sorted.softmax(-1).cumsum(-1);
      const remove = cumulative.le(1 - topP);
      remove.narrow(-1, vocab - 1, 1).fill_(false); // always keep the most likely token
      out = out.maskedFill(remove.scatter(-1, indices, remove), -Infinity);
    }
    return out;
  });
}

/**
 * Incremental detokenisation of one sequence: decodes all generated ids each step (so multi-token
 * characters come out right) and releases text only once it can no longer change: not an incomplete
 * UTF-8 character and not a possible beginning of a stop string.
 */
export class StreamingText {
  private readonly ids: number[] = [];
  private released = 0;
  private cut: string | null = null;
  private readonly longestStop: number;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly stopStrings: readonly string[] = [],
  ) {
    if (stopStrings.some((s) => s.length === 0)) throw new RangeError('stop strings must not be empty');
    this.longestStop = Math.max(0, ...stopStrings.map((s) => s.length));
  }

  /** The text so far (cut before a stop string once one appeared). */
  get final(): string {
    return this.cut ?? this.decode();
  }

  /** Adds a token; returns the newly releasable text and whether a stop string appeared. `last` flushes. */
  push(tokenId: number, last: boolean): { text: string; stopped: boolean } {
    if (this.cut !== null) return { text: '', stopped: true };
    this.ids.push(tokenId);
    const text = this.decode();
    if (this.stopStrings.length) {
      const from = Math.max(0, this.released - this.longestStop);
      let at = -1;
      for (const stop of this.stopStrings) {
        const found = text.indexOf(stop, from);
        if (found >= 0 && (at < 0 || found < at)) at = found;
      }
      if (at >= 0) {
        this.cut = text.slice(0, at);
        return { text: this.release(this.cut, this.cut.length), stopped: true };
      }
    }
    if (last) return { text: this.release(text, text.length), stopped: false };
    let safe = text.length;
    if (text.endsWith('\uFFFD')) safe--;
    safe -= this.pendingStopPrefix(text.slice(0, safe));
    return { text: this.release(text, safe), stopped: false };
  }

  private decode(): string {
    return this.tokenizer.decode(this.ids, { skipSpecialTokens: true });
  }

  private release(text: string, upTo: number): string {
    if (upTo <= this.released) return '';
    const out = text.slice(this.released, upTo);
    this.released = upTo;
    return out;
  }

  /** Length of the longest end of `text` that begins some stop string. */
  private pendingStopPrefix(text: string): number {
    for (let n = Math.min(this.longestStop - 1, text.length); n > 0; n--) {
      const tail = text.slice(text.length - n);
      if (this.stopStrings.some((s) => s.startsWith(tail))) return n;
    }
    return 0;
  }
}
