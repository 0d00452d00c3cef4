/**
 * Round-trip time estimation for one path (RFC 9002 §5). All times are milliseconds.
 */

/** RFC 9002 kGranularity: the timer granularity assumed by loss detection. */
export const TIMER_GRANULARITY = 1;
/** RFC 9002 §6.2.2 recommends 333 ms before any sample. */
export const DEFAULT_INITIAL_RTT = 333;

export class RttEstimator {
  /** Most recent raw sample (0 before the first). */
  latestRtt = 0;
  smoothedRtt: number;
  rttVar: number;
  /** Minimum raw sample seen (Infinity before the first). */
  minRtt = Number.POSITIVE_INFINITY;
  hasSample = false;
  private readonly initialRtt: number;

  constructor(initialRtt: number = DEFAULT_INITIAL_RTT) {
    this.initialRtt = initialRtt;
    this.smoothedRtt = initialRtt;
    this.rttVar = initialRtt / 2;
  }

  /**
   * Adds one sample. `ackDelay` is the peer-reported delay; it is capped at
   * `maxAckDelay` once the handshake is confirmed and never subtracted below min_rtt.
   */
  update(latestRtt: number, ackDelay: number, maxAckDelay: number, handshakeConfirmed: boolean): void {
    if (!Number.isFinite(latestRtt) || latestRtt < 0) return;
    this.latestRtt = latestRtt;
    if (!this.hasSample) {
      this.hasSample = true;
      this.minRtt = latestRtt;
      this.smoothedRtt = latestRtt;
      this.rttVar = latestRtt / 2;
      return;
    }
    this.minRtt = Math.min(this.minRtt, latestRtt);
    let delay = Number.isFinite(ackDelay) && ackDelay > 0 ? ackDelay : 0;
    if (handshakeConfirmed) delay = Math.min(delay, maxAckDelay);
    let adjusted = latestRtt;
    if (latestRtt >= this.minRtt + delay) adjusted = latestRtt - delay;
    this.rttVar = 0.75 * this.rttVar + 0.25 * Math.abs(this.smoothedRtt - adjusted);
    this.smoothedRtt = 0.875 * this.smoothedRtt + 0.125 * adjusted;
  }

  /** One probe timeout period without backoff: srtt + max(4·rttvar, granularity) + maxAckDelay. */
  pto(maxAckDelay: number): number {
    return this.smoothedRtt + Math.max(4 * this.rttVar, TIMER_GRANULARITY) + maxAckDelay;
  }

  /** Forgets all samples (e.g. the path's route changed). */
  reset(): void {
    this.latestRtt = 0;
    this.smoothedRtt = this.initialRtt;
    this.rttVar = this.initialRtt / 2;
    this.minRtt = Number.POSITIVE_INFINITY;
    this.hasSample = false;
  }
}
