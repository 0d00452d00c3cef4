// Handshake floods (docs/security.md, "Handshake floods and replay"). A `braid` server runs in a
// child process on 127.0.0.1; this process floods it with first flights of one mix at a time
// (valid XX, valid IK, junk IK, 1:1 mixes, IK from unauthorized keys), bounded in time and count,
// while a legitimate client connects once a second. Per mix: the legitimate connects' p50/p95/max
// and failures, the server's RSS before, at its peak and after, the handshakes it completed and
// the Retries it sent. Headline: the worst mix's legitimate p95 connect; baseline: the same
// client's connects without a flood, measured in the same run. Loopback only.
// `npm run bench -- flood [--duration-s N] [--rate N] [--max-datagrams N] [--mixes a,b] [--retry-threshold N]`.
// Targets (issue 12): p95 < 1 s, no failure, peak RSS growth < 100 MiB over a 30 s flood.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from '../src/api/connect.js';
import { createServer } from '../src/api/server.js';
import { generateKeyPair, type KeyPair } from '../src/crypto/noise/index.js';
import { socketAddress } from '../src/net/address.js';
import { firstFlight, junkIkInitial } from '../testing/harness/first-flights.js';
import { percentile, round } from '../testing/harness/stats.js';
import { positiveOption } from './lib/options.js';
import { result } from './lib/result.js';
import { progress, systemInfo } from './lib/system.js';

const MIXES = [
  'xx',
  'ik',
  'junk-ik',
  'xx+junk-ik',
  'ik+junk-ik',
  'unauthorized-ik',
  'unauthorized-ik+junk-ik',
];
type Kind = 'xx' | 'ik' | 'junk-ik' | 'unauthorized-ik';
const CONNECT_TIMEOUT_MS = 5000;
const MiB = 1024 * 1024;

interface Options {
  durationS: number;
  rate: number;
  maxDatagrams: number;
  mixes: string[];
  /** The server's `retryThreshold` (half-open sessions before Retry); its default when absent. */
  retryThreshold: number | undefined;
}

function parse(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      'duration-s': { type: 'string' },
      rate: { type: 'string' },
      'max-datagrams': { type: 'string' },
      mixes: { type: 'string' },
      'retry-threshold': { type: 'string' },
    },
    strict: true,
  });
  const mixes = values.mixes?.split(',') ?? MIXES;
  for (const mix of mixes)
    if (!MIXES.includes(mix)) throw new RangeError(`unknown mix ${mix} (${MIXES.join(', ')})`);
  return {
    durationS: positiveOption(values['duration-s'], 30, 'duration-s'),
    // As fast as the generator goes by default; the count bound stops a runaway.
    rate: positiveOption(values.rate, 1_000_000, 'rate'),
    maxDatagrams: positiveOption(values['max-datagrams'], 5_000_000, 'max-datagrams'),
    mixes,
    retryThreshold:
      values['retry-threshold'] === undefined
        ? undefined
        : positiveOption(values['retry-threshold'], 0, 'retry-threshold'),
  };
}

interface ServerReport {
  drops: Record<string, number>;
  retriesSent: number;
  statelessResetsSent: number;
  sessions: number;
  rssBytes: number;
}

/** The child: a server that reports its port, then its counters whenever asked. */
async function serveChild(): Promise<void> {
  const authorized = process.env.BRAID_FLOOD_AUTHORIZED;
  const retryThreshold = process.env.BRAID_FLOOD_RETRY_THRESHOLD;
  const server = createServer({
    authorizedKeys: authorized ? [new Uint8Array(Buffer.from(authorized, 'hex'))] : 'any',
    retryThreshold: retryThreshold ? Number(retryThreshold) : undefined,
  });
  let sessions = 0;
  server.on('session', (session) => {
    sessions++;
    session.on('error', () => undefined);
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  process.send?.({ port: server.address()!.port, publicKey: Buffer.from(server.publicKey).toString('hex') });
  process.on('message', (message) => {
    if (message === 'report') {
      const report: ServerReport = { ...server.stats, sessions, rssBytes: process.memoryUsage.rss() };
      process.send?.(report);
    } else if (message === 'exit') {
      void server.close(0, 'bench over', 200).then(() => process.exit(0));
    }
  });
}

function ask(child: ChildProcess): Promise<ServerReport> {
  const reply = once(child, 'message') as Promise<[ServerReport]>;
  child.send('report');
  return reply.then(([report]) => report);
}

/** The server's RSS read from /proc (no round trip through its event loop, which a flood delays). */
function rssOf(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function startServer(authorizedKey: Uint8Array | undefined, retryThreshold: number | undefined) {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], {
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      BRAID_FLOOD_AUTHORIZED: authorizedKey ? Buffer.from(authorizedKey).toString('hex') : '',
      BRAID_FLOOD_RETRY_THRESHOLD: retryThreshold === undefined ? '' : String(retryThreshold),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [hello] = (await once(child, 'message')) as [{ port: number; publicKey: string }];
  return { child, port: hello.port, publicKey: new Uint8Array(Buffer.from(hello.publicKey, 'hex')) };
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.send('exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** Connects once a second until `stop()` is true; each connect's time in ms, or a failure. */
async function legitimateClient(
  port: number,
  serverKey: Uint8Array,
  staticKey: KeyPair,
  stop: () => boolean,
): Promise<{ times: number[]; failures: string[] }> {
  const times: number[] = [];
  const failures: string[] = [];
  while (!stop()) {
    const started = performance.now();
    try {
      const session = await connect(`127.0.0.1:${port}`, {
        serverKey,
        staticKey,
        timeout: CONNECT_TIMEOUT_MS,
      });
      times.push(performance.now() - started);
      await session.close();
    } catch (error) {
      failures.push((error as Error).message);
    }
    const wait = 1000 - (performance.now() - started);
    if (wait > 0 && !stop()) await new Promise((r) => setTimeout(r, wait));
  }
  return { times, failures };
}

function kindsOf(mix: string): Kind[] {
  return mix.split('+') as Kind[];
}

async function runMix(mix: string, options: Options, legitimateKey: KeyPair) {
  const kinds = kindsOf(mix);
  const restricted = kinds.includes('unauthorized-ik');
  const { child, port, publicKey } = await startServer(
    restricted ? legitimateKey.publicKey : undefined,
    options.retryThreshold,
  );
  const server = socketAddress('127.0.0.1', port);
  const socket = dgram.createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const here = socketAddress('127.0.0.1', socket.address().port);
  const random = (n: number) => new Uint8Array(randomBytes(n));
  const flight = (kind: Kind): Uint8Array => {
    switch (kind) {
      case 'xx':
        return firstFlight(server, here);
      case 'ik':
      case 'unauthorized-ik':
        // 'ik' keys are accepted ('any'); 'unauthorized-ik' keys are refused by the list.
        return firstFlight(server, here, { serverKey: publicKey });
      default:
        return junkIkInitial(random, 3);
    }
  };
  await new Promise((r) => setTimeout(r, 300));
  const rssBefore = rssOf(child.pid!) ?? (await ask(child)).rssBytes;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssOf(child.pid!) ?? 0);
  }, 200);
  const endAt = performance.now() + options.durationS * 1000;
  let flooding = true;
  const legit = legitimateClient(port, publicKey, legitimateKey, () => !flooding);
  let sent = 0;
  const started = performance.now();
  // Ticks of 10 ms, each sending its share of the rate; valid flights are built as they go.
  while (performance.now() < endAt && sent < options.maxDatagrams) {
    const tickEnd = performance.now() + 10;
    const quota = Math.max(1, Math.round(options.rate / 100));
    for (let i = 0; i < quota && performance.now() < tickEnd && sent < options.maxDatagrams; i++) {
      socket.send(flight(kinds[sent % kinds.length]!), port, '127.0.0.1');
      sent++;
    }
    await new Promise((r) => setImmediate(r));
    const idle = tickEnd - performance.now();
    if (idle > 0) await new Promise((r) => setTimeout(r, idle));
  }
  const floodSeconds = (performance.now() - started) / 1000;
  flooding = false;
  const { times, failures } = await legit;
  // Half-open state is released at the handshake timeout (10 s): "after" is read past it.
  await new Promise((r) => setTimeout(r, 11_000));
  clearInterval(sampler);
  const report = await ask(child);
  const rssAfter = rssOf(child.pid!) ?? report.rssBytes;
  socket.close();
  await stopServer(child);
  const sorted = [...times].sort((a, b) => a - b);
  return {
    mix,
    datagramsSent: sent,
    floodSeconds: round(floodSeconds),
    datagramsPerSecond: round(sent / floodSeconds),
    legitimate: {
      connects: times.length,
      failures: failures.length,
      failureMessages: [...new Set(failures)].slice(0, 3),
      p50Ms: sorted.length ? round(percentile(sorted, 50)) : null,
      p95Ms: sorted.length ? round(percentile(sorted, 95)) : null,
      maxMs: sorted.length ? round(sorted[sorted.length - 1]!) : null,
    },
    serverRssMiB: {
      before: round(rssBefore / MiB),
      peak: round(rssPeak / MiB),
      after: round(rssAfter / MiB),
      peakGrowth: round((rssPeak - rssBefore) / MiB),
    },
    handshakesCompleted: report.sessions,
    retriesSent: report.retriesSent,
    statelessResetsSent: report.statelessResetsSent,
    drops: report.drops,
  };
}

/** The same legitimate client without a flood: a few connects to a fresh server. */
async function quietConnects(legitimateKey: KeyPair, options: Options): Promise<number[]> {
  const { child, port, publicKey } = await startServer(undefined, options.retryThreshold);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    const session = await connect(`127.0.0.1:${port}`, { serverKey: publicKey, staticKey: legitimateKey });
    times.push(performance.now() - started);
    await session.close();
  }
  await stopServer(child);
  return times;
}

export async function run(args: string[]) {
  const options = parse(args);
  const legitimateKey = generateKeyPair();
  progress('flood: baseline connects without a flood');
  const quiet = (await quietConnects(legitimateKey, options)).sort((a, b) => a - b);
  const mixes = [];
  for (const mix of options.mixes) {
    progress(`flood: ${mix} for ${options.durationS} s`);
    mixes.push(await runMix(mix, options, legitimateKey));
  }
  const worst = mixes.reduce((a, b) =>
    (b.legitimate.p95Ms ?? Infinity) > (a.legitimate.p95Ms ?? Infinity) ? b : a,
  );
  return {
    ...result({
      name: `legitimate connect p95 under the worst flood mix (${worst.mix})`,
      value: worst.legitimate.p95Ms ?? Number.NaN,
      unit: 'ms',
      baseline: {
        name: 'legitimate connect p95 without a flood',
        value: round(percentile(quiet, 95)),
        unit: 'ms',
      },
    }),
    targets: {
      p95BelowMs: 1000,
      failures: 0,
      peakRssGrowthBelowMiB: 100,
      met: mixes.every(
        (m) =>
          m.legitimate.failures === 0 &&
          (m.legitimate.p95Ms ?? Infinity) < 1000 &&
          m.serverRssMiB.peakGrowth < 100,
      ),
    },
    mixes,
    options,
    system: systemInfo(),
  };
}

if (process.argv.includes('--serve')) {
  await serveChild();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const output = await run(process.argv.slice(2));
  process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  process.exit(0);
}
