// Reading run directories (tolerantly: a report of a crashed or still-running job must still work)
// and writing the HTML report with its SVG plots.
import * as fs from 'fs';
import * as path from 'path';
import { writeTextAtomic } from '../util/atomic-write';
import { buildReport, type ReportPlot } from './sections';
import {
  EVAL_FIELDS,
  EVAL_SPLITS,
  METRIC_FIELDS,
  type Ablation,
  type DecodedLatent,
  type Diagnostics,
  type EvalRecord,
  type Interval,
  type StudySummary,
  type MetricRecord,
  type ReadIssue,
  type RolloutSample,
  type RunConfig,
  type RunData,
  type TokenScore,
} from './types';
import { runConfigProblems } from '../train/run-files';

const RUN_FILES = ['config.json', 'metrics.jsonl', 'evals.jsonl', 'diagnostics.json', 'samples.jsonl'] as const;
/** Issues kept per file; the rest are summarised in one line so a garbage file cannot flood the report. */
const MAX_ISSUES_PER_FILE = 50;

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const finiteNumber = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

class IssueLog {
  readonly issues: ReadIssue[] = [];
  private readonly perFile = new Map<string, number>();
  add(file: string, message: string, line?: number): void {
    const n = (this.perFile.get(file) ?? 0) + 1;
    this.perFile.set(file, n);
    if (n <= MAX_ISSUES_PER_FILE) this.issues.push(line === undefined ? { file, message } : { file, line, message });
  }
  finish(): ReadIssue[] {
    for (const [file, n] of this.perFile) {
      if (n > MAX_ISSUES_PER_FILE) this.issues.push({ file, message: `${n - MAX_ISSUES_PER_FILE} further problems not listed` });
    }
    return this.issues;
  }
}

/** Counts numeric fields that were present but not finite numbers (NaN is written to JSON as null). */
class BadValueTally {
  private readonly counts = new Map<string, { n: number; firstLine: number }>();
  note(field: string, line: number): void {
    const c = this.counts.get(field);
    if (c) c.n++;
    else this.counts.set(field, { n: 1, firstLine: line });
  }
  report(file: string, log: IssueLog): void {
    for (const [field, { n, firstLine }] of this.counts) {
      log.add(
        file,
        `"${field}" was not a finite number in ${n} record(s) (null is how JSON writes NaN); those values are not plotted`,
        firstLine,
      );
    }
  }
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Parses a JSONL file into objects, skipping (and reporting) lines that are not JSON objects. */
function readJsonl(
  dir: string,
  name: string,
  log: IssueLog,
): { records: { line: number; value: JsonObject }[]; skipped: number } | undefined {
  const text = readText(path.join(dir, name));
  if (text === undefined) return undefined;
  const records: { line: number; value: JsonObject }[] = [];
  let skipped = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      skipped++;
      log.add(name, `not valid JSON (${(e as Error).message}); line skipped`, i + 1);
      return;
    }
    if (!isObject(value)) {
      skipped++;
      log.add(name, `expected a JSON object, found ${Array.isArray(value) ? 'an array' : typeof value}; line skipped`, i + 1);
      return;
    }
    records.push({ line: i + 1, value });
  });
  return { records, skipped };
}

function readJsonFile(dir: string, name: string, log: IssueLog): JsonObject | undefined {
  const text = readText(path.join(dir, name));
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    log.add(name, `not valid JSON (${(e as Error).message}); file ignored`);
    return undefined;
  }
  if (!isObject(value)) {
    log.add(name, 'expected a JSON object; file ignored');
    return undefined;
  }
  return value;
}

/** Copies the named numeric fields that are finite; tallies present-but-unusable ones. */
function pickNumbers<F extends string>(
  value: JsonObject,
  fields: readonly F[],
  line: number,
  tally: BadValueTally,
): Partial<Record<F, number>> {
  const out: Partial<Record<F, number>> = {};
  for (const field of fields) {
    if (!(field in value)) continue;
    const n = finiteNumber(value[field]);
    if (n === undefined) tally.note(field, line);
    else out[field] = n;
  }
  return out;
}

/** Sorts by step and keeps the last record of each key (a resumed run may repeat steps). */
function lastPerKey<T extends { step: number }>(records: T[], key: (r: T) => string, file: string, log: IssueLog): T[] {
  const byKey = new Map<string, T>();
  for (const r of records) byKey.set(key(r), r);
  const repeated = records.length - byKey.size;
  if (repeated > 0) log.add(file, `${repeated} record(s) repeated an earlier step; the last record of each step was kept`);
  return [...byKey.values()].sort((a, b) => a.step - b.step);
}

function stepOf(value: JsonObject, name: string, line: number, log: IssueLog): number | undefined {
  const step = finiteNumber(value.step);
  if (step === undefined) log.add(name, 'no numeric "step"; line skipped', line);
  return step;
}

function readMetrics(dir: string, log: IssueLog): { metrics: MetricRecord[]; skipped: number } {
  const name = 'metrics.jsonl';
  const parsed = readJsonl(dir, name, log);
  if (!parsed) return { metrics: [], skipped: 0 };
  const tally = new BadValueTally();
  let skipped = parsed.skipped;
  const metrics: MetricRecord[] = [];
  for (const { line, value } of parsed.records) {
    const step = stepOf(value, name, line, log);
    if (step === undefined) {
      skipped++;
      continue;
    }
    metrics.push({ step, ...pickNumbers(value, METRIC_FIELDS, line, tally) });
  }
  tally.report(name, log);
  return { metrics: lastPerKey(metrics, (r) => String(r.step), name, log), skipped };
}

function readEvals(dir: string, log: IssueLog): { evals: EvalRecord[]; skipped: number } {
  const name = 'evals.jsonl';
  const parsed = readJsonl(dir, name, log);
  if (!parsed) return { evals: [], skipped: 0 };
  const tally = new BadValueTally();
  let skipped = parsed.skipped;
  const evals: EvalRecord[] = [];
  for (const { line, value } of parsed.records) {
    const step = stepOf(value, name, line, log);
    const split = EVAL_SPLITS.find((s) => s === value.split);
    if (step !== undefined && split === undefined) {
      log.add(
        name,
        `"split" must be one of ${EVAL_SPLITS.join(', ')} (found ${JSON.stringify(value.split)}); line skipped`,
        line,
      );
    }
    if (step === undefined || split === undefined) {
      skipped++;
      continue;
    }
    evals.push({ step, split, ...pickNumbers(value, EVAL_FIELDS, line, tally) });
  }
  tally.report(name, log);
  return { evals: lastPerKey(evals, (r) => `${r.step}/${r.split}`, name, log), skipped };
}

function readConfig(dir: string, log: IssueLog): RunConfig | undefined {
  const value = readJsonFile(dir, 'config.json', log);
  if (!value) return undefined;
  const config: RunConfig = { ...value };
  for (const { field, message } of runConfigProblems(value)) {
    log.add('config.json', `${message}; ignored`);
    delete config[field];
  }
  return config;
}

/** Parses one optional section of diagnostics.json; a malformed section is reported and left out. */
function section<T>(
  value: JsonObject,
  key: string,
  log: IssueLog,
  parse: (v: unknown) => T | undefined,
  expected: string,
): T | undefined {
  if (!(key in value) || value[key] === null) return undefined;
  const parsed = parse(value[key]);
  if (parsed === undefined) log.add('diagnostics.json', `"${key}" should be ${expected}; section left out`);
  return parsed;
}

function parseTokenScores(v: unknown, scoreKey: 'cosine' | 'prob'): TokenScore[] | undefined {
  if (v === undefined) return [];
  if (!Array.isArray(v)) return undefined;
  const out: TokenScore[] = [];
  for (const t of v) {
    if (!isObject(t) || typeof t.token !== 'string' || finiteNumber(t[scoreKey]) === undefined) return undefined;
    out.push({ token: t.token, score: t[scoreKey] as number });
  }
  return out;
}

/** Parses every element or fails the whole list (a list with wrong-shaped entries signals a format mismatch). */
function parseList<T>(v: unknown, parseItem: (item: unknown) => T | undefined): T[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: T[] = [];
  for (const item of v) {
    const parsed = parseItem(item);
    if (parsed === undefined) return undefined;
    out.push(parsed);
  }
  return out;
}

const parseInterval = (v: unknown): [number, number] | undefined =>
  Array.isArray(v) && v.length === 2 && finiteNumber(v[0]) !== undefined && finiteNumber(v[1]) !== undefined
    ? [v[0], v[1]]
    : undefined;

function parseAblation(v: unknown): Ablation | undefined {
  if (!isObject(v) || typeof v.name !== 'string') return undefined;
  const ablation: Ablation = { name: v.name };
  for (const field of ['nextStepLoss', 'resultLoss', 'delta'] as const) {
    const n = finiteNumber(v[field]);
    if (n !== undefined) ablation[field] = n;
  }
  const ci = parseInterval(v.ci);
  if (ci) ablation.ci = ci;
  return ablation;
}

const scalarText = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;

function parseDecoded(v: unknown): DecodedLatent | undefined {
  if (!isObject(v)) return undefined;
  const example = scalarText(v.example);
  const span = finiteNumber(v.span);
  const nearest = parseTokenScores(v.nearest, 'cosine');
  const logitLens = parseTokenScores(v.logitLens, 'prob');
  if (example === undefined || span === undefined || !nearest || !logitLens) return undefined;
  const decoded: DecodedLatent = { example, span, nearest, logitLens };
  const step = finiteNumber(v.step);
  if (step !== undefined) decoded.step = step;
  const expression = scalarText(v.expression);
  if (expression !== undefined) decoded.expression = expression;
  const result = scalarText(v.result);
  if (result !== undefined) decoded.result = result;
  return decoded;
}

function parseNumberRecord<K extends string>(v: unknown, keys: readonly K[]): Partial<Record<K, number>> | undefined {
  if (!isObject(v)) return undefined;
  const out: Partial<Record<K, number>> = {};
  for (const k of keys) {
    if (!(k in v) || v[k] === null) continue;
    const n = finiteNumber(v[k]);
    if (n === undefined) return undefined;
    out[k] = n;
  }
  return out;
}

function parseSpanLengths(v: unknown): { length: number; count: number }[] | undefined {
  if (!isObject(v)) return undefined;
  const out: { length: number; count: number }[] = [];
  for (const [key, count] of Object.entries(v)) {
    const length = Number(key);
    if (!Number.isInteger(length) || length < 0 || finiteNumber(count) === undefined) return undefined;
    out.push({ length, count: count as number });
  }
  return out.sort((a, b) => a.length - b.length);
}

function parseIntervalObject(v: unknown): Interval | undefined {
  if (!isObject(v)) return undefined;
  const delta = finiteNumber(v.delta);
  const ci = parseInterval(v.ci);
  return delta !== undefined && ci ? { delta, ci } : undefined;
}

/** The study section: a verdict string, reasons, and optional intervals (a malformed interval fails the section). */
function parseStudy(v: unknown): StudySummary | undefined {
  if (!isObject(v) || typeof v.verdict !== 'string') return undefined;
  const reasons = Array.isArray(v.reasons) && v.reasons.every((r) => typeof r === 'string') ? v.reasons : [];
  const study: StudySummary = { verdict: v.verdict, reasons };
  for (const key of ['helps', 'used', 'zeros', 'spanRemoved', 'contentBeyondCompute'] as const) {
    if (v[key] === undefined || v[key] === null) continue;
    const interval = parseIntervalObject(v[key]);
    if (!interval) return undefined;
    const label = (v[key] as Record<string, unknown>)[key === 'helps' ? 'reference' : 'pause'];
    if (key === 'helps') study.helps = typeof label === 'string' ? { ...interval, reference: label } : interval;
    else if (key === 'contentBeyondCompute')
      study.contentBeyondCompute = typeof label === 'string' ? { ...interval, pause: label } : interval;
    else study[key] = interval;
  }
  return study;
}

function readDiagnostics(dir: string, log: IssueLog): Diagnostics | undefined {
  const value = readJsonFile(dir, 'diagnostics.json', log);
  if (!value) return undefined;
  const diagnostics: Diagnostics = {
    ablations:
      section(
        value,
        'ablations',
        log,
        (v) => parseList(v, parseAblation),
        'a list of {name, nextStepLoss, resultLoss, delta, ci}',
      ) ?? [],
    decoded:
      section(
        value,
        'decoded',
        log,
        (v) => parseList(v, parseDecoded),
        'a list of {example, span, step, expression, result, nearest, logitLens}',
      ) ?? [],
    recurring:
      section(
        value,
        'recurring',
        log,
        (v) =>
          parseList(v, (r) =>
            isObject(r) && typeof r.token === 'string' && finiteNumber(r.count) !== undefined
              ? { token: r.token, count: r.count as number }
              : undefined,
          ),
        'a list of {token, count}',
      ) ?? [],
  };
  const hitRate = section(
    value,
    'resultHitRate',
    log,
    (v) => (finiteNumber(v) !== undefined && (v as number) >= 0 && (v as number) <= 1 ? (v as number) : undefined),
    'a number in [0, 1]',
  );
  if (hitRate !== undefined) diagnostics.resultHitRate = hitRate;
  const spanLengths = section(value, 'spanLengths', log, parseSpanLengths, 'an object mapping span lengths to counts');
  if (spanLengths) diagnostics.spanLengths = spanLengths;
  const accuracy = section(
    value,
    'accuracy',
    log,
    (v) =>
      parseNumberRecord(v, [
        'withLatents',
        'withoutLatents',
        'n',
        'oracle',
        'oracleShuffled',
        'oracleConstant',
        'spansAwayFromBreakpoints',
      ]),
    'an object {withLatents, withoutLatents, n, oracle?, …}',
  );
  if (accuracy) diagnostics.accuracy = accuracy;
  const study = section(
    value,
    'study',
    log,
    parseStudy,
    'an object {verdict, reasons, helps?, used?, …} with intervals {delta, ci}',
  );
  if (study) diagnostics.study = study;
  const start = section(
    value,
    'start',
    log,
    (v) => parseNumberRecord(v, ['precision', 'recall', 'f1']),
    'an object {precision, recall, f1}',
  );
  if (start) diagnostics.start = start;
  const startCalibrated = section(
    value,
    'startCalibrated',
    log,
    (v) => parseNumberRecord(v, ['threshold', 'precision', 'recall', 'f1']),
    'an object {threshold, precision, recall, f1}',
  );
  if (startCalibrated) diagnostics.startCalibrated = startCalibrated;
  const stop = section(
    value,
    'stop',
    log,
    (v) => parseNumberRecord(v, ['decisionAccuracy', 'decisionBaseline', 'lengthAccuracy', 'lengthBaseline', 'spans']),
    'an object {decisionAccuracy, decisionBaseline, lengthAccuracy, lengthBaseline, spans}',
  );
  if (stop) diagnostics.stop = stop;
  const spurious = section(
    value,
    'spuriousSpans',
    log,
    (v) => (v === null ? {} : parseNumberRecord(v, ['rate', 'count', 'spans', 'perAnswer'])),
    'an object {rate, count, spans, perAnswer} or null',
  );
  if (spurious && spurious.rate !== undefined) diagnostics.spuriousSpans = spurious;
  const norms = section(value, 'norms', log, (v) => parseNumberRecord(v, ['latent', 'token']), 'an object {latent, token}');
  if (norms) diagnostics.norms = norms;
  return diagnostics;
}

function readSamples(dir: string, log: IssueLog): { samples: RolloutSample[]; skipped: number } {
  const name = 'samples.jsonl';
  const parsed = readJsonl(dir, name, log);
  if (!parsed) return { samples: [], skipped: 0 };
  let skipped = parsed.skipped;
  const samples: RolloutSample[] = [];
  for (const { line, value } of parsed.records) {
    const step = stepOf(value, name, line, log);
    if (step === undefined || typeof value.text !== 'string') {
      if (step !== undefined) log.add(name, 'no string "text"; line skipped', line);
      skipped++;
      continue;
    }
    const text = value.text;
    const spans: [number, number][] = [];
    const rawSpans = Array.isArray(value.spans) ? value.spans : [];
    if (value.spans !== undefined && !Array.isArray(value.spans))
      log.add(name, '"spans" should be a list of [start, end] pairs; spans ignored', line);
    for (const s of rawSpans) {
      const span = parseInterval(s);
      if (
        span &&
        Number.isInteger(span[0]) &&
        Number.isInteger(span[1]) &&
        span[0] >= 0 &&
        span[0] <= span[1] &&
        span[1] <= text.length
      )
        spans.push(span);
      else
        log.add(
          name,
          `span ${JSON.stringify(s)} is not a [start, end] pair within the text (length ${text.length}); span ignored`,
          line,
        );
    }
    const sample: RolloutSample = { step, question: typeof value.question === 'string' ? value.question : '', text, spans };
    const reward = finiteNumber(value.reward);
    if (reward !== undefined) sample.reward = reward;
    samples.push(sample);
  }
  return { samples, skipped };
}

/**
 * Reads a run directory. Missing files leave their sections empty; unparsable JSONL lines are skipped
 * and counted; every problem is recorded in `issues` with its file (and line). Throws only when the
 * directory does not exist or holds none of the run files.
 */
export function readRun(dir: string): RunData {
  const abs = path.resolve(dir);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch {
    throw new Error(`report: run directory not found: ${dir}`);
  }
  if (!stat.isDirectory()) throw new Error(`report: not a directory: ${dir}`);
  if (!RUN_FILES.some((f) => fs.existsSync(path.join(abs, f)))) {
    throw new Error(`report: ${dir} is not a run directory (none of ${RUN_FILES.join(', ')} found)`);
  }
  const log = new IssueLog();
  const config = readConfig(abs, log);
  const { metrics, skipped: skippedMetrics } = readMetrics(abs, log);
  const { evals, skipped: skippedEvals } = readEvals(abs, log);
  const diagnostics = readDiagnostics(abs, log);
  const { samples, skipped: skippedSamples } = readSamples(abs, log);
  const run: RunData = {
    dir: abs,
    name: path.basename(abs),
    metrics,
    evals,
    samples,
    issues: log.finish(),
    skippedLines: skippedMetrics + skippedEvals + skippedSamples,
  };
  if (config) run.config = config;
  if (diagnostics) run.diagnostics = diagnostics;
  return run;
}

export interface ReportOptions {
  /** Output folder: receives report.html and plots/*.svg. */
  out: string;
  title?: string;
}

export interface ReportResult {
  htmlPath: string;
  plotPaths: string[];
  runs: RunData[];
  /** Messages from the chart renderer (none for well-formed data). */
  plotWarnings: { file: string; message: string }[];
}

/** Gives runs with the same directory name distinct display names (`run`, `run-2`, …). */
function uniqueNames(runs: RunData[]): void {
  const used = new Set<string>();
  for (const run of runs) {
    let name = run.name;
    for (let i = 2; used.has(name); i++) name = `${run.name}-${i}`;
    used.add(name);
    run.name = name;
  }
}

/**
 * Reads the run directories and writes `<out>/report.html` (self-contained: plots inline, no network)
 * plus each plot as `<out>/plots/<name>.svg`. SVG files in `<out>/plots` left from an earlier report
 * that this one does not produce are removed, so the folder always matches the page.
 */
export async function writeReport(dirs: readonly string[], options: ReportOptions): Promise<ReportResult> {
  if (!dirs.length) throw new Error('report: give at least one run directory');
  const runs = dirs.map(readRun);
  uniqueNames(runs);
  const title = options.title ?? (runs.length === 1 ? `Run ${runs[0].name}` : `Runs ${runs.map((r) => r.name).join(', ')}`);
  const { html, plots } = await buildReport(runs, { title });

  const out = path.resolve(options.out);
  const plotDir = path.join(out, 'plots');
  fs.mkdirSync(plotDir, { recursive: true });
  const written = new Set(plots.map((p: ReportPlot) => p.file));
  for (const f of fs.readdirSync(plotDir)) {
    if (f.endsWith('.svg') && !written.has(f)) fs.rmSync(path.join(plotDir, f));
  }
  const plotPaths = plots.map((p) => {
    const file = path.join(plotDir, p.file);
    writeTextAtomic(file, p.svg + '\n');
    return file;
  });
  const htmlPath = path.join(out, 'report.html');
  writeTextAtomic(htmlPath, html);
  return {
    htmlPath,
    plotPaths,
    runs,
    plotWarnings: plots.flatMap((p) => p.warnings.map((message) => ({ file: p.file, message }))),
  };
}
