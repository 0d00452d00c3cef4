/**
 * `braid demo`: multihoming failover, live, on this host. As root with iproute2 and nftables
 * it runs in network namespaces (netns.ts: a client with two providers, a router, a
 * two-address server) and breaks the active provider for real; otherwise it runs in one
 * process over two loopback address pairs and blackholes the active pair inside the
 * process (the client's FaultInjector drops that pair's datagrams both ways, so the server
 * sees silence, as over a dead link), saying in one line why. Either way the client streams
 * data, the active path breaks mid-transfer, the session moves to its warm standby, a
 * status table follows the paths live, and the summary gives the bytes, SHA-256 at both
 * ends, the failover gap and an HTML report of the run. Everything is torn down on exit,
 * Ctrl-C included.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fingerprint } from '../../crypto/identity.js';
import type { FaultInjector } from '../../endpoint/udp-endpoint.js';
import {
  type BraidStream,
  connect,
  createServer,
  generateKeyPair,
  type KeyPair,
  type Session,
} from '../../index.js';
import { openEventLog } from '../observe/observability.js';
import { buildTimeline, parseEventLog, renderReport } from '../observe/report.js';
import { EventName, SessionTracker } from '../observe/tracker.js';
import { CliError } from '../shared/errors.js';
import { formatBytes, formatMs, formatRate, table } from '../shared/format.js';
import { DEMO_SESSION_IDS } from './agent.js';
import { tearDownLabsSync } from './lab.js';
import {
  type DemoFault,
  type DemoWorld,
  type DemoWorldHooks,
  LabUnavailableError,
  labAvailability,
  startNetnsWorld,
} from './netns.js';
import {
  DeliveryMonitor,
  describePath,
  type PathRow,
  pacedSend,
  pathRow,
  waitForStandby,
  wallNow,
} from './transfer.js';

export interface DemoOptions {
  /** Bytes the client streams to the server. */
  bytes: number;
  /** Application send rate in Mbit/s, so the run lasts long enough to watch; 0: as fast as possible. */
  rateMbit: number;
  /** Fraction of `bytes` received when the active path is broken (0–1). */
  faultAt: number;
  fault: DemoFault;
  /** auto: namespaces when possible, else loopback (with a one-line reason). */
  mode: 'auto' | 'netns' | 'loopback';
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
  variant: 'netns' | 'loopback';
  bytes: number;
  hashesEqual: boolean;
  /** Longest pause in in-order delivery at the receiver after the fault, ms. */
  gapMs: number | undefined;
  /** From the fault until the engine reported its failover, ms. */
  failoverMs: number | undefined;
  failoverReason: string | undefined;
  reportPath: string;
  eventsPath: string;
}

const TTY_REFRESH_MS = 250;
const PLAIN_REFRESH_MS = 1000;

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

/** The loopback variant: server and client in this process, the fault injected in the client's endpoint. */
async function startLoopbackWorld(
  options: DemoOptions & { eventsPath: string; serverKey: KeyPair; clientKey: KeyPair },
  hooks: DemoWorldHooks,
): Promise<DemoWorld> {
  const tracker = new SessionTracker('demo');
  const closeLog = openEventLog(options.eventsPath, tracker);
  let hole: { local: string; remote: string } | undefined;
  const faultInjector: FaultInjector = (_direction, local, remote) =>
    hole !== undefined && local.address === hole.local && remote.address === hole.remote;
  let monitor: DeliveryMonitor | undefined;
  let resolveReceived: (result: { bytes: number; digest: string }) => void = () => undefined;
  const received = new Promise<{ bytes: number; digest: string }>((r) => {
    resolveReceived = r;
  });
  const server = createServer(
    { staticKey: options.serverKey, authorizedKeys: [options.clientKey.publicKey] },
    (session) => {
      session.on('failover', (from, to, reason) =>
        hooks.failover('server', pathRow(from), pathRow(to), reason, wallNow()),
      );
      session.on('stream', (stream: BraidStream) => {
        monitor = new DeliveryMonitor(stream, hooks.progress);
        monitor.done.then(resolveReceived);
      });
    },
  );
  let session: Session | undefined;
  const close = async (): Promise<void> => {
    await session?.close().catch(() => undefined);
    await server.close(0, '', 500);
    closeLog();
    tracker.close();
  };
  try {
    await server.listen({ hosts: options.serverHosts, port: 0 });
    const port = server.address()!.port;
    hooks.line(
      `server  listening on ${options.serverHosts.map((h) => `${h}:${port}`).join(' and ')}, key ${fingerprint(options.serverKey.publicKey)}`,
    );
    const started = wallNow();
    session = await connect(
      { host: options.serverHosts[0], port },
      {
        staticKey: options.clientKey,
        serverKey: options.serverKey.publicKey,
        localAddresses: options.clientHosts,
        faultInjector,
        timeout: 5000,
      },
    );
    const client = session;
    hooks.line(
      `client  bound ${options.clientHosts.join(' and ')}; connected in ${(wallNow() - started).toFixed(1)} ms (Noise IK, server key pinned)`,
    );
    for (const path of client.paths) hooks.line(`path    ${describePath(pathRow(path))}  ${path.state}`);
    client.on('path', (path) => hooks.path(pathRow(path), wallNow()));
    client.on('failover', (from, to, reason) =>
      hooks.failover('client', pathRow(from), pathRow(to), reason, wallNow()),
    );
    if (!(await waitForStandby(client))) {
      throw new Error(
        `no standby path was validated within 5 s (paths: ${client.paths.map((p) => describePath(pathRow(p))).join(', ') || 'none'})`,
      );
    }
    const failed = new Promise<never>((_, reject) => {
      client.once('close', (error) =>
        reject(new Error(`the session closed during the transfer${error ? `: ${error.message}` : ''}`)),
      );
    });
    failed.catch(() => undefined);
    return {
      paths: () => client.paths.map(pathRow),
      failed,
      transfer: () => ({ sent: pacedSend(client, options.bytes, options.rateMbit), received }),
      async fault(active) {
        hole = { local: active.localIp, remote: active.remoteIp };
        return `blackholed ${active.localIp} ⇄ ${active.remoteIp} inside the process (${describePath(active)})`;
      },
      gap: async (faultAt) => monitor?.gapAfter(faultAt),
      close,
      abort: () => {
        void close();
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function appendEvent(path: string, time: number, name: string, data: Record<string, unknown>): void {
  appendFileSync(path, `${JSON.stringify({ time: Math.round(time), name, data })}\n`);
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const screen = new LiveScreen(options.tty, options.write);
  const outDir = options.outDir ? resolve(options.outDir) : mkdtempSync(join(tmpdir(), 'braid-demo-'));
  mkdirSync(outDir, { recursive: true });
  const eventsPath = join(outDir, 'events.jsonl');
  const reportPath = join(outDir, 'report.html');
  writeFileSync(eventsPath, '');
  const serverKey = generateKeyPair();
  const clientKey = generateKeyPair();
  const total = options.bytes;

  let received = 0;
  let faultStart: number | undefined;
  let faultEnd: number | undefined;
  let faultyPath: PathRow | undefined;
  /** The first failover an engine reported after the fault (either end may detect it first). */
  let failover: { side: string; from: PathRow; to: PathRow; reason: string; at: number } | undefined;
  let clientMoved: { to: PathRow; at: number } | undefined;
  let triggerFault: () => void = () => undefined;
  const sinceFault = (at: number): string =>
    faultEnd === undefined ? '' : ` (+${Math.max(0, at - faultEnd).toFixed(0)} ms)`;
  const hooks: DemoWorldHooks = {
    line: (text) => screen.line(text),
    path: (row, at) => {
      screen.line(`path    ${describePath(row)}  ${row.state}${sinceFault(at)}`);
      if (faultyPath && !clientMoved && row.state === 'active' && row.id !== faultyPath.id)
        clientMoved = { to: row, at };
    },
    failover: (side, from, to, reason, at) => {
      screen.line(`failover ${side}: ${describePath(from)} → path ${to.id} (${reason})${sinceFault(at)}`);
      // The end that found the path dead, rather than the one that followed it.
      if (
        faultStart !== undefined &&
        (!failover || (failover.reason === 'peer-moved' && reason !== 'peer-moved'))
      )
        failover = { side, from, to, reason, at };
    },
    progress: (bytes) => {
      received = bytes;
      if (faultStart === undefined && bytes >= total * options.faultAt) triggerFault();
    },
  };

  // Ctrl-C or SIGTERM: tear down what exists (the lab, the agents), then exit.
  let world: DemoWorld | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    screen.freeze();
    options.write(`\n${signal}: tearing down the demo\n`);
    if (world) world.abort();
    else tearDownLabsSync(); // a lab still being built
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let statusTimer: NodeJS.Timeout | undefined;
  let limitTimer: NodeJS.Timeout | undefined;
  try {
    let variant: 'netns' | 'loopback' = 'loopback';
    let fallback: string | undefined;
    if (options.mode !== 'loopback') {
      const availability = labAvailability();
      if (availability.ok) {
        try {
          world = await startNetnsWorld({ ...options, eventsPath, serverKey, clientKey }, hooks);
          variant = 'netns';
        } catch (error) {
          if (!(error instanceof LabUnavailableError) || options.mode === 'netns') throw error;
          fallback = error.message;
        }
      } else {
        if (options.mode === 'netns') throw new CliError(`braid demo --netns: ${availability.reason}`);
        fallback = availability.reason;
      }
    }
    if (!world) {
      if (fallback) screen.line(`demo    loopback addresses instead of network namespaces: ${fallback}`);
      if (options.fault === 'link-down')
        screen.line('demo    --fault link-down needs namespaces: blackholing instead');
      world = await startLoopbackWorld({ ...options, eventsPath, serverKey, clientKey }, hooks);
    }
    const running = world;

    triggerFault = () => {
      const active = running.paths().find((p) => p.state === 'active');
      if (!active) return;
      faultStart = wallNow();
      faultyPath = active;
      const at = received;
      running.fault(active).then(
        (description) => {
          faultEnd = wallNow();
          screen.line(`fault   ${description} at ${formatBytes(at)} received`);
          appendEvent(eventsPath, faultEnd, 'braid:demo:fault_injected', {
            session: DEMO_SESSION_IDS.client,
            path: active.id,
            local: active.local,
            remote: active.remote,
            kind: variant === 'netns' ? options.fault : 'blackhole',
            commandMs: faultEnd - faultStart!,
          });
        },
        (error: Error) => screen.line(`fault   could not be applied: ${error.message}`),
      );
    };

    const t0 = wallNow();
    const drawStatus = (): void => {
      const rows = [['path', 'local', 'remote', 'state', 'rtt', 'sent', 'received', '']];
      for (const p of running.paths()) {
        rows.push([
          String(p.id),
          p.local,
          p.remote,
          p.state,
          formatMs(p.srtt),
          formatBytes(p.bytesSent),
          formatBytes(p.bytesReceived),
          faultyPath?.id === p.id ? 'broken' : '',
        ]);
      }
      const seconds = (wallNow() - t0) / 1000;
      screen.status([
        ...table(rows, '  '),
        `  received ${formatBytes(received)} of ${formatBytes(total)}  ${formatRate(seconds > 0 ? received / seconds : 0)}  ${seconds.toFixed(1)} s`,
      ]);
    };
    statusTimer = setInterval(drawStatus, options.tty ? TTY_REFRESH_MS : PLAIN_REFRESH_MS);
    drawStatus();

    const limitMs = 20_000 + (options.rateMbit > 0 ? (total * 8) / (options.rateMbit * 1000) : 0);
    const timeLimit = new Promise<never>((_, reject) => {
      limitTimer = setTimeout(
        () => reject(new Error(`the transfer did not finish in ${limitMs} ms`)),
        limitMs,
      );
    });
    const { sent, received: atServer } = running.transfer();
    const [{ digest, reply }, result] = await Promise.race([
      Promise.all([sent, atServer]),
      running.failed,
      timeLimit,
    ]);
    const seconds = (wallNow() - t0) / 1000;
    clearInterval(statusTimer);
    statusTimer = undefined;
    drawStatus();
    screen.freeze();

    const gap = faultEnd !== undefined ? await running.gap(faultEnd) : undefined;
    const gapFromStart =
      faultStart !== undefined && faultEnd !== undefined ? await running.gap(faultStart) : undefined;
    if (gap) {
      appendEvent(eventsPath, gap.endedAt, EventName.deliveryGap, {
        session: DEMO_SESSION_IDS.server,
        gapMs: gap.gapMs,
      });
    }
    await running.close();
    writeReport(eventsPath, reportPath);

    const hashesEqual = digest === result.digest && reply === digest && result.bytes === total;
    const failoverMs = failover && faultEnd !== undefined ? Math.max(0, failover.at - faultEnd) : undefined;
    const out = (text: string): void => options.write(`${text}\n`);
    out('');
    out('summary');
    out(
      `  ran in    ${variant === 'netns' ? `network namespaces; fault: ${options.fault === 'link-down' ? 'provider link down' : 'silent blackhole in the router'}` : 'one process over loopback address pairs; fault: blackhole inside the process'}`,
    );
    out(
      `  moved     ${formatBytes(result.bytes)} client → server in ${seconds.toFixed(2)} s (${formatRate(result.bytes / seconds)})`,
    );
    out(`  sha256    ${digest.slice(0, 16)}…  ${hashesEqual ? 'equal at both ends' : 'MISMATCH'}`);
    if (faultEnd === undefined) {
      out('  fault     never applied (the transfer ended first)');
    } else if (failover) {
      out(
        `  failover  the ${failover.side} found ${describePath(failover.from)} failed (${failover.reason}) and moved to path ${failover.to.id} ${failoverMs!.toFixed(0)} ms after the fault`,
      );
    } else {
      out('  failover  none reported by either end');
    }
    if (faultEnd !== undefined && clientMoved) {
      out(
        `  client    active on ${describePath(clientMoved.to)} ${Math.max(0, clientMoved.at - faultEnd).toFixed(0)} ms after the fault`,
      );
    }
    if (gap) {
      const bracket =
        variant === 'netns' && gapFromStart
          ? `; ${gapFromStart.gapMs.toFixed(0)} ms counted from the start of the ${(faultEnd! - faultStart!).toFixed(0)} ms lab command`
          : '';
      out(
        `  failover gap ${gap.gapMs.toFixed(0)} ms (from the fault to the next in-order byte at the receiver${bracket})`,
      );
    }
    out(`  report    ${reportPath}`);
    out(`  events    ${eventsPath}`);
    const ok =
      hashesEqual &&
      faultEnd !== undefined &&
      failover !== undefined &&
      clientMoved !== undefined &&
      gap !== undefined;
    out(ok ? 'demo ok: every byte arrived once, in order, across the failover' : 'demo FAILED');
    return {
      ok,
      variant,
      bytes: result.bytes,
      hashesEqual,
      gapMs: gap?.gapMs,
      failoverMs,
      failoverReason: failover?.reason,
      reportPath,
      eventsPath,
    };
  } catch (error) {
    screen.freeze();
    await world?.close().catch(() => undefined);
    throw error;
  } finally {
    if (statusTimer) clearInterval(statusTimer);
    clearTimeout(limitTimer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function writeReport(eventsPath: string, reportPath: string): void {
  const { events, skipped } = parseEventLog(readFileSync(eventsPath, 'utf8'));
  writeFileSync(reportPath, renderReport(buildTimeline(events, skipped), 'braid demo: multihoming failover'));
}
