/**
 * Loss detection for one packet-number space (RFC 9002 §6–7.6), clock-free: every
 * call takes `now` in milliseconds.
 *
 * Loss is declared by time, as RACK (RFC 8985) does: a packet below the largest acknowledged
 * is lost once `max(latest RTT, smoothed RTT) + reordering window` has passed since it was
 * sent. The window starts at min_rtt / 4 and grows by that step, at most once per round trip,
 * whenever a packet declared lost is acknowledged after all (the DSACK evidence of RFC 8985
 * §6.2: the loss was reordering); it never exceeds the smoothed RTT, and falls back to one
 * step after 16 loss episodes without such evidence. No fixed count of later packets declares
 * a loss (RFC 9002's kPacketThreshold, optional here): on a path that reorders, that count
 * turns every overtaken packet into a loss and a window cut.
 *
 * Sent packets live in an array indexed by packet-number offset from the oldest
 * unacknowledged one, so an ACK costs O(ranges + packets it newly acknowledges), and
 * the loss scan only visits packets at or below the largest acknowledged — after each scan,
 * only the holes still inside the reordering window.
 */
import type { DeliverySnapshot } from './delivery-rate.js';
import { type RttEstimator, TIMER_GRANULARITY } from './rtt-estimator.js';

export interface SentPacket<T> {
  pn: number;
  timeSent: number;
  /** Bytes on the wire (whole UDP payload for this packet). */
  size: number;
  ackEliciting: boolean;
  /** Counts toward bytes in flight (congestion control). */
  inFlight: boolean;
  info: T;
  /** Delivery state when an in-flight packet left, for rate sampling (set by its path). */
  delivery?: DeliverySnapshot;
}

export interface AckOutcome<T> {
  /** Newly acknowledged packets, ascending packet number. */
  acked: SentPacket<T>[];
  /** Packets declared lost by this ACK, ascending packet number. */
  lost: SentPacket<T>[];
  /**
   * Packets declared lost earlier (or handed back when their path was left) that this ACK
   * shows arrived after all, ascending packet number: what they carried needs no resending.
   * They take no part in RTT or congestion control.
   */
  lateAcked: SentPacket<T>[];
  rttSampled: boolean;
  persistentCongestion: boolean;
}

export interface LossDetectionOptions {
  rtt: RttEstimator;
  /** The peer's max_ack_delay (ms); may be changed later through the `maxAckDelay` field. */
  maxAckDelay: number;
  /** RFC 9002 kPacketThreshold: also declare a packet lost once this many later ones are acknowledged (default: off). */
  packetThreshold?: number;
  /**
   * Ceiling for the backed-off probe interval (ms; never below one unbacked PTO). RFC 9002
   * doubles without bound, which under long loss bursts leaves only a handful of probes
   * before the idle timeout; a ceiling keeps probing steady (default: unbounded).
   */
  maxProbeInterval?: number;
}

export interface AckRangeInput {
  smallest: number;
  largest: number;
}

/** RFC 8985 §6.2: loss episodes without reordering evidence before the window falls back. */
const REORDERING_WINDOW_PERSIST = 16;
/** Ceiling of the reordering window's multiplier (the window is capped at srtt anyway). */
const REORDERING_WINDOW_MAX_MULTIPLIER = 64;
/** RFC 9002 kPersistentCongestionThreshold. */
const PERSISTENT_CONGESTION_THRESHOLD = 3;
/**
 * A PTO timer that fires this late (ms, and at least a quarter of its period) after its
 * deadline shows a local stall rather than a silent path: see onTimeout.
 */
const STALL_LATENESS_MIN = 3;
/** Backoff exponent cap, so the PTO stays a finite number. */
const MAX_PTO_EXPONENT = 30;
/** Compact the slot array once this many leading slots are dead and they are half of it. */
const COMPACT_THRESHOLD = 1024;
/**
 * How long a packet declared lost is remembered for a late ACK (ms; at least three PTOs). After
 * a failover the receiver reports what it got on the dead path only once it hears from us on
 * the new one: that takes the new path's round trip, which the dead path's PTO knows nothing of.
 */
const LATE_ACK_RETENTION_MIN = 2000;
/** At most this many packets declared lost are remembered (the oldest are forgotten first). */
const LATE_ACK_RETENTION_MAX_PACKETS = 16384;

export class LossDetection<T> {
  readonly rtt: RttEstimator;
  /** The peer's max_ack_delay in ms (transport parameter; 25 by default). */
  maxAckDelay: number;
  maxProbeInterval: number;
  private readonly packetThreshold: number;
  /** RFC 8985 reo_wnd_mult: the reordering window in steps of min_rtt / 4. */
  private reorderingMultiplier = 1;
  /** RFC 8985 reo_wnd_persist: loss episodes left before the multiplier falls back to 1. */
  private reorderingPersist = 0;
  private reorderingGrownAt = Number.NEGATIVE_INFINITY;
  private lastLossEpisodeAt = Number.NEGATIVE_INFINITY;
  private _spuriousLosses = 0;

  /** slots[head] holds packet number headPn; undefined slots are acked, lost or never sent. */
  private slots: (SentPacket<T> | undefined)[] = [];
  private head = 0;
  private headPn = 0;
  private tracked = 0;
  private largestSent = -1;
  private _bytesInFlight = 0;
  private ackElicitingOutstanding = 0;
  private timeOfLastAckEliciting = 0;
  private lossTime: number | undefined;
  private _ptoCount = 0;
  /** When the PTO last fired: the next one counts from here if no probe could be sent since. */
  private lastPtoAt = Number.NEGATIVE_INFINITY;
  /** A late PTO was put off until then (once per silence: see onTimeout). */
  private stallRearmAt: number | undefined;
  private _largestAcked: number | undefined;
  /** When the first RTT sample was taken: persistent congestion ignores packets sent earlier. */
  private firstRttSampleAt: number | undefined;
  /** Packets declared lost, ascending packet number, and when each was declared (see lateAcked). */
  private lostPackets: SentPacket<T>[] = [];
  private lostAt: number[] = [];
  /** Per remembered packet: declared lost by the loss scan (its late ACK is reordering evidence). */
  private lostByScan: boolean[] = [];

  constructor(opts: LossDetectionOptions) {
    this.rtt = opts.rtt;
    this.maxAckDelay = opts.maxAckDelay;
    this.maxProbeInterval = opts.maxProbeInterval ?? Number.POSITIVE_INFINITY;
    this.packetThreshold = opts.packetThreshold ?? Number.POSITIVE_INFINITY;
  }

  /**
   * RFC 8985 reo_wnd (ms): how long past one RTT a packet below the largest acknowledged may
   * still be on its way. min_rtt / 4 per step, at most the smoothed RTT.
   */
  get reorderingWindow(): number {
    if (!this.rtt.hasSample) return 0;
    return Math.min((this.reorderingMultiplier * this.rtt.minRtt) / 4, this.rtt.smoothedRtt);
  }

  /** Packets declared lost by the loss scan that were acknowledged after all (reordering). */
  get spuriousLosses(): number {
    return this._spuriousLosses;
  }

  get bytesInFlight(): number {
    return this._bytesInFlight;
  }

  get ptoCount(): number {
    return this._ptoCount;
  }

  get largestAcked(): number | undefined {
    return this._largestAcked;
  }

  /** Packets sent and neither acknowledged nor declared lost. */
  get unackedCount(): number {
    return this.tracked;
  }

  /** Ack-eliciting packets sent and neither acknowledged nor declared lost. */
  get ackElicitingInFlight(): number {
    return this.ackElicitingOutstanding;
  }

  /** When the last ack-eliciting packet was sent on this path (0 before any). */
  get lastAckElicitingSentAt(): number {
    return this.timeOfLastAckEliciting;
  }

  /** Packet numbers must increase; throws RangeError otherwise (a caller bug, not peer input). */
  onPacketSent(p: SentPacket<T>): void {
    if (!Number.isSafeInteger(p.pn) || p.pn <= this.largestSent) {
      throw new RangeError(`packet number ${p.pn} not above ${this.largestSent}`);
    }
    if (this.tracked === 0) {
      this.slots.length = 0;
      this.head = 0;
      this.headPn = p.pn;
    } else {
      // Packet numbers the caller skipped (never registered) become empty slots.
      for (let pn = this.headPn + (this.slots.length - this.head); pn < p.pn; pn++)
        this.slots.push(undefined);
    }
    this.slots.push(p);
    this.tracked++;
    this.largestSent = p.pn;
    if (p.inFlight) this._bytesInFlight += p.size;
    if (p.ackEliciting) {
      this.ackElicitingOutstanding++;
      this.timeOfLastAckEliciting = p.timeSent;
    }
  }

  /**
   * Applies one ACK frame. `ranges` are descending as in AckFrame. Returns undefined if
   * the ranges are malformed or acknowledge a packet number never sent (the caller
   * closes with PROTOCOL_VIOLATION); state is untouched in that case.
   */
  onAckReceived(
    ranges: readonly AckRangeInput[],
    ackDelayMs: number,
    now: number,
    handshakeConfirmed: boolean,
  ): AckOutcome<T> | undefined {
    if (!this.validRanges(ranges)) return undefined;
    const largestInFrame = ranges[0].largest;
    if (this._largestAcked === undefined || largestInFrame > this._largestAcked)
      this._largestAcked = largestInFrame;

    const acked: SentPacket<T>[] = [];
    let largestNewlyAcked: SentPacket<T> | undefined;
    let anyAckEliciting = false;
    if (this.tracked > 0) {
      const lastPn = this.headPn + (this.slots.length - this.head) - 1;
      // Smallest range first, so `acked` comes out ascending.
      for (let r = ranges.length - 1; r >= 0; r--) {
        const range = ranges[r];
        if (range.largest < this.headPn) continue;
        if (range.smallest > lastPn) break;
        const from = Math.max(range.smallest, this.headPn);
        const to = Math.min(range.largest, lastPn);
        for (let pn = from; pn <= to; pn++) {
          const index = this.head + (pn - this.headPn);
          const p = this.slots[index];
          if (p === undefined) continue;
          this.remove(index, p);
          acked.push(p);
          if (p.ackEliciting) anyAckEliciting = true;
          if (pn === largestInFrame) largestNewlyAcked = p;
        }
      }
    }
    const lateAcked = this.takeLateAcked(ranges, now);
    if (acked.length === 0)
      return { acked, lost: [], lateAcked, rttSampled: false, persistentCongestion: false };

    let rttSampled = false;
    if (largestNewlyAcked !== undefined && anyAckEliciting) {
      this.rtt.update(now - largestNewlyAcked.timeSent, ackDelayMs, this.maxAckDelay, handshakeConfirmed);
      if (this.firstRttSampleAt === undefined) this.firstRttSampleAt = now;
      rttSampled = true;
    }
    this.advanceHead();
    const { lost, persistentCongestion } = this.detectLost(now);
    this._ptoCount = 0;
    this.lastPtoAt = Number.NEGATIVE_INFINITY;
    this.stallRearmAt = undefined;
    return { acked, lost, lateAcked, rttSampled, persistentCongestion };
  }

  /** Earliest of loss-time and PTO deadline, or undefined when nothing ack-eliciting is in flight. */
  deadline(handshakeConfirmed: boolean): number | undefined {
    if (this.lossTime !== undefined) return this.lossTime;
    if (this.ackElicitingOutstanding === 0) return undefined;
    return this.ptoDeadline(this.ptoPeriod(handshakeConfirmed));
  }

  private ptoDeadline(period: number): number {
    const deadline = this.timeOfLastAckEliciting + period;
    // With a capped interval and no probe sent since the last PTO (e.g. blocked by the
    // anti-amplification limit), the deadline would stay in the past: count from the PTO.
    const armed = deadline > this.lastPtoAt ? deadline : this.lastPtoAt + period;
    return this.stallRearmAt !== undefined && this.stallRearmAt > armed ? this.stallRearmAt : armed;
  }

  /**
   * The current probe timeout including backoff. max_ack_delay only counts once the
   * handshake is confirmed (RFC 9002 §6.2.1). Unlike RFC 9002, the PTO is armed before
   * confirmation too: Braid's handshake flight has its own retransmission, so data sent
   * early would otherwise have no timer at all.
   */
  ptoPeriod(handshakeConfirmed: boolean): number {
    const base = this.rtt.pto(handshakeConfirmed ? this.maxAckDelay : 0);
    const backedOff = base * 2 ** Math.min(this._ptoCount, MAX_PTO_EXPONENT);
    return Math.min(backedOff, Math.max(base, this.maxProbeInterval));
  }

  /**
   * Call when now >= deadline(). Either declares packets lost (time threshold) or signals
   * a PTO: the caller sends `probes` (1 or 2) ack-eliciting packets. Before the deadline
   * it does nothing.
   */
  onTimeout(now: number, handshakeConfirmed: boolean): { lost: SentPacket<T>[]; probes: number } {
    this.forgetOldLosses(now);
    if (this.lossTime !== undefined) {
      if (now < this.lossTime) return { lost: [], probes: 0 };
      // Persistent congestion is only established on receipt of an ACK (RFC 9002 §7.6.2).
      return { lost: this.detectLost(now).lost, probes: 0 };
    }
    if (this.ackElicitingOutstanding === 0) return { lost: [], probes: 0 };
    const period = this.ptoPeriod(handshakeConfirmed);
    const deadline = this.ptoDeadline(period);
    if (now < deadline) return { lost: [], probes: 0 };
    // A timer firing long after its deadline means this host ran nothing meanwhile (GC, a long
    // batch, a starved CPU): ACKs that arrived may sit unread in the socket buffer, so the
    // silence is no evidence against the path. Count the PTO from now instead, once per
    // silence — on a host that is always late, the re-armed PTO counts however late it fires.
    if (this.stallRearmAt === undefined && now - deadline > Math.max(STALL_LATENESS_MIN, period / 4)) {
      this.stallRearmAt = now + period;
      return { lost: [], probes: 0 };
    }
    this._ptoCount++;
    this.lastPtoAt = now;
    // Two probes guard against a single lost probe costing another, doubled, PTO.
    return { lost: [], probes: this.ackElicitingOutstanding >= 2 ? 2 : 1 };
  }

  /** All unacknowledged packets (e.g. the path was abandoned), ascending; state is cleared. */
  drainAll(): SentPacket<T>[] {
    const out: SentPacket<T>[] = [];
    for (let i = this.head; i < this.slots.length; i++) {
      const p = this.slots[i];
      if (p !== undefined) out.push(p);
    }
    this.slots = [];
    this.head = 0;
    this.headPn = this.largestSent + 1;
    this.tracked = 0;
    this._bytesInFlight = 0;
    this.ackElicitingOutstanding = 0;
    this.lossTime = undefined;
    this._ptoCount = 0;
    this.lastPtoAt = Number.NEGATIVE_INFINITY;
    this.stallRearmAt = undefined;
    return out;
  }

  /**
   * Every unacknowledged packet is handed back as lost (the path is being left: what it
   * carried goes elsewhere now), ascending, but remembered like any loss: an ACK that still
   * names one (the receiver reports on another path what arrived on this one) shows up in
   * `lateAcked`. Not a congestion signal; the path's timers stop.
   */
  declareAllLost(now: number): SentPacket<T>[] {
    const out = this.drainAll();
    for (const p of out) this.rememberLost(p, now, false);
    return out;
  }

  /**
   * Up to `count` oldest unacknowledged ack-eliciting packets (those `wanted` accepts, e.g.
   * the ones still holding data worth resending), for PTO probes that resend data.
   */
  oldestUnacked(count: number, wanted?: (p: SentPacket<T>) => boolean): SentPacket<T>[] {
    const out: SentPacket<T>[] = [];
    for (let i = this.head; i < this.slots.length && out.length < count; i++) {
      const p = this.slots[i];
      if (p?.ackEliciting && (wanted === undefined || wanted(p))) out.push(p);
    }
    return out;
  }

  private validRanges(ranges: readonly AckRangeInput[]): boolean {
    if (ranges.length === 0) return false;
    let previousSmallest = Number.POSITIVE_INFINITY;
    for (const range of ranges) {
      const { smallest, largest } = range;
      if (!Number.isSafeInteger(smallest) || !Number.isSafeInteger(largest)) return false;
      if (smallest < 0 || smallest > largest || largest >= previousSmallest) return false;
      previousSmallest = smallest;
    }
    return ranges[0].largest <= this.largestSent;
  }

  /** Keeps a packet declared lost (ascending packet number) for a late ACK. */
  private rememberLost(p: SentPacket<T>, now: number, byScan: boolean): void {
    const list = this.lostPackets;
    let at = list.length;
    while (at > 0 && list[at - 1].pn > p.pn) at--;
    list.splice(at, 0, p);
    this.lostAt.splice(at, 0, now);
    this.lostByScan.splice(at, 0, byScan);
    if (list.length > LATE_ACK_RETENTION_MAX_PACKETS)
      this.forgetOldest(list.length - LATE_ACK_RETENTION_MAX_PACKETS);
  }

  private forgetOldest(count: number): void {
    this.lostPackets.splice(0, count);
    this.lostAt.splice(0, count);
    this.lostByScan.splice(0, count);
  }

  /** Forgets losses older than the retention (declaration times are nearly ascending). */
  private forgetOldLosses(now: number): void {
    if (this.lostPackets.length === 0) return;
    const retention = Math.max(LATE_ACK_RETENTION_MIN, 3 * this.rtt.pto(this.maxAckDelay));
    let drop = 0;
    while (drop < this.lostAt.length && this.lostAt[drop] + retention < now) drop++;
    if (drop > 0) this.forgetOldest(drop);
  }

  /** Remembered lost packets that `ranges` (descending) acknowledge, removed and ascending. */
  private takeLateAcked(ranges: readonly AckRangeInput[], now: number): SentPacket<T>[] {
    this.forgetOldLosses(now);
    const list = this.lostPackets;
    if (list.length === 0) return [];
    const found: SentPacket<T>[] = [];
    const keep = new Array<boolean>(list.length).fill(true);
    let reordered = false;
    for (let r = ranges.length - 1; r >= 0; r--) {
      const { smallest, largest } = ranges[r];
      // First remembered packet at or above `smallest`.
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (list[mid].pn < smallest) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < list.length && list[i].pn <= largest; i++) {
        found.push(list[i]);
        keep[i] = false;
        if (this.lostByScan[i]) reordered = true;
      }
    }
    if (found.length > 0) {
      this.lostPackets = list.filter((_, i) => keep[i]);
      this.lostAt = this.lostAt.filter((_, i) => keep[i]);
      this.lostByScan = this.lostByScan.filter((_, i) => keep[i]);
    }
    if (reordered) this.onSpuriousLoss(now, found.length);
    return found;
  }

  /**
   * RFC 8985 §6.2 step 4: a loss the scan declared was reordering. The window grows one step,
   * at most once per round trip (one reordering event must not inflate it many times), and
   * stays grown for the next REORDERING_WINDOW_PERSIST loss episodes.
   */
  private onSpuriousLoss(now: number, count: number): void {
    this._spuriousLosses += count;
    this.reorderingPersist = REORDERING_WINDOW_PERSIST;
    if (now - this.reorderingGrownAt < this.rtt.smoothedRtt) return;
    this.reorderingGrownAt = now;
    this.reorderingMultiplier = Math.min(this.reorderingMultiplier + 1, REORDERING_WINDOW_MAX_MULTIPLIER);
  }

  /** A loss episode (losses at least one smoothed RTT after the last): the grown window ages. */
  private onLossEpisode(now: number): void {
    if (now - this.lastLossEpisodeAt < this.rtt.smoothedRtt) return;
    this.lastLossEpisodeAt = now;
    if (this.reorderingPersist > 0) this.reorderingPersist--;
    else this.reorderingMultiplier = 1;
  }

  private remove(index: number, p: SentPacket<T>): void {
    this.slots[index] = undefined;
    this.tracked--;
    if (p.inFlight) this._bytesInFlight -= p.size;
    if (p.ackEliciting) this.ackElicitingOutstanding--;
  }

  /** Skips leading empty slots and occasionally compacts the array. */
  private advanceHead(): void {
    if (this.tracked === 0) {
      this.slots.length = 0;
      this.head = 0;
      this.headPn = this.largestSent + 1;
      return;
    }
    while (this.slots[this.head] === undefined) {
      this.head++;
      this.headPn++;
    }
    if (this.head >= COMPACT_THRESHOLD && this.head * 2 >= this.slots.length) {
      this.slots.copyWithin(0, this.head);
      this.slots.length -= this.head;
      this.head = 0;
    }
  }

  /**
   * RFC 8985 §6.2 over RFC 9002 §6.1: packets at or below the largest acknowledged are lost
   * once `max(latest RTT, srtt) + reordering window` has passed since they were sent (or,
   * if configured, `packetThreshold` newer packets are acknowledged); the earliest pending
   * expiry becomes the loss timer. Also checks for
   * persistent congestion (§7.6.2) within runs of consecutively numbered lost packets.
   */
  private detectLost(now: number): { lost: SentPacket<T>[]; persistentCongestion: boolean } {
    this.lossTime = undefined;
    const lost: SentPacket<T>[] = [];
    const largestAcked = this._largestAcked;
    if (largestAcked === undefined || this.tracked === 0) return { lost, persistentCongestion: false };
    const lossDelay = Math.max(
      Math.max(this.rtt.latestRtt, this.rtt.smoothedRtt) + this.reorderingWindow,
      TIMER_GRANULARITY,
    );
    const congestionPeriod = this.rtt.pto(this.maxAckDelay) * PERSISTENT_CONGESTION_THRESHOLD;
    const sampleAt = this.firstRttSampleAt;
    let persistentCongestion = false;
    let runStart: number | undefined;

    const end = Math.min(this.slots.length - 1, this.head + (largestAcked - this.headPn));
    for (let index = this.head; index <= end; index++) {
      const p = this.slots[index];
      if (p === undefined) {
        runStart = undefined; // acknowledged or unknown: the run of losses is broken
        continue;
      }
      // Same expression as the loss timer below: `now - lossDelay` can round one ulp under
      // timeSent and leave the timer due forever (a livelock found by the simulator).
      if (p.timeSent + lossDelay <= now || largestAcked >= p.pn + this.packetThreshold) {
        this.remove(index, p);
        this.rememberLost(p, now, true);
        lost.push(p);
        if (p.ackEliciting && sampleAt !== undefined && p.timeSent > sampleAt) {
          if (runStart === undefined) runStart = p.timeSent;
          else if (p.timeSent - runStart > congestionPeriod) persistentCongestion = true;
        }
      } else {
        runStart = undefined;
        const expiry = p.timeSent + lossDelay;
        if (this.lossTime === undefined || expiry < this.lossTime) this.lossTime = expiry;
      }
    }
    if (lost.length > 0) {
      this.advanceHead();
      this.onLossEpisode(now);
    }
    return { lost, persistentCongestion };
  }
}
