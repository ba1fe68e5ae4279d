// The latent decoding loop: batched, greedy or sampling. Generation (`latent generate`, `latent eval`,
// the study) and the rollouts of phase 2 both run it.
//
// Every row advances one position per step (a token, `<bot>`, a latent or `<eot>`), at its own
// position, over a KV cache whose padding slots are masked (CacheSlots), so that a row's result does
// not depend on the rest of the batch. A row's decisions, in order:
//  - at a language position (the prompt's end and every fed token, not right after a span), whether
//    to open a span: the start classifier (greedy: probability above a threshold; sampling: a
//    Bernoulli draw), or, under oracle placement, exactly where the text so far matches the gold
//    breakpoint pattern (e.g. ends with `= `);
//  - inside a span, before each latent, whether to stop: the end classifier (threshold or draw), a
//    hard cap `maxLatents`, or under oracle placement a given count per span;
//  - otherwise the next language token: the argmax, or a draw from softmax(logits / temperature)
//    (top-p truncates the draw only; the log-probability is taken under the untruncated tempered
//    distribution). `<bot>` and `<eot>` are never language tokens: spans open only by the decision above.
// Decisions of the classifiers and the tokens are recorded as actions with their log-probabilities
// (what phase 2 re-scores); forced and oracle decisions are not actions.
//
// A latent's input is the latent step of the previous position's hidden state, optionally replaced
// per row (the generation ablations). In two-trunk mode a step runs the language trunk for the rows
// fed a token or marker and the latent trunk for the rows fed a latent. Everything runs under noGrad,
// one torch.scope per step, with one readback per step.
import * as torch from '../torch';
import type { Tensor } from '../torch';
import { filterLogits } from '../models/qwen2/generate';
import { CoupledCaches, type Coupling } from './coupling';
import { CacheSlots, runLatentPass, runPass } from './cache-slots';
import type { Backbone, Trunk } from './forward';
import type { LatentHeads } from './heads';
import type { LatentModel } from './model';

/** The modules decoding (and the teacher-forced re-scoring of phase 2) computes with. */
export interface DecodeModules {
  backbone: Backbone;
  /** the backbone itself (full mode) or the latent copy of the decoder (two-trunk mode) */
  latentTrunk: Trunk;
  heads: LatentHeads;
  botId: number;
  eotId: number;
  /**
   * Added to the start classifier's logit. Phase 1 calibrates a threshold τ on its start
   * probability; an offset of -logit(τ) makes τ the point where opening a span is a coin flip.
   */
  startLogitOffset: number;
  /** two-trunk: how the frozen copy sees latent positions (default shared-kv) */
  coupling?: Coupling;
}

/** A latent model's decoding modules, with `startLogitOffset` added to the start classifier's logit. */
export function decodeModules(lm: LatentModel, startLogitOffset = 0): DecodeModules {
  return {
    backbone: lm.backbone,
    latentTrunk: lm.latentTrunk,
    heads: lm.heads,
    botId: lm.botId,
    eotId: lm.eotId,
    startLogitOffset,
    coupling: lm.coupling,
  };
}

/** Input id of a latent position in DecodedRow.ids. */
export const LATENT_ID = -1;

/** `latent-token`: under sampling, the token drawn at a latent's position whose embedding the gated form mixes in. */
export type ActionKind = 'token' | 'start' | 'stop' | 'latent-token';

export interface DecodeAction {
  kind: ActionKind;
  /** index (in prompt + ids) of the position whose hidden state decides the action */
  position: number;
  /** token id, or 1 (open / stop) / 0 (do not open / continue) */
  value: number;
  /** log-probability under the policy that decoded the row */
  logProb: number;
}

export type FinishReason = 'eos' | 'length' | 'stop';

/**
 * greedy: argmax tokens; a span opens when the start probability (offset included) exceeds
 * `startThreshold` and stops when the stop probability exceeds `stopThreshold` (unset: when the
 * logit is positive, i.e. probability 1/2 decided on the logit itself). Token log-probabilities are
 * those of temperature 1.
 * sample: tokens drawn at `temperature` (> 0) within `topP`, spans opened and stopped by Bernoulli draws.
 */
export type DecodePolicy =
  { kind: 'greedy'; startThreshold?: number; stopThreshold?: number } | { kind: 'sample'; temperature: number; topP?: number };

export interface DecodeOptions {
  policy: DecodePolicy;
  /** language tokens per row, the end-of-sequence token included */
  maxNewTokens: number;
  /** hard cap on latents per span (classifier placement; oracle spans with a given count ignore it) */
  maxLatents: number;
  /** no start decision once a row has this many spans (default: no limit) */
  maxSpans?: number;
  /** false: never open a span (the "without latents" condition) */
  useLatents?: boolean;
  eosIds: readonly number[];
  /** the text of a row's tokens; rows then track their text (needed by oracle placement, atBreakpoint, onToken) */
  decode?: (tokens: readonly number[]) => string;
  /** ends a row early (e.g. a stop string appeared); called after each appended token */
  isDone?: (row: number, tokens: readonly number[], text: string) => boolean;
  /** each appended token's text (with `decode`) */
  onToken?: (row: number, piece: string) => void;
  /**
   * 'classifier' (default): spans open by the start classifier. 'oracle': exactly where the text so far
   * matches `breakpointPattern` (once per breakpoint), no start action.
   */
  placement?: 'classifier' | 'oracle';
  breakpointPattern?: RegExp;
  /** oracle placement: the latents of span `span` of row `row` (undefined: the end classifier decides, with the cap) */
  oracleLatents?: (row: number, span: number) => number | undefined;
  /** replaces the input [D] fed at latent j of span `span` of row `row` (generation ablations); null keeps it */
  latentInput?: (row: number, span: number, j: number, computed: Tensor) => Tensor | null;
  /** keep each row's latent inputs as fed, [n, D] (DecodedRow.latents; default false) */
  keepLatents?: boolean;
  /** keep each row's post-norm hidden states at its latent positions, [n, D] (DecodedRow.hiddens) */
  keepHiddens?: boolean;
}

export interface DecodedSpan {
  /** number of tokens before the span */
  at: number;
  latents: number;
  /** the end classifier's stop probability at each step of the span (the last one stopped it) */
  stopProbs: number[];
  /** with `decode`: whether the text before the span matched the breakpoint pattern */
  atBreakpoint: boolean;
}

export interface DecodedRow {
  prompt: number[];
  /** what was fed after the prompt: token ids, `<bot>`, LATENT_ID, `<eot>` */
  ids: number[];
  actions: DecodeAction[];
  /** the language tokens (the end-of-sequence token excluded) */
  tokens: number[];
  spans: DecodedSpan[];
  /** with keepLatents: the latent inputs in order [n, D] (kept; the caller disposes), else null (also when n = 0) */
  latents: Tensor | null;
  /** with keepHiddens: the post-norm hidden states at the latent positions [n, D] (kept), else null */
  hiddens: Tensor | null;
  /** sampling with the gated form: per latent, the token whose embedding it mixed in (else empty) */
  latentTokens: number[];
  finish: FinishReason;
  /** sum of the actions' log-probabilities */
  logProb: number;
  /** with `decode`: the text built token by token (as onToken reported it) */
  text: string;
}

/** The text right before a result in GSM8K-format solutions: `… = ` or `… = $`. */
export const BREAKPOINT_PATTERN = /= \$?$/;

// ---- the policy's distributions, shared by decoding and teacher-forced scoring ----

/** Losses and log-probabilities in float32 at least (bf16/f16 upcast, float64 kept). */
export function atLeastFloat32(t: Tensor): Tensor {
  return t.dtype === 'float64' || t.dtype === 'float32' ? t : t.float();
}

/** Token log-probabilities [N, V] at pre-norm hidden states [N, D]: log softmax(logits / T), markers excluded. */
export function tokenLogProbs(m: DecodeModules, pre: Tensor, temperature: number): Tensor {
  if (!(temperature > 0)) throw new RangeError(`token log-probabilities need a temperature > 0, got ${temperature}`);
  return torch.scope(() => temperedLogits(m, m.backbone.finalNorm(pre), temperature).logSoftmax(-1));
}

/** logits / T (at least float32) at post-norm hidden states, with `<bot>` and `<eot>` at -inf. */
function temperedLogits(m: DecodeModules, hidden: Tensor, temperature: number, markerIds?: Tensor): Tensor {
  return torch.scope(() => {
    const logits = atLeastFloat32(m.backbone.lmHead(hidden));
    const markers = markerIds ?? torch.tensor([m.botId, m.eotId], { dtype: 'int64', device: logits.device });
    const masked = logits.indexFill(-1, markers, -Infinity);
    return temperature === 1 ? masked : masked.div(temperature);
  });
}

/** Start-classifier logits [N] (offset included) at pre-norm hidden states of language positions [N, D]. */
export function startLogitsAt(m: DecodeModules, pre: Tensor): Tensor {
  return torch.scope(() => startLogitsOf(m, m.backbone.finalNorm(pre)));
}

function startLogitsOf(m: DecodeModules, hidden: Tensor): Tensor {
  return torch.scope(() => {
    const logits = atLeastFloat32(m.heads.startLogits(hidden));
    return m.startLogitOffset === 0 ? logits : logits.add(m.startLogitOffset);
  });
}

/**
 * The latent step at pre-norm hidden states [N, D]: the next latent's embedding and the stop logit.
 * `index`: each row's 0-based latent index within its span (the stop logit does not depend on it).
 * `tokenIds` [N]: the tokens the gated form mixes in (default: its argmax).
 */
export function latentStepAt(
  m: DecodeModules,
  pre: Tensor,
  index: number | readonly number[] = 0,
  tokenIds?: Tensor,
): { embed: Tensor; stopLogit: Tensor } {
  return m.heads.step({
    pre,
    normWeight: m.latentTrunk.normWeight,
    eps: m.latentTrunk.eps,
    index,
    tokens: m.backbone,
    ...(tokenIds ? { tokenIds } : {}),
  });
}

/** log σ(x), stable for large |x| (the same value torch.logSigmoid gives in float64). */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

/** log-probability of a Bernoulli outcome with logit `logit`. */
export function bernoulliLogProb(logit: number, outcome: boolean): number {
  return logSigmoid(outcome ? logit : -logit);
}

// ---- the loop ----

type Mode = 'language' | 'after-span' | 'latent';

interface Row {
  prompt: number[];
  mode: Mode;
  /** latents fed in the open span */
  latentsInSpan: number;
  ids: number[];
  actions: DecodeAction[];
  tokens: number[];
  tokenActions: number;
  spans: DecodedSpan[];
  latentTokens: number[];
  logProb: number;
  finish: FinishReason | null;
  text: string;
}

type Feed = { kind: 'id'; id: number } | { kind: 'latent' } | null;

/** One step's latent inputs (and hidden states) of the rows that fed a latent, kept until the end. */
interface LatentStep {
  embeds: Tensor | null;
  hiddens: Tensor | null;
  rows: number[];
}

/**
 * Decodes one continuation per prompt (token ids), batched; rows in prompt order. Runs under noGrad;
 * the live-tensor count is the same before and after (once kept outputs are disposed).
 */
export function decodeLatent(m: DecodeModules, prompts: readonly (readonly number[])[], o: DecodeOptions): DecodedRow[] {
  checkOptions(prompts, o);
  const B = prompts.length;
  const useLatents = o.useLatents ?? true;
  const maxSpans = o.maxSpans ?? Infinity;
  const eos = new Set(o.eosIds);
  const twoTrunk = m.latentTrunk !== m.backbone;
  const sampling = o.policy.kind === 'sample';
  // under sampling the gated form mixes in the token drawn at the latent's position (HRPO), recorded for re-scoring
  const drawnLatentTokens = sampling && m.heads.input.kind === 'gated';
  const rows: Row[] = prompts.map((p) => ({
    prompt: [...p],
    mode: 'language',
    latentsInSpan: 0,
    ids: [],
    actions: [],
    tokens: [],
    tokenActions: 0,
    spans: [],
    latentTokens: [],
    logProb: 0,
    finish: null,
    text: '',
  }));
  const caches = new CoupledCaches(m.backbone.numLayers, m.coupling);
  const slots = new CacheSlots(B);
  const markerIds = torch.keep(torch.tensor([m.botId, m.eotId], { dtype: 'int64', device: m.backbone.normWeight.device }));
  const latentSteps: LatentStep[] = [];
  const disposeSteps = () => {
    for (const s of latentSteps) {
      s.embeds?.dispose();
      s.hiddens?.dispose();
    }
  };
  let lastPre: Tensor | null = null;
  const setLast = (t: Tensor) => {
    lastPre?.dispose();
    lastPre = torch.keep(t);
  };
  const ctx: RowContext = { m, o, eos, useLatents, maxSpans, sampling, drawnLatentTokens };
  try {
    torch.noGrad(() => {
      setLast(torch.scope(() => prefill(m, prompts, caches.language, slots)));
      while (rows.some((r) => r.finish === null)) {
        const next = torch.scope(() => {
          const live = rows.filter((r) => r.finish === null);
          const starts =
            useLatents && o.placement !== 'oracle' && live.some((r) => r.mode === 'language' && r.spans.length < maxSpans);
          const inSpan = live.some((r) => r.mode === 'latent');
          const latentIndex = rows.map((r) => (r.mode === 'latent' ? r.latentsInSpan : 0));
          const step = decideStep(m, lastPre!, B, o.policy, { starts, inSpan, latentIndex, drawnLatentTokens }, markerIds);
          const feeds = rows.map((row, b) => advanceRow(row, b, step, ctx));
          if (feeds.every((f) => f === null)) return null;
          const latentRows: number[] = [];
          feeds.forEach((f, b) => {
            if (f === null) return;
            rows[b].ids.push(f.kind === 'id' ? f.id : LATENT_ID);
            if (f.kind === 'latent') latentRows.push(b);
          });
          const fed = latentRows.length ? latentInputs(step.latentEmbeds!, latentRows, rows, o) : step.latentEmbeds;
          const pre = feedStep(m, caches, slots, rows, feeds, fed, lastPre!, twoTrunk);
          if (latentRows.length && (o.keepLatents || o.keepHiddens))
            latentSteps.push({
              embeds: o.keepLatents ? torch.keep(fed!) : null,
              hiddens: o.keepHiddens ? torch.keep(m.latentTrunk.finalNorm(pre)) : null,
              rows: latentRows,
            });
          return pre;
        });
        if (next === null) break;
        setLast(next);
      }
    });
  } catch (e) {
    disposeSteps();
    throw e;
  } finally {
    caches.dispose();
    markerIds.dispose();
    (lastPre as Tensor | null)?.dispose();
  }
  let latents: (Tensor | null)[];
  let hiddens: (Tensor | null)[];
  try {
    latents = gatherRows(latentSteps, B, (s) => s.embeds);
    hiddens = gatherRows(latentSteps, B, (s) => s.hiddens);
  } finally {
    disposeSteps();
  }
  return rows.map((r, b) => ({
    prompt: r.prompt,
    ids: r.ids,
    actions: r.actions,
    tokens: r.tokens,
    spans: r.spans,
    latents: latents[b],
    hiddens: hiddens[b],
    latentTokens: r.latentTokens,
    finish: r.finish ?? 'length',
    logProb: r.logProb,
    text: r.text,
  }));
}

/** The fed latent inputs [B, D]: the computed ones, with the rows `latentInput` replaces swapped in. */
function latentInputs(computed: Tensor, latentRows: number[], rows: Row[], o: DecodeOptions): Tensor {
  if (!o.latentInput) return computed;
  const D = computed.size(1);
  const replaced = new Map<number, Tensor>();
  for (const b of latentRows) {
    const r = rows[b];
    const x = o.latentInput(b, r.spans.length - 1, r.latentsInSpan - 1, computed.select(0, b));
    if (x) replaced.set(b, x.to(computed.dtype).to(computed.device).reshape([D]));
  }
  if (!replaced.size) return computed;
  return torch.stack(
    Array.from({ length: computed.size(0) }, (_, b) => replaced.get(b) ?? computed.select(0, b)),
    0,
  );
}

/** Each row's kept rows in order [n, D] (kept), or null, from the per-step [B, D] tensors. */
function gatherRows(steps: LatentStep[], B: number, pick: (s: LatentStep) => Tensor | null): (Tensor | null)[] {
  const kept = steps.filter((s) => pick(s) !== null);
  if (!kept.length) return new Array<Tensor | null>(B).fill(null);
  const perRow: number[][] = Array.from({ length: B }, () => []);
  kept.forEach((s, i) => s.rows.forEach((b) => perRow[b].push(i * B + b)));
  return torch.scope(() => {
    const all = torch.cat(
      kept.map((s) => pick(s)!),
      0,
    );
    const device = all.device;
    return perRow.map((idx) =>
      idx.length ? torch.keep(all.indexSelect(0, torch.tensor(idx, { dtype: 'int64', device }))) : null,
    );
  });
}

interface RowContext {
  m: DecodeModules;
  o: DecodeOptions;
  eos: Set<number>;
  useLatents: boolean;
  maxSpans: number;
  sampling: boolean;
  drawnLatentTokens: boolean;
}

/** One row's decisions for this step (recorded as actions); returns what to feed it, or null. */
function advanceRow(row: Row, b: number, step: StepValues, c: RowContext): Feed {
  if (row.finish !== null) return null;
  const { m, o } = c;
  const policy = o.policy;
  const position = row.prompt.length + row.ids.length - 1;
  const act = (kind: ActionKind, value: number, logProb: number) => {
    row.actions.push({ kind, position, value, logProb });
    row.logProb += logProb;
  };
  if (row.mode === 'latent') {
    const span = row.spans[row.spans.length - 1];
    const j = row.latentsInSpan;
    span.stopProbs.push(step.stopProb[b]);
    const k = o.placement === 'oracle' ? o.oracleLatents?.(b, row.spans.length - 1) : undefined;
    let stop: boolean;
    if (k !== undefined) stop = j >= k;
    else if (j >= o.maxLatents) stop = true;
    else {
      const logit = step.stopLogit[b];
      stop = decide(policy, 'stop', logit, step.uniform[1]?.[b]);
      act('stop', stop ? 1 : 0, bernoulliLogProb(logit, stop));
    }
    if (stop) {
      row.mode = 'after-span';
      return { kind: 'id', id: m.eotId };
    }
    if (c.drawnLatentTokens) {
      row.latentTokens.push(step.token[b]);
      act('latent-token', step.token[b], step.tokenLogProb[b]);
    }
    row.latentsInSpan++;
    span.latents++;
    return { kind: 'latent' };
  }
  if (row.mode === 'language' && c.useLatents && row.spans.length < c.maxSpans) {
    const pattern = o.breakpointPattern ?? BREAKPOINT_PATTERN;
    const atBreakpoint = o.decode ? pattern.test(row.text) : false;
    let open: boolean;
    if (o.placement === 'oracle') {
      // one span per breakpoint (not again after the span just opened there)
      open = atBreakpoint && row.spans.at(-1)?.at !== row.tokens.length;
    } else {
      const logit = step.startLogit[b];
      open = decide(policy, 'start', logit, step.uniform[0]?.[b]);
      act('start', open ? 1 : 0, bernoulliLogProb(logit, open));
    }
    if (open) {
      row.mode = 'latent';
      row.latentsInSpan = 0;
      row.spans.push({ at: row.tokens.length, latents: 0, stopProbs: [], atBreakpoint });
      return { kind: 'id', id: m.botId };
    }
  }
  const token = step.token[b];
  act('token', token, step.tokenLogProb[b]);
  row.tokenActions++;
  if (c.eos.has(token)) {
    row.finish = 'eos';
    return null;
  }
  row.tokens.push(token);
  if (o.decode) {
    const piece = o.decode(row.tokens).slice(row.text.length);
    row.text += piece;
    o.onToken?.(b, piece);
  }
  if (o.isDone?.(b, row.tokens, row.text)) row.finish = 'stop';
  else if (row.tokenActions >= o.maxNewTokens) row.finish = 'length';
  if (row.finish !== null) return null;
  row.mode = 'language';
  return { kind: 'id', id: token };
}

/**
 * A classifier's decision under the policy: a Bernoulli draw, the probability against a threshold, or
 * the logit's sign. A threshold is compared in logit space: a float32 probability is 1 for every logit
 * above about 16.6, so `p > τ` could not tell apart a calibrated τ close to 1 from the scores above it.
 */
export function decide(policy: DecodePolicy, which: 'start' | 'stop', logit: number, uniform: number | undefined): boolean {
  if (policy.kind === 'sample') return uniform! < 1 / (1 + Math.exp(-logit));
  const threshold = which === 'start' ? policy.startThreshold : policy.stopThreshold;
  return threshold === undefined ? logit > 0 : logit > Math.log(threshold) - Math.log1p(-threshold);
}

function checkOptions(prompts: readonly (readonly number[])[], o: DecodeOptions): void {
  if (prompts.length === 0) throw new RangeError('decodeLatent: no prompts');
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new RangeError(`decodeLatent: prompt ${i} is empty`);
  });
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1)
    throw new RangeError(`maxNewTokens must be a positive integer, got ${o.maxNewTokens}`);
  if (!Number.isInteger(o.maxLatents) || o.maxLatents < 0)
    throw new RangeError(`maxLatents must be a non-negative integer, got ${o.maxLatents}`);
  const p = o.policy;
  if (p.kind === 'sample') {
    if (!(p.temperature > 0) || !Number.isFinite(p.temperature))
      throw new RangeError(`sampling needs a finite temperature > 0, got ${p.temperature}`);
    if (p.topP !== undefined && !(p.topP > 0 && p.topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${p.topP}`);
  } else if (p.kind !== 'greedy') throw new RangeError(`unknown decoding policy '${String((p as { kind: unknown }).kind)}'`);
  if (o.placement === 'oracle' && !o.decode)
    throw new RangeError('oracle placement needs `decode`: spans open where the text matches the breakpoint pattern');
}

/** Runs the prompts (right-padded) in one pass; returns each row's last pre-norm hidden state [B, D]. */
function prefill(
  m: DecodeModules,
  prompts: readonly (readonly number[])[],
  cache: CoupledCaches['language'],
  slots: CacheSlots,
): Tensor {
  const device = m.backbone.normWeight.device;
  const width = Math.max(...prompts.map((p) => p.length));
  const ids = prompts.map((p) => Array.from({ length: width }, (_, t) => (t < p.length ? p[t] : 0)));
  const qPos = prompts.map((p) => Array.from({ length: width }, (_, t) => (t < p.length ? t : 0)));
  const qValid = prompts.map((p) => Array.from({ length: width }, (_, t) => t < p.length));
  const idsT = torch.tensor(ids, { dtype: 'int64' }).to(device);
  const x = m.heads.applyMarkers(m.backbone.embed(idsT), idsT, m.botId, m.eotId);
  const pre = runPass(m.backbone, cache, slots, x, qPos, qValid);
  const last = torch
    .tensor(
      prompts.map((p) => p.length - 1),
      { dtype: 'int64' },
    )
    .to(device);
  return pre.gather(1, last.view([-1, 1, 1]).expand([-1, 1, pre.size(2)])).squeeze(1);
}

interface StepValues {
  token: number[];
  tokenLogProb: number[];
  /** empty when no row decides on opening a span this step */
  startLogit: number[];
  /** empty when no row is inside a span */
  stopLogit: number[];
  /** the stop probabilities, for the span records */
  stopProb: number[];
  /** [start, stop] uniforms per row (empty when greedy) */
  uniform: number[][];
  /** the latent step's embeddings [B, D] (each row's next latent if it continues a span), or null */
  latentEmbeds: Tensor | null;
}

/**
 * Everything the rows may need this step, computed for all rows and read back in one transfer:
 * the token and its log-probability, the start logit (when some row may open a span), the latent
 * step (when some row is inside one) and the uniforms of the Bernoulli decisions.
 */
function decideStep(
  m: DecodeModules,
  lastPre: Tensor,
  B: number,
  policy: DecodePolicy,
  o: { starts: boolean; inSpan: boolean; latentIndex: number[]; drawnLatentTokens: boolean },
  markerIds: Tensor,
): StepValues {
  const sample = policy.kind === 'sample' ? policy : null;
  const hidden = m.backbone.finalNorm(lastPre);
  const scores = temperedLogits(m, hidden, sample ? sample.temperature : 1, markerIds);
  const logProbs = scores.logSoftmax(-1);
  const topP = sample?.topP ?? 1;
  const probs = !sample ? null : topP < 1 ? filterLogits(scores, { topP }).softmax(-1) : logProbs.exp();
  const token = probs ? torch.multinomial(probs, 1) : scores.argmax(-1, true);
  const dtype = scores.dtype;
  const row = (t: Tensor) => t.to(dtype).view([1, B]);
  const columns = [row(token), row(logProbs.gather(1, token))];
  if (o.starts) {
    const logit = startLogitsOf(m, hidden);
    columns.push(row(logit));
  }
  const latent = o.inSpan ? latentStepAt(m, lastPre, o.latentIndex, o.drawnLatentTokens ? token.view([B]) : undefined) : null;
  if (latent) columns.push(row(latent.stopLogit), row(latent.stopLogit.sigmoid()));
  if (sample) columns.push(torch.rand([2, B], { dtype, device: lastPre.device }));
  const v = torch.cat(columns, 0).tolist() as number[][];
  const next = () => v.splice(0, 1)[0];
  return {
    token: next(),
    tokenLogProb: next(),
    startLogit: o.starts ? next() : [],
    stopLogit: latent ? next() : [],
    stopProb: latent ? next() : [],
    uniform: sample ? [next(), next()] : [],
    latentEmbeds: latent?.embed ?? null,
  };
}

/**
 * Feeds each row its next input (token or marker on the backbone, latent on the latent trunk) and
 * returns the new last pre-norm hidden state [B, D] (rows fed nothing keep theirs).
 */
function feedStep(
  m: DecodeModules,
  caches: CoupledCaches,
  slots: CacheSlots,
  rows: Row[],
  feeds: Feed[],
  latentEmbeds: Tensor | null,
  lastPre: Tensor,
  twoTrunk: boolean,
): Tensor {
  const device = lastPre.device;
  const B = rows.length;
  const fedRows = feeds.map((f) => f !== null);
  const isLatent = feeds.map((f) => f?.kind === 'latent');
  const idRow = feeds.map((f) => f?.kind === 'id');
  // position of the fed input = index of the last entry of prompt + ids
  const qPos = rows.map((r) => [r.prompt.length + r.ids.length - 1]);
  // One input per row: a token embedding, or a row of [markers; latent embeddings].
  const special = feeds.map((f, b) =>
    f === null ? -1 : f.kind === 'latent' ? 2 + b : f.id === m.botId ? 0 : f.id === m.eotId ? 1 : -1,
  );
  const idsT = torch.tensor(
    feeds.map((f, b) => [f?.kind === 'id' && special[b] < 0 ? f.id : 0]),
    { dtype: 'int64', device },
  );
  let x = m.backbone.embed(idsT);
  if (special.some((i) => i >= 0)) {
    const extra = latentEmbeds
      ? torch.cat([m.heads.markers.to(x.dtype), latentEmbeds.to(x.dtype)], 0)
      : m.heads.markers.to(x.dtype);
    const rowsX = extra
      .indexSelect(
        0,
        torch.tensor(
          special.map((i) => Math.max(i, 0)),
          { dtype: 'int64', device },
        ),
      )
      .unsqueeze(1);
    x = torch.where(
      torch
        .tensor(
          special.map((i) => i >= 0),
          { device },
        )
        .view([B, 1, 1]),
      rowsX,
      x,
    );
  }
  const valid = (rowsFed: boolean[]) => rowsFed.map((v) => [v]);
  const update = (pre: Tensor, fed: boolean[], previous: Tensor) =>
    fed.every(Boolean) ? pre : torch.where(torch.tensor(fed, { device }).view([B, 1]), pre, previous);
  if (!twoTrunk) return update(runPass(m.backbone, caches.language, slots, x, qPos, valid(fedRows)).squeeze(1), fedRows, lastPre);
  let next = lastPre;
  if (idRow.some(Boolean))
    next = update(runPass(m.backbone, caches.language, slots, x, qPos, valid(idRow)).squeeze(1), idRow, next);
  if (isLatent.some(Boolean)) next = update(runLatentPass(m, caches, slots, x, qPos, valid(isLatent)).squeeze(1), isLatent, next);
  return next;
}
