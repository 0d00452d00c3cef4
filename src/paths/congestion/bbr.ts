/**
 * BBR (version 1: draft-cardwell-iccrg-bbr-congestion-control-00, as Linux's tcp_bbr.c): a model
 * of the path, not a reaction to loss. Two filters describe the bottleneck: the windowed maximum
 * of delivery-rate samples over 10 round trips (BtlBw) and the minimum RTT over 10 s (RTprop).
 * The sender paces at gain × BtlBw and keeps at most cwnd_gain × BtlBw × RTprop in flight.
 *
 * - STARTUP doubles the rate each round (gain 2/ln 2) until BtlBw stops growing by 25 % for
 *   three rounds; DRAIN then empties the queue it built.
 * - PROBE_BW cycles the pacing gain through 1.25, 0.75 and six rounds of 1: the 1.25 phase looks
 *   for more bandwidth, the 0.75 phase drains what the probe queued.
 * - PROBE_RTT: when RTprop was not refreshed for 10 s, the flight drops to 4 packets for 200 ms
 *   and a round trip, so the queue empties and the true propagation delay is seen again.
 *
 * Random loss does not lower the model: a lost packet is simply not delivered. Loss only holds
 * the window for one round (packet conservation, as in Linux) and takes the lost bytes out of it;
 * a real rate drop shows as lower delivery-rate samples, and the max filter forgets the old rate
 * within 10 rounds. That is why Braid offers BBR for paths with random, non-congestive loss
 * (docs/performance.md has the measurements). Samples taken while app-limited raise the estimate
 * but never lower it.
 *
 * Not modelled: BBRv2/v3's loss- and ECN-bounded inflight_hi (it would cut at ~2 % loss, which
 * is exactly the random loss of the profiles BBR is chosen for) and the idle-restart pacing
 * tweak. Sans-I/O: time comes in as `now` (ms); rates are bytes per ms.
 */
import type { RateSample } from '../delivery-rate.js';
import type { RttEstimator } from '../rtt-estimator.js';
import {
  type CongestionController,
  DEFAULT_MAX_DATAGRAM_SIZE,
  initialWindow,
  minimumWindow,
} from './controller.js';

/** 2/ln 2: the smallest gain that doubles the delivery rate each round in STARTUP. */
export const BBR_HIGH_GAIN = 2 / Math.LN2;
/** PROBE_BW pacing gains, one phase per RTprop. */
export const BBR_PACING_GAIN_CYCLE: readonly number[] = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
/** cwnd gain in PROBE_BW: room for delayed and aggregated ACKs. */
export const BBR_CWND_GAIN = 2;
/** BtlBw filter length, in round trips. */
export const BBR_BTLBW_FILTER_ROUNDS = 10;
/** RTprop filter length (ms). */
export const BBR_RTPROP_FILTER_MS = 10_000;
/** Time PROBE_RTT holds the flight down (ms), besides one round trip. */
export const BBR_PROBE_RTT_MS = 200;
/** The least flight, in packets, that keeps the pipe going (and PROBE_RTT's window). */
const MIN_PIPE_PACKETS = 4;
/** STARTUP ends when BtlBw grew by less than this factor ... */
const FULL_BW_GROWTH = 1.25;
/** ... for this many rounds in a row. */
const FULL_BW_ROUNDS = 3;
/** Packets of slack on top of gain × BDP, for the pacer's bursts and ACK aggregation. */
const QUANTA_PACKETS = 3;

export type BbrState = 'startup' | 'drain' | 'probe-bw' | 'probe-rtt';

/**
 * The maximum of the values seen over the last `window` units of time (here: rounds). A
 * monotonic queue: exact, and O(1) amortised per update.
 */
export class WindowedMaxFilter {
  private readonly window: number;
  private entries: { value: number; time: number }[] = [];

  constructor(window: number) {
    this.window = window;
  }

  /** The maximum over the window ending at the last update's time (0 when empty). */
  get best(): number {
    return this.entries.length === 0 ? 0 : this.entries[0].value;
  }

  /** Adds a value at `time` (non-decreasing) and forgets values older than the window. */
  update(value: number, time: number): void {
    const entries = this.entries;
    while (entries.length > 0 && entries[entries.length - 1].value <= value) entries.pop();
    entries.push({ value, time });
    this.expire(time);
  }

  /** Forgets values older than the window ending at `time`, with no new value. */
  expire(time: number): void {
    const entries = this.entries;
    let drop = 0;
    while (drop < entries.length - 1 && entries[drop].time <= time - this.window) drop++;
    // The newest entry stays even if old: with no samples for a while, the last estimate holds.
    if (drop > 0) entries.splice(0, drop);
  }
}

export class Bbr implements CongestionController {
  private readonly mds: number;
  private cwnd: number;
  private _state: BbrState = 'startup';
  private pacingGain = BBR_HIGH_GAIN;
  private cwndGain = BBR_HIGH_GAIN;
  private readonly btlBwFilter = new WindowedMaxFilter(BBR_BTLBW_FILTER_ROUNDS);
  /** Bytes per ms set by the model; undefined until the first rate sample. */
  private rate: number | undefined;
  private rtProp = Number.POSITIVE_INFINITY;
  private rtPropStamp = 0;
  private _roundCount = 0;
  private nextRoundDelivered = 0;
  private roundStart = false;
  private fullBw = 0;
  private fullBwCount = 0;
  private filledPipe = false;
  private cycleIndex = 0;
  private cycleStamp = 0;
  private probeRttDoneStamp: number | undefined;
  private probeRttRoundDone = false;
  private priorCwnd = 0;
  /** Recovery: packets sent at or before this time belong to the lossy round (ms). */
  private recoveryStart: number | undefined;
  /** First round of recovery: the window only follows what is delivered (packet conservation). */
  private packetConservation = false;
  private bytesInFlightAtLoss = 0;
  private lastSrtt: number | undefined;
  private lastNow = 0;

  constructor(maxDatagramSize: number = DEFAULT_MAX_DATAGRAM_SIZE) {
    this.mds = maxDatagramSize;
    this.cwnd = initialWindow(maxDatagramSize);
  }

  get window(): number {
    return this.cwnd;
  }

  /** BBR keeps no slow-start threshold. */
  get ssthresh(): number {
    return Number.POSITIVE_INFINITY;
  }

  get inSlowStart(): boolean {
    return this._state === 'startup';
  }

  get state(): BbrState {
    return this._state;
  }

  /** The bottleneck bandwidth estimate (bytes per ms; 0 before the first sample). */
  get bottleneckBandwidth(): number {
    return this.btlBwFilter.best;
  }

  /** The round-trip propagation time estimate (ms; Infinity before the first sample). */
  get minRtt(): number {
    return this.rtProp;
  }

  /** Round trips counted so far (a round ends when a packet sent after its start is acknowledged). */
  get roundCount(): number {
    return this._roundCount;
  }

  get currentPacingGain(): number {
    return this.pacingGain;
  }

  /** Bytes per ms: gain × BtlBw, or before any sample 2/ln 2 × the initial window per smoothed RTT. */
  get pacingRate(): number | undefined {
    if (this.rate !== undefined) return this.rate;
    if (this.lastSrtt === undefined || !(this.lastSrtt > 0)) return undefined;
    return (BBR_HIGH_GAIN * this.cwnd) / this.lastSrtt;
  }

  onPacketSent(_bytes: number, _now: number): void {}

  onPacketAcked(
    _bytes: number,
    timeSent: number,
    now: number,
    rtt: RttEstimator,
    _appLimited: boolean,
  ): void {
    this.lastSrtt = rtt.hasSample ? rtt.smoothedRtt : undefined;
    this.lastNow = now;
    // A packet sent after recovery began was delivered: the lossy round is over.
    if (this.recoveryStart !== undefined && timeSent > this.recoveryStart) this.exitRecovery();
  }

  onPacketsLost(_bytes: number, bytesInFlight: number, now: number): void {
    this.bytesInFlightAtLoss = bytesInFlight;
    this.lastNow = now;
  }

  /**
   * Loss starts recovery (at most once per round of sends): the window drops to what is still
   * in flight plus one packet and follows deliveries for a round. The rate and model stay.
   */
  onCongestionEvent(timeSentOfLatestLost: number, now: number): void {
    this.lastNow = now;
    if (this.recoveryStart !== undefined && timeSentOfLatestLost <= this.recoveryStart) return;
    this.priorCwnd = this.savedWindow();
    this.recoveryStart = now;
    this.packetConservation = true;
    this.cwnd = Math.max(this.bytesInFlightAtLoss + this.mds, this.minPipe());
  }

  /** The loss was reordering: the window before recovery comes back. */
  undoCongestionEvent(): void {
    if (this.recoveryStart === undefined) return;
    this.exitRecovery();
  }

  /** RFC 9002 §7.6 collapses the window; like Linux BBR after an RTO, it returns once data flows. */
  onPersistentCongestion(): void {
    this.priorCwnd = this.savedWindow();
    this.cwnd = minimumWindow(this.mds);
    this.recoveryStart = this.lastNow;
    this.packetConservation = true;
  }

  onAckProcessed(sample: RateSample, bytesInFlight: number, now: number): void {
    this.lastNow = now;
    this.updateRound(sample);
    this.updateBtlBw(sample);
    this.checkCyclePhase(sample, bytesInFlight + sample.newlyAcked + sample.newlyLost, now);
    this.checkFullPipe(sample);
    this.checkDrain(bytesInFlight, now);
    const rtPropExpired = now > this.rtPropStamp + BBR_RTPROP_FILTER_MS;
    if (sample.rtt >= 0 && (sample.rtt <= this.rtProp || rtPropExpired)) {
      this.rtProp = sample.rtt;
      this.rtPropStamp = now;
    }
    this.checkProbeRtt(rtPropExpired, sample, bytesInFlight, now);
    this.setPacingRate();
    this.setWindow(sample, bytesInFlight);
  }

  private minPipe(): number {
    return MIN_PIPE_PACKETS * this.mds;
  }

  /** gain × BtlBw × RTprop plus quanta: the flight a gain calls for (the initial window before a model). */
  private inflightFor(gain: number): number {
    const bw = this.btlBwFilter.best;
    if (this.rtProp === Number.POSITIVE_INFINITY || bw === 0) return initialWindow(this.mds);
    return gain * bw * this.rtProp + QUANTA_PACKETS * this.mds;
  }

  private updateRound(sample: RateSample): void {
    this.roundStart = false;
    if (sample.newlyAcked > 0 && sample.priorDelivered >= this.nextRoundDelivered) {
      this.nextRoundDelivered = sample.delivered;
      this._roundCount++;
      this.roundStart = true;
      this.packetConservation = false;
    }
  }

  private updateBtlBw(sample: RateSample): void {
    if (sample.deliveryRate <= 0) {
      this.btlBwFilter.expire(this._roundCount);
      return;
    }
    // An app-limited sample only shows the sender was slow, unless it beats the estimate anyway.
    if (!sample.appLimited || sample.deliveryRate >= this.btlBwFilter.best)
      this.btlBwFilter.update(sample.deliveryRate, this._roundCount);
    else this.btlBwFilter.expire(this._roundCount);
  }

  private checkCyclePhase(sample: RateSample, priorInflight: number, now: number): void {
    if (this._state !== 'probe-bw') return;
    const fullLength = now - this.cycleStamp > this.rtProp;
    let next: boolean;
    if (this.pacingGain === 1) next = fullLength;
    else if (this.pacingGain > 1)
      // Probe until the extra flight is out (or loss shows the queue is full).
      next = fullLength && (sample.newlyLost > 0 || priorInflight >= this.inflightFor(this.pacingGain));
    else next = fullLength || priorInflight <= this.inflightFor(1);
    if (next) this.advanceCycle(now);
  }

  private advanceCycle(now: number): void {
    this.cycleIndex = (this.cycleIndex + 1) % BBR_PACING_GAIN_CYCLE.length;
    this.cycleStamp = now;
    this.pacingGain = BBR_PACING_GAIN_CYCLE[this.cycleIndex];
  }

  private checkFullPipe(sample: RateSample): void {
    if (this.filledPipe || !this.roundStart || sample.appLimited) return;
    const bw = this.btlBwFilter.best;
    if (bw >= this.fullBw * FULL_BW_GROWTH) {
      this.fullBw = bw;
      this.fullBwCount = 0;
      return;
    }
    if (++this.fullBwCount >= FULL_BW_ROUNDS) this.filledPipe = true;
  }

  private checkDrain(bytesInFlight: number, now: number): void {
    if (this._state === 'startup' && this.filledPipe) {
      this._state = 'drain';
      this.pacingGain = 1 / BBR_HIGH_GAIN;
      this.cwndGain = BBR_HIGH_GAIN;
    }
    if (this._state === 'drain' && bytesInFlight <= this.inflightFor(1)) this.enterProbeBw(now);
  }

  private enterProbeBw(now: number): void {
    this._state = 'probe-bw';
    this.cwndGain = BBR_CWND_GAIN;
    // Any phase but the draining one (index 1), varied by round so that flows which entered
    // PROBE_BW together do not probe in step; advanceCycle moves one further.
    this.cycleIndex = (1 + (this._roundCount % 7)) % BBR_PACING_GAIN_CYCLE.length;
    this.advanceCycle(now);
  }

  private checkProbeRtt(
    rtPropExpired: boolean,
    sample: RateSample,
    bytesInFlight: number,
    now: number,
  ): void {
    if (this._state !== 'probe-rtt' && rtPropExpired) {
      this.priorCwnd = this.savedWindow();
      this._state = 'probe-rtt';
      this.pacingGain = 1;
      this.cwndGain = 1;
      this.probeRttDoneStamp = undefined;
    }
    if (this._state !== 'probe-rtt') return;
    if (this.probeRttDoneStamp === undefined) {
      if (bytesInFlight <= this.minPipe()) {
        this.probeRttDoneStamp = now + BBR_PROBE_RTT_MS;
        this.probeRttRoundDone = false;
        this.nextRoundDelivered = sample.delivered;
      }
      return;
    }
    if (this.roundStart) this.probeRttRoundDone = true;
    if (this.probeRttRoundDone && now > this.probeRttDoneStamp) {
      this.rtPropStamp = now;
      this.cwnd = Math.max(this.cwnd, this.priorCwnd);
      if (this.filledPipe) this.enterProbeBw(now);
      else {
        this._state = 'startup';
        this.pacingGain = BBR_HIGH_GAIN;
        this.cwndGain = BBR_HIGH_GAIN;
      }
    }
  }

  private setPacingRate(): void {
    const bw = this.btlBwFilter.best;
    if (bw === 0) return;
    const rate = this.pacingGain * bw;
    // In STARTUP the rate only grows: an early low sample must not slow the search.
    if (this.filledPipe || this.rate === undefined || rate > this.rate) this.rate = rate;
  }

  private setWindow(sample: RateSample, bytesInFlight: number): void {
    const target = this.inflightFor(this.cwndGain);
    let cwnd = this.cwnd;
    if (sample.newlyLost > 0) cwnd = Math.max(cwnd - sample.newlyLost, this.mds);
    if (this.packetConservation) cwnd = Math.max(cwnd, bytesInFlight + sample.newlyAcked);
    else if (this.filledPipe) cwnd = Math.min(cwnd + sample.newlyAcked, target);
    else if (cwnd < target || sample.delivered < initialWindow(this.mds)) cwnd += sample.newlyAcked;
    cwnd = Math.max(cwnd, this.minPipe());
    if (this._state === 'probe-rtt') cwnd = Math.min(cwnd, this.minPipe());
    this.cwnd = cwnd;
  }

  /** The window to return to after recovery or PROBE_RTT. */
  private savedWindow(): number {
    if (this.recoveryStart === undefined && this._state !== 'probe-rtt') return this.cwnd;
    return Math.max(this.priorCwnd, this.cwnd);
  }

  private exitRecovery(): void {
    this.recoveryStart = undefined;
    this.packetConservation = false;
    this.cwnd = Math.max(this.cwnd, this.priorCwnd);
  }
}
