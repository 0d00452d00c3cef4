import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { connect } from '../../src/api/connect.js';
import { generateKeyPair } from '../../src/api/engine-factory.js';
import {
  ConnectTimeoutError,
  DatagramTooLargeError,
  HostKeyMismatchError,
  IdleTimeoutError,
  InvalidArgumentError,
  SessionClosedError,
  UnauthorizedKeyError,
} from '../../src/api/errors.js';
import { createServer } from '../../src/api/server.js';
import type { BraidStream } from '../../src/api/stream.js';
import { closeEvent, readAll, startPair } from '../../testing/harness/api-pair.js';

function echoStreams(session: import('../../src/api/session.js').Session): void {
  session.on('stream', (stream: BraidStream) => {
    pipeline(stream, stream).catch(() => undefined);
  });
}

test('connect, then echo 1 MiB over one stream with pipeline', { timeout: 10_000 }, async () => {
  const pair = await startPair({}, {}, echoStreams);
  try {
    const payload = randomBytes(1024 * 1024);
    const stream = await pair.client.openStream();
    assert.equal(stream.bidirectional, true);
    const [, echoed] = await Promise.all([
      pipeline(
        (async function* () {
          for (let i = 0; i < payload.length; i += 16 * 1024) yield payload.subarray(i, i + 16 * 1024);
        })(),
        stream,
      ),
      readAll(stream),
    ]);
    assert.equal(echoed.length, payload.length);
    assert.ok(echoed.equals(payload));
  } finally {
    await pair.close();
  }
});

test('remote keys: each side sees the other identity; channel bindings match', {
  timeout: 10_000,
}, async () => {
  const serverKey = generateKeyPair();
  const clientKey = generateKeyPair();
  const pair = await startPair(
    { staticKey: serverKey },
    { staticKey: clientKey, serverKey: serverKey.publicKey },
  );
  try {
    assert.deepEqual(pair.client.remoteKey, serverKey.publicKey);
    assert.deepEqual(pair.serverSession.remoteKey, clientKey.publicKey);
    assert.deepEqual(pair.client.channelBinding(), pair.serverSession.channelBinding());
    assert.equal(pair.client.role, 'client');
    assert.equal(pair.serverSession.role, 'server');
    assert.equal(pair.client.remoteAddress?.port, pair.port);
  } finally {
    await pair.close();
  }
});

test('half-close: the client ends its side and still reads the reply', { timeout: 10_000 }, async () => {
  const pair = await startPair({}, {}, (session) => {
    session.on('stream', async (stream: BraidStream) => {
      const request = await readAll(stream);
      stream.end(`got ${request.toString()}`);
    });
  });
  try {
    const stream = await pair.client.openStream();
    stream.end('ping');
    await once(stream, 'finish');
    assert.equal((await readAll(stream)).toString(), 'got ping');
  } finally {
    await pair.close();
  }
});

test('many concurrent streams; openStream waits when the peer stream limit is reached', {
  timeout: 10_000,
}, async () => {
  const pair = await startPair({ transport: { maxConcurrentBidiStreams: 4 } }, {}, echoStreams);
  try {
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const stream = await pair.client.openStream();
        stream.end(`message ${i}`);
        return (await readAll(stream)).toString();
      }),
    );
    results.forEach((text, i) => {
      assert.equal(text, `message ${i}`);
    });
  } finally {
    await pair.close();
  }
});

test('unidirectional streams are write-only at the opener and read-only at the peer', {
  timeout: 10_000,
}, async () => {
  const pair = await startPair();
  try {
    const received = once(pair.serverSession, 'stream') as Promise<[BraidStream]>;
    const stream = await pair.client.openStream({ unidirectional: true });
    assert.equal(stream.bidirectional, false);
    assert.equal(stream.readable, false);
    stream.end('one way');
    const [peer] = await received;
    assert.equal(peer.writable, false);
    assert.equal((await readAll(peer)).toString(), 'one way');
  } finally {
    await pair.close();
  }
});

test('datagrams flow both ways; oversize ones throw DatagramTooLargeError', { timeout: 10_000 }, async () => {
  const pair = await startPair();
  try {
    pair.serverSession.on('datagram', (data) => pair.serverSession.sendDatagram(Buffer.concat([data, data])));
    const replies: string[] = [];
    pair.client.on('datagram', (data) => replies.push(data.toString()));
    // Datagrams are unreliable: resend until one echo arrives (loopback rarely drops).
    for (let attempt = 0; attempt < 20 && replies.length === 0; attempt++) {
      assert.equal(pair.client.sendDatagram(Buffer.from('ab')), true);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(replies[0], 'abab');
    const max = pair.client.maxDatagramSize;
    assert.ok(max > 0);
    assert.throws(() => pair.client.sendDatagram(Buffer.alloc(max + 1)), DatagramTooLargeError);
  } finally {
    await pair.close();
  }
});

test('close codes: an application code and reason reach the peer; code 0 closes cleanly', {
  timeout: 10_000,
}, async () => {
  const pair = await startPair();
  try {
    const peerClosed = closeEvent(pair.serverSession);
    await pair.client.close(42, 'done here');
    const error = await peerClosed;
    assert.ok(error instanceof SessionClosedError, String(error));
    assert.equal(error.code, 'BRAID_ERR_SESSION_CLOSED');
    assert.equal(error.applicationCode, 42);
    assert.equal(error.reason, 'done here');
    assert.equal(error.source, 'peer');
    await assert.rejects(pair.client.openStream(), SessionClosedError);
  } finally {
    await pair.close();
  }
  const clean = await startPair();
  try {
    const peerClosed = closeEvent(clean.serverSession);
    await clean.client.close();
    const error = await peerClosed;
    assert.equal(error, undefined);
  } finally {
    await clean.close();
  }
});

test('closing the server closes its sessions at the client', { timeout: 10_000 }, async () => {
  const pair = await startPair();
  const closed = closeEvent(pair.client);
  await pair.server.close(0, 'maintenance', 500);
  const error = await closed;
  assert.equal(error, undefined);
  assert.ok(pair.client.closed);
});

test('idle timeout closes the session with IdleTimeoutError (persistence off)', {
  timeout: 10_000,
}, async () => {
  const transport = { idleTimeout: 300, persistenceTimeout: 0 };
  const pair = await startPair({ transport }, { transport });
  try {
    const error = await closeEvent(pair.client);
    assert.ok(error instanceof IdleTimeoutError, String(error));
    assert.equal(error.code, 'BRAID_ERR_IDLE_TIMEOUT');
  } finally {
    await pair.close();
  }
});

test('connect to a silent UDP socket rejects with ConnectTimeoutError after `timeout`', {
  timeout: 10_000,
}, async () => {
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  try {
    const started = performance.now();
    await assert.rejects(
      connect(`127.0.0.1:${silent.address().port}`, { timeout: 300 }),
      (error: unknown) => error instanceof ConnectTimeoutError && error.code === 'BRAID_ERR_CONNECT_TIMEOUT',
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 290 && elapsed < 2000, `elapsed ${elapsed}`);
  } finally {
    silent.close();
  }
});

test('a server that does not authorize our key refuses the session with UnauthorizedKeyError', {
  timeout: 10_000,
}, async () => {
  const server = createServer({ authorizedKeys: [generateKeyPair().publicKey] });
  await server.listen({ host: '127.0.0.1' });
  const accepted: unknown[] = [];
  server.on('session', (session) => accepted.push(session));
  try {
    // With XX the client completes its half of the handshake before the server sees its key,
    // so the refusal arrives either as the connect rejection or as the session's close error.
    let error: unknown;
    try {
      const session = await connect({ host: '127.0.0.1', port: server.address()!.port }, { timeout: 3000 });
      error = session.closed ? session.closeError : await closeEvent(session);
    } catch (rejection) {
      error = rejection;
    }
    assert.ok(error instanceof UnauthorizedKeyError, String(error));
    assert.equal(error.code, 'BRAID_ERR_UNAUTHORIZED_KEY');
    assert.equal(accepted.length, 0, 'the server never surfaces a refused session');
  } finally {
    await server.close();
  }
});

test('pinning a different server key never yields a session', { timeout: 10_000 }, async () => {
  const server = createServer();
  await server.listen({ host: '127.0.0.1' });
  try {
    await assert.rejects(
      connect(
        { host: '127.0.0.1', port: server.address()!.port },
        { serverKey: generateKeyPair().publicKey, timeout: 500 },
      ),
      (error: unknown) => error instanceof HostKeyMismatchError || error instanceof ConnectTimeoutError,
    );
  } finally {
    await server.close();
  }
});

test('invalid options are rejected with InvalidArgumentError naming the option', {
  timeout: 10_000,
}, async () => {
  const cases: Array<[() => unknown, string]> = [
    [() => connect('no-port-here'), 'target'],
    [() => connect('[::1]:99999'), 'target'],
    [() => connect({ host: '127.0.0.1', port: 0 }), 'target.port'],
    [() => connect('127.0.0.1:1', { timeout: -5 }), 'timeout'],
    [() => connect('127.0.0.1:1', { serverKey: new Uint8Array(5) }), 'serverKey'],
    [() => connect('127.0.0.1:1', { localAddress: 'not-an-ip' }), 'localAddress'],
    [() => connect('127.0.0.1:1', { transport: { idleTimeout: -1 } }), 'transport.idleTimeout'],
    [() => createServer({ retry: 'sometimes' as never }), 'retry'],
    [
      () => createServer({ staticKey: { publicKey: new Uint8Array(1), privateKey: new Uint8Array(1) } }),
      'staticKey',
    ],
    [() => createServer({ authorizedKeys: [new Uint8Array(3)] }), 'authorizedKeys[0]'],
    [() => createServer().listen({ port: 70000 }), 'port'],
  ];
  for (const [run, argument] of cases) {
    await assert.rejects(
      (async () => run())(),
      (error: unknown) =>
        error instanceof InvalidArgumentError &&
        error.code === 'BRAID_ERR_INVALID_ARG' &&
        error.argument === argument,
      `expected InvalidArgumentError for ${argument}`,
    );
  }
});

test('listening twice on the same port rejects with AddressInUseError', { timeout: 10_000 }, async () => {
  const first = createServer();
  await first.listen({ host: '127.0.0.1' });
  const second = createServer();
  try {
    await assert.rejects(second.listen({ host: '127.0.0.1', port: first.address()!.port }), {
      code: 'BRAID_ERR_ADDRESS_IN_USE',
    });
  } finally {
    await first.close();
    await second.close();
  }
});

test('diagnostics channels report session creation, handshake and close', { timeout: 10_000 }, async () => {
  const seen: string[] = [];
  const names = ['braid:session:created', 'braid:session:handshake', 'braid:session:closed'];
  const subscribers = names.map((name) => {
    const onMessage = () => seen.push(name);
    diagnosticsChannel.subscribe(name, onMessage);
    return () => diagnosticsChannel.unsubscribe(name, onMessage);
  });
  try {
    const pair = await startPair();
    await pair.close();
    for (const name of names)
      assert.ok(seen.filter((n) => n === name).length >= 2, `${name}: ${seen.join(',')}`);
  } finally {
    for (const unsubscribe of subscribers) unsubscribe();
  }
});
