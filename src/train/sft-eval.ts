// `latent eval` for phase-1 runs: test losses, start classifier, latent-utilisation ablations,
// latent decoding and answer accuracy, written to the run's diagnostics.json and evals.jsonl.
import { loadSftRun } from './sft';
import { RunDir } from './run-dir';
import { evaluateLoss, latentAblations, inspectLatents, answerAccuracy, type AblationResult, type DecodedLatent, type AccuracyResult } from '../latent/evaluate';
import { ProgressBar } from './progress';
import { latentUsageVerdict } from '../latent/diagnostics';

export interface SftEvalOptions {
  /** test examples for losses and ablations */
  examples?: number;
  /** test examples for generation accuracy (0: skip) */
  generate?: number;
  /** examples whose latents are decoded */
  inspect?: number;
  maxNewTokens?: number;
  constantSteps?: number;
  quiet?: boolean;
}

export interface SftDiagnostics {
  step: number;
  test: { loss: number; nextStepLoss: number; resultLoss: number; startPrecision: number; startRecall: number; startF1: number; examples: number };
  ablations: AblationResult[];
  decoded: DecodedLatent[];
  recurring: { token: string; count: number }[];
  resultHitRate: number;
  accuracy: Omit<AccuracyResult, 'spanLengths' | 'samples'> | null;
  spanLengths: Record<string, number>;
  samples: AccuracyResult['samples'];
  start: { precision: number; recall: number; f1: number };
  norms: { latent: number; token: number };
}

export async function evaluateSftRun(runDir: string, o: SftEvalOptions = {}): Promise<SftDiagnostics> {
  const run = await loadSftRun(runDir);
  const { lm, data, config } = run;
  lm.train(false);
  try {
    const testExamples = data.test.slice(0, o.examples ?? 200);
    const seqs = testExamples.map((e) => data.sequence(e));
    const loss = evaluateLoss(lm, seqs, { batchSize: config.batchSize });
    const trainSeqs = data.train.slice(0, 64).map((e) => data.sequence(e));
    const ablations = config.latents > 0 ? latentAblations(lm, seqs, { batchSize: config.batchSize, trainSeqs, constantSteps: o.constantSteps ?? 50 }) : [];
    const inspected = config.latents > 0 ? inspectLatents(lm, seqs.slice(0, o.inspect ?? 20)) : { decoded: [], recurring: [], resultHitRate: 0 };
    let accuracy: AccuracyResult | null = null;
    const nGen = o.generate ?? 50;
    if (nGen > 0) {
      const bar = new ProgressBar({ total: Math.min(nGen, data.test.length), label: 'generate', quiet: o.quiet });
      accuracy = answerAccuracy(lm, data.test.slice(0, nGen), { maxNewTokens: o.maxNewTokens ?? 200, maxLatents: config.maxLatents, onProgress: (d) => bar.update(d) });
      bar.finish();
    }
    const diagnostics: SftDiagnostics = {
      step: run.step,
      test: { loss: loss.loss, nextStepLoss: loss.nextStepLoss, resultLoss: loss.resultLoss, startPrecision: loss.start.precision, startRecall: loss.start.recall, startF1: loss.start.f1, examples: seqs.length },
      ablations,
      decoded: inspected.decoded,
      recurring: inspected.recurring,
      resultHitRate: inspected.resultHitRate,
      accuracy: accuracy ? { withLatents: accuracy.withLatents, withoutLatents: accuracy.withoutLatents, n: accuracy.n, spansPerAnswer: accuracy.spansPerAnswer } : null,
      spanLengths: accuracy?.spanLengths ?? {},
      samples: accuracy?.samples ?? [],
      start: loss.start,
      norms: { latent: loss.latentNorm, token: loss.tokenNorm },
    };
    const dir = new RunDir(runDir);
    dir.writeJson('diagnostics.json', diagnostics);
    dir.append('evals.jsonl', { step: run.step, split: 'test', loss: loss.loss, nextStepLoss: loss.nextStepLoss, resultLoss: loss.resultLoss, startPrecision: loss.start.precision, startRecall: loss.start.recall, startF1: loss.start.f1, accuracy: accuracy?.withLatents });
    return diagnostics;
  } finally {
    lm.dispose();
  }
}

/** A plain-text summary of diagnostics for the terminal. */
export function formatDiagnostics(d: SftDiagnostics): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');
  const lines = [
    `step ${d.step}: test loss ${f(d.test.loss)}, next-step ${f(d.test.nextStepLoss)}, result tokens ${f(d.test.resultLoss)} (${d.test.examples} examples)`,
    `start classifier: precision ${f(d.start.precision)} recall ${f(d.start.recall)} F1 ${f(d.start.f1)}`,
    `norms: latent inputs ${f(d.norms.latent)} vs token embeddings ${f(d.norms.token)}`,
  ];
  if (d.ablations.length) {
    lines.push('latent ablations (next-step loss; delta = ablated - trained, 95% bootstrap CI):');
    for (const a of d.ablations) lines.push(`  ${a.name.padEnd(9)} ${f(a.nextStepLoss)}  delta ${f(a.delta)} [${f(a.ci[0])}, ${f(a.ci[1])}]  result-token delta ${f(a.resultDelta)} [${f(a.resultCi[0])}, ${f(a.resultCi[1])}]`);
    lines.push(`  => ${latentUsageVerdict(d.ablations).text}`);
  }
  if (d.recurring.length) lines.push(`most recurring decoded tokens: ${d.recurring.slice(0, 10).map((r) => `${JSON.stringify(r.token)}×${r.count}`).join(' ')}; result digit among decoded: ${(100 * d.resultHitRate).toFixed(1)}%`);
  if (d.accuracy) lines.push(`answer accuracy (greedy, ${d.accuracy.n} examples): with latents ${(100 * d.accuracy.withLatents).toFixed(1)}%, without ${(100 * d.accuracy.withoutLatents).toFixed(1)}%; spans per answer ${d.accuracy.spansPerAnswer.toFixed(2)}; span lengths ${JSON.stringify(d.spanLengths)}`);
  return lines.join('\n');
}
