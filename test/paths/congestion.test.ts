import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CUBIC_ALPHA,
  CUBIC_BETA,
  CUBIC_C,
  Cubic,
  createCongestionController,
  initialWindow,
  minimumWindow,
  NewReno,
} from '../../src/paths/congestion/index.js';
import { RttEstimator } from '../../src/paths/rtt-estimator.js';

const MDS = 1200;

function rttOf(ms: number): RttEstimator {
  const rtt = new RttEstimator();
  rtt.update(ms, 0, 0, true);
  return rtt;
}

test('initial and minimum windows follow RFC 9002 §7.2', () => {
  assert.equal(initialWindow(1200), 12000);
  assert.equal(initialWindow(1472), 14720);
  assert.equal(initialWindow(1500), 14720);
  assert.equal(initialWindow(9000), 18000);
  assert.equal(minimumWindow(1200), 2400);
  for (const kind of ['cubic', 'newreno'] as const) {
    const cc = createCongestionController(kind, 1200);
    assert.equal(cc.window, 12000);
    assert.equal(cc.ssthresh, Number.POSITIVE_INFINITY);
    assert.equal(cc.inSlowStart, true);
  }
  assert.ok(createCongestionController('newreno', 1200) instanceof NewReno);
  assert.ok(createCongestionController('cubic', 1200) instanceof Cubic);
});

for (const Kind of [NewReno, Cubic]) {
  test(`${Kind.name}: slow start grows by the bytes acknowledged; app-limited ACKs do not grow it`, () => {
    const cc = new Kind(MDS);
    const rtt = rttOf(100);
    cc.onPacketAcked(1200, 0, 100, rtt, false);
    assert.equal(cc.window, 13200);
    cc.onPacketAcked(1200, 1, 101, rtt, true);
    assert.equal(cc.window, 13200);
    for (let i = 0; i < 11; i++) cc.onPacketAcked(1200, 2, 102, rtt, false);
    assert.equal(cc.window, 26400); // doubled in one window's worth of ACKs
  });
}

test('NewReno: halves once per recovery period, grows by mds·acked/cwnd in congestion avoidance', () => {
  const cc = new NewReno(MDS);
  const rtt = rttOf(100);
  cc.onPacketAcked(1200, 0, 100, rtt, false); // 13200
  cc.onCongestionEvent(90, 200);
  assert.equal(cc.ssthresh, 6600);
  assert.equal(cc.window, 6600);
  assert.equal(cc.inSlowStart, false);

  // More losses from the same flight (sent before recovery started) change nothing.
  cc.onCongestionEvent(150, 210);
  cc.onCongestionEvent(200, 220);
  assert.equal(cc.window, 6600);
  // ACKs of packets sent before recovery started do not grow the window.
  cc.onPacketAcked(1200, 199, 230, rtt, false);
  assert.equal(cc.window, 6600);

  cc.onPacketAcked(1200, 201, 300, rtt, false);
  assert.equal(cc.window, 6600 + (1200 * 1200) / 6600);

  // A loss of a packet sent after recovery began starts a new period.
  const before = cc.window;
  cc.onCongestionEvent(250, 310);
  assert.equal(cc.window, before / 2);
  cc.onCongestionEvent(311, 320); // 1909 → floor at the minimum window
  assert.equal(cc.window, 2400);

  cc.onPersistentCongestion();
  assert.equal(cc.window, 2400);
});

test('NewReno: one congestion-avoidance window of ACKs adds one datagram', () => {
  const cc = new NewReno(MDS);
  const rtt = rttOf(100);
  for (let i = 0; i < 90; i++) cc.onPacketAcked(1200, 0, 10, rtt, false); // 120000
  cc.onCongestionEvent(10, 20); // 60000
  const start = cc.window;
  for (let i = 0; i < start / 1200; i++) cc.onPacketAcked(1200, 30, 130, rtt, false);
  assert.ok(Math.abs(cc.window - (start + 1200)) < 15, `${cc.window}`);
});

test('NewReno: persistent congestion collapses to the minimum window, then slow start resumes', () => {
  const cc = new NewReno(MDS);
  const rtt = rttOf(100);
  cc.onCongestionEvent(0, 10); // 6000
  cc.onPersistentCongestion();
  assert.equal(cc.window, 2400);
  assert.equal(cc.inSlowStart, true);
  cc.onPacketAcked(1200, 5, 100, rtt, false); // packet sent before the old period: still grows (period reset)
  assert.equal(cc.window, 3600);
});

/** Grows a controller to `segments` full datagrams by slow start. */
function grownCubic(segments: number): Cubic {
  const cc = new Cubic(MDS);
  const rtt = rttOf(100);
  while (cc.window < segments * MDS) cc.onPacketAcked(MDS, 0, 1, rtt, false);
  assert.equal(cc.window, segments * MDS);
  return cc;
}

test('CUBIC: reduction by β = 0.7 once per recovery period, K = ∛(W_max·(1−β)/C)', () => {
  const cc = grownCubic(100);
  cc.onCongestionEvent(5, 1000);
  assert.equal(cc.window, 84000);
  assert.equal(cc.ssthresh, 84000);
  assert.equal(cc.lastMaxWindow, 120000);
  assert.ok(Math.abs(cc.timeToOrigin - Math.cbrt((100 * (1 - CUBIC_BETA)) / CUBIC_C)) < 1e-9);
  cc.onCongestionEvent(900, 1010); // same flight
  assert.equal(cc.window, 84000);
  // W_cubic(0) is the reduced window and W_cubic(K) is W_max.
  assert.ok(Math.abs(cc.cubicWindow(0) - 84000) < 1e-6);
  assert.ok(Math.abs(cc.cubicWindow(cc.timeToOrigin) - 120000) < 1e-6);
});

test('CUBIC: fast convergence lowers W_max when a loss comes before reaching the old one', () => {
  const cc = grownCubic(100);
  cc.onCongestionEvent(5, 1000); // W_max 120000, cwnd 84000
  cc.onCongestionEvent(1001, 1100); // cwnd 84000 < W_max
  assert.equal(cc.lastMaxWindow, (84000 * (1 + CUBIC_BETA)) / 2);
  assert.equal(cc.window, 84000 * CUBIC_BETA);
  const k = Math.cbrt((cc.lastMaxWindow! - cc.window) / MDS / CUBIC_C);
  assert.ok(Math.abs(cc.timeToOrigin - k) < 1e-9);
});

test('CUBIC: one ACK in the cubic region moves cwnd by (W_cubic(t+RTT) − cwnd)·acked/cwnd', () => {
  const cc = grownCubic(100);
  const rtt = rttOf(100);
  cc.onCongestionEvent(5, 1000);
  cc.onPacketAcked(MDS, 1001, 2000, rtt, false); // t = 1 s
  const target = cc.cubicWindow(1.1);
  assert.ok(target > 84000 && target < 1.5 * 84000);
  const expected = 84000 + ((target - 84000) * MDS) / 84000;
  assert.ok(Math.abs(cc.window - expected) < 1e-6, `${cc.window} vs ${expected}`);
});

/** Acks a full window every RTT starting right after a loss at t = 0; returns cwnd after each RTT. */
function cubicTrajectory(cc: Cubic, rttMs: number, rounds: number, start = 0): number[] {
  const rtt = rttOf(rttMs);
  const out: number[] = [];
  let now = start;
  for (let round = 0; round < rounds; round++) {
    now += rttMs;
    const packets = Math.floor(cc.window / MDS);
    for (let i = 0; i < packets; i++) {
      const at = now - rttMs + (rttMs * (i + 1)) / packets;
      cc.onPacketSent(MDS, at - rttMs);
      cc.onPacketAcked(MDS, at - rttMs + 0.001, at, rtt, false);
    }
    out.push(cc.window);
  }
  return out;
}

test('CUBIC: concave growth up to W_max near t = K, convex beyond (RFC 9438 §4.2)', () => {
  const cc = grownCubic(100);
  cc.onCongestionEvent(-1, 0);
  const k = cc.timeToOrigin; // ≈ 4.22 s
  const trajectory = cubicTrajectory(cc, 100, 80);
  for (let round = 5; round < 80; round++) {
    // cwnd after round r (time t) tracks the curve between W_cubic(t) and W_cubic(t + RTT).
    const t = (round + 1) * 0.1;
    const low = cc.cubicWindow(t) * 0.98;
    const high = cc.cubicWindow(t + 0.1) * 1.02;
    assert.ok(trajectory[round] >= low && trajectory[round] <= high, `round ${round}: ${trajectory[round]}`);
  }
  const atK = trajectory[Math.round(k * 10) - 1];
  assert.ok(Math.abs(atK - 120000) / 120000 < 0.02, `cwnd at K ${atK}`);
  const increase = (round: number) => trajectory[round] - trajectory[round - 1];
  assert.ok(increase(10) > increase(20) && increase(20) > increase(35), 'concave before K');
  assert.ok(increase(55) < increase(65) && increase(65) < increase(75), 'convex after K');
});

test('CUBIC: Reno-friendly region on short RTTs grows by α_cubic datagrams per RTT', () => {
  const cc = grownCubic(100);
  cc.onCongestionEvent(-1, 0);
  const trajectory = cubicTrajectory(cc, 10, 30); // 300 ms
  for (let round = 10; round < 30; round++) {
    const t = (round + 1) * 0.01;
    assert.ok(trajectory[round] > cc.cubicWindow(t + 0.01), `round ${round} above the cubic curve`);
    // W_est adds α·mds per window of ACKs (less the fraction of a datagram the round leaves unacked).
    const packets = Math.floor(trajectory[round - 1] / MDS);
    const expected = (CUBIC_ALPHA * MDS * packets * MDS) / trajectory[round - 1];
    const increase = trajectory[round] - trajectory[round - 1];
    assert.ok(Math.abs(increase - expected) / expected < 0.01, `round ${round}: ${increase} vs ${expected}`);
  }
  // Once W_est passes the window before the loss (120000), α becomes 1: Reno's one datagram per RTT.
  const later = cubicTrajectory(cc, 10, 70, 300); // t = 0.3 s … 1.0 s
  const last = later[69];
  assert.ok(later[60] > 120000 && last > cc.cubicWindow(1.0));
  const perRound = (last - later[59]) / 10;
  assert.ok(Math.abs(perRound - MDS) / MDS < 0.02, `${perRound}`);
});

test('CUBIC: idle time does not count toward t, so the window does not jump after a pause', () => {
  const cc = grownCubic(100);
  const rtt = rttOf(100);
  cc.onPacketSent(MDS, 0);
  cc.onCongestionEvent(-1, 0);
  cc.onPacketSent(MDS, 10_000); // 10 s idle
  cc.onPacketAcked(MDS, 10_000, 10_100, rtt, false);
  assert.ok(cc.window < 84000 * 1.001, `${cc.window}`);

  // The same ACK without the idle adjustment would have grown by the 1.5× cap's share.
  const busy = grownCubic(100);
  busy.onCongestionEvent(-1, 0);
  busy.onPacketAcked(MDS, 10_000, 10_100, rtt, false);
  assert.ok(busy.window > 84000 * 1.004, `${busy.window}`);
});

test('CUBIC: app-limited periods do not count toward t', () => {
  const rtt = rttOf(100);
  const limited = grownCubic(100);
  limited.onCongestionEvent(-1, 0);
  for (let now = 100; now <= 5000; now += 100) limited.onPacketAcked(MDS, now - 100, now, rtt, true);
  assert.equal(limited.window, 84000);
  limited.onPacketAcked(MDS, 5000, 5100, rtt, false); // t ≈ 0.2 s once the 4.9 s are excluded
  const expected = 84000 + ((limited.cubicWindow(0.3) - 84000) * MDS) / 84000;
  assert.ok(Math.abs(limited.window - expected) < 1e-6, `${limited.window} vs ${expected}`);
});

test('CUBIC: after persistent congestion the next epoch starts at W_max = cwnd with K = 0', () => {
  const cc = grownCubic(100);
  const rtt = rttOf(100);
  cc.onCongestionEvent(-1, 0); // ssthresh 84000
  cc.onPersistentCongestion();
  assert.equal(cc.window, 2400);
  assert.equal(cc.inSlowStart, true);
  while (cc.inSlowStart) cc.onPacketAcked(MDS, 1, 100, rtt, false);
  const entered = cc.window;
  cc.onPacketAcked(MDS, 1, 200, rtt, false);
  assert.equal(cc.lastMaxWindow, entered);
  assert.equal(cc.timeToOrigin, 0);
  assert.ok(cc.window > entered);
});
