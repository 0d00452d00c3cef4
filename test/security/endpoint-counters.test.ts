/**
 * Issue 12, item 9: the endpoint's drop counters reach --metrics (braid_drops_total{reason}) and
 * `braid status`; stateless resets are rate-limited; a spoofed, unconfirmed session is not
 * counted as a session.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { renderStatus } from '../../src/cli/commands/status.js';
import { RttHistogram, renderMetrics } from '../../src/cli/observe/metrics.js';
import { SessionTracker } from '../../src/cli/observe/tracker.js';
import { generateKeyPair } from '../../src/crypto/noise/index.js';
import { Endpoint } from '../../src/engine/endpoint.js';
import { createServer } from '../../src/index.js';
import { socketAddress } from '../../src/net/address.js';
import { firstFlight, junkIkInitial } from '../../testing/harness/first-flights.js';

const random = (n: number) => new Uint8Array(randomBytes(n));

test('stateless resets are rate-limited: a flood of unroutable packets gets at most 100 a second', () => {
  const server = new Endpoint({ staticKey: generateKeyPair(), server: { authorizedKeys: 'any' } });
  const local = socketAddress('203.0.113.1', 4433);
  let resets = 0;
  for (let i = 0; i < 1000; i++) {
    const datagram = random(60);
    datagram[0] = 0x40 | (datagram[0]! & 0x3f); // short header, fixed bit set
    server.receive(datagram, local, socketAddress('192.0.2.1', 1000 + i), 0);
    while (server.pollTransmit(0)) resets++;
  }
  assert.equal(resets, 100);
  assert.equal(server.stats.statelessResetsSent, 100);
  assert.equal(server.stats.drops['stateless-reset-limited'], 900);
  // The bucket refills with time: half a second later, 50 more.
  for (let i = 0; i < 100; i++) {
    const datagram = random(60);
    datagram[0] = 0x40;
    server.receive(datagram, local, socketAddress('192.0.2.1', 3000 + i), 500);
    while (server.pollTransmit(500)) resets++;
  }
  assert.equal(resets, 150);
});

test('endpoint drops reach the metrics and status; an unconfirmed session is not a session', async () => {
  const tracker = new SessionTracker('serve');
  const server = createServer({ authorizedKeys: 'any' });
  tracker.watchEndpointDrops(() => server.stats.drops);
  await server.listen({ host: '127.0.0.1', port: 0 });
  const port = server.address()!.port;
  const sender = dgram.createSocket('udp4');
  try {
    sender.bind(0, '127.0.0.1');
    await once(sender, 'listening');
    for (let i = 0; i < 20; i++) sender.send(junkIkInitial(random, 3), port, '127.0.0.1');
    // A genuine first flight from a client that never answers (a spoofed source, in effect).
    const here = socketAddress('127.0.0.1', sender.address().port);
    sender.send(
      firstFlight(socketAddress('127.0.0.1', port), here, { serverKey: server.publicKey }),
      port,
      '127.0.0.1',
    );
    for (let i = 0; i < 100 && (server.stats.drops['initial-bad-mac'] ?? 0) < 20; i++)
      await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    const totals = tracker.totals();
    assert.equal(totals.drops['initial-bad-mac'], 20);
    const metrics = renderMetrics(tracker, new RttHistogram());
    assert.match(metrics, /braid_drops_total\{reason="initial-bad-mac"\} 20/);
    assert.equal(totals.sessionsStarted, 0, 'the unconfirmed session is not counted');
    assert.equal(tracker.sessions().length, 0);
    assert.match(metrics, /braid_sessions 0/);
    const status = renderStatus([
      { command: 'serve', pid: 1, uptimeMs: 1000, control: 'x.sock', sessions: tracker.sessions(), totals },
    ] as unknown as Parameters<typeof renderStatus>[0]);
    assert.match(status, /dropped: initial-bad-mac 20/);
  } finally {
    sender.close();
    tracker.close();
    await server.close(0, '', 100);
  }
});
