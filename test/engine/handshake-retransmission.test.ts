/**
 * Handshake retransmission (docs/protocol.md §7.5): the schedule of a server's HANDSHAKE(1), and
 * what an IK client does with a duplicate of it (it must not reach its Noise state, which has
 * already read message 1).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLIENT_ADDR, Pair, SERVER_ADDR } from '../../testing/harness/engine-pair.js';

const HANDSHAKE_FIRST_BYTE = 0xe0;
const INITIAL_FIRST_BYTE = 0xc0;

test('IK: the server resends HANDSHAKE(1) at +0.4, 1.2, 2.8 s, then every 2 s, until confirmed', () => {
  const pair = new Pair({ latency: 10 });
  const sentAt: number[] = [];
  let initials = 0;
  pair.hook = (from, data, now) => {
    if (from === 'server' && data[0] === HANDSHAKE_FIRST_BYTE) sentAt.push(now);
    // Only the client's first INITIAL arrives: the server hears nothing more from it.
    if (from === 'client') return data[0] === INITIAL_FIRST_BYTE && initials++ === 0;
    return false;
  };
  pair.connect();
  pair.runUntil(() => pair.now >= 9_000);
  const offsets = sentAt.map((t) => t - sentAt[0]);
  assert.deepEqual(offsets, [0, 400, 1200, 2800, 4800, 6800, 8800]);
});

test('IK: a duplicate HANDSHAKE(1) after the handshake is ignored and the session works', () => {
  const pair = new Pair();
  let handshakeOne: Uint8Array | undefined;
  pair.hook = (from, data) => {
    if (from === 'server' && data[0] === HANDSHAKE_FIRST_BYTE) handshakeOne ??= data.slice();
    return undefined;
  };
  pair.handshake();
  assert.ok(handshakeOne, 'the server sent HANDSHAKE(1)');
  const client = pair.clientConn;
  const dropsBefore = client.stats.drops['handshake-unexpected'] ?? 0;
  // The copy arrives twice, as a retransmission crossing the client's first packets would.
  pair.client.receive(handshakeOne.slice(), CLIENT_ADDR, SERVER_ADDR, pair.now);
  pair.client.receive(handshakeOne.slice(), CLIENT_ADDR, SERVER_ADDR, pair.now);
  assert.equal(client.stats.drops['handshake-unexpected'], dropsBefore + 2);
  assert.equal(client.state, 'established');
  // A stream round trip still works: the Noise state and keys are untouched.
  const id = client.openStream(true)!;
  client.writeStream(id, new TextEncoder().encode('ping'));
  client.finishStream(id);
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'stream-readable'));
  const got: Uint8Array[] = [];
  pair.runUntil(() => Pair.drain(pair.serverConn, id, got));
  assert.equal(Buffer.concat(got).toString(), 'ping');
  pair.serverConn.writeStream(id, new TextEncoder().encode('pong'));
  pair.serverConn.finishStream(id);
  const back: Uint8Array[] = [];
  pair.runUntil(() => Pair.drain(client, id, back));
  assert.equal(Buffer.concat(back).toString(), 'pong');
  assert.ok(!pair.clientEvents.some((e) => e.type === 'closed'));
});
