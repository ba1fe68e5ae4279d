/** Deterministic train/validation splits of any list. */
import { seededShuffle } from './random';

export interface SplitOptions {
  /** Fraction of items held out, in (0, 1). Give this or `validationSize`. */
  validationFraction?: number;
  /** Number of items held out. */
  validationSize?: number;
  seed: number;
}

/**
 * Deterministically holds out a random subset for validation. Both parts keep the input order;
 * only membership is random. The fraction is rounded to the nearest whole item.
 */
export function trainValidationSplit<T>(items: readonly T[], options: SplitOptions): { train: T[]; validation: T[] } {
  const { validationFraction, validationSize } = options;
  if ((validationFraction === undefined) === (validationSize === undefined)) {
    throw new Error('trainValidationSplit: give exactly one of validationFraction and validationSize');
  }
  let size: number;
  if (validationFraction !== undefined) {
    if (!(validationFraction > 0 && validationFraction < 1)) {
      throw new Error(`trainValidationSplit: validationFraction must be in (0, 1), got ${validationFraction}`);
    }
    size = Math.round(items.length * validationFraction);
  } else {
    size = validationSize!;
    if (!Number.isInteger(size) || size < 0 || size > items.length) {
      throw new Error(`trainValidationSplit: validationSize must be an integer in [0, ${items.length}], got ${size}`);
    }
  }
  const order = seededShuffle(
    items.map((_, i) => i),
    options.seed,
  );
  const held = new Set(order.slice(0, size));
  const train: T[] = [];
  const validation: T[] = [];
  items.forEach((item, i) => (held.has(i) ? validation : train).push(item));
  return { train, validation };
}
