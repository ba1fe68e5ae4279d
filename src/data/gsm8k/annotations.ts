/**
 * One GSM8K answer cut at its calculator annotations: each `<<48/2=24>>` is removed and becomes a breakpoint just
 * before the written result, where latent training inserts `<bot>` + k latents + `<eot>`; the final `#### 72` line
 * becomes the answer.
 */
import { FINAL_ANSWER_MARKER, normalizeNumberText } from './answers';

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

export type MalformedReason =
  | 'invalid-json'
  | 'not-an-object'
  | 'missing-question'
  | 'missing-answer'
  | 'missing-final-answer'
  | 'multiple-final-answers'
  | 'invalid-final-answer'
  | 'unbalanced-annotation';

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
