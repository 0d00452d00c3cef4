import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measureFlow, measureQueue, run } from '../../bench/sim.js';

test('the bench flow saturates its bottleneck and counts two events per datagram', () => {
  const flow = measureFlow({ simSeconds: 2, bandwidth: 10e6, delay: 10, window: 128, size: 1200, loss: 0 });
  // Window ≫ bandwidth-delay product: goodput is the link rate minus the ramp-up of the first RTT.
  assert.ok(flow.goodputBitsPerSec > 9.5e6 && flow.goodputBitsPerSec <= 10e6, `${flow.goodputBitsPerSec}`);
  // Data plus acks (those still on the wire at the end are not counted).
  assert.ok(flow.datagrams > 1.9 * flow.deliveredPackets && flow.datagrams <= 2 * flow.deliveredPackets);
  assert.ok(flow.events >= 2 * flow.datagrams);
  assert.ok(measureQueue(10_000, 64) > 0);
});

test('run() reports the headline against the queue baseline and rejects bad arguments', async () => {
  const out = (await run(['--sim-seconds', '1', '--bandwidth', '1e6'])) as Record<string, unknown>;
  assert.equal(out.name, 'sim-datagrams-per-wall-second');
  assert.equal((out.baseline as { name: string }).name, 'bare-event-queue-pop-push');
  assert.equal(typeof out.ratio, 'number');
  assert.ok((out.simSecondsPerWallSecond as number) > 0);
  await assert.rejects(run(['--window', 'lots']), RangeError);
});
