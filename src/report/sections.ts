// The report's sections, built from parsed runs. A section appears only when some run has data
// for it; per-run diagnostics get one subsection per run. All text goes through the escaping `html`
// template; only rendered SVG is inserted verbatim.
import type { TopLevelSpec } from 'vega-lite';
import {
  SafeHtml,
  formatInterval,
  formatNumber,
  formatPercent,
  formatToken,
  html,
  htmlTable,
  slugify,
  trustedHtml,
  type HtmlValue,
} from './html';
import { countBarSpec, intervalBarSpec, lineChartSpec, renderSvg, type LinePoint, type Split } from './plots';
import { type EvalField, type Interval, type MetricField, type RolloutSample, type RunData } from './types';
import { acrossSeeds } from '../latent/study';

export interface ReportPlot {
  /** File name under plots/. */
  file: string;
  svg: string;
  warnings: string[];
}

interface Section {
  id: string;
  title: string;
  body: SafeHtml;
}

/** Rows shown in long tables; the rest are counted in a note. */
const MAX_DECODED_ROWS = 50;
const MAX_RECURRING_TOKENS = 25;
const SAMPLES_PER_RUN = 8;
const ISSUES_SHOWN_PER_RUN = 20;

/** Renders plots and remembers them so they can also be written as files. */
class PlotCollector {
  readonly plots: ReportPlot[] = [];
  private readonly names = new Set<string>();

  async figure(name: string, spec: TopLevelSpec, caption?: HtmlValue): Promise<SafeHtml> {
    let base = slugify(name);
    for (let i = 2; this.names.has(base); i++) base = `${slugify(name)}-${i}`;
    this.names.add(base);
    const file = `${base}.svg`;
    const { svg, warnings } = await renderSvg(spec, `plot-${base}`);
    this.plots.push({ file, svg, warnings });
    return html`<figure class="plot">
      ${trustedHtml(svg)}
      <figcaption>${caption ? html`${caption} ` : ''}<a href="plots/${file}">${file}</a></figcaption>
    </figure>`;
  }
}

// ---------------------------------------------------------------------------------------------
// Run facts

const latentsOf = (run: RunData) => run.config?.latents;
/** The latent interface of a phase-1 run's config: input form (runs older than the option: affine), coupling, frozen markers. */
function interfaceOf(run: RunData): string {
  const c = run.config;
  if (!c || c.kind !== 'sft') return '—';
  const form = typeof c.latentInput === 'string' ? c.latentInput : 'affine';
  const parts = [
    form === 'soft' || form === 'gated' ? `${form} (T=${formatNumber(c.latentTemperature as number | undefined)})` : form,
  ];
  if (c.mode === 'two-trunk') parts.push(typeof c.coupling === 'string' ? c.coupling : 'shared-kv');
  if (c.freezeMarkers === true) parts.push('markers frozen');
  return parts.join(', ');
}
const isBaseline = (run: RunData) => latentsOf(run) === 0;

/** How a run is named in legends: its name, with k when several runs are compared. */
function runLabel(run: RunData, runs: readonly RunData[]): string {
  if (runs.length === 1) return run.name;
  const k = latentsOf(run);
  if (k === undefined) return run.name;
  return isBaseline(run) ? `${run.name} (k=0 baseline)` : `${run.name} (k=${k})`;
}

function lastValue<T extends { step: number }, F extends keyof T>(
  records: readonly T[],
  field: F,
  filter: (r: T) => boolean = () => true,
): number | undefined {
  for (let i = records.length - 1; i >= 0; i--) {
    const v = records[i][field];
    if (filter(records[i]) && typeof v === 'number') return v;
  }
  return undefined;
}

const finalEval = (run: RunData, split: 'validation' | 'test', field: EvalField = 'loss') =>
  lastValue(run.evals, field, (r) => r.split === split);
const hasMetric = (run: RunData, field: MetricField) => run.metrics.some((m) => m[field] !== undefined);
const hasEval = (run: RunData, field: EvalField) => run.evals.some((e) => e[field] !== undefined);
const isRlRun = (run: RunData) => run.config?.kind === 'rl' || hasMetric(run, 'reward');

function trainPoints(run: RunData, field: MetricField, series: string, panel?: string, band?: MetricField): LinePoint[] {
  const points: LinePoint[] = [];
  for (const m of run.metrics) {
    const value = m[field];
    if (value === undefined) continue;
    const p: LinePoint = { step: m.step, value, series, split: 'train' };
    if (panel !== undefined) p.panel = panel;
    const spread = band === undefined ? undefined : m[band];
    if (spread !== undefined) Object.assign(p, { lo: value - spread, hi: value + spread });
    points.push(p);
  }
  return points;
}

function evalPoints(run: RunData, field: EvalField, series: (split: Split) => string, panel?: string): LinePoint[] {
  const points: LinePoint[] = [];
  for (const e of run.evals) {
    const value = e[field];
    if (value === undefined) continue;
    const p: LinePoint = { step: e.step, value, series: series(e.split), split: e.split };
    if (panel !== undefined) p.panel = panel;
    points.push(p);
  }
  return points;
}

const FIELD_NAMES: Record<MetricField | EvalField, string> = {
  time: 'time (s)',
  loss: 'loss',
  nextStepLoss: 'loss after the first span (every later token)',
  resultLoss: 'result loss',
  startLoss: 'start-classifier loss',
  stopLoss: 'end-classifier loss',
  lr: 'learning rate',
  gradNorm: 'gradient norm',
  latentNorm: 'latent norm',
  tokenNorm: 'token embedding norm',
  tokensPerSec: 'tokens / s',
  reward: 'reward',
  rewardStd: 'reward std',
  accuracy: 'accuracy',
  kl: 'KL to reference',
  clipFraction: 'clip fraction',
  entropy: 'entropy',
  spansPerAnswer: 'latent spans per answer',
  latentsPerSpan: 'latents per span',
  tokensPerAnswer: 'tokens per answer',
  startPrecision: 'start precision',
  startRecall: 'start recall',
  startF1: 'start F1',
  wellFormed: 'well-formed answers',
  degenerateGroups: 'groups without signal',
  rolloutTokensPerSec: 'rollout positions / s',
  rolloutSeconds: 'rollout time (s)',
  updateSeconds: 'update time (s)',
  stepLoss: 'loss of the step after each span',
  startThreshold: 'calibrated start threshold',
  startF1Calibrated: 'start F1 (calibrated)',
  stopDecisionAccuracy: 'stop decisions right',
  stopLengthAccuracy: 'spans of the scheduled length',
  n: 'questions',
  accuracyWithoutLatents: 'accuracy without latents',
  passAtK: 'pass@k',
  passAtKWithoutLatents: 'pass@k without latents',
  k: 'k of pass@k',
};

// ---------------------------------------------------------------------------------------------
// Chart builders shared by sections

/**
 * One quantity logged both in training and in evaluations. With one run: train solid, splits dashed.
 * With several: one panel per run side by side on a shared y axis (the k=0 baseline among them), and
 * an overlay of the evaluation curves across runs.
 */
async function trainEvalCharts(
  plots: PlotCollector,
  runs: readonly RunData[],
  field: MetricField & EvalField,
  note?: string,
): Promise<SafeHtml[]> {
  const name = FIELD_NAMES[field];
  const several = runs.length > 1;
  const points = runs.flatMap((run) => {
    const panel = several ? runLabel(run, runs) : undefined;
    return [...trainPoints(run, field, 'train', panel), ...evalPoints(run, field, (split) => split, panel)];
  });
  if (!points.length) return [];
  const figures = [
    await plots.figure(
      `${field}`,
      lineChartSpec(points, {
        title: several ? `${name}: train vs evaluation, per run` : `${name}: train vs evaluation`,
        yTitle: name,
        seriesTitle: 'split',
      }),
      note,
    ),
  ];
  const evalOverlay = runs.flatMap((run) => evalPoints(run, field, () => runLabel(run, runs)));
  if (several && evalOverlay.length) {
    figures.push(
      await plots.figure(
        `${field}-eval-by-run`,
        lineChartSpec(evalOverlay, { title: `${name} on evaluation splits, by run`, yTitle: name, seriesTitle: 'run' }),
      ),
    );
  }
  return figures;
}

/** Several training metrics of one kind in one chart (one panel per run when several runs). */
async function metricsChart(
  plots: PlotCollector,
  runs: readonly RunData[],
  fields: readonly MetricField[],
  name: string,
  title: string,
  yTitle: string,
): Promise<SafeHtml[]> {
  const several = runs.length > 1;
  const points = runs.flatMap((run) =>
    fields.flatMap((f) => trainPoints(run, f, FIELD_NAMES[f], several ? runLabel(run, runs) : undefined)),
  );
  if (!points.length) return [];
  return [
    await plots.figure(name, lineChartSpec(points, { title, yTitle, seriesTitle: fields.length > 1 ? 'metric' : undefined })),
  ];
}

/** One training metric (optionally with its evaluation counterpart), runs overlaid in colour. */
async function runsOverlayChart(
  plots: PlotCollector,
  runs: readonly RunData[],
  field: MetricField,
  options: { evalField?: EvalField; band?: MetricField; caption?: string } = {},
): Promise<SafeHtml[]> {
  const name = FIELD_NAMES[field];
  const points = runs.flatMap((run) => {
    const label = runLabel(run, runs);
    const evalSeries = runs.length > 1 ? () => label : (split: Split) => split;
    return [
      ...trainPoints(run, field, runs.length > 1 ? label : 'train', undefined, options.band),
      ...(options.evalField ? evalPoints(run, options.evalField, evalSeries) : []),
    ];
  });
  if (!points.length) return [];
  const bandNote = options.band && points.some((p) => p.lo !== undefined) ? ` (band: ± ${FIELD_NAMES[options.band]})` : '';
  return [
    await plots.figure(
      field,
      lineChartSpec(points, { title: `${name}${bandNote}`, yTitle: name, seriesTitle: runs.length > 1 ? 'run' : 'split' }),
      options.caption,
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Sections

const intervalText = (e: Interval | undefined) => (e ? `${formatNumber(e.delta)} ${formatInterval(e.ci)}` : '—');

/**
 * The study's verdict table: one row per run with study endpoints (diagnostics.json "study"), the
 * verdict beside the numbers it rests on. Empty when no run has them.
 */
function verdictTable(runs: readonly RunData[]): SafeHtml | '' {
  const rows = runs
    .filter((r) => r.diagnostics?.study)
    .map((run) => {
      const s = run.diagnostics!.study!;
      const a = run.diagnostics?.accuracy;
      return [
        html`<span title="${run.dir}">${run.name}</span>`,
        html`<b class="verdict-${s.verdict}">${s.verdict}</b>`,
        intervalText(s.helps),
        s.helps?.reference ?? '—',
        intervalText(s.used),
        intervalText(s.contentBeyondCompute),
        intervalText(s.zeros),
        a?.withLatents !== undefined && (latentsOf(run) ?? 0) > 0 ? formatPercent(a.withLatents) : '—',
        a?.oracle !== undefined ? formatPercent(a.oracle) : '—',
        a?.withoutLatents !== undefined ? formatPercent(a.withoutLatents) : '—',
      ];
    });
  if (!rows.length) return '';
  return html`${htmlTable(
      [
        'run',
        'verdict',
        'helps Δ [95% CI]',
        'reference',
        'used Δ [95% CI]',
        'beyond pause Δ [95% CI]',
        'zeros Δ [95% CI]',
        'accuracy (classifier spans)',
        'accuracy (oracle spans)',
        'accuracy (no spans)',
      ],
      rows,
      { numeric: [2, 4, 5, 6, 7, 8, 9] },
    )}
    <p class="note">
      Result-token losses, paired over the same test examples (bootstrap CIs); Δ &gt; 0 favours the latents. <b>helps</b>: the
      reference's loss minus the run's; <b>used</b>: with latents shuffled across examples minus as trained; <b>beyond pause</b>:
      the pause-as-thought run's loss minus this run's; <b>zeros</b> (out of distribution: shock, not content). Verdict:
      <i>ignored</i> when used does not exclude 0 from above (then whatever the spans do is not the latents' content); else
      <i>helps</i>, <i>hurts</i> or <i>used-but-no-help</i> as helps is above 0, below 0 or neither.
    </p>`;
}

/** The name of a run without its seed suffix (`full-k2-s1` → `full-k2`): the demo's runs of one configuration share it. */
const withoutSeed = (name: string) => name.replace(/-s\d+$/, '');
/** The accuracy a run is judged by: with its spans (start classifier) when it has latents, else without spans. */
const headlineAccuracy = (run: RunData) => {
  const a = run.diagnostics?.accuracy;
  return (latentsOf(run) ?? 0) > 0 ? a?.withLatents : a?.withoutLatents;
};
const spreadText = (values: (number | undefined)[], format: (x: number) => string) => {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (!v.length) return '—';
  const s = acrossSeeds(v);
  return v.length > 1 ? `${format(s.mean)} (sd ${format(s.sd)}; ${format(s.min)} to ${format(s.max)})` : format(s.mean);
};
const pointsText = (x: number) => `${formatNumber(100 * x, 3)}%`;

/**
 * The spread between seeds: runs whose names differ only by their seed suffix (`-s0`, `-s1`, …) are one
 * configuration; per configuration the mean, sample standard deviation and range of helps, used and
 * accuracy over its seeds, and its verdicts. Empty unless some configuration ran at two seeds or more.
 */
function seedSpreadTable(runs: readonly RunData[]): SafeHtml | '' {
  const groups = new Map<string, RunData[]>();
  for (const run of runs.filter((r) => r.diagnostics)) {
    const key = withoutSeed(run.name);
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  const rows = [...groups.entries()]
    .filter(([, rs]) => rs.length > 1)
    .map(([name, rs]) => {
      const verdicts = new Map<string, number>();
      for (const r of rs) {
        const v = r.diagnostics?.study?.verdict ?? 'reference';
        verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
      }
      return [
        name,
        formatNumber(rs.length),
        [...verdicts.entries()].map(([v, n]) => `${v} ×${n}`).join(', '),
        spreadText(
          rs.map((r) => r.diagnostics?.study?.helps?.delta),
          (x) => formatNumber(x, 3),
        ),
        spreadText(
          rs.map((r) => r.diagnostics?.study?.used?.delta),
          (x) => formatNumber(x, 3),
        ),
        spreadText(rs.map(headlineAccuracy), pointsText),
      ];
    });
  if (!rows.length) return '';
  return html`<h3>Between seeds</h3>
    ${htmlTable(['run (all seeds)', 'seeds', 'verdicts', 'helps Δ: mean (sd; min to max)', 'used Δ', 'accuracy'], rows, {
      numeric: [1, 3, 4, 5],
    })}
    <p class="note">
      Runs named alike but for their seed (phase-1 initialisation and data order). sd is the sample standard deviation over seeds:
      it measures how much a verdict depends on the seed, which the per-run bootstrap CIs (over test examples) do not. Accuracy is
      with the start classifier's spans for runs with latents, without spans for k = 0.
    </p>`;
}

/** The task of a run: its data directory's name (the demo writes one per task). */
const taskOf = (run: RunData) => (typeof run.config?.data === 'string' ? run.config.data.split(/[\\/]/).pop()! : '—');

/**
 * The dose-response: full fine-tuning with plain latents (the k = 0 baseline and every k of the sweep)
 * per task, one row per k: helps and used with each seed's paired CI, and their mean over seeds.
 * Pause-as-thought, markers-only and the planted runs are controls, not doses, and are left out.
 * Empty unless some task has at least two values of k.
 */
function doseResponseTable(runs: readonly RunData[]): SafeHtml | '' {
  const doses = runs.filter(
    (r) =>
      r.diagnostics &&
      r.config?.mode === 'full' &&
      latentsOf(r) !== undefined &&
      (r.config.latentInput === undefined || r.config.latentInput === 'affine') &&
      r.config.markersAtZero !== true,
  );
  const byTask = new Map<string, Map<number, RunData[]>>();
  for (const r of doses) {
    const ks = byTask.get(taskOf(r)) ?? new Map<number, RunData[]>();
    ks.set(latentsOf(r)!, [...(ks.get(latentsOf(r)!) ?? []), r]);
    byTask.set(taskOf(r), ks);
  }
  const rows: HtmlValue[][] = [];
  for (const [task, ks] of byTask) {
    if (ks.size < 2) continue;
    for (const [k, rs] of [...ks.entries()].sort((a, b) => a[0] - b[0])) {
      const perSeed = (pick: (r: RunData) => Interval | undefined) => {
        const e = rs.map(pick).filter((x): x is Interval => x !== undefined);
        if (!e.length) return k === 0 ? 'reference' : '—';
        const mean = e.reduce((a, x) => a + x.delta, 0) / e.length;
        const each = e.map(intervalText).join('; ');
        return e.length > 1 ? `${formatNumber(mean, 3)} (${each})` : each;
      };
      rows.push([
        task,
        formatNumber(k),
        formatNumber(rs.length),
        perSeed((r) => r.diagnostics?.study?.helps),
        perSeed((r) => r.diagnostics?.study?.used),
        spreadText(
          rs.map((r) => finalEval(r, 'test', 'resultLoss')),
          (x) => formatNumber(x, 3),
        ),
        spreadText(rs.map(headlineAccuracy), pointsText),
      ]);
    }
  }
  if (!rows.length) return '';
  return html`<h3>Dose-response: full fine-tuning by k</h3>
    ${htmlTable(
      [
        'task',
        'k',
        'runs',
        'helps Δ: mean (each run [95% CI])',
        'used Δ: mean (each run [95% CI])',
        'test result-token loss',
        'accuracy',
      ],
      rows,
      { numeric: [1, 2, 3, 4, 5, 6] },
    )}
    <p class="note">
      One row per number of latents k, over the seeds that ran it; k = 0 is the no-span reference of the others. Each bracket is
      one run's 95% paired bootstrap CI over test examples (Δ &gt; 0 favours the latents); the number before them is their mean. A
      dose-response would show helps and used growing with k.
    </p>`;
}

function overviewSection(runs: readonly RunData[]): Section {
  const baseline = runs.length > 1 ? runs.find(isBaseline) : undefined;
  const baselineTest = baseline ? finalEval(baseline, 'test') : undefined;
  const headers = [
    'run',
    'kind',
    'mode',
    'latent input',
    'latents (k)',
    'steps',
    'final train loss',
    'final validation loss',
    'final test loss',
  ];
  if (baseline) headers.push(`Δ test loss vs ${baseline.name}`);
  headers.push('accuracy with latents', 'accuracy without latents', 'skipped lines');
  const rows = runs.map((run) => {
    const test = finalEval(run, 'test');
    const accuracy = run.diagnostics?.accuracy;
    const n = accuracy?.n !== undefined ? ` (n=${formatNumber(accuracy.n)})` : '';
    const row: HtmlValue[] = [
      html`<span title="${run.dir}">${run.name}</span>`,
      run.config?.kind ?? '—',
      run.config?.mode ?? '—',
      interfaceOf(run),
      formatNumber(latentsOf(run)),
      formatNumber(run.metrics.at(-1)?.step),
      formatNumber(lastValue(run.metrics, 'loss')),
      formatNumber(finalEval(run, 'validation')),
      formatNumber(test),
    ];
    if (baseline)
      row.push(run === baseline || test === undefined || baselineTest === undefined ? '—' : formatNumber(test - baselineTest));
    row.push(
      // a k = 0 run never opens a span: its "with latents" accuracy would only repeat the other column
      accuracy?.withLatents !== undefined && latentsOf(run) !== 0 ? formatPercent(accuracy.withLatents) + n : '—',
      accuracy?.withoutLatents !== undefined ? formatPercent(accuracy.withoutLatents) + n : '—',
      formatNumber(run.skippedLines),
    );
    return row;
  });
  const numeric = headers.map((_, i) => i).filter((i) => i >= 3);
  const dirs = html`<ul class="dirs">
    ${runs.map((r) => html`<li><b>${r.name}</b>: <code>${r.dir}</code></li>`)}
  </ul>`;
  const notes = html`<p class="note">
    Final losses are the last logged values; accuracies come from <code>latent eval</code> (diagnostics.json).${
      baseline ? ` Negative Δ means lower test loss than the k=0 baseline.` : ''
    }
  </p>`;
  return {
    id: 'overview',
    title: 'Overview',
    body: html`${verdictTable(runs)}${doseResponseTable(runs)}${seedSpreadTable(runs)}${htmlTable(headers, rows, { numeric })}${notes}${dirs}`,
  };
}

async function curvesSection(
  plots: PlotCollector,
  runs: readonly RunData[],
  includeAccuracy: boolean,
): Promise<Section | undefined> {
  const figures: SafeHtml[] = [
    ...(await trainEvalCharts(plots, runs, 'loss')),
    ...(await trainEvalCharts(
      plots,
      runs,
      'nextStepLoss',
      'Loss on every solution token after the first latent span (it pools all later steps).',
    )),
    ...(await trainEvalCharts(plots, runs, 'resultLoss', 'Loss on the result of each annotated calculation.')),
    ...(await metricsChart(plots, runs, ['startLoss', 'stopLoss'], 'classifier-losses', 'start/end classifier losses', 'loss')),
    ...(includeAccuracy ? await runsOverlayChart(plots, runs, 'accuracy', { evalField: 'accuracy' }) : []),
    ...(await runsOverlayChart(plots, runs, 'lr')),
    ...(await runsOverlayChart(plots, runs, 'gradNorm')),
    ...(await runsOverlayChart(plots, runs, 'tokensPerSec')),
  ];
  if (!figures.length) return undefined;
  return { id: 'curves', title: 'Training curves', body: html`<div class="grid">${figures}</div>` };
}

/**
 * Per run: the study's verdict (src/latent/study.ts: helps and used endpoints on result tokens) with
 * its reasons, the ablation table and chart, and accuracy.
 */
async function utilisationSection(plots: PlotCollector, runs: readonly RunData[]): Promise<Section | undefined> {
  const parts: SafeHtml[] = [];
  for (const run of runs) {
    const d = run.diagnostics;
    if (!d || (!d.ablations.length && !d.accuracy)) continue;
    const heading = runs.length > 1 ? html`<h3>${run.name}</h3>` : '';
    const acc = d.accuracy;
    const n = acc?.n !== undefined ? ` (n=${formatNumber(acc.n)})` : '';
    const accuracy = !acc
      ? ''
      : latentsOf(run) === 0
        ? html`<p>Answer accuracy <b>${formatPercent(acc.withoutLatents)}</b>${n} (k = 0: no latents).</p>`
        : html`<p>
            Answer accuracy with spans opened by the start classifier <b>${formatPercent(acc.withLatents)}</b>, without spans
            <b>${formatPercent(acc.withoutLatents)}</b>${
              acc.oracle !== undefined ? html`, with spans at the gold breakpoints <b>${formatPercent(acc.oracle)}</b>` : ''
            }${acc.oracleShuffled !== undefined ? html` (latents shuffled across questions ${formatPercent(acc.oracleShuffled)}, a constant ${formatPercent(acc.oracleConstant)})` : ''}${n}.${
              acc.spansAwayFromBreakpoints !== undefined
                ? ` ${formatPercent(acc.spansAwayFromBreakpoints)} of the classifier's spans opened away from a breakpoint.`
                : ''
            }
          </p>`;
    if (!d.ablations.length) {
      parts.push(html`${heading}${accuracy}`);
      continue;
    }
    const study = d.study;
    const table = htmlTable(
      [
        'ablation',
        'loss after the first span',
        'result loss',
        'Δ loss after the first span (ablated − trained)',
        'confidence interval',
      ],
      d.ablations.map((a) => [
        a.name,
        formatNumber(a.nextStepLoss),
        formatNumber(a.resultLoss),
        formatNumber(a.delta),
        formatInterval(a.ci),
      ]),
      { numeric: [1, 2, 3, 4] },
    );
    const bars = d.ablations
      .filter((a) => a.name !== 'trained' && a.delta !== undefined)
      .map((a) => ({ label: a.name, value: a.delta!, ...(a.ci ? { lo: a.ci[0], hi: a.ci[1] } : {}) }));
    const chart = bars.length
      ? await plots.figure(
          `ablations-${run.name}`,
          intervalBarSpec(bars, {
            title: runs.length > 1 ? `ablation deltas: ${run.name}` : 'ablation deltas',
            yTitle: 'Δ loss (ablated − trained)',
          }),
          'Error bars: confidence intervals.',
        )
      : '';
    const verdict = study
      ? html`<p class="verdict ${study.verdict === 'helps' ? 'used' : 'unused'}">Verdict: <b>${study.verdict}</b></p>
          <p class="note">${study.reasons.join('; ')}.</p>`
      : html`<p class="verdict unused">Verdict: <b>not computed</b></p>
          <p class="note">diagnostics.json has no study endpoints; run <code>latent eval</code> again.</p>`;
    parts.push(
      html`${heading}${verdict}${accuracy}
        <div class="grid">${table}${chart}</div>`,
    );
  }
  if (!parts.length) return undefined;
  return {
    id: 'utilisation',
    title: 'Latent utilisation',
    body: html`<p class="note">
        Each ablation replaces the latents the run feeds (zeros, their mean on training data, latents shuffled across examples, a
        learned constant) and measures the loss again; Δ &gt; 0 means the model relied on them. The verdict reads the shuffled
        ablation on result tokens (content) together with the comparison against the run's no-span reference (helps); zeros are
        out of distribution and are not part of it.
      </p>
      ${parts}`,
  };
}

const tokenList = (scores: readonly { token: string; score: number }[], format: (s: number) => string) =>
  scores.map((s, i) => html`${i ? ', ' : ''}<code>${formatToken(s.token)}</code>&nbsp;${format(s.score)}`);

async function decodedSection(plots: PlotCollector, runs: readonly RunData[]): Promise<Section | undefined> {
  const parts: SafeHtml[] = [];
  for (const run of runs) {
    const d = run.diagnostics;
    if (!d || (!d.decoded.length && !d.recurring.length && d.resultHitRate === undefined)) continue;
    const heading = runs.length > 1 ? html`<h3>${run.name}</h3>` : '';
    const hitRate =
      d.resultHitRate !== undefined
        ? html`<p>
            The annotated result appears among the decoded tokens for <b>${formatPercent(d.resultHitRate)}</b> of latents.
          </p>`
        : '';
    const shown = d.decoded.slice(0, MAX_DECODED_ROWS);
    const table = shown.length
      ? html`${htmlTable(
          ['example', 'span', 'step', 'expression = result', 'nearest tokens (cosine)', 'logit lens (probability)'],
          shown.map((r) => [
            r.example,
            formatNumber(r.span),
            formatNumber(r.step),
            html`<code>${[r.expression, r.result].filter((x) => x !== undefined).join(' = ')}</code>`,
            tokenList(r.nearest, (s) => formatNumber(s, 3)),
            tokenList(r.logitLens, (s) => formatPercent(s)),
          ]),
          { className: 'decoded', numeric: [1, 2] },
        )}${d.decoded.length > shown.length ? html`<p class="note">First ${shown.length} of ${d.decoded.length} decoded latents.</p>` : ''}`
      : '';
    const recurring = d.recurring.slice(0, MAX_RECURRING_TOKENS);
    const chart = recurring.length
      ? await plots.figure(
          `recurring-tokens-${run.name}`,
          countBarSpec(
            recurring.map((r) => ({ label: formatToken(r.token), count: r.count })),
            {
              title: runs.length > 1 ? `recurring decoded tokens: ${run.name}` : 'recurring decoded tokens',
              labelTitle: 'token',
              orientation: 'horizontal',
            },
          ),
        )
      : '';
    parts.push(html`${heading}${hitRate}${table}${chart}`);
  }
  if (!parts.length) return undefined;
  return { id: 'decoded', title: 'Decoded latents', body: html`${parts}` };
}

async function normsSection(plots: PlotCollector, runs: readonly RunData[]): Promise<Section | undefined> {
  const figures = await metricsChart(
    plots,
    runs,
    ['latentNorm', 'tokenNorm'],
    'norms',
    'latent norm vs token embedding norm',
    'L2 norm',
  );
  const withNorms = runs.filter((r) => r.diagnostics?.norms);
  const table = withNorms.length
    ? htmlTable(
        ['run', 'latent norm', 'token embedding norm', 'ratio'],
        withNorms.map((r) => {
          const { latent, token } = r.diagnostics!.norms!;
          return [
            r.name,
            formatNumber(latent),
            formatNumber(token),
            latent !== undefined && token ? formatNumber(latent / token) : '—',
          ];
        }),
        { numeric: [1, 2, 3] },
      )
    : '';
  if (!figures.length && !withNorms.length) return undefined;
  return {
    id: 'norms',
    title: 'Latent and token norms',
    body: html`<p class="note">
        Mean L2 norm of the latent vectors fed back as inputs against the mean norm of token embeddings; a growing gap means
        latents drift out of the embedding distribution.
      </p>
      ${table}${figures}`,
  };
}

async function spanLengthSection(plots: PlotCollector, runs: readonly RunData[]): Promise<Section | undefined> {
  const figures: SafeHtml[] = [];
  for (const run of runs) {
    const lengths = run.diagnostics?.spanLengths;
    if (!lengths?.length) {
      // A latent run whose generation opened no span says so: that is a finding, not a missing plot.
      if (run.diagnostics && (run.config?.latents ?? 0) > 0)
        figures.push(html`<p class="note">${run.name}: no span was opened during generation.</p>`);
      continue;
    }
    const total = lengths.reduce((a, b) => a + b.count, 0);
    const mean = total ? lengths.reduce((a, b) => a + b.length * b.count, 0) / total : undefined;
    figures.push(
      await plots.figure(
        `span-lengths-${run.name}`,
        countBarSpec(
          lengths.map((l) => ({ label: String(l.length), count: l.count })),
          {
            title: runs.length > 1 ? `span lengths: ${run.name}` : 'span lengths',
            labelTitle: 'latents in span',
            countTitle: 'spans',
          },
        ),
        `${formatNumber(total)} spans, mean length ${formatNumber(mean)}.`,
      ),
    );
  }
  if (!figures.length) return undefined;
  return {
    id: 'span-lengths',
    title: 'Span lengths',
    body: html`<p class="note">Number of latents the end classifier chose per span.</p>
      <div class="grid">${figures}</div>`,
  };
}

async function startClassifierSection(plots: PlotCollector, runs: readonly RunData[]): Promise<Section | undefined> {
  const withStart = runs.filter((r) => r.diagnostics?.start);
  const table = withStart.length
    ? htmlTable(
        ['run', 'precision', 'recall', 'F1', 'calibrated threshold', 'F1 there', 'spurious spans', 'spans per answer'],
        withStart.map((r) => {
          const d = r.diagnostics!;
          const s = d.start!;
          return [
            r.name,
            formatNumber(s.precision),
            formatNumber(s.recall),
            formatNumber(s.f1),
            formatNumber(d.startCalibrated?.threshold),
            formatNumber(d.startCalibrated?.f1),
            formatNumber(d.spuriousSpans?.rate),
            formatNumber(d.spuriousSpans?.perAnswer),
          ];
        }),
        { numeric: [1, 2, 3, 4, 5, 6, 7] },
      )
    : '';
  const withStop = runs.filter((r) => r.diagnostics?.stop?.spans);
  const stopTable = withStop.length
    ? htmlTable(
        ['run', 'spans', 'stop decisions right', 'majority class', 'span length exact', 'one fixed length'],
        withStop.map((r) => {
          const st = r.diagnostics!.stop!;
          return [
            r.name,
            formatNumber(st.spans),
            formatNumber(st.decisionAccuracy),
            formatNumber(st.decisionBaseline),
            formatNumber(st.lengthAccuracy),
            formatNumber(st.lengthBaseline),
          ];
        }),
        { numeric: [1, 2, 3, 4, 5] },
      )
    : '';
  const several = runs.length > 1;
  const fields = ['startPrecision', 'startRecall', 'startF1'] as const;
  const points = runs.flatMap((run) =>
    fields.flatMap((f) => evalPoints(run, f, () => FIELD_NAMES[f], several ? runLabel(run, runs) : undefined)),
  );
  const chart = points.length
    ? await plots.figure(
        'start-classifier',
        lineChartSpec(points, { title: 'start classifier on evaluation splits', yTitle: 'score', seriesTitle: 'metric' }),
      )
    : '';
  if (!withStart.length && !points.length) return undefined;
  return {
    id: 'start-classifier',
    title: 'Start classifier',
    body: html`<p class="note">
        How well the start classifier finds the positions where an annotated calculation begins (F1 at 0.5 and at the threshold
        calibrated on validation data), and the fraction of the spans it opened in generation away from a breakpoint (spurious
        spans).
      </p>
      ${table}${chart}${
        withStop.length
          ? html`<p class="note">
                End classifier against the run's latent schedule, teacher-forced on the test spans: stop decisions, and spans
                whose first stop falls at their scheduled length, beside what one fixed length reaches.
              </p>
              ${stopTable}`
          : ''
      }`,
  };
}

async function rlSection(plots: PlotCollector, runs: readonly RunData[]): Promise<Section | undefined> {
  const rlRuns = runs.filter(isRlRun);
  if (!rlRuns.length) return undefined;
  const figures: SafeHtml[] = [
    ...(await runsOverlayChart(plots, rlRuns, 'reward', { band: 'rewardStd' })),
    ...(await runsOverlayChart(plots, rlRuns, 'accuracy', { evalField: 'accuracy' })),
    ...(await runsOverlayChart(plots, rlRuns, 'kl')),
    ...(await runsOverlayChart(plots, rlRuns, 'clipFraction')),
    ...(await runsOverlayChart(plots, rlRuns, 'entropy')),
    ...(await runsOverlayChart(plots, rlRuns, 'spansPerAnswer')),
    ...(await runsOverlayChart(plots, rlRuns, 'latentsPerSpan')),
    ...(await runsOverlayChart(plots, rlRuns, 'tokensPerAnswer')),
  ];
  if (!figures.length) return undefined;
  return { id: 'rl', title: 'Reinforcement learning', body: html`<div class="grid">${figures}</div>` };
}

/** The text with each [start, end) span wrapped in a highlight; spans are clamped and merged. */
export function highlightSpans(text: string, spans: readonly (readonly [number, number])[]): SafeHtml {
  const sorted = spans
    .map(([s, e]) => [Math.max(0, Math.min(s, text.length)), Math.max(0, Math.min(e, text.length))] as [number, number])
    .filter(([s, e]) => e > s)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: [number, number][] = [];
  for (const span of sorted) {
    const last = merged.at(-1);
    if (last && span[0] <= last[1]) last[1] = Math.max(last[1], span[1]);
    else merged.push([...span]);
  }
  const parts: SafeHtml[] = [];
  let cursor = 0;
  for (const [s, e] of merged) {
    parts.push(html`${text.slice(cursor, s)}<mark class="latent">${text.slice(s, e)}</mark>`);
    cursor = e;
  }
  parts.push(html`${text.slice(cursor)}`);
  return html`${parts}`;
}

/** The latest rollouts (highest steps first, file order within a step). */
function latestSamples(samples: readonly RolloutSample[], count: number): RolloutSample[] {
  return samples
    .map((s, i) => ({ s, i }))
    .sort((a, b) => b.s.step - a.s.step || a.i - b.i)
    .slice(0, count)
    .map(({ s }) => s);
}

function samplesSection(runs: readonly RunData[]): Section | undefined {
  const parts: SafeHtml[] = [];
  for (const run of runs) {
    if (!run.samples.length) continue;
    const shown = latestSamples(run.samples, SAMPLES_PER_RUN);
    const heading = runs.length > 1 ? html`<h3>${run.name}</h3>` : '';
    const cards = shown.map(
      (s) =>
        html`<div class="sample">
          <div class="meta">
            step ${formatNumber(s.step)} · reward ${formatNumber(s.reward)} · ${s.spans.length} latent
            span${s.spans.length === 1 ? '' : 's'}
          </div>
          ${s.question ? html`<div class="question">${s.question}</div>` : ''}
          <pre class="rollout">${highlightSpans(s.text, s.spans)}</pre>
        </div>`,
    );
    parts.push(
      html`${heading}
        <p class="note">Latest ${shown.length} of ${run.samples.length} rollouts.</p>
        ${cards}`,
    );
  }
  if (!parts.length) return undefined;
  return {
    id: 'samples',
    title: 'Sample rollouts',
    body: html`<p class="note"><mark class="latent">Highlighted</mark> text marks latent spans.</p>
      ${parts}`,
  };
}

function dataNotesSection(runs: readonly RunData[], plots: readonly ReportPlot[]): Section | undefined {
  const parts: SafeHtml[] = [];
  for (const run of runs) {
    if (!run.issues.length) continue;
    const shown = run.issues.slice(0, ISSUES_SHOWN_PER_RUN);
    parts.push(
      html`<h3>${run.name}</h3>
        <ul>
          ${shown.map((i) => html`<li><code>${i.file}${i.line !== undefined ? `:${i.line}` : ''}</code> ${i.message}</li>`)}
        </ul>
        ${run.issues.length > shown.length ? html`<p class="note">${run.issues.length - shown.length} more not shown.</p>` : ''}`,
    );
  }
  const warnings = plots.flatMap((p) => p.warnings.map((w) => html`<li><code>plots/${p.file}</code> ${w}</li>`));
  if (warnings.length)
    parts.push(
      html`<h3>Chart renderer</h3>
        <ul>
          ${warnings}
        </ul>`,
    );
  if (!parts.length) return undefined;
  return {
    id: 'data-notes',
    title: 'Data notes',
    body: html`<p class="note">Problems found while reading the run directories; affected records were left out.</p>
      ${parts}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Page

const REPORT_STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 0 auto; padding: 1.5em 2em 4em; max-width: 1400px; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-bottom: .4em; }
nav { margin: .5em 0 1em; } nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #ddd; padding: .25em .55em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td:first-child { white-space: nowrap; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.decoded td { font-size: .92em; }
code { font: .92em ui-monospace, SFMono-Regular, Menlo, monospace; }
.grid { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: flex-start; }
figure.plot { margin: .4em 0; } figure.plot svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: .85em; color: #555; }
.note { color: #555; font-size: .92em; }
.verdict { font-size: 1.1em; } .verdict.used b { color: #1a7f37; } .verdict.unused b { color: #9a6700; }
mark.latent { background: #ffe08a; border-radius: 2px; }
.sample { border: 1px solid #e3e3e3; border-radius: 4px; padding: .5em .8em; margin: .6em 0; }
.sample .meta { font-size: .85em; color: #555; } .sample .question { margin: .3em 0; font-weight: 600; }
pre.rollout { white-space: pre-wrap; word-break: break-word; margin: .3em 0 0; font-size: .92em; }
ul.dirs { font-size: .9em; color: #444; }
`;

/** A page of the reports: the shared head and style, the title as heading, then `body`. */
export function reportDocument(generator: string, title: string, body: SafeHtml): string {
  return html`<!DOCTYPE html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="generator" content="latent-tokens ${generator}" />
        <title>${title}</title>
        <style>
          ${trustedHtml(REPORT_STYLE)}
        </style>
      </head>
      <body>
        <h1>${title}</h1>
        ${body}
      </body>
    </html> `.value;
}

export interface BuiltReport {
  html: string;
  plots: ReportPlot[];
}

/** Builds the report page and its plots for runs already read (see readRun). */
export async function buildReport(runs: readonly RunData[], options: { title: string }): Promise<BuiltReport> {
  const plots = new PlotCollector();
  const rl = runs.some(isRlRun);
  const hasAccuracy = runs.some((r) => hasMetric(r, 'accuracy') || hasEval(r, 'accuracy'));
  const sections: Section[] = [overviewSection(runs)];
  // Sequential: plots are named in page order, which keeps file names stable between runs of the report.
  for (const make of [
    () => curvesSection(plots, runs, hasAccuracy && !rl),
    () => utilisationSection(plots, runs),
    () => decodedSection(plots, runs),
    () => normsSection(plots, runs),
    () => spanLengthSection(plots, runs),
    () => startClassifierSection(plots, runs),
    () => rlSection(plots, runs),
  ]) {
    const section = await make();
    if (section) sections.push(section);
  }
  const samples = samplesSection(runs);
  if (samples) sections.push(samples);
  const notes = dataNotesSection(runs, plots.plots);
  if (notes) sections.push(notes);

  const body = html`<nav>${sections.map((s) => html`<a href="#${s.id}">${s.title}</a>`)}</nav>
    ${sections.map(
      (s) =>
        html`<section id="${s.id}">
          <h2>${s.title}</h2>
          ${s.body}
        </section> `,
    )}`;
  return { html: reportDocument('report', options.title, body), plots: plots.plots };
}
