import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BASE_UDP_PAYLOAD,
  BLACK_HOLE_RETRY,
  MAX_PROBES,
  PmtuDiscovery,
  RAISE_INTERVAL,
} from '../../src/paths/pmtu.js';

/** Runs the search against a path that carries `mtu` bytes; returns the probe sizes tried. */
function search(pmtu: PmtuDiscovery, mtu: number, now = 0): number[] {
  const tried: number[] = [];
  for (let size = pmtu.probeSize(now); size !== undefined; size = pmtu.probeSize(now)) {
    tried.push(size);
    pmtu.onProbeSent(size);
    if (size <= mtu) pmtu.onProbeAcked(size);
    else pmtu.onProbeLost(size);
  }
  return tried;
}

test('starts at 1200, tries the ceiling first, and stops there if it fits', () => {
  const pmtu = new PmtuDiscovery(1452);
  assert.equal(pmtu.size, BASE_UDP_PAYLOAD);
  assert.deepEqual(search(pmtu, 1500), [1452]);
  assert.equal(pmtu.size, 1452);
  assert.equal(pmtu.state, 'complete');
});

test('a smaller path: MAX_PROBES losses of a size, then bisection to within 16 bytes', () => {
  const pmtu = new PmtuDiscovery(1452);
  const tried = search(pmtu, 1300);
  assert.deepEqual(tried.slice(0, MAX_PROBES), [1452, 1452, 1452]);
  assert.ok(pmtu.size <= 1300 && pmtu.size > 1300 - 16, `${pmtu.size}`);
  assert.equal(pmtu.state, 'complete');
});

test('the peer limit caps the search; 1200 on either side means no probing', () => {
  const capped = new PmtuDiscovery(1452);
  capped.limitTo(1350);
  search(capped, 1500);
  assert.equal(capped.size, 1350);
  const off = new PmtuDiscovery(1200);
  assert.equal(off.probeSize(0), undefined);
});

test('one probe at a time; the search starts again after the raise interval', () => {
  const pmtu = new PmtuDiscovery(1452);
  pmtu.onProbeSent(pmtu.probeSize(0)!);
  assert.equal(pmtu.probeSize(0), undefined, 'a probe is outstanding');
  pmtu.onProbeLost(1452);
  search(pmtu, 1400); // ends at time 0: the raise timer starts then
  assert.equal(pmtu.probeSize(RAISE_INTERVAL - 1), undefined);
  assert.equal(pmtu.probeSize(RAISE_INTERVAL), 1452, 'the ceiling again: the path may have grown');
});

test('black hole: large packets lost and a base-size one acknowledged fall back; the old size, lost 3 times, confirms', () => {
  const pmtu = new PmtuDiscovery(1452);
  search(pmtu, 1500);
  assert.equal(pmtu.size, 1452);
  for (let i = 0; i < 3; i++) pmtu.onPacketLost(1452);
  assert.equal(pmtu.onPacketsAcked([1200], 100), true);
  assert.equal(pmtu.size, BASE_UDP_PAYLOAD, 'sending at 1200 at once');
  for (let i = 0; i < MAX_PROBES; i++) {
    assert.equal(pmtu.probeSize(100), 1452, 'the old size is probed to confirm');
    pmtu.onProbeSent(1452);
    pmtu.onProbeLost(1452);
  }
  assert.equal(pmtu.blackHoles, 1);
  assert.equal(pmtu.probeSize(200), undefined, 'the search waits');
  assert.equal(pmtu.probeSize(200 + BLACK_HOLE_RETRY - 1), undefined);
  search(pmtu, 1252, 200 + BLACK_HOLE_RETRY);
  assert.ok(pmtu.size <= 1252 && pmtu.size > 1252 - 16, `${pmtu.size}`);
});

test('random loss is not a black hole: a large packet acknowledged clears the count, a confirmed size comes back', () => {
  const pmtu = new PmtuDiscovery(1452);
  search(pmtu, 1500);
  for (let i = 0; i < 5; i++) pmtu.onPacketLost(1452);
  assert.equal(pmtu.onPacketsAcked([1452, 1200], 10), false);
  assert.equal(pmtu.onPacketsAcked([1200], 20), false, 'the count was cleared');
  pmtu.onPacketLost(1452);
  pmtu.onPacketLost(1452);
  assert.equal(pmtu.onPacketsAcked([1200], 30), false, 'two losses are not enough');
  assert.equal(pmtu.size, 1452);
  // A burst of three at a stream's tail looks like a black hole until the probe of 1452 arrives.
  pmtu.onPacketLost(1452);
  assert.equal(pmtu.onPacketsAcked([1200], 40), true);
  assert.equal(pmtu.size, 1200);
  pmtu.onProbeSent(pmtu.probeSize(40)!);
  pmtu.onProbeAcked(1452);
  assert.equal(pmtu.size, 1452);
  assert.equal(pmtu.blackHoles, 0);
  assert.equal(pmtu.state, 'complete');
});
