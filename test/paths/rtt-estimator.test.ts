import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RttEstimator } from '../../src/paths/rtt-estimator.js';

test('before any sample: initial RTT 333 ms, rttvar half of it, PTO per RFC 9002', () => {
  const rtt = new RttEstimator();
  assert.equal(rtt.hasSample, false);
  assert.equal(rtt.smoothedRtt, 333);
  assert.equal(rtt.rttVar, 166.5);
  // srtt + max(4·rttvar, 1) + max_ack_delay
  assert.equal(rtt.pto(25), 333 + 666 + 25);
  assert.equal(new RttEstimator(100).pto(0), 100 + 200);
});

test('first sample sets srtt = sample, rttvar = sample / 2 and ignores ack delay', () => {
  const rtt = new RttEstimator();
  rtt.update(100, 40, 25, true);
  assert.equal(rtt.hasSample, true);
  assert.equal(rtt.latestRtt, 100);
  assert.equal(rtt.minRtt, 100);
  assert.equal(rtt.smoothedRtt, 100);
  assert.equal(rtt.rttVar, 50);
});

test('later samples subtract ack delay and smooth with 7/8 and 3/4 (RFC 9002 §5.3)', () => {
  const rtt = new RttEstimator();
  rtt.update(100, 0, 25, true);
  rtt.update(120, 10, 25, true);
  // adjusted = 120 - 10 = 110; rttvar = 3/4·50 + 1/4·|100 - 110|; srtt = 7/8·100 + 1/8·110
  assert.equal(rtt.rttVar, 40);
  assert.equal(rtt.smoothedRtt, 101.25);
  assert.equal(rtt.minRtt, 100);
});

test('ack delay is capped by max_ack_delay only once the handshake is confirmed', () => {
  const confirmed = new RttEstimator();
  confirmed.update(100, 0, 25, true);
  confirmed.update(200, 50, 25, true); // adjusted 175
  assert.equal(confirmed.smoothedRtt, 0.875 * 100 + 0.125 * 175);

  const unconfirmed = new RttEstimator();
  unconfirmed.update(100, 0, 25, false);
  unconfirmed.update(200, 50, 25, false); // adjusted 150
  assert.equal(unconfirmed.smoothedRtt, 0.875 * 100 + 0.125 * 150);
});

test('ack delay is not subtracted when that would go below min_rtt', () => {
  const rtt = new RttEstimator();
  rtt.update(100, 0, 25, true);
  rtt.update(105, 10, 25, true); // 105 < 100 + 10: use 105 unadjusted
  assert.equal(rtt.smoothedRtt, 0.875 * 100 + 0.125 * 105);
  rtt.update(80, 0, 25, true);
  assert.equal(rtt.minRtt, 80);
  assert.equal(rtt.latestRtt, 80);
});

test('PTO uses the 1 ms granularity floor when rttvar is tiny', () => {
  const rtt = new RttEstimator();
  rtt.update(10, 0, 0, true);
  for (let i = 0; i < 50; i++) rtt.update(10, 0, 0, true);
  assert.ok(rtt.rttVar < 0.25);
  assert.equal(rtt.pto(0), rtt.smoothedRtt + 1);
});

test('invalid samples are ignored; reset forgets samples', () => {
  const rtt = new RttEstimator(50);
  rtt.update(Number.NaN, 0, 25, true);
  rtt.update(-1, 0, 25, true);
  assert.equal(rtt.hasSample, false);
  rtt.update(20, 0, 25, true);
  rtt.reset();
  assert.equal(rtt.hasSample, false);
  assert.equal(rtt.smoothedRtt, 50);
  assert.equal(rtt.minRtt, Number.POSITIVE_INFINITY);
});
