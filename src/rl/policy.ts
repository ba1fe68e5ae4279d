// The policy of phase 2 and its rollouts.
//
// A rollout is generated text with latent spans, decoded by the latent decoding loop
// (latent/decode.ts) with the sampling policy. Its actions are:
//  - language tokens, sampled from softmax(logits / temperature) (top-p truncates the draw only; the
//    log-probability is taken under the untruncated tempered distribution, as public GRPO code does);
//    `<bot>` and `<eot>` are never language tokens: spans open only through the start classifier;
//  - at each language position (the prompt's end and every fed token, not right after a span), a
//    Bernoulli "open a span" with the start classifier's probability;
//  - inside a span, before each latent, a Bernoulli "stop" with the end classifier's probability
//    (a hard cap `maxLatents` forces the stop; a forced stop is not an action);
//  - with the gated latent input form, at each latent's position the token whose embedding the latent
//    mixes in (HRPO), drawn as a language token is ('latent-token').
// Latent embeddings are the latent step of the previous position's hidden state; each rollout keeps
// them, so that the update can re-score the rollout in one teacher-forced pass.
import type { Tensor } from '../torch';
import { decodeLatent, decodeModules, type DecodeAction, type DecodeModules, type FinishReason } from '../latent/decode';
import type { LatentModel } from '../latent/model';

export {
  LATENT_ID,
  atLeastFloat32,
  tokenLogProbs,
  startLogitsAt,
  latentStepAt,
  logSigmoid,
  bernoulliLogProb,
  type ActionKind,
  type FinishReason,
} from '../latent/decode';

/** The modules a policy (or the frozen reference) computes with. */
export type PolicyModules = DecodeModules;

/** The offset that turns a calibrated start threshold into probability 1/2. */
export function startOffsetFor(threshold: number): number {
  if (!(threshold > 0 && threshold < 1)) throw new RangeError(`start threshold must lie in (0, 1), got ${threshold}`);
  return -Math.log(threshold / (1 - threshold));
}

export function policyModules(lm: LatentModel, startLogitOffset: number): PolicyModules {
  return decodeModules(lm, startLogitOffset);
}

export type RolloutAction = DecodeAction;

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
  /** gated form, sampled: per latent, the token its embedding mixed in (teacher forcing feeds the same) */
  latentTokens?: number[];
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

/**
 * Samples one rollout per prompt (token ids), batched (temperature 0: greedy). Returns rollouts in
 * prompt order; their latents are kept tensors (disposeRollouts). Runs under noGrad.
 */
export function sampleRollouts(m: PolicyModules, prompts: readonly (readonly number[])[], o: RolloutOptions): Rollout[] {
  if (!(o.temperature >= 0) || !Number.isFinite(o.temperature))
    throw new RangeError(`temperature must be >= 0, got ${o.temperature}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${o.topP}`);
  const rows = decodeLatent(m, prompts, {
    policy: o.temperature === 0 ? { kind: 'greedy' } : { kind: 'sample', temperature: o.temperature, topP: o.topP },
    maxNewTokens: o.maxNewTokens,
    maxLatents: o.maxLatents,
    maxSpans: o.maxSpans,
    useLatents: o.useLatents,
    eosIds: o.eosIds,
    isDone: o.isDone ? (row, tokens) => o.isDone!(row, tokens) : undefined,
    keepLatents: o.keepLatents ?? true,
  });
  return rows.map((r) => ({
    prompt: r.prompt,
    ids: r.ids,
    actions: r.actions,
    tokens: r.tokens,
    spans: r.spans.map((s) => ({ at: s.at, latents: s.latents })),
    latents: r.latents,
    finish: r.finish,
    logProb: r.logProb,
    ...(r.latentTokens.length ? { latentTokens: r.latentTokens } : {}),
  }));
}
