/**
 * NewReno as specified for QUIC (RFC 9002 §7.3 and Appendix B).
 */
import type { RttEstimator } from '../rtt-estimator.js';
import {
  type CongestionController,
  DEFAULT_MAX_DATAGRAM_SIZE,
  initialWindow,
  minimumWindow,
} from './controller.js';

/** RFC 9002 kLossReductionFactor. */
const LOSS_REDUCTION_FACTOR = 0.5;

export class NewReno implements CongestionController {
  protected cwnd: number;
  private threshold = Number.POSITIVE_INFINITY;
  /** Start of the current recovery period; packets sent at or before it do not count. */
  private recoveryStart: number | undefined;
  /** Window, threshold and recovery start before the last congestion event (undoCongestionEvent). */
  private beforeLastEvent: [number, number, number | undefined] | undefined;
  protected readonly maxDatagramSize: number;

  constructor(maxDatagramSize: number = DEFAULT_MAX_DATAGRAM_SIZE) {
    this.maxDatagramSize = maxDatagramSize;
    this.cwnd = initialWindow(maxDatagramSize);
  }

  get window(): number {
    return this.cwnd;
  }

  get ssthresh(): number {
    return this.threshold;
  }

  get inSlowStart(): boolean {
    return this.cwnd < this.threshold;
  }

  onPacketSent(_bytes: number, _now: number): void {}

  onPacketAcked(bytes: number, timeSent: number, _now: number, rtt: RttEstimator, appLimited: boolean): void {
    if (this.inRecovery(timeSent) || appLimited) return;
    if (this.inSlowStart) this.cwnd += bytes;
    else this.cwnd += this.avoidanceIncrease(bytes, rtt);
  }

  /** Congestion-avoidance growth for `bytes` newly acknowledged: one datagram per window (Reno). */
  protected avoidanceIncrease(bytes: number, _rtt: RttEstimator): number {
    return (this.maxDatagramSize * bytes) / this.cwnd;
  }

  onCongestionEvent(timeSentOfLatestLost: number, now: number): void {
    if (this.inRecovery(timeSentOfLatestLost)) return;
    this.beforeLastEvent = [this.cwnd, this.threshold, this.recoveryStart];
    this.recoveryStart = now;
    this.threshold = this.cwnd * LOSS_REDUCTION_FACTOR;
    this.cwnd = Math.max(this.threshold, minimumWindow(this.maxDatagramSize));
  }

  undoCongestionEvent(): void {
    if (this.beforeLastEvent === undefined) return;
    [this.cwnd, this.threshold, this.recoveryStart] = this.beforeLastEvent;
    this.beforeLastEvent = undefined;
  }

  onPersistentCongestion(): void {
    this.beforeLastEvent = undefined;
    this.cwnd = minimumWindow(this.maxDatagramSize);
    this.recoveryStart = undefined;
  }

  private inRecovery(timeSent: number): boolean {
    return this.recoveryStart !== undefined && timeSent <= this.recoveryStart;
  }
}
