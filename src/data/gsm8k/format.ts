/**
 * GSM8K examples as training text: the prompt, the target, and the text cut at every breakpoint
 * ({@link toTrainingSegments}), the ordered pieces a tokenizer-aware module needs to insert latents.
 */
import type { Breakpoint } from './annotations';
import type { Gsm8kExample } from './load';

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
