/**
 * The session's deadlines, by name; the next deadline is one minimum over the timers that run
 * in the session's state, and onTimeout fires what is due by name.
 *
 * Set where the state they watch changes: handshake, handshakeRetransmit (handshake-flight),
 * idle (liveness), close, keyDiscard, lazyPaths. Computed: loss, ack, pacing, paths, keepalive
 * and stall are minimums over per-path state that changes with every packet (or follow the
 * PTO); Connection.armComputedTimers reads them from their owners before the next deadline is
 * read and before they are fired.
 */
import type { ConnectionState } from '../types.js';

export type TimerName =
  /** The handshake must complete by then. */
  | 'handshake'
  /** Our latest handshake message is sent again (doubling interval). */
  | 'handshakeRetransmit'
  /** No packet for the negotiated idle timeout: the session ends, or is suspended. */
  | 'idle'
  /** Closing or draining is over. */
  | 'close'
  /** The keys of the previous key phase are dropped. */
  | 'keyDiscard'
  /** Loss detection or a PTO on some path. */
  | 'loss'
  /** An ACK is owed in some number space. */
  | 'ack'
  /** The pacer releases the next packet. */
  | 'pacing'
  /** The path lifecycle (validation, standby checks, failover, exploration). */
  | 'paths'
  /** A client PING to check the active path. */
  | 'keepalive'
  /** Stream data made no progress for an idle timeout although the peer answers. */
  | 'stall'
  /** Lazy paths: the time threshold for opening backup paths. */
  | 'lazyPaths';

const HANDSHAKING: readonly TimerName[] = ['idle', 'close', 'handshake', 'handshakeRetransmit'];
const ESTABLISHED: readonly TimerName[] = [
  'idle',
  'close',
  'handshakeRetransmit',
  'keyDiscard',
  'loss',
  'ack',
  'pacing',
  'paths',
  'keepalive',
  'stall',
  'lazyPaths',
];
const CLOSING: readonly TimerName[] = ['idle', 'close'];

/** Which timers run in which state of the session. */
const RUNNING: Record<ConnectionState, readonly TimerName[]> = {
  handshaking: HANDSHAKING,
  established: ESTABLISHED,
  closing: CLOSING,
  draining: CLOSING,
  closed: [],
};

export class Timers {
  private readonly deadlines = new Map<TimerName, number>();

  /** Sets (or with undefined / Infinity, stops) a timer. */
  set(name: TimerName, at: number | undefined): void {
    if (at === undefined || at === Number.POSITIVE_INFINITY) this.deadlines.delete(name);
    else this.deadlines.set(name, at);
  }

  get(name: TimerName): number | undefined {
    return this.deadlines.get(name);
  }

  isSet(name: TimerName): boolean {
    return this.deadlines.has(name);
  }

  /** The timer is set and its deadline has come. */
  expired(name: TimerName, now: number): boolean {
    const at = this.deadlines.get(name);
    return at !== undefined && now >= at;
  }

  /** The earliest deadline among the timers that run in `state`. */
  next(state: ConnectionState): number | undefined {
    let earliest = Number.POSITIVE_INFINITY;
    for (const name of RUNNING[state]) {
      const at = this.deadlines.get(name);
      if (at !== undefined && at < earliest) earliest = at;
    }
    return earliest === Number.POSITIVE_INFINITY ? undefined : earliest;
  }
}
