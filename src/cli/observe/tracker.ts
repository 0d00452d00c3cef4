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

export interface PathStatus {
  id: number;
  local: string;
  remote: string;
  state: PathState;
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
  state: string;
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
  readonly #failovers: Record<string, number> = Object.fromEntries(FAILOVER_REASONS.map((r) => [r, 0]));
  readonly #congestionEvents: Record<string, number> = { loss: 0, 'persistent-congestion': 0 };
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
    for (const [channel, name] of [
      ['braid:session:suspended', EventName.sessionSuspended],
      ['braid:session:resumed', EventName.sessionResumed],
    ] as const) {
      this.#subscribe(channel, (m) => {
        const tracked = this.#sessions.get((m as { session: Session }).session);
        if (tracked) this.#emit(name, tracked, {});
      });
    }
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
    this.#emit(EventName.sessionClosed, tracked, {
      error: error ? { name: error.name, message: error.message } : null,
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

  sessions(): SessionStatus[] {
    const now = Date.now();
    return [...this.#sessions.values()].map((tracked) => {
      const { session } = tracked;
      const stats = session.stats;
      const key = session.remoteKey;
      return {
        id: tracked.id,
        role: session.role,
        state: session.state,
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
            state: path.state,
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

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [reason, count] of Object.entries(from)) into[reason] = (into[reason] ?? 0) + count;
}
