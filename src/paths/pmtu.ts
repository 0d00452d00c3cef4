/**
 * Datagram packetization-layer PMTU discovery (DPLPMTUD, RFC 8899) for one path, clock-free.
 * The path starts at BASE_UDP_PAYLOAD (1200 bytes, what every QUIC-like path must carry) and
 * probes upward with padded probe packets: first the ceiling (the smaller of our and the peer's
 * max_udp_payload_size), then a binary search, each size tried up to MAX_PROBES times. A probe
 * acknowledged raises the path's datagram size; the search ends when the bounds are within
 * SEARCH_PRECISION bytes and starts again after RAISE_INTERVAL (RFC 8899 PMTU_RAISE_TIMER).
 *
 * Black hole (the path's MTU shrank and no ICMP says so): packets above the base size keep
 * getting lost while one at the base size is acknowledged (the caller sends its PTO probes at
 * the base size while the datagram size is above it). After BLACK_HOLE_LOSSES such losses with
 * no larger packet acknowledged since, the path sends at the base size at once and probes the
 * old size to confirm: acknowledged, it was random loss (a burst at a stream's tail) and the old
 * size is back; lost MAX_PROBES times, it was a black hole, and the search starts again below
 * the old size after BLACK_HOLE_RETRY.
 */

/** RFC 9000 §14: every path carries UDP payloads of 1200 bytes; the search starts there. */
export const BASE_UDP_PAYLOAD = 1200;
/** RFC 8899 MAX_PROBES: a size is given up after this many lost probes. */
export const MAX_PROBES = 3;
/** The search ends once the largest size known to work is this close to the smallest that failed. */
export const SEARCH_PRECISION = 16;
/** RFC 8899 PMTU_RAISE_TIMER (ms): a finished search starts again after this long. */
export const RAISE_INTERVAL = 600_000;
/** Lost packets above the base size, with none of them acknowledged since, that make a black hole. */
export const BLACK_HOLE_LOSSES = 3;
/** After a black hole the search starts again this much later (ms). */
export const BLACK_HOLE_RETRY = 5_000;

export type PmtuState = 'searching' | 'complete';

export class PmtuDiscovery {
  /** The largest UDP payload the path is known to carry: what packets are built at. */
  private _size = BASE_UDP_PAYLOAD;
  /** Largest size acknowledged in this search. */
  private low = BASE_UDP_PAYLOAD;
  /** Largest size not yet known to fail. */
  private high: number;
  private ceiling: number;
  private _state: PmtuState = 'searching';
  private probeOutstanding: number | undefined;
  private failures = 0;
  /** No probe before then; undefined: the search just finished, the raise timer starts at the next look. */
  private nextProbeAt: number | undefined = Number.NEGATIVE_INFINITY;
  /** Packets above the base size lost since one of that size was last acknowledged. */
  private largeLosses = 0;
  private _blackHoles = 0;
  /** A suspected black hole: the size the path had, probed again before it is given up. */
  private confirming: number | undefined;
  /** A black hole was confirmed: the raise of the search waits BLACK_HOLE_RETRY from the next look. */
  private retryPending = false;

  /** `ceiling`: the largest UDP payload we accept ourselves (the peer's limit comes later). */
  constructor(ceiling: number) {
    this.ceiling = Math.max(BASE_UDP_PAYLOAD, ceiling);
    this.high = this.ceiling;
    if (this.high - this.low < SEARCH_PRECISION) this._state = 'complete';
  }

  /** The datagram size packets on this path are built at. */
  get size(): number {
    return this._size;
  }

  get state(): PmtuState {
    return this._state;
  }

  /** Black holes detected on this path so far. */
  get blackHoles(): number {
    return this._blackHoles;
  }

  /** The peer's max_udp_payload_size arrived: the search never goes above it. */
  limitTo(peerMaxUdpPayload: number): void {
    this.ceiling = Math.max(BASE_UDP_PAYLOAD, Math.min(this.ceiling, peerMaxUdpPayload));
    this.high = Math.min(this.high, this.ceiling);
    this._size = Math.min(this._size, this.ceiling);
    this.low = Math.min(this.low, this.ceiling);
    if (this.high - this.low < SEARCH_PRECISION) this._state = 'complete';
  }

  /** The size of the probe to send now, if one is due (one at a time). */
  probeSize(now: number): number | undefined {
    if (this.probeOutstanding !== undefined) return undefined;
    if (this.confirming !== undefined) return this.confirming;
    if (this.retryPending) {
      this.retryPending = false;
      this.nextProbeAt = now + BLACK_HOLE_RETRY;
    }
    if (this.nextProbeAt === undefined) this.nextProbeAt = now + RAISE_INTERVAL;
    if (now < this.nextProbeAt) return undefined;
    if (this._state === 'complete') {
      this.restart();
      if (this._state === 'complete') return undefined;
    }
    // The ceiling first (most paths carry it, and it ends the search at once), then bisect.
    return this.low === this._size && this.high === this.ceiling && this.failures < MAX_PROBES
      ? this.high
      : Math.ceil((this.low + this.high) / 2);
  }

  onProbeSent(size: number): void {
    this.probeOutstanding = size;
  }

  onProbeAcked(size: number): void {
    if (this.probeOutstanding === size) this.probeOutstanding = undefined;
    if (this.confirming !== undefined && size >= this.confirming) this.confirming = undefined;
    if (size <= this.low) return;
    this.low = size;
    this._size = Math.max(this._size, size);
    this.failures = 0;
    this.largeLosses = 0;
    this.checkDone();
  }

  onProbeLost(size: number): void {
    if (this.probeOutstanding === size) this.probeOutstanding = undefined;
    if (this.confirming !== undefined) {
      if (size !== this.confirming || ++this.failures < MAX_PROBES) return;
      this._blackHoles++;
      this.failures = 0;
      this.high = this.confirming - 1;
      this.confirming = undefined;
      this.retryPending = true;
      this.checkDone();
      return;
    }
    if (size <= this.low || size > this.high) return;
    this.failures++;
    if (this.failures < MAX_PROBES) return;
    this.failures = 0;
    this.high = size - 1;
    this.checkDone();
  }

  /**
   * Sizes of the ordinary (in-flight) packets an ACK newly acknowledged: the black-hole check.
   * True if this suspected a black hole (the size fell back to the base, the old one is probed).
   */
  onPacketsAcked(sizes: Iterable<number>, now: number): boolean {
    let small = false;
    for (const size of sizes) {
      if (size > BASE_UDP_PAYLOAD) {
        this.largeLosses = 0;
        return false;
      }
      small = true;
    }
    if (!small || this.largeLosses < BLACK_HOLE_LOSSES || this._size <= BASE_UDP_PAYLOAD) return false;
    this.confirming = this._size;
    this._size = BASE_UDP_PAYLOAD;
    this.low = BASE_UDP_PAYLOAD;
    this.failures = 0;
    this.largeLosses = 0;
    this._state = 'searching';
    this.nextProbeAt = now;
    return true;
  }

  onPacketLost(size: number): void {
    if (size > BASE_UDP_PAYLOAD) this.largeLosses++;
  }

  /** Packets above the base size were lost and none acknowledged since: PTO probes go at the base size. */
  get suspicious(): boolean {
    return this.largeLosses > 0 && this._size > BASE_UDP_PAYLOAD;
  }

  private checkDone(): void {
    if (this.high - this.low >= SEARCH_PRECISION) return;
    this._state = 'complete';
    this.nextProbeAt = undefined;
  }

  /** The raise timer fired: search again above the current size (the path may have grown). */
  private restart(): void {
    this.low = this._size;
    this.high = this.ceiling;
    this.failures = 0;
    this._state = 'searching';
    this.checkDone();
  }
}
