/**
 * `multipath.policy: 'redundant'`: small, latency-critical messages go on two paths, so a loss
 * or stall on one does not delay them. Clock-free.
 *
 * - RedundantCopies holds the encoded frames (STREAM frames and sequenced datagrams of at most
 *   `redundantMaxBytes` of data) of a packet just sent on one path, until a packet on another
 *   path carries them. A copy that waits longer than its deadline (about one RTT of the first
 *   path: by then the original has arrived or been declared lost) is dropped, never sent late.
 * - DatagramDeduplicator drops the second copy of a sequenced datagram at the receiver; streams
 *   need nothing (the receive buffer already ignores bytes at offsets it has).
 */
import { ReplayWindow } from '../crypto/replay-window.js';

export interface FrameCopy<R> {
  /** The frame exactly as encoded in the original packet. */
  bytes: Uint8Array;
  /** What the copy carries, for ACK / loss bookkeeping of the packet it goes in. */
  record: R;
  /** Path id the original went on: the copy goes anywhere else. */
  origin: number;
  /** Dropped unsent after this time (ms). */
  expires: number;
}

/** Copies waiting, at most this many (a slow second path must not grow memory). */
const MAX_COPIES = 256;

export class RedundantCopies<R> {
  private queue: FrameCopy<R>[] = [];
  /** Copies dropped because they waited too long or the queue was full. */
  dropped = 0;

  get size(): number {
    return this.queue.length;
  }

  add(copy: FrameCopy<R>): void {
    if (this.queue.length >= MAX_COPIES) {
      this.dropped++;
      return;
    }
    this.queue.push(copy);
  }

  /** The path ids (other than its origin) some copy is waiting for, after dropping expired ones. */
  origins(now: number): Set<number> {
    this.expire(now);
    return new Set(this.queue.map((c) => c.origin));
  }

  /** Earliest expiry (ms), so the caller can wake up to drop stale copies; undefined when empty. */
  get nextExpiry(): number | undefined {
    let at: number | undefined;
    for (const c of this.queue) if (at === undefined || c.expires < at) at = c.expires;
    return at;
  }

  /**
   * Takes, in order, the copies not originating from `pathId` that fit in `room` bytes;
   * copies that do not fit stay for the next packet.
   */
  take(pathId: number, room: number, now: number): FrameCopy<R>[] {
    this.expire(now);
    const out: FrameCopy<R>[] = [];
    const keep: FrameCopy<R>[] = [];
    for (const c of this.queue) {
      if (c.origin !== pathId && c.bytes.length <= room) {
        out.push(c);
        room -= c.bytes.length;
      } else {
        keep.push(c);
      }
    }
    this.queue = keep;
    return out;
  }

  /** Forgets copies from a path (e.g. there is no other path left to carry them). */
  clear(): void {
    this.dropped += this.queue.length;
    this.queue = [];
  }

  private expire(now: number): void {
    if (this.queue.length === 0 || this.queue.every((c) => c.expires >= now)) return;
    const before = this.queue.length;
    this.queue = this.queue.filter((c) => c.expires >= now);
    this.dropped += before - this.queue.length;
  }
}

/** Sequenced datagrams remembered per session: a copy older than this window is dropped too. */
export const DATAGRAM_DEDUP_WINDOW = 4096;

/**
 * Receiver side of sequenced datagrams (SEQUENCED_DATAGRAM, 0x48/0x49): each sequence number is
 * delivered once. A sequence number more than the window below the largest seen cannot be told
 * from a duplicate and is dropped as well (datagrams are unreliable; it was late anyway).
 */
export class DatagramDeduplicator {
  private readonly window = new ReplayWindow(DATAGRAM_DEDUP_WINDOW);
  duplicates = 0;
  tooOld = 0;

  /** True the first time `sequence` is seen (deliver it), false for a copy or a very late one. */
  accept(sequence: number): boolean {
    if (!this.window.check(sequence)) {
      if (sequence > this.window.largestSeen - DATAGRAM_DEDUP_WINDOW) this.duplicates++;
      else this.tooOld++;
      return false;
    }
    this.window.mark(sequence);
    return true;
  }
}
