/**
 * Issue 12, item 3: a captured IK INITIAL, replayed later from another address, must not open a
 * session the application (or the log, status and metrics) sees. Two defences: the server
 * accepts each first-flight timestamp of a key once (docs/protocol.md §7.2.1), and it reports a
 * session only once the client has confirmed it with a fresh packet (§7.6).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { generateKeyPair } from '../../src/crypto/noise/index.js';
import { tai64n } from '../../src/engine/first-flight-freshness.js';
import { connect, createServer, type Session } from '../../src/index.js';
import { socketAddress } from '../../src/net/address.js';
import { Pair, SERVER_ADDR } from '../../testing/harness/engine-pair.js';
import { UdpRelay } from '../../testing/harness/udp-relay.js';

const ATTACKER = socketAddress('198.51.100.66', 5555);

/** A completed IK session whose first flight was captured on the way. */
function capturedSession(options: ConstructorParameters<typeof Pair>[0] = {}) {
  const pair = new Pair(options);
  const captured: Uint8Array[] = [];
  pair.hook = (from, data) => {
    if (from === 'client' && (data[0]! & 0xf0) === 0xc0) captured.push(data.slice());
    return undefined;
  };
  pair.handshake();
  pair.runUntil(() => (pair.serverConn as unknown as { wasConfirmed: boolean }).wasConfirmed);
  assert.equal(captured.length, 1);
  return { pair, initial: captured[0]! };
}

test('a replayed IK INITIAL is dropped before any handshake: its timestamp was already accepted', () => {
  const { pair, initial } = capturedSession();
  const connections = pair.server.connectionCount;
  const events = pair.serverEvents.length;
  pair.server.receive(initial, SERVER_ADDR, ATTACKER, pair.now + 5000);
  assert.equal(pair.server.connectionCount, connections, 'no server state for the replay');
  assert.equal(pair.server.stats.drops['initial-replayed'], 1);
  assert.equal(pair.server.pollTransmit(pair.now + 5000), undefined, 'nothing sent to the replayer');
  pair.step();
  assert.equal(pair.serverEvents.length, events);
});

test('a replay whose key was evicted from the table is answered, but never reported as a session', () => {
  const { pair, initial } = capturedSession({ server: { freshnessTableSize: 1 } });
  // Another key's first flight takes the table's only slot.
  pair.server.freshness.accept('another key', tai64n(Date.now()));
  const before = pair.server.connectionCount;
  pair.server.receive(initial, SERVER_ADDR, ATTACKER, pair.now);
  assert.equal(pair.server.connectionCount, before + 1, 'the server answers the replay (it cannot tell)');
  const incoming = pair.server.pollEndpointEvent();
  assert.equal(incoming?.type, 'incoming');
  const replay = incoming!.connection;
  const start = pair.now;
  for (let now = start; now <= start + 11_000; now += 500) {
    pair.server.onTimeout(now);
    while (pair.server.pollTransmit(now)) {}
  }
  const events = [];
  for (let e = replay.pollEvent(); e; e = replay.pollEvent()) events.push(e.type);
  assert.ok(!events.includes('handshake-complete'), `the replay reported ${events.join(', ')}`);
  assert.equal(replay.state, 'closed', 'released at the handshake timeout, not the idle timeout');
  pair.server.drainDirty();
  assert.equal(pair.server.handshakeLoad.halfOpen, 0);
});

test('API: a first flight replayed over UDP opens no second session and emits no second session event', async () => {
  const server = createServer({ authorizedKeys: 'any' });
  const sessions: Session[] = [];
  server.on('session', (s) => sessions.push(s));
  await server.listen({ host: '127.0.0.1', port: 0 });
  const target = server.address()!;
  let firstFlight: Buffer | undefined;
  const relay = await UdpRelay.start({
    target: { host: '127.0.0.1', port: target.port },
    hook: (direction, data) => {
      if (direction === 'toServer' && (data[0]! & 0xf0) === 0xc0) firstFlight ??= Buffer.from(data);
      return 'pass';
    },
  });
  const attacker = dgram.createSocket('udp4');
  try {
    const client = await connect(`127.0.0.1:${relay.address.port}`, {
      serverKey: server.publicKey,
      staticKey: generateKeyPair(),
    });
    while (sessions.length === 0) await new Promise((r) => setTimeout(r, 10));
    // Let the genuine handshake settle (confirmed, its first-flight routing entry released).
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(firstFlight, 'the relay saw the first flight');
    attacker.bind(0, '127.0.0.1');
    await once(attacker, 'listening');
    for (let i = 0; i < 3; i++) attacker.send(firstFlight, target.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sessions.length, 1, 'one session: the genuine one');
    assert.equal(server.sessions.size, 1);
    await client.close();
  } finally {
    attacker.close();
    await relay.close();
    await server.close();
  }
});
