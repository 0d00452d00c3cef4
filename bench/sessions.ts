// Idle sessions at scale. A real server (createServer, in a child process of its own so only it
// is measured) holds N concurrent idle sessions opened by client child processes (one UDP socket
// and one engine endpoint each, a bounded number of handshakes in flight, so loopback stays
// sane). Printed: the server's V8 heap, array buffers and RSS per session (after a full GC),
// the server CPU the keepalives of N idle sessions cost (% of one core, over an idle window),
// and the time to establish N. Baseline in the same run: the server's own figures before any
// session. The memory target is issue 15's: ≤ 16 KiB of server heap per idle session.
// `npm run bench -- sessions [--sessions N] [--clients K] [--concurrency C] [--idle-seconds S]`
// (N = 10 000 by default; --sessions 100000 for the large run).
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createServer } from '../src/api/server.js';
import { SESSION_FIXED_COST } from '../src/engine/session-limits.js';
import { round } from '../testing/harness/stats.js';
import type { EstablishedReport, OpenRequest } from './lib/idle-clients.js';
import { positiveOption } from './lib/options.js';
import { result } from './lib/result.js';
import { progress, systemInfo } from './lib/system.js';

const KiB = 1024;
/** Issue 15's target for the server heap an idle session costs. */
export const HEAP_TARGET_PER_SESSION = 16 * KiB;

interface Options {
  sessions: number;
  clients: number;
  concurrency: number;
  idleSeconds: number;
}

function parse(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      sessions: { type: 'string' },
      clients: { type: 'string' },
      concurrency: { type: 'string' },
      'idle-seconds': { type: 'string' },
    },
    strict: true,
  });
  return {
    sessions: positiveOption(values.sessions, 10_000, 'sessions'),
    // Few processes: the clients share the machine with the server being measured.
    clients: positiveOption(values.clients, 4, 'clients'),
    concurrency: positiveOption(values.concurrency, 32, 'concurrency'),
    idleSeconds: positiveOption(values['idle-seconds'], 10, 'idle-seconds'),
  };
}

export interface ServerReport {
  sessions: number;
  heapUsed: number;
  arrayBuffers: number;
  rss: number;
}

interface CpuReport {
  /** User + system CPU of the server process so far, microseconds. */
  cpuMicros: number;
}

/** The server child: reports its port and key, then its memory (after a full GC) or its CPU time when asked. */
async function serveChild(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the server child needs --expose-gc');
  const sessions = Number(process.env.BRAID_SESSIONS_BENCH_N);
  const server = createServer({
    authorizedKeys: 'any',
    // Room for every session at the estimated fixed cost (the default 1 GiB holds ~21 800).
    memoryBudget: Math.max(1024 ** 3, 2 * sessions * SESSION_FIXED_COST),
  });
  let live = 0;
  server.on('session', (session) => {
    live++;
    session.on('error', () => undefined);
    session.on('close', () => live--);
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  process.send?.({ port: server.address()!.port, publicKey: Buffer.from(server.publicKey).toString('hex') });
  process.on('message', (message) => {
    if (message === 'cpu') {
      const cpu = process.cpuUsage();
      process.send?.({ cpuMicros: cpu.user + cpu.system });
    } else if (message === 'report') {
      // From a fresh macrotask, so nothing of the caller's frame is still reachable.
      setImmediate(() => {
        gc();
        gc();
        const memory = process.memoryUsage();
        const report: ServerReport = {
          sessions: live,
          heapUsed: memory.heapUsed,
          arrayBuffers: memory.arrayBuffers,
          rss: memory.rss,
        };
        process.send?.(report);
      });
    } else if (message === 'exit') {
      void server.close(0, 'bench over', 200).then(() => process.exit(0));
    }
  });
}

function ask<T>(child: ChildProcess, message: string): Promise<T> {
  const reply = once(child, 'message') as Promise<[T]>;
  child.send(message);
  return reply.then(([report]) => report);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.send('exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

function share(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

export async function run(args: string[]): Promise<object> {
  const options = parse(args);
  const server = fork(fileURLToPath(import.meta.url), ['--serve'], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env: { ...process.env, BRAID_SESSIONS_BENCH_N: String(options.sessions) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const clients: ChildProcess[] = [];
  try {
    const [hello] = (await once(server, 'message')) as [{ port: number; publicKey: string }];
    const clientCount = Math.min(options.clients, options.sessions);
    for (let i = 0; i < clientCount; i++) {
      const child = fork(fileURLToPath(new URL('./lib/idle-clients.ts', import.meta.url)), [], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      clients.push(child);
      await once(child, 'message'); // ready
    }
    const before = await ask<ServerReport>(server, 'report');

    progress(`sessions: opening ${options.sessions} from ${clientCount} processes`);
    const start = performance.now();
    const reports = await Promise.all(
      clients.map((child, i) => {
        const request: OpenRequest = {
          type: 'open',
          sessions: share(options.sessions, clientCount, i),
          concurrency: options.concurrency,
          port: hello.port,
          serverKey: hello.publicKey,
        };
        const done = once(child, 'message') as Promise<[EstablishedReport]>;
        child.send(request);
        return done.then(([report]) => report);
      }),
    );
    const establishSeconds = (performance.now() - start) / 1000;
    const confirmed = reports.reduce((sum, r) => sum + r.confirmed, 0);
    const failed = reports.reduce((sum, r) => sum + r.failed, 0);

    progress(`sessions: ${confirmed} established; idle for ${options.idleSeconds} s`);
    const withSessions = await ask<ServerReport>(server, 'report');
    const idleStart = await ask<CpuReport>(server, 'cpu');
    const idleWallStart = performance.now();
    await new Promise((resolve) => setTimeout(resolve, options.idleSeconds * 1000));
    const idleEnd = await ask<CpuReport>(server, 'cpu');
    const idleWallSeconds = (performance.now() - idleWallStart) / 1000;

    const held = withSessions.sessions;
    const perSession = (after: number, base: number): number =>
      held > 0 ? (after - base) / held : Number.NaN;
    const heapPerSession = perSession(withSessions.heapUsed, before.heapUsed);
    const keepaliveCoreFraction = (idleEnd.cpuMicros - idleStart.cpuMicros) / 1e6 / idleWallSeconds;
    return {
      ...result({
        name: 'server V8 heap per idle session (after a full GC, createServer, real sockets on loopback)',
        value: round(heapPerSession),
        unit: 'bytes',
        baseline: {
          name: "issue 15's target: server heap per idle session",
          value: HEAP_TARGET_PER_SESSION,
          unit: 'bytes',
        },
      }),
      heapTargetMet: heapPerSession <= HEAP_TARGET_PER_SESSION,
      sessions: {
        requested: options.sessions,
        confirmed,
        failed,
        firstFailure: reports.find((r) => r.firstFailure)?.firstFailure,
        heldByServer: held,
      },
      perSession: {
        heapBytes: round(heapPerSession),
        arrayBufferBytes: round(perSession(withSessions.arrayBuffers, before.arrayBuffers)),
        rssBytes: round(perSession(withSessions.rss, before.rss)),
        sessionFixedCost: SESSION_FIXED_COST,
      },
      server: {
        beforeSessions: {
          heapBytes: before.heapUsed,
          arrayBufferBytes: before.arrayBuffers,
          rssBytes: before.rss,
        },
        withSessions: {
          heapBytes: withSessions.heapUsed,
          arrayBufferBytes: withSessions.arrayBuffers,
          rssBytes: withSessions.rss,
        },
      },
      keepalive: {
        note: 'server CPU (user + system) over the idle window, as a fraction of one core: keepalives and their ACKs, timers',
        idleSeconds: round(idleWallSeconds),
        coreFraction: round(keepaliveCoreFraction),
      },
      establish: {
        seconds: round(establishSeconds),
        sessionsPerSecond: round(confirmed / establishSeconds),
        clientProcesses: clientCount,
        handshakesInFlightPerProcess: options.concurrency,
      },
      options,
      system: systemInfo(),
    };
  } finally {
    await Promise.all(clients.map(stop));
    await stop(server);
  }
}

if (process.argv.includes('--serve')) {
  await serveChild();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const output = await run(process.argv.slice(2));
  process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  process.exit(0);
}
