// Happy Eyeballs connect() over real loopback sockets: dead addresses (no socket bound there,
// so the handshake is never answered), live ones, a name resolved through an injected
// resolver and through the system's (/etc/hosts), and clean cancellation of the losers.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readdirSync, readlinkSync } from 'node:fs';
import { test } from 'node:test';
import { connect } from '../../src/api/connect.js';
import { type BraidError, ConnectTimeoutError, HostNotFoundError } from '../../src/api/errors.js';
import { createServer } from '../../src/api/server.js';
import type { Session } from '../../src/api/session.js';
import { until } from '../../testing/harness/api-pair.js';

/** A port with nothing bound on 127.0.0.1 nor ::1 (bound, read, released). */
async function deadPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  socket.close();
  return port;
}

/** Open sockets of this process (unref'd ones included, which getActiveResourcesInfo omits). */
function openSockets(): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) count++;
    } catch {
      // Closed meanwhile.
    }
  }
  return count;
}

test('a dead IPv6 address first, a live IPv4 one second: IPv4 wins one attempt delay later', async () => {
  const server = createServer();
  await server.listen({ host: '127.0.0.1', port: 0 });
  const port = server.address()!.port;
  const before = openSockets();
  const started = performance.now();
  const session = await connect(
    { addresses: ['127.0.0.1', '::1'], port },
    { connectionAttemptDelay: 100, timeout: 5000 },
  );
  const elapsed = performance.now() - started;
  assert.equal(session.remoteAddress?.address, '127.0.0.1');
  assert.ok(elapsed >= 95, `IPv6 was tried first, IPv4 one delay later (took ${elapsed.toFixed(0)} ms)`);
  await session.close();
  await server.close(0, '', 200);
  // The endpoint (every socket, the losing attempt's included) is released after the close grace.
  await until(() => openSockets() <= before - 1, 3000);
});

test('every address dead: ConnectTimeoutError listing each address with its own failure', async () => {
  const port = await deadPort();
  const before = openSockets();
  const error = (await connect(
    { addresses: ['127.0.0.1', '::1'], port },
    { connectionAttemptDelay: 50, timeout: 400 },
  ).then(
    () => assert.fail('connected to nothing'),
    (e: unknown) => e,
  )) as BraidError;
  assert.ok(error instanceof ConnectTimeoutError);
  assert.deepEqual(error.attempts, [
    { address: `[::1]:${port}`, error: 'no answer within 400 ms' },
    { address: `127.0.0.1:${port}`, error: 'no answer within 400 ms' },
  ]);
  assert.match(
    error.message,
    new RegExp(`tried \\[::1\\]:${port} \\(no answer within 400 ms\\), 127.0.0.1:${port}`),
  );
  await until(() => openSockets() <= before, 1000); // no socket left behind
});

test('a name resolving to several addresses is raced in RFC 8305 order (injected resolver)', async () => {
  const server = createServer();
  await server.listen({ host: '127.0.0.1', port: 0 });
  const port = server.address()!.port;
  const asked: string[] = [];
  const session = await connect(`braid.test:${port}`, {
    connectionAttemptDelay: 50,
    timeout: 5000,
    lookup: async (name, family) => {
      asked.push(`${name}/${family}`);
      return family === 6 ? ['::1'] : ['127.0.0.2', '127.0.0.1'];
    },
  });
  assert.deepEqual(asked.sort(), ['braid.test/4', 'braid.test/6']);
  assert.equal(
    session.remoteAddress?.address,
    '127.0.0.1',
    'the third attempt (after ::1 and 127.0.0.2) won',
  );
  await session.close();
  await server.close(0, '', 200);

  const unknown = await connect('nowhere.test:9', {
    lookup: async () => {
      throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    },
  }).catch((e: unknown) => e);
  assert.ok(unknown instanceof HostNotFoundError);
  assert.equal((unknown as HostNotFoundError).code, 'BRAID_ERR_HOST_NOT_FOUND');
  assert.match((unknown as Error).message, /AAAA: ENOTFOUND; A: ENOTFOUND/);
});

test('the system resolver: localhost (/etc/hosts) reaches a server listening on every interface', async () => {
  const server = createServer();
  await server.listen({ port: 0 });
  const port = server.address()!.port;
  const session = await connect(`localhost:${port}`, { timeout: 5000 });
  assert.ok(['127.0.0.1', '::1'].includes(session.remoteAddress!.address));
  await session.close();
  await server.close(0, '', 200);
});

test('a losing attempt that completes its handshake late is closed with a CLOSE: no server state left', async () => {
  const server = createServer();
  const serverSessions: Session[] = [];
  const closes: Array<Error | undefined> = [];
  server.on('session', (s) => {
    serverSessions.push(s);
    s.on('close', (error) => closes.push(error));
  });
  await server.listen({ hosts: ['::1', '127.0.0.1'], port: 0 });
  const port = server.address()!.port;
  // The IPv6 attempt's first datagrams are lost, so IPv4 (started 100 ms later) wins; the IPv6
  // handshake completes on a retransmission afterwards.
  let dropUntil = performance.now() + 300;
  const session = await connect(
    { addresses: ['::1', '127.0.0.1'], port },
    {
      connectionAttemptDelay: 100,
      timeout: 5000,
      faultInjector: (direction, _local, remote) => {
        if (direction === 'out' && remote.family === 'IPv6' && performance.now() < dropUntil) return true;
        return false;
      },
    },
  );
  dropUntil = 0;
  assert.equal(session.remoteAddress?.address, '127.0.0.1');
  // The server saw both handshakes; the loser's session ends cleanly (code 0), the winner stays.
  await until(() => serverSessions.length === 2 && closes.length === 1, 5000);
  assert.equal(closes[0], undefined, 'the loser was closed with code 0, not timed out');
  assert.equal(server.sessions.size, 1);
  const [winner] = [...server.sessions];
  assert.equal(winner?.remoteAddress?.address, '127.0.0.1');
  const stream = await session.openStream();
  stream.end('still here');
  await session.close();
  await server.close(0, '', 200);
});
