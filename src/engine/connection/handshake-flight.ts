/**
 * Our latest handshake message (or a resumption's reply), kept whole and sent again on a
 * timer or when the peer repeats its own message (it lost ours), until the peer answers.
 */
import type { Timers } from './timers.js';

/** Handshake messages are retransmitted whole, starting at this interval (ms), doubling. */
const RETRANSMIT_INITIAL = 400;
/**
 * Ceiling of the doubling: under long loss bursts an unbounded backoff leaves only a
 * handful of attempts before the handshake timeout (as the PTO cap does for data).
 */
const RETRANSMIT_MAX = 2000;

export class HandshakeFlight {
  private datagram: Uint8Array | undefined;
  private pending = false;
  private interval = RETRANSMIT_INITIAL;

  constructor(private readonly timers: Timers) {}

  /** A new message: sent now, then again on the (doubling) retransmission timer. */
  start(datagram: Uint8Array, now: number): void {
    this.datagram = datagram;
    this.pending = true;
    this.interval = RETRANSMIT_INITIAL;
    this.timers.set('handshakeRetransmit', now + this.interval);
  }

  /** The peer repeated itself (it lost our message): send ours again now. False when none is held. */
  resendNow(): boolean {
    if (!this.datagram) return false;
    this.pending = true;
    return true;
  }

  onTimeout(now: number): void {
    if (!this.timers.expired('handshakeRetransmit', now) || !this.datagram) return;
    this.pending = true;
    this.interval = Math.min(this.interval * 2, RETRANSMIT_MAX);
    this.timers.set('handshakeRetransmit', now + this.interval);
  }

  /** The datagram to send now, if one is due (markSent once it goes). */
  get due(): Uint8Array | undefined {
    return this.pending ? this.datagram : undefined;
  }

  markSent(): void {
    this.pending = false;
  }

  /** The peer answered: nothing left to resend. */
  clear(): void {
    this.datagram = undefined;
    this.pending = false;
    this.timers.set('handshakeRetransmit', undefined);
  }

  /** Resumption: the server's reply (none for a client) goes out once; duplicates of the RESUME resend it. */
  resume(reply: Uint8Array | undefined): void {
    this.datagram = reply;
    this.pending = reply !== undefined;
    this.timers.set('handshakeRetransmit', undefined);
  }
}
