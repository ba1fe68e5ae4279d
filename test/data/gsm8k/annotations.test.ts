import { parseGsm8kAnswer } from '../../../src/data/gsm8k';
import { parseOk, expectConsistentStructure } from './fixtures';

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
