/** Reading the answer out of a model's output, comparing answers, and checking calculator-annotation arithmetic. */
import type { Breakpoint } from './annotations';

/** Starts the final-answer line of a GSM8K solution (`#### 72`). */
export const FINAL_ANSWER_MARKER = '####';

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
export function normalizeNumberText(text: string): string | null {
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
