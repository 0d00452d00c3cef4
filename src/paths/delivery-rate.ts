/**
 * Delivery-rate estimation for one path (draft-cheng-iccrg-delivery-rate-estimation), clock-free:
 * every call takes `now` in milliseconds, rates are bytes per millisecond.
 *
 * Each sent packet carries a snapshot of how much had been delivered when it left; when it is
 * acknowledged, the bytes delivered since that snapshot over the longer of the send and the ACK
 * intervals is one sample of the path's delivery rate. The longer interval keeps ACK compression
 * (a burst of ACKs for packets sent over a longer span) from inflating the sample. Samples taken
 * while the sender had nothing to send (app-limited) are marked, so a model of the bottleneck
 * (BBR's max filter) does not lower its estimate for lack of data.
 *
 * Unlike the draft, which marks a packet app-limited when it is sent (that needs a view of the
 * application's queue), the caller judges it when the ACK arrives: a sample is app-limited if the
 * sender was never held back by its window or pacer between the packet's departure and its ACK.
 */

/** What a packet remembers of the delivery state when it was sent (the draft's P.*). */
export interface DeliverySnapshot {
  /** Bytes delivered (acknowledged) on the path when the packet was sent. */
  delivered: number;
  /** When the most recent of those bytes was acknowledged (ms). */
  deliveredTime: number;
  /** Send time of the packet whose ACK was last processed at that point (ms). */
  firstSentTime: number;
}

/** One delivery-rate sample: produced once per ACK that newly acknowledges in-flight packets. */
export interface RateSample {
  /** Bytes per ms; 0 when the ACK gave no valid sample (too short an interval, no snapshot). */
  deliveryRate: number;
  /** The sample's packets left while the sender was app-limited: it may understate the path. */
  appLimited: boolean;
  /** Round-trip time of the most recently sent packet this ACK acknowledged (ms); -1 if none. */
  rtt: number;
  /** `delivered` of that packet's snapshot: a round ends once it reaches the round's start. */
  priorDelivered: number;
  /** Bytes newly acknowledged by this ACK (in-flight packets only). */
  newlyAcked: number;
  /** Bytes declared lost since the previous sample. */
  newlyLost: number;
  /** Path totals after this ACK. */
  delivered: number;
  lost: number;
}

export class DeliveryRateEstimator {
  private _delivered = 0;
  private deliveredTime = 0;
  private firstSentTime = 0;
  private _lost = 0;
  private lostAtLastSample = 0;

  // The sample being built from the packets of the current ACK (the draft's rs.*).
  private hasSample = false;
  private priorDelivered = 0;
  private priorTime = 0;
  private sampleAppLimited = false;
  private sendElapsed = 0;
  private ackElapsed = 0;
  private sampleRtt = -1;
  private sampleTimeSent = 0;
  private ackedNow = 0;

  /** Bytes acknowledged on the path so far. */
  get delivered(): number {
    return this._delivered;
  }

  /** Bytes declared lost on the path so far. */
  get lost(): number {
    return this._lost;
  }

  /** An in-flight packet is leaving; `bytesInFlight` is counted before it. */
  onPacketSent(bytesInFlight: number, now: number): DeliverySnapshot {
    if (bytesInFlight === 0) {
      // Nothing in flight: the send interval starts now, not at the last ACK of an earlier burst.
      this.firstSentTime = now;
      this.deliveredTime = now;
    }
    return {
      delivered: this._delivered,
      deliveredTime: this.deliveredTime,
      firstSentTime: this.firstSentTime,
    };
  }

  /**
   * One in-flight packet sent at `timeSent` with `snapshot` was newly acknowledged; `appLimited`:
   * the sender was not held back by its window or pacer since it left.
   */
  onPacketAcked(
    size: number,
    timeSent: number,
    snapshot: DeliverySnapshot,
    appLimited: boolean,
    now: number,
  ): void {
    this._delivered += size;
    this.deliveredTime = now;
    this.ackedNow += size;
    // The most recently sent packet of the ACK defines the sample (packets come in ascending
    // packet number, so a later one sent at the same time wins).
    if (!this.hasSample || timeSent >= this.sampleTimeSent) {
      this.sampleTimeSent = timeSent;
      this.hasSample = true;
      this.priorDelivered = snapshot.delivered;
      this.priorTime = snapshot.deliveredTime;
      this.sampleAppLimited = appLimited;
      this.sendElapsed = timeSent - snapshot.firstSentTime;
      this.ackElapsed = now - snapshot.deliveredTime;
      this.sampleRtt = now - timeSent;
      this.firstSentTime = timeSent;
    }
  }

  /** In-flight bytes were declared lost. */
  onPacketsLost(bytes: number): void {
    this._lost += bytes;
  }

  /**
   * Ends the current ACK: the rate sample of the packets it acknowledged. Intervals shorter than
   * `minRtt` give no rate (the draft's guard: such a sample measures a burst, not the path).
   */
  takeSample(minRtt: number): RateSample {
    const interval = Math.max(this.sendElapsed, this.ackElapsed);
    const deliveredInInterval = this._delivered - this.priorDelivered;
    const valid =
      this.hasSample && interval > 0 && interval >= minRtt && this.priorTime <= this.deliveredTime;
    const sample: RateSample = {
      deliveryRate: valid ? deliveredInInterval / interval : 0,
      appLimited: this.sampleAppLimited,
      rtt: this.hasSample ? this.sampleRtt : -1,
      priorDelivered: this.priorDelivered,
      newlyAcked: this.ackedNow,
      newlyLost: this._lost - this.lostAtLastSample,
      delivered: this._delivered,
      lost: this._lost,
    };
    this.lostAtLastSample = this._lost;
    this.hasSample = false;
    this.ackedNow = 0;
    this.sampleRtt = -1;
    return sample;
  }
}
