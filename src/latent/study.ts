// The study's two endpoints and its verdict.
//
//   helps  paired difference in result-token loss between a run's matched no-span reference and the
//          run itself, on the same test examples and the same target tokens (reference − run:
//          positive means the run with latents predicts the results better). Two-trunk's reference
//          is its frozen base; full fine-tuning's is the k = 0 run with the same steps, data and lr.
//   used   content ablations on result tokens: the latents the run feeds replaced by another test
//          example's (shuffled), by their mean on training data, or by a constant learned for the
//          frozen model (ablated − trained: positive means the content mattered). The shuffled
//          ablation decides (same distribution, different content); mean and constant are reported
//          beside it. Zeros are reported separately: a zero vector is out of distribution and
//          measures shock, not content.
//
// One verdict from both (see studyVerdict), with paired bootstrap CIs over test examples.
import { mulberry32 } from '../data/random';
import { bootstrapMeanDelta } from './diagnostics';

export type StudyVerdict = 'helps' | 'used-but-no-help' | 'ignored' | 'hurts';
export const STUDY_VERDICTS: readonly StudyVerdict[] = ['helps', 'used-but-no-help', 'ignored', 'hurts'];

export interface Endpoint {
  delta: number;
  ci: [number, number];
}

export const excludesZeroAbove = (e: Endpoint): boolean => e.ci[0] > 0;
export const excludesZeroBelow = (e: Endpoint): boolean => e.ci[1] < 0;
export const includesZero = (e: Endpoint): boolean => e.ci[0] <= 0 && e.ci[1] >= 0;

export interface VerdictResult {
  verdict: StudyVerdict;
  /** one clause per endpoint, with the numbers */
  reasons: string[];
}

const fmt = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const fmtEndpoint = (e: Endpoint) => `Δ ${fmt(e.delta)} [${fmt(e.ci[0])}, ${fmt(e.ci[1])}]`;

/** An endpoint in a terminal table or line: Δ and its CI to 3 decimals, — where it was not measured. */
export function endpointText(e: Endpoint | null | undefined): string {
  return e ? `${fmt(e.delta, 3)} [${fmt(e.ci[0], 3)}, ${fmt(e.ci[1], 3)}]` : '—';
}

/** The headers of a terminal table's endpoint columns; their cells are endpointCells. */
export const ENDPOINT_HEADERS: readonly string[] = ['helps Δ [95% CI]', 'used Δ [95% CI]', 'beyond pause'];

/** One row's cells under ENDPOINT_HEADERS: helps, used, and the content beyond compute (vs the pause control). */
export function endpointCells(
  helps: Endpoint | null | undefined,
  used: Endpoint | null | undefined,
  contentBeyondCompute: Endpoint | null | undefined,
): string[] {
  return [helps, used, contentBeyondCompute].map(endpointText);
}

/** The line above a table with ENDPOINT_HEADERS that says what they measure; a row is a `subject` (a run, a variant). */
export function endpointLegend(subject: string): string {
  return `helps: result-token loss of the reference minus the ${subject}; used: shuffled latents minus trained (Δ > 0 favours the latents; paired bootstrap over test examples)`;
}

/**
 * The verdict from the two endpoints' confidence intervals. It is a verdict on the latents' content:
 *  - `ignored`: the content ablation's CI does not exclude 0 from above, so the content is not shown
 *    to be used; whatever the spans do to the loss then comes from the spans themselves (extra
 *    passes, a changed layout), and the reasons say which way it went;
 *  - `helps`: the content is used and the run beats its reference (helps CI above 0);
 *  - `hurts`: the content is used and the run is worse than its reference (helps CI below 0);
 *  - `used-but-no-help`: the content is used and the run is not distinguishable from its reference.
 * A missing endpoint (null) counts as "not shown".
 */
export function studyVerdict(helps: Endpoint | null, used: Endpoint | null): VerdictResult {
  const reasons: string[] = [];
  reasons.push(helps ? `helps (reference − run, result tokens): ${fmtEndpoint(helps)}` : 'helps: no reference');
  reasons.push(used ? `used (shuffled − trained, result tokens): ${fmtEndpoint(used)}` : 'used: no content ablation');
  const isUsed = used !== null && excludesZeroAbove(used);
  if (!isUsed) {
    const note =
      helps && excludesZeroAbove(helps)
        ? 'the spans help, but not through their content (extra computation)'
        : helps && excludesZeroBelow(helps)
          ? 'the spans cost loss, but not through their content (the layout or extra passes)'
          : 'the latents’ content makes no measurable difference';
    return { verdict: 'ignored', reasons: [...reasons, note] };
  }
  if (helps && excludesZeroAbove(helps))
    return { verdict: 'helps', reasons: [...reasons, 'the content is used and the run beats its reference'] };
  if (helps && excludesZeroBelow(helps))
    return { verdict: 'hurts', reasons: [...reasons, 'the content is used and the run is worse than its reference'] };
  return { verdict: 'used-but-no-help', reasons: [...reasons, 'the content is used, but the run does not beat its reference'] };
}

/**
 * Paired loss difference `minuend − subtrahend` (token-weighted means over the same examples and the
 * same target tokens) with a bootstrap CI over examples. Throws when an example's token counts differ:
 * then the two evaluations did not score the same tokens and the comparison would be meaningless.
 */
export function pairedLossDelta(
  minuend: readonly { sum: number; count: number }[],
  subtrahend: readonly { sum: number; count: number }[],
  { seed = 0, resamples = 1000 } = {},
): Endpoint {
  if (minuend.length !== subtrahend.length)
    throw new RangeError(
      `paired loss: ${minuend.length} vs ${subtrahend.length} examples; both sides must score the same examples`,
    );
  minuend.forEach((m, i) => {
    if (m.count !== subtrahend[i].count)
      throw new RangeError(
        `paired loss: example ${i} scores ${m.count} tokens on one side and ${subtrahend[i].count} on the other; the layouts do not share their target tokens`,
      );
  });
  // bootstrapMeanDelta(a, b) is mean(b) − mean(a)
  return bootstrapMeanDelta([...subtrahend], [...minuend], { seed, resamples });
}

export interface PairedAccuracy {
  /** accuracy of a and of b, and a − b */
  a: number;
  b: number;
  delta: number;
  /** paired bootstrap CI of a − b over questions */
  ci: [number, number];
  /** discordant pairs: a right and b wrong, a wrong and b right */
  aOnly: number;
  bOnly: number;
  /** exact two-sided McNemar p-value (binomial test on the discordant pairs) */
  pValue: number;
  n: number;
}

/** Two-sided exact binomial p-value of k successes out of n at p = 1/2 (the exact McNemar test). */
export function mcnemarExactP(aOnly: number, bOnly: number): number {
  const n = aOnly + bOnly;
  if (n === 0) return 1;
  const k = Math.min(aOnly, bOnly);
  // P(X <= k) for X ~ Bin(n, 1/2), in log space so large n stays finite
  let logC = 0; // log C(n, 0)
  let tail = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logC += Math.log(n - i + 1) - Math.log(i);
    tail += Math.exp(logC - n * Math.LN2);
  }
  return Math.min(1, 2 * tail);
}

/** Paired comparison of two correctness vectors over the same questions: McNemar's exact test and a bootstrap CI of the accuracy difference. */
export function pairedAccuracy(
  a: readonly boolean[],
  b: readonly boolean[],
  { seed = 0, resamples = 1000, confidence = 0.95 } = {},
): PairedAccuracy {
  if (a.length !== b.length)
    throw new RangeError(`paired accuracy: ${a.length} vs ${b.length} questions; both must answer the same questions`);
  const n = a.length;
  let aOnly = 0;
  let bOnly = 0;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < n; i++) {
    sa += a[i] ? 1 : 0;
    sb += b[i] ? 1 : 0;
    if (a[i] && !b[i]) aOnly++;
    if (b[i] && !a[i]) bOnly++;
  }
  if (n === 0) return { a: NaN, b: NaN, delta: NaN, ci: [NaN, NaN], aOnly: 0, bOnly: 0, pValue: 1, n: 0 };
  const diff = a.map((x, i) => (x ? 1 : 0) - (b[i] ? 1 : 0));
  const rand = mulberry32(seed);
  const stats: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += diff[Math.floor(rand() * n)];
    stats.push(s / n);
  }
  stats.sort((x, y) => x - y);
  const lo = stats[Math.floor(((1 - confidence) / 2) * resamples)];
  const hi = stats[Math.min(resamples - 1, Math.ceil(((1 + confidence) / 2) * resamples) - 1)];
  return { a: sa / n, b: sb / n, delta: (sa - sb) / n, ci: [lo, hi], aOnly, bOnly, pValue: mcnemarExactP(aOnly, bOnly), n };
}

/** Mean and between-seed spread (sample standard deviation, min, max) of one number across seeds. */
export function acrossSeeds(values: readonly number[]): { mean: number; sd: number; min: number; max: number; n: number } {
  const v = values.filter(Number.isFinite);
  const n = v.length;
  if (!n) return { mean: NaN, sd: NaN, min: NaN, max: NaN, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, min: Math.min(...v), max: Math.max(...v), n };
}

export interface CalibrationCase {
  name: string;
  verdict: StudyVerdict;
  helps: Endpoint | null;
  used: Endpoint | null;
}

export interface Calibration {
  passed: boolean;
  positive: { name: string; expected: 'helps'; verdict: StudyVerdict; passed: boolean } | null;
  null: { name: string; expected: 'ignored'; verdict: StudyVerdict; usedCiIncludesZero: boolean; passed: boolean } | null;
}

/**
 * Whether the instrument recognised its planted cases: the planted positive must come out `helps`
 * (content used, run beats its reference), the planted null `ignored` with a content CI that includes 0.
 * With either case missing, the calibration has not passed.
 */
export function calibrate(positive: CalibrationCase | null, nul: CalibrationCase | null): Calibration {
  const pos = positive
    ? { name: positive.name, expected: 'helps' as const, verdict: positive.verdict, passed: positive.verdict === 'helps' }
    : null;
  const usedCiIncludesZero = nul?.used ? includesZero(nul.used) : false;
  const nulResult = nul
    ? {
        name: nul.name,
        expected: 'ignored' as const,
        verdict: nul.verdict,
        usedCiIncludesZero,
        passed: nul.verdict === 'ignored' && usedCiIncludesZero,
      }
    : null;
  return { passed: !!pos?.passed && !!nulResult?.passed, positive: pos, null: nulResult };
}
