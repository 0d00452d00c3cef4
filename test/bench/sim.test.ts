import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measureFlow, measureQueue, run } from '../../bench/sim.js';

test('the bench flow is a real-engine session that fills its bottleneck and stays open', () => {
  const flow = measureFlow({ simSeconds: 5, bandwidth: 1e6, delay: 10, loss: 0 });
  assert.equal(flow.sessionOpen, true);
  // Minus the handshake, slow start and packet overhead, the link rate reaches the stream.
  assert.ok(flow.goodputBitsPerSec > 0.8e6 && flow.goodputBitsPerSec <= 1e6, `${flow.goodputBitsPerSec}`);
  // Data one way and ACKs the other: every delivered datagram is at least two events.
  assert.ok(flow.datagrams > (flow.deliveredBytes / 1200) * 1.05, `${flow.datagrams} datagrams`);
  assert.ok(flow.events >= 2 * flow.datagrams);
  assert.ok(measureQueue(10_000, 64) > 0);
});

test('run() reports the headline against the queue baseline and rejects bad arguments', async () => {
  const out = (await run(['--sim-seconds', '1', '--bandwidth', '1e6'])) as Record<string, unknown>;
  assert.equal(out.name, 'sim-datagrams-per-wall-second');
  assert.equal((out.baseline as { name: string }).name, 'bare-event-queue-pop-push');
  assert.equal(typeof out.ratio, 'number');
  assert.ok((out.simSecondsPerWallSecond as number) > 0);
  assert.equal(out.sessionOpen, true);
  await assert.rejects(run(['--delay', 'lots']), RangeError);
  await assert.rejects(run(['--window', '8']), TypeError);
});
