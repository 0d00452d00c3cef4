/**
 * docs/protocol.md §7.4: the connection IDs the transport parameters authenticate. A peer's
 * parameters are changed as it encodes them, so they travel inside its real, encrypted Noise
 * message; the receiver's check is what refuses them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionParams } from '../../src/engine/connection/session-params.js';
import type { SessionRole } from '../../src/engine/types.js';
import { TransportError } from '../../src/wire/errors.js';
import type { TransportParameters } from '../../src/wire/transport-params.js';
import { Pair } from '../../testing/harness/engine-pair.js';
import { assertProtocolClose } from '../../testing/harness/forged-packets.js';

type Params = Partial<TransportParameters>;
interface ParamsInternals {
  o: { role: SessionRole };
  own(ids: unknown): Params;
}

/** Runs `body` while every `role` session rewrites its own parameters with `change`. */
function withOwnParams(role: SessionRole, change: (params: Params) => void, body: () => void): void {
  const proto = SessionParams.prototype as unknown as ParamsInternals;
  const own = proto.own;
  proto.own = function (this: ParamsInternals, ids: unknown): Params {
    const params = own.call(this, ids);
    if (this.o.role === role) change(params);
    return params;
  };
  try {
    body();
  } finally {
    proto.own = own;
  }
}

/** The client's close once the server's HANDSHAKE(1) was read, or undefined if none came. */
function clientCloseAgainst(change: (params: Params) => void, pair = new Pair()) {
  withOwnParams('server', change, () => {
    pair.connect();
    for (let i = 0; i < 50 && !pair.clientEvents.some((e) => e.type === 'closed') && pair.step(); i++);
  });
  assert.ok(!pair.clientEvents.some((e) => e.type === 'handshake-complete'), 'no handshake completed');
  const closed = pair.clientEvents.find((e) => e.type === 'closed');
  return closed?.type === 'closed' ? closed.info : undefined;
}

const otherCid = () => new Uint8Array(8).fill(0xee);

test('§7.4 the parameters as sent: the handshake completes (Retry or not)', () => {
  for (const retry of ['never', 'always'] as const) {
    const pair = new Pair({ server: { retry } });
    withOwnParams(
      'server',
      () => {},
      () => pair.handshake(),
    );
    assert.equal(pair.clientConn.state, 'established');
  }
});

test('§7.4 original_destination_connection_id other than the first DCID: TRANSPORT_PARAMETER_ERROR', () => {
  const info = clientCloseAgainst((p) => {
    p.originalDestinationConnectionId = otherCid();
  });
  assertProtocolClose(info, TransportError.TRANSPORT_PARAMETER_ERROR, /connection ID authentication/);
});

test('§7.4 original_destination_connection_id missing: TRANSPORT_PARAMETER_ERROR', () => {
  const info = clientCloseAgainst((p) => {
    delete p.originalDestinationConnectionId;
  });
  assertProtocolClose(info, TransportError.TRANSPORT_PARAMETER_ERROR, /connection ID authentication/);
});

test('§7.4 retry_source_connection_id without a Retry: TRANSPORT_PARAMETER_ERROR', () => {
  const info = clientCloseAgainst((p) => {
    p.retrySourceConnectionId = otherCid();
  });
  assertProtocolClose(info, TransportError.TRANSPORT_PARAMETER_ERROR, /connection ID authentication/);
});

test("§7.4 retry_source_connection_id other than the Retry's SCID, or missing: TRANSPORT_PARAMETER_ERROR", () => {
  for (const change of [
    (p: Params) => {
      p.retrySourceConnectionId = otherCid();
    },
    (p: Params) => {
      delete p.retrySourceConnectionId;
    },
  ]) {
    const info = clientCloseAgainst(change, new Pair({ server: { retry: 'always' } }));
    assertProtocolClose(info, TransportError.TRANSPORT_PARAMETER_ERROR, /connection ID authentication/);
  }
});

test("§7.4 a client's initial_source_connection_id other than its INITIAL's SCID: refused, no session", () => {
  const pair = new Pair();
  withOwnParams(
    'client',
    (p) => {
      p.initialSourceConnectionId = otherCid();
    },
    () => {
      pair.connect();
      for (let i = 0; i < 20 && pair.step(); i++);
    },
  );
  assert.equal(pair.server.connectionCount, 0, 'the server holds no session');
  assert.equal(pair.server.stats.drops['handshake-rejected'], pair.server.stats.datagramsReceived);
  assert.ok(!pair.clientEvents.some((e) => e.type === 'handshake-complete'));
});
