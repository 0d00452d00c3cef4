/**
 * Token-bucket pacer (RFC 9002 §7.7). Rate = 1.25 · cwnd / srtt, so a full window
 * drains in 0.8 RTT. The bucket holds at least `burstPackets` full datagrams and at
 * least `burstMs` worth of tokens: Node timers fire with ~1 ms granularity, so the
 * sender must be able to catch up on what accrued while it slept instead of asking
 * for sub-millisecond timers. Before the first RTT sample nothing is paced.
 */
import { DEFAULT_MAX_DATAGRAM_SIZE } from './congestion/controller.js';

/** RFC 9002 §7.7 N: pace a bit faster than cwnd/srtt so pacing never limits the window. */
export const PACING_GAIN = 1.25;

/** Bytes of shortfall ignored (float rounding). */
const TOKEN_SLACK = 1e-3;

export interface PacerOptions {
  maxDatagramSize?: number;
  /** Minimum burst, in full-sized datagrams (default 10). */
  burstPackets?: number;
  /** Minimum burst, in milliseconds of sending at the current rate (default 2). */
  burstMs?: number;
}

export class Pacer {
  private readonly maxDatagramSize: number;
  private readonly burstPackets: number;
  private readonly burstMs: number;
  /** Undefined while unpaced: the bucket is then full at whatever capacity applies next. */
  private tokens: number | undefined;
  private updatedAt = 0;
  /** Bytes per ms and bucket size from the last `delayUntil`, used to refill in `onSend`. */
  private rate = 0;
  private capacity = 0;

  constructor(opts: PacerOptions = {}) {
    this.maxDatagramSize = opts.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM_SIZE;
    this.burstPackets = opts.burstPackets ?? 10;
    this.burstMs = opts.burstMs ?? 2;
  }

  /** Undefined = `bytes` may go now; else the time (ms) at which they may. */
  delayUntil(bytes: number, now: number, cwnd: number, srtt: number | undefined): number | undefined {
    if (srtt === undefined || !(srtt > 0) || !(cwnd > 0)) {
      this.tokens = undefined;
      return undefined;
    }
    return this.delayAtRate(bytes, now, (PACING_GAIN * cwnd) / srtt);
  }

  /**
   * As delayUntil, at a rate (bytes per ms) the congestion controller chose itself (BBR paces
   * at gain × bottleneck bandwidth, not from the window).
   */
  delayAtRate(bytes: number, now: number, rate: number): number | undefined {
    if (!(rate > 0) || !Number.isFinite(rate)) {
      this.tokens = undefined;
      return undefined;
    }
    this.rate = rate;
    this.capacity = Math.max(this.burstPackets * this.maxDatagramSize, this.rate * this.burstMs);
    const tokens = this.refill(now);
    // The slack absorbs float rounding, so waiting until the returned time always succeeds.
    if (tokens >= bytes - TOKEN_SLACK) return undefined;
    return now + (bytes - tokens) / this.rate;
  }

  onSend(bytes: number, now: number): void {
    if (this.tokens === undefined) return;
    // A forced send (probe, ACK) may overdraw; the debt is bounded by one bucket.
    this.tokens = Math.max(this.refill(now) - bytes, -this.capacity);
  }

  /** Tokens available now (Infinity while unpaced); for diagnostics and tests. */
  available(now: number): number {
    return this.tokens === undefined ? Number.POSITIVE_INFINITY : this.refill(now);
  }

  private refill(now: number): number {
    if (this.tokens === undefined) {
      this.tokens = this.capacity;
    } else if (now > this.updatedAt) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.updatedAt) * this.rate);
    } else {
      this.tokens = Math.min(this.capacity, this.tokens);
    }
    this.updatedAt = Math.max(this.updatedAt, now);
    return this.tokens;
  }
}
