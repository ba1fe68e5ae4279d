import { maxAbs, maxAbsDifference } from './differences';

describe('maxAbsDifference', () => {
  test('is the largest element-wise absolute difference', () => {
    expect(maxAbsDifference([1, -2, 3], [1.5, -2, 1])).toBe(2);
    expect(maxAbsDifference([], [])).toBe(0);
  });

  test('a NaN on either side is an infinite difference, so no tolerance passes it', () => {
    expect(maxAbsDifference([1, NaN], [1, 2])).toBe(Infinity);
    expect(maxAbsDifference([1, 2], [1, NaN])).toBe(Infinity);
    expect(maxAbsDifference([NaN], [NaN])).toBe(Infinity);
  });

  test('an infinity matches only the same infinity', () => {
    expect(maxAbsDifference([Infinity, 1], [Infinity, 1.25])).toBe(0.25);
    expect(maxAbsDifference([Infinity], [-Infinity])).toBe(Infinity);
    expect(maxAbsDifference([Infinity], [1e308])).toBe(Infinity);
  });

  test('refuses arrays of different lengths', () => {
    expect(() => maxAbsDifference([1, 2], [1])).toThrow('2 elements vs 1');
  });
});

describe('maxAbs', () => {
  test('is the largest finite magnitude', () => {
    expect(maxAbs([-3, 2, NaN, Infinity])).toBe(3);
    expect(maxAbs([])).toBe(0);
  });
});
