// `latent eval` for phase-1 runs: test losses, start classifier, latent-utilisation ablations,
// latent decoding and answer accuracy, written to the run's diagnostics.json and evals.jsonl.
import * as path from 'path';
import type { Tensor } from '../torch';
import { loadSftRun, loadSftData } from './sft';
import type { LatentInputSpec } from '../latent/latent-input';
import { RunDir } from './run-dir';
import {
  evaluateLoss,
  ablationWork,
  latentAblationsWithConstant,
  inspectLatents,
  answerAccuracy,
  type AblationResult,
  type DecodedLatent,
  type AccuracyResult,
  type SumCount,
  type StopEvaluation,
} from '../latent/evaluate';
import { ProgressBar } from './progress';
import { pairedLossDelta, studyVerdict, type Endpoint, type StudyVerdict } from '../latent/study';
import { namedLatentSchedule } from '../latent/sequence';
import { EVALS_FILE, type EvalLine } from './run-files';

export interface SftEvalOptions {
  /** test examples for losses and ablations */
  examples?: number;
  /** test examples for generation accuracy (0: skip) */
  generate?: number;
  /** examples whose latents are decoded */
  inspect?: number;
  /** questions generated together for answer accuracy (default 8; the answers do not depend on it) */
  generateBatch?: number;
  maxNewTokens?: number;
  constantSteps?: number;
  quiet?: boolean;
  /**
   * The matched no-span reference for the helps endpoint: a run directory evaluated before (its
   * diagnostics.json holds per-example losses), normally the k = 0 run with the same steps, data and
   * lr. Two-trunk runs default to their frozen base (the run's own language trunk on the k = 0 layout).
   */
  reference?: string;
  /** the pause-as-thought run (evaluated before): "content beyond compute" is measured against it */
  pause?: string;
  /** also generate with spans at the gold breakpoints (default true for runs with latents) */
  oracle?: boolean;
  /** also generate with oracle spans whose latents are shuffled across questions or a constant */
  ablateGeneration?: boolean;
  /** seeds the bootstrap */
  seed?: number;
}

/** The study's endpoints for one run (see src/latent/study.ts); Δ > 0 always favours the latents. */
export interface StudyEndpoints {
  verdict: StudyVerdict;
  reasons: string[];
  /** reference − run on result tokens; `step`: the same on the step after each span */
  helps: (Endpoint & { reference: string; step: Endpoint }) | null;
  /** shuffled − trained on result tokens; `step`: on the step after each span */
  used: (Endpoint & { ablation: 'shuffled'; step: Endpoint }) | null;
  /** the other content ablations on result tokens: the mean latent (on training data) and a learned constant */
  content: { mean: Endpoint; constant: Endpoint } | null;
  /** zeros − trained on result tokens: shock, not content (a zero vector is out of distribution) */
  zeros: Endpoint | null;
  /** the same model on the k = 0 layout − with its spans, result tokens (span removed) */
  spanRemoved: Endpoint | null;
  /** pause-as-thought run − this run, result tokens: what the latents' content adds beyond extra passes */
  contentBeyondCompute: (Endpoint & { pause: string }) | null;
}

export interface SftDiagnostics {
  step: number;
  /** latents per breakpoint of the run (0: the no-latent baseline, which has no "with latents" accuracy) */
  latents: number;
  /** the run's latent interface: input form (with its options), two-trunk coupling, frozen markers */
  latentInterface: { latentInput: LatentInputSpec; mode: string; coupling: string; freezeMarkers: boolean };
  test: {
    loss: number;
    nextStepLoss: number;
    resultLoss: number;
    stepLoss: number;
    startPrecision: number;
    startRecall: number;
    startF1: number;
    examples: number;
  };
  ablations: AblationResult[];
  study: StudyEndpoints | null;
  decoded: DecodedLatent[];
  recurring: { token: string; count: number }[];
  resultHitRate: number;
  accuracy: Omit<AccuracyResult, 'spanLengths' | 'samples'> | null;
  /** why accuracy is null when it is (e.g. the planted positive needs the result to generate) */
  accuracyNote?: string;
  spanLengths: Record<string, number>;
  samples: AccuracyResult['samples'];
  start: { precision: number; recall: number; f1: number };
  /** the start classifier's threshold (calibrated on validation data) and its F1 on the test set at that threshold */
  startCalibrated: { threshold: number; precision: number; recall: number; f1: number };
  /** the end classifier's stop decisions against the run's schedule (teacher-forced on the test spans) */
  stop: StopEvaluation & { schedule: string };
  /**
   * Spans the start classifier opened in generation where the text was not at a breakpoint: rate
   * (of all spans it opened), count, and spans per answer. Null without generation.
   */
  spuriousSpans: { rate: number; count: number; spans: number; perAnswer: number } | null;
  norms: { latent: number; token: number };
  /** per test example (in test-file order), for paired comparisons with other runs */
  perExample: { result: SumCount[]; step: SumCount[] };
  testData: string;
}

const ENDPOINT_SEED = 0;

/** Per-example losses another run's `latent eval` stored, checked to be on the same test data. */
function storedPerExample(runDir: string, data: string, n: number, what: string): SumCount[] {
  const d = new RunDir(runDir).readJson<Partial<SftDiagnostics>>('diagnostics.json');
  if (!d?.perExample?.result)
    throw new Error(`${what} ${runDir}: no per-example losses in diagnostics.json; run \`latent eval ${runDir}\` first`);
  if (d.testData && path.resolve(d.testData) !== path.resolve(data))
    throw new Error(`${what} ${runDir} was evaluated on ${d.testData}, this run on ${data}: the test examples must be the same`);
  if (d.perExample.result.length < n)
    throw new Error(
      `${what} ${runDir} was evaluated on ${d.perExample.result.length} examples, this run on ${n}; evaluate it on at least as many`,
    );
  return d.perExample.result.slice(0, n);
}

const endpoint = (e: { delta: number; ci: [number, number] }): Endpoint => ({ delta: e.delta, ci: e.ci });

export async function evaluateSftRun(runDir: string, o: SftEvalOptions = {}): Promise<SftDiagnostics> {
  const run = await loadSftRun(runDir, { quiet: o.quiet });
  const { lm, data, config } = run;
  const seed = o.seed ?? ENDPOINT_SEED;
  lm.train(false);
  let constant: Tensor | null = null;
  try {
    const testExamples = data.test.slice(0, o.examples ?? 200);
    const seqs = testExamples.map((e) => data.sequence(e));
    const lossBar = new ProgressBar({ total: seqs.length, label: 'test loss', quiet: o.quiet });
    const loss = evaluateLoss(lm, seqs, { batchSize: config.batchSize, onProgress: (done) => lossBar.update(done) });
    lossBar.finish();
    const resultOf = (e: typeof loss) => e.perExample.map((p) => p.result);
    const trainSeqs = data.train.slice(0, 64).map((e) => data.sequence(e));
    let ablations: AblationResult[] = [];
    if (config.latents > 0) {
      const constantSteps = o.constantSteps ?? 50;
      const bar = new ProgressBar({
        total: ablationWork(seqs.length, { trainSeqs: trainSeqs.length, constantSteps }),
        label: 'ablations',
        quiet: o.quiet,
      });
      const a = latentAblationsWithConstant(lm, seqs, {
        batchSize: config.batchSize,
        trainSeqs,
        constantSteps,
        seed,
        onProgress: (done) => bar.update(done),
      });
      bar.finish();
      ablations = a.ablations;
      constant = a.constant;
    }
    const hasSpans = config.latents > 0 || config.markersAtZero;
    let study: StudyEndpoints | null = null;
    if (hasSpans) {
      // the same model on the k = 0 layout: the same target tokens without any span
      const plain = loadSftData({ ...config, latents: 0, markersAtZero: false }, lm);
      const plainBar = new ProgressBar({ total: seqs.length, label: 'spans removed', quiet: o.quiet });
      const plainLoss = evaluateLoss(
        lm,
        plain.test.slice(0, seqs.length).map((e) => plain.sequence(e)),
        { batchSize: config.batchSize, onProgress: (done) => plainBar.update(done) },
      );
      plainBar.finish();
      const spanRemoved = pairedLossDelta(resultOf(plainLoss), resultOf(loss), { seed });
      let helps: StudyEndpoints['helps'] = null;
      if (o.reference) {
        const ref = storedPerExample(o.reference, config.data, seqs.length, 'reference');
        helps = {
          ...pairedLossDelta(ref, resultOf(loss), { seed }),
          reference: path.basename(path.resolve(o.reference)),
          step: { delta: NaN, ci: [NaN, NaN] },
        };
        const refStep = new RunDir(o.reference)
          .readJson<Partial<SftDiagnostics>>('diagnostics.json')
          ?.perExample?.step?.slice(0, seqs.length);
        if (refStep)
          helps.step = pairedLossDelta(
            refStep,
            loss.perExample.map((p) => p.step),
            { seed },
          );
      } else if (config.mode === 'two-trunk') {
        // two-trunk's language trunk is frozen: without spans the run is exactly its base model
        helps = {
          ...spanRemoved,
          reference: `frozen base (${path.basename(config.model)})`,
          step: pairedLossDelta(
            plainLoss.perExample.map((p) => p.step),
            loss.perExample.map((p) => p.step),
            { seed },
          ),
        };
      }
      const by = (name: AblationResult['name']) => ablations.find((a) => a.name === name);
      const shuffled = by('shuffled');
      const used: StudyEndpoints['used'] = shuffled
        ? {
            delta: shuffled.resultDelta,
            ci: shuffled.resultCi,
            ablation: 'shuffled',
            step: { delta: shuffled.stepDelta, ci: shuffled.stepCi },
          }
        : null;
      const mean = by('mean');
      const cons = by('constant');
      const zeros = by('zeros');
      let contentBeyondCompute: StudyEndpoints['contentBeyondCompute'] = null;
      if (o.pause)
        contentBeyondCompute = {
          ...pairedLossDelta(storedPerExample(o.pause, config.data, seqs.length, 'pause run'), resultOf(loss), { seed }),
          pause: path.basename(path.resolve(o.pause)),
        };
      const v = studyVerdict(helps, used);
      study = {
        verdict: v.verdict,
        reasons: v.reasons,
        helps,
        used,
        content:
          mean && cons
            ? { mean: { delta: mean.resultDelta, ci: mean.resultCi }, constant: { delta: cons.resultDelta, ci: cons.resultCi } }
            : null,
        zeros: zeros ? { delta: zeros.resultDelta, ci: zeros.resultCi } : null,
        spanRemoved: endpoint(spanRemoved),
        contentBeyondCompute,
      };
    }
    const inspected =
      config.latents > 0 ? inspectLatents(lm, seqs.slice(0, o.inspect ?? 20)) : { decoded: [], recurring: [], resultHitRate: 0 };
    let accuracy: AccuracyResult | null = null;
    let accuracyNote: string | undefined;
    const nGen = o.generate ?? 50;
    if (nGen > 0 && config.latentInput === 'planted-result') {
      accuracyNote = 'not measured: the planted positive is fed the result, which generation does not know';
    } else if (nGen > 0) {
      const oracle = config.latents > 0 && (o.oracle ?? true);
      const ablate = oracle && o.ablateGeneration && constant ? { constant } : undefined;
      const count = Math.min(nGen, data.test.length);
      const bar = new ProgressBar({ total: ablate ? 2 * count : count, label: 'generate', quiet: o.quiet });
      accuracy = answerAccuracy(lm, data.test.slice(0, nGen), {
        maxNewTokens: o.maxNewTokens ?? 200,
        maxLatents: config.maxLatents,
        onProgress: (d) => bar.update(d),
        ...(oracle
          ? {
              oracleLatents: config.latents,
              latentSchedule: namedLatentSchedule(config.latentSchedule ?? 'fixed', config.latents),
            }
          : {}),
        ablate,
        seed,
        batchSize: o.generateBatch ?? 8,
      });
      bar.finish();
    }
    const { spanLengths: _spanLengths, samples: _samples, ...accuracyRest } = accuracy ?? ({} as AccuracyResult);
    void _spanLengths;
    void _samples;
    // the test split's scores, in diagnostics.json and in its line of evals.jsonl
    const testScores = {
      loss: loss.loss,
      nextStepLoss: loss.nextStepLoss,
      resultLoss: loss.resultLoss,
      stepLoss: loss.stepLoss,
      startPrecision: loss.start.precision,
      startRecall: loss.start.recall,
      startF1: loss.start.f1,
    };
    const diagnostics: SftDiagnostics = {
      step: run.step,
      latents: config.latents,
      latentInterface: {
        latentInput: lm.heads.input.spec(),
        mode: lm.mode,
        coupling: lm.coupling,
        freezeMarkers: !lm.heads.markers.requiresGrad,
      },
      test: { ...testScores, examples: seqs.length },
      ablations,
      study,
      decoded: inspected.decoded,
      recurring: inspected.recurring,
      resultHitRate: inspected.resultHitRate,
      accuracy: accuracy ? accuracyRest : null,
      ...(accuracyNote ? { accuracyNote } : {}),
      spanLengths: accuracy?.spanLengths ?? {},
      samples: accuracy?.samples ?? [],
      start: loss.start,
      startCalibrated: loss.startAtThreshold,
      stop: { ...loss.stop, schedule: config.latentSchedule ?? 'fixed' },
      spuriousSpans: accuracy
        ? {
            rate: accuracy.spansAwayFromBreakpoints,
            count: accuracy.spansAway,
            spans: accuracy.spans,
            perAnswer: accuracy.spansPerAnswer,
          }
        : null,
      norms: { latent: loss.latentNorm, token: loss.tokenNorm },
      perExample: { result: resultOf(loss), step: loss.perExample.map((p) => p.step) },
      testData: config.data,
    };
    const dir = new RunDir(runDir);
    dir.writeJson('diagnostics.json', diagnostics);
    dir.append(EVALS_FILE, {
      step: run.step,
      split: 'test',
      ...testScores,
      accuracy: accuracy?.withLatents,
    } satisfies EvalLine);
    return diagnostics;
  } finally {
    constant?.dispose();
    lm.dispose();
  }
}

const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');
const interval = (e: Endpoint) => `${f4(e.delta)} [${f4(e.ci[0])}, ${f4(e.ci[1])}]`;
const pct = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');

/** A plain-text summary of diagnostics for the terminal: the verdict and its endpoints first. */
export function formatDiagnostics(d: SftDiagnostics): string {
  const f = f4;
  const li = d.latentInterface;
  const options = Object.entries(li.latentInput)
    .filter(([k]) => k !== 'kind')
    .map(([k, v]) => `${k} ${v}`);
  const lines: string[] = [
    `latent input ${li.latentInput.kind}${options.length ? ` (${options.join(', ')})` : ''}, ${li.mode}${li.mode === 'two-trunk' ? `, coupling ${li.coupling}` : ''}${li.freezeMarkers ? ', markers frozen' : ''}`,
  ];
  const s = d.study;
  if (s) {
    lines.push(
      `verdict: ${s.verdict} (95% paired bootstrap CIs over ${d.test.examples} test examples; Δ > 0 favours the latents)`,
    );
    lines.push(
      `  helps  vs ${s.helps ? s.helps.reference : '(no reference given)'}: result tokens ${s.helps ? interval(s.helps) : 'n/a'}, step after the span ${s.helps ? interval(s.helps.step) : 'n/a'}`,
    );
    lines.push(
      `  used   shuffled latents: result tokens ${s.used ? interval(s.used) : 'n/a'}, step after the span ${s.used ? interval(s.used.step) : 'n/a'}`,
    );
    if (s.content)
      lines.push(
        `         mean latent (training data) ${interval(s.content.mean)}, learned constant ${interval(s.content.constant)}`,
      );
    if (s.zeros) lines.push(`  zeros (out of distribution: shock, not content) ${interval(s.zeros)}`);
    if (s.spanRemoved) lines.push(`  span removed (same model, k = 0 layout) ${interval(s.spanRemoved)}`);
    if (s.contentBeyondCompute)
      lines.push(`  content beyond compute (vs ${s.contentBeyondCompute.pause}) ${interval(s.contentBeyondCompute)}`);
    for (const r of s.reasons.slice(2)) lines.push(`  ${r}`);
  }
  lines.push(
    `step ${d.step}: test loss ${f(d.test.loss)}, result tokens ${f(d.test.resultLoss)}, step after each span ${f(d.test.stepLoss)}, every token after the first span ${f(d.test.nextStepLoss)} (${d.test.examples} examples)`,
    `start classifier: precision ${f(d.start.precision)} recall ${f(d.start.recall)} F1 ${f(d.start.f1)} at 0.5; F1 ${f(d.startCalibrated?.f1 ?? NaN)} at the calibrated threshold ${f(d.startCalibrated?.threshold ?? NaN)}`,
    `norms: latent inputs ${f(d.norms.latent)} vs token embeddings ${f(d.norms.token)}`,
  );
  if (d.ablations.length) {
    lines.push(
      'latent ablations (Δ = ablated − trained, 95% bootstrap CI): result tokens | step after the span | every token after the first span',
    );
    for (const a of d.ablations)
      lines.push(
        `  ${a.name.padEnd(9)} ${f(a.resultDelta)} [${f(a.resultCi[0])}, ${f(a.resultCi[1])}] | ${f(a.stepDelta)} [${f(a.stepCi[0])}, ${f(a.stepCi[1])}] | ${f(a.delta)} [${f(a.ci[0])}, ${f(a.ci[1])}]`,
      );
  }
  if (d.recurring.length)
    lines.push(
      `most recurring decoded tokens: ${d.recurring
        .slice(0, 10)
        .map((r) => `${JSON.stringify(r.token)}×${r.count}`)
        .join(' ')}; result digit among decoded: ${(100 * d.resultHitRate).toFixed(1)}%`,
    );
  if (d.stop?.spans) {
    const st = d.stop;
    lines.push(
      `end classifier (schedule ${st.schedule}, ${st.spans} test spans, teacher-forced): stop decisions ${pct(st.decisionAccuracy)} right (majority ${pct(st.decisionBaseline)}), span length exact ${pct(st.lengthAccuracy)} (one fixed length ${pct(st.lengthBaseline)}); scheduled ${JSON.stringify(st.scheduled)}, chosen ${JSON.stringify(st.chosen)}`,
    );
  }
  if (d.spuriousSpans)
    lines.push(
      `spurious spans: ${pct(d.spuriousSpans.rate)} of the ${d.spuriousSpans.spans} spans the start classifier opened were away from a breakpoint (${d.spuriousSpans.perAnswer.toFixed(2)} spans per answer)`,
    );
  const a = d.accuracy;
  if (a && d.latents === 0) {
    lines.push(`answer accuracy (greedy, ${a.n} questions): ${pct(a.withoutLatents)}; with latents — (k = 0)`);
  } else if (a) {
    lines.push(
      `answer accuracy (greedy, ${a.n} questions): spans by the start classifier ${pct(a.withLatents)}, no spans ${pct(a.withoutLatents)}${a.oracle !== undefined ? `, spans at the gold breakpoints ${pct(a.oracle)}` : ''}${a.oracleShuffled !== undefined ? ` (shuffled latents ${pct(a.oracleShuffled)}, constant ${pct(a.oracleConstant)})` : ''}`,
    );
    lines.push(
      `  spans per answer ${a.spansPerAnswer.toFixed(2)}, ${pct(a.spansAwayFromBreakpoints)} of them away from a breakpoint; span lengths ${JSON.stringify(d.spanLengths)}`,
    );
    for (const [name, p] of Object.entries(a.paired))
      if (p)
        lines.push(
          `  ${name}: Δ ${(100 * p.delta).toFixed(1)} points [${(100 * p.ci[0]).toFixed(1)}, ${(100 * p.ci[1]).toFixed(1)}], McNemar p = ${p.pValue.toPrecision(2)} (${p.aOnly} vs ${p.bOnly} discordant)`,
        );
  } else if (d.accuracyNote) lines.push(`answer accuracy: ${d.accuracyNote}`);
  return lines.join('\n');
}
