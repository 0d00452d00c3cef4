// Multipath policies through the public API on real sockets (loopback): connect()'s
// `multipath` option, what the server agreed to (session.multipathPolicy on both ends), an
// aggregate transfer over two address pairs, redundant datagrams delivered once, and the
// option's validation errors naming the field.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'node:test';
import { connect } from '../../src/api/connect.js';
import { InvalidArgumentError } from '../../src/api/errors.js';
import { type BraidServer, createServer } from '../../src/api/server.js';
import type { Session } from '../../src/api/session.js';
import type { MultipathOptions } from '../../src/engine/types.js';

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A server on two loopback addresses and a client on two others, with the given policy. */
async function pair(
  multipath: MultipathOptions,
  onSession: (session: Session) => void,
): Promise<{ server: BraidServer; client: Session; serverSessions: Session[] }> {
  const serverSessions: Session[] = [];
  const server = createServer({}, (session) => {
    serverSessions.push(session);
    onSession(session);
  });
  await server.listen({ hosts: ['127.0.0.1', '127.0.0.2'], port: 0 });
  const client = await connect(
    { host: '127.0.0.1', port: server.address()!.port },
    { localAddresses: ['127.0.0.3', '127.0.0.4'], multipath, timeout: 5000 },
  );
  return { server, client, serverSessions };
}

test("aggregate: both ends agree, and a transfer's bytes go over both address pairs intact", async () => {
  const received = createHash('sha256');
  let receivedBytes = 0;
  const { server, client, serverSessions } = await pair({ policy: 'aggregate' }, (session) => {
    session.on('stream', (stream) => {
      stream.on('data', (c: Buffer) => {
        received.update(c);
        receivedBytes += c.length;
      });
      stream.on('end', () => stream.end());
    });
  });
  try {
    assert.equal(client.multipathPolicy, 'aggregate');
    await until(() => serverSessions.length === 1, 2000);
    assert.equal(serverSessions[0].multipathPolicy, 'aggregate');
    await until(() => client.paths.filter((p) => p.state === 'standby').length > 0, 5000);
    const stream = await client.openStream();
    const data = randomBytes(8 * 1024 * 1024);
    stream.end(data);
    stream.resume();
    await once(stream, 'end');
    assert.equal(receivedBytes, data.length);
    assert.equal(received.digest('hex'), createHash('sha256').update(data).digest('hex'));
    // Both local addresses carried data (a path per remote address may too, and does under BBR).
    const carrying = new Set(
      client.paths.filter((p) => p.bytesSent > 256 * 1024).map((p) => p.local.address),
    );
    assert.equal(
      carrying.size,
      2,
      `both pairs carried data: ${JSON.stringify(client.paths.map((p) => [p.local.address, p.bytesSent]))}`,
    );
  } finally {
    await client.close().catch(() => undefined);
    await server.close(0, '', 500);
  }
});

test('redundant: small datagrams go on two paths and reach the application once', async () => {
  const seen = new Map<number, number>();
  const { server, client, serverSessions } = await pair({ policy: 'redundant' }, (session) => {
    session.on('datagram', (data: Buffer) => {
      const n = data.readUInt32BE(0);
      seen.set(n, (seen.get(n) ?? 0) + 1);
    });
  });
  try {
    await until(() => serverSessions.length === 1, 2000);
    assert.equal(serverSessions[0].multipathPolicy, 'redundant');
    await until(() => client.paths.some((p) => p.state === 'standby'), 5000);
    const standby = client.paths.find((p) => p.state === 'standby')!;
    const before = standby.bytesSent;
    for (let i = 0; i < 200; i++) {
      const data = Buffer.alloc(100);
      data.writeUInt32BE(i, 0);
      client.sendDatagram(data);
      await new Promise((r) => setTimeout(r, 2));
    }
    await until(() => seen.size === 200, 3000);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      [...seen.values()].filter((n) => n !== 1),
      [],
      'each datagram delivered once',
    );
    const after = client.paths.find((p) => p.id === standby.id)?.bytesSent ?? 0;
    assert.ok(after - before > 200 * 100, `the second path carried the copies (${after - before} bytes)`);
    assert.ok((serverSessions[0].stats.drops['duplicate-datagram'] ?? 0) > 0, 'the receiver dropped copies');
  } finally {
    await client.close().catch(() => undefined);
    await server.close(0, '', 500);
  }
});

test('multipath options are validated, errors name the field', async () => {
  const cases: [unknown, string][] = [
    [{ policy: 'fastest' }, 'multipath.policy'],
    ['aggregate', 'multipath'],
    [{ policy: 'aggregate', lazy: {} }, 'multipath.lazy'],
    [{ lazy: { afterMs: -1 } }, 'multipath.lazy.afterMs'],
    [{ lazy: { afterBytes: 1.5 } }, 'multipath.lazy.afterBytes'],
    [{ lazy: { after: 1 } }, 'multipath.lazy.after'],
    [{ redundantMaxBytes: 0 }, 'multipath.redundantMaxBytes'],
    [{ polcy: 'aggregate' }, 'multipath.polcy'],
  ];
  for (const [multipath, field] of cases) {
    await assert.rejects(
      connect('127.0.0.1:9', { multipath: multipath as MultipathOptions }),
      (error: unknown) => error instanceof InvalidArgumentError && error.argument === field,
      field,
    );
  }
  await assert.rejects(
    connect('127.0.0.1:9', { transport: { multipath: { policy: 'x' as 'aggregate' } } }),
    (error: unknown) =>
      error instanceof InvalidArgumentError && error.argument === 'transport.multipath.policy',
  );
  assert.throws(
    () => createServer({ transport: { multipath: { lazy: { afterMs: 'soon' as unknown as number } } } }),
    (error: unknown) =>
      error instanceof InvalidArgumentError && error.argument === 'transport.multipath.lazy.afterMs',
  );
});
