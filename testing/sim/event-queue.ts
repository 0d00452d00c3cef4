/**
 * Discrete event queue: a binary min-heap ordered by (time, insertion sequence), so
 * events at the same instant run in the order they were scheduled and runs are
 * deterministic. Items carry their own `time` and `seq` fields (no wrapper objects).
 */

export interface Scheduled {
  time: number;
  seq: number;
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

export class EventQueue<T extends Scheduled> {
  private readonly heap: T[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Time of the earliest event, or Infinity when empty. */
  peekTime(): number {
    return this.heap.length > 0 ? this.heap[0].time : Number.POSITIVE_INFINITY;
  }

  /** Schedules `item` at `item.time`; stamps its sequence number. */
  push(item: T): void {
    item.seq = this.nextSeq++;
    const heap = this.heap;
    let i = heap.length;
    heap.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent];
      if (!before(item, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = item;
  }

  pop(): T | undefined {
    const heap = this.heap;
    const n = heap.length;
    if (n === 0) return undefined;
    const top = heap[0];
    const last = heap.pop() as T;
    if (n > 1) {
      const size = n - 1;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const r = l + 1;
        const child = r < size && before(heap[r], heap[l]) ? r : l;
        if (!before(heap[child], last)) break;
        heap[i] = heap[child];
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }

  clear(): void {
    this.heap.length = 0;
  }
}
