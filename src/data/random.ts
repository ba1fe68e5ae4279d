// Deterministic randomness for data: a small seeded generator, named sub-streams, and the seeded
// shuffle that data orders and splits are built on (the same seed gives the same data everywhere).

/**
 * Mulberry32 (Tommy Ettinger, public domain): a 32-bit-state generator returning floats in [0, 1).
 * Small, fast and statistically fine for shuffling and sampling; not cryptographic.
 */
export function mulberry32(seed: number): () => number {
  let state = toUint32Seed(seed);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function toUint32Seed(seed: number): number {
  if (!Number.isSafeInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  return seed >>> 0;
}

/** Independent seed for a named stream (`deriveSeed(7, 'test')`), via FNV-1a over seed and label. */
export function deriveSeed(seed: number, label: string): number {
  let hash = 0x811c9dc5 ^ toUint32Seed(seed);
  for (const char of `:${label}`) {
    hash ^= char.codePointAt(0)!;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** Uniform integer in [min, max] (inclusive). */
export function randomInt(random: () => number, min: number, max: number): number {
  if (max < min) throw new Error(`randomInt: empty range [${min}, ${max}]`);
  return min + Math.floor(random() * (max - min + 1));
}

/** Uniformly chosen element of a non-empty array. */
export function randomChoice<T>(random: () => number, items: readonly T[]): T {
  if (items.length === 0) throw new Error('randomChoice: empty array');
  return items[Math.floor(random() * items.length)];
}

/** A shuffled copy of `items` (Fisher–Yates driven by {@link mulberry32}); the same seed gives the same order. */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const random = mulberry32(seed);
  const shuffled = [...items];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  return shuffled;
}
