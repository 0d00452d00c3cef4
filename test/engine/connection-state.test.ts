// The owners of a session's shared state (src/engine/connection/), each on its own: CIDs,
// the outbox and the timer table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CidState, SPARE_CID_COUNT } from '../../src/engine/connection/cid-state.js';
import { Outbox } from '../../src/engine/connection/outbox.js';
import { Timers } from '../../src/engine/connection/timers.js';
import { EndpointSecrets } from '../../src/engine/secrets.js';
import { WireError } from '../../src/wire/errors.js';
import type { Frame, NewConnectionIdFrame } from '../../src/wire/frames.js';
import { seededRandom } from '../../testing/harness/engine-pair.js';

function cidState() {
  const random = seededRandom(7);
  const outbox = new Outbox(() => {});
  const routed = new Set<string>();
  const key = (cid: Uint8Array) => Buffer.from(cid).toString('hex');
  const cids = new CidState({
    cidLength: 8,
    random,
    secrets: new EndpointSecrets(random, new Uint8Array(32)),
    outbox,
    routing: {
      register: (cid) => routed.add(key(cid)),
      unregister: (cid) => routed.delete(key(cid)),
    },
  });
  const announced = () =>
    outbox.control.filter((f): f is NewConnectionIdFrame => f.type === 'new_connection_id');
  return { cids, outbox, routed, key, announced };
}

test('our CIDs: each path id its own sequence space, found by DCID, retired by (path id, sequence)', () => {
  const { cids, routed, key, announced } = cidState();
  cids.issueSpares();
  cids.ensurePathIdWindow(0);
  const frames = announced();
  assert.deepEqual(
    frames.map((f) => `${f.pathId}/${f.sequence}`),
    ['0/1', '0/2', '0/3', '1/0', '2/0', '3/0', '4/0'],
  );
  assert.equal(cids.localConnectionIds.length, 1 + SPARE_CID_COUNT + 4);
  for (const f of frames) {
    assert.ok(routed.has(key(f.connectionId)));
    assert.equal(cids.pathIdOf(f.connectionId), f.pathId);
  }
  assert.equal(cids.pathIdOf(new Uint8Array(8)), 0, 'an unknown DCID names path id 0');
  // Retiring (2, 0) leaves sequence 0 of the other path ids alone.
  const path2 = frames.find((f) => f.pathId === 2)!;
  cids.onRetire({ type: 'retire_connection_id', pathId: 2, sequence: 0 });
  assert.equal(cids.isLive(2, 0), false);
  assert.equal(cids.isLive(1, 0), true);
  assert.equal(cids.isLive(0, 0), true);
  assert.ok(!routed.has(key(path2.connectionId)));
  // Path id 0 always keeps a CID: a retired one is replaced at once.
  const before = announced().length;
  cids.onRetire({ type: 'retire_connection_id', pathId: 0, sequence: 1 });
  assert.equal(announced().length, before + 1);
  assert.deepEqual([announced().at(-1)!.pathId, announced().at(-1)!.sequence], [0, SPARE_CID_COUNT + 1]);
  assert.throws(
    () => cids.onRetire({ type: 'retire_connection_id', pathId: 1, sequence: 5 }),
    WireError,
    'a CID never issued cannot be retired',
  );
});

test("the peer's CIDs: the lowest sequence per path id, repeats ignored, retirement newest first", () => {
  const { cids, outbox } = cidState();
  cids.addHandshakePeerCid(Uint8Array.of(9, 9), undefined);
  const frame = (pathId: number, sequence: number): NewConnectionIdFrame => ({
    type: 'new_connection_id',
    pathId,
    sequence,
    retirePriorTo: 0,
    connectionId: Uint8Array.of(pathId, sequence),
    statelessResetToken: new Uint8Array(16).fill(pathId * 16 + sequence),
  });
  assert.equal(cids.onNewConnectionId(frame(1, 1)), true);
  assert.equal(cids.onNewConnectionId(frame(1, 0)), true);
  assert.equal(cids.onNewConnectionId(frame(1, 0)), false, 'a repeat');
  assert.deepEqual(cids.peerCidFor(1)?.cid, Uint8Array.of(1, 0));
  assert.deepEqual(cids.peerCidFor(0)?.cid, Uint8Array.of(9, 9));
  assert.equal(cids.resetTokens.length, 2);
  const reset = new Uint8Array(40);
  reset.set(new Uint8Array(16).fill(17), 24);
  assert.equal(cids.isStatelessReset(reset), true);
  cids.retirePeerCids(1);
  assert.deepEqual(
    outbox.control.map((f) => (f.type === 'retire_connection_id' ? `${f.pathId}/${f.sequence}` : f.type)),
    ['1/0', '1/1'],
  );
  assert.equal(cids.peerCidFor(1), undefined);
  assert.equal(cids.resetTokens.length, 0);
  assert.equal(cids.isStatelessReset(reset), false);
});

test('resumption keeps only the control frames that still mean something, in order', () => {
  const outbox = new Outbox(() => {});
  const maxData: Frame = { type: 'max_data', maximum: 10 };
  const abandon: Frame = { type: 'path_abandon', pathId: 1, errorCode: 0, reason: '' };
  const freshCid: Frame = {
    type: 'new_connection_id',
    pathId: 0,
    sequence: 1,
    retirePriorTo: 0,
    connectionId: new Uint8Array(8),
    statelessResetToken: new Uint8Array(16),
  };
  const lostCid: Frame = { ...freshCid, sequence: 7 };
  const lostStop: Frame = { type: 'stop_sending', streamId: 4, errorCode: 1 };
  outbox.datagrams.push(new Uint8Array(3));
  outbox.resumeControl([maxData, abandon], [freshCid], [lostCid, lostStop]);
  assert.deepEqual(outbox.control, [maxData, freshCid, lostStop]);
  assert.equal(outbox.datagrams.length, 0);
});

test('timers: next() is the earliest of the timers that run in the state', () => {
  const timers = new Timers();
  assert.equal(timers.next('established'), undefined);
  timers.set('idle', 300);
  timers.set('handshake', 100);
  timers.set('ack', 50);
  assert.equal(timers.next('handshaking'), 100, 'the ACK timer does not run before the handshake');
  assert.equal(timers.next('established'), 50, 'the handshake timeout does not run after it');
  assert.equal(timers.next('closing'), 300);
  assert.equal(timers.next('closed'), undefined);
  timers.set('ack', Number.POSITIVE_INFINITY);
  assert.equal(timers.isSet('ack'), false);
  assert.equal(timers.expired('idle', 299), false);
  assert.equal(timers.expired('idle', 300), true);
});
