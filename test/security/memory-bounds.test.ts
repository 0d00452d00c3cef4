import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { connect } from '../../src/api/connect.js';
import type { Session } from '../../src/api/session.js';
import { DEFAULT_TRANSPORT_CONFIG } from '../../src/engine/config.js';

const MiB = 1024 * 1024;
const SESSIONS = 3;
const STREAMS_PER_SESSION = 100;

interface EchoServer {
  child: ChildProcess;
  port: number;
  rss(): Promise<{ rss: number; sessions: number }>;
  stop(): Promise<void>;
}

async function startEchoServer(): Promise<EchoServer> {
  const child = fork(new URL('./fixtures/echo-server.ts', import.meta.url), ['{}'], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [ready] = (await once(child, 'message')) as [{ port: number }];
  const rss = async () => {
    child.send('rss');
    const [reply] = (await once(child, 'message')) as [{ rss: number; sessions: number }];
    return reply;
  };
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.send('stop');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await once(child, 'exit');
    clearTimeout(timer);
  };
  return { child, port: ready.port, rss, stop };
}

/** Writes to every stream for as long as it accepts, and never reads what comes back. */
function floodWithoutReading(session: Session, streams: number, chunk: Buffer): Promise<void>[] {
  return Array.from({ length: streams }, async () => {
    const stream = await session.openStream();
    stream.on('error', () => undefined);
    const fill = () => {
      while (!stream.destroyed && stream.write(chunk));
    };
    stream.on('drain', fill);
    fill();
  });
}

test('3 sessions × 100 echo streams never read: server RSS grows ≤ 3 × maxSessionBuffer + 50 MiB', {
  timeout: 120_000,
}, async () => {
  const server = await startEchoServer();
  const sessions: Session[] = [];
  try {
    // Warm up: load and compile the whole data path once, so the baseline includes it.
    const warm = await connect({ host: '127.0.0.1', port: server.port }, { timeout: 10_000 });
    const warmStream = await warm.openStream();
    warmStream.end(Buffer.alloc(256 * 1024));
    for await (const _ of warmStream);
    await warm.close();
    const before = (await server.rss()).rss;

    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    for (let i = 0; i < SESSIONS; i++) {
      const session = await connect({ host: '127.0.0.1', port: server.port }, { timeout: 10_000 });
      session.on('error', () => undefined);
      sessions.push(session);
      await Promise.all(floodWithoutReading(session, STREAMS_PER_SESSION, chunk));
    }
    // Until the server's RSS stops growing: every buffer on the way is full.
    let peak = before;
    let flatSince = Date.now();
    const deadline = Date.now() + 60_000;
    while (Date.now() - flatSince < 4000 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const { rss, sessions: live } = await server.rss();
      assert.ok(live >= SESSIONS, `every flooding session stays up (${live} live)`);
      if (rss > peak + MiB) {
        peak = rss;
        flatSince = Date.now();
      }
    }
    const growth = peak - before;
    const bound = SESSIONS * DEFAULT_TRANSPORT_CONFIG.maxSessionBuffer + 50 * MiB;
    console.log(
      `server RSS ${(before / MiB).toFixed(0)} → ${(peak / MiB).toFixed(0)} MiB: +${(growth / MiB).toFixed(1)} MiB (bound ${(bound / MiB).toFixed(0)} MiB)`,
    );
    assert.ok(growth <= bound, `server RSS grew ${(growth / MiB).toFixed(1)} MiB > ${bound / MiB} MiB`);
  } finally {
    await Promise.all(sessions.map((session) => session.close().catch(() => undefined)));
    await server.stop();
  }
});
