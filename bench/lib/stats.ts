// Summary statistics of repeated timing samples. Medians (not means) so that a sample hit by a GC
// pause or a scheduler hiccup does not move the result.

export interface Summary {
  /** number of samples */
  n: number;
  median: number;
  min: number;
  max: number;
  /** 25th and 75th percentiles (linear interpolation) */
  p25: number;
  p75: number;
  /** (p75 - p25) / median: the spread relative to the typical value */
  relativeIqr: number;
}

/** The q-quantile (0..1) of already sorted values, interpolating linearly between neighbours. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('quantile of an empty sample');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is outside [0, 1]`);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return quantileSorted(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

export function summarize(values: readonly number[]): Summary {
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`timing sample ${v} is not a finite number`);
  const sorted = [...values].sort((a, b) => a - b);
  const med = quantileSorted(sorted, 0.5);
  const p25 = quantileSorted(sorted, 0.25);
  const p75 = quantileSorted(sorted, 0.75);
  return {
    n: sorted.length,
    median: med,
    min: sorted[0],
    max: sorted[sorted.length - 1],
    p25,
    p75,
    relativeIqr: med > 0 ? (p75 - p25) / med : 0,
  };
}
