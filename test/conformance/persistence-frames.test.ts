/**
 * docs/protocol.md §15: persistence frames a receiver must refuse. Frames sent by the wrong
 * role and CHECKPOINT_ACKs arrive in packets sealed with the sender's real keys
 * (testing/harness/forged-packets.ts); RESUME_STATE matters only during a resumption, so a real
 * one is run and the server's RESUME_STATE is rewritten as the client decrypts it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineConnection, StreamId } from '../../src/engine/types.js';
import { TransportError } from '../../src/wire/errors.js';
import type { Frame, ResumeStateFrame, StreamCheckpoint } from '../../src/wire/frames.js';
import { Pair } from '../../testing/harness/engine-pair.js';
import { assertProtocolClose, deliverForged, establishedPair } from '../../testing/harness/forged-packets.js';

const bytes16 = () => new Uint8Array(16).fill(7);

const fromClient: [string, Frame][] = [
  [
    'RESUMPTION_ID',
    {
      type: 'resumption_id',
      sequence: 9,
      resumptionId: bytes16(),
      lostToken: bytes16(),
      expiredToken: bytes16(),
    },
  ],
  ['RESUME_DONE', { type: 'resume_done' }],
  ['NEW_TICKET', { type: 'new_ticket', lifetime: 60_000, maxEarlyData: 1024, ticket: bytes16() }],
  ['SUSPENDED', { type: 'suspended' }],
];

for (const [name, frame] of fromClient) {
  test(`§15.2/15.6/15.8 ${name} received by a server closes with PROTOCOL_VIOLATION`, () => {
    const pair = establishedPair();
    assertProtocolClose(
      deliverForged(pair, 'client', [frame]),
      TransportError.PROTOCOL_VIOLATION,
      new RegExp(name),
    );
  });
}

/** A pair whose client wrote `written` bytes on a new bidirectional stream, all delivered. */
function streamWritten(written: number): { pair: Pair; id: StreamId } {
  const pair = establishedPair();
  const id = pair.clientConn.openStream(true)!;
  assert.equal(pair.clientConn.writeStream(id, new Uint8Array(written)), written);
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'stream-readable'));
  return { pair, id };
}

test('§15.7 CHECKPOINT_ACK up to the bytes written is reported to the sender', () => {
  const { pair, id } = streamWritten(10);
  assert.equal(
    deliverForged(pair, 'server', [{ type: 'checkpoint_ack', streamId: id, offset: 10 }], 500),
    undefined,
  );
  assert.ok(
    pair.clientEvents.some((e) => e.type === 'checkpoint-confirmed' && e.streamId === id && e.offset === 10),
  );
});

test('§15.7 CHECKPOINT_ACK beyond the bytes written closes with PROTOCOL_VIOLATION', () => {
  const { pair, id } = streamWritten(10);
  assertProtocolClose(
    deliverForged(pair, 'server', [{ type: 'checkpoint_ack', streamId: id, offset: 11 }]),
    TransportError.PROTOCOL_VIOLATION,
    /CHECKPOINT_ACK 11 beyond/,
  );
});

test('§15.7 CHECKPOINT_ACK on a stream without a sending side closes with STREAM_STATE_ERROR', () => {
  const pair = establishedPair();
  // The client's unidirectional stream: the server only receives on it.
  const id = pair.clientConn.openStream(false)!;
  pair.clientConn.writeStream(id, new Uint8Array(10));
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'stream-readable'));
  assertProtocolClose(
    deliverForged(pair, 'client', [{ type: 'checkpoint_ack', streamId: id, offset: 0 }]),
    TransportError.STREAM_STATE_ERROR,
    /peer's unidirectional stream/,
  );
});

/**
 * The client holds two bidirectional streams (ids 0 and 4) with `WRITTEN` bytes each delivered;
 * both sides suspend and resume. The server's RESUME_STATE reaches the client as `rewrite`
 * makes it (its streams, and how many of them the server saw, as the real frame says).
 */
const WRITTEN = 10;
function resumeWith(rewrite: (real: ResumeStateFrame) => ResumeStateFrame[]): {
  pair: Pair;
  client: EngineConnection;
} {
  let armed = false;
  let down = false;
  const pair = new Pair({
    transport: { idleTimeout: 3000 },
    testHooks: {
      client: {
        mutateFramesBeforeProcessing(frames: Frame[]): Frame[] {
          const real = frames.find((f): f is ResumeStateFrame => f.type === 'resume_state');
          if (!armed || !real) return frames;
          armed = false;
          return [...frames.filter((f) => f !== real), ...rewrite(real)];
        },
      },
    },
  });
  pair.handshake();
  pair.runUntil(() => pair.now > 100);
  pair.hook = () => (down ? false : undefined);
  const client = pair.clientConn;
  for (let i = 0; i < 2; i++) {
    const id = client.openStream(true)!;
    assert.equal(client.writeStream(id, new Uint8Array(WRITTEN)), WRITTEN);
  }
  pair.runUntil(() => pair.serverEvents.filter((e) => e.type === 'stream-opened').length === 2);
  down = true;
  pair.runUntil(() => client.suspended && pair.serverConn.suspended, 20_000);
  down = false;
  armed = true;
  pair.runUntil(() => pair.clientEvents.some((e) => e.type === 'resumed' || e.type === 'closed'), 20_000);
  for (let i = 0; i < 100 && !pair.clientEvents.some((e) => e.type === 'closed') && pair.step(); i++);
  assert.equal(armed, false, 'the server sent RESUME_STATE');
  return { pair, client };
}

const entry = (streamId: number, offset = 0): StreamCheckpoint => ({
  streamId,
  offset,
  fin: false,
  reset: false,
});
const closeOf = (pair: Pair) => {
  const closed = pair.clientEvents.find((e) => e.type === 'closed');
  return closed?.type === 'closed' ? closed.info : undefined;
};

test('§15.5 a consistent RESUME_STATE completes the resumption', () => {
  const { pair, client } = resumeWith((real) => [real]);
  assert.equal(closeOf(pair), undefined);
  assert.equal(client.state, 'established');
  assert.ok(pair.clientEvents.some((e) => e.type === 'resumed'));
});

test('§15.5 RESUME_STATE frames with different totals: PROTOCOL_VIOLATION', () => {
  const { pair } = resumeWith((real) => [
    { ...real, total: 2, entries: [entry(0)] },
    { ...real, total: 3, entries: [] },
  ]);
  assertProtocolClose(closeOf(pair), TransportError.PROTOCOL_VIOLATION, /totals disagree/);
});

test('§15.5 RESUME_STATE with more entries than its total: PROTOCOL_VIOLATION', () => {
  const { pair } = resumeWith((real) => [{ ...real, total: 1, entries: [entry(0), entry(4)] }]);
  assertProtocolClose(closeOf(pair), TransportError.PROTOCOL_VIOLATION, /more streams than its total/);
});

test('§15.5 RESUME_STATE naming a stream of the receiver it never opened: PROTOCOL_VIOLATION', () => {
  const { pair } = resumeWith((real) => [{ ...real, total: 1, entries: [entry(400)] }]);
  assertProtocolClose(closeOf(pair), TransportError.PROTOCOL_VIOLATION, /unopened stream 400/);
});

test('§15.5 a RESUME_STATE offset beyond the bytes sent: PROTOCOL_VIOLATION', () => {
  const { pair } = resumeWith((real) => [{ ...real, total: 2, entries: [entry(0, WRITTEN + 1), entry(4)] }]);
  assertProtocolClose(closeOf(pair), TransportError.PROTOCOL_VIOLATION, /beyond the 10 bytes sent/);
});
