/**
 * A set of half-open integer ranges [start, end), kept sorted, non-overlapping and
 * non-adjacent in one flat array (start0, end0, start1, end1, ...). Operations are
 * O(log n) to locate plus O(n) for the splice; n stays small in practice (holes
 * left by loss within one flight).
 */
export class RangeSet {
  private readonly bounds: number[] = [];

  get count(): number {
    return this.bounds.length >> 1;
  }

  get isEmpty(): boolean {
    return this.bounds.length === 0;
  }

  start(index: number): number {
    return this.bounds[index * 2];
  }

  end(index: number): number {
    return this.bounds[index * 2 + 1];
  }

  /** Sum of all range lengths. O(n); for tests and diagnostics. */
  get totalLength(): number {
    let total = 0;
    for (let i = 0; i < this.bounds.length; i += 2) total += this.bounds[i + 1] - this.bounds[i];
    return total;
  }

  /** Index of the first range whose end is >= offset (or > offset when strict). */
  private firstEndingAtOrAfter(offset: number, strict: boolean): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const end = this.bounds[mid * 2 + 1];
      if (strict ? end > offset : end >= offset) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Index of the first range whose start is > offset (or >= offset when inclusive). */
  private firstStartingAfter(offset: number, inclusive: boolean, from: number): number {
    let lo = from;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const start = this.bounds[mid * 2];
      if (inclusive ? start >= offset : start > offset) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  add(start: number, end: number): void {
    if (start >= end) return;
    const count = this.count;
    // Fast path: append at the tail (the common case for in-order traffic).
    if (count === 0 || start > this.bounds[count * 2 - 1]) {
      this.bounds.push(start, end);
      return;
    }
    const first = this.firstEndingAtOrAfter(start, false);
    const afterLast = this.firstStartingAfter(end, false, first);
    if (first === afterLast) {
      this.bounds.splice(first * 2, 0, start, end);
      return;
    }
    const mergedStart = Math.min(start, this.bounds[first * 2]);
    const mergedEnd = Math.max(end, this.bounds[afterLast * 2 - 1]);
    this.bounds.splice(first * 2, (afterLast - first) * 2, mergedStart, mergedEnd);
  }

  remove(start: number, end: number): void {
    if (start >= end || this.bounds.length === 0) return;
    const first = this.firstEndingAtOrAfter(start, true);
    const afterLast = this.firstStartingAfter(end, true, first);
    if (first >= afterLast) return;
    const keep: number[] = [];
    const firstStart = this.bounds[first * 2];
    const lastEnd = this.bounds[afterLast * 2 - 1];
    if (firstStart < start) keep.push(firstStart, start);
    if (lastEnd > end) keep.push(end, lastEnd);
    this.bounds.splice(first * 2, (afterLast - first) * 2, ...keep);
  }

  /** Drops the lowest range. */
  removeFirst(): void {
    this.bounds.splice(0, 2);
  }

  /** Raises the start of the first range (which must stay non-empty). */
  trimFirstTo(start: number): void {
    this.bounds[0] = start;
  }

  /** Calls fn for each maximal sub-range of [start, end) not covered by the set. */
  forEachGap(start: number, end: number, fn: (gapStart: number, gapEnd: number) => void): void {
    let cursor = start;
    for (let i = this.firstEndingAtOrAfter(start, true); i < this.count && cursor < end; i++) {
      const rangeStart = this.bounds[i * 2];
      if (rangeStart >= end) break;
      if (rangeStart > cursor) fn(cursor, rangeStart);
      cursor = Math.max(cursor, this.bounds[i * 2 + 1]);
    }
    if (cursor < end) fn(cursor, end);
  }

  /** Copy of the ranges as pairs; for tests and diagnostics. */
  toArray(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.bounds.length; i += 2) out.push([this.bounds[i], this.bounds[i + 1]]);
    return out;
  }
}
