// BBR's model (src/paths/congestion/bbr.ts) and the delivery-rate samples it is built on
// (src/paths/delivery-rate.ts), driven with synthetic samples: no clock, no network.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { socketAddress } from '../../src/net/address.js';
import {
  BBR_BTLBW_FILTER_ROUNDS,
  BBR_HIGH_GAIN,
  BBR_PROBE_RTT_MS,
  BBR_RTPROP_FILTER_MS,
  Bbr,
  createCongestionController,
  initialWindow,
  WindowedMaxFilter,
} from '../../src/paths/congestion/index.js';
import { DeliveryRateEstimator, type RateSample } from '../../src/paths/delivery-rate.js';
import { Path } from '../../src/paths/path.js';
import { RttEstimator } from '../../src/paths/rtt-estimator.js';

const MDS = 1200;

describe('WindowedMaxFilter', () => {
  test('keeps the maximum of the window and forgets values older than it', () => {
    const filter = new WindowedMaxFilter(10);
    filter.update(5, 0);
    filter.update(9, 1);
    filter.update(3, 2);
    assert.equal(filter.best, 9);
    filter.update(4, 10);
    assert.equal(filter.best, 9, 'round 1 is still inside the 10-round window ending at 10');
    filter.update(2, 11);
    assert.equal(filter.best, 4, 'the 9 of round 1 expired; 4 (round 10) is the largest left');
    filter.expire(30);
    assert.equal(filter.best, 2, 'with no newer value the newest one holds');
  });
});

describe('DeliveryRateEstimator', () => {
  test('a sample is the bytes delivered over the longer of the send and ACK intervals', () => {
    const rate = new DeliveryRateEstimator();
    // Ten packets paced 1 ms apart from t = 0; each acknowledged 50 ms after it left.
    const snapshots = [];
    let inFlight = 0;
    for (let i = 0; i < 10; i++) {
      snapshots.push(rate.onPacketSent(inFlight, i));
      inFlight += MDS;
    }
    for (let i = 0; i < 10; i++) rate.onPacketAcked(MDS, i, snapshots[i], false, 50 + i);
    const sample = rate.takeSample(10);
    // Last packet: sent at 9 with delivered 0 since t = 0; acknowledged at 59: 12000 B / 59 ms.
    assert.equal(sample.newlyAcked, 10 * MDS);
    assert.equal(sample.delivered, 10 * MDS);
    assert.equal(sample.rtt, 50);
    assert.equal(sample.appLimited, false);
    assert.ok(Math.abs(sample.deliveryRate - (10 * MDS) / 59) < 1e-9, `rate ${sample.deliveryRate}`);

    // ACK compression: the next packet is acknowledged in a burst 1 ms after the last ACK, but its
    // send interval (sent 40 ms after the previous first-sent time) bounds the rate.
    const next = rate.onPacketSent(0, 100);
    rate.onPacketAcked(MDS, 100, next, true, 150);
    const second = rate.takeSample(10);
    assert.equal(second.appLimited, true, 'the caller’s app-limited verdict is carried');
    assert.ok(Math.abs(second.deliveryRate - MDS / 50) < 1e-9, `rate ${second.deliveryRate}`);
  });

  test('an interval shorter than min_rtt gives no rate; losses are counted per sample', () => {
    const rate = new DeliveryRateEstimator();
    const snapshot = rate.onPacketSent(0, 0);
    rate.onPacketsLost(2400);
    rate.onPacketAcked(MDS, 0, snapshot, false, 5);
    const sample = rate.takeSample(20);
    assert.equal(sample.deliveryRate, 0);
    assert.equal(sample.newlyLost, 2400);
    assert.equal(rate.takeSample(20).newlyLost, 0);
  });
});

/** Feeds BBR one round trip of deliveries at `rate` (bytes/ms) with RTT `rtt`, as one ACK. */
class Driver {
  readonly bbr = new Bbr(MDS);
  readonly rtt = new RttEstimator();
  now = 0;
  delivered = 0;
  lost = 0;

  round(rate: number, rtt: number, opts: { appLimited?: boolean; lost?: number; inFlight?: number } = {}) {
    const prior = this.delivered;
    const acked = Math.max(MDS, Math.round(rate * rtt));
    this.now += rtt;
    this.delivered += acked;
    this.lost += opts.lost ?? 0;
    this.rtt.update(rtt, 0, 0, true);
    this.bbr.onPacketAcked(acked, this.now - rtt, this.now, this.rtt, opts.appLimited ?? false);
    if (opts.lost) {
      this.bbr.onPacketsLost(opts.lost, opts.inFlight ?? this.bbr.window, this.now);
      this.bbr.onCongestionEvent(this.now - 1, this.now);
    }
    const sample: RateSample = {
      deliveryRate: rate,
      appLimited: opts.appLimited ?? false,
      rtt,
      priorDelivered: prior,
      newlyAcked: acked,
      newlyLost: opts.lost ?? 0,
      delivered: this.delivered,
      lost: this.lost,
    };
    this.bbr.onAckProcessed(sample, opts.inFlight ?? Math.min(this.bbr.window, rate * rtt), this.now);
  }
}

describe('BBR', () => {
  test('selectable by name; starts in STARTUP with the initial window and no rate before an RTT', () => {
    const bbr = createCongestionController('bbr', MDS);
    assert.ok(bbr instanceof Bbr);
    assert.equal(bbr.window, initialWindow(MDS));
    assert.equal(bbr.inSlowStart, true);
    assert.equal(bbr.pacingRate, undefined);
  });

  test('STARTUP → DRAIN → PROBE_BW once the bandwidth stops growing for three rounds', () => {
    const d = new Driver();
    // Delivery rate doubles for five rounds, then the bottleneck (2500 B/ms = 20 Mbit/s) is reached.
    let rate = 100;
    for (let i = 0; i < 5; i++) {
      d.round(rate, 50);
      assert.equal(d.bbr.state, 'startup');
      rate *= 2;
    }
    const bottleneck = 2500;
    d.round(bottleneck, 50); // +56 %: still growing
    d.round(bottleneck, 50);
    d.round(bottleneck, 50);
    assert.equal(d.bbr.state, 'startup');
    // Third round without 25 % growth: the pipe is full; with the queue still full, DRAIN.
    d.round(bottleneck, 50, { inFlight: 5 * bottleneck * 50 });
    assert.equal(d.bbr.state, 'drain');
    assert.ok(Math.abs((d.bbr.pacingRate as number) - bottleneck / BBR_HIGH_GAIN) < 1e-9);
    // Once the flight is down to one BDP, PROBE_BW paces at a gain of the bottleneck rate.
    d.round(bottleneck, 50, { inFlight: bottleneck * 50 });
    assert.equal(d.bbr.state, 'probe-bw');
    assert.equal(d.bbr.bottleneckBandwidth, bottleneck);
    assert.ok([1, 1.25].includes(d.bbr.currentPacingGain), `gain ${d.bbr.currentPacingGain}`);
    assert.equal(d.bbr.pacingRate, d.bbr.currentPacingGain * bottleneck);
    // The window converges to 2 × BDP plus quanta.
    for (let i = 0; i < 20; i++) d.round(bottleneck, 50);
    assert.equal(d.bbr.window, 2 * bottleneck * 50 + 3 * MDS);
  });

  /** A driver already cruising in PROBE_BW at `rate` bytes/ms. */
  function cruising(rate: number, rtt: number): Driver {
    const d = new Driver();
    for (let i = 0; i < 12 && d.bbr.state !== 'probe-bw'; i++) d.round(rate, rtt, { inFlight: 0 });
    assert.equal(d.bbr.state, 'probe-bw');
    return d;
  }

  test('app-limited samples below the estimate do not lower it; higher ones raise it', () => {
    const d = cruising(2500, 50);
    for (let i = 0; i < 3 * BBR_BTLBW_FILTER_ROUNDS; i++) d.round(100, 50, { appLimited: true });
    assert.equal(d.bbr.bottleneckBandwidth, 2500, 'a quiet application is not a slow path');
    d.round(3000, 50, { appLimited: true });
    assert.equal(d.bbr.bottleneckBandwidth, 3000);
  });

  test('random loss leaves the model and the rate alone; the window is back within two rounds', () => {
    const d = cruising(2500, 50);
    for (let i = 0; i < 8; i++) d.round(2500, 50); // a whole gain cycle: back at gain 1
    const window = d.bbr.window;
    const before = d.bbr.bottleneckBandwidth;
    // 3 % of a round's bytes lost in every round for 30 rounds.
    for (let i = 0; i < 30; i++) {
      d.round(2500, 50, { lost: Math.round(0.03 * 2500 * 50), inFlight: window * 0.97 });
      assert.equal(d.bbr.bottleneckBandwidth, before);
    }
    assert.ok((d.bbr.pacingRate as number) >= 0.75 * before, 'still paced at the model rate');
    d.round(2500, 50);
    d.round(2500, 50);
    assert.ok(d.bbr.window >= 0.95 * window, `window ${d.bbr.window} against ${window}`);
  });

  test('a real rate drop is followed once the old maximum leaves the 10-round window', () => {
    const d = cruising(2500, 50);
    for (let i = 0; i < BBR_BTLBW_FILTER_ROUNDS; i++) d.round(1250, 50);
    assert.equal(d.bbr.bottleneckBandwidth, 1250);
    assert.ok((d.bbr.pacingRate as number) <= 1.25 * 1250);
  });

  test('min_rtt expires after 10 s: PROBE_RTT holds 4 packets for 200 ms and a round, then restores', () => {
    const d = cruising(2500, 50);
    const window = d.bbr.window;
    assert.equal(d.bbr.minRtt, 50);
    // RTTs above min_rtt (a standing queue) for 10 s: the estimate is due for refreshing.
    const lastMinimumAt = d.now;
    while (d.now <= lastMinimumAt + BBR_RTPROP_FILTER_MS) {
      assert.equal(d.bbr.state, 'probe-bw');
      d.round(2500, 60);
    }
    assert.equal(d.bbr.state, 'probe-rtt');
    assert.equal(d.bbr.minRtt, 60, 'the expired estimate took the newest sample');
    assert.equal(d.bbr.window, 4 * MDS);
    const enteredAt = d.now;
    d.round(2500, 50, { inFlight: 4 * MDS }); // flight drained: the 200 ms start now
    assert.equal(d.bbr.minRtt, 50);
    while (d.bbr.state === 'probe-rtt') {
      assert.equal(d.bbr.window, 4 * MDS);
      d.round(2500, 50, { inFlight: 4 * MDS });
    }
    assert.ok(d.now - enteredAt > BBR_PROBE_RTT_MS, `left after ${d.now - enteredAt} ms`);
    assert.equal(d.bbr.state, 'probe-bw');
    assert.ok(d.bbr.window >= window, `window restored: ${d.bbr.window} against ${window}`);
  });
});

describe('a path under BBR', () => {
  test('paces at the rate the model sets, from the delivery-rate sample of each ACK', () => {
    const path = new Path<null>({
      id: 1,
      local: socketAddress('192.0.2.1', 4433),
      remote: socketAddress('198.51.100.7', 5000),
      now: 0,
      maxAckDelay: 25,
      validated: true,
      congestionControl: 'bbr',
    });
    const send = (pn: number, at: number) =>
      path.onPacketSent({ pn, timeSent: at, size: MDS, ackEliciting: true, inFlight: true, info: null }, at);
    send(0, 0);
    // Acknowledged 100 ms later: one packet delivered over 100 ms, 12 bytes per ms.
    const outcome = path.loss.onAckReceived([{ smallest: 0, largest: 0 }], 0, 100, true);
    for (const packet of outcome?.acked ?? []) path.onPacketAcked(packet, 100);
    path.onAckProcessed(100);
    const bbr = path.cc as Bbr;
    assert.equal(bbr.bottleneckBandwidth, MDS / 100);
    assert.equal(bbr.pacingRate, BBR_HIGH_GAIN * (MDS / 100));
    // The pacer's burst (10 packets) goes at once; the next packet waits one packet at BBR's rate
    // (1.25 × cwnd / srtt would let it go after 8 ms).
    for (let pn = 1; pn <= 10; pn++) {
      assert.deepEqual(path.canSend(MDS, 100), { ok: true });
      send(pn, 100);
    }
    const verdict = path.canSend(MDS, 100);
    assert.equal(verdict.ok, false);
    assert.ok(!verdict.ok && verdict.reason === 'pacing');
    assert.ok(
      !verdict.ok && Math.abs((verdict.until as number) - (100 + MDS / (BBR_HIGH_GAIN * (MDS / 100)))) < 1e-9,
      JSON.stringify(verdict),
    );
  });
});
