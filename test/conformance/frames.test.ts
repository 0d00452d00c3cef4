/**
 * docs/protocol.md §4.7, §7.6 and §9: packets and frames a receiver must refuse, each sent by the peer in a
 * packet sealed with the session's real keys (testing/harness/forged-packets.ts), so the
 * receiver's own rule is what closes the session.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CloseInfo } from '../../src/engine/types.js';
import { TransportError } from '../../src/wire/errors.js';
import { frameSize, largestDatagramData } from '../../src/wire/frame-codec.js';
import type { Frame } from '../../src/wire/frames.js';
import { assertProtocolClose, deliverForged, establishedPair } from '../../testing/harness/forged-packets.js';

/** The receiver closed with PROTOCOL_VIOLATION, for the reason `why` names. */
function assertViolation(info: CloseInfo | undefined, why: RegExp): void {
  assertProtocolClose(info, TransportError.PROTOCOL_VIOLATION, why);
}

test('§4.7 an authenticated packet without frames closes with PROTOCOL_VIOLATION', () => {
  const pair = establishedPair();
  assertViolation(deliverForged(pair, 'client', []), /without frames/);
});

test('§4.7 a packet of PADDING only is not empty: the session stays up', () => {
  const pair = establishedPair();
  assert.equal(deliverForged(pair, 'client', [{ type: 'padding', length: 4 }], 500), undefined);
  assert.equal(pair.serverConn.state, 'established');
});

test('§7.6 HANDSHAKE_DONE received by a server closes with PROTOCOL_VIOLATION', () => {
  const pair = establishedPair();
  assertViolation(deliverForged(pair, 'client', [{ type: 'handshake_done' }]), /HANDSHAKE_DONE/);
});

test('§7.6 HANDSHAKE_DONE received again by a client is harmless', () => {
  const pair = establishedPair();
  assert.equal(deliverForged(pair, 'server', [{ type: 'handshake_done' }], 500), undefined);
  assert.equal(pair.clientConn.state, 'established');
});

test('§9.3 an ACK for a path id never used closes with PROTOCOL_VIOLATION', () => {
  const pair = establishedPair();
  const ack: Frame = { type: 'ack', pathId: 7, ackDelayMicros: 0, ranges: [{ smallest: 0, largest: 0 }] };
  assertViolation(deliverForged(pair, 'client', [ack]), /unknown path/);
});

test('§9.6 NEW_TOKEN from a client closes with PROTOCOL_VIOLATION', () => {
  const pair = establishedPair();
  const token = { type: 'new_token', token: new Uint8Array([1, 2, 3]) } as const;
  assertViolation(deliverForged(pair, 'client', [token]), /NEW_TOKEN/);
});

test('§9.6 NEW_TOKEN from a server is accepted (and ignored) by a client', () => {
  const pair = establishedPair();
  const token = { type: 'new_token', token: new Uint8Array([1, 2, 3]) } as const;
  assert.equal(deliverForged(pair, 'server', [token], 500), undefined);
  assert.equal(pair.clientConn.state, 'established');
});

test('§9.14 DATAGRAM to a receiver that advertised max_datagram_frame_size 0: PROTOCOL_VIOLATION', () => {
  const pair = establishedPair({ transport: { maxDatagramFrameSize: 0 } });
  assertViolation(deliverForged(pair, 'client', [{ type: 'datagram', data: new Uint8Array(1) }]), /DATAGRAM/);
});

test('§9.14 a DATAGRAM frame larger than max_datagram_frame_size: PROTOCOL_VIOLATION', () => {
  const max = 100;
  // Within the limit: type (1) + length (1) + 98 bytes = 100.
  const fits = establishedPair({ transport: { maxDatagramFrameSize: max } });
  assert.equal(
    deliverForged(fits, 'client', [{ type: 'datagram', data: new Uint8Array(max - 2) }], 500),
    undefined,
  );
  assert.ok(
    fits.serverEvents.some((e) => e.type === 'datagram'),
    'the datagram was delivered',
  );
  // 100 bytes of data make a frame of at least 101 bytes, whatever its encoding.
  const over = establishedPair({ transport: { maxDatagramFrameSize: max } });
  assertViolation(
    deliverForged(over, 'client', [{ type: 'datagram', data: new Uint8Array(max) }]),
    /DATAGRAM/,
  );
});

test('§9.14 a sender sizes DATAGRAM frames, type and length included, within the peer limit', () => {
  // [advertised frame limit, the most data one frame with a length field carries]
  const cases: [number, number][] = [
    [0, 0],
    [2, 0],
    [3, 1],
    [65, 63],
    [66, 63],
    [67, 64],
    [100, 97],
  ];
  for (const [limit, data] of cases) {
    assert.equal(largestDatagramData(limit), data, `limit ${limit}`);
    assert.ok(data === 0 || frameSize({ type: 'datagram', data: new Uint8Array(data) }) <= limit);
    assert.ok(frameSize({ type: 'datagram', data: new Uint8Array(data + 1) }) > limit);
  }
  const pair = establishedPair({ transport: { maxDatagramFrameSize: 100 } });
  assert.equal(pair.clientConn.maxDatagramSize, 97);
  assert.equal(pair.clientConn.sendDatagram(new Uint8Array(98)), false, 'a frame of 101 bytes is refused');
  assert.equal(pair.clientConn.sendDatagram(new Uint8Array(97)), true);
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'datagram'));
  assert.equal(pair.serverConn.state, 'established');
});
