// Seeded fuzzing of every generated operator (the kernels that trust their inputs included: they are
// guarded by native/guards.cc): thousands of calls with random and schema-typed but odd
// arguments must each return or throw a TorchError — never another error, never a crash (a crash
// kills the jest worker and fails this file). To hunt crashes over many seeds, compile with tsc and
// drive test/helpers/op-fuzz.ts from node, logging each call before it is made.
import '../helpers/one-thread';
import * as torch from '../../src/torch';
import * as generated from '../../src/torch/generated/ops';
import {
  describeArgs,
  KNOWN_OFFENDERS,
  NOT_FUZZED,
  OperatorFuzzer,
  OUT_OF_RANGE_INDEX,
  parseSchemaArgs,
} from '../helpers/op-fuzz';

const SEED = 20240611;
const CALLS = 3000;

test('schemas are parsed from the overload error, defaults with commas included', () => {
  expect(
    parseSchemaArgs(
      'max_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=[0, 0], bool ceil_mode=False) -> Tensor',
    ),
  ).toEqual([
    { type: 'Tensor', name: 'self', hasDefault: false, kwOnly: false },
    { type: 'int[2]', name: 'kernel_size', hasDefault: false, kwOnly: false },
    { type: 'int[2]', name: 'stride', hasDefault: true, kwOnly: false },
    { type: 'int[2]', name: 'padding', hasDefault: true, kwOnly: false },
    { type: 'bool', name: 'ceil_mode', hasDefault: true, kwOnly: false },
  ]);
  expect(parseSchemaArgs('add_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)')).toEqual([
    { type: 'Tensor', name: 'self', hasDefault: false, kwOnly: false },
    { type: 'Tensor', name: 'other', hasDefault: false, kwOnly: false },
    { type: 'Scalar', name: 'alpha', hasDefault: true, kwOnly: true },
  ]);
  expect(parseSchemaArgs('index.Tensor(Tensor self, Tensor?[] indices) -> Tensor')?.[1].type).toBe('Tensor?[]');
  const fuzzer = new OperatorFuzzer(1);
  expect(fuzzer.schemasOf('add', torch.add as never).map((args) => args.map((a) => a.name))).toEqual([
    ['self', 'other', 'alpha'],
    ['self', 'other', 'alpha'],
  ]);
});

test(`${CALLS} random operator calls each return or throw a TorchError`, () => {
  const fuzzer = new OperatorFuzzer(SEED);
  expect(fuzzer.ops.length).toBeGreaterThan(800);
  expect(fuzzer.ops.some(([name]) => NOT_FUZZED.has(name))).toBe(false);
  const liveBefore = torch.memory().liveTensors;
  const outcomes = new Map<string, number>();
  const opsCalled = new Set<string>();
  for (let i = 0; i < CALLS; i++) {
    const { op, mode, result } = fuzzer.step(); // throws on anything but a TorchError
    opsCalled.add(op);
    outcomes.set(`${mode}:${result}`, (outcomes.get(`${mode}:${result}`) ?? 0) + 1);
  }
  const count = (pred: (key: string) => boolean) => [...outcomes].filter(([k]) => pred(k)).reduce((n, [, v]) => n + v, 0);
  // The fuzz reached real work as well as rejections, across most operators and every error path.
  expect(count((k) => k === 'typed:ok')).toBeGreaterThan(CALLS * 0.15);
  expect(count((k) => k.startsWith('junk:'))).toBeGreaterThan(CALLS * 0.15);
  expect(opsCalled.size).toBeGreaterThan(700);
  const kinds = new Set([...outcomes.keys()].map((k) => k.split(':')[1]));
  for (const kind of ['TypeError', 'RuntimeError', 'IndexError', 'DisposedTensorError', 'NotImplementedError'])
    expect(kinds).toContain(kind);
  // Every tensor made along the way, including by calls that failed half-way, was freed.
  expect(torch.memory().liveTensors).toBe(liveBefore);
});

// A malformed call must throw a TorchError. Before the guards these read or wrote out of bounds (some
// killed the process, others returned garbage), looped forever, or trusted a forged workspace.
describe.each([
  ['a kernel that trusts its inputs', KNOWN_OFFENDERS],
  ['an out-of-range index', OUT_OF_RANGE_INDEX],
])('%s is refused', (_, table) => {
  test.each(Object.keys(table))('%s', (name) => {
    const fn = (generated as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
    expect(typeof fn).toBe('function');
    torch.scope(() => {
      const args = table[name]();
      let thrown: unknown = null;
      try {
        const out = fn(...args);
        for (const t of [out].flat()) if (t instanceof torch.Tensor) void t.toDense().sum().item(); // use the result, as a user would
      } catch (e) {
        thrown = e;
      }
      expect({
        call: `${name}(${describeArgs(args)})`,
        threw: thrown instanceof torch.TorchError ? thrown.name : String(thrown),
      }).toEqual({
        call: `${name}(${describeArgs(args)})`,
        threw: expect.stringMatching(/^(ValueError|IndexError|RuntimeError|TypeError|NotImplementedError)$/),
      });
    });
  });
});

test('every known offender is fuzzed with random arguments too', () => {
  const fuzzed = new Set(new OperatorFuzzer(1).ops.map(([name]) => name));
  for (const name of Object.keys(KNOWN_OFFENDERS)) expect({ name, fuzzed: fuzzed.has(name) }).toEqual({ name, fuzzed: true });
  expect([...NOT_FUZZED].sort()).toEqual(['fromFile', 'installTensorMethods']);
});
