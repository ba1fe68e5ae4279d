import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ArithOperation,
  ArithProblem,
  DEFAULT_ARITH_DIFFICULTY,
  evaluateExpression,
  generateArithProblem,
  generateArithProblems,
  Gsm8kExample,
  loadGsm8k,
  mulberry32,
  parseGsm8kJsonl,
  resolveArithDifficulty,
  toGsm8kJsonl,
  writeArithTask,
} from '../../src/data';
import { ARITH_PRESETS, calculationOverlap, calculationsOf, isHeldOut } from '../../src/data/arith-task';

let tempDir: string;
beforeEach(() => {
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-arith-'));
});
afterEach(() => {
  fs.rmSync(tempDir, { recursive: true, force: true });
});

/** Splits `12*3` into its operands and operator (generated expressions are always `a op b`). */
function splitExpression(expression: string): { left: number; operation: ArithOperation; right: number } {
  const match = /^(\d+)([-+*/])(\d+)$/.exec(expression);
  if (!match) throw new Error(`unexpected expression ${expression}`);
  return { left: Number(match[1]), operation: match[2] as ArithOperation, right: Number(match[3]) };
}

/** Every way a loaded example can disagree with being a correct multi-step chain; empty when all is well. */
function chainProblems(example: Gsm8kExample): string[] {
  const problems: string[] = [];
  const where = `example ${example.index}`;
  let previousResult: number | null = null;
  for (const breakpoint of example.breakpoints) {
    const value = evaluateExpression(breakpoint.expression);
    if (String(value) !== breakpoint.result)
      problems.push(`${where}: ${breakpoint.expression} is ${value}, annotated ${breakpoint.result}`);
    if (!breakpoint.nextStep.startsWith(breakpoint.result))
      problems.push(`${where}: result ${breakpoint.result} not written after the annotation`);
    const { left, right } = splitExpression(breakpoint.expression);
    if (previousResult !== null && left !== previousResult)
      problems.push(`${where}: step uses ${left}, not the previous result ${previousResult}`);
    if (!mentions(example.question, right)) problems.push(`${where}: operand ${right} is not in the question`);
    previousResult = value;
  }
  const first = example.breakpoints[0];
  if (first && !mentions(example.question, splitExpression(first.expression).left))
    problems.push(`${where}: starting amount missing from the question`);
  if (previousResult !== example.answerNumber)
    problems.push(`${where}: final answer ${example.answerNumber} is not the last result ${previousResult}`);
  return problems;
}

function mentions(text: string, value: number): boolean {
  return new RegExp(`(^|[^\\d])${value}([^\\d]|$)`).test(text);
}

function numbersInQuestion(question: string): number[] {
  return [...question.matchAll(/\d+/g)].map((match) => Number(match[0]));
}

describe('generateArithProblems', () => {
  test('is deterministic given the seed', () => {
    const a = generateArithProblems(50, { seed: 11 });
    expect(generateArithProblems(50, { seed: 11 })).toEqual(a);
    expect(generateArithProblems(50, { seed: 12 }).map((p) => p.question)).not.toEqual(a.map((p) => p.question));
    // The first problems do not depend on how many are requested.
    expect(generateArithProblems(10, { seed: 11 })).toEqual(a.slice(0, 10));
  });

  test('looks like GSM8K: annotated lines, then the final answer', () => {
    for (const problem of generateArithProblems(200, { seed: 5 })) {
      const lines = problem.answer.split('\n');
      expect(lines).toHaveLength(problem.steps.length + 1);
      lines.slice(0, -1).forEach((line, i) => {
        const { left, operation, right, result } = problem.steps[i];
        expect(line).toContain(`${left} ${operation} ${right} = `);
        expect(line).toMatch(new RegExp(`<<${left}\\${operation}${right}=${result}>>${result}( [a-z ]+)?\\.$`));
      });
      expect(lines[lines.length - 1]).toBe(`#### ${problem.finalAnswer}`);
      expect(problem.question).toMatch(/\?$/);
    }
  });

  test('steps are a correct chain with exact integer division', () => {
    const problems = generateArithProblems(1000, { seed: 9 });
    const bad = problems.filter((problem) =>
      problem.steps.some(({ left, operation, right, result }, i) => {
        const chained = i === 0 || left === problem.steps[i - 1].result;
        return (
          !chained || evaluateExpression(`${left}${operation}${right}`) !== result || !Number.isInteger(result) || result < 2
        );
      }),
    );
    expect(bad).toEqual([]);
    expect(problems.every((p) => p.finalAnswer === p.steps[p.steps.length - 1].result)).toBe(true);
    const divisions = problems.flatMap((p) => p.steps.filter((s) => s.operation === '/'));
    expect(divisions.length).toBeGreaterThan(100);
  });

  test('default difficulty covers 1–4 steps, all operations and several wordings of each', () => {
    const problems = generateArithProblems(1000, { seed: 2 });
    const stepCounts = new Set(problems.map((p) => p.steps.length));
    expect([...stepCounts].sort()).toEqual([1, 2, 3, 4]);
    const wordings = new Map<ArithOperation, Set<string>>();
    for (const problem of problems) {
      problem.answer
        .split('\n')
        .slice(0, -1)
        .forEach((line, i) => {
          const operation = problem.steps[i].operation;
          // The wording before the first number, with names and nouns masked.
          const lead = line.split(/\d/)[0].replace(/\b[A-Z][a-z]+\b/g, 'X');
          wordings.set(operation, (wordings.get(operation) ?? new Set()).add(lead));
        });
    }
    for (const operation of DEFAULT_ARITH_DIFFICULTY.operations) expect(wordings.get(operation)!.size).toBeGreaterThanOrEqual(3);
    expect(problems.some((p) => p.answer.includes('$<<'))).toBe(true);
    expect(problems.some((p) => !p.answer.includes('$'))).toBe(true);
  });

  test.each<[string, Parameters<typeof generateArithProblems>[1]]>([
    ['multiplication only', { seed: 1, operations: ['*'], minSteps: 2, maxSteps: 3 }],
    ['division only, four steps', { seed: 1, operations: ['/'], minSteps: 4, maxSteps: 4 }],
    ['one digit', { seed: 1, maxDigits: 1, minSteps: 3, maxSteps: 4 }],
    ['three digits, addition and subtraction', { seed: 1, maxDigits: 3, operations: ['+', '-'] }],
    ['small results', { seed: 1, maxResult: 500, operations: ['+', '*'] }],
  ])('respects the difficulty: %s', (_name, options) => {
    const difficulty = resolveArithDifficulty(options);
    const problems = generateArithProblems(300, options);
    for (const problem of problems) {
      expect(problem.steps.length).toBeGreaterThanOrEqual(difficulty.minSteps);
      expect(problem.steps.length).toBeLessThanOrEqual(difficulty.maxSteps);
      for (const step of problem.steps) {
        expect(difficulty.operations).toContain(step.operation);
        expect(step.result).toBeLessThanOrEqual(difficulty.maxResult);
      }
      for (const value of numbersInQuestion(problem.question)) expect(value).toBeLessThan(10 ** difficulty.maxDigits);
    }
    const usedCounts = new Set(problems.map((p) => p.steps.length));
    expect(usedCounts.size).toBe(difficulty.maxSteps - difficulty.minSteps + 1);
  });

  test('larger maxDigits gives larger operands', () => {
    const largestOperand = (maxDigits: number) =>
      Math.max(
        ...generateArithProblems(200, { seed: 4, maxDigits, operations: ['+'] }).flatMap((p) => p.steps.map((s) => s.right)),
      );
    expect(largestOperand(1)).toBeLessThanOrEqual(9);
    expect(largestOperand(3)).toBeGreaterThan(99);
  });

  test.each<[Parameters<typeof resolveArithDifficulty>[0], string]>([
    [{ minSteps: 0 }, 'minSteps must be an integer in [1, 8], got 0'],
    [{ minSteps: 3, maxSteps: 2 }, 'maxSteps must be an integer in [minSteps=3, 8], got 2'],
    [{ maxSteps: 9 }, 'got 9'],
    [{ maxDigits: 7 }, 'maxDigits must be an integer in [1, 6], got 7'],
    [{ maxDigits: 1.5 }, 'got 1.5'],
    [{ operations: [] }, 'operations must not be empty'],
    [{ operations: ['+', '%' as ArithOperation] }, 'unknown operations ["%"]'],
    [{ maxResult: 1 }, 'maxResult must be an integer'],
  ])('rejects %j', (overrides, message) => {
    expect(() => resolveArithDifficulty(overrides)).toThrow(message);
    expect(() => generateArithProblems(1, { seed: 1, ...overrides })).toThrow(message);
  });

  test('impossible settings fail with an explanation instead of looping', () => {
    // With one digit, four subtractions of at least 2 cannot stay at or above 2.
    expect(() => generateArithProblems(1, { seed: 1, maxDigits: 1, operations: ['-'], minSteps: 4 })).toThrow(
      /no 4-step problem with operations \[-\], maxDigits 1 .* allow more digits/,
    );
    expect(() => generateArithProblems(-1, { seed: 1 })).toThrow('count must be a non-negative integer');
  });

  test('excluded questions are not produced', () => {
    const first = generateArithProblems(30, { seed: 3 });
    const again = generateArithProblems(30, { seed: 3, exclude: new Set(first.slice(0, 10).map((p) => p.question)) });
    expect(again.slice(0, 20)).toEqual(first.slice(10, 30));
  });

  test('generateArithProblem draws from any random source', () => {
    const problem: ArithProblem = generateArithProblem(mulberry32(99), resolveArithDifficulty({ minSteps: 2, maxSteps: 2 }));
    expect(problem.steps).toHaveLength(2);
    expect(problem.steps[1].left).toBe(problem.steps[0].result);
  });
});

describe('writeArithTask', () => {
  test('writes files the GSM8K loader reads unchanged, with correct annotations and answers', () => {
    const files = writeArithTask(path.join(tempDir, 'arith'), { train: 400, test: 100, seed: 21, maxSteps: 4 });
    expect(files).toMatchObject({
      train: path.join(tempDir, 'arith', 'train.jsonl'),
      test: path.join(tempDir, 'arith', 'test.jsonl'),
    });
    expect(fs.readdirSync(path.join(tempDir, 'arith')).sort()).toEqual(['test.jsonl', 'train.jsonl']);

    const train = loadGsm8k(path.join(tempDir, 'arith'), { split: 'train' });
    const test = loadGsm8k(path.join(tempDir, 'arith'), { split: 'test' });
    expect(train.report).toMatchObject({ total: 400, ok: 400, malformed: [] });
    expect(test.report).toMatchObject({ total: 100, ok: 100, malformed: [] });
    const problems = [...train.examples, ...test.examples].flatMap(chainProblems);
    expect(problems).toEqual([]);
    for (const example of train.examples) {
      expect(example.breakpoints.length).toBeGreaterThanOrEqual(1);
      expect(example.breakpoints.length).toBeLessThanOrEqual(4);
      expect(example.solution).not.toMatch(/<<|>>/);
    }
    const trainQuestions = new Set(train.examples.map((e) => e.question));
    expect(test.examples.filter((e) => trainQuestions.has(e.question))).toEqual([]);
  });

  test('the loaded examples match the generated problems', () => {
    const problems = generateArithProblems(50, { seed: 8 });
    const { examples, report } = parseGsm8kJsonl(toGsm8kJsonl(problems));
    expect(report.ok).toBe(50);
    examples.forEach((example, i) => {
      expect(example.question).toBe(problems[i].question);
      expect(example.answerNumber).toBe(problems[i].finalAnswer);
      expect(example.breakpoints.map((b) => b.expression)).toEqual(
        problems[i].steps.map((s) => `${s.left}${s.operation}${s.right}`),
      );
    });
  });

  test('is deterministic, and the training file does not depend on the test size', () => {
    const read = (dir: string, split: string) => fs.readFileSync(path.join(dir, `${split}.jsonl`), 'utf8');
    const a = path.join(tempDir, 'a');
    const b = path.join(tempDir, 'b');
    const c = path.join(tempDir, 'c');
    writeArithTask(a, { train: 60, test: 20, seed: 4, operations: ['+', '*'] });
    writeArithTask(b, { train: 60, test: 20, seed: 4, operations: ['+', '*'] });
    writeArithTask(c, { train: 60, test: 5, seed: 4, operations: ['+', '*'] });
    expect(read(b, 'train')).toBe(read(a, 'train'));
    expect(read(b, 'test')).toBe(read(a, 'test'));
    expect(read(c, 'train')).toBe(read(a, 'train'));
    expect(read(c, 'test')).toBe(read(a, 'test').split('\n').slice(0, 5).join('\n') + '\n');
    expect(read(a, 'train').split('\n')).toHaveLength(61);
    expect(read(a, 'train')).not.toContain(read(a, 'test').split('\n')[0]);
  });
});

describe('lines of several steps, held-out calculations, overlap', () => {
  test('stepsPerLine 2 writes (a op b) op c with the intermediate unwritten, and the annotation is right', () => {
    const problems = generateArithProblems(300, { seed: 4, ...ARITH_PRESETS.chained.difficulty });
    let twoOp = 0;
    for (const p of problems) {
      const examples = parseGsm8kJsonl(toGsm8kJsonl([p])).examples;
      expect(examples.length).toBe(1);
      const ex = examples[0];
      expect(ex.breakpoints.length).toBe(Math.ceil(p.steps.length / 2));
      ex.breakpoints.forEach((b, i) => {
        expect(String(evaluateExpression(b.expression))).toBe(b.result);
        const line = p.steps.slice(2 * i, 2 * i + 2);
        expect(b.result).toBe(String(line[line.length - 1].result));
        if (line.length === 2) {
          twoOp++;
          expect(b.expression).toBe(`(${line[0].left}${line[0].operation}${line[0].right})${line[1].operation}${line[1].right}`);
          // the intermediate result is not written anywhere in the solution (unless it coincides with a written number)
          const written = [...ex.solution.matchAll(/\d+/g)].map((m) => Number(m[0]));
          const others = new Set(
            p.steps
              .flatMap((s) => [s.left, s.right])
              .concat(p.steps.filter((_, k) => k % 2 === 1 || k === p.steps.length - 1).map((s) => s.result)),
          );
          if (!others.has(line[0].result)) expect(written).not.toContain(line[0].result);
        }
      });
      expect(ex.answerNumber).toBe(p.finalAnswer);
    }
    expect(twoOp).toBeGreaterThan(300);
    expect(() => resolveArithDifficulty({ stepsPerLine: 0 })).toThrow(/stepsPerLine must be an integer/);
  });

  test('calculationsOf reads annotation expressions without spaces', () => {
    expect(calculationsOf('a (2 + 3) * 4 = <<(2+3)*4=20>>20 b.\nc <<20 / 5=4>>4\n#### 4')).toEqual(['(2+3)*4', '20/5']);
  });

  test('holdOut: no test calculation occurs in training; the overlap is measured and reported', () => {
    const r = writeArithTask(tempDir, { train: 2000, test: 200, seed: 1, ...ARITH_PRESETS.chained.difficulty, holdOut: 0.25 });
    const read = (f: string) =>
      fs
        .readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { answer: string });
    const train = read(r.train);
    const test = read(r.test);
    expect(test.length).toBe(200);
    const seen = new Set(train.flatMap((p) => calculationsOf(p.answer)));
    for (const p of test)
      for (const c of calculationsOf(p.answer)) {
        expect(seen.has(c)).toBe(false);
        expect(isHeldOut(c, 0.25)).toBe(true);
      }
    for (const c of seen) expect(isHeldOut(c, 0.25)).toBe(false);
    expect(r.overlap).toMatchObject({ seenInTraining: 0, fraction: 0, testProblemsWithSeen: 0 });
    expect(r.overlap.testCalculations).toBeGreaterThan(100);
    // without hold-out the small basic task shares almost every calculation: measured, not assumed
    const basic = writeArithTask(path.join(tempDir, 'basic'), {
      train: 2000,
      test: 200,
      seed: 1,
      ...ARITH_PRESETS.basic.difficulty,
    });
    expect(basic.overlap.fraction).toBeGreaterThan(0.8);
    expect(calculationOverlap(train, train).fraction).toBe(1);
    expect(() => writeArithTask(tempDir, { train: 1, test: 1, seed: 1, holdOut: 1 })).toThrow(/holdOut must be in \[0, 1\)/);
  });
});
