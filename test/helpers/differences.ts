// Element-wise differences of plain number arrays for tolerance checks. A hand-written
// `if (worst > tol)` passes on NaN (every comparison with NaN is false), so a non-finite element on
// either side counts as an infinite difference unless both sides hold the same infinity.

/** max |actual[i] - expected[i]|; Infinity when a NaN appears, or an infinity on one side only. */
export function maxAbsDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`${actual.length} elements vs ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (!Number.isFinite(a) || !Number.isFinite(b)) {
      if (a === b) continue; // the same infinity
      return Infinity;
    }
    worst = Math.max(worst, Math.abs(a - b));
  }
  return worst;
}

/** max |x[i]| over the finite elements (0 for an empty array). */
export function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i])) m = Math.max(m, Math.abs(x[i]));
  return m;
}
