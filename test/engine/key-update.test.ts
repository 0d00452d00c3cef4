/**
 * Key updates at the engine (docs/protocol.md §6.4): the interval at which an endpoint starts
 * one by itself, and KEY_UPDATE_ERROR for a peer that updates again before its previous phase
 * was acknowledged.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KeySchedule } from '../../src/crypto/key-schedule.js';
import { resolveTransportConfig } from '../../src/engine/config.js';
import type { EngineConnection } from '../../src/engine/types.js';
import { TransportError } from '../../src/wire/errors.js';
import { CLIENT_ADDR, Pair, SERVER_ADDR, seededRandom } from '../../testing/harness/engine-pair.js';

test('the default key-update interval is 2^22 packets per phase', () => {
  assert.equal(resolveTransportConfig({}).keyUpdateInterval, 2 ** 22);
});

test('a server sending bulk data initiates key updates at its interval, unprompted', () => {
  const interval = 64;
  const pair = new Pair({ transport: { keyUpdateInterval: interval } });
  // The client never initiates: every update counted below is the server's.
  pair.handshake({ clientTransport: { keyUpdateInterval: 2 ** 40 } });
  const id = pair.clientConn.openStream(true)!;
  pair.clientConn.writeStream(id, new Uint8Array([1]));
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'stream-opened'));
  const payload = seededRandom(3)(512 * 1024);
  let offset = 0;
  const sink: Uint8Array[] = [];
  let fin = false;
  pair.runUntil(() => {
    while (offset < payload.length) {
      const n = pair.serverConn.writeStream(id, payload.subarray(offset, offset + 65536));
      if (n === 0) break;
      offset += n;
      if (offset === payload.length) pair.serverConn.finishStream(id);
    }
    if (!fin) fin = Pair.drain(pair.clientConn, id, sink);
    return fin;
  });
  assert.equal(Buffer.concat(sink).length, payload.length);
  const sent = pair.serverConn.stats.packetsSent;
  const updates = pair.serverConn.stats.keyUpdates;
  // One update per `interval` packets, plus at most a round trip's packets waiting for the ACK
  // that allows the next one.
  assert.ok(updates >= Math.floor(sent / (2 * interval)), `${updates} updates in ${sent} packets`);
  assert.ok(updates <= Math.ceil(sent / interval), `${updates} updates in ${sent} packets`);
  assert.equal(pair.clientConn.stats.keyUpdates, updates, 'the client followed each one');
});

/** The key schedule inside a connection, to make it misbehave as a faulty peer would. */
function keysOf(conn: EngineConnection): KeySchedule {
  return (conn as unknown as { builder: { keys: KeySchedule } }).builder.keys;
}

test('a second key update before the first was acknowledged closes with KEY_UPDATE_ERROR', () => {
  const pair = new Pair();
  pair.handshake();
  const client = pair.clientConn;
  const id = client.openStream(true)!;
  client.writeStream(id, new Uint8Array([1]));
  // Settle: each side has acknowledged the other's phase-0 packets.
  pair.runUntil(() => pair.now > 500);
  const keys = keysOf(client);
  const packetIn = (phaseChange: () => void) => {
    phaseChange();
    client.writeStream(id, new Uint8Array([2]));
    const t = pair.client.pollTransmit(pair.now);
    assert.ok(t);
    return t.data.slice();
  };
  // A legitimate update (phase 0 was acknowledged), then one more at once, with no ACK between.
  const first = packetIn(() => keys.initiateUpdate());
  const second = packetIn(() => {
    keys.confirmCurrentPhase();
    keys.initiateUpdate();
  });
  pair.server.receive(first, SERVER_ADDR, CLIENT_ADDR, pair.now);
  assert.equal(pair.serverConn.state, 'established', 'the first update is followed');
  pair.server.receive(second, SERVER_ADDR, CLIENT_ADDR, pair.now);
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'closed'));
  const closed = pair.serverEvents.find((e) => e.type === 'closed');
  assert.ok(closed?.type === 'closed');
  assert.equal(closed.info.code, TransportError.KEY_UPDATE_ERROR);
  assert.equal(closed.info.source, 'protocol');
});
