/**
 * `braid demo --agent server|client ...`: the two ends of the demo when it runs in network
 * namespaces. `braid demo` starts each inside its namespace (ip netns exec) and talks to it
 * in JSON lines: the agent reports on stdout, takes commands on stdin, and exits when stdin
 * closes. Not meant to be run by hand; `braid demo --help` does not list it.
 *
 * Keys come in the environment (BRAID_DEMO_KEY: our private:public key in hex,
 * BRAID_DEMO_PEER: the peer's public key), not on the command line that `ps` shows.
 */
import { createInterface } from 'node:readline';
import { connect, createServer, type KeyPair, type PathInfo } from '../../index.js';
import { openEventLog } from '../observe/observability.js';
import { SessionTracker } from '../observe/tracker.js';
import { parseArgs, stringFlag } from '../shared/args.js';
import { UsageError } from '../shared/errors.js';
import { DeliveryMonitor, pacedSend, pathRow, waitForStandby, wallNow } from './transfer.js';

const AGENT_USAGE = `usage: braid demo --agent server --hosts H1,H2 --events FILE
       braid demo --agent client --server HOST:PORT --locals A,B --bytes N --rate MBIT --events FILE
(internal: started by braid demo inside network namespaces)`;

const PROGRESS_INTERVAL_MS = 50;
const PATHS_INTERVAL_MS = 100;

/** The session ids each agent gives its event-log records, so one log can hold both. */
export const DEMO_SESSION_IDS = { client: 1, server: 2 } as const;

function emit(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function keysFromEnv(): { own: KeyPair; peer: Uint8Array } {
  const [privateHex, publicHex] = (process.env.BRAID_DEMO_KEY ?? '').split(':');
  const peerHex = process.env.BRAID_DEMO_PEER ?? '';
  if (!privateHex || !publicHex || !peerHex)
    throw new UsageError('BRAID_DEMO_KEY and BRAID_DEMO_PEER must be set');
  return {
    own: { privateKey: Buffer.from(privateHex, 'hex'), publicKey: Buffer.from(publicHex, 'hex') },
    peer: Buffer.from(peerHex, 'hex'),
  };
}

/** Calls `handler` for each JSON line on stdin; resolves when stdin ends. */
function commands(handler: (message: Record<string, unknown>) => void): Promise<void> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      try {
        handler(JSON.parse(line) as Record<string, unknown>);
      } catch (error) {
        emit({ event: 'error', message: `bad command ${line}: ${(error as Error).message}` });
      }
    });
    lines.on('close', resolve);
  });
}

async function serverAgent(hosts: string[], eventsPath: string): Promise<number> {
  const { own, peer } = keysFromEnv();
  const tracker = new SessionTracker('demo', { firstSessionId: DEMO_SESSION_IDS.server });
  const closeLog = openEventLog(eventsPath, tracker);
  let monitor: DeliveryMonitor | undefined;
  let lastProgress = 0;
  const server = createServer({ staticKey: own, authorizedKeys: [peer] }, (session) => {
    session.on('failover', (from, to, reason) =>
      emit({ event: 'failover', at: wallNow(), from: pathRow(from), to: pathRow(to), reason }),
    );
    session.on('stream', (stream) => {
      monitor = new DeliveryMonitor(stream, (received) => {
        const now = wallNow();
        if (now - lastProgress < PROGRESS_INTERVAL_MS) return;
        lastProgress = now;
        emit({ event: 'progress', received });
      });
      monitor.done.then((result) => emit({ event: 'received', ...result }));
    });
  });
  await server.listen({ hosts, port: 0 });
  emit({ event: 'listening', port: server.address()!.port });
  await commands((message) => {
    if (message.event === 'gap') {
      emit({ event: 'gap', gap: monitor?.gapAfter(Number(message.faultAt)) ?? null });
    }
  });
  await server.close(0, '', 200);
  closeLog();
  tracker.close();
  return 0;
}

async function clientAgent(
  server: { host: string; port: number },
  locals: string[],
  bytes: number,
  rateMbit: number,
  eventsPath: string,
): Promise<number> {
  const { own, peer } = keysFromEnv();
  const tracker = new SessionTracker('demo', { firstSessionId: DEMO_SESSION_IDS.client });
  const closeLog = openEventLog(eventsPath, tracker);
  const started = wallNow();
  const session = await connect(server, {
    staticKey: own,
    serverKey: peer,
    localAddresses: locals,
    timeout: 5000,
  });
  emit({ event: 'connected', ms: wallNow() - started, paths: session.paths.map(pathRow) });
  session.on('path', (path: PathInfo) => {
    emit({ event: 'path', at: wallNow(), path: pathRow(path) });
    emit({ event: 'paths', paths: session.paths.map(pathRow) });
  });
  session.on('failover', (from, to, reason) =>
    emit({ event: 'failover', at: wallNow(), from: pathRow(from), to: pathRow(to), reason }),
  );
  session.on('close', (error) => emit({ event: 'closed', message: error?.message ?? null }));
  const snapshots = setInterval(
    () => emit({ event: 'paths', paths: session.paths.map(pathRow) }),
    PATHS_INTERVAL_MS,
  );
  emit({ event: 'ready', standby: await waitForStandby(session) });
  let sending: Promise<void> | undefined;
  await commands((message) => {
    if (message.event !== 'send' || sending) return;
    sending = pacedSend(session, bytes, rateMbit).then(
      (result) => emit({ event: 'sent', ...result }),
      (error: Error) => emit({ event: 'error', message: error.message }),
    );
  });
  clearInterval(snapshots);
  await session.close().catch(() => undefined);
  closeLog();
  tracker.close();
  return 0;
}

export async function runDemoAgent(argv: string[]): Promise<number> {
  const args = parseArgs(
    argv,
    {
      agent: { type: 'string' },
      hosts: { type: 'string' },
      server: { type: 'string' },
      locals: { type: 'string' },
      bytes: { type: 'string' },
      rate: { type: 'string' },
      events: { type: 'string' },
    },
    AGENT_USAGE,
  );
  const role = stringFlag(args, 'agent');
  const events = stringFlag(args, 'events');
  if (!events) throw new UsageError('--events FILE is required', AGENT_USAGE);
  if (role === 'server') {
    const hosts = (stringFlag(args, 'hosts') ?? '').split(',').filter(Boolean);
    if (hosts.length === 0) throw new UsageError('--hosts is required', AGENT_USAGE);
    return serverAgent(hosts, events);
  }
  if (role === 'client') {
    const target = stringFlag(args, 'server') ?? '';
    const colon = target.lastIndexOf(':');
    const locals = (stringFlag(args, 'locals') ?? '').split(',').filter(Boolean);
    const bytes = Number(stringFlag(args, 'bytes'));
    const rate = Number(stringFlag(args, 'rate'));
    if (colon <= 0 || locals.length === 0 || !(bytes > 0) || !(rate >= 0)) {
      throw new UsageError('--server, --locals, --bytes and --rate are required', AGENT_USAGE);
    }
    return clientAgent(
      { host: target.slice(0, colon), port: Number(target.slice(colon + 1)) },
      locals,
      bytes,
      rate,
      events,
    );
  }
  throw new UsageError(`unknown agent '${role}'`, AGENT_USAGE);
}
