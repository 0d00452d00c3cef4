// A suspended client's resumption must not aim its traffic at a third party. The server's reply
// to a RESUME is authenticated, but its source address proves nothing: a malicious server (or
// an on-path attacker redirecting the reply) can send it from a victim's address. The client
// resumes, yet sends that address at most 3× what came from it until the address answers a
// challenge (protocol.md §15.3); the session then resumes on the server's real address.
// Without that rule the client sent the victim about 37 KB here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineConnection } from '../../src/engine/types.js';
import { type SocketAddress, socketAddress } from '../../src/net/address.js';
import { decodeLongHeader } from '../../src/wire/packet-codec.js';
import { Pair, SERVER_ADDR } from '../../testing/harness/engine-pair.js';

const VICTIM = socketAddress('198.51.100.7', 8443);
const keyOf = (a: SocketAddress) => `${a.address}:${a.port}`;

/** A suspended client's RESUME (long header type 1). */
const isResume = (data: Uint8Array) => (data[0]! & 0xf0) === 0xd0;

/** The server's reply to a RESUME: a HANDSHAKE packet carrying IKpsk2 message 1. */
function isResumeReply(data: Uint8Array): boolean {
  if ((data[0]! & 0x80) === 0) return false;
  try {
    const packet = decodeLongHeader(data);
    return packet.kind === 'handshake' && packet.messageIndex === 1;
  } catch {
    return false;
  }
}

const MINUTE = 60_000;
/** protocol.md §11.2: what an address that never validated may receive from one session a minute. */
const UNVERIFIED_BUDGET = 3 * 1200;
/** How long the attacker keeps the server's real address silent after the spoofed reply. */
const ATTACK = 10_000;
/** The application uploads at this rate (bytes per simulated second), so there is always data to send. */
const UPLOAD_RATE = 200_000;

test("a RESUME reply from a spoofed source: the victim gets ≤ 3× the reply, the session resumes on the server's address", () => {
  const pair = new Pair({ transport: { idleTimeout: 3000 } });
  pair.handshake();
  pair.runUntil(() => pair.now > 100);
  const client = pair.clientConn as EngineConnection;
  const stream = client.openStream(true)!;
  const chunk = new Uint8Array(4096);
  let written = 0;
  let delivered = 0;
  const sink: Uint8Array[] = [];
  const pump = () => {
    while (written < (pair.now / 1000) * UPLOAD_RATE) {
      const n = client.writeStream(stream, chunk);
      written += n;
      if (n < chunk.length) break;
    }
    Pair.drain(pair.serverConn, stream, sink);
    for (const c of sink) delivered += c.length;
    sink.length = 0;
  };
  const runFor = (ms: number) => {
    const until = pair.now + ms;
    pair.runUntil(() => {
      pump();
      return pair.now >= until;
    }, ms + 1000);
  };

  // 'down': nothing gets through. 'spoof': the server's first RESUME reply reaches the client
  // from the victim's address and nothing else of the server's does (a malicious server, or an
  // on-path attacker, aiming the client at the victim). 'up': the network works again.
  let phase: 'up' | 'down' | 'spoof' = 'up';
  const sentTo = new Map<string, number>();
  let fromVictim = 0;
  let resumesToVictim = 0;
  const wire = pair as unknown as {
    queue: {
      at: number;
      to: 'client' | 'server';
      data: Uint8Array;
      from: SocketAddress;
      dest: SocketAddress;
    }[];
  };
  pair.hook = (from, data, now, transmit) => {
    if (phase === 'down') return false;
    if (from === 'client') {
      const to = keyOf(transmit.remote);
      sentTo.set(to, (sentTo.get(to) ?? 0) + data.length);
      if (to === keyOf(VICTIM) && isResume(data)) resumesToVictim += data.length;
      // The victim never answers.
      return to === keyOf(VICTIM) ? false : undefined;
    }
    if (phase !== 'spoof') return undefined;
    if (fromVictim === 0 && isResumeReply(data)) {
      fromVictim += data.length;
      wire.queue.push({
        at: now + pair.latency,
        to: 'client',
        data: data.slice(),
        from: VICTIM,
        dest: transmit.remote,
      });
    }
    return false;
  };

  runFor(300);
  phase = 'down';
  pair.runUntil(() => {
    pump();
    return client.suspended && pair.serverConn.suspended;
  }, 60_000);
  phase = 'spoof';
  pair.runUntil(() => {
    pump();
    return fromVictim > 0;
  }, 60_000);
  runFor(ATTACK);
  phase = 'up';
  runFor(20_000);

  const toVictim = sentTo.get(keyOf(VICTIM)) ?? 0;
  const sessionToVictim = toVictim - resumesToVictim;
  console.log(
    `victim: ${sessionToVictim} bytes of the session and ${resumesToVictim} of RESUMEs sent, ${fromVictim} received`,
  );
  assert.ok(
    sessionToVictim <= 3 * fromVictim,
    `${sessionToVictim} bytes of the session to the victim, which sent ${fromVictim} (bound ${3 * fromVictim})`,
  );
  // Once suspended again, the client may try the address with RESUMEs, within the budget of
  // an address that never validated (protocol.md §11.2), as it would any address it heard of.
  const minutes = Math.ceil((pair.now - 100) / MINUTE);
  assert.ok(
    resumesToVictim <= UNVERIFIED_BUDGET * minutes,
    `${resumesToVictim} bytes of RESUMEs to the victim (bound ${UNVERIFIED_BUDGET * minutes})`,
  );
  assert.equal(client.suspended, false, 'the session resumed');
  const active = client.paths.find((p) => p.state === 'active');
  assert.equal(
    active && keyOf(active.remote),
    keyOf(SERVER_ADDR),
    "the client sends to the server's own address",
  );
  assert.ok(active?.validated, 'there, validated');
  // And the upload goes on there.
  const before = delivered;
  runFor(2000);
  assert.ok(delivered > before + 200_000, `${delivered - before} bytes uploaded in 2 s after the attack`);
});
