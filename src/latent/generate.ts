// Generation with latent spans: at each language position the start classifier may open a span
// (`<bot>`); inside it, each latent step's end classifier decides whether to stop (`<eot>`), with a
// hard cap. Latent positions run on the latent trunk, language positions on the backbone. Greedy,
// batched: the decoding loop of decode.ts with the greedy policy.
import type { Tensor } from '../torch';
import * as torch from '../torch';
import type { LatentModel } from './model';
import { BREAKPOINT_PATTERN, decodeLatent, decodeModules } from './decode';

export { BREAKPOINT_PATTERN };

export interface LatentGenerateOptions {
  maxNewTokens?: number;
  /** hard cap on latents per span */
  maxLatents?: number;
  /** open spans when the start probability exceeds this (default: the heads' calibrated threshold) */
  startThreshold?: number;
  stopThreshold?: number;
  /** false: never open spans (the "without latents" condition) */
  useLatents?: boolean;
  /** stop when the text ends with one of these */
  stopStrings?: string[];
  /** each generated token's text (and the row, in a batch) */
  onToken?: (text: string, row: number) => void;
  /** keep each span's latent input embeddings and post-norm hidden states (caller disposes) */
  keepLatents?: boolean;
  /**
   * Where spans open: 'classifier' (the start classifier, default) or 'oracle': exactly where the
   * text so far matches `breakpointPattern` (the gold breakpoints of the task's format), each span
   * `oracleLatents` long: a count, or per span (e.g. the run's latent schedule at the question's gold
   * breakpoints); default: the end classifier decides.
   */
  placement?: 'classifier' | 'oracle';
  /** the text right before a calculator result; default: ends with `= ` or `= $` (GSM8K and the arithmetic task) */
  breakpointPattern?: RegExp;
  oracleLatents?: number | ((span: number, row: number) => number);
  /** replaces the input [D] fed at latent j of span `span` (ablations during generation); return null to keep it */
  latentInput?: (span: number, j: number, computed: Tensor, row: number) => Tensor | null;
}

export interface GeneratedSpan {
  /** token index in `tokens` before which the span was inserted */
  at: number;
  latents: number;
  /** the end classifier's stop probability at each step of the span */
  stopProbs: number[];
  /** with keepLatents: input embeddings [D] and post-norm hidden states [D] of the latents */
  embeds?: Tensor[];
  hiddens?: Tensor[];
  /** whether the text before the span matched the breakpoint pattern (false: opened away from a breakpoint) */
  atBreakpoint: boolean;
}

export interface LatentGeneration {
  tokens: number[];
  text: string;
  spans: GeneratedSpan[];
  /** text with each span shown as ⟨k latents⟩ */
  markedText: string;
}

/** Generates a continuation of `prompt` with latent spans (greedy). */
export function generateWithLatents(lm: LatentModel, prompt: string, o: LatentGenerateOptions = {}): LatentGeneration {
  return generateBatch(lm, [prompt], o)[0];
}

/**
 * Generates a continuation of each prompt, batched (greedy): each row's result is what
 * generateWithLatents gives for its prompt alone. Callbacks receive the row as their last argument.
 */
export function generateBatch(lm: LatentModel, prompts: readonly string[], o: LatentGenerateOptions = {}): LatentGeneration[] {
  const eos = new Set<number>([...(lm.model.config.eosTokenIds ?? [])]);
  if (lm.tokenizer.eosTokenId !== undefined) eos.add(lm.tokenizer.eosTokenId);
  const oracle = o.placement === 'oracle';
  const oracleLatents = o.oracleLatents;
  const latentInput = o.latentInput;
  const onToken = o.onToken;
  const rows = decodeLatent(
    decodeModules(lm),
    prompts.map((p) => lm.tokenizer.encode(p)),
    {
      policy: {
        kind: 'greedy',
        startThreshold: o.startThreshold ?? lm.heads.startThreshold,
        stopThreshold: o.stopThreshold ?? 0.5,
      },
      maxNewTokens: o.maxNewTokens ?? 256,
      maxLatents: o.maxLatents ?? 8,
      useLatents: o.useLatents ?? true,
      eosIds: [...eos],
      decode: (tokens) => lm.tokenizer.decode([...tokens]),
      isDone: o.stopStrings?.length ? (_, __, text) => o.stopStrings!.some((s) => text.endsWith(s)) : undefined,
      onToken: onToken ? (row, piece) => onToken(piece, row) : undefined,
      placement: oracle ? 'oracle' : 'classifier',
      breakpointPattern: o.breakpointPattern,
      oracleLatents:
        oracleLatents === undefined
          ? undefined
          : typeof oracleLatents === 'number'
            ? () => oracleLatents
            : (row, span) => oracleLatents(span, row),
      latentInput: latentInput ? (row, span, j, computed) => latentInput(span, j, computed, row) : undefined,
      keepLatents: o.keepLatents,
      keepHiddens: o.keepLatents,
    },
  );
  return rows.map((r) => {
    let latent = 0;
    const spans: GeneratedSpan[] = r.spans.map((s) => {
      const span: GeneratedSpan = { at: s.at, latents: s.latents, stopProbs: s.stopProbs, atBreakpoint: s.atBreakpoint };
      if (o.keepLatents) {
        const rowsOf = (t: Tensor | null) =>
          Array.from({ length: s.latents }, (_, j) => torch.keep(torch.scope(() => t!.select(0, latent + j).clone())));
        span.embeds = rowsOf(r.latents);
        span.hiddens = rowsOf(r.hiddens);
      }
      latent += s.latents;
      return span;
    });
    r.latents?.dispose();
    r.hiddens?.dispose();
    return { tokens: r.tokens, text: lm.tokenizer.decode(r.tokens), spans, markedText: markSpans(lm, r.tokens, spans) };
  });
}

function markSpans(lm: LatentModel, tokens: number[], spans: GeneratedSpan[]): string {
  let out = '';
  let from = 0;
  for (const s of spans) {
    out += lm.tokenizer.decode(tokens.slice(from, s.at)) + `⟨${s.latents} latent${s.latents === 1 ? '' : 's'}⟩`;
    from = s.at;
  }
  return out + lm.tokenizer.decode(tokens.slice(from));
}
