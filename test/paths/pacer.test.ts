import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pacer } from '../../src/paths/pacer.js';

test('no pacing before an RTT sample', () => {
  const pacer = new Pacer();
  for (let i = 0; i < 100; i++) {
    assert.equal(pacer.delayUntil(1200, 0, 12000, undefined), undefined);
    pacer.onSend(1200, 0);
  }
  assert.equal(pacer.available(0), Number.POSITIVE_INFINITY);
});

test('a full bucket lets 10 datagrams go at once, then paces at 1.25·cwnd/srtt', () => {
  const pacer = new Pacer({ maxDatagramSize: 1200 });
  const cwnd = 120_000;
  const srtt = 100; // rate = 1.25 · 120000 / 100 = 1500 bytes/ms; burst = max(10 · 1200, 2 ms · 1500)
  for (let i = 0; i < 10; i++) {
    assert.equal(pacer.delayUntil(1200, 0, cwnd, srtt), undefined, `packet ${i}`);
    pacer.onSend(1200, 0);
  }
  assert.equal(pacer.delayUntil(1200, 0, cwnd, srtt), 0.8);
  assert.equal(pacer.delayUntil(1200, 0.8, cwnd, srtt), undefined);
  pacer.onSend(1200, 0.8);
  assert.equal(pacer.delayUntil(1200, 1, cwnd, srtt), 1.6);
});

test('the bucket never holds more than its burst after idle time', () => {
  const pacer = new Pacer({ maxDatagramSize: 1200 });
  pacer.delayUntil(1200, 0, 120_000, 100);
  assert.equal(pacer.available(10_000), 12_000);
});

test('at high rates the burst covers 2 ms, so 1 ms timers never starve the sender', () => {
  const pacer = new Pacer({ maxDatagramSize: 1200 });
  const cwnd = 1_200_000;
  const srtt = 1; // rate 1.5 MB/ms (12 Gbit/s); burst = 3 MB
  let now = 0;
  let sent = 0;
  pacer.delayUntil(1200, now, cwnd, srtt);
  // Wake once per (late) 1 ms timer tick and send everything the pacer allows.
  for (let tick = 0; tick < 100; tick++) {
    now += 1.3;
    while (pacer.delayUntil(1200, now, cwnd, srtt) === undefined) {
      pacer.onSend(1200, now);
      sent += 1200;
    }
  }
  const rate = (1.25 * cwnd) / srtt;
  // The bucket was full at t = 0 and stays capped until the first tick; after that, every
  // tick's accrual (1.95 MB) fits in the 3 MB burst, so nothing more is lost to late timers.
  const expected = 3_000_000 + rate * (now - 1.3);
  assert.ok(sent <= expected + 1 && sent > expected - 100 * 1200, `${sent} vs ${expected}`);
});

test('long-run throughput equals the pacing rate', () => {
  const pacer = new Pacer({ maxDatagramSize: 1200 });
  const cwnd = 60_000;
  const srtt = 50; // 1500 bytes/ms
  let now = 0;
  let sent = 0;
  while (now < 1000) {
    const wait = pacer.delayUntil(1200, now, cwnd, srtt);
    if (wait === undefined) {
      pacer.onSend(1200, now);
      sent += 1200;
    } else {
      now = wait;
    }
  }
  const expected = 1500 * 1000 + 12_000;
  assert.ok(Math.abs(sent - expected) <= 1200, `${sent} vs ${expected}`);
});

test('forced sends overdraw by at most one bucket', () => {
  const pacer = new Pacer({ maxDatagramSize: 1200 });
  pacer.delayUntil(1200, 0, 120_000, 100);
  for (let i = 0; i < 100; i++) pacer.onSend(1200, 0);
  assert.equal(pacer.available(0), -12_000);
  // 12000 bytes of debt + one packet at 1500 bytes/ms.
  assert.equal(pacer.delayUntil(1200, 0, 120_000, 100), (12_000 + 1200) / 1500);
});
