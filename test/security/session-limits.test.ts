import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { connect } from '../../src/api/connect.js';
import { generateKeyPair } from '../../src/api/engine-factory.js';
import { InvalidArgumentError, SessionLimitError } from '../../src/api/errors.js';
import { type BraidServer, createServer, type SessionRefusedInfo } from '../../src/api/server.js';
import type { Session } from '../../src/api/session.js';
import { TransportError } from '../../src/wire/errors.js';
import { closeEvent, until } from '../../testing/harness/api-pair.js';

async function listening(options: Parameters<typeof createServer>[0]): Promise<BraidServer> {
  const server = createServer(options);
  await server.listen({ host: '127.0.0.1', port: 0 });
  return server;
}

/**
 * The refusal of a connect: the client's half of the handshake can complete before the
 * server's CLOSE arrives, so it comes as the rejection or as the session's close error.
 */
async function refusal(attempt: Promise<Session>): Promise<unknown> {
  try {
    const session = await attempt;
    return session.closed ? session.closeError : await closeEvent(session);
  } catch (rejection) {
    return rejection;
  }
}

function dial(server: BraidServer, staticKey = generateKeyPair()): Promise<Session> {
  return connect(
    { host: '127.0.0.1', port: server.address()!.port },
    { staticKey, serverKey: server.publicKey, timeout: 5000 },
  );
}

test('maxSessions: the session beyond the limit is refused with SESSION_LIMIT, and a freed place is taken', {
  timeout: 20_000,
}, async () => {
  const server = await listening({ maxSessions: 2 });
  const refused: SessionRefusedInfo[] = [];
  server.on('refused', (info) => refused.push(info));
  let accepted = 0;
  server.on('session', () => accepted++);
  try {
    const first = await dial(server);
    const second = await dial(server);
    const thirdKey = generateKeyPair();
    const error = await refusal(dial(server, thirdKey));
    assert.ok(error instanceof SessionLimitError, `got ${String(error)}`);
    assert.equal(error.code, 'BRAID_ERR_SESSION_LIMIT');
    assert.match(error.reason, /session limit \(2\)/);
    await until(() => refused.length === 1, 2000);
    assert.equal(refused[0].code, TransportError.SESSION_LIMIT);
    assert.deepEqual(Buffer.from(refused[0].remoteKey), Buffer.from(thirdKey.publicKey));
    assert.equal(refused[0].remoteAddress?.address, '127.0.0.1');
    assert.equal(accepted, 2, 'the refused client never became a session');

    await first.close();
    await until(() => server.sessions.size === 1, 3000);
    // The endpoint releases the closed session's place once it is forgotten (after its close).
    const again = await dial(server);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(again.closed, false, 'the place freed by a closed session is taken by the next client');
    assert.equal(server.sessions.size, 2);
    await Promise.all([second.close(), again.close()]);
  } finally {
    await server.close(0, '', 200);
  }
});

test('maxSessionsPerKey: a second session with one key is refused, another key is not', {
  timeout: 20_000,
}, async () => {
  const server = await listening({ maxSessionsPerKey: 1 });
  try {
    const key = generateKeyPair();
    const first = await dial(server, key);
    const error = await refusal(dial(server, key));
    assert.ok(error instanceof SessionLimitError, `got ${String(error)}`);
    assert.match(error.reason, /per client key \(1\)/);
    const other = await dial(server);
    // The server reports a session once the client's first packet confirms it, just after dial().
    for (let i = 0; i < 200 && server.sessions.size < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.sessions.size, 2);
    await Promise.all([first.close(), other.close()]);
  } finally {
    await server.close(0, '', 200);
  }
});

test('memoryBudget: while the sessions buffer more than the budget, new ones are refused', {
  timeout: 20_000,
}, async () => {
  const budget = 64 * 1024;
  const server = await listening({ memoryBudget: budget });
  let held: Session | undefined;
  server.on('session', (session) => {
    held ??= session;
  });
  try {
    const client = await dial(server);
    // The server never reads this stream: what arrives stays in its buffers.
    const stream = await client.openStream();
    stream.write(Buffer.alloc(256 * 1024, 1));
    await until(() => (held?.stats.bytesReceived ?? 0) > 2 * budget, 5000);
    const error = await refusal(dial(server));
    assert.ok(error instanceof SessionLimitError, `got ${String(error)}`);
    assert.match(error.reason, /memory budget/);
    await client.close();
  } finally {
    await server.close(0, '', 200);
  }
});

test('the limits are validated', () => {
  assert.throws(() => createServer({ maxSessions: 0 }), InvalidArgumentError);
  assert.throws(() => createServer({ maxSessionsPerKey: 1.5 }), InvalidArgumentError);
  assert.throws(() => createServer({ memoryBudget: -1 }), InvalidArgumentError);
});

test('a refusal is not an error event on the server', { timeout: 10_000 }, async () => {
  const server = await listening({ maxSessions: 1 });
  try {
    const first = await dial(server);
    const refused = once(server, 'refused');
    assert.ok((await refusal(dial(server))) instanceof SessionLimitError);
    await refused;
    await first.close();
  } finally {
    await server.close(0, '', 200);
  }
});
