// The result convention every bench follows: a headline measurement plus the baseline it is
// compared with, measured in the same run (numbers from another day or machine mean little).
import { round } from '../../testing/harness/stats.js';

export interface Measurement {
  name: string;
  value: number;
  unit: string;
}

export interface BenchResult extends Measurement {
  baseline: Measurement;
  /** value / baseline.value; NaN (printed as null) when the baseline is zero or missing. */
  ratio: number;
  [detail: string]: unknown;
}

export type ResultInput = Measurement & {
  baseline: Measurement;
  ratio?: number;
  [detail: string]: unknown;
};

export function ratioOf(value: number, baseline: number): number {
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0) return Number.NaN;
  return round(value / baseline);
}

/** Builds a result, computing `ratio` from the baseline unless the caller supplied one. */
export function result(input: ResultInput): BenchResult {
  const { name, value, unit, baseline, ratio, ...details } = input;
  return {
    name,
    value,
    unit,
    baseline,
    ratio: ratio ?? ratioOf(value, baseline.value),
    ...details,
  };
}
