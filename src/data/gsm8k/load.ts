/**
 * GSM8K records (one JSON object per line, `{"question": ..., "answer": ...}`) into examples. Malformed records never
 * abort a load: they are skipped and listed in the {@link LoadReport} with their line number and reason.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseGsm8kAnswer, type Breakpoint, type MalformedReason } from './annotations';

export interface Gsm8kExample {
  /** 0-based line number of the record in its source (stable when other lines are skipped). */
  index: number;
  question: string;
  /** Worked solution with annotations removed and without the final `#### answer` line. */
  solution: string;
  /** Final answer as written after `####`, normalized (commas, `$`, trailing `.` removed). */
  answerText: string;
  answerNumber: number;
  breakpoints: Breakpoint[];
  /** The solution cut at every breakpoint: `steps.length === breakpoints.length + 1`, `steps.join('') === solution`. */
  steps: string[];
}

export interface MalformedRecord {
  /** 1-based line number in the source. */
  line: number;
  reason: MalformedReason;
  /** Human-readable explanation, e.g. which character position holds the unclosed `<<`. */
  detail: string;
}

export interface LoadReport {
  /** File the records came from, when loaded from disk. */
  source?: string;
  /** Non-blank lines seen. */
  total: number;
  /** Records parsed into examples. */
  ok: number;
  malformed: MalformedRecord[];
}

export interface LoadResult {
  examples: Gsm8kExample[];
  report: LoadReport;
}

export type Gsm8kSplit = 'train' | 'test';
export const GSM8K_SPLITS: readonly Gsm8kSplit[] = ['train', 'test'];

/** Parses one JSONL line into an example, or explains why it is malformed. */
export function parseGsm8kRecord(
  line: string,
  index: number,
): { ok: true; example: Gsm8kExample } | { ok: false; reason: MalformedReason; detail: string } {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch (error) {
    return { ok: false, reason: 'invalid-json', detail: (error as Error).message };
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    return { ok: false, reason: 'not-an-object', detail: `expected a JSON object, got ${describeJsonValue(record)}` };
  }
  const { question, answer } = record as { question?: unknown; answer?: unknown };
  if (typeof question !== 'string' || question.trim() === '') {
    return { ok: false, reason: 'missing-question', detail: `"question" is ${describeJsonValue(question)}` };
  }
  if (typeof answer !== 'string' || answer.trim() === '') {
    return { ok: false, reason: 'missing-answer', detail: `"answer" is ${describeJsonValue(answer)}` };
  }
  const parsed = parseGsm8kAnswer(answer);
  if (!parsed.ok) return parsed;
  const { ok: _ok, ...solution } = parsed;
  return { ok: true, example: { index, question: question.trim(), ...solution } };
}

function describeJsonValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.trim() === '' ? 'an empty string' : 'a string';
  return `a ${typeof value}`;
}

/** Parses GSM8K JSONL text. Blank lines are skipped; malformed lines are reported, not thrown. */
export function parseGsm8kJsonl(text: string, options: { source?: string } = {}): LoadResult {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const examples: Gsm8kExample[] = [];
  const report: LoadReport = { ...(options.source ? { source: options.source } : {}), total: 0, ok: 0, malformed: [] };
  lines.forEach((rawLine, lineIndex) => {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line.trim() === '') return;
    report.total++;
    const parsed = parseGsm8kRecord(line, lineIndex);
    if (parsed.ok) {
      examples.push(parsed.example);
      report.ok++;
    } else {
      report.malformed.push({ line: lineIndex + 1, reason: parsed.reason, detail: parsed.detail });
    }
  });
  return { examples, report };
}

/** The JSONL file for `split` when `pathOrDir` is a directory, otherwise `pathOrDir` itself. */
export function resolveGsm8kFile(pathOrDir: string, split: Gsm8kSplit = 'train'): string {
  let stats: fs.Stats;
  try {
    stats = fs.statSync(pathOrDir);
  } catch {
    throw new Error(`GSM8K data not found: ${pathOrDir} does not exist (download it with downloadGsm8k(dir))`);
  }
  if (!stats.isDirectory()) return pathOrDir;
  const file = path.join(pathOrDir, `${split}.jsonl`);
  if (!fs.existsSync(file)) {
    throw new Error(`GSM8K ${split} split not found: ${file} does not exist (download it with downloadGsm8k(dir))`);
  }
  return file;
}

/**
 * Loads GSM8K examples from a JSONL file, or from `<dir>/<split>.jsonl` when given a directory.
 * Malformed lines are skipped and listed in `report.malformed`.
 */
export function loadGsm8k(pathOrDir: string, options: { split?: Gsm8kSplit } = {}): LoadResult {
  const file = resolveGsm8kFile(pathOrDir, options.split);
  return parseGsm8kJsonl(fs.readFileSync(file, 'utf8'), { source: file });
}

/** Number of malformed records per reason. */
export function malformedCountsByReason(report: LoadReport): Partial<Record<MalformedReason, number>> {
  const counts: Partial<Record<MalformedReason, number>> = {};
  for (const record of report.malformed) counts[record.reason] = (counts[record.reason] ?? 0) + 1;
  return counts;
}

/**
 * One-paragraph summary, e.g.
 * `train.jsonl: 10 records, 8 ok, 2 malformed (invalid-json: 1 [line 3]; missing-final-answer: 1 [line 7])`.
 */
export function formatLoadReport(report: LoadReport, options: { maxLinesPerReason?: number } = {}): string {
  const maxLines = options.maxLinesPerReason ?? 10;
  const head = `${report.source ?? 'GSM8K'}: ${report.total} records, ${report.ok} ok, ${report.malformed.length} malformed`;
  if (report.malformed.length === 0) return head;
  const linesByReason = new Map<MalformedReason, number[]>();
  for (const record of report.malformed) {
    const lines = linesByReason.get(record.reason) ?? [];
    lines.push(record.line);
    linesByReason.set(record.reason, lines);
  }
  const parts = [...linesByReason].map(([reason, lines]) => {
    const shown = lines.slice(0, maxLines).join(', ');
    const more = lines.length > maxLines ? `, … ${lines.length - maxLines} more` : '';
    return `${reason}: ${lines.length} [line${lines.length > 1 ? 's' : ''} ${shown}${more}]`;
  });
  return `${head} (${parts.join('; ')})`;
}
