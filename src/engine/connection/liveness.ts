/**
 * Whether the session is alive and making progress: the idle timer (RFC 9000 §10.1), the
 * stall watchdog for stream data, and the evidence keepalives are timed from. `pto` is the
 * active path's PTO at the time of the call.
 */
import type { Timers } from './timers.js';

export class Liveness {
  /** Last ack-eliciting packet sent (keepalive timing). */
  lastAckElicitingSentAt = 0;
  /** Last STREAM frame received: while data flows in, an ACK-only sender adds a PING now and then. */
  lastStreamDataAt = -Infinity;
  /** Start of the current stretch in which stream data is owed to the peer and none was acknowledged. */
  private stalledSince: number | undefined;
  /** Last ACK that acknowledged a packet of ours (any kind: keepalives too). */
  private lastAckedAt = -Infinity;
  /** An ack-eliciting packet went out since the last receive (it restarted the idle timer). */
  private sentSinceReceive = false;
  /** The peer's idle timeout (ms) from its transport parameters; 0 for none. */
  peerIdleTimeout = 0;

  constructor(
    private readonly timers: Timers,
    private readonly localIdleTimeout: number,
  ) {}

  /** The negotiated idle timeout (ms), 0 when neither side sets one (RFC 9000 §10.1). */
  idleTimeout(): number {
    const peer = this.peerIdleTimeout;
    const local = this.localIdleTimeout;
    return peer > 0 && local > 0 ? Math.min(peer, local) : Math.max(peer, local);
  }

  /** Restarts the idle timer (a packet arrived, the session started or moved). */
  touchIdle(now: number, pto: number): void {
    const timeout = this.idleTimeout();
    this.timers.set('idle', timeout === 0 ? undefined : now + Math.max(timeout, 3 * pto));
  }

  /** An authenticated packet arrived and was processed. */
  onReceived(now: number, pto: number): void {
    this.touchIdle(now, pto);
    this.sentSinceReceive = false;
  }

  /** An ack-eliciting packet went out. */
  onAckElicitingSent(now: number, pto: number): void {
    this.lastAckElicitingSentAt = now;
    // RFC 9000 §10.1: only the first ack-eliciting packet after a receive restarts the timer,
    // so our own retransmissions cannot keep a silent peer's session alive forever.
    if (!this.sentSinceReceive) {
      this.sentSinceReceive = true;
      if (this.timers.isSet('idle')) this.touchIdle(now, pto);
    }
  }

  /**
   * An ACK acknowledged packets of ours. The watchdog judges only stretches in which the peer
   * acknowledges something: after a silence long enough that the path was down (an outage the
   * failure timeout and persistence handle), its clock starts again now.
   */
  onAcked(now: number, pto: number): void {
    const timeout = Math.max(this.idleTimeout(), 3 * pto);
    if (this.stalledSince !== undefined && now - this.lastAckedAt >= timeout / 2) this.stalledSince = now;
    this.lastAckedAt = now;
  }

  /** Stream data was acknowledged: progress (updateStall restarts the clock if more is owed). */
  onStreamProgress(): void {
    this.stalledSince = undefined;
  }

  /**
   * `owed`: stream data is owed to the peer (in flight, lost and awaiting retransmission, or
   * sendable within flow control) and the session is established. Keepalives and path probes
   * do not count: they can flow while data cannot (a path that drops large packets only, or
   * a scheduling bug), which the idle timer never sees.
   */
  updateStall(owed: boolean, now: number): void {
    if (!owed) this.stalledSince = undefined;
    else this.stalledSince ??= now;
  }

  /** How long stream data has been owed without progress (for the close reason). */
  stalledFor(now: number): number {
    return now - this.stalledSince!;
  }

  /** The stall deadline has come: the session ends for want of progress. */
  stallExpired(now: number, pto: number): boolean {
    const at = this.stallDeadline(pto);
    return at !== undefined && now >= at;
  }

  /**
   * A session that owes stream data and makes no progress for an idle timeout although the
   * peer still acknowledges other packets of ours (keepalives, probes) within the last half
   * timeout. A peer that does not hear us, or that we do not hear, is the idle timer's case:
   * it closes as an idle timeout, not as this.
   */
  stallDeadline(pto: number): number | undefined {
    const timeout = Math.max(this.idleTimeout(), 3 * pto);
    if (this.stalledSince === undefined || this.idleTimeout() === 0) return undefined;
    const at = this.stalledSince + timeout;
    if (at - this.lastAckedAt >= timeout / 2) return undefined; // a later ACK re-arms it
    return at;
  }

  /** Suspended: no failure timeout and no stall while no path works. */
  suspend(): void {
    this.timers.set('idle', undefined);
    this.stalledSince = undefined;
  }

  /** Resumption: everything is counted from now on the new path. */
  resetForResumption(now: number, pto: number): void {
    this.lastAckElicitingSentAt = now;
    this.lastAckedAt = now;
    this.stalledSince = undefined;
    this.sentSinceReceive = false;
    this.touchIdle(now, pto);
  }
}
