import assert from 'node:assert/strict';
import { test } from 'node:test';
import { socketAddress } from '../../src/net/address.js';
import type { SentPacket } from '../../src/paths/loss-detection.js';
import { Path } from '../../src/paths/path.js';

function makePath(opts: { validated?: boolean; congestionControl?: 'cubic' | 'newreno' } = {}): Path<null> {
  return new Path<null>({
    id: 1,
    local: socketAddress('192.0.2.1', 4433),
    remote: socketAddress('198.51.100.7', 5000),
    now: 0,
    maxAckDelay: 25,
    ...opts,
  });
}

function sent(pn: number, timeSent: number, size = 1200, ackEliciting = true): SentPacket<null> {
  return { pn, timeSent, size, ackEliciting, inFlight: ackEliciting, info: null };
}

test('anti-amplification: 3× received until validated, then unlimited', () => {
  const path = makePath();
  assert.equal(path.amplificationCredit(), 0);
  assert.deepEqual(path.canSend(1200, 0), { ok: false, reason: 'amplification' });
  path.bytesReceived = 1000;
  assert.equal(path.amplificationCredit(), 3000);
  assert.deepEqual(path.canSend(1200, 0), { ok: true });
  path.onPacketSent(sent(0, 0), 0);
  path.onPacketSent(sent(1, 0), 0);
  assert.equal(path.amplificationCredit(), 600);
  assert.deepEqual(path.canSend(1200, 0), { ok: false, reason: 'amplification' });
  path.validated = true;
  assert.equal(path.amplificationCredit(), Number.POSITIVE_INFINITY);
});

test('canSend refuses beyond the congestion window', () => {
  const path = makePath({ validated: true });
  for (let pn = 0; pn < 10; pn++) {
    assert.deepEqual(path.canSend(1200, 0), { ok: true });
    path.onPacketSent(sent(pn, 0), 0);
  }
  assert.equal(path.loss.bytesInFlight, 12_000);
  assert.deepEqual(path.canSend(1200, 0), { ok: false, reason: 'cwnd' });
  assert.equal(path.nextPacketNumber, 10);
  assert.equal(path.packetsSent, 10);
  assert.equal(path.bytesSent, 12_000);
});

test('canSend paces once an RTT sample exists, and reports when', () => {
  const path = makePath({ validated: true, congestionControl: 'newreno' });
  let pn = 0;
  while (path.canSend(1200, 0).ok) path.onPacketSent(sent(pn++, 0), 0); // no sample yet: cwnd limits
  assert.equal(pn, 10);
  for (const p of path.loss.onAckReceived([{ smallest: 0, largest: 9 }], 0, 100, true)!.acked) {
    path.onPacketAcked(p, 100);
  }
  // cwnd 24000, srtt 100: 300 bytes/ms with a 10-datagram burst.
  assert.equal(path.cc.window, 24_000);
  for (let i = 0; i < 10; i++) {
    assert.deepEqual(path.canSend(1200, 100), { ok: true });
    path.onPacketSent(sent(pn++, 100), 100);
  }
  assert.equal(path.pacingDeadline(), undefined);
  assert.deepEqual(path.canSend(1200, 100), { ok: false, until: 104, reason: 'pacing' });
  assert.equal(path.pacingDeadline(), 104);
  assert.deepEqual(path.canSend(1200, 104), { ok: true });
  assert.equal(path.pacingDeadline(), undefined);
});

test('ACKs grow the window only if the sender was window- or pacing-limited', () => {
  const idle = makePath({ validated: true, congestionControl: 'newreno' });
  idle.onPacketSent(sent(0, 0), 0);
  idle.onPacketSent(sent(1, 0), 0);
  for (const p of idle.loss.onAckReceived([{ smallest: 0, largest: 1 }], 0, 50, true)!.acked)
    idle.onPacketAcked(p, 50);
  assert.equal(idle.cc.window, 12_000);

  const busy = makePath({ validated: true, congestionControl: 'newreno' });
  let pn = 0;
  while (busy.canSend(1200, 0).ok) busy.onPacketSent(sent(pn++, 0), 0);
  for (const p of busy.loss.onAckReceived([{ smallest: 0, largest: pn - 1 }], 0, 50, true)!.acked) {
    busy.onPacketAcked(p, 50);
  }
  assert.equal(busy.cc.window, 24_000);
});

test('path validation: only a matching PATH_RESPONSE validates', () => {
  const path = makePath();
  assert.equal(path.state, 'validating');
  assert.equal(path.onPathResponse(new Uint8Array(8)), false); // nothing outstanding
  const challenge = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  path.startValidation(challenge, 5);
  assert.equal(path.challengePendingSince, 5);
  assert.equal(path.onPathResponse(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 9])), false);
  assert.equal(path.validated, false);
  assert.equal(path.onPathResponse(challenge), true);
  assert.equal(path.validated, true);
  assert.equal(path.state, 'active');
  assert.equal(path.challengePendingSince, undefined);
  assert.equal(path.onPathResponse(challenge), false); // replayed response
});

test('peer max_ack_delay feeds PTO; info() reports the path', () => {
  const path = makePath({ validated: true });
  assert.equal(path.pto(), 333 + 666 + 25);
  path.setMaxAckDelay(10);
  path.setMaxAckDelay(Number.NaN);
  assert.equal(path.pto(), 333 + 666 + 10);
  const before = path.info();
  assert.equal(before.srtt, undefined);
  assert.equal(before.state, 'validating');
  path.onPacketSent(sent(0, 0), 0);
  path.onPacketSent(sent(1, 0, 60, false), 0);
  path.loss.onAckReceived([{ smallest: 0, largest: 0 }], 0, 40, true);
  path.bytesReceived = 500;
  path.packetsLost = 2;
  assert.deepEqual(path.info(), {
    id: 1,
    local: socketAddress('192.0.2.1', 4433),
    remote: socketAddress('198.51.100.7', 5000),
    state: 'validating',
    validated: true,
    srtt: 40,
    rttvar: 20,
    minRtt: 40,
    congestionWindow: 12_000,
    udpPayloadSize: 1200,
    pmtuBlackHoles: 0,
    bytesInFlight: 0,
    bytesSent: 1260,
    bytesReceived: 500,
    packetsSent: 2,
    packetsLost: 2,
    lossRate: 1,
  });
});

for (const congestionControl of ['cubic', 'newreno'] as const) {
  test(`${congestionControl}: a window cut whose lost packets all arrive late is undone; a real loss keeps it`, () => {
    const path = makePath({ validated: true, congestionControl });
    for (let pn = 0; pn < 4; pn++) path.onPacketSent(sent(pn, pn), pn);
    const before = path.cc.window;
    assert.equal(path.onPacketsLost([sent(0, 0), sent(1, 1)], 50), true);
    assert.ok(path.cc.window < before, 'the loss cut the window');
    assert.equal(path.onLateAcked([sent(0, 0)]), false, 'pn 1 still counts as lost');
    assert.equal(path.onLateAcked([sent(1, 1)]), true, 'all of it arrived: reordering');
    assert.equal(path.cc.window, before);

    path.onPacketsLost([sent(2, 2), sent(3, 3)], 200);
    const cut = path.cc.window;
    assert.ok(cut < before);
    assert.equal(path.onLateAcked([sent(2, 2)]), false, 'pn 3 was really lost: the cut stays');
    assert.equal(path.cc.window, cut);
  });
}
