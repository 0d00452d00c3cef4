/**
 * Server: what is left of a session refused right after its handshake (SESSION_LIMIT or
 * UNAUTHORIZED_KEY, docs/protocol.md §7.7) for its closing period. A refused session would
 * otherwise stay a whole Connection (about 48 KiB, session-limits.ts) for 3 × PTO; a flood of
 * refused handshakes then holds as many sessions as the caps were meant to refuse. The record
 * keeps only the CIDs that route to it, the datagrams the session sent (its handshake reply and
 * its CLOSE, already encrypted) and its deadline. A packet for one of those CIDs gets the same
 * datagrams again (docs/protocol.md §9.17): at most once a millisecond, and never more than
 * 3 × the bytes received for the record, since the client's address may be unvalidated.
 */

import type { SocketAddress, Transmit } from '../net/address.js';
import { cidKey } from './connection/cid-state.js';
import { DeadlineHeap } from './deadline-heap.js';

/** A refused session's datagrams kept for repeats (the handshake reply and the CLOSE fit in 3). */
const MAX_RECORD_DATAGRAMS = 3;
/** Anti-amplification: bytes sent for a record stay within this multiple of bytes received. */
const AMPLIFICATION_FACTOR = 3;

interface ClosingRecord {
  readonly cids: string[];
  readonly datagrams: Uint8Array[];
  /** Bytes the record may still send (3 × received − sent). */
  credit: number;
  lastSentAt: number;
}

export class ClosingRecords {
  private readonly byCid = new Map<string, ClosingRecord>();
  private readonly deadlines = new DeadlineHeap<ClosingRecord>();
  /** Repeats sent and repeats withheld (rate or amplification limit), for stats and tests. */
  readonly counts = { repeated: 0, limited: 0 };

  /** Records alive now. */
  get size(): number {
    return this.deadlines.size;
  }

  /** The datagrams a refused session sent, to repeat until `deadline` (copied: they may be views). */
  add(cids: readonly Uint8Array[], datagrams: readonly Uint8Array[], deadline: number): void {
    const record: ClosingRecord = {
      cids: cids.map((cid) => cidKey(cid)),
      datagrams: datagrams.slice(0, MAX_RECORD_DATAGRAMS).map((d) => d.slice()),
      credit: 0,
      lastSentAt: -Infinity,
    };
    for (const key of record.cids) this.byCid.set(key, record);
    this.deadlines.update(record, deadline);
  }

  /**
   * A datagram of `length` bytes from `remote` to `local` for `dcid`: the record's datagrams to
   * send back (empty when rate- or amplification-limited), or undefined when no record has that CID.
   */
  answer(
    dcid: Uint8Array,
    length: number,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
  ): Transmit[] | undefined {
    const record = this.byCid.get(cidKey(dcid));
    if (!record) return undefined;
    record.credit += AMPLIFICATION_FACTOR * length;
    const bytes = record.datagrams.reduce((sum, d) => sum + d.length, 0);
    if (now - record.lastSentAt < 1 || bytes > record.credit) {
      this.counts.limited++;
      return [];
    }
    record.credit -= bytes;
    record.lastSentAt = now;
    this.counts.repeated++;
    return record.datagrams.map((data) => ({ local, remote, data }));
  }

  nextDeadline(): number | undefined {
    return this.deadlines.peek();
  }

  /** Forgets the records whose closing period is over. */
  expire(now: number): void {
    for (const record of this.deadlines.popDue(now)) {
      for (const key of record.cids) if (this.byCid.get(key) === record) this.byCid.delete(key);
    }
  }
}
