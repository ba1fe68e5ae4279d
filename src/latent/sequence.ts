// Training sequences with latent spans: a GSM8K example becomes prompt + solution tokens in which
// every calculator breakpoint becomes `<bot>` + k latent positions + `<eot>`.
//
// The layout is what the batched forward (forward.ts) processes chunk by chunk: a language chunk
// (ending with `<bot>`), then its latent span, then the next language chunk (starting with `<eot>`),
// and so on. With k = 0 the baseline has no markers at all: plain prompt + solution.
import { toTrainingSegments, type Gsm8kExample, type TextFormat } from '../data/gsm8k';

export enum Role {
  Prompt = 0,
  Language = 1,
  Bot = 2,
  Latent = 3,
  Eot = 4,
}

/** Latents per breakpoint: a fixed count, or chosen per breakpoint (index in the example). */
export type LatentSchedule = number | ((breakpointIndex: number, example: Gsm8kExample) => number);

/**
 * Named per-breakpoint schedules (the CLI's --latent-schedule), so the end classifier has more to
 * learn than counting to a fixed k:
 *  - `fixed`: k at every breakpoint;
 *  - `digits`: the number of digits of the breakpoint's result, at least 1 and at most k;
 *  - `operations`: the number of arithmetic operators in its expression, at least 1 and at most k.
 */
export const LATENT_SCHEDULE_KINDS = ['fixed', 'digits', 'operations'] as const;
export type LatentScheduleKind = (typeof LATENT_SCHEDULE_KINDS)[number];

/** The schedule of a named kind with at most `k` latents per span (k = 0: no latents, whatever the kind). */
export function namedLatentSchedule(kind: LatentScheduleKind, k: number): LatentSchedule {
  if (kind === 'fixed' || k === 0) return k;
  const clamp = (n: number) => Math.max(1, Math.min(k, n));
  if (kind === 'digits') return (i, e) => clamp(e.breakpoints[i].result.replace(/[^0-9]/g, '').length);
  if (kind === 'operations')
    return (i, e) => clamp((e.breakpoints[i].expression.replace(/^\s*-/, '').match(/[-+*/×÷]/g) ?? []).length);
  throw new RangeError(`unknown latent schedule '${String(kind)}' (one of ${LATENT_SCHEDULE_KINDS.join(', ')})`);
}

export interface TextEncoder {
  encode(text: string): number[];
}

export interface LatentSpan {
  /** position of `<bot>` (the hidden state there makes the first latent) */
  botPosition: number;
  /** number of latent positions; they occupy botPosition+1 … botPosition+count */
  count: number;
  breakpointIndex: number;
  /** expression and result of the calculator annotation, for diagnostics */
  expression: string;
  result: string;
  /** the tokens that write the result right after the span (what a planted latent carries) */
  resultIds: number[];
}

export interface LatentSequence {
  /** token ids; latent positions hold -1 (their inputs are computed, not looked up) */
  ids: number[];
  roles: Role[];
  spans: LatentSpan[];
  /** targets[t]: the token position t must predict (-100 when not trained: prompt, markers, latents) */
  targets: number[];
  /**
   * for trained targets after breakpoint i (up to the next breakpoint): i, else -1. Every solution
   * token after the first breakpoint has one, so the loss over them is "post-span loss", not the
   * loss of one step (that is stepTarget).
   */
  nextStepOf: number[];
  /** 1 where the target is one of the tokens that write the annotation's result right after a span */
  resultTarget: number[];
  /** 1 where the target belongs to the step that follows a span: from the result to the end of its line (or the next span) */
  stepTarget: number[];
  /** 1 at language positions right before a breakpoint (the start classifier's positives); -1 where it is not trained */
  startTarget: number[];
  /** index of the source example */
  exampleIndex: number;
}

export interface BuildOptions {
  latents: LatentSchedule;
  botId: number;
  eotId: number;
  format?: Partial<TextFormat>;
  /** keep `<bot><eot>` around zero-latent spans (a marker-only control) instead of plain text */
  markersAtZero?: boolean;
  /** appended after the final answer, so generation learns to stop */
  eosId?: number;
}

const IGNORE = -100;
const RESULT_PREFIX = /^\s*-?\$?\d[\d,]*(?:\.\d+)?/;

function latentsFor(schedule: LatentSchedule, index: number, example: Gsm8kExample): number {
  const k = typeof schedule === 'number' ? schedule : schedule(index, example);
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`latent count must be a non-negative integer, got ${k}`);
  return k;
}

/** Builds the token layout of one example. */
export function buildLatentSequence(example: Gsm8kExample, tokenizer: TextEncoder, options: BuildOptions): LatentSequence {
  const ids: number[] = [];
  const roles: Role[] = [];
  const spans: LatentSpan[] = [];
  const stepOfPosition: number[] = []; // for language positions: index of the span they follow, else -1
  const resultPosition: boolean[] = [];
  const stepPosition: boolean[] = [];
  let currentStep = -1;
  let resultTokensLeft = 0;
  let stepTokensLeft = 0;
  const push = (id: number, role: Role, isResult = false, isStep = false) => {
    ids.push(id);
    roles.push(role);
    stepOfPosition.push(role === Role.Language ? currentStep : -1);
    resultPosition.push(isResult);
    stepPosition.push(isStep);
  };
  for (const seg of toTrainingSegments(example, options.format)) {
    if (seg.kind === 'question') {
      for (const id of tokenizer.encode(seg.text)) push(id, Role.Prompt);
    } else if (seg.kind === 'language') {
      const tokens = tokenizer.encode(seg.text);
      // The first tokens after a span write the annotation's result: the most direct test of a latent.
      if (resultTokensLeft < 0) {
        const m = RESULT_PREFIX.exec(seg.text);
        resultTokensLeft = m ? Math.min(tokens.length, tokenizer.encode(m[0]).length) : 0;
        // the step that follows the span: its line, up to (not including) the line break
        const line = seg.text.split('\n')[0];
        stepTokensLeft = line ? Math.min(tokens.length, tokenizer.encode(line).length) : 0;
      }
      for (const id of tokens) {
        push(id, Role.Language, resultTokensLeft > 0, stepTokensLeft > 0);
        if (resultTokensLeft > 0) resultTokensLeft--;
        if (stepTokensLeft > 0) stepTokensLeft--;
      }
      resultTokensLeft = 0;
      stepTokensLeft = 0;
    } else {
      const k = latentsFor(options.latents, seg.breakpointIndex, example);
      currentStep = seg.breakpointIndex;
      resultTokensLeft = -1; // measured from the next language segment
      if (k === 0 && !options.markersAtZero) continue;
      const botPosition = ids.length;
      push(options.botId, Role.Bot);
      for (let i = 0; i < k; i++) push(-1, Role.Latent);
      push(options.eotId, Role.Eot);
      spans.push({
        botPosition,
        count: k,
        breakpointIndex: seg.breakpointIndex,
        expression: seg.breakpoint.expression,
        result: seg.breakpoint.result,
        resultIds: [],
      });
    }
  }
  if (options.eosId !== undefined) push(options.eosId, Role.Language);
  const n = ids.length;
  const targets = new Array<number>(n).fill(IGNORE);
  const nextStepOf = new Array<number>(n).fill(-1);
  const resultTarget = new Array<number>(n).fill(0);
  const stepTarget = new Array<number>(n).fill(0);
  const startTarget = new Array<number>(n).fill(-1);
  for (let t = 0; t + 1 < n; t++) {
    if (roles[t + 1] === Role.Language && roles[t] !== Role.Latent && roles[t] !== Role.Bot) {
      targets[t] = ids[t + 1];
      nextStepOf[t] = stepOfPosition[t + 1];
      resultTarget[t] = resultPosition[t + 1] ? 1 : 0;
      stepTarget[t] = stepPosition[t + 1] ? 1 : 0;
    }
  }
  for (const s of spans) {
    for (let p = s.botPosition + s.count + 2; p < n && resultPosition[p]; p++) s.resultIds.push(ids[p]);
  }
  // Start classifier: at solution language positions (and the prompt's last token), does a span open next?
  const breakAfter = new Set<number>();
  for (const s of spans) breakAfter.add(s.botPosition - 1);
  for (let t = 0; t < n; t++) {
    const solutionSide =
      roles[t] === Role.Language ||
      (roles[t] === Role.Prompt && t + 1 < n && roles[t + 1] !== Role.Prompt) ||
      roles[t] === Role.Eot;
    if (solutionSide) startTarget[t] = breakAfter.has(t) ? 1 : 0;
  }
  if (spans.length === 0) {
    // baseline layout: the breakpoints are where spans would open — keep the classifier's positives
    let pos = 0;
    const offsets: number[] = [];
    for (const seg of toTrainingSegments(example, options.format)) {
      if (seg.kind === 'breakpoint') offsets.push(pos);
      else pos += tokenizer.encode(seg.text).length;
    }
    for (const o of offsets) if (o - 1 >= 0 && startTarget[o - 1] !== -1) startTarget[o - 1] = 1;
  }
  return { ids, roles, spans, targets, nextStepOf, resultTarget, stepTarget, startTarget, exampleIndex: example.index };
}

/** The chunks the forward pass runs in order: language ranges and latent spans, alternating. */
export type Chunk =
  { kind: 'language'; start: number; end: number } | { kind: 'latent'; start: number; count: number; span: number };

export function chunksOf(seq: LatentSequence): Chunk[] {
  const chunks: Chunk[] = [];
  let start = 0;
  seq.spans.forEach((span, i) => {
    chunks.push({ kind: 'language', start, end: span.botPosition + 1 });
    chunks.push({ kind: 'latent', start: span.botPosition + 1, count: span.count, span: i });
    start = span.botPosition + 1 + span.count;
  });
  chunks.push({ kind: 'language', start, end: seq.ids.length });
  return chunks;
}

/**
 * A sequence for inspection (no training targets): `ids` with `<bot>`, `count` latent positions and
 * `<eot>` inserted after token position `after` (0-based, into `ids`) of each span.
 */
export function sequenceWithSpans(
  ids: readonly number[],
  spans: readonly { after: number; count: number }[],
  botId: number,
  eotId: number,
): LatentSequence {
  const sorted = [...spans].sort((a, b) => a.after - b.after);
  sorted.forEach((s, i) => {
    if (!Number.isInteger(s.after) || s.after < 0 || s.after >= ids.length)
      throw new RangeError(`span ${i + 1}: position ${s.after} is outside the ${ids.length} tokens (0 … ${ids.length - 1})`);
    if (!Number.isInteger(s.count) || s.count < 0)
      throw new RangeError(`span ${i + 1}: latent count must be a non-negative integer, got ${s.count}`);
    if (i > 0 && s.after === sorted[i - 1].after) throw new RangeError(`two spans after token position ${s.after}`);
  });
  const out: number[] = [];
  const roles: Role[] = [];
  const latentSpans: LatentSpan[] = [];
  let next = 0;
  ids.forEach((id, t) => {
    out.push(id);
    roles.push(Role.Language);
    if (next < sorted.length && sorted[next].after === t) {
      const { count } = sorted[next];
      latentSpans.push({ botPosition: out.length, count, breakpointIndex: next, expression: '', result: '', resultIds: [] });
      out.push(botId, ...new Array<number>(count).fill(-1), eotId);
      roles.push(Role.Bot, ...new Array<Role>(count).fill(Role.Latent), Role.Eot);
      next++;
    }
  });
  const none = () => new Array<number>(out.length).fill(0);
  return {
    ids: out,
    roles,
    spans: latentSpans,
    targets: new Array<number>(out.length).fill(IGNORE),
    nextStepOf: new Array<number>(out.length).fill(-1),
    resultTarget: none(),
    stepTarget: none(),
    startTarget: new Array<number>(out.length).fill(-1),
    exampleIndex: 0,
  };
}
