// Data parallelism for the latent forward (src/latent/forward.ts): one rank's result, made global.
import type { LatentForwardResult } from '../latent/forward';
import { globalMeanLosses, type GroupOption } from './ddp';

/**
 * This rank's forward result with the global batch's losses: `loss`, `startLoss` and `stopLoss` take
 * the global means as values (identical on every rank: what to log, and what the non-finite check
 * sees) and carry gradients that, averaged over ranks by allReduceGradients, equal a single process's
 * on the global batch. The counts and sums (lm, nextStep, result, start, stop) become global too, in
 * the same collective. Per-rank diagnostics (latents, perExample, confusion, norms) stay local.
 */
export function globalLatentLosses(r: LatentForwardResult, { group }: GroupOption = {}): LatentForwardResult {
  const g = globalMeanLosses(
    [
      { mean: r.loss, count: r.lmCount, sum: r.lmSum },
      { mean: r.startLoss, count: r.startCount },
      { mean: r.stopLoss, count: r.stopCount },
    ],
    { extra: [r.nextStepSum, r.nextStepCount, r.resultSum, r.resultCount], group },
  );
  const [loss, startLoss, stopLoss] = g.losses;
  const [lmCount, startCount, stopCount] = g.counts;
  const [nextStepSum, nextStepCount, resultSum, resultCount] = g.extra;
  return {
    ...r,
    loss,
    startLoss,
    stopLoss,
    lmSum: g.sums[0],
    lmCount,
    startCount,
    stopCount,
    nextStepSum,
    nextStepCount,
    resultSum,
    resultCount,
  };
}
