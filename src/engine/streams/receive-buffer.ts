import { TransportError } from '../../wire/errors.js';
import { finalSizeError, StreamError } from './errors.js';

const EMPTY = new Uint8Array(0);
const COMPACT_THRESHOLD = 64;
/** Allocation unit for in-order data. */
const BLOCK_SIZE = 64 * 1024;
/** RFC 9000 §4.5: stream offsets are bounded by 2^62 - 1; JS numbers are exact below 2^53. */
const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

/**
 * Reassembly for one stream's receiving side. Incoming bytes are copied (the packet
 * buffer is reused) into segments kept sorted and non-overlapping; duplicates and
 * overlaps are trimmed on insert so every byte is delivered exactly once, in order.
 */
export class ReceiveBuffer {
  private segments: Uint8Array[] = [];
  private segmentStarts: number[] = [];
  /** First held segment; bytes before `headRead` in it were already read. */
  private head = 0;
  private headRead = 0;
  /** Segments [head, contiguousIndex) lie entirely below `contiguous`. */
  private contiguousIndex = 0;
  /** Every byte below this offset has been received. */
  private contiguous = 0;
  private readOffsetValue = 0;
  private highest = 0;
  private final: number | undefined;
  private held = 0;
  private discarding = false;
  private tailBlock: Uint8Array | undefined;
  private tailUsed = 0;
  private tailSegment: Uint8Array | undefined;
  /**
   * Bytes appended to the tail segment that its view does not cover yet: in-order data
   * grows the tail by one packet at a time, and a new view per packet cost more than the
   * copy. settleTail() makes the view whole before anything else looks at the segments.
   */
  private tailExtra = 0;

  /** Offset of the next byte the application will read (bytes consumed). */
  get readOffset(): number {
    return this.readOffsetValue;
  }

  /** Bytes readable now, in order. */
  get readableBytes(): number {
    return this.contiguous - this.readOffsetValue;
  }

  /** Every byte below this offset has been received. */
  get contiguousOffset(): number {
    return this.contiguous;
  }

  get highestReceived(): number {
    return this.highest;
  }

  get finalSize(): number | undefined {
    return this.final;
  }

  /** Every byte up to the final size has been received (it may not be read yet). */
  get isComplete(): boolean {
    return this.final !== undefined && this.contiguous === this.final;
  }

  /** FIN received and every byte read (or discarded). */
  get isFinished(): boolean {
    return this.final !== undefined && this.readOffsetValue === this.final;
  }

  /** Bytes of memory held (readable plus out-of-order). */
  get bufferedBytes(): number {
    return this.held;
  }

  /** Separate pieces held: each costs an object beside its bytes (see StreamMap's segment cap). */
  get segmentCount(): number {
    return this.segments.length - this.head;
  }

  /**
   * Adds bytes at `offset`. Returns how far this raised the highest received offset
   * (the new bytes to count against connection flow control).
   * @throws StreamError FINAL_SIZE_ERROR when data passes a known final size or FINs disagree;
   *   FRAME_ENCODING_ERROR when the offset is out of range.
   */
  insert(offset: number, data: Uint8Array, fin: boolean): number {
    const end = offset + data.length;
    if (!Number.isSafeInteger(offset) || offset < 0 || end > MAX_OFFSET) {
      throw new StreamError(TransportError.FRAME_ENCODING_ERROR, `stream offset ${offset} out of range`);
    }
    if (this.final !== undefined) {
      if (end > this.final) throw finalSizeError(`data up to ${end} beyond final size ${this.final}`);
      if (fin && end !== this.final) throw finalSizeError(`FIN at ${end} but final size is ${this.final}`);
    } else if (fin) {
      if (end < this.highest) throw finalSizeError(`FIN at ${end} below received offset ${this.highest}`);
      this.final = end;
    }
    let newBytes = 0;
    if (end > this.highest) {
      newBytes = end - this.highest;
      this.highest = end;
    }
    if (this.discarding) {
      this.readOffsetValue = this.contiguous = this.highest;
      return newBytes;
    }
    const start = Math.max(offset, this.contiguous);
    if (start < end) {
      this.store(start, end, offset, data);
      this.advanceContiguous();
    }
    return newBytes;
  }

  private store(start: number, end: number, dataOffset: number, data: Uint8Array): void {
    const count = this.segments.length;
    const lastEnd =
      count > this.head
        ? this.segmentStarts[count - 1] + this.segments[count - 1].length + this.tailExtra
        : 0;
    if (count === this.head || start >= lastEnd) {
      this.held += end - start;
      if (start === lastEnd && count > this.head && this.segments[count - 1] === this.tailSegment) {
        if (this.appendToTail(data, start - dataOffset, end - dataOffset)) {
          // The grown segment may already count as contiguous: extend that too.
          if (this.contiguousIndex === count) this.contiguous += end - start;
          return;
        }
      }
      this.settleTail();
      this.segments.push(this.copyToNewTail(data.subarray(start - dataOffset, end - dataOffset)));
      this.segmentStarts.push(start);
      return;
    }
    this.settleTail();
    // Fill only the gaps between held segments that overlap [start, end).
    let index = this.firstEndingAfter(start);
    let cursor = start;
    while (cursor < end) {
      if (index < this.segments.length && this.segmentStarts[index] <= cursor) {
        cursor = Math.max(cursor, this.segmentStarts[index] + this.segments[index].length);
        index++;
        continue;
      }
      const gapEnd = index < this.segments.length ? Math.min(end, this.segmentStarts[index]) : end;
      this.segments.splice(index, 0, data.slice(cursor - dataOffset, gapEnd - dataOffset));
      this.segmentStarts.splice(index, 0, cursor);
      this.held += gapEnd - cursor;
      index++;
      cursor = gapEnd;
    }
  }

  /**
   * In-order data is copied into shared blocks so that one allocation serves many
   * packets; the last segment is a view of the tail block and grows in place.
   * Bytes below tailUsed are never written again, so views handed out stay valid.
   */
  private appendToTail(data: Uint8Array, from: number, to: number): boolean {
    const block = this.tailBlock;
    const length = to - from;
    if (!block || !this.tailSegment || this.tailUsed + length > block.length) return false;
    block.set(from === 0 && to === data.length ? data : data.subarray(from, to), this.tailUsed);
    this.tailUsed += length;
    this.tailExtra += length;
    return true;
  }

  /** Extends the tail segment's view over the bytes appended since (see tailExtra). */
  private settleTail(): void {
    if (this.tailExtra === 0) return;
    const segment = this.tailSegment!;
    const grown = new Uint8Array(segment.buffer, segment.byteOffset, segment.length + this.tailExtra);
    const last = this.segments.length - 1;
    if (this.segments[last] === segment) this.segments[last] = grown;
    this.tailSegment = grown;
    this.tailExtra = 0;
  }

  private copyToNewTail(source: Uint8Array): Uint8Array {
    if (!this.tailBlock || this.tailUsed + source.length > this.tailBlock.length) {
      // Not zero-filled: no byte of a block is handed out before it has been written.
      const block = Buffer.allocUnsafeSlow(Math.max(BLOCK_SIZE, source.length));
      this.tailBlock = new Uint8Array(block.buffer, block.byteOffset, block.length);
      this.tailUsed = 0;
    }
    this.tailBlock.set(source, this.tailUsed);
    this.tailSegment = this.tailBlock.subarray(this.tailUsed, this.tailUsed + source.length);
    this.tailUsed += source.length;
    return this.tailSegment;
  }

  /** First segment index (from contiguousIndex) whose end is > offset. */
  private firstEndingAfter(offset: number): number {
    let lo = this.contiguousIndex;
    let hi = this.segments.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.segmentStarts[mid] + this.segments[mid].length > offset) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private advanceContiguous(): void {
    while (
      this.contiguousIndex < this.segments.length &&
      this.segmentStarts[this.contiguousIndex] === this.contiguous
    ) {
      this.contiguous += this.segments[this.contiguousIndex].length;
      this.contiguousIndex++;
    }
  }

  /**
   * Returns up to maxBytes of contiguous bytes in order (a view when they lie in one
   * segment, else a copy), or undefined when nothing is readable.
   */
  read(maxBytes: number = Number.POSITIVE_INFINITY): Uint8Array | undefined {
    this.settleTail();
    const length = Math.min(maxBytes, this.readableBytes);
    if (!(length > 0)) return undefined;
    const first = this.segments[this.head];
    if (first.length - this.headRead >= length) return this.consume(length);
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const part = this.consume(length - filled);
      out.set(part, filled);
      filled += part.length;
    }
    return out;
  }

  /** Like read but never copies: returns at most the rest of one segment. */
  readChunk(maxBytes: number = Number.POSITIVE_INFINITY): Uint8Array | undefined {
    if (!(maxBytes > 0) || this.readableBytes === 0) return undefined;
    this.settleTail();
    return this.consume(maxBytes);
  }

  /** Takes up to maxBytes from the head segment. */
  private consume(maxBytes: number): Uint8Array {
    const segment = this.segments[this.head];
    const n = Math.min(maxBytes, segment.length - this.headRead);
    const out =
      this.headRead === 0 && n === segment.length
        ? segment
        : segment.subarray(this.headRead, this.headRead + n);
    this.headRead += n;
    this.readOffsetValue += n;
    this.held -= n;
    if (this.headRead === segment.length) {
      this.segments[this.head] = EMPTY;
      this.head++;
      this.headRead = 0;
      if (this.head >= COMPACT_THRESHOLD && this.head * 2 >= this.segments.length) {
        this.segments.splice(0, this.head);
        this.segmentStarts.splice(0, this.head);
        this.contiguousIndex -= this.head;
        this.head = 0;
      }
    }
    return out;
  }

  /**
   * Drops all held data and discards anything that arrives later (STOP_SENDING).
   * Everything received counts as read. Returns how many bytes that newly consumed.
   */
  discard(): number {
    const released = this.highest - this.readOffsetValue;
    this.discarding = true;
    this.segments = [];
    this.segmentStarts = [];
    this.head = this.headRead = this.contiguousIndex = 0;
    this.held = 0;
    this.tailBlock = this.tailSegment = undefined;
    this.tailExtra = 0;
    this.readOffsetValue = this.contiguous = this.highest;
    return released;
  }

  /**
   * RESET_STREAM: fixes the final size and drops all data. Returns how far this raised
   * the highest received offset (for connection flow control).
   * @throws StreamError FINAL_SIZE_ERROR when finalSize contradicts what was received.
   */
  reset(finalSize: number): number {
    if (!Number.isSafeInteger(finalSize) || finalSize < 0) {
      throw new StreamError(TransportError.FRAME_ENCODING_ERROR, `final size ${finalSize} out of range`);
    }
    if (this.final !== undefined && finalSize !== this.final) {
      throw finalSizeError(`reset final size ${finalSize} but FIN said ${this.final}`);
    }
    if (finalSize < this.highest) throw finalSizeError(`reset final size ${finalSize} below ${this.highest}`);
    const newBytes = finalSize - this.highest;
    this.highest = finalSize;
    this.final = finalSize;
    this.discard();
    return newBytes;
  }
}
