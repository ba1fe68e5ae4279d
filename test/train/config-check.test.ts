// Every numeric option of both trainer configs has a range, checked by one validator before anything runs.
import { checkConfig, describeSpec, type FieldSpec } from '../../src/train/config-check';
import { SFT_CONFIG_SPEC, resolveSftConfig } from '../../src/train/sft';
import { RL_CONFIG_SPEC, resolveRlConfig } from '../../src/rl/trainer';

const sft = (over: Record<string, unknown>) => resolveSftConfig({ model: 'm', data: 'd', out: 'o', ...over });
const rl = (over: Record<string, unknown>) => resolveRlConfig({ from: 'f', data: 'd', out: 'o', ...over });

/** Values just outside a numeric field's range (and non-numbers), each of which must be refused. */
function outside(s: FieldSpec): unknown[] {
  if (s.kind === 'boolean') return ['yes', 1];
  if (s.kind === 'string') return s.oneOf ? ['not-one-of-them', 3] : ['', 3];
  const bad: unknown[] = [NaN, Infinity, '1', s.exclusiveMin ? s.min : s.min - 1];
  if (s.max !== undefined) bad.push(s.exclusiveMax ? s.max : s.max + 1);
  if (s.kind === 'integer') bad.push(s.min + 1.5);
  if (!s.nullable) bad.push(null);
  return bad;
}

describe.each([
  ['sft', SFT_CONFIG_SPEC, sft],
  ['rl', RL_CONFIG_SPEC, rl],
] as const)('%s config', (_, spec, resolve) => {
  const fields = Object.entries(spec) as [string, FieldSpec][];
  test('the defaults pass', () => {
    expect(() => resolve({})).not.toThrow();
  });
  test.each(fields)('%s: values outside its rule are refused by name', (field, s) => {
    for (const value of outside(s)) expect(() => resolve({ [field]: value })).toThrow(new RegExp(`^${field} must be `));
  });
  test('every numeric field has a finite lower bound', () => {
    for (const [, s] of fields) if (s.kind === 'integer' || s.kind === 'number') expect(Number.isFinite(s.min)).toBe(true);
  });
});

test('the findings: negative clip, negative counts and absurd latents are refused', () => {
  expect(() => sft({ gradClip: -1 })).toThrow('gradClip must be a number > 0, got -1');
  expect(() => sft({ evalExamples: -2 })).toThrow('evalExamples must be an integer >= 0, got -2');
  expect(() => sft({ maxTrainExamples: -5 })).toThrow('maxTrainExamples must be an integer >= 1 or null, got -5');
  expect(() => sft({ latents: 100000 })).toThrow('latents must be an integer in [0, 256], got 100000');
  expect(() => rl({ gradClip: -1 })).toThrow('gradClip must be a number > 0, got -1');
  expect(() => rl({ evalExamples: -1 })).toThrow('evalExamples must be an integer >= 0, got -1');
  expect(() => rl({ maxTrainExamples: -3 })).toThrow('maxTrainExamples must be an integer >= 1 or null, got -3');
  expect(() => sft({ lr: 1e-3, minLr: 1 })).toThrow(/minLr must not exceed lr/);
});

test('checkConfig and describeSpec', () => {
  expect(describeSpec({ kind: 'number', min: 0, max: 1, exclusiveMin: true, exclusiveMax: true })).toBe('a number in (0, 1)');
  expect(describeSpec({ kind: 'integer', min: 1, nullable: true })).toBe('an integer >= 1 or null');
  expect(describeSpec({ kind: 'string', oneOf: ['a', 'b'] })).toBe('one of a, b');
  const spec = { n: { kind: 'integer', min: 0, max: 3 }, s: { kind: 'string' } } as const;
  expect(checkConfig({ n: 3, s: 'x' }, spec)).toEqual({ n: 3, s: 'x' });
  expect(() => checkConfig({ n: 4, s: 'x' }, spec)).toThrow('n must be an integer in [0, 3], got 4');
  expect(() => checkConfig({ n: 1, s: undefined as unknown as string }, spec)).toThrow(
    's must be a non-empty string, got undefined',
  );
});
