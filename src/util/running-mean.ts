// A mean accumulated from sums and counts: a loss summed over each batch's tokens, say, with the mean
// taken once at the end (exact across batches of different sizes, unlike a mean of batch means).

export class RunningMean {
  sum = 0;
  count = 0;
  /** Adds `sum` over `count` items (by default one item: a per-batch value). */
  add(sum: number, count = 1): void {
    this.sum += sum;
    this.count += count;
  }
  /** sum / count; `empty` when nothing was counted. */
  mean(empty = NaN): number {
    return this.count ? this.sum / this.count : empty;
  }
}
