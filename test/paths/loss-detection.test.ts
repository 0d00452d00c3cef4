import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LossDetection, type SentPacket } from '../../src/paths/loss-detection.js';
import { RttEstimator } from '../../src/paths/rtt-estimator.js';

function make(maxAckDelay = 25, packetThreshold?: number): LossDetection<string> {
  return new LossDetection<string>({ rtt: new RttEstimator(), maxAckDelay, packetThreshold });
}

function packet(pn: number, timeSent: number, size = 1000, ackEliciting = true): SentPacket<string> {
  return { pn, timeSent, size, ackEliciting, inFlight: ackEliciting, info: `p${pn}` };
}

const pns = (list: SentPacket<string>[]) => list.map((p) => p.pn);

test('loss by time (RACK): RTT plus a reordering window of min_rtt/4 after sending, no packet count', () => {
  const loss = make();
  for (let pn = 0; pn < 5; pn++) loss.onPacketSent(packet(pn, pn));
  assert.equal(loss.bytesInFlight, 5000);

  const result = loss.onAckReceived([{ smallest: 4, largest: 4 }], 0, 50, true)!;
  assert.deepEqual(pns(result.acked), [4]);
  assert.deepEqual(pns(result.lost), [], 'four packets overtaken are not lost by count');
  assert.equal(result.rttSampled, true);
  assert.equal(loss.rtt.latestRtt, 46);
  assert.equal(loss.reorderingWindow, 46 / 4);
  assert.equal(loss.largestAcked, 4);

  // loss_delay = max(latest 46, srtt 46) + 11.5 = 57.5; pn 0 was sent at 0.
  assert.equal(loss.deadline(true), 57.5);
  assert.deepEqual(loss.onTimeout(57, true), { lost: [], probes: 0 }); // too early
  const timeout = loss.onTimeout(57.5, true);
  assert.deepEqual(pns(timeout.lost), [0]);
  assert.equal(timeout.probes, 0);
  assert.equal(loss.deadline(true), 1 + 57.5);
  assert.deepEqual(pns(loss.onTimeout(60.5, true).lost), [1, 2, 3]);
  assert.equal(loss.bytesInFlight, 0);
  assert.equal(loss.deadline(true), undefined);
});

test('a configured packet threshold still declares packets that far below the largest acked lost', () => {
  const loss = make(25, 3);
  for (let pn = 0; pn < 5; pn++) loss.onPacketSent(packet(pn, pn));
  const result = loss.onAckReceived([{ smallest: 4, largest: 4 }], 0, 50, true)!;
  assert.deepEqual(pns(result.lost), [0, 1]); // 4 >= pn + 3
});

test('the reordering window grows one step per round trip of late ACKs, capped at srtt, and falls back', () => {
  const loss = make();
  let pn = 0;
  let now = 0;
  loss.onPacketSent(packet(pn++, now));
  now += 40;
  loss.onAckReceived([{ smallest: 0, largest: 0 }], 0, now, true); // min_rtt 40
  assert.equal(loss.reorderingWindow, 10);
  // Each round: a packet is overtaken, declared lost by time, then acknowledged late.
  const reorderRound = () => {
    const held = pn++;
    loss.onPacketSent(packet(held, now));
    loss.onPacketSent(packet(pn++, now));
    now += 40;
    loss.onAckReceived([{ smallest: held + 1, largest: held + 1 }], 0, now, true);
    now = loss.deadline(true)!;
    assert.deepEqual(pns(loss.onTimeout(now, true).lost), [held]);
    now += 1;
    return loss.onAckReceived([{ smallest: held, largest: held + 1 }], 0, now, true)!;
  };
  assert.deepEqual(pns(reorderRound().lateAcked), [1]);
  assert.equal(loss.reorderingWindow, 20);
  assert.equal(loss.spuriousLosses, 1);
  for (let i = 0; i < 10; i++) reorderRound();
  assert.equal(loss.reorderingWindow, loss.rtt.smoothedRtt, 'never more than srtt');
  // Seventeen loss episodes with no late ACK: back to one step.
  for (let i = 0; i < 17; i++) {
    loss.onPacketSent(packet(pn++, now));
    loss.onPacketSent(packet(pn++, now));
    now += 40;
    loss.onAckReceived([{ smallest: pn - 1, largest: pn - 1 }], 0, now, true);
    now = loss.deadline(true)!;
    assert.equal(loss.onTimeout(now, true).lost.length, 1);
    now += 100;
  }
  assert.equal(loss.reorderingWindow, loss.rtt.minRtt / 4);
});

test('ACK of a never-sent packet number or malformed ranges is rejected without side effects', () => {
  const loss = make();
  for (let pn = 0; pn < 5; pn++) loss.onPacketSent(packet(pn, 0));
  assert.equal(loss.onAckReceived([{ smallest: 3, largest: 5 }], 0, 10, true), undefined);
  assert.equal(
    loss.onAckReceived(
      [
        { smallest: 2, largest: 3 },
        { smallest: 3, largest: 3 },
      ],
      0,
      10,
      true,
    ),
    undefined,
  );
  assert.equal(loss.onAckReceived([{ smallest: 3, largest: 2 }], 0, 10, true), undefined);
  assert.equal(loss.onAckReceived([], 0, 10, true), undefined);
  assert.equal(loss.onAckReceived([{ smallest: -1, largest: 2 }], 0, 10, true), undefined);
  assert.equal(loss.bytesInFlight, 5000);
  assert.equal(loss.largestAcked, undefined);
  assert.equal(make().onAckReceived([{ smallest: 0, largest: 0 }], 0, 1, true), undefined);
});

test('duplicate ACKs and ACKs of skipped packet numbers are harmless', () => {
  const loss = make();
  loss.onPacketSent(packet(0, 0));
  loss.onPacketSent(packet(2, 1)); // pn 1 never registered (e.g. a close packet)
  const first = loss.onAckReceived([{ smallest: 0, largest: 2 }], 0, 10, true)!;
  assert.deepEqual(pns(first.acked), [0, 2]);
  const again = loss.onAckReceived([{ smallest: 0, largest: 2 }], 0, 11, true)!;
  assert.deepEqual(again, {
    acked: [],
    lost: [],
    lateAcked: [],
    rttSampled: false,
    persistentCongestion: false,
  });
  assert.throws(() => loss.onPacketSent(packet(2, 12)), RangeError);
});

test('no RTT sample unless the largest acknowledged is newly acked and something ack-eliciting was', () => {
  const loss = make();
  loss.onPacketSent(packet(0, 0));
  loss.onPacketSent(packet(1, 0, 50, false));
  const r = loss.onAckReceived([{ smallest: 1, largest: 1 }], 0, 30, true)!;
  assert.equal(r.rttSampled, false);
  assert.equal(loss.rtt.hasSample, false);
  const r2 = loss.onAckReceived([{ smallest: 0, largest: 1 }], 0, 40, true)!;
  assert.equal(r2.rttSampled, false); // largest (1) was not newly acknowledged
  assert.deepEqual(pns(r2.acked), [0]);
});

test('PTO fires, backs off exponentially, and resets when an ACK arrives', () => {
  const loss = make(25);
  loss.onPacketSent(packet(0, 0));
  // Before any sample: 333 + 4·166.5 (+ 25 ms max_ack_delay once confirmed).
  assert.equal(loss.deadline(false), 999);
  assert.equal(loss.deadline(true), 1024);
  assert.deepEqual(loss.onTimeout(1023, true), { lost: [], probes: 0 });
  assert.deepEqual(loss.onTimeout(1024, true), { lost: [], probes: 1 });
  assert.equal(loss.ptoCount, 1);
  assert.equal(loss.deadline(true), 2048);

  loss.onPacketSent(packet(1, 1024)); // the probe
  assert.equal(loss.deadline(true), 1024 + 2048);
  assert.deepEqual(loss.onTimeout(3072, true), { lost: [], probes: 2 });
  assert.equal(loss.ptoCount, 2);
  assert.equal(loss.deadline(true), 1024 + 4096);
  assert.deepEqual(pns(loss.oldestUnacked(1)), [0]);

  loss.onPacketSent(packet(2, 3072));
  const r = loss.onAckReceived([{ smallest: 2, largest: 2 }], 0, 3172, true)!;
  assert.equal(r.rttSampled, true);
  assert.equal(loss.ptoCount, 0);
  // pn 0 and 1 were sent long before now - 9/8·100: lost by time threshold.
  assert.deepEqual(pns(r.lost), [0, 1]);
  assert.equal(loss.deadline(true), undefined);
});

test('persistent congestion: two ack-eliciting losses spanning more than 3·PTO with nothing acked between', () => {
  const setup = () => {
    const loss = make(25, 3);
    loss.onPacketSent(packet(0, 0));
    loss.onAckReceived([{ smallest: 0, largest: 0 }], 0, 100, true); // srtt 100, rttvar 50
    // Persistent congestion period after the second sample: (100 + 4·37.5 + 25) · 3 = 825 ms.
    for (let i = 0; i < 10; i++) loss.onPacketSent(packet(1 + i, 200 + 120 * i)); // spans 1080 ms
    loss.onPacketSent(packet(11, 1400));
    return loss;
  };

  const all = setup().onAckReceived([{ smallest: 11, largest: 11 }], 0, 1500, true)!;
  assert.deepEqual(pns(all.lost), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(all.persistentCongestion, true);

  // pn 5 acknowledged in between: the longest lost run spans 480 ms.
  const split = setup().onAckReceived(
    [
      { smallest: 11, largest: 11 },
      { smallest: 5, largest: 5 },
    ],
    0,
    1500,
    true,
  )!;
  assert.equal(split.lost.length, 9);
  assert.equal(split.persistentCongestion, false);
});

test('persistent congestion needs the span to exceed the period and packets sent after the first RTT sample', () => {
  const short = make(25);
  short.onPacketSent(packet(0, 0));
  short.onAckReceived([{ smallest: 0, largest: 0 }], 0, 100, true);
  for (let i = 0; i < 5; i++) short.onPacketSent(packet(1 + i, 200 + 100 * i)); // spans 400 ms
  short.onPacketSent(packet(6, 700));
  const r = short.onAckReceived([{ smallest: 6, largest: 6 }], 0, 800, true)!;
  assert.equal(r.lost.length, 5);
  assert.equal(r.persistentCongestion, false);

  // No RTT sample before these were sent: never persistent congestion.
  const early = make(25);
  for (let i = 0; i < 10; i++) early.onPacketSent(packet(i, 500 * i));
  early.onPacketSent(packet(10, 5000));
  const e = early.onAckReceived([{ smallest: 10, largest: 10 }], 0, 5100, true)!;
  assert.equal(e.lost.length, 10);
  assert.equal(e.persistentCongestion, false);
});

test('drainAll returns every unacknowledged packet and clears state', () => {
  const loss = make();
  for (let pn = 0; pn < 6; pn++) loss.onPacketSent(packet(pn, pn, 100, pn !== 3));
  loss.onAckReceived([{ smallest: 1, largest: 2 }], 0, 20, true);
  assert.deepEqual(pns(loss.oldestUnacked(2)), [0, 4]);
  const drained = loss.drainAll();
  assert.deepEqual(pns(drained), [0, 3, 4, 5]);
  assert.equal(loss.bytesInFlight, 0);
  assert.equal(loss.unackedCount, 0);
  assert.equal(loss.deadline(true), undefined);
  loss.onPacketSent(packet(6, 30, 100));
  assert.equal(loss.bytesInFlight, 100);
});

test('tens of thousands in flight: cumulative ACKs cost only what they newly acknowledge', () => {
  const loss = make();
  const total = 60_000;
  for (let pn = 0; pn < total; pn++) loss.onPacketSent(packet(pn, pn * 0.01, 1200));
  const started = performance.now();
  let acked = 0;
  // Every ACK repeats the whole history as one range (as a real receiver would).
  for (let largest = 1; largest < total; largest += 2) {
    const r = loss.onAckReceived([{ smallest: 0, largest }], 0, 700 + largest * 0.01, true)!;
    acked += r.acked.length;
  }
  const elapsed = performance.now() - started;
  assert.equal(acked, total);
  assert.equal(loss.bytesInFlight, 0);
  assert.ok(elapsed < 1500, `took ${elapsed} ms`);
});

test('many ranges with holes: losses and acks are each reported once', () => {
  const loss = make(25, 3);
  for (let pn = 0; pn < 20_000; pn++) loss.onPacketSent(packet(pn, 0, 10));
  // Acknowledge every even packet, in ranges of one (descending).
  const ranges = [];
  for (let pn = 19_998; pn >= 0; pn -= 2) ranges.push({ smallest: pn, largest: pn });
  const r = loss.onAckReceived(ranges, 0, 5, true)!;
  assert.equal(r.acked.length, 10_000);
  // Odd packets up to 19_995 are 3 below the largest acked; 19_997 and 19_999 wait.
  assert.equal(r.lost.length, 9_998);
  assert.equal(loss.unackedCount, 2);
  assert.equal(loss.bytesInFlight, 20);
});

type Op =
  | { kind: 'send'; size: number; ackEliciting: boolean; inFlight: boolean; gap: number }
  | { kind: 'ack'; picks: number[]; delay: number }
  | { kind: 'time'; advance: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('send' as const),
    size: fc.integer({ min: 1, max: 1500 }),
    ackEliciting: fc.boolean(),
    inFlight: fc.boolean(),
    gap: fc.integer({ min: 0, max: 2 }),
  }),
  fc.record({
    kind: fc.constant('ack' as const),
    picks: fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 8 }),
    delay: fc.integer({ min: 0, max: 30 }),
  }),
  fc.record({ kind: fc.constant('time' as const), advance: fc.integer({ min: 1, max: 2000 }) }),
);

test('property: bytesInFlight equals in-flight unacked sizes; no packet is both acked and lost', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
      const loss = make();
      const outstanding = new Map<number, SentPacket<string>>();
      const sent: number[] = [];
      const settled = new Set<number>();
      let now = 0;
      let nextPn = 0;
      const settle = (list: SentPacket<string>[], allowed?: Set<number>) => {
        for (const p of list) {
          assert.ok(outstanding.has(p.pn), `pn ${p.pn} reported twice or never sent`);
          assert.ok(!settled.has(p.pn));
          if (allowed) assert.ok(allowed.has(p.pn), `pn ${p.pn} acked but not in the ACK`);
          outstanding.delete(p.pn);
          settled.add(p.pn);
        }
      };
      for (const op of ops) {
        if (op.kind === 'send') {
          nextPn += op.gap;
          const p: SentPacket<string> = {
            pn: nextPn,
            timeSent: now,
            size: op.size,
            ackEliciting: op.ackEliciting,
            inFlight: op.inFlight,
            info: '',
          };
          loss.onPacketSent(p);
          outstanding.set(p.pn, p);
          sent.push(p.pn);
          nextPn++;
        } else if (op.kind === 'ack') {
          if (sent.length === 0) continue;
          now += 1;
          const chosen = [...new Set(op.picks.map((i) => sent[i % sent.length]))].sort((a, b) => b - a);
          const ranges: { smallest: number; largest: number }[] = [];
          for (const pn of chosen) {
            const last = ranges[ranges.length - 1];
            if (last && last.smallest === pn + 1) last.smallest = pn;
            else ranges.push({ smallest: pn, largest: pn });
          }
          const inAck = new Set<number>();
          for (const r of ranges) for (let pn = r.smallest; pn <= r.largest; pn++) inAck.add(pn);
          const result = loss.onAckReceived(ranges, op.delay, now, true);
          assert.ok(result);
          settle(result.acked, inAck);
          settle(result.lost);
        } else {
          now += op.advance;
          const deadline = loss.deadline(true);
          if (deadline !== undefined && now >= deadline) settle(loss.onTimeout(now, true).lost);
        }
        let expected = 0;
        for (const p of outstanding.values()) if (p.inFlight) expected += p.size;
        assert.equal(loss.bytesInFlight, expected);
        assert.equal(loss.unackedCount, outstanding.size);
      }
      const drained = loss.drainAll();
      assert.deepEqual(
        drained.map((p) => p.pn),
        [...outstanding.keys()].sort((a, b) => a - b),
      );
    }),
    { numRuns: 300 },
  );
});

test('with a capped probe interval, a PTO that could not send a probe still moves the deadline on', () => {
  // An amplification-limited server may be unable to send the probe: the timer must not
  // stay in the past (a livelock the simulator found), whatever the backoff cap.
  const ld = new LossDetection<string>({ rtt: new RttEstimator(), maxAckDelay: 25, maxProbeInterval: 1000 });
  ld.onPacketSent(packet(0, 0));
  const bound = Math.max(ld.ptoPeriod(true), 1000); // the cap never goes below one unbacked PTO
  let deadline = ld.deadline(true)!;
  for (let i = 0; i < 6; i++) {
    const { probes } = ld.onTimeout(deadline, true);
    assert.ok(probes >= 1);
    const next = ld.deadline(true)!;
    assert.ok(next > deadline, `deadline ${next} must move past ${deadline}`);
    assert.ok(next - deadline <= bound + 1e-9, 'the cap bounds the interval');
    deadline = next;
  }
});

test('a packet declared lost that an ACK names later is reported late-acked, once, outside RTT and cwnd', () => {
  const loss = make(25, 3);
  for (let pn = 0; pn < 6; pn++) loss.onPacketSent(packet(pn, pn));
  const first = loss.onAckReceived([{ smallest: 5, largest: 5 }], 0, 40, true)!;
  assert.deepEqual(pns(first.lost), [0, 1, 2]);
  assert.deepEqual(first.lateAcked, []);
  const srtt = loss.rtt.smoothedRtt;
  const late = loss.onAckReceived([{ smallest: 0, largest: 5 }], 0, 300, true)!;
  assert.deepEqual(pns(late.lateAcked), [0, 1, 2]);
  assert.deepEqual(pns(late.acked), [3, 4]);
  assert.equal(loss.rtt.smoothedRtt !== srtt, false, 'pn 5 was acked before: no new RTT sample');
  // Reported once only.
  assert.deepEqual(loss.onAckReceived([{ smallest: 0, largest: 5 }], 0, 301, true)!.lateAcked, []);
});

test('leaving a path: declareAllLost hands back the flight, and a later ACK of it is late-acked', () => {
  const loss = make();
  for (let pn = 0; pn < 4; pn++) loss.onPacketSent(packet(pn, pn));
  assert.deepEqual(pns(loss.declareAllLost(10)), [0, 1, 2, 3]);
  assert.equal(loss.bytesInFlight, 0);
  assert.equal(loss.deadline(true), undefined, 'no timer left on the path');
  const report = loss.onAckReceived([{ smallest: 0, largest: 1 }], 0, 200, true)!;
  assert.deepEqual(pns(report.lateAcked), [0, 1]);
  assert.deepEqual(report.acked, []);
  // Remembered for a bounded time only.
  assert.deepEqual(loss.onAckReceived([{ smallest: 2, largest: 3 }], 0, 10_000, true)!.lateAcked, []);
});
