// Chart helpers for reports: typed builders of Vega-Lite specs (lines over training steps, bars with
// confidence intervals, counts) and a renderer to standalone SVG that needs no browser or canvas.
// Output is deterministic: data keep the caller's order, text is measured by Vega's estimator, and
// the renderer's process-global element ids are renamed per plot so several SVGs can share a page.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { LoggerInterface } from 'vega-util';
import { slugify } from './html';

/** Training records are `train`; periodic evaluations are `validation` or `test` (drawn dashed). */
export type Split = 'train' | 'validation' | 'test';
const SPLIT_ORDER: readonly Split[] = ['train', 'validation', 'test'];
const SPLIT_DASHES: Record<Split, number[]> = { train: [1, 0], validation: [6, 3], test: [2, 2] };

export interface LinePoint {
  step: number;
  value: number;
  /** Colour: a run, a metric, or a split, whatever the chart compares. */
  series: string;
  split: Split;
  /** Small-multiple column (e.g. one per run, side by side on a shared y axis). */
  panel?: string;
  /** Optional band around the line (e.g. reward ± its standard deviation). */
  lo?: number;
  hi?: number;
}

export interface LineChartOptions {
  title: string;
  yTitle: string;
  xTitle?: string;
  /** Legend title for the colour channel. */
  seriesTitle?: string;
  width?: number;
  height?: number;
  /** Lines with more points are averaged over equal buckets of consecutive records (keeps SVGs small). */
  maxPointsPerLine?: number;
  /** Panels per row when points carry `panel`. */
  columns?: number;
}

export interface IntervalBar {
  label: string;
  value: number;
  /** Confidence interval, drawn as an error bar when both ends are finite. */
  lo?: number;
  hi?: number;
}

export interface IntervalBarOptions {
  title: string;
  yTitle: string;
  xTitle?: string;
  width?: number;
  height?: number;
}

export interface CountBar {
  label: string;
  count: number;
}

export interface CountBarOptions {
  title: string;
  labelTitle: string;
  countTitle?: string;
  /** Horizontal bars suit long labels (tokens); vertical ones suit ordered categories (lengths). */
  orientation?: 'vertical' | 'horizontal';
  width?: number;
  height?: number;
}

export interface RenderedPlot {
  svg: string;
  /** Messages from Vega-Lite/Vega while compiling and rendering (a correct spec produces none). */
  warnings: string[];
}

const DEFAULT_WIDTH = 420;
const DEFAULT_HEIGHT = 220;
const DEFAULT_MAX_POINTS = 600;

const BASE_CONFIG = {
  background: 'white',
  font: 'sans-serif',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 260 },
  title: { fontSize: 14, anchor: 'start' as const, subtitleFontSize: 11, subtitleColor: '#555' },
};

const uniqueInOrder = (values: Iterable<string>) => [...new Set(values)];

/**
 * Averages each (panel, series, split) line down to at most `maxPoints` points, over equal buckets of
 * consecutive records. Returns the points (input order of lines kept) and the largest bucket used.
 */
export function downsampleLines(points: readonly LinePoint[], maxPoints: number): { points: LinePoint[]; bucket: number } {
  if (!(maxPoints >= 2)) throw new RangeError(`downsampleLines: maxPoints must be at least 2 (got ${maxPoints})`);
  const lines = new Map<string, LinePoint[]>();
  for (const p of points) {
    const key = JSON.stringify([p.panel ?? null, p.series, p.split]);
    let line = lines.get(key);
    if (!line) lines.set(key, (line = []));
    line.push(p);
  }
  let largestBucket = 1;
  const out: LinePoint[] = [];
  for (const line of lines.values()) {
    if (line.length <= maxPoints) {
      out.push(...line);
      continue;
    }
    const bucket = Math.ceil(line.length / maxPoints);
    largestBucket = Math.max(largestBucket, bucket);
    for (let start = 0; start < line.length; start += bucket) {
      const group = line.slice(start, start + bucket);
      const mean = (pick: (p: LinePoint) => number | undefined) => {
        const xs = group.map(pick).filter((x): x is number => x !== undefined && Number.isFinite(x));
        return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
      };
      const { series, split, panel } = group[0];
      const averaged: LinePoint = { series, split, step: mean((p) => p.step)!, value: mean((p) => p.value)! };
      if (panel !== undefined) averaged.panel = panel;
      const lo = mean((p) => p.lo);
      const hi = mean((p) => p.hi);
      if (lo !== undefined && hi !== undefined) Object.assign(averaged, { lo, hi });
      out.push(averaged);
    }
  }
  return { points: out, bucket: largestBucket };
}

/** Metric(s) against training step: colour per series, dashed lines with points for evaluation splits. */
export function lineChartSpec(points: readonly LinePoint[], options: LineChartOptions): TopLevelSpec {
  const finite = points.filter((p) => Number.isFinite(p.step) && Number.isFinite(p.value));
  const { points: data, bucket } = downsampleLines(finite, options.maxPointsPerLine ?? DEFAULT_MAX_POINTS);
  const seriesDomain = uniqueInOrder(data.map((p) => p.series));
  const splits = SPLIT_ORDER.filter((s) => data.some((p) => p.split === s));
  const panels = uniqueInOrder(data.flatMap((p) => (p.panel === undefined ? [] : [p.panel])));
  const hasBand = data.some((p) => p.lo !== undefined && p.hi !== undefined);
  const evalSplits = splits.filter((s) => s !== 'train');

  const x = { field: 'step', type: 'quantitative' as const, title: options.xTitle ?? 'step' };
  const color = {
    field: 'series',
    type: 'nominal' as const,
    title: options.seriesTitle ?? null,
    scale: { domain: seriesDomain },
    sort: seriesDomain,
    legend: seriesDomain.length > 1 ? {} : null,
  };
  const layer: object[] = [];
  if (hasBand) {
    layer.push({
      transform: [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }],
      mark: { type: 'area', opacity: 0.15 },
      encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color, detail: { field: 'split' } },
    });
  }
  layer.push({
    mark: { type: 'line', strokeWidth: 1.6, interpolate: 'linear' },
    encoding: {
      x,
      y: { field: 'value', type: 'quantitative', title: options.yTitle, scale: { zero: false } },
      color,
      strokeDash: {
        field: 'split',
        type: 'nominal',
        title: 'split',
        scale: { domain: splits, range: splits.map((s) => SPLIT_DASHES[s]) },
        legend: splits.length > 1 ? {} : null,
      },
    },
  });
  if (evalSplits.length) {
    // Evaluations are sparse: mark each one so a single evaluation is still visible.
    layer.push({
      transform: [{ filter: { field: 'split', oneOf: evalSplits } }],
      mark: { type: 'point', filled: true, size: 22 },
      encoding: { x, y: { field: 'value', type: 'quantitative' }, color },
    });
  }
  const subtitle = bucket > 1 ? `training curves averaged over buckets of up to ${bucket} logged steps` : undefined;
  const title = subtitle ? { text: options.title, subtitle } : options.title;
  const width = options.width ?? (panels.length ? 300 : DEFAULT_WIDTH);
  const height = options.height ?? DEFAULT_HEIGHT;
  const spec = panels.length
    ? {
        title,
        data: { values: data },
        facet: { field: 'panel', type: 'nominal', sort: panels, header: { title: null, labelFontSize: 12 } },
        columns: options.columns ?? 3,
        spec: { width, height, layer },
        config: BASE_CONFIG,
      }
    : { title, width, height, data: { values: data }, layer, config: BASE_CONFIG };
  return spec as TopLevelSpec;
}

/** Bars with confidence-interval error bars and a rule at zero (e.g. ablation deltas). */
export function intervalBarSpec(bars: readonly IntervalBar[], options: IntervalBarOptions): TopLevelSpec {
  const data = bars.filter((b) => Number.isFinite(b.value));
  const labels = data.map((b) => b.label);
  const x = { field: 'label', type: 'nominal' as const, title: options.xTitle ?? null, sort: labels, axis: { labelAngle: 0 } };
  const withInterval = { filter: 'isFinite(datum.lo) && isFinite(datum.hi)' };
  return {
    title: options.title,
    width: options.width ?? Math.max(160, 70 * data.length),
    height: options.height ?? DEFAULT_HEIGHT,
    data: { values: data },
    layer: [
      {
        mark: { type: 'bar', color: '#4c78a8', width: { band: 0.6 } },
        encoding: { x, y: { field: 'value', type: 'quantitative', title: options.yTitle } },
      },
      {
        transform: [withInterval],
        mark: { type: 'rule', strokeWidth: 1.5, color: '#333' },
        encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
      },
      {
        transform: [withInterval],
        mark: { type: 'tick', thickness: 1.5, size: 12, color: '#333' },
        encoding: { x, y: { field: 'lo', type: 'quantitative' } },
      },
      {
        transform: [withInterval],
        mark: { type: 'tick', thickness: 1.5, size: 12, color: '#333' },
        encoding: { x, y: { field: 'hi', type: 'quantitative' } },
      },
      // Own one-row data: inheriting the bars' data would draw the zero line once per bar.
      { data: { values: [{}] }, mark: { type: 'rule', color: '#888', strokeDash: [3, 3] }, encoding: { y: { datum: 0 } } },
    ],
    config: BASE_CONFIG,
  };
}

/** Counts per category, in the given order (histograms of span lengths, recurring decoded tokens). */
export function countBarSpec(bars: readonly CountBar[], options: CountBarOptions): TopLevelSpec {
  const data = bars.filter((b) => Number.isFinite(b.count));
  const labels = data.map((b) => b.label);
  const horizontal = options.orientation === 'horizontal';
  const label = {
    field: 'label',
    type: 'nominal' as const,
    title: options.labelTitle,
    sort: labels,
    ...(horizontal ? {} : { axis: { labelAngle: 0 } }),
  };
  const count = { field: 'count', type: 'quantitative' as const, title: options.countTitle ?? 'count' };
  return {
    title: options.title,
    width: options.width ?? (horizontal ? 300 : Math.min(DEFAULT_WIDTH, Math.max(160, 28 * data.length))),
    height: options.height ?? (horizontal ? Math.max(80, 16 * data.length) : DEFAULT_HEIGHT),
    data: { values: data },
    mark: { type: 'bar', color: '#4c78a8' },
    encoding: horizontal ? { y: label, x: count } : { x: label, y: count },
    config: BASE_CONFIG,
  };
}

/**
 * A Vega logger that collects messages instead of printing them. Vega copies the methods onto the
 * View and calls them detached, so they are closures rather than methods using `this`.
 */
function collectingLogger(): { logger: LoggerInterface; messages: string[] } {
  const messages: string[] = [];
  let level: number = vega.Warn;
  const record =
    (kind: string, threshold: number) =>
    (...args: readonly unknown[]) => {
      if (level >= threshold)
        messages.push(`${kind}: ${args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ')}`);
      return logger;
    };
  const logger = {
    level: (next?: number) => {
      if (next === undefined) return level;
      level = next;
      return logger;
    },
    error: record('error', vega.Error),
    warn: record('warning', vega.Warn),
    info: record('info', vega.Info),
    debug: record('debug', vega.Debug),
  } as LoggerInterface;
  return { logger, messages };
}

/**
 * Renames the element ids in an SVG (Vega numbers clip paths with a process-wide counter) to
 * `<prefix>-1`, `<prefix>-2`, … in order of appearance, updating `url(#…)` and `href="#…"` references.
 */
export function namespaceSvgIds(svg: string, prefix: string): string {
  const base = slugify(prefix);
  const renamed = new Map<string, string>();
  for (const match of svg.matchAll(/\sid="([^"]+)"/g)) {
    if (!renamed.has(match[1])) renamed.set(match[1], `${base}-${renamed.size + 1}`);
  }
  if (!renamed.size) return svg;
  const rename = (id: string) => renamed.get(id) ?? id;
  return svg
    .replace(/(\sid=")([^"]+)"/g, (_, head: string, id: string) => `${head}${rename(id)}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${rename(id)})`)
    .replace(/(href=")#([^"]+)"/g, (_, head: string, id: string) => `${head}#${rename(id)}"`);
}

/** Compiles a Vega-Lite spec and renders it headlessly to an SVG string whose ids start with `idPrefix`. */
export async function renderSvg(spec: TopLevelSpec, idPrefix: string): Promise<RenderedPlot> {
  const { logger, messages } = collectingLogger();
  const compiled = compile(spec, { logger }).spec;
  // Inline data only: a loader that refuses everything guarantees the renderer never touches the network or disk.
  const loader = vega.loader();
  loader.load = (uri: string) => Promise.reject(new Error(`renderSvg: external data is not allowed (${uri})`));
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger, loader });
  try {
    const svg = await view.toSVG();
    return { svg: namespaceSvgIds(svg, idPrefix), warnings: messages };
  } finally {
    view.finalize();
  }
}
