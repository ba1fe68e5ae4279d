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
// copy; both write to the same cache, so every position attends to the keys and values of all
// earlier positions, each computed by the copy that owns it.
import * as torch from '../torch';
import type { Tensor } from '../torch';
import { Role, chunksOf, type Chunk, type LatentSequence } from './sequence';
import type { LatentHeads } from './heads';

import { KVCache } from '../models/qwen2/cache';

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

export interface Backbone extends Trunk {
  readonly numLayers: number;
  embed(ids: Tensor): Tensor;
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
  /** weight of the positives in the start classifier's loss (class imbalance); default: negatives/positives of the batch */
  startPosWeight?: number;
  /** train the start classifier into the backbone (default false: a probe on detached hidden states) */
  startHeadGrad?: boolean;
  /** keep per-latent tensors for diagnostics (decoding, norms) */
  collectLatents?: boolean;
  /** per-example loss sums (for bootstrap confidence intervals) */
  perExample?: boolean;
  /** keep the start classifier's (logit, target) pairs, to calibrate its threshold */
  collectStartScores?: boolean;
}

export interface LatentRecord {
  example: number; // batch row
  span: number;
  step: number; // 0-based latent index within the span
  embed: Tensor; // [D] input embedding fed at this latent position (kept; caller disposes)
  hidden: Tensor; // [D] post-norm hidden state at the latent position
  stopProb: number;
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
  /** start classifier (BCE) and end classifier (BCE) losses, means over their targets */
  startLoss: Tensor;
  stopLoss: Tensor;
  startCount: number;
  stopCount: number;
  /** start classifier decisions at threshold 0.5: true/false positives and negatives */
  startConfusion: { tp: number; fp: number; fn: number; tn: number };
  latents: LatentRecord[];
  /** per example: [lmSum, lmCount, nextStepSum, nextStepCount, resultSum, resultCount] */
  perExample: number[][];
  /** with collectStartScores: [logit, target] of every start decision */
  startScores: [number, number][];
  /** mean L2 norm of the latent input embeddings, and of the token embeddings of the batch */
  latentNorm: number;
  tokenNorm: number;
}

const IGNORE = -100;

/** Boolean attention mask [B, 1, Tq, Tkv + Tq]: causal by position, padding excluded, own slot always allowed. */
function buildMask(kvPos: number[][], kvValid: boolean[][], qPos: number[][], qValid: boolean[][]): Tensor {
  const B = qPos.length;
  const Tq = qPos[0].length;
  const Tkv = kvPos[0]?.length ?? 0;
  const T = Tkv + Tq;
  const m = new Uint8Array(B * Tq * T);
  for (let b = 0; b < B; b++) {
    for (let q = 0; q < Tq; q++) {
      const row = (b * Tq + q) * T;
      const p = qPos[b][q];
      if (qValid[b][q]) {
        for (let j = 0; j < Tkv; j++) if (kvValid[b][j] && kvPos[b][j] <= p) m[row + j] = 1;
        for (let j = 0; j < Tq; j++) if (qValid[b][j] && qPos[b][j] <= p) m[row + Tkv + j] = 1;
      }
      // A padding query attends to itself only: its output is unused but stays finite.
      m[row + Tkv + q] = 1;
    }
  }
  return torch.tensor(m, { shape: [B, 1, Tq, T] }).to('bool');
}

function chunkAt(chunks: Chunk[][], b: number, w: number): Chunk | undefined {
  return chunks[b][w];
}

/** Runs the latent forward on a batch of sequences. Call inside torch.scope; results escape as returned. */
export function latentForward(seqs: LatentSequence[], o: LatentForwardOptions): LatentForwardResult {
  const chunks = seqs.map(chunksOf);
  // Shared by both trunks; its tensors stay referenced by the autograd graph after dispose().
  const cache = new KVCache(o.backbone.numLayers);
  try {
    return runWaves(seqs, o, chunks, cache);
  } finally {
    cache.dispose();
  }
}

function runWaves(seqs: LatentSequence[], o: LatentForwardOptions, chunks: Chunk[][], cache: KVCache): LatentForwardResult {
  const { backbone, latentTrunk, heads } = o;
  const B = seqs.length;
  const device = backbone.normWeight.device;
  const waves = Math.max(...chunks.map((c) => c.length));
  const kvPos: number[][] = seqs.map(() => []);
  const kvValid: boolean[][] = seqs.map(() => []);
  const lmTerms: Tensor[] = [];
  const startTerms: Tensor[] = [];
  const stopTerms: Tensor[] = [];
  let lastPre: Tensor | null = null;
  const res: LatentForwardResult = {
    loss: null as unknown as Tensor,
    lmSum: 0, lmCount: 0, nextStepSum: 0, nextStepCount: 0, resultSum: 0, resultCount: 0,
    startLoss: null as unknown as Tensor, stopLoss: null as unknown as Tensor, startCount: 0, stopCount: 0,
    startConfusion: { tp: 0, fp: 0, fn: 0, tn: 0 },
    latents: [], perExample: seqs.map(() => [0, 0, 0, 0, 0, 0]), startScores: [], latentNorm: 0, tokenNorm: 0,
  };
  let latentNormSum = 0;
  let latentNormCount = 0;
  let tokenNormSum = 0;
  let tokenNormCount = 0;

  const runChunk = (trunk: Trunk, x: Tensor, qPos: number[][], qValid: boolean[][]): Tensor => {
    const mask = buildMask(kvPos, kvValid, qPos, qValid).to(device);
    const positions = torch.tensor(qPos, { dtype: 'int64' }).to(device);
    const pre = trunk.decode(x, positions, mask, cache);
    for (let b = 0; b < B; b++) {
      kvPos[b].push(...qPos[b]);
      kvValid[b].push(...qValid[b]);
    }
    return pre;
  };

  const updateLast = (pre: Tensor, lastIndex: number[], valid: boolean[]): void => {
    // lastPre[b] = pre[b, lastIndex[b]] where valid[b]
    const idx = torch.tensor(lastIndex.map((i) => Math.max(i, 0)), { dtype: 'int64' }).to(device);
    const rows = pre.gather(1, idx.view([B, 1, 1]).expand([B, 1, pre.size(2)])).squeeze(1);
    if (lastPre === null) lastPre = rows;
    else {
      const v = torch.tensor(valid).to(device).view([B, 1]);
      lastPre = torch.where(v, rows, lastPre);
    }
  };

  for (let w = 0; w < waves; w++) {
    const isLanguage = w % 2 === 0;
    if (isLanguage) {
      const lens = seqs.map((_, b) => {
        const c = chunkAt(chunks, b, w);
        return c && c.kind === 'language' ? c.end - c.start : 0;
      });
      const Tw = Math.max(...lens);
      if (Tw === 0) continue;
      const ids: number[][] = [];
      const qPos: number[][] = [];
      const qValid: boolean[][] = [];
      const flatTargets: number[] = [];
      const flatRows: number[] = [];
      const flatNext: number[] = [];
      const flatResult: number[] = [];
      const flatExample: number[] = [];
      const startRows: number[] = [];
      const startTargets: number[] = [];
      for (let b = 0; b < B; b++) {
        const c = chunkAt(chunks, b, w) as Extract<Chunk, { kind: 'language' }> | undefined;
        const s = seqs[b];
        const rowIds: number[] = [];
        const rowPos: number[] = [];
        const rowValid: boolean[] = [];
        for (let t = 0; t < Tw; t++) {
          const p = c ? c.start + t : -1;
          const valid = !!c && p < c.end;
          rowIds.push(valid ? s.ids[p] : 0);
          rowPos.push(valid ? p : 0);
          rowValid.push(valid);
          if (!valid) continue;
          if (s.targets[p] !== IGNORE) {
            flatRows.push(b * Tw + t);
            flatTargets.push(s.targets[p]);
            flatNext.push(s.nextStepOf[p] >= 0 ? 1 : 0);
            flatResult.push(s.resultTarget[p]);
            flatExample.push(b);
          }
          if (s.startTarget[p] !== -1) {
            startRows.push(b * Tw + t);
            startTargets.push(s.startTarget[p]);
          }
        }
        ids.push(rowIds);
        qPos.push(rowPos);
        qValid.push(rowValid);
      }
      const idsT = torch.tensor(ids, { dtype: 'int64' }).to(device);
      const embeds = heads.applyMarkers(backbone.embed(idsT), idsT, o.botId, o.eotId);
      {
        const n = embeds.pow(2).sum(-1).sqrt().mean().item();
        tokenNormSum += n;
        tokenNormCount++;
      }
      const pre = runChunk(backbone, embeds, qPos, qValid);
      const hidden = backbone.finalNorm(pre);
      const D = hidden.size(2);
      const flatHidden = hidden.reshape([B * Tw, D]);
      if (flatRows.length) {
        const rows = torch.tensor(flatRows, { dtype: 'int64' }).to(device);
        const logits = atLeastFloat32(backbone.lmHead(flatHidden.indexSelect(0, rows)));
        const tgt = torch.tensor(flatTargets, { dtype: 'int64' }).to(device);
        const ce = torch.F.crossEntropy(logits, tgt, { reduction: 'none' });
        lmTerms.push(ce.sum());
        const ceValues = ce.detach().tolist() as number[];
        ceValues.forEach((v, i) => {
          const ex = res.perExample[flatExample[i]];
          res.lmSum += v;
          res.lmCount++;
          ex[0] += v;
          ex[1]++;
          if (flatNext[i]) {
            res.nextStepSum += v;
            res.nextStepCount++;
            ex[2] += v;
            ex[3]++;
          }
          if (flatResult[i]) {
            res.resultSum += v;
            res.resultCount++;
            ex[4] += v;
            ex[5]++;
          }
        });
      }
      if (startRows.length) {
        const rows = torch.tensor(startRows, { dtype: 'int64' }).to(device);
        const h = flatHidden.indexSelect(0, rows);
        const logits = atLeastFloat32(heads.startLogits(o.startHeadGrad ? h : h.detach()));
        const tgt = torch.tensor(startTargets, { dtype: logits.dtype }).to(device);
        const pos = startTargets.filter((x) => x === 1).length;
        const posWeight = o.startPosWeight ?? (pos > 0 ? (startTargets.length - pos) / pos : 1);
        startTerms.push(torch.F.binaryCrossEntropyWithLogits(logits, tgt, { posWeight: torch.tensor([posWeight], { dtype: logits.dtype }).to(device), reduction: 'sum' }));
        res.startCount += startTargets.length;
        if (o.collectStartScores) (logits.detach().tolist() as number[]).forEach((l, i) => res.startScores.push([l, startTargets[i]]));
        const decisions = logits.gt(0).tolist() as boolean[];
        decisions.forEach((d, i) => {
          const t = startTargets[i] === 1;
          if (d && t) res.startConfusion.tp++;
          else if (d && !t) res.startConfusion.fp++;
          else if (!d && t) res.startConfusion.fn++;
          else res.startConfusion.tn++;
        });
      }
      updateLast(pre, lens.map((l) => l - 1), lens.map((l) => l > 0));
    } else {
      const spans = seqs.map((_, b) => {
        const c = chunkAt(chunks, b, w);
        return c && c.kind === 'latent' ? c : undefined;
      });
      const K = Math.max(...spans.map((c) => (c ? c.count : -1)));
      if (K < 0 || lastPre === null) continue;
      for (let j = 0; j <= K; j++) {
        const { embed, stopLogit } = heads.step(lastPre, latentTrunk.normWeight, latentTrunk.eps);
        // End classifier: continue (0) before the k-th latent, stop (1) at it.
        const stopRows: number[] = [];
        const stopTargets: number[] = [];
        spans.forEach((c, b) => {
          if (c && j <= c.count) {
            stopRows.push(b);
            stopTargets.push(j === c.count ? 1 : 0);
          }
        });
        if (stopRows.length) {
          const rows = torch.tensor(stopRows, { dtype: 'int64' }).to(device);
          const logits = atLeastFloat32(stopLogit.indexSelect(0, rows));
          const tgt = torch.tensor(stopTargets, { dtype: logits.dtype }).to(device);
          stopTerms.push(torch.F.binaryCrossEntropyWithLogits(logits, tgt, { reduction: 'sum' }));
          res.stopCount += stopRows.length;
        }
        if (j === K) break;
        const valid = spans.map((c) => !!c && j < c.count);
        let x = embed;
        const ab = o.ablation ?? { kind: 'none' };
        if (ab.kind === 'zeros') x = torch.zerosLike(embed);
        else if (ab.kind === 'vector') x = ab.vector.to(embed.dtype).to(device).unsqueeze(0).expand([B, embed.size(1)]);
        else if (ab.kind === 'shuffled') x = shuffledRows(embed, valid);
        {
          const norms = x.detach().pow(2).sum(-1).sqrt().tolist() as number[];
          norms.forEach((n, b) => {
            if (valid[b]) {
              latentNormSum += n;
              latentNormCount++;
            }
          });
        }
        const qPos = spans.map((c) => [c && j < c.count ? c.start + j : 0]);
        const qValid = valid.map((v) => [v]);
        const pre = runChunk(latentTrunk, x.unsqueeze(1), qPos, qValid);
        if (o.collectLatents) {
          const hid = latentTrunk.finalNorm(pre).squeeze(1);
          const probs = stopLogit.detach().float().sigmoid().tolist() as number[];
          valid.forEach((v, b) => {
            if (!v) return;
            res.latents.push({
              example: b, span: spans[b]!.span, step: j,
              embed: torch.keep(x.select(0, b).detach()),
              hidden: torch.keep(hid.select(0, b).detach()),
              stopProb: probs[b],
            });
          });
        }
        updateLast(pre, valid.map(() => 0), valid);
      }
    }
  }

  const sumOrZero = (terms: Tensor[]) => (terms.length ? terms.reduce((a, b) => a.add(b)) : torch.zeros([], { dtype: 'float32' }).to(device));
  res.loss = sumOrZero(lmTerms).div(Math.max(1, res.lmCount));
  res.startLoss = sumOrZero(startTerms).div(Math.max(1, res.startCount));
  res.stopLoss = sumOrZero(stopTerms).div(Math.max(1, res.stopCount));
  res.latentNorm = latentNormCount ? latentNormSum / latentNormCount : 0;
  res.tokenNorm = tokenNormCount ? tokenNormSum / tokenNormCount : 0;
  return res;
}

/** Losses are computed in float32 at least (bf16/f16 logits are upcast), float64 stays float64. */
function atLeastFloat32(t: Tensor): Tensor {
  return t.dtype === 'float64' || t.dtype === 'float32' ? t : t.float();
}

/** Each valid row takes the row of the next valid example (cyclically); a single valid row keeps its own. */
function shuffledRows(embed: Tensor, valid: boolean[]): Tensor {
  const rows = valid.map((v, b) => (v ? b : -1)).filter((b) => b >= 0);
  const perm = valid.map((_, b) => b);
  rows.forEach((b, i) => (perm[b] = rows[(i + 1) % rows.length]));
  return embed.indexSelect(0, torch.tensor(perm, { dtype: 'int64' }).to(embed.device));
}

export { Role };
