// Short-header reserved bits (docs/protocol.md §4.7): a sender sets them to 0; an authenticated
// packet with either bit set closes the session with PROTOCOL_VIOLATION. The bits are covered
// by the AEAD, so a bit flipped in transit makes the packet undecryptable and it is dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TransportError } from '../../src/wire/errors.js';
import { Pair } from '../../testing/harness/engine-pair.js';

/** The client's packet builder, reached to set header bits before the packet is sealed. */
interface BuilderInternals {
  builder: { finish(packet: { buf: Uint8Array }, ...rest: unknown[]): unknown };
}

function establishedPair(): Pair {
  const pair = new Pair();
  pair.handshake();
  pair.runUntil(() => pair.clientEvents.length > 0 && pair.serverConn.state === 'established');
  return pair;
}

function runFor(pair: Pair, ms: number): void {
  const end = pair.now + ms;
  while (pair.now < end && pair.step());
}

for (const bits of [0x08, 0x10]) {
  test(`a sealed packet with reserved bit 0x${bits.toString(16)} set closes with PROTOCOL_VIOLATION`, () => {
    const pair = establishedPair();
    const { builder } = pair.clientConn as unknown as BuilderInternals;
    const finish = builder.finish.bind(builder);
    let marked = 0;
    // The bit is set in the plaintext header, so the AEAD authenticates it and header
    // protection masks it, exactly as a peer that sets it would send.
    builder.finish = (packet, ...rest) => {
      if (marked === 0) {
        packet.buf[0] |= bits;
        marked++;
      }
      return finish(packet, ...rest);
    };
    pair.clientConn.sendDatagram(new Uint8Array(8));
    runFor(pair, 2_000);
    assert.equal(marked, 1);
    const closed = pair.serverEvents.find((e) => e.type === 'closed');
    assert.ok(closed?.type === 'closed', 'the server closed the session');
    assert.equal(closed.info.code, TransportError.PROTOCOL_VIOLATION, closed.info.reason);
    assert.equal(closed.info.source, 'protocol');
    assert.match(closed.info.reason, /reserved/);
  });
}

test('a reserved bit flipped in transit is dropped as undecryptable; the session lives on', () => {
  const pair = establishedPair();
  let flipped = 0;
  pair.hook = (from, data) => {
    if (from !== 'client' || (data[0] & 0x80) !== 0 || flipped > 0) return undefined;
    flipped++;
    const copy = Uint8Array.from(data);
    copy[0] ^= 0x08;
    return copy;
  };
  pair.clientConn.sendDatagram(new Uint8Array(8));
  runFor(pair, 2_000);
  assert.equal(flipped, 1);
  assert.equal(pair.serverConn.state, 'established');
  assert.equal(pair.clientConn.state, 'established');
  assert.ok(!pair.serverEvents.some((e) => e.type === 'closed'));
});
