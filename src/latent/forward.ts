// The forward pass with latent spans, batched.
//
// A latent's input embedding is computed from the previous position's hidden state, so latent
// positions run one at a time with a KV cache, while each language chunk between spans runs in one
// pass. A batch advances chunk by chunk ("waves"): wave 0 is every example's first language chunk
// (ending with <bot>), wave 1 its first latent span, one position per pass, and so on. Examples
// whose breakpoints fall at different positions are aligned by explicit position ids and an
// attention mask over the shared cache: padding slots are never attended to, so each example's
// result (and gradient) equals its unbatched computation. Gradients flow back through all cached
// passes (nothing is detached).
//
// Two-trunk mode runs language waves on a frozen copy of the model and latent waves on a trainable
// copy. Under the shared-kv coupling both write to the same cache, so every position attends to the
// keys and values of all earlier positions, each computed by the copy that owns it; under reencode
// the frozen copy also runs every latent wave, from the latent embeddings, into its own cache
// (coupling.ts), so that language sees the trainable copy only through those embeddings.
//
// Cost. The layout of every pass follows from the sequences alone, so it is planned in JS first
// (planWaves) and turned into a few tensors before the first pass (one attention mask over all cache
// slots, positions, ids, row indices and targets; passes take views of them). The losses are computed
// once over the rows of all waves (one LM head, one cross-entropy, one BCE per classifier), and every
// number the result reports comes back in one readback at the end (a single device synchronisation).
import * as torch from '../torch';
import type { Tensor } from '../torch';
import { Role, chunksOf, type Chunk, type LatentSequence } from './sequence';
import type { LatentHeads } from './heads';
import type { TokenSpace } from './latent-input';
import { attentionMask } from '../models/attention-mask';
import type { KVCache } from '../models/qwen2/cache';
import { CoupledCaches, checkCoupling, type Coupling } from './coupling';

/** What the latent forward needs from a decoder-only model (see models/qwen2's adapter). */
export interface Trunk {
  /**
   * Runs the decoder layers on x [B, T, D] at positions [B, T] (int64) under a boolean mask
   * [B, 1, T, Tcache + T] (true = may attend), appending this chunk's keys/values to `cache`.
   * Returns the last layer's output before the final norm.
   */
  decode(x: Tensor, positions: Tensor, mask: Tensor, cache: KVCache): Tensor;
  /** final RMSNorm weight (the latent step normalises with it) and epsilon */
  readonly normWeight: Tensor;
  readonly eps: number;
  finalNorm(h: Tensor): Tensor;
}

export interface Backbone extends Trunk, TokenSpace {
  readonly numLayers: number;
  embed(ids: Tensor): Tensor;
  /** logits of post-norm hidden states */
  lmHead(h: Tensor): Tensor;
}

/** How latent inputs are fed: as computed, or replaced for ablations. */
export type LatentAblation =
  | { kind: 'none' }
  | { kind: 'zeros' }
  | { kind: 'vector'; vector: Tensor } // the mean latent, or a learned constant (pause tokens)
  | { kind: 'shuffled' }; // each example gets the latent another example of the batch computed

export interface LatentForwardOptions {
  backbone: Backbone;
  /** the trunk that processes latent positions: the backbone itself (full fine-tuning) or a trainable copy */
  latentTrunk: Trunk;
  heads: LatentHeads;
  botId: number;
  eotId: number;
  ablation?: LatentAblation;
  /** two-trunk: how the frozen copy sees latent positions (default shared-kv) */
  coupling?: Coupling;
  /** weight of the positives in the start classifier's loss (class imbalance); default: negatives/positives of the batch */
  startPosWeight?: number;
  /** train the start classifier into the backbone (default false: a probe on detached hidden states) */
  startHeadGrad?: boolean;
  /** keep per-latent tensors for diagnostics (decoding, norms) */
  collectLatents?: boolean;
  /** return every position's post-norm hidden state (`hidden`), for inspection */
  collectHidden?: boolean;
  /** per-example loss sums (for bootstrap confidence intervals) */
  perExample?: boolean;
  /** keep the start classifier's (logit, target) pairs, to calibrate its threshold */
  collectStartScores?: boolean;
  /** keep the start classifier's input features (detached, float64): the post-training fit's data */
  collectStartFeatures?: boolean;
  /** keep the end classifier's decisions (logit, 0/1 target, span), to score the stop decision against the schedule */
  collectStopScores?: boolean;
}

/** One end-classifier decision: at latent index `step` of span `span` of batch row `example`. */
export interface StopScore {
  example: number;
  span: number;
  step: number;
  logit: number;
  target: number;
}

export interface LatentRecord {
  example: number; // batch row
  span: number;
  step: number; // 0-based latent index within the span
  embed: Tensor; // [D] input embedding fed at this latent position (kept; caller disposes)
  hidden: Tensor; // [D] post-norm hidden state at the latent position
  stopProb: number;
}

export interface SumCount {
  sum: number;
  count: number;
}

/** One example's cross-entropy sums and counts: all targets, those after the first span, results, steps after spans. */
export interface ExampleLosses {
  lm: SumCount;
  next: SumCount;
  result: SumCount;
  step: SumCount;
}

export interface LatentForwardResult {
  /** mean cross-entropy over trained language targets */
  loss: Tensor;
  /** sums and counts, for exact aggregation across batches */
  lmSum: number;
  lmCount: number;
  nextStepSum: number;
  nextStepCount: number;
  resultSum: number;
  resultCount: number;
  /** the step after each span (its line) */
  stepSum: number;
  stepCount: number;
  /** start classifier (BCE) and end classifier (BCE) losses, means over their targets */
  startLoss: Tensor;
  stopLoss: Tensor;
  startCount: number;
  stopCount: number;
  /** start classifier decisions at threshold 0.5: true/false positives and negatives */
  startConfusion: { tp: number; fp: number; fn: number; tn: number };
  latents: LatentRecord[];
  /** per example: the same sums and counts, in batch order */
  perExample: ExampleLosses[];
  /** with collectStartScores: [logit, target] of every start decision */
  startScores: [number, number][];
  /** with collectStartFeatures: [rows, D] float64 start-classifier inputs and their 0/1 targets (caller disposes) */
  startFeatures: { features: Tensor; targets: number[] } | null;
  /** with collectStopScores: every end-classifier decision, in plan order */
  stopScores: StopScore[];
  /** mean L2 norm of the latent input embeddings, and of the token embeddings of the batch */
  latentNorm: number;
  tokenNorm: number;
  /**
   * with collectHidden: per example, [length, D], the final-norm hidden state at every position, from
   * the trunk that computed it (the latent trunk at latent positions); else empty
   */
  hidden: Tensor[];
}

const IGNORE = -100;

type LanguageChunk = Extract<Chunk, { kind: 'language' }>;
type LatentChunk = Extract<Chunk, { kind: 'latent' }>;

/** A slice of one of the plan's row lists. */
interface Range {
  offset: number;
  count: number;
}

/** One pass through a trunk: `length` query slots starting at cache slot `slot`. */
interface Pass {
  slot: number;
  length: number;
  /** index among all passes (its row in the layout's per-pass tensors) */
  index: number;
  /** per example: does the pass hold a real position (whose last hidden state feeds the next latent)? */
  valid: boolean[];
  allValid: boolean;
}

/** A language chunk of every example in one pass; its LM and start-classifier rows are ranges of the plan's lists. */
interface LanguageWave {
  kind: 'language';
  pass: Pass;
  lm: Range;
  start: Range;
  /** offset of this wave's B rows in the plan's lastRows */
  lastRows: number;
}

/** The j-th latent step of a latent wave: a latent step and its stop decision, then a pass unless the wave is done. */
interface LatentStepPlan {
  kind: 'latent';
  spans: (LatentChunk | undefined)[];
  j: number;
  pass: Pass | null;
}

/**
 * Everything about a batch's passes that follows from the sequences alone, computed in JS before any
 * tensor work: the forward then creates a handful of tensors (positions, validity, ids, row indices,
 * targets) once and takes views of them per pass, instead of building small tensors per pass.
 *
 * Slots: every pass appends its query positions to the shared cache, so cache slot s of example b is
 * the s-th query slot of all passes; `positions`/`valid`/`ids` are [B, slots] row-major.
 */
interface Plan {
  batch: number;
  slots: number;
  steps: (LanguageWave | LatentStepPlan)[];
  passes: Pass[];
  ids: number[];
  positions: number[];
  valid: Uint8Array;
  /** LM targets: row in its wave's flattened [B * length] hidden states, target id, and what it counts towards */
  lm: { rows: number[]; targets: number[]; example: number[]; nextStep: boolean[]; result: boolean[]; step: boolean[] };
  /** start classifier: rows as for lm, 0/1 targets, and the positive weight of the row's wave */
  start: { rows: number[]; targets: number[]; posWeight: number[] };
  /** end classifier: row in the concatenation of every latent step's [B] stop logits, and 0/1 target */
  stop: { rows: number[]; targets: number[]; example: number[]; span: number[]; step: number[] };
  /** per language wave, B rows: each example's last real row in the flattened wave output (0 when none) */
  lastRows: number[];
}

/** The plan under construction, with the per-example slot columns that planWaves flattens at the end. */
interface PlanDraft extends Omit<Plan, 'ids' | 'positions' | 'valid'> {
  /** per example, one entry per cache slot (valid as 0/1) */
  columns: { ids: number[]; positions: number[]; valid: number[] }[];
  /** latent steps planned so far (the stop classifier's rows count them) */
  latentSteps: number;
}

// planWaves runs once per training step: it is split into a small function per kind of wave so that
// V8 optimises each quickly and once (as one function it was recompiled several times, 50-170 ms
// of compiler time each, as the type feedback of its branches settled).
function planWaves(seqs: LatentSequence[], chunks: Chunk[][], startPosWeight: number | undefined): Plan {
  const B = seqs.length;
  const plan: PlanDraft = {
    batch: B,
    slots: 0,
    steps: [],
    passes: [],
    lm: { rows: [], targets: [], example: [], nextStep: [], result: [], step: [] },
    start: { rows: [], targets: [], posWeight: [] },
    stop: { rows: [], targets: [], example: [], span: [], step: [] },
    lastRows: [],
    columns: seqs.map(() => ({ ids: [], positions: [], valid: [] })),
    latentSteps: 0,
  };
  const waves = Math.max(...chunks.map((c) => c.length));
  for (let w = 0; w < waves; w++) {
    if (w % 2 === 0) planLanguageWave(plan, seqs, chunksOfKind(chunks, w, 'language'), startPosWeight);
    else planLatentWave(plan, chunksOfKind(chunks, w, 'latent'));
  }
  const { columns, latentSteps: _, ...rest } = plan;
  return {
    ...rest,
    ids: columns.flatMap((c) => c.ids),
    positions: columns.flatMap((c) => c.positions),
    valid: Uint8Array.from(columns.flatMap((c) => c.valid)),
  };
}

/** Each example's w-th chunk if it is of `kind`, else undefined. */
function chunksOfKind<K extends Chunk['kind']>(
  chunks: Chunk[][],
  w: number,
  kind: K,
): (Extract<Chunk, { kind: K }> | undefined)[] {
  return chunks.map((c) => (c[w]?.kind === kind ? (c[w] as Extract<Chunk, { kind: K }>) : undefined));
}

function addPass(plan: PlanDraft, length: number, rowValid: boolean[]): Pass {
  const pass = { slot: plan.slots, length, index: plan.passes.length, valid: rowValid, allValid: rowValid.every(Boolean) };
  plan.passes.push(pass);
  plan.slots += length;
  return pass;
}

/** Every example's language chunk of one wave (undefined: the example has none) in one pass. */
function planLanguageWave(
  plan: PlanDraft,
  seqs: LatentSequence[],
  wave: (LanguageChunk | undefined)[],
  startPosWeight: number | undefined,
): void {
  const lens = wave.map((c) => (c ? c.end - c.start : 0));
  const T = Math.max(...lens);
  if (T === 0) return;
  const lm = { offset: plan.lm.rows.length, count: 0 };
  const start = { offset: plan.start.rows.length, count: 0 };
  for (let b = 0; b < wave.length; b++) {
    const c = wave[b];
    const s = seqs[b];
    const col = plan.columns[b];
    const first = c ? c.start : 0;
    const end = c ? c.end : 0;
    for (let t = 0; t < T; t++) {
      const p = first + t;
      const real = p < end;
      col.ids.push(real ? s.ids[p] : 0);
      col.positions.push(real ? p : 0);
      col.valid.push(real ? 1 : 0);
      if (!real) continue;
      if (s.targets[p] !== IGNORE) {
        plan.lm.rows.push(b * T + t);
        plan.lm.targets.push(s.targets[p]);
        plan.lm.example.push(b);
        plan.lm.nextStep.push(s.nextStepOf[p] >= 0);
        plan.lm.result.push(!!s.resultTarget[p]);
        plan.lm.step.push(!!s.stepTarget[p]);
        lm.count++;
      }
      if (s.startTarget[p] !== -1) {
        plan.start.rows.push(b * T + t);
        plan.start.targets.push(s.startTarget[p]);
        start.count++;
      }
    }
  }
  // Default positive weight: negatives/positives of the wave's start decisions (class imbalance).
  let positives = 0;
  for (let i = start.offset; i < plan.start.targets.length; i++) if (plan.start.targets[i] === 1) positives++;
  const posWeight = startPosWeight ?? (positives > 0 ? (start.count - positives) / positives : 1);
  for (let i = 0; i < start.count; i++) plan.start.posWeight.push(posWeight);
  const lastRows = plan.lastRows.length;
  lens.forEach((l, b) => plan.lastRows.push(b * T + Math.max(l - 1, 0)));
  const pass = addPass(
    plan,
    T,
    lens.map((l) => l > 0),
  );
  plan.steps.push({ kind: 'language', pass, lm, start, lastRows });
}

/** Every example's latent span of one wave (undefined: none): one latent step per position, one pass per latent. */
function planLatentWave(plan: PlanDraft, spans: (LatentChunk | undefined)[]): void {
  const K = Math.max(...spans.map((c) => (c ? c.count : -1)));
  // a latent span needs the hidden state of a language pass before it
  if (K < 0 || plan.passes.length === 0) return;
  const B = spans.length;
  for (let j = 0; j <= K; j++) {
    // End classifier: continue (0) before the k-th latent, stop (1) at it.
    for (let b = 0; b < B; b++) {
      const c = spans[b];
      if (!c || j > c.count) continue;
      plan.stop.rows.push(plan.latentSteps * B + b);
      plan.stop.targets.push(j === c.count ? 1 : 0);
      plan.stop.example.push(b);
      plan.stop.span.push(c.span);
      plan.stop.step.push(j);
    }
    plan.latentSteps++;
    if (j === K) {
      plan.steps.push({ kind: 'latent', spans, j, pass: null });
      return;
    }
    const rowValid = spans.map((c) => !!c && j < c.count);
    for (let b = 0; b < B; b++) {
      const col = plan.columns[b];
      col.ids.push(0);
      col.positions.push(rowValid[b] ? spans[b]!.start + j : 0);
      col.valid.push(rowValid[b] ? 1 : 0);
    }
    plan.steps.push({ kind: 'latent', spans, j, pass: addPass(plan, 1, rowValid) });
  }
}

function onDevice(t: Tensor, device: string): Tensor {
  return device === 'cpu' ? t : t.to(device);
}

function int64Tensor(values: readonly number[], shape: number[], device: string): Tensor {
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]); // a loop: BigInt64Array.from with a mapper is ~10x slower
  return onDevice(torch.fromBytes(data, 'int64', shape), device);
}

function floatTensor(values: readonly number[], dtype: torch.DType, device: string): Tensor {
  return onDevice(torch.tensor(Float64Array.from(values), { dtype }), device);
}

function boolTensor(values: Uint8Array, shape: number[], device: string): Tensor {
  return onDevice(torch.fromBytes(values, 'bool', shape), device);
}

/** Runs the latent forward on a batch of sequences. Call inside torch.scope; results escape as returned. */
export function latentForward(seqs: LatentSequence[], o: LatentForwardOptions): LatentForwardResult {
  const plan = planWaves(seqs, seqs.map(chunksOf), o.startPosWeight);
  // Their tensors stay referenced by the autograd graph after dispose().
  const caches = new CoupledCaches(o.backbone.numLayers, checkCoupling(o.coupling ?? 'shared-kv', o.latentTrunk !== o.backbone));
  try {
    return runWaves(seqs, plan, o, caches);
  } finally {
    caches.dispose();
  }
}

function catRows(parts: Tensor[]): Tensor {
  return parts.length === 1 ? parts[0] : torch.cat(parts, 0);
}

/**
 * The plan's layout, index and target lists as tensors on the model's device, created once before the
 * first pass (so that on a GPU their host-to-device copies wait for no queued work). Passes take views.
 */
function layoutTensors(plan: Plan, device: string, lossDtype: torch.DType, ablation: LatentAblation) {
  const B = plan.batch;
  const S = plan.slots;
  const P = plan.passes.length;
  const positions = int64Tensor(plan.positions, [B, S], device);
  const list = (values: number[]) => int64Tensor(values, [values.length], device);
  const floats = (values: number[]) => floatTensor(values, lossDtype, device);
  return {
    positions,
    // Over every slot of the batch, [B, 1, S, S]: a pass over slots [s, s + T) uses the view
    // [.., s : s + T, 0 : s + T], which covers the cache before the pass and the pass itself.
    mask: attentionMask(positions, boolTensor(plan.valid, [B, S], device)),
    ids: int64Tensor(plan.ids, [B, S], device),
    lmRows: list(plan.lm.rows),
    lmTargets: list(plan.lm.targets),
    startRows: list(plan.start.rows),
    startTargets: floats(plan.start.targets),
    startPosWeight: floats(plan.start.posWeight),
    stopRows: list(plan.stop.rows),
    stopTargets: floats(plan.stop.targets),
    lastRows: list(plan.lastRows),
    /** [P, B, 1]: which examples a pass advances */
    passValid: boolTensor(
      Uint8Array.from(
        plan.passes.flatMap((p) => p.valid),
        (v) => (v ? 1 : 0),
      ),
      [P, B, 1],
      device,
    ),
    /** [P, B]: the rows each pass's latents are taken from, for the shuffled ablation */
    shuffled:
      ablation.kind === 'shuffled'
        ? int64Tensor(
            plan.passes.flatMap((p) => shuffledOrder(p.valid)),
            [P, B],
            device,
          )
        : null,
  };
}

function runWaves(seqs: LatentSequence[], plan: Plan, o: LatentForwardOptions, caches: CoupledCaches): LatentForwardResult {
  const device = o.backbone.normWeight.device;
  const ablation = o.ablation ?? { kind: 'none' };
  const layout = layoutTensors(plan, device, atLeastFloat32Dtype(o.backbone.normWeight.dtype), ablation);
  const passes = runPasses(seqs, plan, o, caches, layout, ablation);
  const losses = computeLosses(plan, o, layout, passes);
  return readback(seqs, plan, o, passes, losses);
}

type Layout = ReturnType<typeof layoutTensors>;

/** What the passes leave for the losses and the readback. */
interface PassOutputs {
  /** post-norm hidden states at LM targets, per language wave (rows in plan.lm order) */
  lmHidden: Tensor[];
  /** start-classifier inputs, per language wave (detached unless startHeadGrad) */
  startHidden: Tensor[];
  /** [B] stop logits of every latent step, in plan order (rows of plan.stop index their concatenation) */
  stopLogits: Tensor[];
  /** mean token-embedding norm of each language wave (scalar) */
  tokenNorms: Tensor[];
  /** [B] norms of the latent inputs of each latent pass, and which rows were real */
  latentNorms: { norms: Tensor; valid: boolean[] }[];
  /** with collectLatents: the records, and each one's row among the concatenated stop logits */
  latents: { record: LatentRecord; stopRow: number }[];
  hidden: HiddenRows | null;
}

/** Runs every pass of the plan: language waves on the backbone, latent steps on the latent trunk. */
function runPasses(
  seqs: LatentSequence[],
  plan: Plan,
  o: LatentForwardOptions,
  caches: CoupledCaches,
  layout: Layout,
  ablation: LatentAblation,
): PassOutputs {
  const { backbone, latentTrunk, heads } = o;
  const B = plan.batch;
  const device = backbone.normWeight.device;
  const { positions, mask, ids } = layout;

  // Each trunk computes in its own dtype (two-trunk mode may keep the frozen copy in bfloat16).
  const runPass = (trunk: Trunk, x: Tensor, pass: Pass, cache: KVCache): Tensor => {
    const dtype = trunk.normWeight.dtype;
    return trunk.decode(
      x.dtype === dtype ? x : x.to(dtype),
      positions.narrow(1, pass.slot, pass.length),
      mask.narrow(2, pass.slot, pass.length).narrow(3, 0, pass.slot + pass.length),
      cache,
    );
  };

  // Pre-norm hidden state of each example's last real position so far: the input of the next latent step.
  let lastPre: Tensor | null = null;
  const latentDtype = latentTrunk.normWeight.dtype;
  const setLast = (hidden: Tensor, pass: Pass): void => {
    const rows = hidden.dtype === latentDtype ? hidden : hidden.to(latentDtype);
    lastPre = lastPre === null || pass.allValid ? rows : torch.where(layout.passValid.select(0, pass.index), rows, lastPre);
  };

  const out: PassOutputs = {
    lmHidden: [],
    startHidden: [],
    stopLogits: [],
    tokenNorms: [],
    latentNorms: [],
    latents: [],
    hidden: o.collectHidden ? new HiddenRows(plan) : null,
  };
  const { hidden } = out;
  let fedVector: Tensor | null = null;

  for (const step of plan.steps) {
    if (step.kind === 'language') {
      const { pass } = step;
      const waveIds = ids.narrow(1, pass.slot, pass.length);
      const embeds = heads.applyMarkers(backbone.embed(waveIds), waveIds, o.botId, o.eotId);
      out.tokenNorms.push(embeds.detach().pow(2).sum(-1).sqrt().mean());
      const pre = runPass(backbone, embeds, pass, caches.language);
      const D = pre.size(2);
      const flatHidden = backbone.finalNorm(pre).reshape([B * pass.length, D]);
      if (hidden) hidden.add(flatHidden, pass);
      if (step.lm.count) out.lmHidden.push(flatHidden.indexSelect(0, layout.lmRows.narrow(0, step.lm.offset, step.lm.count)));
      if (step.start.count) {
        const h = flatHidden.indexSelect(0, layout.startRows.narrow(0, step.start.offset, step.start.count));
        out.startHidden.push(o.startHeadGrad ? h : h.detach());
      }
      setLast(pre.reshape([B * pass.length, D]).indexSelect(0, layout.lastRows.narrow(0, step.lastRows, B)), pass);
    } else {
      const spans = step.spans.map((c, b) => (c ? seqs[b].spans[c.span] : undefined));
      const { embed, stopLogit } = heads.step({
        pre: lastPre!,
        normWeight: latentTrunk.normWeight,
        eps: latentTrunk.eps,
        index: step.j,
        tokens: backbone,
        spans,
      });
      const stopRow = out.stopLogits.length * B;
      out.stopLogits.push(stopLogit);
      const { pass } = step;
      if (pass === null) continue;
      let x = embed;
      if (ablation.kind === 'zeros') x = torch.zerosLike(embed);
      else if (ablation.kind === 'vector')
        x = fedVector ??= ablation.vector
          .to(embed.dtype)
          .to(device)
          .unsqueeze(0)
          .expand([B, embed.size(1)]);
      else if (ablation.kind === 'shuffled') x = x.indexSelect(0, layout.shuffled!.select(0, pass.index));
      out.latentNorms.push({ norms: x.detach().pow(2).sum(-1).sqrt(), valid: pass.valid });
      const pre = runPass(latentTrunk, x.unsqueeze(1), pass, caches.latent);
      // reencode: the frozen copy's own keys and values at the latent position (its output is not needed)
      if (caches.reencode) runPass(backbone, x.unsqueeze(1), pass, caches.reencode);
      if (hidden) hidden.add(latentTrunk.finalNorm(pre).squeeze(1), pass);
      if (o.collectLatents) {
        const hid = latentTrunk.finalNorm(pre).squeeze(1);
        pass.valid.forEach((v, b) => {
          if (!v) return;
          const record = {
            example: b,
            span: step.spans[b]!.span,
            step: step.j,
            embed: torch.keep(x.select(0, b).detach()),
            hidden: torch.keep(hid.select(0, b).detach()),
            stopProb: NaN, // filled from the readback
          };
          out.latents.push({ record, stopRow: stopRow + b });
        });
      }
      setLast(pre.select(1, 0), pass);
    }
  }
  return out;
}

/** The loss sums and the logits the readback reports. */
interface Losses {
  /** per-target cross-entropy (plan.lm order), or null without LM targets */
  ce: Tensor | null;
  lmLoss: Tensor;
  startLogits: Tensor | null;
  startLoss: Tensor;
  /** every latent step's stop logits, concatenated */
  stopAll: Tensor | null;
  /** the stop logits at the plan's end-classifier targets (plan.stop order) */
  stopAtRows: Tensor | null;
  stopLoss: Tensor;
}

/** Losses over every wave at once: one LM head, one cross-entropy, one BCE per classifier (sums). */
function computeLosses(plan: Plan, o: LatentForwardOptions, layout: Layout, passes: PassOutputs): Losses {
  const zero = () => torch.zeros([], { dtype: 'float32', device: o.backbone.normWeight.device });
  const losses: Losses = {
    ce: null,
    lmLoss: zero(),
    startLogits: null,
    startLoss: zero(),
    stopAll: null,
    stopAtRows: null,
    stopLoss: zero(),
  };
  if (passes.lmHidden.length) {
    const logits = atLeastFloat32(o.backbone.lmHead(catRows(passes.lmHidden)));
    losses.ce = torch.F.crossEntropy(logits, layout.lmTargets, { reduction: 'none' });
    losses.lmLoss = losses.ce.sum();
  }
  if (passes.startHidden.length) {
    const startLogits = atLeastFloat32(o.heads.startLogits(catRows(passes.startHidden)));
    // per-row positive weights: each wave's rows carry their wave's weight
    const like = (t: Tensor) => t.to(startLogits.dtype);
    losses.startLogits = startLogits;
    losses.startLoss = torch.F.binaryCrossEntropyWithLogits(startLogits, like(layout.startTargets), {
      posWeight: like(layout.startPosWeight),
      reduction: 'sum',
    });
  }
  if (passes.stopLogits.length) {
    losses.stopAll = catRows(passes.stopLogits);
    if (plan.stop.rows.length) {
      const logits = atLeastFloat32(losses.stopAll.indexSelect(0, layout.stopRows));
      losses.stopAtRows = logits;
      losses.stopLoss = torch.F.binaryCrossEntropyWithLogits(logits, layout.stopTargets.to(logits.dtype), { reduction: 'sum' });
    }
  }
  return losses;
}

/** Brings every number the result reports back in one readback (a device synchronisation on GPUs) and sums it up. */
function readback(
  seqs: LatentSequence[],
  plan: Plan,
  o: LatentForwardOptions,
  passes: PassOutputs,
  losses: Losses,
): LatentForwardResult {
  const B = plan.batch;
  const parts: Tensor[] = [];
  const part = (t: Tensor | null): number => {
    const offset = parts.reduce((n, p) => n + p.numel(), 0);
    if (t !== null) parts.push(t.detach().reshape([-1]).to('float64'));
    return offset;
  };
  const { latentNorms, tokenNorms, startHidden } = passes;
  const ceAt = part(losses.ce);
  const startAt = part(losses.startLogits);
  const latentNormsAt = part(latentNorms.length ? catRows(latentNorms.map((l) => l.norms)) : null);
  const tokenNormsAt = part(tokenNorms.length ? torch.stack(tokenNorms) : null);
  const stopProbsAt = part(o.collectLatents && losses.stopAll !== null ? losses.stopAll.float().sigmoid() : null);
  const stopScoresAt = part(o.collectStopScores ? losses.stopAtRows : null);
  const values = parts.length ? (catRows(parts).toTypedArray() as Float64Array) : new Float64Array(0);

  const sumCount = (): SumCount => ({ sum: 0, count: 0 });
  const totals = { lm: sumCount(), next: sumCount(), result: sumCount(), step: sumCount() };
  const perExample: ExampleLosses[] = Array.from({ length: B }, () => ({
    lm: sumCount(),
    next: sumCount(),
    result: sumCount(),
    step: sumCount(),
  }));
  const add = (key: keyof ExampleLosses, example: number, v: number) => {
    totals[key].sum += v;
    totals[key].count++;
    perExample[example][key].sum += v;
    perExample[example][key].count++;
  };
  plan.lm.targets.forEach((_, i) => {
    const v = values[ceAt + i];
    const ex = plan.lm.example[i];
    add('lm', ex, v);
    if (plan.lm.nextStep[i]) add('next', ex, v);
    if (plan.lm.result[i]) add('result', ex, v);
    if (plan.lm.step[i]) add('step', ex, v);
  });

  const startScores: [number, number][] = [];
  const startConfusion = { tp: 0, fp: 0, fn: 0, tn: 0 };
  plan.start.targets.forEach((target, i) => {
    const logit = values[startAt + i];
    if (o.collectStartScores) startScores.push([logit, target]);
    const decided = logit > 0;
    const positive = target === 1;
    if (decided && positive) startConfusion.tp++;
    else if (decided) startConfusion.fp++;
    else if (positive) startConfusion.fn++;
    else startConfusion.tn++;
  });

  let latentNormSum = 0;
  let latentNormCount = 0;
  latentNorms.forEach(({ valid }, p) =>
    valid.forEach((v, b) => {
      if (!v) return;
      latentNormSum += values[latentNormsAt + p * B + b];
      latentNormCount++;
    }),
  );
  let tokenNormSum = 0;
  for (let i = 0; i < tokenNorms.length; i++) tokenNormSum += values[tokenNormsAt + i];

  return {
    loss: losses.lmLoss.div(Math.max(1, plan.lm.rows.length)),
    lmSum: totals.lm.sum,
    lmCount: totals.lm.count,
    nextStepSum: totals.next.sum,
    nextStepCount: totals.next.count,
    resultSum: totals.result.sum,
    resultCount: totals.result.count,
    stepSum: totals.step.sum,
    stepCount: totals.step.count,
    startLoss: losses.startLoss.div(Math.max(1, plan.start.rows.length)),
    stopLoss: losses.stopLoss.div(Math.max(1, plan.stop.rows.length)),
    startCount: plan.start.rows.length,
    stopCount: plan.stop.rows.length,
    startConfusion,
    latents: passes.latents.map(({ record, stopRow }) => ({ ...record, stopProb: values[stopProbsAt + stopRow] })),
    perExample,
    startScores,
    startFeatures:
      o.collectStartFeatures && startHidden.length
        ? { features: torch.keep(catRows(startHidden).detach().to('float64')), targets: [...plan.start.targets] }
        : null,
    stopScores:
      o.collectStopScores && losses.stopAtRows
        ? plan.stop.targets.map((target, i) => ({
            example: plan.stop.example[i],
            span: plan.stop.span[i],
            step: plan.stop.step[i],
            logit: values[stopScoresAt + i],
            target,
          }))
        : [],
    latentNorm: latentNormCount ? latentNormSum / latentNormCount : 0,
    tokenNorm: tokenNorms.length ? tokenNormSum / tokenNorms.length : 0,
    hidden: passes.hidden ? passes.hidden.perExample(seqs.map((s) => s.ids.length)) : [],
  };
}

/** Post-norm hidden states of passes, gathered into each example's positions in sequence order. */
class HiddenRows {
  private readonly parts: Tensor[] = [];
  private rows = 0;
  /** per example: position → row in the concatenation of the parts */
  private readonly at: Map<number, number>[];
  constructor(private readonly plan: Plan) {
    this.at = Array.from({ length: plan.batch }, () => new Map());
  }
  /** A pass's hidden states, [B * pass.length, D] (example-major), at its real slots. */
  add(h: Tensor, pass: Pass): void {
    const { batch: B, slots: S } = this.plan;
    for (let b = 0; b < B; b++)
      for (let t = 0; t < pass.length; t++) {
        const slot = b * S + pass.slot + t;
        if (this.plan.valid[slot]) this.at[b].set(this.plan.positions[slot], this.rows + b * pass.length + t);
      }
    this.parts.push(h);
    this.rows += B * pass.length;
  }
  perExample(lengths: number[]): Tensor[] {
    if (!this.parts.length) return [];
    const all = catRows(this.parts);
    return lengths.map((L, b) => {
      const rows = Array.from({ length: L }, (_, p) => {
        const r = this.at[b].get(p);
        if (r === undefined) throw new Error(`latentForward: no hidden state for position ${p} of example ${b}`);
        return r;
      });
      return all.indexSelect(0, int64Tensor(rows, [L], all.device));
    });
  }
}

/** Losses are computed in float32 at least (bf16/f16 logits are upcast), float64 stays float64. */
function atLeastFloat32(t: Tensor): Tensor {
  return t.dtype === 'float64' || t.dtype === 'float32' ? t : t.float();
}

/** Losses are computed in float32 at least (bf16/f16 logits are upcast), float64 stays float64. */
function atLeastFloat32Dtype(dtype: torch.DType): torch.DType {
  return dtype === 'float64' ? 'float64' : 'float32';
}

/** For the shuffled ablation: each valid row takes the row of the next valid example (cyclically); a single valid row keeps its own. */
function shuffledOrder(valid: boolean[]): number[] {
  const rows = valid.map((v, b) => (v ? b : -1)).filter((b) => b >= 0);
  const order = valid.map((_, b) => b);
  rows.forEach((b, i) => (order[b] = rows[(i + 1) % rows.length]));
  return order;
}

export { Role };
