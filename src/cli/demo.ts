/**
 * `braid demo`: multihoming failover, live, on this host and without root. The server
 * listens on two loopback addresses and the client binds two others (Linux routes all
 * of 127/8 to lo), so the session has distinct address pairs: it runs on one and keeps
 * a warm standby on another. Mid-transfer the demo blackholes the active pair inside
 * the process (the client's FaultInjector drops that pair's datagrams both ways: the
 * server sees silence, as over a dead link); the session detects the failure and moves
 * to the standby. A live status table follows the paths; the summary gives the bytes,
 * SHA-256 at both ends, the failover gap and an HTML report of the run.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fingerprint } from '../crypto/identity.js';
import type { FaultInjector } from '../endpoint/udp-endpoint.js';
import {
  type BraidStream,
  connect,
  createServer,
  generateKeyPair,
  type PathInfo,
  type Session,
} from '../index.js';
import { formatBytes, formatMs, formatRate, table } from './format.js';
import { openEventLog } from './observe.js';
import { buildTimeline, parseEventLog, renderReport } from './report.js';
import { EventName, formatAddress, SessionTracker } from './tracker.js';

export interface DemoOptions {
  /** Bytes the client streams to the server. */
  bytes: number;
  /** Application send rate in Mbit/s, so the run lasts long enough to watch; 0: as fast as possible. */
  rateMbit: number;
  /** Fraction of `bytes` received when the active path is blackholed (0–1). */
  faultAt: number;
  /** Directory for events.jsonl and report.html; default: a fresh one under the system temp dir. */
  outDir?: string;
  serverHosts: [string, string];
  clientHosts: [string, string];
  /** Redraw the status table in place (a terminal); otherwise print plain status lines. */
  tty: boolean;
  write: (text: string) => void;
}

export interface DemoResult {
  ok: boolean;
  bytes: number;
  hashesEqual: boolean;
  /** Longest pause in in-order delivery at the receiver after the fault, ms. */
  gapMs: number | undefined;
  /** From the fault until the client's session was active on another path, ms. */
  failoverMs: number | undefined;
  reportPath: string;
  eventsPath: string;
}

const CHUNK = 16 * 1024;
const STANDBY_WAIT_MS = 5000;
const TTY_REFRESH_MS = 250;
const PLAIN_REFRESH_MS = 1000;

export const DEMO_DEFAULTS = {
  mib: 32,
  rateMbit: 40,
  faultAt: 0.4,
  serverHosts: ['127.0.0.1', '127.0.0.2'] as [string, string],
  clientHosts: ['127.0.0.3', '127.0.0.4'] as [string, string],
};

/** The blackholed address pair (client side, IPs only: every socket of an endpoint shares one port). */
interface Blackhole {
  local: string;
  remote: string;
}

/** Writes event lines above a status block that is redrawn in place on a terminal. */
class LiveScreen {
  #drawn = 0;
  constructor(
    private readonly tty: boolean,
    private readonly write: (text: string) => void,
  ) {}

  line(text: string): void {
    this.#erase();
    this.write(`${text}\n`);
  }

  status(lines: string[]): void {
    if (!this.tty) {
      for (const l of lines) this.write(`${l}\n`);
      return;
    }
    this.#erase();
    this.write(`${lines.join('\n')}\n`);
    this.#drawn = lines.length;
  }

  /** Leaves the last table on screen. */
  freeze(): void {
    this.#drawn = 0;
  }

  #erase(): void {
    if (this.#drawn > 0) this.write(`\x1b[${this.#drawn}A\x1b[J`);
    this.#drawn = 0;
  }
}

function describePath(path: PathInfo): string {
  return `path ${path.id} ${formatAddress(path.local)} → ${formatAddress(path.remote)}`;
}

function isBlackholed(path: PathInfo, hole: Blackhole | undefined): boolean {
  return hole !== undefined && path.local.address === hole.local && path.remote.address === hole.remote;
}

function epoch(performanceMs: number): number {
  return performance.timeOrigin + performanceMs;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const screen = new LiveScreen(options.tty, options.write);
  const outDir = options.outDir ? resolve(options.outDir) : mkdtempSync(join(tmpdir(), 'braid-demo-'));
  mkdirSync(outDir, { recursive: true });
  const eventsPath = join(outDir, 'events.jsonl');
  const reportPath = join(outDir, 'report.html');
  writeFileSync(eventsPath, '');
  const tracker = new SessionTracker('demo');
  const closeLog = openEventLog(eventsPath, tracker);

  const serverKey = generateKeyPair();
  const clientKey = generateKeyPair();
  const total = options.bytes;

  // Receiver side: hash, count, and the times of in-order progress after the fault.
  let hole: Blackhole | undefined;
  let faultTime: number | undefined;
  let lastProgress = 0;
  let gapMs: number | undefined;
  let received = 0;
  let injectFault: () => void = () => undefined;
  let gapEnd: number | undefined;
  let resolveServerDone: (result: { bytes: number; digest: string }) => void = () => undefined;
  const serverDone = new Promise<{ bytes: number; digest: string }>((r) => {
    resolveServerDone = r;
  });
  const server = createServer({ staticKey: serverKey, authorizedKeys: [clientKey.publicKey] }, (session) => {
    session.on('stream', (stream: BraidStream) => {
      const hash = createHash('sha256');
      stream.on('data', (chunk: Buffer) => {
        const now = performance.now();
        hash.update(chunk);
        received += chunk.length;
        if (faultTime !== undefined) {
          const stall = now - Math.max(lastProgress, faultTime);
          if (gapMs === undefined || stall > gapMs) {
            gapMs = stall;
            gapEnd = now;
          }
        }
        lastProgress = now;
        if (faultTime === undefined && received >= total * options.faultAt) injectFault();
      });
      stream.on('end', () => {
        const digest = hash.digest('hex');
        stream.end(digest);
        resolveServerDone({ bytes: received, digest });
      });
    });
  });

  const faultInjector: FaultInjector = (_direction, local, remote) =>
    hole !== undefined && local.address === hole.local && remote.address === hole.remote;

  let session: Session | undefined;
  let statusTimer: NodeJS.Timeout | undefined;
  try {
    await server.listen({ hosts: options.serverHosts, port: 0 });
    const port = server.address()!.port;
    screen.line(
      `server  listening on ${options.serverHosts.map((h) => `${h}:${port}`).join(' and ')}, key ${fingerprint(serverKey.publicKey)}`,
    );
    const started = performance.now();
    session = await connect(
      { host: options.serverHosts[0], port },
      {
        staticKey: clientKey,
        serverKey: serverKey.publicKey,
        localAddresses: options.clientHosts,
        faultInjector,
        timeout: 5000,
      },
    );
    const client = session;
    screen.line(
      `client  bound ${options.clientHosts.join(' and ')}; connected in ${(performance.now() - started).toFixed(1)} ms (Noise IK, server key pinned)`,
    );
    for (const path of client.paths) screen.line(`path    ${describePath(path)}  ${path.state}`);
    let failoverTime: number | undefined;
    let failoverPath: PathInfo | undefined;
    let failedPath: PathInfo | undefined;
    client.on('path', (path) => {
      const when = faultTime === undefined ? '' : ` (+${(performance.now() - faultTime).toFixed(0)} ms)`;
      screen.line(`path    ${describePath(path)}  ${path.state}${when}`);
      if (
        faultTime !== undefined &&
        failoverTime === undefined &&
        path.state === 'active' &&
        !isBlackholed(path, hole)
      ) {
        failoverTime = performance.now();
        failoverPath = path;
      }
    });

    const hasStandby = (): boolean => client.paths.some((p) => p.state === 'standby');
    if (!(await waitFor(hasStandby, STANDBY_WAIT_MS))) {
      throw new Error(
        `no standby path was validated within ${STANDBY_WAIT_MS} ms (paths: ${client.paths.map(describePath).join(', ') || 'none'})`,
      );
    }

    injectFault = () => {
      const active = client.paths.find((p) => p.state === 'active');
      if (!active) return;
      failedPath = active;
      hole = { local: active.local.address, remote: active.remote.address };
      faultTime = performance.now();
      screen.line(
        `fault   blackholed ${active.local.address} ⇄ ${active.remote.address} (${describePath(active)}) at ${formatBytes(received)} received`,
      );
      tracker.emit('event', {
        time: Math.round(epoch(faultTime)),
        name: 'braid:demo:fault_injected',
        data: { session: clientTrackerId(), local: active.local.address, remote: active.remote.address },
      });
    };
    const clientTrackerId = (): number | undefined => tracker.sessions().find((s) => s.role === 'client')?.id;

    const t0 = performance.now();
    let sent = 0;
    const drawStatus = (): void => {
      const rows = [['path', 'local', 'remote', 'state', 'rtt', 'sent', 'received', '']];
      for (const p of client.paths) {
        rows.push([
          String(p.id),
          formatAddress(p.local),
          formatAddress(p.remote),
          p.state,
          formatMs(p.srtt),
          formatBytes(p.bytesSent),
          formatBytes(p.bytesReceived),
          isBlackholed(p, hole) ? 'blackholed' : '',
        ]);
      }
      const seconds = (performance.now() - t0) / 1000;
      screen.status([
        ...table(rows, '  '),
        `  received ${formatBytes(received)} of ${formatBytes(total)}  ${formatRate(seconds > 0 ? received / seconds : 0)}  ${seconds.toFixed(1)} s`,
      ]);
    };
    statusTimer = setInterval(drawStatus, options.tty ? TTY_REFRESH_MS : PLAIN_REFRESH_MS);
    drawStatus();

    const closed = new Promise<never>((_, reject) => {
      client.once('close', (error) =>
        reject(new Error(`the session closed during the transfer${error ? `: ${error.message}` : ''}`)),
      );
    });
    closed.catch(() => undefined);
    const limitMs = 20_000 + (options.rateMbit > 0 ? (total * 8) / (options.rateMbit * 1000) : 0);
    let limitTimer: NodeJS.Timeout | undefined;
    const timeLimit = new Promise<never>((_, reject) => {
      limitTimer = setTimeout(
        () => reject(new Error(`the transfer did not finish in ${limitMs} ms`)),
        limitMs,
      );
    });

    const transfer = async (): Promise<{ digest: string; reply: string }> => {
      const stream = await client.openStream();
      const hash = createHash('sha256');
      const reply: Buffer[] = [];
      stream.on('data', (c: Buffer) => reply.push(c));
      const ended = once(stream, 'end');
      while (sent < total) {
        const chunk = randomBytes(Math.min(CHUNK, total - sent));
        hash.update(chunk);
        sent += chunk.length;
        if (!stream.write(chunk)) await once(stream, 'drain');
        if (options.rateMbit > 0) {
          const due = t0 + (sent * 8) / (options.rateMbit * 1000);
          const wait = due - performance.now();
          if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
        }
      }
      stream.end();
      await ended;
      return { digest: hash.digest('hex'), reply: Buffer.concat(reply).toString() };
    };
    const [{ digest, reply }, atServer] = await Promise.race([
      Promise.all([transfer(), serverDone]),
      closed,
      timeLimit,
    ]);
    clearTimeout(limitTimer);
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(statusTimer);
    statusTimer = undefined;
    drawStatus();
    screen.freeze();

    const hashesEqual = digest === atServer.digest && reply === digest && atServer.bytes === total;
    const failoverMs =
      failoverTime !== undefined && faultTime !== undefined ? failoverTime - faultTime : undefined;
    if (faultTime !== undefined && failoverTime !== undefined) {
      tracker.emit('event', {
        time: Math.round(epoch(gapEnd ?? failoverTime)),
        name: EventName.failover,
        data: {
          session: clientTrackerId(),
          from: failedPath?.id,
          to: failoverPath?.id,
          gapMs: gapMs ?? failoverMs,
          detectedMs: failoverMs,
        },
      });
    }
    await client.close();
    await server.close(0, '', 500);
    closeLog();
    tracker.close();
    writeReport(eventsPath, reportPath);

    const out = (text: string): void => options.write(`${text}\n`);
    out('');
    out('summary');
    out(
      `  moved     ${formatBytes(atServer.bytes)} client → server in ${seconds.toFixed(2)} s (${formatRate(atServer.bytes / seconds)})`,
    );
    out(`  sha256    ${digest.slice(0, 16)}…  ${hashesEqual ? 'equal at both ends' : 'MISMATCH'}`);
    if (faultTime === undefined) {
      out('  fault     never injected (the transfer ended first)');
    } else if (failoverPath && failoverMs !== undefined) {
      out(
        `  failover  ${failedPath ? describePath(failedPath) : '?'} blackholed; active on ${describePath(failoverPath)} after ${failoverMs.toFixed(0)} ms`,
      );
      out(
        `  failover gap ${gapMs?.toFixed(0) ?? '?'} ms (from the fault to the next in-order byte at the receiver)`,
      );
    } else {
      out('  failover  none: the session never became active on another path');
    }
    out(`  report    ${reportPath}`);
    out(`  events    ${eventsPath}`);
    const ok = hashesEqual && faultTime !== undefined && failoverPath !== undefined && gapMs !== undefined;
    out(ok ? 'demo ok: every byte arrived once, in order, across the failover' : 'demo FAILED');
    return { ok, bytes: atServer.bytes, hashesEqual, gapMs, failoverMs, reportPath, eventsPath };
  } catch (error) {
    if (statusTimer) clearInterval(statusTimer);
    screen.freeze();
    await session?.close().catch(() => undefined);
    await server.close(0, '', 200);
    closeLog();
    tracker.close();
    throw error;
  }
}

function writeReport(eventsPath: string, reportPath: string): void {
  const { events, skipped } = parseEventLog(readFileSync(eventsPath, 'utf8'));
  writeFileSync(reportPath, renderReport(buildTimeline(events, skipped), 'braid demo: multihoming failover'));
}
