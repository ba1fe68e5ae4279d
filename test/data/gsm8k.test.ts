import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  annotationIsConsistent,
  answersEqual,
  DEFAULT_TEXT_FORMAT,
  deriveSeed,
  downloadGsm8k,
  evaluateExpression,
  extractAnswer,
  formatLoadReport,
  formatPrompt,
  formatSolution,
  formatTrainingText,
  Gsm8kExample,
  loadGsm8k,
  malformedCountsByReason,
  mulberry32,
  parseGsm8kAnswer,
  parseGsm8kJsonl,
  ParsedSolution,
  seededShuffle,
  toTrainingSegments,
  trainValidationSplit,
} from '../../src/data';

const repoRoot = path.resolve(__dirname, '../..');
const gsm8kDir = process.env.GSM8K_DIR ?? path.resolve(repoRoot, '../shared/gsm8k');
const haveRealData = fs.existsSync(path.join(gsm8kDir, 'train.jsonl')) && fs.existsSync(path.join(gsm8kDir, 'test.jsonl'));
if (!haveRealData) {
  console.log(`Skipping real-GSM8K tests: no train.jsonl/test.jsonl in ${gsm8kDir} (set GSM8K_DIR to a directory that has them)`);
}
const describeRealData = haveRealData ? describe : describe.skip;

function parseOk(answer: string): ParsedSolution {
  const parsed = parseGsm8kAnswer(answer);
  if (!parsed.ok) throw new Error(`expected ${JSON.stringify(answer)} to parse, got ${parsed.reason}: ${parsed.detail}`);
  return parsed;
}

function jsonl(...records: unknown[]): string {
  return records.map((record) => (typeof record === 'string' ? record : JSON.stringify(record))).join('\n') + '\n';
}

/** Violations of the structural invariants every parsed solution must satisfy (plain checks: fast on 8.8k records). */
function structureProblems(parsed: Pick<Gsm8kExample, 'solution' | 'breakpoints' | 'steps'>): string[] {
  const problems: string[] = [];
  if (parsed.steps.length !== parsed.breakpoints.length + 1) problems.push('steps.length !== breakpoints.length + 1');
  if (parsed.steps.join('') !== parsed.solution) problems.push('steps do not join to the solution');
  if (/<<|>>|####/.test(parsed.solution)) problems.push('markers left in the solution');
  parsed.breakpoints.forEach((breakpoint, i) => {
    if (breakpoint.nextStep !== parsed.steps[i + 1]) problems.push(`breakpoint ${i}: nextStep differs from steps[${i + 1}]`);
    if (parsed.solution.slice(breakpoint.offset, breakpoint.offset + breakpoint.nextStep.length) !== breakpoint.nextStep) {
      problems.push(`breakpoint ${i}: nextStep is not at offset ${breakpoint.offset}`);
    }
    if (i > 0 && breakpoint.offset < parsed.breakpoints[i - 1].offset) problems.push(`breakpoint ${i}: offset decreases`);
  });
  return problems;
}

function expectConsistentStructure(parsed: Pick<Gsm8kExample, 'solution' | 'breakpoints' | 'steps'>): void {
  expect(structureProblems(parsed)).toEqual([]);
}

let tempDir: string;
beforeEach(() => {
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-gsm8k-'));
});
afterEach(() => {
  fs.rmSync(tempDir, { recursive: true, force: true });
});

describe('parseGsm8kAnswer', () => {
  test('splits at the annotation, just before the written result', () => {
    const parsed = parseOk('Ana walks 7 * 3,200 = <<7*3200=22400>>22,400 steps a week.\n#### 22400');
    expect(parsed.solution).toBe('Ana walks 7 * 3,200 = 22,400 steps a week.');
    expect(parsed.steps).toEqual(['Ana walks 7 * 3,200 = ', '22,400 steps a week.']);
    expect(parsed.breakpoints).toEqual([
      { offset: 'Ana walks 7 * 3,200 = '.length, expression: '7*3200', result: '22400', nextStep: '22,400 steps a week.' },
    ]);
    expect(parsed.answerText).toBe('22400');
    expect(parsed.answerNumber).toBe(22400);
  });

  test('multi-step solution: next step runs to the next breakpoint, the last one to the end', () => {
    const parsed = parseOk('Bo has 3+4=<<3+4=7>>7 cups.\nThen 7*2=<<7*2=14>>14 cups.\n#### 14');
    expect(parsed.breakpoints.map((b) => b.nextStep)).toEqual(['7 cups.\nThen 7*2=', '14 cups.']);
    expect(parsed.breakpoints.map((b) => b.expression)).toEqual(['3+4', '7*2']);
    expectConsistentStructure(parsed);
  });

  test('currency, percent, decimals and negatives around annotations', () => {
    const parsed = parseOk(
      'She earns 12/60 = $<<12/60=0.2>>0.2 a minute.\nThat is 20/100*50=<<20/100*50=10>>10% more.\n' +
        'It fell -14 + (-8) = <<-14+(-8)=-22>>-22 degrees.\n#### -22',
    );
    expect(parsed.steps[0]).toBe('She earns 12/60 = $');
    expect(parsed.breakpoints.map((b) => [b.expression, b.result])).toEqual([
      ['12/60', '0.2'],
      ['20/100*50', '10'],
      ['-14+(-8)', '-22'],
    ]);
    expect(parsed.breakpoints[1].nextStep.startsWith('10% more.')).toBe(true);
    expect(parsed.answerNumber).toBe(-22);
    expectConsistentStructure(parsed);
  });

  test('annotation without "=" keeps its content as the expression and an empty result', () => {
    const parsed = parseOk('Half of 48 is <<48/2>>24.\n#### 24');
    expect(parsed.breakpoints[0]).toMatchObject({ expression: '48/2', result: '', nextStep: '24.' });
    expect(parsed.solution).toBe('Half of 48 is 24.');
  });

  test('several "=" split at the last one', () => {
    const parsed = parseOk('x = <<2*3=3*2=6>>6\n#### 6');
    expect(parsed.breakpoints[0]).toMatchObject({ expression: '2*3=3*2', result: '6' });
  });

  test('nested annotations count once, the inner one standing for its result', () => {
    const parsed = parseOk('Total 3*4 = <<3*<<2*2=4>>=12>>12 eggs.\n#### 12');
    expect(parsed.solution).toBe('Total 3*4 = 12 eggs.');
    expect(parsed.breakpoints).toHaveLength(1);
    expect(parsed.breakpoints[0]).toMatchObject({ expression: '3*4', result: '12', offset: 'Total 3*4 = '.length });
  });

  test('extra "<" and ">" glued to the markers are dropped', () => {
    const parsed = parseOk('He has 2*3=<<<2*3=6>>>6 pens.\n#### 6');
    expect(parsed.solution).toBe('He has 2*3=6 pens.');
    expect(parsed.breakpoints[0]).toMatchObject({ expression: '2*3', result: '6', nextStep: '6 pens.' });
  });

  test('comparison signs in the prose are left alone', () => {
    const parsed = parseOk('4 x 101 = <<4*101=404>>404 and 404 > 400, while 4 < 4.8 < 5 and x >= 2.\n#### 404');
    expect(parsed.solution).toBe('4 x 101 = 404 and 404 > 400, while 4 < 4.8 < 5 and x >= 2.');
    expect(parsed.breakpoints).toHaveLength(1);
  });

  test('no annotations: one step, no breakpoints', () => {
    const parsed = parseOk('She reads 5 pages.\n#### 5');
    expect(parsed.breakpoints).toEqual([]);
    expect(parsed.steps).toEqual(['She reads 5 pages.']);
  });

  test('adjacent annotations and one at the very start give empty steps', () => {
    const parsed = parseOk('<<1+1=2>><<2+2=4>>4 apples\n#### 4');
    expect(parsed.steps).toEqual(['', '', '4 apples']);
    expect(parsed.breakpoints.map((b) => b.offset)).toEqual([0, 0]);
    expectConsistentStructure(parsed);
  });

  test('an annotation right before the final line gets an empty next step', () => {
    const parsed = parseOk('So the total is <<5+5=10>>\n#### 10');
    expect(parsed.solution).toBe('So the total is');
    expect(parsed.breakpoints[0]).toMatchObject({ offset: parsed.solution.length, nextStep: '' });
    expectConsistentStructure(parsed);
  });

  test.each([
    ['#### 1,600', '1600', 1600],
    ['#### -47', '-47', -47],
    ['#### $5', '5', 5],
    ['#### 3.5', '3.5', 3.5],
    ['#### 72.', '72', 72],
    ['####   .25  ', '.25', 0.25],
  ])('final answer %j', (finalLine, answerText, answerNumber) => {
    const parsed = parseOk(`Done.\n${finalLine}`);
    expect(parsed.answerText).toBe(answerText);
    expect(parsed.answerNumber).toBe(answerNumber);
    expect(parsed.solution).toBe('Done.');
  });

  test.each([
    ['Adds 2+2=<<2+2=4>>4.', 'missing-final-answer', /####/],
    ['#### 4\n#### 5', 'multiple-final-answers', /more than one/],
    ['So four.\n#### four', 'invalid-final-answer', /"four"/],
    ['So.\n####', 'invalid-final-answer', /""/],
    ['So.\n#### 1,00', 'invalid-final-answer', /"1,00"/],
    ['Adds 2+2=<<2+2=4 and stops.\n#### 4', 'unbalanced-annotation', /'<<' at character 9 is never closed/],
    ['Adds 2+2=4>> oops.\n#### 4', 'unbalanced-annotation', /'>>' at character 10 has no matching '<<'/],
    ['A <<1+<<2=2>>=3 only.\n#### 3', 'unbalanced-annotation', /never closed/],
  ])('malformed answer %j → %s', (answer, reason, detail) => {
    const parsed = parseGsm8kAnswer(answer);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.reason).toBe(reason);
    expect(parsed.detail).toMatch(detail);
  });
});

describe('parseGsm8kJsonl and loadGsm8k', () => {
  const good = (n: number) => ({ question: `Q${n}?`, answer: `Take ${n}+1=<<${n}+1=${n + 1}>>${n + 1}.\n#### ${n + 1}` });

  test('malformed lines are counted per reason with line numbers and never abort the load', () => {
    const text = jsonl(
      good(1),
      '{"question": "broken",',
      '[1, 2]',
      { answer: 'x\n#### 1' },
      { question: 'Q?', answer: 7 },
      good(2),
      { question: '   ', answer: 'y\n#### 2' },
      { question: 'Q?', answer: 'no final line' },
      { question: 'Q?', answer: 'open <<1+1=2 forever\n#### 2' },
      good(3),
    );
    const { examples, report } = parseGsm8kJsonl(text, { source: 'fixture.jsonl' });
    expect(examples.map((e) => e.question)).toEqual(['Q1?', 'Q2?', 'Q3?']);
    expect(examples.map((e) => e.index)).toEqual([0, 5, 9]);
    expect(report).toMatchObject({ source: 'fixture.jsonl', total: 10, ok: 3 });
    expect(report.malformed.map(({ line, reason }) => [line, reason])).toEqual([
      [2, 'invalid-json'],
      [3, 'not-an-object'],
      [4, 'missing-question'],
      [5, 'missing-answer'],
      [7, 'missing-question'],
      [8, 'missing-final-answer'],
      [9, 'unbalanced-annotation'],
    ]);
    expect(report.malformed[3].detail).toBe('"answer" is a number');
    expect(malformedCountsByReason(report)).toEqual({
      'invalid-json': 1,
      'not-an-object': 1,
      'missing-question': 2,
      'missing-answer': 1,
      'missing-final-answer': 1,
      'unbalanced-annotation': 1,
    });
    const summary = formatLoadReport(report);
    expect(summary).toContain('fixture.jsonl: 10 records, 3 ok, 7 malformed');
    expect(summary).toContain('missing-question: 2 [lines 4, 7]');
    expect(summary).toContain('invalid-json: 1 [line 2]');
  });

  test('formatLoadReport truncates long line lists', () => {
    const text = jsonl(...Array.from({ length: 6 }, () => '{'));
    const summary = formatLoadReport(parseGsm8kJsonl(text).report, { maxLinesPerReason: 2 });
    expect(summary).toBe('GSM8K: 6 records, 0 ok, 6 malformed (invalid-json: 6 [lines 1, 2, … 4 more])');
  });

  test('blank lines, CRLF line ends and a byte-order mark are tolerated', () => {
    const text = '\uFEFF' + JSON.stringify(good(1)) + '\r\n\r\n   \n' + JSON.stringify(good(2)) + '\r\n';
    const { examples, report } = parseGsm8kJsonl(text);
    expect(report).toEqual({ total: 2, ok: 2, malformed: [] });
    expect(examples.map((e) => e.index)).toEqual([0, 3]);
    expect(examples[1].answerNumber).toBe(3);
  });

  test('loads a file, or a split from a directory', () => {
    fs.writeFileSync(path.join(tempDir, 'train.jsonl'), jsonl(good(1), good(2)));
    fs.writeFileSync(path.join(tempDir, 'test.jsonl'), jsonl(good(5)));
    expect(loadGsm8k(tempDir).examples).toHaveLength(2);
    const testSplit = loadGsm8k(tempDir, { split: 'test' });
    expect(testSplit.examples.map((e) => e.answerNumber)).toEqual([6]);
    expect(testSplit.report.source).toBe(path.join(tempDir, 'test.jsonl'));
    expect(loadGsm8k(path.join(tempDir, 'train.jsonl')).report.ok).toBe(2);
  });

  test('missing files are reported with their path', () => {
    expect(() => loadGsm8k(path.join(tempDir, 'nope.jsonl'))).toThrow(`${path.join(tempDir, 'nope.jsonl')} does not exist`);
    expect(() => loadGsm8k(tempDir, { split: 'test' })).toThrow(
      `GSM8K test split not found: ${path.join(tempDir, 'test.jsonl')}`,
    );
  });
});

describeRealData('real GSM8K files', () => {
  let train: ReturnType<typeof loadGsm8k>;
  let testSplit: ReturnType<typeof loadGsm8k>;
  const rawLines = (split: string) => fs.readFileSync(path.join(gsm8kDir, `${split}.jsonl`), 'utf8').split('\n');
  beforeAll(() => {
    train = loadGsm8k(gsm8kDir, { split: 'train' });
    testSplit = loadGsm8k(gsm8kDir, { split: 'test' });
  });

  test('every record of both splits parses', () => {
    expect(train.report).toMatchObject({ total: 7473, ok: 7473, malformed: [] });
    expect(testSplit.report).toMatchObject({ total: 1319, ok: 1319, malformed: [] });
    expect(train.examples[7472].index).toBe(7472);
  });

  test('structure, annotation arithmetic and final answers are consistent throughout', () => {
    const problems: string[] = [];
    let breakpointCount = 0;
    let withoutAnnotations = 0;
    for (const [split, result] of [
      ['train', train],
      ['test', testSplit],
    ] as const) {
      const lines = rawLines(split);
      for (const example of result.examples) {
        const where = `${split}:${example.index + 1}`;
        problems.push(...structureProblems(example).map((problem) => `${where} ${problem}`));
        const rawAnswer = JSON.parse(lines[example.index]).answer as string;
        if (extractAnswer(rawAnswer, { mode: 'hash' }) !== example.answerNumber)
          problems.push(`${where} extractAnswer(raw) differs`);
        if (extractAnswer(formatSolution(example), { mode: 'hash' }) !== example.answerNumber)
          problems.push(`${where} extractAnswer(formatted) differs`);
        breakpointCount += example.breakpoints.length;
        if (example.breakpoints.length === 0) withoutAnnotations++;
        for (const breakpoint of example.breakpoints) {
          const annotation = `${breakpoint.expression}=${breakpoint.result}`;
          if (annotationIsConsistent(breakpoint) !== true) problems.push(`${where} inconsistent ${annotation}`);
          // The written result follows the breakpoint (GSM8K sometimes adds thousands separators).
          if (!breakpoint.nextStep.replace(/,/g, '').startsWith(breakpoint.result))
            problems.push(`${where} ${annotation} not followed by its result`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(breakpointCount).toBe(23716 + 4282);
    expect(withoutAnnotations).toBe(95 + 18);
  });

  test('odd real lines', () => {
    const trainLine = (line: number) => train.examples[line - 1];
    const testLine = (line: number) => testSplit.examples[line - 1];

    // Negative results and a negative final answer: "3N = <<-153=-153>>-153 ... #### -47".
    expect(trainLine(5845).breakpoints.map((b) => [b.expression, b.result])).toEqual([
      ['-153', '-153'],
      ['-47', '-47'],
    ]);
    expect(trainLine(5845).answerNumber).toBe(-47);
    // Parenthesised negative operand.
    expect(testLine(490).breakpoints[0]).toMatchObject({ expression: '-48+21+(-3)', result: '-30' });
    // Final answer written with a thousands separator.
    expect(testLine(202)).toMatchObject({ answerText: '114200', answerNumber: 114200 });
    // Results written with separators after the annotation, `$` before it.
    expect(trainLine(16).breakpoints[3]).toMatchObject({ expression: '4500*5', result: '22500' });
    expect(trainLine(16).breakpoints[3].nextStep.startsWith('22,500\n')).toBe(true);
    expect(trainLine(16).steps[0].endsWith('=$')).toBe(true);
    // A fraction as the result, and Python floor division in the expression.
    expect(testLine(320).breakpoints[1]).toMatchObject({ expression: '3/4', result: '3/4' });
    expect(trainLine(395).breakpoints.some((b) => b.expression === '560//10' && b.result === '56')).toBe(true);
    // `+<<2=2>>2`: the sign stays in the prose.
    expect(testLine(1114).steps[0]).toBe('Start = +');
    // Comparisons in the prose next to annotations.
    expect(trainLine(1717).solution).toContain('because 404 > 400');
    expect(testLine(1138).solution).toContain('is >=200 because 200 / 5 =40');
  });

  test('training segments reproduce the training text for every example', () => {
    const mismatches = [...train.examples, ...testSplit.examples].filter((example) => {
      const segments = toTrainingSegments(example);
      return (
        segments.map((s) => s.text).join('') !== formatTrainingText(example) ||
        segments.filter((s) => s.kind === 'breakpoint').length !== example.breakpoints.length
      );
    });
    expect(mismatches.map((example) => example.index)).toEqual([]);
  });
});

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

describe('extractAnswer and answersEqual', () => {
  test.each([
    ['so the total is 72.\n#### 72', 72],
    ['#### $1,234.50', 1234.5],
    ['#### -$5', -5],
    ['#### $-5 dollars', -5],
    ['#### 72.', 72],
    ['####72', 72],
    ['#### .5', 0.5],
    ['It is 9.\n#### 18\nQuestion: next one\n#### 3', 18],
    ['#### The answer is 1,000,000 people', 1000000],
    ['no marker 5', null],
    ['#### \n 5', null],
  ])('hash mode %j → %p', (text, expected) => {
    expect(extractAnswer(text, { mode: 'hash' })).toBe(expected);
  });

  test.each([
    ['He pays $1,200 and gets 30 back, so 1,170.', 1170],
    ['The change is -7 degrees.', -7],
    ['The difference 10-3 leaves 7', 7],
    ['10-3', 3],
    ['values 3, 4, and 5.', 5],
    ['x2 then 0.75', 0.75],
    ['nothing here', null],
  ])('last-number mode %j → %p', (text, expected) => {
    expect(extractAnswer(text, { mode: 'last-number' })).toBe(expected);
  });

  test('hash is the default mode; unknown modes are rejected', () => {
    expect(extractAnswer('5 apples\n#### 6')).toBe(6);
    expect(() => extractAnswer('1', { mode: 'first' as never })).toThrow('unknown mode "first"');
  });

  test('answersEqual tolerates float error only', () => {
    expect(answersEqual(0.1 + 0.2, 0.3)).toBe(true);
    expect(answersEqual(1e12, 1e12 + 1e-3)).toBe(true);
    expect(answersEqual(72, 73)).toBe(false);
    expect(answersEqual(72, 72.01)).toBe(false);
    expect(answersEqual(72, 72.01, { absolute: 0.05 })).toBe(true);
    expect(answersEqual(null, 1)).toBe(false);
    expect(answersEqual(NaN, NaN)).toBe(false);
    expect(answersEqual(-3, -3)).toBe(true);
  });
});

describe('evaluateExpression and annotationIsConsistent', () => {
  test.each([
    ['48/2', 24],
    ['100-50-30-15', 5],
    ['2+3*4', 14],
    ['(2+3)*4', 20],
    ['-14+-8+1', -21],
    ['-48+21+(-3)', -30],
    ['.05*104000', 5200],
    ['1,000*3', 3000],
    ['560//10', 56],
    ['-7//2', -4],
    ['2**3**2', 512],
    ['-2**2', -4],
    ['2**-1', 0.5],
    [' 7 / 2 ', 3.5],
  ])('%s = %p', (expression, value) => {
    expect(evaluateExpression(expression)).toBeCloseTo(value, 12);
  });

  test.each([
    ['2+', /unexpected end/],
    ['2x3', /unexpected "x" at character 1/],
    ['(2+3', /expected '\)'/],
    ['4/0', /division by zero/],
    ['', /unexpected end/],
  ])('%j is rejected', (expression, message) => {
    expect(() => evaluateExpression(expression)).toThrow(message);
  });

  test('rounded decimal results match, integer results must be exact', () => {
    expect(annotationIsConsistent({ expression: '10/3', result: '3.33' })).toBe(true);
    expect(annotationIsConsistent({ expression: '10/3', result: '3.3' })).toBe(true);
    expect(annotationIsConsistent({ expression: '10/3', result: '3.34' })).toBe(false);
    expect(annotationIsConsistent({ expression: '10/3', result: '3' })).toBe(false);
    expect(annotationIsConsistent({ expression: '3/4', result: '3/4' })).toBe(true);
    expect(annotationIsConsistent({ expression: '2*3', result: '7' })).toBe(false);
    expect(annotationIsConsistent({ expression: '48/2', result: '' })).toBeNull();
    expect(annotationIsConsistent({ expression: 'x', result: '3' })).toBeNull();
  });
});

describe('deterministic randomness and splits', () => {
  test('mulberry32 is deterministic, in [0, 1) and roughly uniform', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const draws = Array.from({ length: 20000 }, () => a());
    expect(draws.slice(0, 100)).toEqual(Array.from({ length: 100 }, () => b()));
    expect(draws.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    const buckets = new Array(10).fill(0);
    for (const x of draws) buckets[Math.floor(x * 10)]++;
    for (const count of buckets) expect(Math.abs(count - 2000)).toBeLessThan(200);
    expect(mulberry32(43)()).not.toBe(mulberry32(42)());
    expect(() => mulberry32(1.5)).toThrow('seed must be an integer');
  });

  test('deriveSeed gives distinct, stable streams per label', () => {
    expect(deriveSeed(1, 'train')).toBe(deriveSeed(1, 'train'));
    expect(new Set([deriveSeed(1, 'train'), deriveSeed(1, 'test'), deriveSeed(2, 'train'), deriveSeed(2, 'test')]).size).toBe(4);
  });

  test('seededShuffle is a deterministic permutation that leaves its input alone', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = seededShuffle(items, 7);
    expect(shuffled).toEqual(seededShuffle(items, 7));
    expect([...shuffled].sort((x, y) => x - y)).toEqual(items);
    expect(shuffled).not.toEqual(items);
    expect(seededShuffle(items, 8)).not.toEqual(shuffled);
    expect(items).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(seededShuffle([], 1)).toEqual([]);
  });

  test('trainValidationSplit partitions deterministically and keeps order', () => {
    const items = Array.from({ length: 101 }, (_, i) => `item${i}`);
    const split = trainValidationSplit(items, { validationFraction: 0.1, seed: 3 });
    expect(split.validation).toHaveLength(10);
    expect(split.train).toHaveLength(91);
    expect(new Set([...split.train, ...split.validation]).size).toBe(101);
    const position = (item: string) => items.indexOf(item);
    for (const part of [split.train, split.validation]) {
      expect(part.map(position)).toEqual([...part.map(position)].sort((x, y) => x - y));
    }
    expect(trainValidationSplit(items, { validationFraction: 0.1, seed: 3 })).toEqual(split);
    expect(trainValidationSplit(items, { validationFraction: 0.1, seed: 4 }).validation).not.toEqual(split.validation);
    expect(trainValidationSplit(items, { validationSize: 25, seed: 3 }).validation).toHaveLength(25);
    expect(trainValidationSplit(items, { validationSize: 0, seed: 3 }).train).toEqual(items);
  });

  test.each([
    [{ seed: 1 }, 'exactly one of'],
    [{ seed: 1, validationFraction: 0.1, validationSize: 3 }, 'exactly one of'],
    [{ seed: 1, validationFraction: 1 }, 'validationFraction must be in (0, 1), got 1'],
    [{ seed: 1, validationSize: 11 }, 'validationSize must be an integer in [0, 10], got 11'],
    [{ seed: 1, validationSize: 2.5 }, 'got 2.5'],
  ])('trainValidationSplit rejects %j', (options, message) => {
    expect(() => trainValidationSplit(new Array(10).fill(0), options)).toThrow(message);
  });
});

describe('downloadGsm8k', () => {
  const trainText = jsonl({ question: 'A?', answer: 'a 1+1=<<1+1=2>>2\n#### 2' }, { question: 'B?', answer: 'b\n#### 3' });
  const testText = jsonl({ question: 'C?', answer: 'c\n#### 4' });
  let server: http.Server;
  let baseUrl: string;
  const requests: string[] = [];
  let routes: Record<string, { status: number; body: string } | 'hang'>;

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      requests.push(request.url ?? '');
      const route = routes[request.url ?? ''];
      if (route === 'hang') return; // never answers
      const { status, body } = route ?? { status: 404, body: 'Not Found' };
      response.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/data`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    requests.length = 0;
    routes = { '/data/train.jsonl': { status: 200, body: trainText }, '/data/test.jsonl': { status: 200, body: testText } };
  });

  const leftovers = (dir: string) => fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'));

  test('downloads both splits into a new directory, loadable afterwards', async () => {
    const dest = path.join(tempDir, 'nested', 'gsm8k');
    const result = await downloadGsm8k(dest, { baseUrl: `${baseUrl}/` });
    expect(result.downloaded).toEqual(['train', 'test']);
    expect(result.files).toEqual({ train: path.join(dest, 'train.jsonl'), test: path.join(dest, 'test.jsonl') });
    expect(fs.readFileSync(result.files.train!, 'utf8')).toBe(trainText);
    expect(fs.readFileSync(result.files.test!, 'utf8')).toBe(testText);
    expect(leftovers(dest)).toEqual([]);
    expect(requests).toEqual(['/data/train.jsonl', '/data/test.jsonl']);
    expect(loadGsm8k(dest, { split: 'train' }).examples.map((e) => e.answerNumber)).toEqual([2, 3]);
  });

  test('keeps existing files unless asked to overwrite', async () => {
    fs.writeFileSync(path.join(tempDir, 'train.jsonl'), 'old');
    const kept = await downloadGsm8k(tempDir, { baseUrl });
    expect(kept).toMatchObject({ downloaded: ['test'], kept: ['train'] });
    expect(fs.readFileSync(path.join(tempDir, 'train.jsonl'), 'utf8')).toBe('old');
    const replaced = await downloadGsm8k(tempDir, { baseUrl, overwrite: true, splits: ['train'] });
    expect(replaced).toMatchObject({ downloaded: ['train'], kept: [] });
    expect(fs.readFileSync(path.join(tempDir, 'train.jsonl'), 'utf8')).toBe(trainText);
  });

  test('HTTP errors name the URL and status and write nothing', async () => {
    delete routes['/data/test.jsonl'];
    await expect(downloadGsm8k(tempDir, { baseUrl })).rejects.toThrow(`Could not download ${baseUrl}/test.jsonl: HTTP 404`);
    expect(fs.readdirSync(tempDir)).toEqual(['train.jsonl']);
  });

  test('content that is not GSM8K (an HTML page) is refused', async () => {
    routes['/data/train.jsonl'] = { status: 200, body: '<html>\n<body>Sign in to the network</body>\n</html>\n' };
    await expect(downloadGsm8k(tempDir, { baseUrl })).rejects.toThrow(/is not GSM8K JSONL .*invalid-json: 3/);
    expect(fs.readdirSync(tempDir)).toEqual([]);
  });

  test('an unreachable host gives a clear offline error', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(downloadGsm8k(tempDir, { baseUrl: `http://127.0.0.1:${port}` })).rejects.toThrow(
      /Could not download http:\/\/127\.0\.0\.1:\d+\/train\.jsonl \(ECONNREFUSED\): the network or host is unreachable \(offline\?\)/,
    );
    expect(fs.readdirSync(tempDir)).toEqual([]);
  });

  test('a server that never answers times out', async () => {
    routes['/data/train.jsonl'] = 'hang';
    await expect(downloadGsm8k(tempDir, { baseUrl, timeoutMs: 200 })).rejects.toThrow(/\(TimeoutError\): .*offline/);
    expect(fs.readdirSync(tempDir)).toEqual([]);
  });
});
