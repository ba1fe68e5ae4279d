// Re-scoring rollouts: the log-probability of every action of a rollout under the current policy,
// computed by teacher forcing (the rollout's inputs fed in a few batched passes, not token by token).
//
// Two ways to feed the latent positions (`latentGrad`):
//  - 'stored': the latent embeddings recorded during sampling are inputs (constants). With one trunk
//    (full mode) the whole rollout is ONE pass; in two-trunk mode a rollout runs in waves, each
//    language run on the language trunk and each latent span on the latent trunk, one pass per run.
//    The gradient reaches every parameter through the hidden states, but not through the latent
//    inputs: the recurrence latent_{k+1} = step(h_k) is cut.
//  - 'recurrent': each latent is recomputed from the previous position's hidden state, as in
//    phase 1 (one pass per latent position), and the gradient flows through the recurrence.
// At the parameters the rollout was sampled with, both feed the same latent values, so the
// log-probabilities are equal; their gradients differ exactly by the terms through the latent
// inputs. `detachLatents` drops those terms from 'recurrent', which then has the gradient of 'stored'
// (what test/rl/teacher-forcing.test.ts checks).
//
// After the first update of a batch, 'stored' keeps scoring the sampled latents while 'recurrent'
// scores the latents the updated policy computes: for 'recurrent' the latents are part of the
// policy, for 'stored' part of the rollout.
import * as torch from '../torch';
import type { Tensor } from '../torch';
import { CoupledCaches } from '../latent/coupling';
import { CacheSlots, runLatentPass, runPass } from '../latent/cache-slots';
import {
  LATENT_ID,
  atLeastFloat32,
  latentStepAt,
  startLogitsAt,
  tokenLogProbs,
  type ActionKind,
  type PolicyModules,
  type Rollout,
} from './policy';

export type LatentGrad = 'stored' | 'recurrent';
export const LATENT_GRADS: readonly LatentGrad[] = ['stored', 'recurrent'];

export interface ScoreOptions {
  /** the sampling temperature (> 0): token log-probabilities are those of softmax(logits / T) */
  temperature: number;
  latentGrad: LatentGrad;
  /** 'recurrent' only: feed the recomputed latents detached (no gradient through the recurrence) */
  detachLatents?: boolean;
  /** also sum the entropies of the token distributions at token actions (for metrics) */
  entropy?: boolean;
}

export interface RolloutScores {
  /** log-probability of every action, rollouts in order and each rollout's actions in order [N] */
  logProbs: Tensor;
  /** index in logProbs of each rollout's first action; offsets[rollouts.length] = N */
  offsets: number[];
  /** sum (and count) of the token distributions' entropies (nats), with `entropy` */
  entropySum: number;
  entropyCount: number;
}

interface Run {
  kind: 'language' | 'latent';
  /** positions [start, end) of prompt + ids */
  start: number;
  end: number;
}

/** A rollout's positions split into alternating language and latent runs (or one run for everything). */
function runsOf(r: Rollout, merged: boolean): Run[] {
  const length = r.prompt.length + r.ids.length;
  if (merged) return [{ kind: 'language', start: 0, end: length }];
  const runs: Run[] = [];
  let start = 0;
  let kind: Run['kind'] = 'language';
  for (let t = r.prompt.length; t < length; t++) {
    const k: Run['kind'] = r.ids[t - r.prompt.length] === LATENT_ID ? 'latent' : 'language';
    if (k !== kind) {
      runs.push({ kind, start, end: t });
      start = t;
      kind = k;
    }
  }
  runs.push({ kind, start, end: length });
  return runs;
}

/** Scores `rollouts` under the policy `m`. Differentiable unless run under noGrad. */
export function scoreRollouts(m: PolicyModules, rollouts: readonly Rollout[], o: ScoreOptions): RolloutScores {
  if (!rollouts.length) throw new RangeError('scoreRollouts: no rollouts');
  if (o.latentGrad !== 'stored' && o.latentGrad !== 'recurrent')
    throw new RangeError(`latentGrad must be 'stored' or 'recurrent', got ${String(o.latentGrad)}`);
  const stored = o.latentGrad === 'stored';
  rollouts.forEach((r, i) => {
    const n = r.ids.filter((id) => id === LATENT_ID).length;
    if (stored && n > 0 && (r.latents === null || r.latents.size(0) !== n))
      throw new RangeError(
        `scoreRollouts: rollout ${i} has ${n} latent positions but ${r.latents === null ? 'no stored latents' : `${r.latents.size(0)} stored latents`} (sample with keepLatents, or use latentGrad 'recurrent')`,
      );
  });
  const caches = new CoupledCaches(m.backbone.numLayers, m.coupling);
  try {
    return torch.scope(() => score(m, rollouts, o, caches));
  } finally {
    caches.dispose();
  }
}

function score(m: PolicyModules, rollouts: readonly Rollout[], o: ScoreOptions, caches: CoupledCaches): RolloutScores {
  const B = rollouts.length;
  const device = m.backbone.normWeight.device;
  const stored = o.latentGrad === 'stored';
  const merged = stored && m.latentTrunk === m.backbone;
  const runs = rollouts.map((r) => runsOf(r, merged));
  const slots = new CacheSlots(B);

  // actions by (rollout, position), and their global indices
  const offsets: number[] = [0];
  const actionsAt: Map<number, number[]>[] = rollouts.map((r, b) => {
    const at = new Map<number, number[]>();
    r.actions.forEach((a, i) => {
      const list = at.get(a.position) ?? [];
      list.push(offsets[b] + i);
      at.set(a.position, list);
    });
    offsets.push(offsets[b] + r.actions.length);
    return at;
  });
  const flatActions = rollouts.flatMap((r) => r.actions);

  // stored latents of all rollouts in one matrix, and each latent position's row in it
  let storedLatents: Tensor | null = null;
  const latentRow: Map<number, number>[] = rollouts.map(() => new Map());
  if (stored) {
    const mats: Tensor[] = [];
    let base = 0;
    rollouts.forEach((r, b) => {
      let k = 0;
      r.ids.forEach((id, i) => {
        if (id === LATENT_ID) latentRow[b].set(r.prompt.length + i, base + k++);
      });
      if (r.latents && k > 0) mats.push(r.latents);
      base += k;
    });
    if (mats.length) storedLatents = torch.cat(mats, 0);
  }

  // hidden states at action positions, gathered pass by pass
  const gathered: Tensor[] = [];
  const gatheredActions: number[] = [];
  const collect = (pre: Tensor, width: number, pick: [b: number, t: number, column: number][]) => {
    const rowsIdx: number[] = [];
    for (const [b, t, column] of pick) {
      for (const a of actionsAt[b].get(t) ?? []) {
        rowsIdx.push(b * width + column);
        gatheredActions.push(a);
      }
    }
    if (rowsIdx.length)
      gathered.push(pre.reshape([B * width, pre.size(2)]).indexSelect(0, torch.tensor(rowsIdx, { dtype: 'int64' }).to(device)));
  };

  // the gated form under sampling: each latent mixed in the token drawn at its position, fed again here
  const latentTokensAt = rollouts.map((r) => {
    const at = new Map<number, number>();
    if (!r.latentTokens) return at;
    let k = 0;
    r.ids.forEach((id, i) => {
      if (id === LATENT_ID) at.set(r.prompt.length + i, r.latentTokens![k++]);
    });
    return at;
  });
  const anyDrawn = rollouts.some((r) => r.latentTokens?.length);
  const drawnTokens = (here: (Run | undefined)[], j: number): Tensor | undefined => {
    if (!anyDrawn) return undefined;
    const ids = here.map((run, b) => (run && run.start + j < run.end ? (latentTokensAt[b].get(run.start + j) ?? 0) : 0));
    return torch.tensor(ids, { dtype: 'int64' }).to(device);
  };

  let lastPre: Tensor | null = null; // recurrent mode: each row's pre-norm hidden state at its last fed position
  const waves = Math.max(...runs.map((r) => r.length));
  for (let w = 0; w < waves; w++) {
    const kind: Run['kind'] = w % 2 === 0 ? 'language' : 'latent';
    const here = runs.map((r) => r[w]);
    if (kind === 'language' || stored) {
      const width = Math.max(...here.map((run) => (run ? run.end - run.start : 0)));
      if (width === 0) continue;
      const ids: number[][] = [];
      const qPos: number[][] = [];
      const qValid: boolean[][] = [];
      const latentIndex: number[] = [];
      const pick: [number, number, number][] = [];
      here.forEach((run, b) => {
        const r = rollouts[b];
        const rowIds: number[] = [];
        const rowPos: number[] = [];
        const rowValid: boolean[] = [];
        for (let c = 0; c < width; c++) {
          const t = run ? run.start + c : -1;
          const valid = !!run && t < run.end;
          const id = valid ? (t < r.prompt.length ? r.prompt[t] : r.ids[t - r.prompt.length]) : 0;
          rowIds.push(id === LATENT_ID ? 0 : id);
          rowPos.push(valid ? t : 0);
          rowValid.push(valid);
          latentIndex.push(valid && id === LATENT_ID ? latentRow[b].get(t)! : -1);
          if (valid) pick.push([b, t, c]);
        }
        ids.push(rowIds);
        qPos.push(rowPos);
        qValid.push(rowValid);
      });
      const x = inputs(m, ids, latentIndex, storedLatents, device);
      const pre =
        kind === 'language'
          ? runPass(m.backbone, caches.language, slots, x, qPos, qValid)
          : runLatentPass(m, caches, slots, x, qPos, qValid);
      collect(pre, width, pick);
      if (!stored) {
        const last = here.map((run) => (run ? run.end - run.start - 1 : 0));
        lastPre = updateRows(lastPre, pre, last, here.map(Boolean), device);
      }
    } else {
      const count = Math.max(...here.map((run) => (run ? run.end - run.start : 0)));
      for (let j = 0; j < count; j++) {
        const valid = here.map((run) => !!run && run.start + j < run.end);
        const qPos = here.map((run, b) => [valid[b] ? run.start + j : 0]);
        const { embed } = latentStepAt(m, lastPre!, j, drawnTokens(here, j));
        const x = (o.detachLatents ? embed.detach() : embed).unsqueeze(1);
        const pre = runLatentPass(
          m,
          caches,
          slots,
          x,
          qPos,
          valid.map((v) => [v]),
        );
        collect(
          pre,
          1,
          valid.flatMap((v, b) => (v ? [[b, qPos[b][0], 0] as [number, number, number]] : [])),
        );
        lastPre = updateRows(
          lastPre,
          pre,
          valid.map(() => 0),
          valid,
          device,
        );
      }
    }
  }
  if (gatheredActions.length !== flatActions.length)
    throw new Error(
      `scoreRollouts: found the hidden states of ${gatheredActions.length} actions, the rollouts have ${flatActions.length} (an action position lies outside its rollout)`,
    );

  const pre = torch.cat(gathered, 0);
  const byKind = (kind: ActionKind) => {
    const rows: number[] = [];
    gatheredActions.forEach((a, i) => {
      if (flatActions[a].kind === kind) rows.push(i);
    });
    return rows;
  };
  const pieces: Tensor[] = [];
  const order: number[] = [];
  let entropySum = 0;
  let entropyCount = 0;
  const select = (rows: number[]) => pre.indexSelect(0, torch.tensor(rows, { dtype: 'int64' }).to(device));
  // language tokens, and the tokens the gated form's sampled latents mixed in: both drawn from the token distribution
  const tokenRows = [...byKind('token'), ...byKind('latent-token')];
  if (tokenRows.length) {
    const lp = tokenLogProbs(m, select(tokenRows), o.temperature);
    const chosen = torch
      .tensor(
        tokenRows.map((i) => flatActions[gatheredActions[i]].value),
        { dtype: 'int64' },
      )
      .to(device);
    pieces.push(lp.gather(1, chosen.view([-1, 1])).squeeze(1));
    order.push(...tokenRows.map((i) => gatheredActions[i]));
    if (o.entropy) {
      entropySum += torch.noGrad(() => lp.detach().exp().mul(lp.detach().clampMin(-1e30)).sum().neg().item());
      entropyCount += tokenRows.length;
    }
  }
  const decisions = (rows: number[], logits: (pre: Tensor) => Tensor) => {
    if (!rows.length) return;
    const sign = torch
      .tensor(
        rows.map((i) => (flatActions[gatheredActions[i]].value ? 1 : -1)),
        { dtype: 'float64' },
      )
      .to(device);
    const l = logits(select(rows));
    pieces.push(torch.logSigmoid(l.mul(sign.to(l.dtype))));
    order.push(...rows.map((i) => gatheredActions[i]));
  };
  decisions(byKind('start'), (h) => startLogitsAt(m, h));
  decisions(byKind('stop'), (h) => atLeastFloat32(latentStepAt(m, h).stopLogit));
  const dtype = pieces.some((p) => p.dtype === 'float64') ? 'float64' : 'float32';
  const values = torch.cat(
    pieces.map((p) => p.to(dtype)),
    0,
  );
  const inverse = new Array<number>(order.length);
  order.forEach((a, i) => (inverse[a] = i));
  const logProbs = values.indexSelect(0, torch.tensor(inverse, { dtype: 'int64' }).to(device));
  return { logProbs, offsets, entropySum, entropyCount };
}

/** Input embeddings [B, W, D]: tokens and markers, with latent positions taken from the stored latents. */
function inputs(m: PolicyModules, ids: number[][], latentIndex: number[], storedLatents: Tensor | null, device: string): Tensor {
  const idsT = torch.tensor(ids, { dtype: 'int64' }).to(device);
  const x = m.heads.applyMarkers(m.backbone.embed(idsT), idsT, m.botId, m.eotId);
  if (!latentIndex.some((i) => i >= 0)) return x;
  if (storedLatents === null) throw new Error('scoreRollouts: a latent position without stored latents');
  const [B, W, D] = x.shape;
  const isLatent = torch
    .tensor(latentIndex.map((i) => i >= 0))
    .to(device)
    .view([B, W, 1]);
  const rows = torch
    .tensor(
      latentIndex.map((i) => Math.max(i, 0)),
      { dtype: 'int64' },
    )
    .to(device);
  const latents = storedLatents.indexSelect(0, rows).view([B, W, D]).to(x.dtype);
  return torch.where(isLatent, latents, x);
}

/** lastPre[b] = pre[b, index[b]] where `valid[b]`, else unchanged. */
function updateRows(lastPre: Tensor | null, pre: Tensor, index: number[], valid: boolean[], device: string): Tensor {
  const B = index.length;
  const idx = torch.tensor(index, { dtype: 'int64' }).to(device);
  const rows = pre.gather(1, idx.view([B, 1, 1]).expand([B, 1, pre.size(2)])).squeeze(1);
  if (lastPre === null) return rows;
  return torch.where(torch.tensor(valid).to(device).view([B, 1]), rows, lastPre);
}
