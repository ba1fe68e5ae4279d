import { annotationIsConsistent, answersEqual, evaluateExpression, extractAnswer } from '../../../src/data/gsm8k';

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
