// Off-path and on-path attackers against the stateless parts of the protocol: forged
// stateless resets aimed at a client, and forged RESUMEs used as an amplifier.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Connection } from '../../src/engine/connection/connection.js';
import { RESUME_PATTERN } from '../../src/engine/handshake.js';
import { socketAddress } from '../../src/net/address.js';
import { BRAID_VERSION_1 } from '../../src/wire/packet.js';
import { encodeResume } from '../../src/wire/packet-codec.js';
import { CLIENT_ADDR, Pair, SERVER_ADDR } from '../../testing/harness/engine-pair.js';

function established(): Pair {
  const pair = new Pair();
  pair.handshake();
  pair.runUntil(() => pair.serverConn.state === 'established' && pair.clientEvents.length > 0);
  return pair;
}

/** A datagram shaped like a stateless reset (short header, ≥ 43 bytes) whose token is a guess. */
function forgedReset(dcid: Uint8Array | undefined, length: number): Uint8Array {
  const out = randomBytes(length);
  out[0] = (out[0] & 0x3f) | 0x40;
  if (dcid) out.set(dcid, 1);
  return out;
}

test('forged stateless resets aimed at a client, blind or with its CIDs, never close it', () => {
  const pair = established();
  const client = pair.clientConn as Connection;
  const cids = client.localConnectionIds;
  assert.ok(cids.length > 0);
  for (let i = 0; i < 5000; i++) {
    // An on-path attacker knows the CIDs the server sends to; an off-path one guesses.
    const dcid = i % 2 === 0 ? cids[i % cids.length] : undefined;
    pair.client.receive(forgedReset(dcid, 43 + (i % 100)), CLIENT_ADDR, SERVER_ADDR, pair.now);
  }
  pair.runUntil(() => pair.now > 1000);
  assert.equal(pair.clientConn.state, 'established');
  assert.ok(!pair.clientEvents.some((e) => e.type === 'closed'), 'no close reported');
  // The session still carries data both ways.
  const id = pair.clientConn.openStream(true)!;
  pair.clientConn.writeStream(id, new Uint8Array([1, 2, 3]));
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'stream-opened'));
});

test('forged RESUMEs from spoofed addresses: each answer is smaller than its trigger, and rate-limited', () => {
  const pair = established();
  const sent = new Map<string, number>();
  let received = 0;
  const victims = 200;
  for (let i = 0; i < 2000; i++) {
    const victim = socketAddress(`198.51.100.${1 + (i % victims)}`, 5000 + (i % victims));
    const datagram = encodeResume({
      kind: 'resume',
      version: BRAID_VERSION_1,
      dcid: randomBytes(8),
      scid: randomBytes(8),
      token: randomBytes(16),
      pattern: RESUME_PATTERN,
      payload: randomBytes(200),
    });
    received += datagram.length;
    pair.server.receive(datagram, SERVER_ADDR, victim, pair.now);
    for (let t = pair.server.pollTransmit(pair.now); t; t = pair.server.pollTransmit(pair.now)) {
      if (t.remote.port === CLIENT_ADDR.port) continue;
      assert.ok(
        t.data.length < datagram.length,
        `a ${t.data.length}-byte answer to ${datagram.length} bytes`,
      );
      const key = `${t.remote.address}:${t.remote.port}`;
      sent.set(key, (sent.get(key) ?? 0) + t.data.length);
    }
  }
  const total = [...sent.values()].reduce((a, b) => a + b, 0);
  const answers = total / 43;
  assert.ok(answers <= 100, `${answers} refusals in one second (limit 100)`);
  assert.ok(total <= received / 20, `${total} bytes sent for ${received} received`);
  const drops = pair.server.stats.drops;
  assert.equal((drops['resume-refusal-limited'] ?? 0) + answers, 2000, JSON.stringify(drops));
  assert.equal(pair.serverConn.state, 'established', 'the real session is untouched');
});
