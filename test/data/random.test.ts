import { deriveSeed, mulberry32, seededShuffle } from '../../src/data/random';

describe('seeded randomness', () => {
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
});
