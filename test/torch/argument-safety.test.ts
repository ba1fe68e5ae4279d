// JavaScript can run while native code converts a call's arguments (getters on arrays, on index
// properties): the native side must not hold references into state that such code can change —
// the handle table, a tensor being disposed, a typed array's buffer — and a stale handle must never
// reach a newer tensor. Each scenario runs in a child process, so that a crash fails its test.
import * as path from 'node:path';
import { runTsChild } from '../train/ts-child';

const CHILD = path.join(__dirname, 'argument-safety.child.ts');

function runScenario(name: string): Record<string, unknown> {
  const r = runTsChild(CHILD, [name], { nodeArgs: ['--expose-gc'] });
  if (r.status !== 0)
    throw new Error(`scenario ${name} exited with status ${r.status}, signal ${r.signal}\n${r.stderr.slice(-2000)}`);
  const last = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(last);
}

test('a getter on a shape array that creates many tensors (the handle table grows) does not crash the call', () => {
  expect(runScenario('shape-getter-creates-tensors')).toEqual({ ok: true, values: [0, 1, 2, 3, 4, 5] });
});

test('a getter that disposes the input during the call leaves a well-defined result or a typed error', () => {
  const r = runScenario('shape-getter-disposes-input');
  expect(r.ok).toBe(true);
  // The input is resolved after every JS value was converted: it is disposed by then.
  expect(r).toEqual({ ok: true, error: 'DisposedTensorError' });
});

test('a getter that detaches the source buffer of fromBytes gives a typed error, not a read of freed memory', () => {
  const r = runScenario('shape-getter-detaches-buffer');
  expect(r).toEqual(expect.objectContaining({ ok: true, error: 'TypeError' }));
  expect(String(r.message)).toMatch(/detached/);
});

test('a stale handle stays invalid after its slot was reused more than 2^9 (and 2^10, 2^11) times', () => {
  expect(runScenario('stale-handle-after-slot-reuse')).toEqual({ ok: true, shape: 'DisposedTensorError' });
});
