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

/** Each timer's slot in the table. */
const SLOT: Readonly<Record<TimerName, number>> = {
  handshake: 0,
  handshakeRetransmit: 1,
  idle: 2,
  close: 3,
  keyDiscard: 4,
  loss: 5,
  ack: 6,
  pacing: 7,
  paths: 8,
  keepalive: 9,
  stall: 10,
  lazyPaths: 11,
};
const TIMER_COUNT = 12;

const slots = (names: readonly TimerName[]): readonly number[] => names.map((name) => SLOT[name]);
const HANDSHAKING = slots(['idle', 'close', 'handshake', 'handshakeRetransmit']);
const ESTABLISHED = slots([
  'idle',
  'close',
  // A server's session is established before it is confirmed; until then the handshake deadline holds.
  'handshake',
  'handshakeRetransmit',
  'keyDiscard',
  'loss',
  'ack',
  'pacing',
  'paths',
  'keepalive',
  'stall',
  'lazyPaths',
]);
const CLOSING = slots(['idle', 'close']);

/** Which timers run in which state of the session. */
const RUNNING: Record<ConnectionState, readonly number[]> = {
  handshaking: HANDSHAKING,
  established: ESTABLISHED,
  closing: CLOSING,
  draining: CLOSING,
  closed: [],
};

/**
 * A fixed table of deadlines (Infinity: not set). Not a Map: the computed timers are set and
 * the minimum taken every time the endpoint asks for the next deadline, which is on the path
 * of every received batch.
 */
export class Timers {
  private readonly deadlines = new Float64Array(TIMER_COUNT).fill(Number.POSITIVE_INFINITY);

  /** Sets (or with undefined / Infinity, stops) a timer. */
  set(name: TimerName, at: number | undefined): void {
    this.deadlines[SLOT[name]] = at ?? Number.POSITIVE_INFINITY;
  }

  get(name: TimerName): number | undefined {
    const at = this.deadlines[SLOT[name]]!;
    return at === Number.POSITIVE_INFINITY ? undefined : at;
  }

  isSet(name: TimerName): boolean {
    return this.deadlines[SLOT[name]] !== Number.POSITIVE_INFINITY;
  }

  /** The timer is set and its deadline has come. */
  expired(name: TimerName, now: number): boolean {
    return now >= this.deadlines[SLOT[name]]!;
  }

  /** The earliest deadline among the timers that run in `state`. */
  next(state: ConnectionState): number | undefined {
    let earliest = Number.POSITIVE_INFINITY;
    for (const slot of RUNNING[state]) {
      const at = this.deadlines[slot]!;
      if (at < earliest) earliest = at;
    }
    return earliest === Number.POSITIVE_INFINITY ? undefined : earliest;
  }
}
