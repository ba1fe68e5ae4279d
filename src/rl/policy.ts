// The policy of phase 2 and its rollouts.
//
// A rollout is generated text with latent spans. Its actions are:
//  - language tokens, sampled from softmax(logits / temperature) (top-p truncates the draw only; the
//    log-probability is taken under the untruncated tempered distribution, as public GRPO code does);
//    `<bot>` and `<eot>` are never language tokens: spans open only through the start classifier;
//  - at each language position (the prompt's end and every fed token, not right after a span), a
//    Bernoulli "open a span" with the start classifier's probability;
//  - inside a span, before each latent, a Bernoulli "stop" with the end classifier's probability
//    (a hard cap `maxLatents` forces the stop; a forced stop is not an action).
// Latent embeddings are deterministic (the latent step of the previous position's hidden state);
// each rollout keeps them, so that the update can re-score the rollout in one teacher-forced pass.
//
// Rollouts are batched with a KV cache: every row advances one position per step (a token,
// `<bot>`, a latent or `<eot>`), at its own position, and padding slots are masked (CacheSlots).
// In two-trunk mode a step runs the language trunk for the rows fed a token or marker and the
// latent trunk for the rows fed a latent. Everything runs under noGrad, one torch.scope per step.
import * as torch from '../torch';
import type { Tensor } from '../torch';
import { CoupledCaches, type Coupling } from '../latent/coupling';
import { filterLogits } from '../models/qwen2/generate';
import type { Backbone, Trunk } from '../latent/forward';
import type { LatentHeads } from '../latent/heads';
import type { LatentModel } from '../latent/model';
import { CacheSlots, runLatentPass, runPass } from './cache-slots';

/** The modules a policy (or the frozen reference) computes with. */
export interface PolicyModules {
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

/** The offset that turns a calibrated start threshold into probability 1/2. */
export function startOffsetFor(threshold: number): number {
  if (!(threshold > 0 && threshold < 1)) throw new RangeError(`start threshold must lie in (0, 1), got ${threshold}`);
  return -Math.log(threshold / (1 - threshold));
}

export function policyModules(lm: LatentModel, startLogitOffset: number): PolicyModules {
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

/** Input id of a latent position in Rollout.ids. */
export const LATENT_ID = -1;

export type ActionKind = 'token' | 'start' | 'stop';

export interface RolloutAction {
  kind: ActionKind;
  /** index (in prompt + ids) of the position whose hidden state decides the action */
  position: number;
  /** token id, or 1 (open / stop) / 0 (do not open / continue) */
  value: number;
  /** log-probability under the policy that sampled the rollout */
  logProb: number;
}

export type FinishReason = 'eos' | 'length' | 'stop';

export interface Rollout {
  prompt: number[];
  /** what was fed after the prompt: token ids, `<bot>`, LATENT_ID, `<eot>` */
  ids: number[];
  actions: RolloutAction[];
  /** the language tokens of the answer (the end-of-sequence token excluded) */
  tokens: number[];
  /** spans: `at` = number of tokens before the span, `latents` = its length */
  spans: { at: number; latents: number }[];
  /** the latent input embeddings in order [latents, D] (kept; disposeRollouts frees them), or null */
  latents: Tensor | null;
  finish: FinishReason;
  /** sum of the actions' log-probabilities */
  logProb: number;
}

export interface RolloutOptions {
  /** language tokens per rollout, the end-of-sequence token included */
  maxNewTokens: number;
  /** hard cap on latents per span */
  maxLatents: number;
  /** no start decision once a rollout has this many spans (default: no limit) */
  maxSpans?: number;
  /** 0: greedy (argmax tokens, decisions by probability > 1/2); else the sampling temperature */
  temperature: number;
  topP?: number;
  /** false: never open a span (the "without latents" condition) */
  useLatents?: boolean;
  eosIds: readonly number[];
  /** ends a row early (e.g. a stop string appeared); called after each appended token */
  isDone?: (row: number, tokens: readonly number[]) => boolean;
  /** keep the latent embeddings (default true; evaluation does not need them) */
  keepLatents?: boolean;
}

export function disposeRollouts(rollouts: readonly Rollout[]): void {
  for (const r of rollouts) r.latents?.dispose();
}

// ---- the policy's distributions, shared by sampling and teacher-forced scoring ----

/** Losses and log-probabilities in float32 at least (bf16/f16 upcast, float64 kept). */
export function atLeastFloat32(t: Tensor): Tensor {
  return t.dtype === 'float64' || t.dtype === 'float32' ? t : t.float();
}

/** Token log-probabilities [N, V] at pre-norm hidden states [N, D]: log softmax(logits / T), markers excluded. */
export function tokenLogProbs(m: PolicyModules, pre: Tensor, temperature: number): Tensor {
  if (!(temperature > 0)) throw new RangeError(`token log-probabilities need a temperature > 0, got ${temperature}`);
  return torch.scope(() => temperedLogits(m, m.backbone.finalNorm(pre), temperature).logSoftmax(-1));
}

/** logits / T (at least float32) at post-norm hidden states, with `<bot>` and `<eot>` at -inf. */
function temperedLogits(m: PolicyModules, hidden: Tensor, temperature: number, markerIds?: Tensor): Tensor {
  return torch.scope(() => {
    const logits = atLeastFloat32(m.backbone.lmHead(hidden));
    const markers = markerIds ?? torch.tensor([m.botId, m.eotId], { dtype: 'int64', device: logits.device });
    const masked = logits.indexFill(-1, markers, -Infinity);
    return temperature === 1 ? masked : masked.div(temperature);
  });
}

/** Start-classifier logits [N] (offset included) at pre-norm hidden states of language positions [N, D]. */
export function startLogitsAt(m: PolicyModules, pre: Tensor): Tensor {
  return torch.scope(() => startLogitsOf(m, m.backbone.finalNorm(pre)));
}

function startLogitsOf(m: PolicyModules, hidden: Tensor): Tensor {
  return torch.scope(() => {
    const logits = atLeastFloat32(m.heads.startLogits(hidden));
    return m.startLogitOffset === 0 ? logits : logits.add(m.startLogitOffset);
  });
}

/**
 * The latent step at pre-norm hidden states [N, D]: the next latent's embedding and the stop logit.
 * `index`: each row's 0-based latent index within its span (the stop logit does not depend on it).
 */
export function latentStepAt(
  m: PolicyModules,
  pre: Tensor,
  index: number | readonly number[] = 0,
): { embed: Tensor; stopLogit: Tensor } {
  return m.heads.step({ pre, normWeight: m.latentTrunk.normWeight, eps: m.latentTrunk.eps, index, tokens: m.backbone });
}

/** log σ(x), stable for large |x| (the same value torch.logSigmoid gives in float64). */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

/** log-probability of a Bernoulli outcome with logit `logit`. */
export function bernoulliLogProb(logit: number, outcome: boolean): number {
  return logSigmoid(outcome ? logit : -logit);
}

// ---- sampling ----

type Mode = 'language' | 'after-span' | 'latent';

interface Row {
  prompt: number[];
  mode: Mode;
  /** latents fed in the open span */
  latentsInSpan: number;
  ids: number[];
  actions: RolloutAction[];
  tokens: number[];
  tokenActions: number;
  spans: { at: number; latents: number }[];
  logProb: number;
  finish: FinishReason | null;
}

type Feed = { kind: 'id'; id: number } | { kind: 'latent' } | null;

/**
 * Samples one rollout per prompt (token ids), batched. Returns rollouts in prompt order; their
 * latents are kept tensors (disposeRollouts). Runs under noGrad; memory stays flat across steps.
 */
export function sampleRollouts(m: PolicyModules, prompts: readonly (readonly number[])[], o: RolloutOptions): Rollout[] {
  checkOptions(prompts, o);
  const B = prompts.length;
  const useLatents = o.useLatents ?? true;
  const keepLatents = o.keepLatents ?? true;
  const maxSpans = o.maxSpans ?? Infinity;
  const eos = new Set(o.eosIds);
  const twoTrunk = m.latentTrunk !== m.backbone;
  const rows: Row[] = prompts.map((p) => ({
    prompt: [...p],
    mode: 'language',
    latentsInSpan: 0,
    ids: [],
    actions: [],
    tokens: [],
    tokenActions: 0,
    spans: [],
    logProb: 0,
    finish: null,
  }));
  const caches = new CoupledCaches(m.backbone.numLayers, m.coupling);
  const slots = new CacheSlots(B);
  const markerIds = torch.keep(torch.tensor([m.botId, m.eotId], { dtype: 'int64', device: m.backbone.normWeight.device }));
  // each step's latent embeddings [B, D], kept when some row fed one, and which rows did
  const latentSteps: { embeds: Tensor; rows: number[] }[] = [];
  let lastPre: Tensor | null = null;
  const setLast = (t: Tensor) => {
    lastPre?.dispose();
    lastPre = torch.keep(t);
  };
  try {
    torch.noGrad(() => {
      setLast(torch.scope(() => prefill(m, prompts, caches.language, slots)));
      while (rows.some((r) => r.finish === null)) {
        const next = torch.scope(() => {
          const live = rows.filter((r) => r.finish === null);
          const starts = useLatents && live.some((r) => r.mode === 'language' && r.spans.length < maxSpans);
          const inSpan = live.some((r) => r.mode === 'latent');
          const latentIndex = rows.map((r) => (r.mode === 'latent' ? r.latentsInSpan : 0));
          const step = decideStep(
            m,
            lastPre!,
            B,
            { temperature: o.temperature, topP: o.topP ?? 1, starts, inSpan, latentIndex },
            markerIds,
          );
          const feeds = rows.map((row, b) => advanceRow(row, b, step, m, o, eos, useLatents, maxSpans));
          if (feeds.every((f) => f === null)) return null;
          const latentRows: number[] = [];
          feeds.forEach((f, b) => {
            if (f === null) return;
            rows[b].ids.push(f.kind === 'id' ? f.id : LATENT_ID);
            if (f.kind === 'latent') latentRows.push(b);
          });
          if (keepLatents && latentRows.length) latentSteps.push({ embeds: torch.keep(step.latentEmbeds!), rows: latentRows });
          return feedStep(m, caches, slots, rows, feeds, step.latentEmbeds, lastPre!, twoTrunk);
        });
        if (next === null) break;
        setLast(next);
      }
    });
  } catch (e) {
    for (const s of latentSteps) s.embeds.dispose();
    throw e;
  } finally {
    caches.dispose();
    markerIds.dispose();
    (lastPre as Tensor | null)?.dispose();
  }
  let latents: (Tensor | null)[];
  try {
    latents = gatherLatents(latentSteps, B);
  } finally {
    for (const s of latentSteps) s.embeds.dispose();
  }
  return rows.map((r, b) => ({
    prompt: r.prompt,
    ids: r.ids,
    actions: r.actions,
    tokens: r.tokens,
    spans: r.spans,
    latents: latents[b],
    finish: r.finish ?? 'length',
    logProb: r.logProb,
  }));
}

/** Each row's latents in order [n, D] (kept), or null, from the per-step embeddings. */
function gatherLatents(steps: { embeds: Tensor; rows: number[] }[], B: number): (Tensor | null)[] {
  if (!steps.length) return new Array<Tensor | null>(B).fill(null);
  const perRow: number[][] = Array.from({ length: B }, () => []);
  steps.forEach((s, i) => s.rows.forEach((b) => perRow[b].push(i * B + b)));
  return torch.scope(() => {
    const all = torch.cat(
      steps.map((s) => s.embeds),
      0,
    );
    const device = all.device;
    return perRow.map((idx) =>
      idx.length ? torch.keep(all.indexSelect(0, torch.tensor(idx, { dtype: 'int64', device }))) : null,
    );
  });
}

/** One row's decisions for this step (recorded as actions); returns what to feed it, or null. */
function advanceRow(
  row: Row,
  b: number,
  step: StepValues,
  m: PolicyModules,
  o: RolloutOptions,
  eos: Set<number>,
  useLatents: boolean,
  maxSpans: number,
): Feed {
  if (row.finish !== null) return null;
  const greedy = o.temperature === 0;
  const position = row.prompt.length + row.ids.length - 1;
  const act = (kind: ActionKind, value: number, logProb: number) => {
    row.actions.push({ kind, position, value, logProb });
    row.logProb += logProb;
  };
  if (row.mode === 'latent') {
    if (row.latentsInSpan >= o.maxLatents) return closeSpan(row, m);
    const logit = step.stopLogit[b];
    const stop = greedy ? logit > 0 : step.uniform[1][b] < sigmoid(logit);
    act('stop', stop ? 1 : 0, bernoulliLogProb(logit, stop));
    if (stop) return closeSpan(row, m);
    row.latentsInSpan++;
    row.spans[row.spans.length - 1].latents++;
    return { kind: 'latent' };
  }
  if (row.mode === 'language' && useLatents && row.spans.length < maxSpans) {
    const logit = step.startLogit[b];
    const open = greedy ? logit > 0 : step.uniform[0][b] < sigmoid(logit);
    act('start', open ? 1 : 0, bernoulliLogProb(logit, open));
    if (open) {
      row.mode = 'latent';
      row.latentsInSpan = 0;
      row.spans.push({ at: row.tokens.length, latents: 0 });
      return { kind: 'id', id: m.botId };
    }
  }
  const token = step.token[b];
  act('token', token, step.tokenLogProb[b]);
  row.tokenActions++;
  if (eos.has(token)) {
    row.finish = 'eos';
    return null;
  }
  row.tokens.push(token);
  if (o.isDone?.(b, row.tokens)) row.finish = 'stop';
  else if (row.tokenActions >= o.maxNewTokens) row.finish = 'length';
  if (row.finish !== null) return null;
  row.mode = 'language';
  return { kind: 'id', id: token };
}

function closeSpan(row: Row, m: PolicyModules): Feed {
  row.mode = 'after-span';
  return { kind: 'id', id: m.eotId };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function checkOptions(prompts: readonly (readonly number[])[], o: RolloutOptions): void {
  if (prompts.length === 0) throw new RangeError('sampleRollouts: no prompts');
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new RangeError(`sampleRollouts: prompt ${i} is empty`);
  });
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1)
    throw new RangeError(`maxNewTokens must be a positive integer, got ${o.maxNewTokens}`);
  if (!Number.isInteger(o.maxLatents) || o.maxLatents < 0)
    throw new RangeError(`maxLatents must be a non-negative integer, got ${o.maxLatents}`);
  if (!(o.temperature >= 0) || !Number.isFinite(o.temperature))
    throw new RangeError(`temperature must be >= 0, got ${o.temperature}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${o.topP}`);
}

/** Runs the prompts (right-padded) in one pass; returns each row's last pre-norm hidden state [B, D]. */
function prefill(
  m: PolicyModules,
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
  /** [start, stop] uniforms per row (empty when greedy) */
  uniform: number[][];
  /** the latent step's embeddings [B, D] (each row's next latent if it continues a span), or null */
  latentEmbeds: Tensor | null;
}

/**
 * Everything the rows may need this step, computed for all rows and read back in one transfer:
 * the sampled token and its log-probability, the start logit (when some row may open a span), the
 * latent step (when some row is inside one) and the uniforms of the Bernoulli decisions.
 */
function decideStep(
  m: PolicyModules,
  lastPre: Tensor,
  B: number,
  o: { temperature: number; topP: number; starts: boolean; inSpan: boolean; latentIndex: number[] },
  markerIds: Tensor,
): StepValues {
  const greedy = o.temperature === 0;
  const hidden = m.backbone.finalNorm(lastPre);
  const scores = temperedLogits(m, hidden, greedy ? 1 : o.temperature, markerIds);
  const logProbs = scores.logSoftmax(-1);
  const probs = greedy ? null : o.topP < 1 ? filterLogits(scores, { topP: o.topP }).softmax(-1) : logProbs.exp();
  const token = probs ? torch.multinomial(probs, 1) : scores.argmax(-1, true);
  const dtype = scores.dtype;
  const row = (t: Tensor) => t.to(dtype).view([1, B]);
  const columns = [row(token), row(logProbs.gather(1, token))];
  if (o.starts) columns.push(row(startLogitsOf(m, hidden)));
  const latent = o.inSpan ? latentStepAt(m, lastPre, o.latentIndex) : null;
  if (latent) columns.push(row(latent.stopLogit));
  if (!greedy) columns.push(torch.rand([2, B], { dtype, device: lastPre.device }));
  const v = torch.cat(columns, 0).tolist() as number[][];
  const next = () => v.splice(0, 1)[0];
  return {
    token: next(),
    tokenLogProb: next(),
    startLogit: o.starts ? next() : [],
    stopLogit: latent ? next() : [],
    uniform: greedy ? [] : [next(), next()],
    latentEmbeds: latent?.embed ?? null,
  };
}

/**
 * Feeds each row its next input (token or marker on the backbone, latent on the latent trunk) and
 * returns the new last pre-norm hidden state [B, D] (rows fed nothing keep theirs).
 */
function feedStep(
  m: PolicyModules,
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
