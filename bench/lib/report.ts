// Turns measurements into result rows (medians, ours/counterpart ratios, goals), a markdown table for
// the terminal and README, and the JSON written next to every run.
import * as fs from 'fs';
import * as path from 'path';
import type { Environment } from './environment';
import { summarize, type Summary } from './stats';

/** A target ratio: ours / `vs` must be at most `max` (e.g. per-call cost <= 0.65x PyTorch's). */
export interface Goal {
  vs: string;
  max: number;
}

export interface TimedResult {
  description: string;
  samplesNs: number[];
  iterationsPerSample: number;
  unitsPerIteration: number;
}

export interface SummarizedResult extends TimedResult {
  summary: Summary;
}

export interface ResultRow {
  name: string;
  group: string;
  /** the counterpart case this row is compared with (usually its own name) */
  compareAs: string | null;
  ours: SummarizedResult;
  /** by counterpart id; null when the counterpart did not run this case */
  counterparts: Record<string, SummarizedResult | null>;
  /** ours median / counterpart median, by counterpart id */
  ratios: Record<string, number | null>;
  goals: { vs: string; max: number; ratio: number | null; met: boolean | null }[];
}

export interface ColumnInfo {
  id: string;
  label: string;
  /** what ran, e.g. "PyTorch 2.13.0+cpu, Python 3.11.2" (null when it did not run) */
  implementation: string | null;
  /** why it did not run */
  unavailable: string | null;
}

export interface SuiteResult {
  suite: string;
  title: string;
  environment: Environment;
  options: Record<string, unknown>;
  ours: string;
  counterparts: ColumnInfo[];
  rows: ResultRow[];
  notes: string[];
}

function summarized(r: TimedResult): SummarizedResult {
  return { ...r, summary: summarize(r.samplesNs) };
}

export function buildRow(
  c: { name: string; group: string; compareAs: string | null; goals: Goal[] },
  ours: TimedResult,
  counterpartIds: string[],
  counterpartResults: Map<string, Map<string, TimedResult>>,
): ResultRow {
  const row: ResultRow = {
    name: c.name,
    group: c.group,
    compareAs: c.compareAs,
    ours: summarized(ours),
    counterparts: {},
    ratios: {},
    goals: [],
  };
  for (const id of counterpartIds) {
    const r = c.compareAs === null ? undefined : counterpartResults.get(id)?.get(c.compareAs);
    row.counterparts[id] = r ? summarized(r) : null;
    row.ratios[id] = r ? row.ours.summary.median / row.counterparts[id]!.summary.median : null;
  }
  for (const g of c.goals) {
    const ratio = row.ratios[g.vs] ?? null;
    row.goals.push({ vs: g.vs, max: g.max, ratio, met: ratio === null ? null : ratio <= g.max });
  }
  return row;
}

/** 712 ns, 12.3 µs, 3.41 ms: three significant digits, in the unit that keeps the number short. */
export function formatDuration(ns: number): string {
  const sig = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  if (ns < 1e4) return `${ns.toFixed(0)} ns`;
  if (ns < 1e7) return `${sig(ns / 1e3)} µs`;
  if (ns < 1e10) return `${sig(ns / 1e6)} ms`;
  return `${sig(ns / 1e9)} s`;
}

export function formatRatio(r: number | null): string {
  return r === null ? '–' : `${r.toFixed(2)}×`;
}

/** Median with half the interquartile range as a percentage: "712 ns ±1%". */
function formatTimed(r: SummarizedResult | null): string {
  if (!r) return '–';
  return `${formatDuration(r.summary.median)} ±${Math.round(r.summary.relativeIqr * 50)}%`;
}

function alignedMarkdown(header: string[], rows: string[][], numericFrom: number): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i >= numericFrom ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i >= numericFrom ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The result table as aligned markdown: one section per group, medians ± half-IQR, ratios, goals. */
export function formatTable(result: SuiteResult): string {
  const cols = result.counterparts;
  const labelOf = new Map(cols.map((c) => [c.id, c.label]));
  const header = ['case', 'ours', ...cols.map((c) => c.label), ...cols.map((c) => `ours/${c.label}`), 'goal'];
  const body: string[][] = [];
  let group: string | null = null;
  for (const row of result.rows) {
    if (row.group !== group) {
      group = row.group;
      body.push([`**${group}**`, ...header.slice(1).map(() => '')]);
    }
    const goals = row.goals
      .map((g) => `≤${g.max}× ${labelOf.get(g.vs) ?? g.vs} ${g.met === null ? '?' : g.met ? '✓' : '✗'}`)
      .join(', ');
    const name = row.compareAs !== null && row.compareAs !== row.name ? `${row.name} (vs ${row.compareAs})` : row.name;
    body.push([
      name,
      formatTimed(row.ours),
      ...cols.map((c) => formatTimed(row.counterparts[c.id] ?? null)),
      ...cols.map((c) => formatRatio(row.ratios[c.id] ?? null)),
      goals,
    ]);
  }
  return alignedMarkdown(header, body, 1);
}

/** What each row times in each implementation, as a markdown list. */
export function formatDescriptions(result: SuiteResult): string {
  return result.rows
    .map((row) => {
      const parts = [`ours \`${row.ours.description}\``];
      for (const c of result.counterparts) {
        const r = row.counterparts[c.id];
        if (r) parts.push(`${c.label} \`${r.description}\``);
      }
      return `- ${row.name}: ${parts.join(' · ')}`;
    })
    .join('\n');
}

export function formatImplementations(result: SuiteResult): string {
  const lines = [`- ours: ${result.ours}`];
  for (const c of result.counterparts)
    lines.push(`- ${c.label}: ${c.implementation ?? `did not run (${c.unavailable ?? 'skipped'})`}`);
  return lines.join('\n');
}

export function defaultResultPath(root: string, suite: string, date: string): string {
  return path.join(root, 'build', 'bench-results', `${suite}-${date.replace(/[:.]/g, '-')}.json`);
}

export function writeResult(file: string, result: SuiteResult): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
}
