// Experiment reports for latent-tokens runs: read run directories, write report.html with SVG plots.
export { readRun, writeReport, type ReportOptions, type ReportResult } from './run';
export { buildReport, highlightSpans, type BuiltReport, type ReportPlot } from './sections';
export { latentUsageVerdict, type LatentUsageVerdict } from '../latent/diagnostics';
export * from './plots';
export * from './types';
export { escapeHtml, html, SafeHtml, type HtmlValue } from './html';
