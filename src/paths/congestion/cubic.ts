/**
 * CUBIC (RFC 9438) over QUIC loss recovery (RFC 9002): slow start, then a cubic window
 * curve anchored at the window before the last reduction (W_max), with the
 * Reno-friendly estimate W_est as a floor and fast convergence. Windows are in bytes;
 * the RFC's segment formulas are scaled by the max datagram size.
 */
import type { RttEstimator } from '../rtt-estimator.js';
import {
  type CongestionController,
  DEFAULT_MAX_DATAGRAM_SIZE,
  initialWindow,
  minimumWindow,
} from './controller.js';

/** RFC 9438 C (segments / s³). */
export const CUBIC_C = 0.4;
/** RFC 9438 β_cubic. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: α_cubic = 3(1−β)/(1+β), the Reno-friendly additive increase. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** What a congestion event changes, kept so a spurious one can be undone. */
interface CubicState {
  cwnd: number;
  threshold: number;
  recoveryStart: number | undefined;
  wMax: number | undefined;
  cwndPrior: number;
  k: number;
  epochStart: number | undefined;
  wEst: number;
}

export class Cubic implements CongestionController {
  private cwnd: number;
  private threshold = Number.POSITIVE_INFINITY;
  private recoveryStart: number | undefined;
  private readonly mds: number;

  /** Window just before the last reduction, lowered by fast convergence (bytes). */
  private wMax: number | undefined;
  /** Window before the last reduction, unadjusted: W_est reaching it switches α to 1. */
  private cwndPrior = 0;
  /** Seconds for the cubic curve to climb back to W_max. */
  private k = 0;
  /** Start of the current congestion-avoidance epoch (ms), minus any app-limited time. */
  private epochStart: number | undefined;
  /** Reno-friendly window estimate (bytes). */
  private wEst = 0;
  private appLimitedSince: number | undefined;
  private lastSentAt: number | undefined;
  private lastSrtt = 0;
  /** The state before the last congestion event, for undoCongestionEvent. */
  private beforeLastEvent: CubicState | undefined;

  constructor(maxDatagramSize: number = DEFAULT_MAX_DATAGRAM_SIZE) {
    this.mds = maxDatagramSize;
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

  /** W_max of the current epoch (bytes), for diagnostics and tests. */
  get lastMaxWindow(): number | undefined {
    return this.wMax;
  }

  /** K of the current epoch (seconds). */
  get timeToOrigin(): number {
    return this.k;
  }

  /** RFC 9438 Figure 1, in bytes: W_cubic(t) = C·(t−K)³·mds + W_max, t in seconds. */
  cubicWindow(seconds: number): number {
    const offset = seconds - this.k;
    return CUBIC_C * offset * offset * offset * this.mds + (this.wMax ?? this.cwnd);
  }

  onPacketSent(_bytes: number, now: number): void {
    // RFC 9438 §5.8: an idle period must not count toward t, or the window would jump
    // on restart. A gap in sending longer than an RTT is treated as idle, unless
    // app-limited ACKs already started excluding this stretch.
    if (
      this.lastSentAt !== undefined &&
      this.epochStart !== undefined &&
      this.appLimitedSince === undefined
    ) {
      const gap = now - this.lastSentAt;
      if (gap > Math.max(this.lastSrtt, 1)) this.epochStart += gap;
    }
    this.lastSentAt = now;
  }

  onPacketAcked(bytes: number, timeSent: number, now: number, rtt: RttEstimator, appLimited: boolean): void {
    this.lastSrtt = rtt.smoothedRtt;
    if (this.inRecovery(timeSent)) return;
    if (appLimited) {
      this.appLimitedSince ??= now;
      return;
    }
    if (this.appLimitedSince !== undefined) {
      if (this.epochStart !== undefined) this.epochStart += now - this.appLimitedSince;
      this.appLimitedSince = undefined;
    }
    if (this.inSlowStart) {
      this.cwnd += bytes;
      return;
    }
    if (this.epochStart === undefined) this.startEpochWithoutLoss(now);
    const t = (now - this.epochStart!) / 1000;
    const alpha = this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * this.mds * bytes) / this.cwnd;
    if (this.cubicWindow(t) < this.wEst) {
      this.cwnd = this.wEst; // Reno-friendly region
      return;
    }
    // Concave or convex region: aim for W_cubic one RTT ahead, growing at most 1.5× per RTT.
    const target = Math.min(
      Math.max(this.cubicWindow(t + rtt.smoothedRtt / 1000), this.cwnd),
      1.5 * this.cwnd,
    );
    this.cwnd += ((target - this.cwnd) * bytes) / this.cwnd;
  }

  onCongestionEvent(timeSentOfLatestLost: number, now: number): void {
    if (this.inRecovery(timeSentOfLatestLost)) return;
    this.beforeLastEvent = this.state();
    this.recoveryStart = now;
    this.cwndPrior = this.cwnd;
    // Fast convergence: a window that stopped short of the last W_max releases bandwidth.
    if (this.wMax !== undefined && this.cwnd < this.wMax) this.wMax = (this.cwnd * (1 + CUBIC_BETA)) / 2;
    else this.wMax = this.cwnd;
    this.threshold = Math.max(this.cwnd * CUBIC_BETA, minimumWindow(this.mds));
    this.cwnd = this.threshold;
    this.epochStart = now;
    this.wEst = this.cwnd;
    this.k = Math.cbrt(Math.max(0, this.wMax - this.cwnd) / this.mds / CUBIC_C);
    this.appLimitedSince = undefined;
  }

  undoCongestionEvent(): void {
    const before = this.beforeLastEvent;
    if (before === undefined) return;
    this.beforeLastEvent = undefined;
    // Every field of CubicState is a field of this controller of the same name (state()).
    Object.assign(this, before);
  }

  private state(): CubicState {
    return {
      cwnd: this.cwnd,
      threshold: this.threshold,
      recoveryStart: this.recoveryStart,
      wMax: this.wMax,
      cwndPrior: this.cwndPrior,
      k: this.k,
      epochStart: this.epochStart,
      wEst: this.wEst,
    };
  }

  onPersistentCongestion(): void {
    this.beforeLastEvent = undefined;
    // RFC 9438 §4.8: after a timeout the next epoch starts from scratch (W_max = cwnd, K = 0).
    this.cwnd = minimumWindow(this.mds);
    this.recoveryStart = undefined;
    this.epochStart = undefined;
    this.wMax = undefined;
    this.appLimitedSince = undefined;
  }

  private startEpochWithoutLoss(now: number): void {
    this.epochStart = now;
    this.wMax = this.cwnd;
    this.cwndPrior = this.cwnd;
    this.wEst = this.cwnd;
    this.k = 0;
  }

  private inRecovery(timeSent: number): boolean {
    return this.recoveryStart !== undefined && timeSent <= this.recoveryStart;
  }
}
