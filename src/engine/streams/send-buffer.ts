import { StreamUsageError } from './errors.js';
import { RangeSet } from './range-set.js';

const EMPTY = new Uint8Array(0);
/** Released chunk slots are compacted away once this many accumulate (and they are half the list). */
const COMPACT_THRESHOLD = 64;

export interface ChunkPlan {
  offset: number;
  length: number;
  fin: boolean;
  isRetransmission: boolean;
}

export interface SendChunk {
  offset: number;
  data: Uint8Array;
  fin: boolean;
  isRetransmission: boolean;
}

/**
 * The application's queued bytes for one stream's sending side. Written chunks are
 * kept by reference (no copy on write) and released as soon as every byte in them
 * has been acknowledged in order. Chunks are located by binary search over their
 * start offsets; new data is read through a cursor.
 *
 * Every chunk handed out by nextChunk/emitInto is considered sent: the caller must
 * put it on the wire and later report it through onAcked or onLost.
 */
export class SendBuffer {
  private chunks: Uint8Array[] = [];
  private chunkStarts: number[] = [];
  /** Index of the first chunk still held. */
  private head = 0;
  /** Index of the chunk that holds `sent` (chunks.length when all written data was sent). */
  private sendCursor = 0;
  private written = 0;
  private sent = 0;
  /** Every byte below this offset is acknowledged and released. */
  private ackedPrefix = 0;
  /** Acknowledged ranges above ackedPrefix. */
  private readonly acked = new RangeSet();
  /** Sent ranges declared lost and not yet retransmitted. */
  private readonly lost = new RangeSet();
  private finished = false;
  private finSent = false;
  private finAcked = false;
  private finLost = false;
  private discarded = false;

  get writtenOffset(): number {
    return this.written;
  }

  /** Bytes held in memory (written minus acknowledged in order): what send buffer limits count. */
  get unackedBytes(): number {
    return this.written - this.ackedPrefix;
  }

  /** Highest offset sent at least once; only new bytes count for connection flow control. */
  get highestSentOffset(): number {
    return this.sent;
  }

  get ackedOffset(): number {
    return this.ackedPrefix;
  }

  get isFinished(): boolean {
    return this.finished;
  }

  /** FIN and every byte acknowledged. */
  get isFullyAcked(): boolean {
    return this.finished && this.finAcked && this.ackedPrefix === this.written;
  }

  /** Bytes declared lost and awaiting retransmission. O(n) in the number of holes. */
  get lostBytes(): number {
    return this.lost.totalLength;
  }

  /** Number of chunk references still held (tests check that memory is released). */
  get heldChunks(): number {
    return this.chunks.length - this.head;
  }

  /** Queues data by reference: the caller must not mutate it until acknowledged. */
  write(data: Uint8Array): void {
    if (this.finished || this.discarded) throw new StreamUsageError('write after finish or reset');
    if (data.length === 0) return;
    this.chunks.push(data);
    this.chunkStarts.push(this.written);
    this.written += data.length;
  }

  /** Marks the final offset (FIN). Idempotent. */
  finish(): void {
    if (this.discarded) throw new StreamUsageError('finish after reset');
    this.finished = true;
  }

  /** Drops all data and stops tracking (the stream was reset). */
  discard(): void {
    this.discarded = true;
    this.chunks = [];
    this.chunkStarts = [];
    this.head = 0;
    this.sendCursor = 0;
    this.ackedPrefix = this.written;
    this.acked.remove(0, Number.MAX_SAFE_INTEGER);
    this.lost.remove(0, Number.MAX_SAFE_INTEGER);
  }

  private get finPending(): boolean {
    return this.finished && !this.finAcked && (!this.finSent || this.finLost);
  }

  /** flowLimit: absolute stream offset up to which the peer allows new data. */
  hasSendable(flowLimit: number): boolean {
    if (this.discarded) return false;
    if (!this.lost.isEmpty) return true;
    if (this.sent < this.written) return this.sent < flowLimit;
    return this.finPending;
  }

  /** New data is waiting but flowLimit forbids sending it (for STREAM_DATA_BLOCKED / DATA_BLOCKED). */
  isFlowBlocked(flowLimit: number): boolean {
    return !this.discarded && this.sent < this.written && this.sent >= flowLimit;
  }

  /** Offset the next chunk would start at, without taking it (to size a frame header). */
  peekOffset(flowLimit: number): number | undefined {
    if (this.discarded) return undefined;
    if (!this.lost.isEmpty) return this.lost.start(0);
    if (this.sent < this.written) return this.sent < flowLimit ? this.sent : undefined;
    return this.finPending ? this.written : undefined;
  }

  /** Takes the next chunk: lost ranges first (lowest offset), then new data up to flowLimit, then a bare FIN. */
  private take(maxLength: number, flowLimit: number): ChunkPlan | undefined {
    if (this.discarded) return undefined;
    if (maxLength > 0 && !this.lost.isEmpty) {
      const offset = this.lost.start(0);
      const rangeEnd = this.lost.end(0);
      const end = Math.min(rangeEnd, offset + maxLength);
      if (end === rangeEnd) this.lost.removeFirst();
      else this.lost.trimFirstTo(end);
      const fin = this.finished && !this.finAcked && end === this.written;
      if (fin) this.markFinSent();
      return { offset, length: end - offset, fin, isRetransmission: true };
    }
    if (this.sent < this.written) {
      if (maxLength <= 0 || this.sent >= flowLimit) return undefined;
      const offset = this.sent;
      const length = Math.min(maxLength, this.written - offset, flowLimit - offset);
      this.sent += length;
      const fin = this.finished && this.sent === this.written;
      if (fin) this.markFinSent();
      return { offset, length, fin, isRetransmission: false };
    }
    if (this.finPending) {
      const isRetransmission = this.finSent;
      this.markFinSent();
      return { offset: this.written, length: 0, fin: true, isRetransmission };
    }
    return undefined;
  }

  private markFinSent(): void {
    this.finSent = true;
    this.finLost = false;
  }

  nextChunk(maxLength: number, flowLimit: number): SendChunk | undefined {
    const sendCursorBefore = this.sendCursor;
    const plan = this.take(maxLength, flowLimit);
    if (!plan) return undefined;
    const data =
      plan.length === 0
        ? EMPTY
        : this.view(plan.offset, plan.length, plan.isRetransmission, sendCursorBefore);
    if (!plan.isRetransmission) this.advanceSendCursor();
    return { offset: plan.offset, data, fin: plan.fin, isRetransmission: plan.isRetransmission };
  }

  /** Like nextChunk, but copies the bytes straight into out[outOffset...]; maxLength must fit in out. */
  emitInto(out: Uint8Array, outOffset: number, maxLength: number, flowLimit: number): ChunkPlan | undefined {
    const sendCursorBefore = this.sendCursor;
    const plan = this.take(Math.min(maxLength, out.length - outOffset), flowLimit);
    if (!plan) return undefined;
    if (plan.length > 0) {
      const first = plan.isRetransmission ? this.locate(plan.offset) : sendCursorBefore;
      this.copyOut(first, plan.offset, plan.length, out, outOffset);
    }
    if (!plan.isRetransmission) this.advanceSendCursor();
    return plan;
  }

  private view(offset: number, length: number, isRetransmission: boolean, sendCursor: number): Uint8Array {
    const index = isRetransmission ? this.locate(offset) : sendCursor;
    const chunk = this.chunks[index];
    const within = offset - this.chunkStarts[index];
    if (within + length <= chunk.length) return chunk.subarray(within, within + length);
    const out = new Uint8Array(length);
    this.copyOut(index, offset, length, out, 0);
    return out;
  }

  private copyOut(index: number, offset: number, length: number, out: Uint8Array, outOffset: number): void {
    let remaining = length;
    let position = offset;
    while (remaining > 0) {
      const chunk = this.chunks[index];
      const within = position - this.chunkStarts[index];
      const n = Math.min(remaining, chunk.length - within);
      out.set(within === 0 && n === chunk.length ? chunk : chunk.subarray(within, within + n), outOffset);
      outOffset += n;
      position += n;
      remaining -= n;
      index++;
    }
  }

  /** Index of the held chunk containing offset (which must be held). */
  private locate(offset: number): number {
    let lo = this.head;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.chunkStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private advanceSendCursor(): void {
    while (
      this.sendCursor < this.chunks.length &&
      this.chunkStarts[this.sendCursor] + this.chunks[this.sendCursor].length <= this.sent
    ) {
      this.sendCursor++;
    }
  }

  onAcked(offset: number, length: number, fin: boolean): void {
    if (this.discarded) return;
    if (fin && this.finSent) {
      this.finAcked = true;
      this.finLost = false;
    }
    const start = Math.max(offset, this.ackedPrefix);
    const end = Math.min(offset + length, this.sent);
    if (start >= end) return;
    this.acked.add(start, end);
    this.lost.remove(start, end);
    if (this.acked.start(0) === this.ackedPrefix) {
      this.ackedPrefix = this.acked.end(0);
      this.acked.removeFirst();
      this.release();
    }
  }

  /** Queues the unacknowledged parts of [offset, offset+length) (and FIN) for retransmission. */
  onLost(offset: number, length: number, fin: boolean): void {
    if (this.discarded) return;
    if (fin && this.finSent && !this.finAcked) this.finLost = true;
    const start = Math.max(offset, this.ackedPrefix);
    const end = Math.min(offset + length, this.sent);
    if (start >= end) return;
    this.acked.forEachGap(start, end, (gapStart, gapEnd) => this.lost.add(gapStart, gapEnd));
  }

  private release(): void {
    while (
      this.head < this.chunks.length &&
      this.chunkStarts[this.head] + this.chunks[this.head].length <= this.ackedPrefix
    ) {
      this.chunks[this.head] = EMPTY;
      this.head++;
    }
    if (this.head >= COMPACT_THRESHOLD && this.head * 2 >= this.chunks.length) {
      this.chunks.splice(0, this.head);
      this.chunkStarts.splice(0, this.head);
      this.sendCursor -= this.head;
      this.head = 0;
    }
  }
}
