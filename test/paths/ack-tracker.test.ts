import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AckTracker } from '../../src/paths/ack-tracker.js';

const tracker = (maxRanges = 64) => new AckTracker({ maxAckDelay: 25, maxRanges });

test('one ack-eliciting packet: ACK due after max_ack_delay; two: ACK now', () => {
  const acks = tracker();
  assert.equal(acks.ackDeadline(), undefined);
  assert.equal(acks.buildAck(0), undefined);
  acks.onPacketReceived(0, true, 10);
  assert.equal(acks.ackNow, false);
  assert.equal(acks.ackDeadline(), 35);
  acks.onPacketReceived(1, true, 12);
  assert.equal(acks.ackNow, true);
  assert.equal(acks.ackDeadline(), 12);
  assert.deepEqual(acks.buildAck(15), { ranges: [{ smallest: 0, largest: 1 }], ackDelayMicros: 3000 });
  acks.onAckSent();
  assert.equal(acks.ackNow, false);
  assert.equal(acks.ackDeadline(), undefined);
  assert.equal(acks.buildAck(16), undefined);
  assert.equal(acks.largestReceived, 1);
});

test('non-ack-eliciting packets never make an ACK due but are included in the next one', () => {
  const acks = tracker();
  acks.onPacketReceived(0, false, 0);
  acks.onPacketReceived(1, false, 1);
  assert.equal(acks.ackNow, false);
  assert.equal(acks.ackDeadline(), undefined);
  assert.deepEqual(acks.buildAck(2)?.ranges, [{ smallest: 0, largest: 1 }]);
});

test('a gap or a reordered ack-eliciting packet triggers an immediate ACK', () => {
  const gap = tracker();
  gap.onPacketReceived(0, true, 0);
  gap.onAckSent();
  gap.onPacketReceived(2, true, 1);
  assert.equal(gap.ackNow, true);
  assert.deepEqual(gap.buildAck(1)?.ranges, [
    { smallest: 2, largest: 2 },
    { smallest: 0, largest: 0 },
  ]);
  gap.onAckSent();
  gap.onPacketReceived(1, true, 2); // older than the largest ack-eliciting
  assert.equal(gap.ackNow, true);
  assert.deepEqual(gap.buildAck(3), { ranges: [{ smallest: 0, largest: 2 }], ackDelayMicros: 2000 });
});

test('duplicates change nothing', () => {
  const acks = tracker();
  acks.onPacketReceived(5, true, 0);
  acks.onAckSent();
  acks.onPacketReceived(5, true, 1);
  assert.equal(acks.ackNow, false);
  assert.equal(acks.ackDeadline(), undefined);
  assert.equal(acks.buildAck(2), undefined);
  assert.equal(acks.rangeCount, 1);
});

test('ranges merge under reordering', () => {
  const acks = tracker();
  for (const pn of [10, 12, 14, 11, 13, 3, 5, 4, 0]) acks.onPacketReceived(pn, false, 0);
  assert.deepEqual(acks.buildAck(0)?.ranges, [
    { smallest: 10, largest: 14 },
    { smallest: 3, largest: 5 },
    { smallest: 0, largest: 0 },
  ]);
  assert.ok(acks.has(4) && acks.has(0) && !acks.has(1) && !acks.has(15));
});

test('at most maxRanges ranges are kept, dropping the oldest', () => {
  const acks = tracker(4);
  for (let pn = 0; pn <= 20; pn += 2) acks.onPacketReceived(pn, false, 0);
  assert.deepEqual(
    acks.buildAck(0)?.ranges.map((r) => r.largest),
    [20, 18, 16, 14],
  );
});

test('onAckAcked forgets ranges at or below the acknowledged largest', () => {
  const acks = tracker();
  for (let pn = 0; pn <= 10; pn++) acks.onPacketReceived(pn, true, 0);
  for (let pn = 15; pn <= 20; pn++) acks.onPacketReceived(pn, true, 0);
  acks.onAckAcked(12);
  assert.deepEqual(acks.buildAck(0)?.ranges, [{ smallest: 15, largest: 20 }]);
  acks.onAckAcked(17);
  assert.deepEqual(acks.buildAck(0)?.ranges, [{ smallest: 18, largest: 20 }]);
  acks.onAckAcked(20);
  assert.equal(acks.buildAck(0), undefined);
  assert.equal(acks.largestReceived, 20);
});
test('a late packet below an ACK the peer has seen owes no ACK once its range is forgotten (no stuck deadline)', () => {
  const acks = tracker();
  for (const pn of [1, 2, 3, 4, 6, 7, 8, 9, 10]) acks.onPacketReceived(pn, true, 0);
  assert.ok(acks.buildAck(1));
  acks.onAckSent(); // ACK with largest 10, 5 missing
  acks.onPacketReceived(5, true, 2); // reordered: an ACK is due at once
  assert.equal(acks.ackDeadline(), 2);
  acks.onAckAcked(10); // the peer saw that ACK: ranges up to 10 go, 5 with them
  assert.equal(acks.buildAck(3), undefined);
  assert.equal(acks.ackDeadline(), undefined);
  assert.equal(acks.ackNow, false);
});

test('ack delay counts from the arrival of the largest packet', () => {
  const acks = tracker();
  acks.onPacketReceived(3, true, 100);
  acks.onPacketReceived(1, true, 104);
  assert.equal(acks.buildAck(110.5)?.ackDelayMicros, 10_500);
});

test('property: ranges equal the set of received packet numbers under any arrival order', () => {
  fc.assert(
    fc.property(fc.array(fc.nat({ max: 300 }), { maxLength: 400 }), (arrivals) => {
      const acks = tracker(1000);
      const received = new Set<number>();
      for (const pn of arrivals) {
        acks.onPacketReceived(pn, true, 0);
        received.add(pn);
      }
      const built = acks.buildAck(0);
      if (received.size === 0) {
        assert.equal(built, undefined);
        return;
      }
      const expected: { smallest: number; largest: number }[] = [];
      for (const pn of [...received].sort((a, b) => b - a)) {
        const last = expected[expected.length - 1];
        if (last && last.smallest === pn + 1) last.smallest = pn;
        else expected.push({ smallest: pn, largest: pn });
      }
      assert.deepEqual(built?.ranges, expected);
      assert.equal(acks.largestReceived, Math.max(...received));
    }),
    { numRuns: 300 },
  );
});

test('heavy reordering of 100k packets stays fast', () => {
  const acks = tracker();
  const started = performance.now();
  // Each block of 64 arrives in reverse order.
  for (let block = 0; block < 100_000; block += 64) {
    for (let pn = block + 63; pn >= block; pn--) acks.onPacketReceived(pn, true, 0);
    if (block % 640 === 0) acks.onAckSent();
  }
  assert.deepEqual(acks.buildAck(0)?.ranges, [{ smallest: 0, largest: 100_031 }]);
  assert.ok(performance.now() - started < 1000);
});
