/**
 * Everything Braid keeps per path (address pair): its own packet-number space, RTT,
 * loss detection, congestion control, pacing, ACK generation, anti-amplification and
 * validation state. Clock-free like the rest of src/paths: `now` is passed in.
 */
import type { SocketAddress } from '../net/address.js';
import { AckTracker } from './ack-tracker.js';
import { DEFAULT_MAX_DATAGRAM_SIZE } from './congestion/controller.js';
import {
  type CongestionControlKind,
  type CongestionController,
  createCongestionController,
} from './congestion/index.js';
import { DeliveryRateEstimator } from './delivery-rate.js';
import { LossDetection, type SentPacket } from './loss-detection.js';
import { Pacer } from './pacer.js';
import { BASE_UDP_PAYLOAD, PmtuDiscovery } from './pmtu.js';
import { DEFAULT_INITIAL_RTT, RttEstimator } from './rtt-estimator.js';

/** RFC 9000 §18.2 default max_ack_delay, assumed for the peer until its parameters arrive. */
export const DEFAULT_PEER_MAX_ACK_DELAY = 25;
/** RFC 9000 §8.1: an unvalidated address may receive at most 3× what it sent us. */
export const AMPLIFICATION_FACTOR = 3;

export interface PathOptions {
  id: number;
  local: SocketAddress;
  remote: SocketAddress;
  now: number;
  /** Congestion control's datagram unit (bytes, default 1200). */
  maxDatagramSize?: number;
  /** Largest UDP payload PMTU discovery may raise this path to (default: no discovery, 1200). */
  maxUdpPayloadSize?: number;
  congestionControl?: CongestionControlKind;
  /** A ready-made controller instead (e.g. one coupled with the session's other paths); overrides congestionControl. */
  congestion?: CongestionController;
  /** Our max_ack_delay (ms), which our ACK timing honours. */
  maxAckDelay: number;
  /** The peer's max_ack_delay (ms) if already known; see setMaxAckDelay. */
  peerMaxAckDelay?: number;
  initialRtt?: number;
  /** Start validated (e.g. the client's first path, or an address the handshake proved). */
  validated?: boolean;
  /** Ceiling of the backed-off PTO interval (ms), see LossDetectionOptions. */
  maxProbeInterval?: number;
  /** Ack-eliciting packets received before an ACK is sent at once (default 2). */
  ackElicitingThreshold?: number;
}

/** Where a path stands in its lifecycle (validation, use, standby, failure, removal). */
export type PathState = 'validating' | 'active' | 'standby' | 'failed' | 'removed';

export interface PathInfo {
  id: number;
  local: SocketAddress;
  remote: SocketAddress;
  state: PathState;
  /** The peer proved it receives what we send to this pair (PATH_RESPONSE, or the handshake). */
  validated: boolean;
  /** Smoothed RTT in ms (undefined before the first sample). */
  srtt: number | undefined;
  rttvar: number | undefined;
  minRtt: number | undefined;
  congestionWindow: number;
  /** UDP payload size packets on this path are built at, as PMTU discovery found it (DPLPMTUD). */
  udpPayloadSize: number;
  /** Times PMTU discovery found the path's MTU had shrunk (a black hole) and fell back to 1200. */
  pmtuBlackHoles: number;
  bytesInFlight: number;
  bytesSent: number;
  bytesReceived: number;
  packetsSent: number;
  packetsLost: number;
  /** packetsLost / packetsSent (0 before anything was sent). */
  lossRate: number;
}

export type SendVerdict =
  | { ok: true }
  | { ok: false; until?: number; reason: 'cwnd' | 'pacing' | 'amplification' };

/** Everything kept per path: its number space, RTT, loss detection, congestion control and validation. */
export class Path<T> {
  readonly id: number;
  local: SocketAddress;
  remote: SocketAddress;
  state: PathState = 'validating';
  /** Destination connection ID used on this path (set by the engine). */
  remoteCid: Uint8Array = new Uint8Array(0);
  readonly createdAt: number;
  readonly maxDatagramSize: number;

  readonly rtt: RttEstimator;
  readonly loss: LossDetection<T>;
  private controller: CongestionController;
  readonly pacer: Pacer;
  /** Delivery-rate samples (for a rate-based controller; kept for any, it costs little). */
  readonly deliveryRate = new DeliveryRateEstimator();
  readonly acks: AckTracker;
  /** PMTU discovery (RFC 8899): the datagram size of this path. */
  readonly pmtu: PmtuDiscovery;
  nextPacketNumber = 0;

  /** Address validated (RFC 9000 §8): lifts the anti-amplification limit. */
  validated: boolean;
  bytesSent = 0;
  /** Bytes of bytesSent the kernel refused to send (no route yet...): they reached nobody. */
  bytesRefused = 0;
  bytesReceived = 0;
  packetsSent = 0;
  packetsLost = 0;

  /** Outstanding PATH_CHALLENGE payload, if validation is in progress. */
  private challenge: Uint8Array | undefined;
  private challengeSentAt: number | undefined;
  private pacingBlockedUntil: number | undefined;
  /** Last time the sender wanted more than cwnd or the pacer allowed (RFC 9002 §7.8). */
  private lastLimitedAt = Number.NEGATIVE_INFINITY;
  /**
   * Packet numbers declared lost since congestion control last cut the window: if every one of
   * them turns out to have arrived (late ACKs: reordering), the cut is undone.
   */
  private lostSinceCut: Set<number> | undefined;

  constructor(opts: PathOptions) {
    this.id = opts.id;
    this.local = opts.local;
    this.remote = opts.remote;
    this.createdAt = opts.now;
    this.maxDatagramSize = opts.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM_SIZE;
    this.validated = opts.validated ?? false;
    this.rtt = new RttEstimator(opts.initialRtt ?? DEFAULT_INITIAL_RTT);
    this.loss = new LossDetection<T>({
      rtt: this.rtt,
      maxAckDelay: opts.peerMaxAckDelay ?? DEFAULT_PEER_MAX_ACK_DELAY,
      maxProbeInterval: opts.maxProbeInterval,
    });
    this.controller =
      opts.congestion ?? createCongestionController(opts.congestionControl ?? 'cubic', this.maxDatagramSize);
    this.pacer = new Pacer({ maxDatagramSize: this.maxDatagramSize });
    this.pmtu = new PmtuDiscovery(opts.maxUdpPayloadSize ?? BASE_UDP_PAYLOAD);
    this.acks = new AckTracker({
      maxAckDelay: opts.maxAckDelay,
      ackElicitingThreshold: opts.ackElicitingThreshold,
    });
  }

  get cc(): CongestionController {
    return this.controller;
  }

  /**
   * Switches congestion control (the session's multipath policy was agreed after this path
   * was created). The new controller starts from its initial window; only the handshake has
   * been sent by then.
   */
  useCongestionController(cc: CongestionController): void {
    this.controller = cc;
  }

  /** The peer's max_ack_delay (from its transport parameters), used for PTO and persistent congestion. */
  setMaxAckDelay(peerMaxAckDelay: number): void {
    if (Number.isFinite(peerMaxAckDelay) && peerMaxAckDelay >= 0) this.loss.maxAckDelay = peerMaxAckDelay;
  }

  /** One PTO period without backoff, including the peer's max_ack_delay (for close/drain timers). */
  pto(): number {
    return this.rtt.pto(this.loss.maxAckDelay);
  }

  /**
   * The size to build the next packet at: what PMTU discovery found, but the base size while a
   * PTO is outstanding on a path above it (if larger packets stopped arriving, the PTO probe
   * still gets through, and its acknowledgement shows the black hole).
   */
  sendSize(): number {
    const size = this.pmtu.size;
    return this.loss.ptoCount > 0 && size > BASE_UDP_PAYLOAD ? BASE_UDP_PAYLOAD : size;
  }

  /**
   * The in-flight packets an ACK newly acknowledged, after its losses were applied: PMTU
   * discovery's black-hole check. True if the datagram size fell back.
   */
  onAckedForPmtu(acked: readonly SentPacket<T>[], now: number): boolean {
    const sizes: number[] = [];
    for (const packet of acked) if (packet.inFlight) sizes.push(packet.size);
    return this.pmtu.onPacketsAcked(sizes, now);
  }

  /** Bytes we may still send before the address is validated; Infinity once it is. */
  amplificationCredit(): number {
    if (this.validated) return Number.POSITIVE_INFINITY;
    return Math.max(0, AMPLIFICATION_FACTOR * this.bytesReceived - this.bytesOnWire);
  }

  /** Bytes sent that left the host (what anti-amplification bounds). */
  get bytesOnWire(): number {
    return this.bytesSent - this.bytesRefused;
  }

  /** Whether a packet of `bytes` may be sent now, and if not, why (and when, for pacing). */
  canSend(bytes: number, now: number): SendVerdict {
    if (bytes > this.amplificationCredit()) {
      // A stale pacing deadline would wake the engine for nothing while credit is missing.
      this.pacingBlockedUntil = undefined;
      return { ok: false, reason: 'amplification' };
    }
    const cwnd = this.cc.window;
    if (this.loss.bytesInFlight + bytes > cwnd) {
      this.lastLimitedAt = now;
      this.pacingBlockedUntil = undefined;
      return { ok: false, reason: 'cwnd' };
    }
    const rate = this.cc.pacingRate;
    const srtt = this.rtt.hasSample ? this.rtt.smoothedRtt : undefined;
    const until =
      rate === undefined
        ? this.pacer.delayUntil(bytes, now, cwnd, srtt)
        : this.pacer.delayAtRate(bytes, now, rate);
    if (until !== undefined) {
      this.lastLimitedAt = now;
      this.pacingBlockedUntil = until;
      return { ok: false, until, reason: 'pacing' };
    }
    this.pacingBlockedUntil = undefined;
    return { ok: true };
  }

  /** When the pacer will next let a packet go, if the last canSend was refused for pacing. */
  pacingDeadline(): number | undefined {
    return this.pacingBlockedUntil;
  }

  /** Registers a sent packet with loss detection, congestion control, pacing and counters. */
  onPacketSent(packet: SentPacket<T>, now: number): void {
    if (packet.inFlight) packet.delivery = this.deliveryRate.onPacketSent(this.loss.bytesInFlight, now);
    this.loss.onPacketSent(packet);
    if (packet.pn >= this.nextPacketNumber) this.nextPacketNumber = packet.pn + 1;
    this.packetsSent++;
    this.bytesSent += packet.size;
    this.pacingBlockedUntil = undefined;
    if (!packet.inFlight) return;
    this.cc.onPacketSent(packet.size, now);
    this.pacer.onSend(packet.size, now);
    // A send that (nearly) fills the window counts as window-limited.
    if (this.loss.bytesInFlight + this.maxDatagramSize > this.cc.window) this.lastLimitedAt = now;
  }

  /** Feeds one newly acknowledged packet (from loss.onAckReceived) to congestion control. */
  onPacketAcked(packet: SentPacket<T>, now: number): void {
    if (!packet.inFlight) return;
    // Window growth needs the sender to have been limited by cwnd or pacing since this
    // packet left; otherwise the window was not the bottleneck and must not grow.
    const appLimited = this.lastLimitedAt < packet.timeSent;
    if (packet.delivery !== undefined)
      this.deliveryRate.onPacketAcked(packet.size, packet.timeSent, packet.delivery, appLimited, now);
    this.cc.onPacketAcked(packet.size, packet.timeSent, now, this.rtt, appLimited);
  }

  /**
   * An ACK was fully applied (its packets acknowledged, its losses declared): the delivery-rate
   * sample goes to a controller that models the path.
   */
  onAckProcessed(now: number): void {
    const sample = this.deliveryRate.takeSample(this.rtt.hasSample ? this.rtt.minRtt : 0);
    if (sample.newlyAcked === 0 && sample.newlyLost === 0) return;
    this.cc.onAckProcessed?.(sample, this.loss.bytesInFlight, now);
  }

  /**
   * Packets declared lost by loss detection: counted, and congestion control told (one event
   * for the batch). True if the window was cut.
   */
  onPacketsLost(lost: readonly SentPacket<T>[], now: number): boolean {
    let latestSent = Number.NEGATIVE_INFINITY;
    for (const packet of lost) {
      this.packetsLost++;
      if (!packet.inFlight) continue;
      this.pmtu.onPacketLost(packet.size);
      if (packet.timeSent > latestSent) latestSent = packet.timeSent;
    }
    if (latestSent === Number.NEGATIVE_INFINITY) return false;
    let lostBytes = 0;
    for (const packet of lost) if (packet.inFlight) lostBytes += packet.size;
    this.deliveryRate.onPacketsLost(lostBytes);
    this.cc.onPacketsLost?.(lostBytes, this.loss.bytesInFlight, now);
    const window = this.cc.window;
    this.cc.onCongestionEvent(latestSent, now);
    const cut = this.cc.window < window;
    if (cut) this.lostSinceCut = new Set();
    if (this.lostSinceCut) for (const packet of lost) if (packet.inFlight) this.lostSinceCut.add(packet.pn);
    return cut;
  }

  /**
   * Packets declared lost arrived after all (loss detection's lateAcked). When they are all the
   * packets lost since the last window cut, that cut was spurious and is undone; true then.
   */
  onLateAcked(packets: readonly SentPacket<T>[]): boolean {
    const pending = this.lostSinceCut;
    if (pending === undefined || packets.length === 0) return false;
    for (const packet of packets) pending.delete(packet.pn);
    if (pending.size > 0) return false;
    this.lostSinceCut = undefined;
    if (!this.cc.undoCongestionEvent) return false;
    this.cc.undoCongestionEvent();
    return true;
  }

  /** RFC 9002 §7.6: the window collapses, and no earlier cut can be undone any more. */
  onPersistentCongestion(): void {
    this.lostSinceCut = undefined;
    this.cc.onPersistentCongestion();
  }

  /** Starts (or restarts) validation with a PATH_CHALLENGE carrying `data`. */
  startValidation(data: Uint8Array, now: number): void {
    this.challenge = Uint8Array.from(data);
    this.challengeSentAt = now;
    if (!this.validated) this.state = 'validating';
  }

  /** The outstanding PATH_CHALLENGE payload, if validation is in progress. */
  get outstandingChallenge(): Uint8Array | undefined {
    return this.challenge;
  }

  /** The outstanding challenge timed out: a late answer to it proves nothing any more. */
  cancelValidation(): void {
    this.challenge = undefined;
    this.challengeSentAt = undefined;
  }

  /** When the outstanding PATH_CHALLENGE was sent, if any. */
  get challengePendingSince(): number | undefined {
    return this.challenge === undefined ? undefined : this.challengeSentAt;
  }

  /** A PATH_RESPONSE arrived: true (and the path is validated) if it echoes our challenge. */
  onPathResponse(data: Uint8Array): boolean {
    const expected = this.challenge;
    if (expected === undefined || expected.length !== data.length) return false;
    for (let i = 0; i < expected.length; i++) if (expected[i] !== data[i]) return false;
    this.challenge = undefined;
    this.challengeSentAt = undefined;
    this.validated = true;
    if (this.state === 'validating') this.state = 'active';
    return true;
  }

  info(): PathInfo {
    const sampled = this.rtt.hasSample;
    return {
      id: this.id,
      local: this.local,
      remote: this.remote,
      state: this.state,
      validated: this.validated,
      srtt: sampled ? this.rtt.smoothedRtt : undefined,
      rttvar: sampled ? this.rtt.rttVar : undefined,
      minRtt: sampled ? this.rtt.minRtt : undefined,
      congestionWindow: this.cc.window,
      udpPayloadSize: this.pmtu.size,
      pmtuBlackHoles: this.pmtu.blackHoles,
      bytesInFlight: this.loss.bytesInFlight,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      packetsSent: this.packetsSent,
      packetsLost: this.packetsLost,
      lossRate: this.packetsSent > 0 ? this.packetsLost / this.packetsSent : 0,
    };
  }
}
