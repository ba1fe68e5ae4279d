/**
 * GSM8K loading, parsing and formatting.
 *
 * A GSM8K record is one JSON object per line: `{"question": ..., "answer": ...}`. The answer is a
 * worked solution whose arithmetic carries calculator annotations (`48/2 = <<48/2=24>>24 clips`)
 * and ends with a final line `#### 72`.
 *
 * Parsing removes every annotation and records a *breakpoint* where it stood, i.e. just before the
 * written result. Breakpoints are where latent training inserts `<bot>` + k latent tokens + `<eot>`;
 * {@link toTrainingSegments} produces the ordered pieces a tokenizer-aware module needs for that.
 *
 * Malformed records never abort a load: they are skipped and listed in the {@link LoadReport}
 * with their line number and reason.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeTextAtomic } from '../util/atomic-write';
import { seededShuffle } from './random';

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** The place in a solution where a calculator annotation stood. */
export interface Breakpoint {
  /** Character offset in the cleaned solution text (annotation removed); the written result starts here. */
  offset: number;
  /** Left side of the annotation (`48/2` in `<<48/2=24>>`); the whole content when there is no `=`. */
  expression: string;
  /** Right side of the annotation after its last `=` (`24`); empty when the annotation has no `=`. */
  result: string;
  /** Cleaned text from this breakpoint up to the next breakpoint, or to the end of the solution. */
  nextStep: string;
}

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

export type MalformedReason =
  | 'invalid-json'
  | 'not-an-object'
  | 'missing-question'
  | 'missing-answer'
  | 'missing-final-answer'
  | 'multiple-final-answers'
  | 'invalid-final-answer'
  | 'unbalanced-annotation';

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

// ---------------------------------------------------------------------------------------------
// Parsing one answer
// ---------------------------------------------------------------------------------------------

const FINAL_ANSWER_MARKER = '####';
const ANNOTATION_OPEN = '<<';
const ANNOTATION_CLOSE = '>>';

export interface ParsedSolution {
  solution: string;
  answerText: string;
  answerNumber: number;
  breakpoints: Breakpoint[];
  steps: string[];
}

export type AnswerParseResult = ({ ok: true } & ParsedSolution) | { ok: false; reason: MalformedReason; detail: string };

/** Thrown internally by the annotation scanner; turned into a malformed-record entry. */
class UnbalancedAnnotationError extends Error {}

interface RawAnnotation {
  offset: number;
  content: string;
}

/**
 * Removes calculator annotations from `text`, returning the cleaned text and where each one stood.
 *
 * Tolerated oddities: extra `<` / `>` glued to the markers (`<<<2*3=6>>>`), and nested annotations
 * (`<<3*<<2*2=4>>=12>>`, which count once, with the inner annotation replaced by its result).
 * A `<<` without a closing `>>`, or a `>>` without an opening `<<`, throws.
 */
function stripAnnotations(text: string): { cleaned: string; annotations: RawAnnotation[] } {
  let cleaned = '';
  const annotations: RawAnnotation[] = [];
  let position = 0;
  while (position < text.length) {
    const open = text.indexOf(ANNOTATION_OPEN, position);
    const close = text.indexOf(ANNOTATION_CLOSE, position);
    if (close !== -1 && (open === -1 || close < open)) {
      throw new UnbalancedAnnotationError(`'>>' at character ${close} has no matching '<<'`);
    }
    if (open === -1) {
      cleaned += text.slice(position);
      break;
    }
    cleaned += text.slice(position, open);
    const contentStart = open + ANNOTATION_OPEN.length;
    const contentEnd = findMatchingClose(text, contentStart, open);
    let content = text.slice(contentStart, contentEnd);
    content = content.replace(/^<+/, ''); // '<<<' : extra '<'
    content = flattenNestedAnnotations(content);
    annotations.push({ offset: cleaned.length, content });
    position = contentEnd + ANNOTATION_CLOSE.length;
    while (text[position] === '>') position++; // '>>>' : extra '>'
  }
  return { cleaned, annotations };
}

/** Index of the `>>` closing the annotation opened at `openIndex`, counting nested `<<`. */
function findMatchingClose(text: string, from: number, openIndex: number): number {
  let depth = 1;
  let cursor = from;
  for (;;) {
    const nextOpen = text.indexOf(ANNOTATION_OPEN, cursor);
    const nextClose = text.indexOf(ANNOTATION_CLOSE, cursor);
    if (nextClose === -1) {
      throw new UnbalancedAnnotationError(`'<<' at character ${openIndex} is never closed with '>>'`);
    }
    if (nextOpen !== -1 && nextOpen < nextClose) {
      depth++;
      cursor = nextOpen + ANNOTATION_OPEN.length;
      continue;
    }
    depth--;
    if (depth === 0) return nextClose;
    cursor = nextClose + ANNOTATION_CLOSE.length;
  }
}

/** `3*<<2*2=4>>` → `3*4`: an inner annotation stands for its result. */
function flattenNestedAnnotations(content: string): string {
  const innermost = /<<([^<>]*)>>/;
  let flattened = content;
  while (innermost.test(flattened)) {
    flattened = flattened.replace(innermost, (_whole, inner: string) => splitAnnotation(inner).result || inner);
  }
  return flattened;
}

/** Splits annotation content at its last `=`: `a=b=c` → expression `a=b`, result `c`. */
function splitAnnotation(content: string): { expression: string; result: string } {
  const equals = content.lastIndexOf('=');
  if (equals === -1) return { expression: content.trim(), result: '' };
  return { expression: content.slice(0, equals).trim(), result: content.slice(equals + 1).trim() };
}

/**
 * Parses a GSM8K answer: cleans annotations, finds breakpoints and steps, extracts the final answer.
 * Never throws; problems come back as `{ok: false, reason, detail}`.
 */
export function parseGsm8kAnswer(answer: string): AnswerParseResult {
  const markerIndex = answer.indexOf(FINAL_ANSWER_MARKER);
  if (markerIndex === -1) {
    return { ok: false, reason: 'missing-final-answer', detail: "no '####' final-answer line" };
  }
  const afterMarker = answer.slice(markerIndex + FINAL_ANSWER_MARKER.length);
  if (afterMarker.includes(FINAL_ANSWER_MARKER)) {
    return { ok: false, reason: 'multiple-final-answers', detail: "more than one '####' in the answer" };
  }
  const finalAnswerRaw = afterMarker.trim();
  const answerText = normalizeNumberText(finalAnswerRaw);
  if (answerText === null) {
    return {
      ok: false,
      reason: 'invalid-final-answer',
      detail: `final answer ${JSON.stringify(finalAnswerRaw)} is not a number`,
    };
  }

  let stripped: ReturnType<typeof stripAnnotations>;
  try {
    stripped = stripAnnotations(answer.slice(0, markerIndex));
  } catch (error) {
    if (error instanceof UnbalancedAnnotationError) {
      return { ok: false, reason: 'unbalanced-annotation', detail: error.message };
    }
    throw error;
  }
  const solution = stripped.cleaned.trimEnd();
  const offsets = stripped.annotations.map((annotation) => Math.min(annotation.offset, solution.length));
  const boundaries = [0, ...offsets, solution.length];
  const steps = boundaries.slice(0, -1).map((start, i) => solution.slice(start, boundaries[i + 1]));
  const breakpoints = stripped.annotations.map((annotation, i): Breakpoint => {
    const { expression, result } = splitAnnotation(annotation.content);
    return { offset: offsets[i], expression, result, nextStep: steps[i + 1] };
  });
  return { ok: true, solution, answerText, answerNumber: Number(answerText), breakpoints, steps };
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Download
// ---------------------------------------------------------------------------------------------

/** Raw files of the official release: https://github.com/openai/grade-school-math */
export const GSM8K_BASE_URL = 'https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data';

export interface DownloadOptions {
  /** Where `<split>.jsonl` is fetched from; defaults to {@link GSM8K_BASE_URL}. */
  baseUrl?: string;
  splits?: readonly Gsm8kSplit[];
  /** Re-download files that already exist (default: keep them). */
  overwrite?: boolean;
  /** Per-file timeout (default 120 s). */
  timeoutMs?: number;
}

export interface DownloadResult {
  files: Partial<Record<Gsm8kSplit, string>>;
  downloaded: Gsm8kSplit[];
  /** Splits whose file already existed and was kept. */
  kept: Gsm8kSplit[];
}

const OFFLINE_ERROR_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ETIMEDOUT',
]);

/**
 * Downloads the GSM8K JSONL splits into `destDir` (created if needed). Each file is checked to parse
 * as GSM8K and then written atomically (temporary file + rename), so an interrupted download never
 * leaves a truncated `train.jsonl` behind.
 */
export async function downloadGsm8k(destDir: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const baseUrl = (options.baseUrl ?? GSM8K_BASE_URL).replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 120_000;
  fs.mkdirSync(destDir, { recursive: true });
  const result: DownloadResult = { files: {}, downloaded: [], kept: [] };
  for (const split of options.splits ?? GSM8K_SPLITS) {
    const file = path.join(destDir, `${split}.jsonl`);
    result.files[split] = file;
    if (!options.overwrite && fs.existsSync(file)) {
      result.kept.push(split);
      continue;
    }
    const url = `${baseUrl}/${split}.jsonl`;
    const text = await fetchText(url, timeoutMs, destDir);
    const { report } = parseGsm8kJsonl(text, { source: url });
    if (report.ok === 0) {
      throw new Error(
        `Downloaded ${url} but it is not GSM8K JSONL (${formatLoadReport(report, { maxLinesPerReason: 3 })}); nothing was written`,
      );
    }
    writeTextAtomic(file, text);
    result.downloaded.push(split);
  }
  return result;
}

async function fetchText(url: string, timeoutMs: number, destDir: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    const code = cause?.code ?? (error as Error).name;
    const offline = OFFLINE_ERROR_CODES.has(code) || code === 'TimeoutError' || code === 'AbortError';
    const hint = offline
      ? `the network or host is unreachable (offline?). Put train.jsonl and test.jsonl from https://github.com/openai/grade-school-math into ${destDir} by hand`
      : (error as Error).message;
    throw new Error(`Could not download ${url} (${code}): ${hint}`, { cause: error });
  }
  if (!response.ok) {
    throw new Error(`Could not download ${url}: HTTP ${response.status} ${response.statusText}`);
  }
  return response.text();
}

// ---------------------------------------------------------------------------------------------
// Splits
// ---------------------------------------------------------------------------------------------

export interface SplitOptions {
  /** Fraction of items held out, in (0, 1). Give this or `validationSize`. */
  validationFraction?: number;
  /** Number of items held out. */
  validationSize?: number;
  seed: number;
}

/**
 * Deterministically holds out a random subset for validation. Both parts keep the input order;
 * only membership is random. The fraction is rounded to the nearest whole item.
 */
export function trainValidationSplit<T>(items: readonly T[], options: SplitOptions): { train: T[]; validation: T[] } {
  const { validationFraction, validationSize } = options;
  if ((validationFraction === undefined) === (validationSize === undefined)) {
    throw new Error('trainValidationSplit: give exactly one of validationFraction and validationSize');
  }
  let size: number;
  if (validationFraction !== undefined) {
    if (!(validationFraction > 0 && validationFraction < 1)) {
      throw new Error(`trainValidationSplit: validationFraction must be in (0, 1), got ${validationFraction}`);
    }
    size = Math.round(items.length * validationFraction);
  } else {
    size = validationSize!;
    if (!Number.isInteger(size) || size < 0 || size > items.length) {
      throw new Error(`trainValidationSplit: validationSize must be an integer in [0, ${items.length}], got ${size}`);
    }
  }
  const order = seededShuffle(
    items.map((_, i) => i),
    options.seed,
  );
  const held = new Set(order.slice(0, size));
  const train: T[] = [];
  const validation: T[] = [];
  items.forEach((item, i) => (held.has(i) ? validation : train).push(item));
  return { train, validation };
}

// ---------------------------------------------------------------------------------------------
// Formatting for training
// ---------------------------------------------------------------------------------------------

export interface TextFormat {
  /** Placed before the question. */
  questionPrefix: string;
  /** Placed between the question and the solution; generation starts after it. */
  solutionPrefix: string;
  /** Placed between the solution and the final answer (`####` keeps answers extractable with mode 'hash'). */
  finalAnswerPrefix: string;
}

export const DEFAULT_TEXT_FORMAT: Readonly<TextFormat> = Object.freeze({
  questionPrefix: 'Question: ',
  solutionPrefix: '\nAnswer: ',
  finalAnswerPrefix: '\n#### ',
});

/** The prompt the model is conditioned on: prefix, question, and the text right before the solution. */
export function formatPrompt(question: string, format: Partial<TextFormat> = {}): string {
  const { questionPrefix, solutionPrefix } = { ...DEFAULT_TEXT_FORMAT, ...format };
  return `${questionPrefix}${question}${solutionPrefix}`;
}

/** The target text: the cleaned solution followed by the final-answer line. */
export function formatSolution(example: Pick<Gsm8kExample, 'solution' | 'answerText'>, format: Partial<TextFormat> = {}): string {
  const { finalAnswerPrefix } = { ...DEFAULT_TEXT_FORMAT, ...format };
  return `${example.solution}${finalAnswerPrefix}${example.answerText}`;
}

/** Prompt and target concatenated: the full text of a plain (no-latent) training example. */
export function formatTrainingText(example: Gsm8kExample, format: Partial<TextFormat> = {}): string {
  return formatPrompt(example.question, format) + formatSolution(example, format);
}

export type TrainingSegment =
  | { kind: 'question'; text: string }
  | { kind: 'language'; text: string }
  /** Where latents go; `text` is always empty so segment texts concatenate to the plain training text. */
  | { kind: 'breakpoint'; text: ''; breakpoint: Breakpoint; breakpointIndex: number };

/**
 * The training text cut at every breakpoint: the prompt, then language and breakpoint segments in
 * order. Empty language segments (adjacent annotations, an annotation at the very start) are omitted.
 * Joining all `text` fields gives exactly {@link formatTrainingText}, so inserting zero latents at
 * every breakpoint reproduces the baseline.
 */
export function toTrainingSegments(example: Gsm8kExample, format: Partial<TextFormat> = {}): TrainingSegment[] {
  const segments: TrainingSegment[] = [{ kind: 'question', text: formatPrompt(example.question, format) }];
  const finalAnswerLine = { ...DEFAULT_TEXT_FORMAT, ...format }.finalAnswerPrefix + example.answerText;
  const lastStep = example.steps.length - 1;
  example.steps.forEach((step, i) => {
    if (i > 0) {
      segments.push({ kind: 'breakpoint', text: '', breakpoint: example.breakpoints[i - 1], breakpointIndex: i - 1 });
    }
    const text = i === lastStep ? step + finalAnswerLine : step;
    if (text !== '') segments.push({ kind: 'language', text });
  });
  return segments;
}

// ---------------------------------------------------------------------------------------------
// Answers and arithmetic
// ---------------------------------------------------------------------------------------------

/**
 * A number as written in text: optional sign and `$` (`-$5`, `$-5`), thousands separators in groups
 * of three, decimals (`.5` too). Groups: sign before `$`, sign after `$`, digits.
 */
const SIGNED_NUMBER = String.raw`(-?)\$?(-?)(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)`;
/** In running text; the look-behind keeps `5-3` from reading as `5` and `-3`, and `x2` as `2`. */
const NUMBER_IN_TEXT = new RegExp(String.raw`(?<![\w.])` + SIGNED_NUMBER, 'g');
/** A whole string that is one number, optionally ending a sentence (`72.`). */
const WHOLE_NUMBER = new RegExp(`^${SIGNED_NUMBER}\\.?$`);

/** Canonical text of a matched number: sign and digits, no `$` or commas; null for a doubled sign. */
function canonicalNumber(match: RegExpExecArray | RegExpMatchArray): string | null {
  const [, signBeforeDollar, signAfterDollar, digits] = match;
  if (signBeforeDollar && signAfterDollar) return null;
  return `${signBeforeDollar || signAfterDollar}${digits.replace(/,/g, '')}`;
}

/** `"$1,234."` → `"1234"`; `null` when the text is not a single number. */
function normalizeNumberText(text: string): string | null {
  const match = WHOLE_NUMBER.exec(text.trim());
  return match ? canonicalNumber(match) : null;
}

function numbersIn(text: string): number[] {
  return [...text.matchAll(NUMBER_IN_TEXT)].flatMap((match) => {
    const canonical = canonicalNumber(match);
    return canonical === null ? [] : [Number(canonical)];
  });
}

export type AnswerExtractionMode = 'hash' | 'last-number';

/**
 * The answer in a model's output. Mode `'hash'` reads the first number on the line after the first
 * `####` (null if there is none); `'last-number'` takes the last number anywhere in the text.
 * Commas, `$`, a trailing `.` and negative signs are handled.
 */
export function extractAnswer(text: string, options: { mode?: AnswerExtractionMode } = {}): number | null {
  const mode = options.mode ?? 'hash';
  if (mode === 'hash') {
    const marker = text.indexOf(FINAL_ANSWER_MARKER);
    if (marker === -1) return null;
    const line = text.slice(marker + FINAL_ANSWER_MARKER.length).split('\n', 1)[0];
    return numbersIn(line)[0] ?? null;
  }
  if (mode === 'last-number') {
    const numbers = numbersIn(text);
    return numbers.length > 0 ? numbers[numbers.length - 1] : null;
  }
  throw new Error(`extractAnswer: unknown mode ${JSON.stringify(mode)}`);
}

/** Equal within `max(absolute, relative * max(|a|, |b|))`; `null`/`undefined`/NaN never match. */
export function answersEqual(
  a: number | null | undefined,
  b: number | null | undefined,
  tolerance: { absolute?: number; relative?: number } = {},
): boolean {
  if (a === null || a === undefined || b === null || b === undefined || Number.isNaN(a) || Number.isNaN(b)) return false;
  if (a === b) return true;
  const bound = Math.max(tolerance.absolute ?? 1e-6, (tolerance.relative ?? 1e-9) * Math.max(Math.abs(a), Math.abs(b)));
  return Math.abs(a - b) <= bound;
}

/**
 * Evaluates calculator-annotation arithmetic with Python's precedence (GSM8K's calculator is Python):
 * numbers (with `,` thousands separators and `.5` decimals), `+ - * /`, floor division `//`,
 * power `**`, unary signs and parentheses. Throws on anything else or on division by zero.
 */
export function evaluateExpression(expression: string): number {
  let position = 0;
  const fail = (message: string): never => {
    throw new Error(`Cannot evaluate ${JSON.stringify(expression)}: ${message} at character ${position}`);
  };
  const skipSpaces = () => {
    while (expression[position] === ' ' || expression[position] === '\t') position++;
  };
  const peek = () => {
    skipSpaces();
    return expression[position];
  };
  const parseSum = (): number => {
    let value = parseProduct();
    for (let op = peek(); op === '+' || op === '-'; op = peek()) {
      position++;
      const right = parseProduct();
      value = op === '+' ? value + right : value - right;
    }
    return value;
  };
  const parseProduct = (): number => {
    let value = parseUnary();
    for (let op = peek(); op === '*' || op === '/'; op = peek()) {
      const floor = op === '/' && expression[position + 1] === '/';
      position += floor ? 2 : 1;
      const right = parseUnary();
      if (op === '/' && right === 0) fail('division by zero');
      value = op === '*' ? value * right : floor ? Math.floor(value / right) : value / right;
    }
    return value;
  };
  const parseUnary = (): number => {
    const char = peek();
    if (char === '-' || char === '+') {
      position++;
      const operand = parseUnary();
      return char === '-' ? -operand : operand;
    }
    return parsePower();
  };
  // Python: `-2**2` is -4 and `2**-1` is 0.5, so the exponent is a unary expression.
  const parsePower = (): number => {
    const base = parsePrimary();
    if (peek() === '*' && expression[position + 1] === '*') {
      position += 2;
      return base ** parseUnary();
    }
    return base;
  };
  const parsePrimary = (): number => {
    if (peek() === '(') {
      position++;
      const value = parseSum();
      if (peek() !== ')') fail("expected ')'");
      position++;
      return value;
    }
    const match = /^(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+)/.exec(expression.slice(position));
    if (!match)
      return fail(position >= expression.length ? 'unexpected end' : `unexpected ${JSON.stringify(expression[position])}`);
    position += match[0].length;
    return Number(match[0].replace(/,/g, ''));
  };
  const value = parseSum();
  if (peek() !== undefined) fail(`unexpected ${JSON.stringify(expression[position])}`);
  return value;
}

/**
 * Whether an annotation's expression evaluates to its result. A result written with d decimals
 * matches a value that rounds to it (`10/3=3.33`). `null` when either side cannot be evaluated.
 */
export function annotationIsConsistent(breakpoint: Pick<Breakpoint, 'expression' | 'result'>): boolean | null {
  let computed: number;
  let written: number;
  try {
    computed = evaluateExpression(breakpoint.expression);
    written = evaluateExpression(breakpoint.result);
  } catch {
    return null;
  }
  const decimals = /^[-+]?[\d,]*\.(\d+)$/.exec(breakpoint.result.trim())?.[1].length ?? 0;
  const roundingSlack = decimals > 0 ? 0.5 * 10 ** -decimals : 0;
  return answersEqual(computed, written, { absolute: roundingSlack + 1e-9 });
}
