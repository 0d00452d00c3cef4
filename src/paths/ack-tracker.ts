/**
 * Receive side of one packet-number space: which packet numbers arrived, and when an
 * ACK is owed (RFC 9000 §13.2). Received numbers are kept as sorted, merged, inclusive
 * ranges in one flat array [start0, end0, start1, end1, ...]; in-order arrival extends
 * the last range in O(1), reordering costs a binary search plus a splice over at most
 * `maxRanges` entries.
 */

export interface AckTrackerOptions {
  /** Our max_ack_delay (ms): how long an ack-eliciting packet may wait for its ACK. */
  maxAckDelay: number;
  /** Ack-eliciting packets received before an ACK goes out immediately (default 2). */
  ackElicitingThreshold?: number;
  /** Ranges remembered; the oldest are dropped beyond this (default 64). */
  maxRanges?: number;
}

export interface BuiltAck {
  /** Descending, non-overlapping, non-adjacent; ranges[0].largest is the largest acknowledged. */
  ranges: { smallest: number; largest: number }[];
  ackDelayMicros: number;
}

export class AckTracker {
  private readonly maxAckDelay: number;
  private readonly threshold: number;
  private readonly maxRanges: number;
  private readonly bounds: number[] = [];
  private _largestReceived: number | undefined;
  private largestReceivedAt = 0;
  private largestAckEliciting: number | undefined;
  /** Something arrived since the last ACK we sent. */
  private newSinceAck = false;
  private elicitingSinceAck = 0;
  private firstUnackedElicitingAt: number | undefined;
  private immediateAt: number | undefined;

  constructor(opts: AckTrackerOptions) {
    this.maxAckDelay = opts.maxAckDelay;
    this.threshold = opts.ackElicitingThreshold ?? 2;
    this.maxRanges = opts.maxRanges ?? 64;
  }

  get largestReceived(): number | undefined {
    return this._largestReceived;
  }

  /** Number of ranges currently remembered. */
  get rangeCount(): number {
    return this.bounds.length >> 1;
  }

  /** Ack-eliciting packets received since the last ACK was sent. */
  get ackElicitingPending(): number {
    return this.elicitingSinceAck;
  }

  /** Whether `pn` is currently remembered as received. */
  has(pn: number): boolean {
    const i = this.firstEndingAtOrAfter(pn);
    return i < this.rangeCount && this.bounds[2 * i] <= pn;
  }

  onPacketReceived(pn: number, ackEliciting: boolean, now: number): void {
    if (!Number.isSafeInteger(pn) || pn < 0) return;
    const previousLargest = this._largestReceived;
    if (!this.insert(pn)) return; // duplicate
    if (previousLargest === undefined || pn > previousLargest) {
      this._largestReceived = pn;
      this.largestReceivedAt = now;
    }
    this.newSinceAck = true;
    if (!ackEliciting) return;
    this.elicitingSinceAck++;
    this.firstUnackedElicitingAt ??= now;
    // RFC 9000 §13.2.1: acknowledge at once what looks like reordering or loss.
    const reordered = this.largestAckEliciting !== undefined && pn < this.largestAckEliciting;
    const gap = previousLargest !== undefined && pn > previousLargest + 1;
    if (this.largestAckEliciting === undefined || pn > this.largestAckEliciting)
      this.largestAckEliciting = pn;
    if (reordered || gap || this.elicitingSinceAck >= this.threshold) this.immediateAt ??= now;
  }

  /** True if an ACK should go out immediately. */
  get ackNow(): boolean {
    return this.immediateAt !== undefined;
  }

  /** Time by which an ACK must be sent, or undefined when none is owed. */
  ackDeadline(): number | undefined {
    if (this.immediateAt !== undefined) return this.immediateAt;
    if (this.firstUnackedElicitingAt === undefined) return undefined;
    return this.firstUnackedElicitingAt + this.maxAckDelay;
  }

  /** The ACK to send now, or undefined if nothing arrived since the last one. */
  buildAck(now: number): BuiltAck | undefined {
    const count = this.rangeCount;
    if (!this.newSinceAck || count === 0) return undefined;
    const ranges: { smallest: number; largest: number }[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const j = count - 1 - i;
      ranges[i] = { smallest: this.bounds[2 * j], largest: this.bounds[2 * j + 1] };
    }
    // The delay is only meaningful for the largest packet received.
    const delay = ranges[0].largest === this._largestReceived ? now - this.largestReceivedAt : 0;
    return { ranges, ackDelayMicros: Math.max(0, Math.round(delay * 1000)) };
  }

  onAckSent(): void {
    this.newSinceAck = false;
    this.elicitingSinceAck = 0;
    this.firstUnackedElicitingAt = undefined;
    this.immediateAt = undefined;
  }

  /**
   * The ACKs we sent may have been lost with the path they went on (we are moving elsewhere):
   * the next packet carries the ranges again, without waiting for a new packet to arrive, and
   * goes out at once: the peer may be holding back resends until it knows what arrived.
   */
  repeatAck(now: number): void {
    if (this.bounds.length === 0) return;
    this.newSinceAck = true;
    this.immediateAt ??= now;
  }

  /** The peer acknowledged our ACK whose largest was `largestAckedInThatAck`: stop repeating ranges at or below it. */
  onAckAcked(largestAckedInThatAck: number): void {
    const b = this.bounds;
    let drop = 0;
    while (drop < b.length && b[drop + 1] <= largestAckedInThatAck) drop += 2;
    if (drop > 0) b.splice(0, drop);
    if (b.length > 0 && b[0] <= largestAckedInThatAck) b[0] = largestAckedInThatAck + 1;
    // Everything still to report went with those ranges (a late packet below an ACK the peer has
    // seen): no ACK is owed any more, and an ACK deadline left set would never be met (no
    // ranges, buildAck builds nothing), a timer stuck in the past (policy exploration seed 4671).
    if (b.length === 0) {
      this.newSinceAck = false;
      this.elicitingSinceAck = 0;
      this.firstUnackedElicitingAt = undefined;
      this.immediateAt = undefined;
    }
  }

  /** Index of the first range whose end is >= pn. */
  private firstEndingAtOrAfter(pn: number): number {
    let lo = 0;
    let hi = this.rangeCount;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.bounds[2 * mid + 1] >= pn) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Adds pn; false if it was already present. */
  private insert(pn: number): boolean {
    const b = this.bounds;
    const n = b.length;
    if (n === 0 || pn > b[n - 1] + 1) {
      b.push(pn, pn);
    } else if (pn === b[n - 1] + 1) {
      b[n - 1] = pn;
    } else {
      const i = this.firstEndingAtOrAfter(pn);
      const count = n >> 1;
      if (i < count && b[2 * i] <= pn) return false;
      const joinsPrevious = i > 0 && b[2 * i - 1] === pn - 1;
      const joinsNext = i < count && b[2 * i] === pn + 1;
      if (joinsPrevious && joinsNext) {
        b[2 * i - 1] = b[2 * i + 1];
        b.splice(2 * i, 2);
      } else if (joinsPrevious) {
        b[2 * i - 1] = pn;
      } else if (joinsNext) {
        b[2 * i] = pn;
      } else {
        b.splice(2 * i, 0, pn, pn);
      }
    }
    if (b.length > 2 * this.maxRanges) b.splice(0, b.length - 2 * this.maxRanges);
    return true;
  }
}
