/**
 * The contract every congestion controller meets (RFC 9002 §7). Window sizes are in
 * bytes, times in milliseconds. Bytes in flight are tracked by loss detection, not here.
 *
 * Multipath coupling (LIA, RFC 6356) will go through one more optional member:
 *   `increaseScale?: (ackedBytes: number) => number`
 * set by the session's path scheduler, which the congestion-avoidance increase is
 * multiplied by (LIA's min(alpha·acked·mss/total_cwnd, acked·mss/cwnd) expressed as a
 * per-path factor). Decrease and slow start stay uncoupled, as RFC 6356 prescribes.
 */
import type { RateSample } from '../delivery-rate.js';
import type { RttEstimator } from '../rtt-estimator.js';

export interface CongestionController {
  /** Congestion window (bytes). */
  readonly window: number;
  /** Slow-start threshold (bytes); Infinity until the first congestion event. */
  readonly ssthresh: number;
  readonly inSlowStart: boolean;
  onPacketSent(bytes: number, now: number): void;
  /**
   * An in-flight packet was acknowledged. `appLimited`: the sender did not use its
   * window when this packet went out, so the ACK must not grow it (RFC 9002 §7.8).
   */
  onPacketAcked(bytes: number, timeSent: number, now: number, rtt: RttEstimator, appLimited: boolean): void;
  /**
   * Loss (or ECN-CE). Reduces the window at most once per recovery period: events for
   * packets sent before the current period began are ignored.
   */
  onCongestionEvent(timeSentOfLatestLost: number, now: number): void;
  /** RFC 9002 §7.6: collapse to the minimum window. */
  onPersistentCongestion(): void;
  /**
   * The last congestion event was spurious: every packet it was for arrived after all (the
   * loss was reordering). Back to the state before that event, as Linux TCP's undo after
   * DSACK (RFC 3708) and RFC 8985 §9.3 suggest. Optional: a controller without it keeps the cut.
   */
  undoCongestionEvent?(): void;
  /**
   * A rate-based controller (BBR) sets the pacing rate itself, in bytes per ms; undefined (or
   * absent) lets the pacer derive it from the window and the smoothed RTT.
   */
  readonly pacingRate?: number | undefined;
  /**
   * Once per ACK that newly acknowledged in-flight packets, after onPacketAcked for each and
   * after the losses it revealed: the delivery-rate sample and the bytes still in flight.
   */
  onAckProcessed?(sample: RateSample, bytesInFlight: number, now: number): void;
  /** In-flight bytes declared lost, and the bytes still in flight, just before onCongestionEvent. */
  onPacketsLost?(bytes: number, bytesInFlight: number, now: number): void;
}

export const DEFAULT_MAX_DATAGRAM_SIZE = 1200;

/** RFC 9002 §7.2: min(10·mds, max(14720, 2·mds)). */
export function initialWindow(maxDatagramSize: number): number {
  return Math.min(10 * maxDatagramSize, Math.max(14720, 2 * maxDatagramSize));
}

/** RFC 9002 §7.2: 2·mds. */
export function minimumWindow(maxDatagramSize: number): number {
  return 2 * maxDatagramSize;
}
