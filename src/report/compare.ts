// The page of `latent compare`: the study's endpoints of every variant side by side (helps and used
// with their CIs, the verdict, accuracy, norms, decoded-token statistics), two interval charts, and
// the ordinary multi-run report of the variants' run directories (curves, ablations, samples) beside it.
import * as path from 'path';
import type { Endpoint } from '../latent/study';
import type { CompareResult, CompareRow } from '../train/compare';
import { writeTextAtomic } from '../util/atomic-write';
import { formatNumber, formatPercent, formatToken, html, htmlTable, trustedHtml, type SafeHtml } from './html';
import { intervalBarSpec, renderSvg } from './plots';
import { writeReport } from './run';
import { reportDocument } from './sections';

const interval = (e: Endpoint | null): string =>
  e ? `${formatNumber(e.delta, 3)} [${formatNumber(e.ci[0], 3)}, ${formatNumber(e.ci[1], 3)}]` : '—';

const describeInterface = (r: CompareRow): string => {
  const v = r.variant;
  const parts = [v.mode, v.latents > 0 ? v.latentInput : null, v.mode === 'two-trunk' ? v.coupling : null, `k=${v.latents}`];
  if (v.markersAtZero) parts.push('markers only');
  if (v.freezeMarkers) parts.push('markers frozen');
  if (v.latentSchedule !== 'fixed') parts.push(`schedule ${v.latentSchedule}`);
  return parts.filter((p) => p !== null).join(', ');
};

const accuracyOf = (r: CompareRow) => (r.accuracy ? (r.accuracy.withLatents ?? r.accuracy.withoutLatents) : undefined);

/** The endpoints table: one row per variant. */
export function comparisonTable(c: CompareResult): SafeHtml {
  const headers = [
    'variant',
    'interface',
    'verdict',
    'helps Δ [95% CI]',
    'vs',
    'used Δ [95% CI]',
    'beyond pause',
    'zeros (shock)',
    'result-token loss',
    'accuracy',
    'no spans',
    'oracle spans',
    'latent / token norm',
    'result digit decoded',
    'recurring decoded tokens',
    'start F1',
    'stop decisions',
    'spurious spans',
  ];
  const rows = c.rows.map((r) => [
    html`<b>${r.name}</b>`,
    describeInterface(r),
    r.verdict ?? '— (reference)',
    interval(r.helps),
    r.verdict ? (r.reference ?? '—') : '',
    interval(r.used),
    interval(r.contentBeyondCompute),
    interval(r.zeros),
    formatNumber(r.test.resultLoss),
    r.accuracy ? formatPercent(accuracyOf(r)) : (r.accuracyNote ?? '—'),
    formatPercent(r.accuracy?.withoutLatents),
    formatPercent(r.accuracy?.oracle ?? undefined),
    r.variant.latents > 0 ? `${formatNumber(r.norms.latent, 3)} / ${formatNumber(r.norms.token, 3)}` : '—',
    r.decoded.latents ? formatPercent(r.decoded.resultHitRate) : '—',
    r.decoded.recurring.length ? r.decoded.recurring.map((t) => `${formatToken(t.token)}×${t.count}`).join(' ') : '—',
    formatNumber(r.startF1Calibrated, 3),
    r.stopDecisionAccuracy === null ? '—' : formatPercent(r.stopDecisionAccuracy),
    r.spuriousSpans ? `${formatPercent(r.spuriousSpans.rate)} of ${r.spuriousSpans.spans}` : '—',
  ]);
  return htmlTable(headers, rows, { numeric: [8, 9, 10, 11, 12, 13, 15, 16] });
}

export interface ComparisonReport {
  /** OUT/compare.html */
  htmlPath: string;
  /** the variants' multi-run report (OUT/report/report.html) */
  runsReportPath: string;
  warnings: string[];
}

/** Builds the comparison page (plots inline); `runsReport` is the relative link to the variants' report. */
export async function buildComparisonPage(c: CompareResult, runsReport: string): Promise<{ html: string; warnings: string[] }> {
  const compared = c.rows.filter((r) => r.verdict !== null);
  const warnings: string[] = [];
  const chart = async (title: string, pick: (r: CompareRow) => Endpoint | null, yTitle: string) => {
    const bars = compared.flatMap((r) => {
      const e = pick(r);
      return e ? [{ label: r.name, value: e.delta, lo: e.ci[0], hi: e.ci[1] }] : [];
    });
    if (!bars.length) return html``;
    const rendered = await renderSvg(
      intervalBarSpec(bars, { title, yTitle, width: Math.max(240, 90 * bars.length) }),
      `cmp-${yTitle}`,
    );
    warnings.push(...rendered.warnings);
    return html`<figure class="plot">${trustedHtml(rendered.svg)}</figure>`;
  };
  const b = c.budget;
  const title = `Comparison of ${c.rows.length} latent interfaces under one budget`;
  const reasons = compared.map((r) => html`<li><b>${r.name}</b> (${r.verdict}): ${r.reasons.join('; ')}</li>`);
  const body = html`<p>
      Base model <code>${String(b.model)}</code>, data <code>${String(b.data)}</code>; every run ${String(b.steps)} steps, batch
      ${String(b.batchSize)}, lr ${String(b.lr)}, seed ${String(b.seed)}. Evaluated on ${c.rows[0]?.test.examples ?? 0} test
      examples (losses, ablations) and ${String(c.evaluation.generate)} questions (accuracy).
    </p>
    <p class="note">
      helps: result-token loss of the variant's matched no-span reference minus the variant's (the k = 0 run for full fine-tuning,
      the frozen base for two-trunk); used: the same loss with the latents shuffled across test examples minus as fed; beyond
      pause: the pause-as-thought run of the same mode and k minus the variant. Δ > 0 favours the latents; 95% paired bootstrap
      CIs over test examples. Curves, ablations and samples of every run:
      <a href="${runsReport}">${runsReport}</a>.
    </p>
    <section id="endpoints">
      <h2>Endpoints side by side</h2>
      ${comparisonTable(c)}
    </section>
    <section id="charts">
      <h2>helps and used</h2>
      <div class="grid">
        ${await chart('helps: reference − variant (result tokens)', (r) => r.helps, 'helps')}
        ${await chart('used: shuffled − trained (result tokens)', (r) => r.used, 'used')}
      </div>
    </section>
    <section id="verdicts">
      <h2>Verdicts</h2>
      <ul>
        ${reasons}
      </ul>
    </section>`;
  return { html: reportDocument('compare', title, body), warnings };
}

/** Writes OUT/compare.html and the variants' multi-run report under OUT/report. */
export async function writeComparisonReport(c: CompareResult, out = c.out): Promise<ComparisonReport> {
  const runs = await writeReport(
    c.rows.map((r) => r.dir),
    { out: path.join(out, 'report'), title: `latent compare: ${c.rows.map((r) => r.name).join(', ')}` },
  );
  const { html: page, warnings } = await buildComparisonPage(c, path.relative(out, runs.htmlPath));
  const htmlPath = path.join(out, 'compare.html');
  writeTextAtomic(htmlPath, page);
  return { htmlPath, runsReportPath: runs.htmlPath, warnings: [...warnings, ...runs.plotWarnings.map((w) => w.message)] };
}
