/**
 * Issue 12: the handshake-flood limits an operator tunes (retryThreshold, retryDhPerSecond,
 * freshnessTableSize) reach the engine from createServer and from `braid serve` (flags and
 * config file), and bad values are refused by name.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeKey } from '../../src/crypto/identity.js';
import { connect, createServer, InvalidArgumentError, type Session } from '../../src/index.js';
import { makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';
import { isRetry } from '../../testing/harness/first-flights.js';
import { UdpRelay } from '../../testing/harness/udp-relay.js';

test('createServer retryDhPerSecond: a second IK handshake within the second gets a Retry', {
  timeout: 30_000,
}, async () => {
  for (const [options, expectRetry] of [
    [{}, false],
    [{ retryDhPerSecond: 1 }, true],
  ] as const) {
    const server = createServer({ authorizedKeys: 'any', ...options });
    await server.listen({ host: '127.0.0.1', port: 0 });
    const sessions: Session[] = [];
    try {
      const target = { host: '127.0.0.1', port: server.address()!.port };
      // The first handshake spends 5 DH (and stays half-open until the client confirms it).
      sessions.push(await connect(target, { serverKey: server.publicKey, timeout: 10_000 }));
      sessions.push(await connect(target, { serverKey: server.publicKey, timeout: 10_000 }));
      const retries = server.stats.retriesSent;
      assert.equal(retries > 0, expectRetry, `${JSON.stringify(options)}: ${retries} Retries sent`);
    } finally {
      await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
      await server.close();
    }
  }
});

test('createServer retryThreshold: one half-open handshake makes the next client prove its address', {
  timeout: 30_000,
}, async () => {
  const server = createServer({ authorizedKeys: 'any', retryThreshold: 1 });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const port = server.address()!.port;
  // The first client's INITIAL reaches the server, nothing after it: its session stays half-open.
  const relay = await UdpRelay.start({
    target: { host: '127.0.0.1', port },
    hook: (direction, _data, index) => (direction === 'toServer' && index > 0 ? 'drop' : 'pass'),
  });
  const stalled = connect(relay.address, { serverKey: server.publicKey, timeout: 3_000 }).catch(
    () => undefined,
  );
  let session: Session | undefined;
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(server.stats.retriesSent, 0);
    session = await connect({ host: '127.0.0.1', port }, { serverKey: server.publicKey, timeout: 10_000 });
    assert.ok(server.stats.retriesSent > 0, 'the second client got a Retry');
  } finally {
    await session?.close().catch(() => undefined);
    // IK completes on the client with the server's reply: the stalled client has a session too.
    await (await stalled)?.close().catch(() => undefined);
    await relay.close();
    await server.close();
  }
});

test('createServer refuses bad handshake limits by name', () => {
  for (const name of ['retryThreshold', 'retryDhPerSecond', 'freshnessTableSize']) {
    for (const value of [0, -1, 1.5, Number.NaN, '10']) {
      assert.throws(
        () => createServer({ [name]: value }),
        (error: unknown) => error instanceof InvalidArgumentError && error.argument === name,
        `${name}: ${String(value)}`,
      );
    }
    assert.doesNotThrow(() => createServer({ [name]: 64 }));
  }
});

test('braid serve takes the handshake limits from flags and config file keys', {
  timeout: 180_000,
}, async (t) => {
  const home = makeHome();
  await runBraid(['keygen'], home.env);
  const config = join(home.dir, 'serve.conf');
  writeFileSync(config, 'allow-any\nretry-dh-per-second 1\nfreshness-table-size 128\n');
  const server = await startServer(home, ['--config', config, '--no-control']);
  // Also when the test times out: a live daemon would keep the test process from exiting.
  t.after(() => server.daemon.stop());
  let retries = 0;
  const relay = await UdpRelay.start({
    target: { host: '127.0.0.1', port: server.port },
    hook: (direction, data) => {
      if (direction === 'toClient' && isRetry(data)) retries++;
      return 'pass';
    },
  });
  const sessions: Session[] = [];
  try {
    const options = { serverKey: decodeKey(server.publicKey), timeout: 10_000 };
    sessions.push(await connect(relay.address, options));
    assert.equal(retries, 0, 'the first handshake is answered without a Retry');
    sessions.push(await connect(relay.address, options));
    assert.ok(retries > 0, 'over 1 DH a second, the second handshake proves its address first');
  } finally {
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
    await relay.close();
    await server.daemon.stop();
  }
  for (const flag of ['--retry-threshold', '--retry-dh-per-second', '--freshness-table-size']) {
    const bad = await runBraid(['serve', '--allow-any', flag, '0'], home.env);
    assert.equal(bad.code, 2, flag);
    assert.match(bad.stderr, new RegExp(`'${flag}' needs a positive integer`));
  }
  home.cleanup();
});
