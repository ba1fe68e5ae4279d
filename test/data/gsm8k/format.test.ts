import {
  DEFAULT_TEXT_FORMAT,
  formatPrompt,
  formatSolution,
  formatTrainingText,
  toTrainingSegments,
  type Gsm8kExample,
} from '../../../src/data/gsm8k';
import { parseOk } from './fixtures';

describe('formatting and training segments', () => {
  const example = (answer: string): Gsm8kExample => ({ index: 0, question: 'How many?', ...parseOk(answer) });

  test('prompt, solution and training text', () => {
    const e = example('Ann has 2+3=<<2+3=5>>5 cats.\n#### 5');
    expect(formatPrompt(e.question)).toBe('Question: How many?\nAnswer: ');
    expect(formatSolution(e)).toBe('Ann has 2+3=5 cats.\n#### 5');
    expect(formatTrainingText(e)).toBe('Question: How many?\nAnswer: Ann has 2+3=5 cats.\n#### 5');
    const custom = { questionPrefix: 'Q: ', solutionPrefix: '\nA: ', finalAnswerPrefix: '\nThe answer is ' };
    expect(formatTrainingText(e, custom)).toBe('Q: How many?\nA: Ann has 2+3=5 cats.\nThe answer is 5');
    expect(formatTrainingText(e, { questionPrefix: '' })).toBe(
      `How many?${DEFAULT_TEXT_FORMAT.solutionPrefix}Ann has 2+3=5 cats.\n#### 5`,
    );
  });

  test('segments alternate language and breakpoints; the final answer closes the last language segment', () => {
    const e = example('Ann has 2+3=<<2+3=5>>5 cats.\nThen 5*2=<<5*2=10>>10.\n#### 10');
    const segments = toTrainingSegments(e);
    expect(segments.map((s) => [s.kind, s.text])).toEqual([
      ['question', 'Question: How many?\nAnswer: '],
      ['language', 'Ann has 2+3='],
      ['breakpoint', ''],
      ['language', '5 cats.\nThen 5*2='],
      ['breakpoint', ''],
      ['language', '10.\n#### 10'],
    ]);
    const breakpoints = segments.filter((s) => s.kind === 'breakpoint');
    expect(breakpoints.map((s) => (s.kind === 'breakpoint' ? [s.breakpointIndex, s.breakpoint.expression] : null))).toEqual([
      [0, '2+3'],
      [1, '5*2'],
    ]);
  });

  test('empty language segments are omitted but breakpoints are kept', () => {
    const e = example('<<1+1=2>><<2+2=4>>4 apples\n#### 4');
    expect(toTrainingSegments(e).map((s) => s.kind)).toEqual(['question', 'breakpoint', 'breakpoint', 'language']);
    expect(
      toTrainingSegments(e)
        .map((s) => s.text)
        .join(''),
    ).toBe(formatTrainingText(e));
  });

  test('a solution without annotations is one language segment', () => {
    const e = example('Just 4.\n#### 4');
    expect(toTrainingSegments(e, { finalAnswerPrefix: ' => ' }).map((s) => [s.kind, s.text])).toEqual([
      ['question', 'Question: How many?\nAnswer: '],
      ['language', 'Just 4. => 4'],
    ]);
  });
});
