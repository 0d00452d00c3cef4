// Multihoming through the public API: a server on two loopback addresses, a client on two
// others (connect's localAddresses), a warm standby, and a path blackholed by the opt-in
// FaultInjector: the session moves and the stream's bytes all arrive.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { test } from 'node:test';
import { connect } from '../../src/api/connect.js';
import { InvalidArgumentError } from '../../src/api/errors.js';
import { createServer } from '../../src/api/server.js';
import type { Session } from '../../src/api/session.js';
import type { FaultInjector } from '../../src/endpoint/udp-endpoint.js';
import { until } from '../../testing/harness/api-pair.js';

test('a client bound to two addresses keeps a standby and fails over when the active pair goes dark', async () => {
  let dark: { local: string; remote: string } | undefined;
  const drops = { in: 0, out: 0 };
  const faultInjector: FaultInjector = (direction, local, remote) => {
    const drop = dark !== undefined && local.address === dark.local && remote.address === dark.remote;
    if (drop) drops[direction]++;
    return drop;
  };
  const received = createHash('sha256');
  let receivedBytes = 0;
  const server = createServer({}, (session) => {
    session.on('stream', (stream) => {
      stream.on('data', (c: Buffer) => {
        received.update(c);
        receivedBytes += c.length;
      });
      stream.on('end', () => stream.end());
    });
  });
  await server.listen({ hosts: ['127.0.0.1', '127.0.0.2'], port: 0 });
  const port = server.address()!.port;
  assert.deepEqual(
    server.addresses().map((a) => a.address),
    ['127.0.0.1', '127.0.0.2'],
  );
  let client: Session | undefined;
  let after = () => {};
  try {
    client = await connect(
      { host: '127.0.0.1', port },
      { localAddresses: ['127.0.0.3', '127.0.0.4'], faultInjector, timeout: 5000 },
    );
    const session = client;
    const failovers: string[] = [];
    session.on('failover', (from, to, reason) =>
      failovers.push(
        `${from.local.address}>${from.remote.address} ${to.local.address}>${to.remote.address} ${reason}`,
      ),
    );
    const published: unknown[] = [];
    const onPublish = (message: unknown) => published.push(message);
    diagnosticsChannel.subscribe('braid:path:failover', onPublish);
    after = () => diagnosticsChannel.unsubscribe('braid:path:failover', onPublish);
    assert.equal(session.localAddress?.address, '127.0.0.3', 'starts from the first local address');
    // The server advertised its second address; the standby uses the other local and remote address.
    await until(() => session.paths.some((p) => p.state === 'standby'), 5000);
    const standby = session.paths.find((p) => p.state === 'standby')!;
    assert.equal(standby.local.address, '127.0.0.4');
    assert.equal(standby.remote.address, '127.0.0.2');

    const stream = await session.openStream();
    const sent = createHash('sha256');
    const total = 2 * 1024 * 1024;
    let written = 0;
    while (written < total) {
      if (written === total / 2) dark = { local: '127.0.0.3', remote: '127.0.0.1' };
      const chunk = randomBytes(64 * 1024);
      sent.update(chunk);
      written += chunk.length;
      if (!stream.write(chunk)) await once(stream, 'drain');
    }
    stream.end();
    stream.resume();
    await once(stream, 'end');
    assert.equal(receivedBytes, total);
    assert.equal(received.digest('hex'), sent.digest('hex'));
    // Off the dark pair: to the standby (.4 → .2) or whichever other pair answered first on a
    // busy host (.3 → .2 and .4 → .1 work too).
    const active = session.paths.find((p) => p.state === 'active');
    const pair = (p: { local: { address: string }; remote: { address: string } } | undefined) =>
      `${p?.local.address}>${p?.remote.address}`;
    assert.notEqual(pair(active), '127.0.0.3>127.0.0.1', 'moved off the dark pair');
    assert.ok(drops.out > 0, 'the injector dropped outgoing datagrams of the dark pair');
    assert.ok(
      failovers.some((f) => f.startsWith('127.0.0.3>127.0.0.1 ') && f.endsWith(' unresponsive')),
      `a typed 'failover' event named the move: ${failovers.join(', ')}`,
    );
    const message = published.find((m) => (m as { session: unknown }).session === session) as
      | { reason: string; from: Parameters<typeof pair>[0]; to: Parameters<typeof pair>[0] }
      | undefined;
    assert.equal(message?.reason, 'unresponsive', 'braid:path:failover published it');
    assert.equal(pair(message?.from), '127.0.0.3>127.0.0.1');
  } finally {
    after();
    await client?.close().catch(() => undefined);
    await server.close(0, '', 500);
  }
});

test('connect validates localAddresses and faultInjector', async () => {
  await assert.rejects(connect('127.0.0.1:9', { localAddresses: [] }), InvalidArgumentError);
  await assert.rejects(connect('127.0.0.1:9', { localAddresses: ['nope'] }), InvalidArgumentError);
  // Both families may be configured (a session can move between them), but one must fit the target.
  await assert.rejects(connect('127.0.0.1:9', { localAddresses: ['::1'] }), {
    name: 'InvalidArgumentError',
    argument: 'localAddresses',
  });
  await assert.rejects(
    connect('127.0.0.1:9', { faultInjector: 'drop' as unknown as FaultInjector }),
    InvalidArgumentError,
  );
  assert.throws(() => createServer({ faultInjector: 1 as unknown as FaultInjector }), InvalidArgumentError);
});
