// Experiment reports for latent-tokens runs: read run directories, write report.html with SVG plots.
export { readRun, writeReport, type ReportOptions, type ReportResult } from './run';
export { buildReport, highlightSpans, type BuiltReport, type ReportPlot } from './sections';
export { studyVerdict, type StudyVerdict } from '../latent/study';
export {
  lineChartSpec,
  intervalBarSpec,
  countBarSpec,
  renderSvg,
  downsampleLines,
  type Split,
  type LinePoint,
  type LineChartOptions,
  type IntervalBar,
  type IntervalBarOptions,
  type CountBar,
  type CountBarOptions,
  type RenderedPlot,
} from './plots';
export {
  METRIC_FIELDS,
  EVAL_FIELDS,
  EVAL_SPLITS,
  type MetricField,
  type MetricRecord,
  type EvalField,
  type EvalSplit,
  type EvalRecord,
  type RunConfig,
  type Ablation,
  type TokenScore,
  type DecodedLatent,
  type Diagnostics,
  type Interval,
  type StudySummary,
  type RolloutSample,
  type ReadIssue,
  type RunData,
} from './types';
export { escapeHtml, html, SafeHtml, type HtmlValue } from './html';
export { writeComparisonReport, buildComparisonPage, comparisonTable, type ComparisonReport } from './compare';
