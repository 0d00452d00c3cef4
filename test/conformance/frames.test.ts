/**
 * docs/protocol.md §4.7, §7.6 and §9: packets and frames a receiver must refuse, each sent by the peer in a
 * packet sealed with the session's real keys (testing/harness/forged-packets.ts), so the
 * receiver's own rule is what closes the session.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CloseInfo } from '../../src/engine/types.js';
import { TransportError } from '../../src/wire/errors.js';
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
