/**
 * Every session of this process, as the operator tools see it: `braid status` (over
 * the control socket), `--metrics` and `--events` all read from one tracker. It
 * follows sessions through the library's diagnostics channels, so it needs no hook
 * in the code that opens or accepts them.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { encodeKey, fingerprint } from '../../crypto/identity.js';
import { formatBackend, type PathInfo, type PathState, type Session } from '../../index.js';
import { newUdpForwardStats, type UdpForwardStats } from '../shared/udp-forward.js';

/** One record of the event log: the qlog shape, `time` in ms since the Unix epoch. */
export interface BraidEvent {
  time: number;
  name: string;
  data: Record<string, unknown>;
}

/**
 * Event names. Failover and congestion come from the engine's own events; suspend/resume from
 * the braid:session:suspended|resumed channels (docs/persistence.md).
 */
export const EventName = {
  sessionStarted: 'braid:session:started',
  sessionHandshake: 'braid:session:handshake',
  sessionKeyUpdate: 'braid:session:key_update',
  sessionClosed: 'braid:session:closed',
  sessionSuspended: 'braid:session:suspended',
  sessionResumed: 'braid:session:resumed',
  pathAdded: 'braid:path:added',
  pathValidated: 'braid:path:validated',
  pathActive: 'braid:path:active',
  pathStandby: 'braid:path:standby',
  pathFailed: 'braid:path:failed',
  pathRemoved: 'braid:path:removed',
  pathMetrics: 'braid:path:metrics',
  pathCongestion: 'braid:path:congestion',
  failover: 'braid:path:failover',
  /** A pause in delivery measured by an application after a fault (braid demo), `{gapMs}`. */
  deliveryGap: 'braid:demo:delivery_gap',
} as const;

/** Failover reasons the engine reports (src/engine/types.ts); metrics show each, 0 until it happens. */
export const FAILOVER_REASONS = [
  'unresponsive',
  'address-removed',
  'peer-address-removed',
  'peer-moved',
  'preferred',
];

/**
 * A path's state as the operator sees it: the engine's, except that every path of a suspended
 * session is 'suspended' (the engine keeps them untouched and unused until the resumption).
 */
export type PathStatusState = PathState | 'suspended';

/** Why a session was suspended, in words (the engine's SuspendReason). */
export const SUSPEND_REASONS: Record<string, string> = {
  'failure-timeout': 'no packet from the peer for the failure timeout',
  'peer-suspended': 'the peer stopped hearing us and suspended',
};

export interface PathStatus {
  id: number;
  local: string;
  remote: string;
  state: PathStatusState;
  srttMs: number | undefined;
  rttvarMs: number | undefined;
  minRttMs: number | undefined;
  congestionWindow: number;
  bytesInFlight: number;
  bytesSent: number;
  bytesReceived: number;
  packetsSent: number;
  packetsLost: number;
  /** packetsLost / packetsSent, 0–1. */
  loss: number;
  /** Bytes per second over the last sampling interval. */
  sendRate: number;
  receiveRate: number;
}

export interface SessionStatus {
  id: number;
  role: string;
  /** The engine's state, or 'suspended' while no path works (docs/persistence.md). */
  state: string;
  /** While suspended: since when (ms since the Unix epoch), for how long, and why. */
  suspendedSince?: number;
  suspendedMs?: number;
  lastError?: string;
  /** How long since a packet last came from the peer (sampled once a second). */
  silentMs?: number;
  peerKey: string | undefined;
  peerFingerprint: string | undefined;
  startedAt: number;
  ageMs: number;
  bytesSent: number;
  bytesReceived: number;
  packetsLost: number;
  keyUpdates: number;
  /** What the session's packets go through: "native (batched UDP, OpenSSL AEAD)" or the portable one and why. */
  backend?: string;
  paths: PathStatus[];
}

interface Tracked {
  id: number;
  session: Session;
  startedAt: number;
  suspendedSince: number | undefined;
  /** Why the session was last suspended, kept after the resumption as its last error. */
  lastError: string | undefined;
  heardAt: number;
  packetsReceived: number;
  states: Map<number, PathState>;
  rates: Map<number, { at: number; sent: number; received: number; sendRate: number; receiveRate: number }>;
}

export interface Totals {
  sessionsStarted: number;
  bytesSent: number;
  bytesReceived: number;
  packetsLost: number;
  /** Failovers over the life of the process, by the engine's reason. */
  failovers: Record<string, number>;
  /** Congestion events (window cuts), by reason: loss, persistent-congestion. */
  congestionEvents: Record<string, number>;
  /** Datagrams dropped: sessions' own drops plus the endpoint's, by reason. */
  drops: Record<string, number>;
  /** Sessions suspended, and resumed, over the life of the process. */
  suspensions: number;
  resumptions: number;
  /** Sessions closed, by cause (closeCause). */
  sessionsClosed: Record<string, number>;
}

export function formatAddress(address: { address: string; port: number }): string {
  return address.address.includes(':')
    ? `[${address.address}]:${address.port}`
    : `${address.address}:${address.port}`;
}

const SAMPLE_INTERVAL_MS = 1000;

export interface TrackerEvents {
  event: [event: BraidEvent];
  /** Every sampling tick, with each live path's latest RTT (ms). */
  sample: [rtts: number[]];
}

export class SessionTracker extends EventEmitter<TrackerEvents> {
  readonly command: string;
  readonly startedAt = Date.now();
  readonly #sessions = new Map<Session, Tracked>();
  #nextId = 1;
  readonly #closedTotals = {
    bytesSent: 0,
    bytesReceived: 0,
    packetsLost: 0,
    drops: {} as Record<string, number>,
  };
  readonly #endpointDrops: Record<string, number> = {};
  /** The engine endpoints' own drop counters (junk, bad macs, replays, rate limits), read when asked. */
  readonly #engineDrops: Array<() => Record<string, number>> = [];
  /** The process's UDP forward counters, shared with its relays; zeros where none forwards UDP. */
  #udpForwards: UdpForwardStats = newUdpForwardStats();
  readonly #failovers: Record<string, number> = Object.fromEntries(FAILOVER_REASONS.map((r) => [r, 0]));
  readonly #congestionEvents: Record<string, number> = { loss: 0, 'persistent-congestion': 0 };
  readonly #suspensions = { suspended: 0, resumed: 0 };
  /** Sessions closed, by cause: 'clean' or the error's code without BRAID_ERR_, e.g. session_expired. */
  readonly #closedByCause: Record<string, number> = { clean: 0, session_expired: 0 };
  #sessionsStarted = 0;
  readonly #timer: NodeJS.Timeout;
  readonly #subscriptions: Array<[string, (message: unknown) => void]> = [];

  /** `firstSessionId` keeps ids apart when several processes write one event log (braid demo). */
  constructor(command: string, options: { firstSessionId?: number } = {}) {
    super();
    this.command = command;
    this.#nextId = options.firstSessionId ?? 1;
    // A server session counts from its confirmed handshake: before that it may be a replayed or
    // spoofed first flight, which must not show in status, metrics or the log.
    this.#subscribe('braid:session:created', (m) => {
      const { session } = m as { session: Session };
      if (session.role !== 'server') this.#onCreated(session);
    });
    this.#subscribe('braid:session:handshake', (m) => {
      const { session, remoteKey } = m as { session: Session; remoteKey: Uint8Array };
      if (session.role === 'server') this.#onCreated(session);
      const tracked = this.#sessions.get(session);
      if (!tracked) return;
      this.#emit(EventName.sessionHandshake, tracked, { peer: fingerprint(remoteKey) });
      // The handshake gives the first RTT sample: log it rather than wait for the next tick.
      this.#emitMetrics(tracked);
    });
    this.#subscribe('braid:path:updated', (m) => {
      const { session, path } = m as { session: Session; path: PathInfo };
      const tracked = this.#sessions.get(session);
      if (tracked) this.#onPath(tracked, path);
    });
    // Suspension and resumption (docs/persistence.md): no path for the failure timeout, and back.
    this.#subscribe('braid:session:suspended', (m) => {
      const { session, reason } = m as { session: Session; reason?: string };
      const tracked = this.#sessions.get(session);
      if (!tracked || tracked.suspendedSince !== undefined) return;
      tracked.suspendedSince = Date.now();
      tracked.lastError = SUSPEND_REASONS[reason ?? ''] ?? reason ?? 'suspended';
      this.#suspensions.suspended++;
      this.#emit(EventName.sessionSuspended, tracked, { reason: reason ?? null, error: tracked.lastError });
    });
    this.#subscribe('braid:session:resumed', (m) => {
      const tracked = this.#sessions.get((m as { session: Session }).session);
      if (!tracked) return;
      const suspendedMs = tracked.suspendedSince === undefined ? null : Date.now() - tracked.suspendedSince;
      tracked.suspendedSince = undefined;
      tracked.heardAt = Date.now();
      this.#suspensions.resumed++;
      this.#emit(EventName.sessionResumed, tracked, { suspendedMs });
    });
    this.#subscribe('braid:path:failover', (m) => {
      const { session, from, to, reason } = m as {
        session: Session;
        from: PathInfo;
        to: PathInfo;
        reason: string;
      };
      const tracked = this.#sessions.get(session);
      if (!tracked) return;
      this.#failovers[reason] = (this.#failovers[reason] ?? 0) + 1;
      this.#emit(EventName.failover, tracked, {
        from: from.id,
        to: to.id,
        reason,
        fromLocal: formatAddress(from.local),
        fromRemote: formatAddress(from.remote),
        toLocal: formatAddress(to.local),
        toRemote: formatAddress(to.remote),
        srtt: to.srtt ?? null,
      });
    });
    this.#subscribe('braid:path:congestion', (m) => {
      const { session, path, reason } = m as { session: Session; path: PathInfo; reason: string };
      const tracked = this.#sessions.get(session);
      if (!tracked) return;
      this.#congestionEvents[reason] = (this.#congestionEvents[reason] ?? 0) + 1;
      this.#emit(EventName.pathCongestion, tracked, { path: path.id, reason, ...pathFields(path) });
    });
    this.#subscribe('braid:session:closed', (m) => {
      const { session, error } = m as { session: Session; error: Error | undefined };
      this.#onClosed(session, error);
    });
    this.#subscribe('braid:endpoint:drop', (m) => {
      const reason = String((m as { reason: unknown }).reason ?? 'unknown');
      this.#endpointDrops[reason] = (this.#endpointDrops[reason] ?? 0) + 1;
    });
    this.#timer = setInterval(() => this.#sample(), SAMPLE_INTERVAL_MS);
    this.#timer.unref();
  }

  #subscribe(name: string, handler: (message: unknown) => void): void {
    diagnosticsChannel.subscribe(name, handler);
    this.#subscriptions.push([name, handler]);
  }

  #emit(name: string, tracked: Tracked, data: Record<string, unknown>): void {
    this.emit('event', { time: Date.now(), name, data: { session: tracked.id, ...data } });
  }

  #onCreated(session: Session): void {
    if (this.#sessions.has(session)) return;
    const tracked: Tracked = {
      id: this.#nextId++,
      session,
      startedAt: Date.now(),
      suspendedSince: undefined,
      lastError: undefined,
      heardAt: Date.now(),
      packetsReceived: session.stats.packetsReceived ?? 0,
      states: new Map(),
      rates: new Map(),
    };
    this.#sessions.set(session, tracked);
    this.#sessionsStarted++;
    this.#emit(EventName.sessionStarted, tracked, { role: session.role });
    session.on('keyupdate', (phase) => this.#emit(EventName.sessionKeyUpdate, tracked, { phase }));
    for (const path of session.paths) this.#onPath(tracked, path);
  }

  #onPath(tracked: Tracked, path: PathInfo): void {
    const previous = tracked.states.get(path.id);
    if (previous === path.state) return;
    tracked.states.set(path.id, path.state);
    const data = { path: path.id, ...pathFields(path), from: previous ?? null };
    if (previous === undefined) this.#emit(EventName.pathAdded, tracked, data);
    if (previous === 'validating' || (previous === undefined && path.state !== 'validating')) {
      if (path.state === 'active' || path.state === 'standby') {
        this.#emit(EventName.pathValidated, tracked, data);
      }
    }
    const name = {
      active: EventName.pathActive,
      standby: EventName.pathStandby,
      failed: EventName.pathFailed,
      removed: EventName.pathRemoved,
      validating: undefined,
    }[path.state];
    if (name) this.#emit(name, tracked, data);
    if (path.state === 'removed') {
      tracked.states.delete(path.id);
      tracked.rates.delete(path.id);
    }
  }

  #onClosed(session: Session, error: Error | undefined): void {
    const tracked = this.#sessions.get(session);
    if (!tracked) return;
    this.#sessions.delete(session);
    this.#emitMetrics(tracked);
    const stats = session.stats;
    this.#closedTotals.bytesSent += stats.bytesSent;
    this.#closedTotals.bytesReceived += stats.bytesReceived;
    this.#closedTotals.packetsLost += stats.packetsLost;
    addCounts(this.#closedTotals.drops, stats.drops);
    const cause = closeCause(error);
    this.#closedByCause[cause] = (this.#closedByCause[cause] ?? 0) + 1;
    this.#emit(EventName.sessionClosed, tracked, {
      error: error ? { name: error.name, message: error.message } : null,
      cause,
      suspendedMs: tracked.suspendedSince === undefined ? null : Date.now() - tracked.suspendedSince,
      bytesSent: stats.bytesSent,
      bytesReceived: stats.bytesReceived,
      durationMs: Date.now() - tracked.startedAt,
    });
  }

  #emitMetrics(tracked: Tracked): void {
    for (const path of tracked.session.paths) {
      if (path.state !== 'removed')
        this.#emit(EventName.pathMetrics, tracked, { path: path.id, ...pathFields(path) });
    }
  }

  #sample(): void {
    const now = Date.now();
    const rtts: number[] = [];
    for (const tracked of this.#sessions.values()) {
      this.#noteHeard(tracked, now);
      for (const path of tracked.session.paths) {
        const last = tracked.rates.get(path.id);
        const seconds = last ? (now - last.at) / 1000 : 0;
        tracked.rates.set(path.id, {
          at: now,
          sent: path.bytesSent,
          received: path.bytesReceived,
          sendRate: last && seconds > 0 ? (path.bytesSent - last.sent) / seconds : 0,
          receiveRate: last && seconds > 0 ? (path.bytesReceived - last.received) / seconds : 0,
        });
        if (path.state === 'removed') continue;
        if (path.srtt !== undefined) rtts.push(path.srtt);
        this.#emit(EventName.pathMetrics, tracked, { path: path.id, ...pathFields(path) });
      }
    }
    this.emit('sample', rtts);
  }

  /** A packet from the peer since the last look restarts the silence. */
  #noteHeard(tracked: Tracked, now: number): void {
    const received = tracked.session.stats.packetsReceived ?? 0;
    if (received !== tracked.packetsReceived) {
      tracked.packetsReceived = received;
      tracked.heardAt = now;
    }
  }

  sessions(): SessionStatus[] {
    const now = Date.now();
    return [...this.#sessions.values()].map((tracked) => {
      const { session } = tracked;
      const stats = session.stats;
      const key = session.remoteKey;
      this.#noteHeard(tracked, now);
      const suspendedSince = session.suspended ? (tracked.suspendedSince ?? now) : undefined;
      return {
        id: tracked.id,
        role: session.role,
        state: suspendedSince !== undefined ? 'suspended' : session.state,
        ...(suspendedSince !== undefined ? { suspendedSince, suspendedMs: now - suspendedSince } : {}),
        ...(tracked.lastError !== undefined ? { lastError: tracked.lastError } : {}),
        silentMs: now - tracked.heardAt,
        peerKey: key ? encodeKey(key) : undefined,
        peerFingerprint: key ? fingerprint(key) : undefined,
        startedAt: tracked.startedAt,
        ageMs: now - tracked.startedAt,
        bytesSent: stats.bytesSent,
        bytesReceived: stats.bytesReceived,
        packetsLost: stats.packetsLost,
        keyUpdates: stats.keyUpdates,
        backend: formatBackend(stats.backend),
        paths: session.paths.map((path) => {
          const rate = tracked.rates.get(path.id);
          return {
            id: path.id,
            local: formatAddress(path.local),
            remote: formatAddress(path.remote),
            state: suspendedSince !== undefined ? 'suspended' : path.state,
            srttMs: path.srtt,
            rttvarMs: path.rttvar,
            minRttMs: path.minRtt,
            congestionWindow: path.congestionWindow,
            bytesInFlight: path.bytesInFlight,
            bytesSent: path.bytesSent,
            bytesReceived: path.bytesReceived,
            packetsSent: path.packetsSent,
            packetsLost: path.packetsLost,
            loss: path.packetsSent > 0 ? path.packetsLost / path.packetsSent : 0,
            sendRate: rate?.sendRate ?? 0,
            receiveRate: rate?.receiveRate ?? 0,
          };
        }),
      };
    });
  }

  /** Counters over the life of the process: closed sessions plus the live ones. */
  totals(): Totals {
    const totals: Totals = {
      sessionsStarted: this.#sessionsStarted,
      bytesSent: this.#closedTotals.bytesSent,
      bytesReceived: this.#closedTotals.bytesReceived,
      packetsLost: this.#closedTotals.packetsLost,
      failovers: { ...this.#failovers },
      congestionEvents: { ...this.#congestionEvents },
      drops: { ...this.#closedTotals.drops },
      suspensions: this.#suspensions.suspended,
      resumptions: this.#suspensions.resumed,
      sessionsClosed: { ...this.#closedByCause },
    };
    for (const { session } of this.#sessions.values()) {
      const stats = session.stats;
      totals.bytesSent += stats.bytesSent;
      totals.bytesReceived += stats.bytesReceived;
      totals.packetsLost += stats.packetsLost;
      addCounts(totals.drops, stats.drops);
    }
    addCounts(totals.drops, this.#endpointDrops);
    for (const read of this.#engineDrops) addCounts(totals.drops, read());
    return totals;
  }

  /** Adds an endpoint's drop counters (e.g. `() => server.stats.drops`) to the totals. */
  watchEndpointDrops(read: () => Record<string, number>): void {
    this.#engineDrops.push(read);
  }

  /** Exports the counters every UDP relay of this process updates (--metrics reads them live). */
  watchUdpForwards(stats: UdpForwardStats): void {
    this.#udpForwards = stats;
  }

  udpForwards(): Readonly<UdpForwardStats> {
    return this.#udpForwards;
  }

  close(): void {
    clearInterval(this.#timer);
    for (const [name, handler] of this.#subscriptions.splice(0))
      diagnosticsChannel.unsubscribe(name, handler);
  }
}

function pathFields(path: PathInfo): Record<string, unknown> {
  return {
    local: formatAddress(path.local),
    remote: formatAddress(path.remote),
    state: path.state,
    srtt: path.srtt ?? null,
    minRtt: path.minRtt ?? null,
    cwnd: path.congestionWindow,
    bytesSent: path.bytesSent,
    bytesReceived: path.bytesReceived,
    packetsSent: path.packetsSent,
    packetsLost: path.packetsLost,
  };
}

/** 'clean', or the error's stable code in lower case without its prefix (session_expired, idle_timeout…). */
export function closeCause(error: Error | undefined): string {
  if (!error) return 'clean';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code.replace(/^BRAID_ERR_/, '').toLowerCase() : error.name;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [reason, count] of Object.entries(from)) into[reason] = (into[reason] ?? 0) + count;
}
