/**
 * Properties checked on every simulated run of the real engine:
 *   - stream bytes arrive exactly once and in order (SHA-256 and length at both ends);
 *   - no datagram delivered twice or corrupted;
 *   - every session ends open-and-complete or closed with an explicit CloseInfo (a run
 *     that does neither by its time limit is a hang);
 *   - memory a session holds stays within its configured bounds;
 *   - congestion windows and timers stay within sane ranges.
 * The monitor samples live state during the run; `checkRun` judges the outcome.
 */

import { sessionSendBudget } from '../../src/engine/config.js';
import type { Connection } from '../../src/engine/connection/connection.js';
import type { CloseSource, TransportConfig } from '../../src/engine/types.js';
import { BASE_UDP_PAYLOAD } from '../../src/paths/pmtu.js';
import type { EngineNode } from './engine-node.js';
import type { SessionDriver } from './workload.js';

/** Datagrams the engine may queue (MAX_DATAGRAM_QUEUE in connection.ts). */
const MAX_QUEUED_DATAGRAMS = 256;
/** A congestion window above this is not sane for any simulated link. */
const MAX_SANE_CWND = 1 << 30;
const MAX_VIOLATIONS = 50;
const STALE_DEADLINE_LIMIT = 1000;

export interface MonitorOptions {
  /** The transport configs in force (limits the memory checks use). */
  client: TransportConfig;
  server: TransportConfig;
  /** Minimum simulated ms between deep samples of one session (default 20). */
  sampleInterval?: number;
}

interface Watched {
  conn: Connection;
  driver: SessionDriver;
  config: TransportConfig;
  nextSample: number;
}

export class PropertyMonitor {
  readonly violations: string[] = [];
  samples = 0;
  /** Inputs after which the endpoint's deadline was already more than 1 ms in the past. */
  staleDeadlines = 0;
  private staleStreak = 0;
  /** Largest values seen in any sample, for scenario assertions (e.g. windows auto-tuned). */
  readonly peaks = {
    streamWindow: 0,
    connectionWindow: 0,
    sendBuffered: 0,
    receiveBuffered: 0,
    /** One session's send + receive buffers + queued datagram bytes (what maxSessionBuffer bounds). */
    sessionBuffered: 0,
    congestionWindow: 0,
  };
  private readonly watched: Watched[] = [];
  private readonly sampleInterval: number;

  constructor(private readonly options: MonitorOptions) {
    this.sampleInterval = options.sampleInterval ?? 20;
  }

  violation(message: string): void {
    if (this.violations.length < MAX_VIOLATIONS) this.violations.push(message);
  }

  watch(conn: Connection, driver: SessionDriver): void {
    const config = driver.role === 'client' ? this.options.client : this.options.server;
    this.watched.push({ conn, driver, config, nextSample: Number.NEGATIVE_INFINITY });
  }

  /** Cheap timer check after every input; a deep sample of each session every sampleInterval ms. */
  afterInput(node: EngineNode, now: number): void {
    const deadline = node.endpoint.nextDeadline();
    if (deadline !== undefined && !Number.isFinite(deadline))
      this.violation(`t=${now}: deadline ${deadline}`);
    // A deadline left in the past makes the host wake at once for nothing. The engine does
    // this briefly (a pacing deadline while cwnd-limited); flag it only when it persists.
    if (deadline !== undefined && deadline < now - 1) {
      this.staleDeadlines++;
      if (++this.staleStreak === STALE_DEADLINE_LIMIT)
        this.violation(
          `t=${now}: ${node.drivers[0]?.role ?? '?'} deadline ${deadline} stayed in the past for ${STALE_DEADLINE_LIMIT} inputs`,
        );
    } else {
      this.staleStreak = 0;
    }
    for (const w of this.watched) {
      if (now < w.nextSample || w.conn.state === 'closed') continue;
      w.nextSample = now + this.sampleInterval;
      this.sample(w, now);
    }
  }

  private sample(w: Watched, now: number): void {
    this.samples++;
    const { conn, config } = w;
    const who = `t=${now.toFixed(3)} ${w.driver.role}#${conn.handle}`;
    const mem = conn.memoryUsage();
    const peaks = this.peaks;
    peaks.streamWindow = Math.max(peaks.streamWindow, mem.largestStreamWindow);
    peaks.connectionWindow = Math.max(peaks.connectionWindow, mem.connectionWindow);
    peaks.sendBuffered = Math.max(peaks.sendBuffered, mem.sendBuffered);
    peaks.receiveBuffered = Math.max(peaks.receiveBuffered, mem.receiveBuffered);
    // Auto-tuning may raise a stream's buffer above sendBufferSize, within the session's share.
    const sendLimit = sessionSendBudget(config);
    if (mem.sendBuffered > sendLimit)
      this.violation(
        `${who}: send buffers hold ${mem.sendBuffered} B over ${mem.streams} streams (session send budget ${sendLimit})`,
      );
    if (mem.receiveBuffered > config.maxConnectionWindow)
      this.violation(
        `${who}: receive buffers hold ${mem.receiveBuffered} B > maxConnectionWindow ${config.maxConnectionWindow}`,
      );
    if (mem.largestStreamWindow > config.maxStreamWindow)
      this.violation(
        `${who}: stream window ${mem.largestStreamWindow} > maxStreamWindow ${config.maxStreamWindow}`,
      );
    if (mem.connectionWindow > config.maxConnectionWindow)
      this.violation(
        `${who}: connection window ${mem.connectionWindow} > maxConnectionWindow ${config.maxConnectionWindow}`,
      );
    const sessionBuffered = mem.sendBuffered + mem.receiveBuffered + mem.queuedDatagramBytes;
    peaks.sessionBuffered = Math.max(peaks.sessionBuffered, sessionBuffered);
    if (sessionBuffered > config.maxSessionBuffer)
      this.violation(
        `${who}: session buffers ${sessionBuffered} B > maxSessionBuffer ${config.maxSessionBuffer}`,
      );
    if (mem.queuedDatagrams > MAX_QUEUED_DATAGRAMS)
      this.violation(`${who}: ${mem.queuedDatagrams} datagrams queued > ${MAX_QUEUED_DATAGRAMS}`);
    for (const path of conn.paths) {
      peaks.congestionWindow = Math.max(peaks.congestionWindow, path.congestionWindow);
      // Congestion control counts in 1200-byte units whatever size PMTU discovery reached.
      const mss = BASE_UDP_PAYLOAD;
      if (!(path.congestionWindow >= 2 * mss && path.congestionWindow <= MAX_SANE_CWND))
        this.violation(
          `${who}: path ${path.id} congestion window ${path.congestionWindow} outside [${2 * mss}, ${MAX_SANE_CWND}]`,
        );
      if (!(path.bytesInFlight >= 0))
        this.violation(`${who}: path ${path.id} bytes in flight ${path.bytesInFlight}`);
      if (path.srtt !== undefined && !(path.srtt > 0 && Number.isFinite(path.srtt)))
        this.violation(`${who}: path ${path.id} srtt ${path.srtt}`);
    }
  }
}

/** Close sources that are legitimate outcomes of a hostile network, not engine bugs. */
const NETWORK_CLOSE_SOURCES: readonly CloseSource[] = ['idle-timeout', 'handshake-timeout'];

export interface RunOutcome {
  clients: readonly SessionDriver[];
  servers: readonly SessionDriver[];
  monitor: PropertyMonitor;
  /**
   * true: every session must complete its workload. false (random exploration): a client
   * that never completed its handshake may instead end with an explicit network close.
   */
  requireCompletion: boolean;
}

/** Judges a finished run; returns the violations (empty when every property holds). */
export function checkRun(outcome: RunOutcome): string[] {
  const violations = [...outcome.monitor.violations];
  const servers = new Map<string, SessionDriver>();
  for (const s of outcome.servers) if (s.binding !== undefined) servers.set(s.binding, s);

  for (const driver of [...outcome.clients, ...outcome.servers]) {
    for (const p of driver.problems) violations.push(p);
    const who = `${driver.role}#${driver.conn.handle}`;
    if (driver.complete) continue;
    const close = driver.closeInfo;
    if (close === undefined) {
      violations.push(
        `${who}: neither complete nor closed by the time limit (state ${driver.conn.state}): a hang`,
      );
      continue;
    }
    // A server session that ended by a network outcome answers the client's next packets (or
    // RESUME) with a stateless reset: the client's peer-state-lost is that outcome too.
    const peer = driver.binding === undefined ? undefined : servers.get(driver.binding);
    const peerGone =
      driver.role === 'client' &&
      close.source === 'stateless-reset' &&
      peer?.closeInfo !== undefined &&
      NETWORK_CLOSE_SOURCES.includes(peer.closeInfo.source);
    // A server releases a session the client never confirmed with a fresh packet (protocol.md
    // §7.6: a replayed first flight must not hold state); a client that never saw the server
    // confirm it (no ACK, no HANDSHAKE_DONE) and is then told peer-state-lost lost nothing it
    // was promised.
    const neverConfirmed =
      driver.role === 'client' &&
      close.source === 'stateless-reset' &&
      (driver.conn as { wasConfirmed?: boolean }).wasConfirmed === false;
    const explained =
      (peerGone ||
        neverConfirmed ||
        (NETWORK_CLOSE_SOURCES.includes(close.source) &&
          (driver.role === 'server' || !driver.handshakeComplete))) &&
      !outcome.requireCompletion;
    if (!explained)
      violations.push(
        `${who}: closed before completing: ${close.source} code ${close.code} "${close.reason}"`,
      );
  }

  // Stream integrity: what each side sent must be what the other side read, byte for byte.
  for (const client of outcome.clients) {
    if (!client.complete || client.binding === undefined) continue;
    const server = servers.get(client.binding);
    if (server === undefined) {
      violations.push(`client#${client.conn.handle}: completed but no server session shares its binding`);
      continue;
    }
    for (const [from, to] of [
      [client, server],
      [server, client],
    ] as const) {
      for (const [id, sent] of from.sent) {
        const got = to.received.get(id);
        if (got === undefined || got.digest === undefined) {
          if (to.complete) violations.push(`stream ${id} ${from.role}→${to.role}: never fully read`);
          continue;
        }
        if (got.bytes !== sent.bytes || got.digest !== sent.digest)
          violations.push(
            `stream ${id} ${from.role}→${to.role}: sent ${sent.bytes} B sha256 ${sent.digest?.slice(0, 16)}, read ${got.bytes} B sha256 ${got.digest.slice(0, 16)}`,
          );
      }
    }
    const d = server.datagrams;
    if (d.received > client.datagrams.sent)
      violations.push(`datagrams: ${d.received} received but only ${client.datagrams.sent} sent`);
  }
  return violations;
}

/** Throws with every violation listed (for tests). */
export function assertProperties(outcome: RunOutcome): void {
  const violations = checkRun(outcome);
  if (violations.length > 0) throw new Error(`properties violated:\n  ${violations.join('\n  ')}`);
}
