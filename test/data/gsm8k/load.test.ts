import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  annotationIsConsistent,
  extractAnswer,
  formatLoadReport,
  formatSolution,
  formatTrainingText,
  loadGsm8k,
  malformedCountsByReason,
  parseGsm8kJsonl,
  toTrainingSegments,
} from '../../../src/data/gsm8k';
import { describeRealData, gsm8kDir, jsonl, scratchDir, structureProblems } from './fixtures';

const tempDir = scratchDir();

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
    fs.writeFileSync(path.join(tempDir(), 'train.jsonl'), jsonl(good(1), good(2)));
    fs.writeFileSync(path.join(tempDir(), 'test.jsonl'), jsonl(good(5)));
    expect(loadGsm8k(tempDir()).examples).toHaveLength(2);
    const testSplit = loadGsm8k(tempDir(), { split: 'test' });
    expect(testSplit.examples.map((e) => e.answerNumber)).toEqual([6]);
    expect(testSplit.report.source).toBe(path.join(tempDir(), 'test.jsonl'));
    expect(loadGsm8k(path.join(tempDir(), 'train.jsonl')).report.ok).toBe(2);
  });

  test('missing files are reported with their path', () => {
    expect(() => loadGsm8k(path.join(tempDir(), 'nope.jsonl'))).toThrow(`${path.join(tempDir(), 'nope.jsonl')} does not exist`);
    expect(() => loadGsm8k(tempDir(), { split: 'test' })).toThrow(
      `GSM8K test split not found: ${path.join(tempDir(), 'test.jsonl')}`,
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
