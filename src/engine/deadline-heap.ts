/**
 * One min-heap of deadlines for every session of an endpoint, so the shell needs a
 * single timer however many sessions exist. Each item has at most one entry;
 * `update` moves it in O(log n).
 */
export class DeadlineHeap<T> {
  private readonly items: T[] = [];
  private readonly times: number[] = [];
  private readonly index = new Map<T, number>();

  get size(): number {
    return this.items.length;
  }

  peek(): number | undefined {
    return this.items.length > 0 ? this.times[0] : undefined;
  }

  /** Sets (or clears, with undefined) the item's deadline. */
  update(item: T, deadline: number | undefined): void {
    const i = this.index.get(item);
    if (deadline === undefined) {
      if (i !== undefined) this.removeAt(i);
      return;
    }
    if (i === undefined) {
      this.items.push(item);
      this.times.push(deadline);
      this.index.set(item, this.items.length - 1);
      this.siftUp(this.items.length - 1);
      return;
    }
    const old = this.times[i];
    this.times[i] = deadline;
    if (deadline < old) this.siftUp(i);
    else this.siftDown(i);
  }

  remove(item: T): void {
    const i = this.index.get(item);
    if (i !== undefined) this.removeAt(i);
  }

  /** Removes and returns every item whose deadline is ≤ now, earliest first. */
  popDue(now: number): T[] {
    const due: T[] = [];
    while (this.items.length > 0 && this.times[0] <= now) {
      due.push(this.items[0]);
      this.removeAt(0);
    }
    return due;
  }

  private removeAt(i: number): void {
    const last = this.items.length - 1;
    const item = this.items[i];
    this.index.delete(item);
    if (i !== last) {
      this.items[i] = this.items[last];
      this.times[i] = this.times[last];
      this.index.set(this.items[i], i);
    }
    this.items.pop();
    this.times.pop();
    if (i < this.items.length) {
      this.siftUp(i);
      this.siftDown(i);
    }
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.times[parent] <= this.times[i]) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.times[l] < this.times[m]) m = l;
      if (r < n && this.times[r] < this.times[m]) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    const ti = this.items[a];
    const tt = this.times[a];
    this.items[a] = this.items[b];
    this.times[a] = this.times[b];
    this.items[b] = ti;
    this.times[b] = tt;
    this.index.set(this.items[a], a);
    this.index.set(this.items[b], b);
  }
}
