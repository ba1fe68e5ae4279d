/**
 * A strict, non-recursive JSON parser for untrusted headers.
 *
 * Why not `JSON.parse`: it keeps the last of duplicate keys silently, cannot tell `1` from `1.0`,
 * rounds integers above 2^53, and its recursion limit on deep nesting depends on the stack size.
 * This parser keeps an explicit stack with a depth bound, refuses duplicate keys, and returns integer
 * literals as `bigint` (exact) and literals with a fraction or exponent as `number`, so callers can
 * demand integers the way typed JSON decoders (serde) do.
 */

export type JsonValue = null | boolean | string | bigint | number | JsonValue[] | JsonObject;
/** Objects keep their key order; duplicate keys are a parse error so a Map loses nothing. */
export type JsonObject = Map<string, JsonValue>;

export type JsonErrorKind = 'syntax' | 'duplicate-key' | 'too-deep';

export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
  constructor(
    message: string,
    readonly kind: JsonErrorKind,
    /** Index of the offending character (UTF-16 code unit) in the parsed text. */
    readonly position: number,
  ) {
    super(`${message} at character ${position}`);
  }
}

export interface StrictJsonOptions {
  /** Deepest allowed nesting of arrays and objects; the top-level container is depth 1. */
  maxDepth: number;
}

/**
 * Integer literals longer than this are returned as (inexact) numbers rather than bigints, which
 * bounds the cost of BigInt conversion; no header integer that matters comes anywhere near it.
 */
const MAX_EXACT_INTEGER_DIGITS = 400;

const LITERALS: readonly (readonly [string, boolean | null])[] = [
  ['true', true],
  ['false', false],
  ['null', null],
];

const NUMBER_PATTERN = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

// Character codes, compared with charCodeAt's numbers (plain numbers, so no enum-to-number comparisons).
const Char = {
  Tab: 0x09,
  Newline: 0x0a,
  Return: 0x0d,
  Space: 0x20,
  Quote: 0x22,
  Comma: 0x2c,
  Minus: 0x2d,
  Colon: 0x3a,
  OpenBracket: 0x5b,
  Backslash: 0x5c,
  CloseBracket: 0x5d,
  OpenBrace: 0x7b,
  CloseBrace: 0x7d,
} as const;

type Frame =
  | { readonly isObject: false; readonly items: JsonValue[] }
  | { readonly isObject: true; readonly members: JsonObject; key: string; keyPosition: number };

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

export function parseStrictJson(text: string, options: StrictJsonOptions): JsonValue {
  return new StrictJsonParser(text, options.maxDepth).parseDocument();
}

class StrictJsonParser {
  private position = 0;
  private readonly stack: Frame[] = [];

  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
  ) {}

  parseDocument(): JsonValue {
    const { text, stack } = this;
    this.skipWhitespace();
    for (;;) {
      // Parse one value; containers that are not empty push a frame and restart the loop.
      let value: JsonValue;
      const c = text.charCodeAt(this.position);
      if (c === Char.OpenBrace || c === Char.OpenBracket) {
        const isObject = c === Char.OpenBrace;
        if (stack.length >= this.maxDepth) {
          throw new JsonSyntaxError(`nesting deeper than ${this.maxDepth} levels`, 'too-deep', this.position);
        }
        this.position++;
        this.skipWhitespace();
        if (text.charCodeAt(this.position) === (isObject ? Char.CloseBrace : Char.CloseBracket)) {
          this.position++;
          value = isObject ? new Map() : [];
        } else {
          if (isObject) {
            const frame: Frame = { isObject: true, members: new Map(), key: '', keyPosition: 0 };
            stack.push(frame);
            this.parseKey(frame);
          } else {
            stack.push({ isObject: false, items: [] });
          }
          continue;
        }
      } else {
        value = this.parseScalar();
      }

      // Attach the finished value to its parent; close every container that ends here.
      for (;;) {
        const frame = stack[stack.length - 1];
        if (frame === undefined) {
          this.skipWhitespace();
          if (this.position !== text.length) this.fail('unexpected content after the JSON value');
          return value;
        }
        if (frame.isObject) {
          if (frame.members.has(frame.key)) {
            throw new JsonSyntaxError(
              `duplicate key ${JSON.stringify(frame.key)} in one object`,
              'duplicate-key',
              frame.keyPosition,
            );
          }
          frame.members.set(frame.key, value);
        } else {
          frame.items.push(value);
        }
        this.skipWhitespace();
        const next = text.charCodeAt(this.position);
        if (next === Char.Comma) {
          this.position++;
          this.skipWhitespace();
          if (frame.isObject) this.parseKey(frame);
          break;
        }
        if (next === (frame.isObject ? Char.CloseBrace : Char.CloseBracket)) {
          this.position++;
          stack.pop();
          value = frame.isObject ? frame.members : frame.items;
          continue;
        }
        this.fail(frame.isObject ? "expected ',' or '}'" : "expected ',' or ']'");
      }
      this.skipWhitespace();
    }
  }

  private parseKey(frame: Frame & { isObject: true }): void {
    if (this.text.charCodeAt(this.position) !== Char.Quote) this.fail('expected a string key');
    frame.keyPosition = this.position;
    frame.key = this.parseString();
    this.skipWhitespace();
    if (this.text.charCodeAt(this.position) !== Char.Colon) this.fail("expected ':' after the key");
    this.position++;
    this.skipWhitespace();
  }

  private parseScalar(): JsonValue {
    const { text, position } = this;
    const c = text.charCodeAt(position);
    if (c === Char.Quote) return this.parseString();
    if (c === Char.Minus || (c >= 0x30 && c <= 0x39)) return this.parseNumber();
    const literal = LITERALS.find(([word]) => text.startsWith(word, position));
    if (literal === undefined) return this.fail('expected a JSON value');
    this.position += literal[0].length;
    return literal[1];
  }

  private parseNumber(): bigint | number {
    NUMBER_PATTERN.lastIndex = this.position;
    const match = NUMBER_PATTERN.exec(this.text);
    if (match === null) return this.fail('malformed number');
    const literal = match[0];
    this.position += literal.length;
    const isInteger = match[1] === undefined && match[2] === undefined;
    // "-0" has no bigint form; as the number -0 it is not mistaken for the integer 0.
    if (!isInteger || literal === '-0' || literal.length > MAX_EXACT_INTEGER_DIGITS) return Number(literal);
    return BigInt(literal);
  }

  private parseString(): string {
    const { text } = this;
    let position = this.position + 1; // past the opening quote
    let result = '';
    let runStart = position;
    for (;;) {
      if (position >= text.length) {
        this.position = position;
        return this.fail('unterminated string');
      }
      const c = text.charCodeAt(position);
      if (c === Char.Quote) {
        this.position = position + 1;
        return result + text.slice(runStart, position);
      }
      if (c < 0x20) {
        this.position = position;
        return this.fail('unescaped control character in string');
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        // Unpaired surrogates cannot come from decoded UTF-8, but guard callers that pass other text.
        const pairedHigh = c <= 0xdbff && isLowSurrogate(text.charCodeAt(position + 1));
        if (!pairedHigh) {
          this.position = position;
          return this.fail('unpaired surrogate in string');
        }
        position += 2;
        continue;
      }
      if (c !== Char.Backslash) {
        position++;
        continue;
      }
      result += text.slice(runStart, position);
      const escape = text[position + 1];
      if (escape === 'u') {
        const unit = this.hexUnit(position + 2);
        if (unit >= 0xdc00 && unit <= 0xdfff) {
          this.position = position;
          return this.fail('unpaired low surrogate escape in string');
        }
        if (unit >= 0xd800 && unit <= 0xdbff) {
          const low = text.startsWith('\\u', position + 6) ? this.hexUnit(position + 8) : -1;
          if (!isLowSurrogate(low)) {
            this.position = position;
            return this.fail('unpaired high surrogate escape in string');
          }
          result += String.fromCharCode(unit, low);
          position += 12;
        } else {
          result += String.fromCharCode(unit);
          position += 6;
        }
      } else {
        const decoded = escape === undefined ? undefined : SIMPLE_ESCAPES[escape];
        if (decoded === undefined) {
          this.position = position;
          return this.fail('invalid escape sequence in string');
        }
        result += decoded;
        position += 2;
      }
      runStart = position;
    }
  }

  private hexUnit(start: number): number {
    const digits = this.text.slice(start, start + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) {
      this.position = start;
      return this.fail('invalid \\u escape in string');
    }
    return parseInt(digits, 16);
  }

  private skipWhitespace(): void {
    const { text } = this;
    let position = this.position;
    for (;;) {
      const c = text.charCodeAt(position);
      if (c !== Char.Space && c !== Char.Newline && c !== Char.Return && c !== Char.Tab) break;
      position++;
    }
    this.position = position;
  }

  private fail(problem: string): never {
    const { text, position } = this;
    if (position >= text.length) throw new JsonSyntaxError(`${problem}: unexpected end of input`, 'syntax', position);
    const found = text.codePointAt(position) as number;
    const printable = found >= 0x20 && found < 0x7f;
    const code = `U+${found.toString(16).toUpperCase().padStart(4, '0')}`;
    const shown = printable ? `'${String.fromCodePoint(found)}'` : code;
    throw new JsonSyntaxError(`${problem}, found ${shown}`, 'syntax', position);
  }
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}
