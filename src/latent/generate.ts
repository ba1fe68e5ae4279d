// Greedy generation with latent spans: at each language position the start classifier may open a
// span (`<bot>`); inside it, each latent step's end classifier decides whether to stop (`<eot>`),
// with a hard cap. Latent positions run on the latent trunk, language positions on the backbone.
import * as torch from '../torch';
import type { Tensor } from '../torch';
import type { KVCache } from '../models/qwen2/cache';
import type { LatentModel } from './model';
import { CoupledCaches } from './coupling';

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
  onToken?: (text: string) => void;
  /** keep each span's latent input embeddings and post-norm hidden states (caller disposes) */
  keepLatents?: boolean;
  /**
   * Where spans open: 'classifier' (the start classifier, default) or 'oracle': exactly where the
   * text so far matches `breakpointPattern` (the gold breakpoints of the task's format), each span
   * `oracleLatents` long (default: the end classifier decides).
   */
  placement?: 'classifier' | 'oracle';
  /** the text right before a calculator result; default: ends with `= ` or `= $` (GSM8K and the arithmetic task) */
  breakpointPattern?: RegExp;
  oracleLatents?: number;
  /** replaces the input fed at latent j of span `span` (ablations during generation); return null to keep it */
  latentInput?: (span: number, j: number, computed: Tensor) => Tensor | null;
}

/** The text right before a result in GSM8K-format solutions: `… = ` or `… = $`. */
export const BREAKPOINT_PATTERN = /= \$?$/;

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

/** Generates a continuation of `prompt` with latent spans (batch of one, greedy). */
export function generateWithLatents(lm: LatentModel, prompt: string, o: LatentGenerateOptions = {}): LatentGeneration {
  const maxNew = o.maxNewTokens ?? 256;
  const maxLatents = o.maxLatents ?? 8;
  const startThreshold = o.startThreshold ?? lm.heads.startThreshold;
  const stopThreshold = o.stopThreshold ?? 0.5;
  const useLatents = o.useLatents ?? true;
  const pattern = o.breakpointPattern ?? BREAKPOINT_PATTERN;
  const oracle = o.placement === 'oracle';
  const device = lm.backbone.normWeight.device;
  const eos = new Set<number>([...(lm.model.config.eosTokenIds ?? [])]);
  if (lm.tokenizer.eosTokenId !== undefined) eos.add(lm.tokenizer.eosTokenId);
  const caches = new CoupledCaches(lm.backbone.numLayers, lm.coupling);
  let position = 0;
  const tokens: number[] = [];
  const spans: GeneratedSpan[] = [];

  // Runs one chunk at consecutive positions; returns the last position's pre-norm hidden [1, D].
  const feed = (
    trunk: typeof lm.backbone | typeof lm.latentTrunk,
    x: Tensor,
    cache: KVCache = caches.language,
    advance = true,
  ): Tensor => {
    const T = x.size(1);
    const S = position + T;
    const q = torch.arange(position, S, { dtype: 'int64', device }).unsqueeze(0);
    const mask = torch.ones([T, S], { dtype: 'bool', device }).tril(position).view([1, 1, T, S]);
    const pre = trunk.decode(x, q, mask, cache);
    if (advance) position = S;
    return pre.select(1, T - 1);
  };
  // A latent: the latent trunk on its cache, and under reencode the frozen copy's keys and values of it too.
  const feedLatent = (x: Tensor): Tensor => {
    if (caches.reencode) torch.scope(() => void feed(lm.backbone, x, caches.reencode!, false));
    return feed(lm.latentTrunk, x, caches.latent);
  };
  const embedIds = (ids: number[]): Tensor => {
    const t = torch.tensor([ids], { dtype: 'int64' }).to(device);
    return lm.heads.applyMarkers(lm.backbone.embed(t), t, lm.botId, lm.eotId);
  };

  try {
    return torch.noGrad(() => {
      let lastPre = torch.keep(torch.scope(() => feed(lm.backbone, embedIds(lm.tokenizer.encode(prompt)))));
      const replace = (t: Tensor) => {
        lastPre.dispose();
        lastPre = torch.keep(t);
      };
      let text = '';
      for (let n = 0; n < maxNew; n++) {
        const next = torch.scope(() => {
          const hidden = lm.backbone.finalNorm(lastPre);
          const atBreakpoint = pattern.test(text);
          // the oracle opens one span per breakpoint (not again after the span it just opened there)
          const open = oracle
            ? atBreakpoint && spans.at(-1)?.at !== tokens.length
            : torch.sigmoid(lm.heads.startLogits(hidden)).item() > startThreshold;
          if (useLatents && open) {
            // Open a span: <bot>, latents until the end classifier fires (or the cap), <eot>.
            replace(torch.scope(() => feed(lm.backbone, embedIds([lm.botId]))));
            const probs: number[] = [];
            const span: GeneratedSpan = {
              at: tokens.length,
              latents: 0,
              stopProbs: probs,
              atBreakpoint,
              ...(o.keepLatents ? { embeds: [], hiddens: [] } : {}),
            };
            for (let j = 0; ; j++) {
              const { embed: computed, stopLogit } = lm.heads.step({
                pre: lastPre,
                normWeight: lm.latentTrunk.normWeight,
                eps: lm.latentTrunk.eps,
                index: j,
                tokens: lm.backbone,
              });
              const p = torch.sigmoid(stopLogit).item();
              probs.push(p);
              const stop = oracle && o.oracleLatents !== undefined ? j >= o.oracleLatents : p > stopThreshold || j >= maxLatents;
              if (stop) break;
              const embed = o.latentInput?.(spans.length, j, computed)?.to(computed.dtype).reshape(computed.shape) ?? computed;
              replace(torch.scope(() => feedLatent(embed.unsqueeze(1))));
              if (span.embeds) {
                span.embeds.push(torch.keep(embed.squeeze(0).clone()));
                span.hiddens!.push(torch.keep(lm.latentTrunk.finalNorm(lastPre).squeeze(0)));
              }
            }
            span.latents = probs.length - 1;
            spans.push(span);
            replace(torch.scope(() => feed(lm.backbone, embedIds([lm.eotId]))));
          }
          const logits = lm.backbone.lmHead(lm.backbone.finalNorm(lastPre));
          return logits.argmax(-1).item();
        });
        if (eos.has(next)) break;
        tokens.push(next);
        const piece = lm.tokenizer.decode(tokens).slice(text.length);
        text += piece;
        o.onToken?.(piece);
        if (o.stopStrings?.some((s) => text.endsWith(s))) break;
        replace(torch.scope(() => feed(lm.backbone, embedIds([next]))));
      }
      lastPre.dispose();
      return { tokens, text: lm.tokenizer.decode(tokens), spans, markedText: markSpans(lm, tokens, spans) };
    });
  } finally {
    caches.dispose();
  }
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
