// Order statistics for benchmark samples. Empty input yields NaN rather than throwing,
// so a bench that collected nothing still prints a (visibly empty) result.

export interface Summary {
  count: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  p90: number;
  p99: number;
}

function sortedCopy(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** Percentile `p` (0..100) of already-sorted values, linearly interpolated between ranks. */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0 || !(p >= 0 && p <= 100)) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lower = Math.floor(rank);
  const upper = Math.ceil(rank);
  const weight = rank - lower;
  return sorted[lower] + (sorted[upper] - sorted[lower]) * weight;
}

/** Percentile `p` (0..100) of unsorted values; NaN when empty or `p` is out of range. */
export function percentile(values: readonly number[], p: number): number {
  return percentileOfSorted(sortedCopy(values), p);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let total = 0;
  for (const value of values) total += value;
  return total / values.length;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = sortedCopy(values);
  return {
    count: sorted.length,
    min: sorted.length > 0 ? sorted[0] : Number.NaN,
    max: sorted.length > 0 ? sorted[sorted.length - 1] : Number.NaN,
    mean: mean(sorted),
    median: percentileOfSorted(sorted, 50),
    p90: percentileOfSorted(sorted, 90),
    p99: percentileOfSorted(sorted, 99),
  };
}

/** Rounds to `digits` significant digits, keeping JSON output readable. */
export function round(value: number, digits = 4): number {
  if (!Number.isFinite(value) || value === 0) return value;
  return Number(value.toPrecision(digits));
}
