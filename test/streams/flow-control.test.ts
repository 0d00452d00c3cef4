import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReceiveWindow, SendCredit } from '../../src/engine/streams/flow-control.js';

test('receive window rejects data beyond the advertised limit', () => {
  const window = new ReceiveWindow(1000, 4000);
  assert.equal(window.limit, 1000);
  assert.ok(window.onReceived(1000));
  assert.equal(window.onReceived(1001), false);
});

test('advertises more only after half the window is consumed', () => {
  const window = new ReceiveWindow(1000, 1000);
  assert.equal(window.onConsumed(400, 0, 100), undefined);
  assert.equal(window.onConsumed(100, 10, 100), 1500);
  assert.equal(window.limit, 1500);
  assert.equal(window.onConsumed(499, 20, 100), undefined);
  assert.equal(window.onConsumed(1, 30, 100), 2000);
  assert.equal(window.window, 1000, 'max caps the window');
  assert.equal(window.onConsumed(0, 40, 100), undefined);
});

test('auto-tuning doubles the window when updates come faster than two RTTs, up to max', () => {
  const window = new ReceiveWindow(1000, 4000);
  // Consumption spread over 50 ms with a 10 ms RTT: slow, no growth.
  window.onConsumed(100, 0, 10);
  assert.equal(window.onConsumed(400, 50, 10), 1500);
  assert.equal(window.window, 1000);
  // Half a window within 5 ms (< 2 RTT): double.
  assert.equal(window.onConsumed(500, 55, 10), 3000);
  assert.equal(window.window, 2000);
  assert.equal(window.onConsumed(1000, 58, 10), 6000);
  assert.equal(window.window, 4000);
  assert.equal(window.onConsumed(2000, 59, 10), 8000);
  assert.equal(window.window, 4000, 'never beyond max');
});

test('no auto-tuning without an RTT sample', () => {
  const window = new ReceiveWindow(1000, 4000);
  window.onConsumed(500, 0, undefined);
  window.onConsumed(500, 0, undefined);
  assert.equal(window.window, 1000);
});

test('send credit only grows and reports what is left', () => {
  const credit = new SendCredit(100);
  assert.equal(credit.available(30), 70);
  assert.equal(credit.available(150), 0);
  assert.equal(credit.raise(90), false);
  assert.equal(credit.raise(100), false);
  assert.equal(credit.raise(200), true);
  assert.equal(credit.limit, 200);
});

test('under memory pressure a grown window falls back to its initial size', () => {
  const w = new ReceiveWindow(1000, 64_000);
  // Consumed faster than twice the RTT: the window doubles each update.
  w.onReceived(1000);
  assert.equal(w.onConsumed(600, 0, 10), 2600);
  w.onReceived(2600);
  assert.equal(w.onConsumed(1200, 1, 10), 5800);
  assert.equal(w.window, 4000);
  w.onReceived(5800);
  assert.equal(w.onConsumed(2400, 2, 10, true), undefined, '1800 left of the shrunk 1000: nothing to grant');
  assert.equal(w.window, 1000);
  assert.equal(w.onConsumed(1400, 3, 10, true), 6600, 'credit beyond what was read is the initial window');
});
