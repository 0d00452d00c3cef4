/**
 * Keeps bench/handshake.ts honest: short runs of each measurement must complete real
 * handshakes (the sans-I/O loop counts only confirmed ones) and report sane figures.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { measureDh, measureSansIo, measureSockets, run } from '../../bench/handshake.js';

test('sans-I/O handshake loop completes confirmed IK handshakes in 4 datagrams each', () => {
  const result = measureSansIo(150);
  assert.ok(result.handshakes > 0);
  assert.equal(result.datagramsPerHandshake, 4);
  assert.ok(result.serverSeconds > 0 && result.serverSeconds < result.seconds);
  // Both sides share one core, so the server alone must be faster than the pair.
  assert.ok(result.serverPerSecond > result.perSecond);
});

test('sans-I/O XX handshakes complete too (no server key given), also in 4 datagrams', () => {
  const result = measureSansIo(150, 'xx');
  assert.ok(result.handshakes > 0);
  assert.equal(result.datagramsPerHandshake, 4);
  assert.ok(result.serverPerSecond > result.perSecond);
});

test('X25519 baseline and real-socket handshakes produce positive rates and connect() times', async () => {
  assert.ok(measureDh(50) > 100);
  for (const pattern of ['ik', 'xx'] as const) {
    const sockets = await measureSockets(0.3, pattern);
    assert.ok(sockets.handshakes > 0 && sockets.perSecond > 0, pattern);
    // connect() is part of each connect + close, so its median is below their mean.
    assert.ok(sockets.connectMedianMs > 0 && sockets.connectP90Ms >= sockets.connectMedianMs, pattern);
    assert.ok(sockets.closeMedianMs > 0, pattern);
  }
});

test('run() follows the bench result convention and rejects unknown arguments', async () => {
  const output = (await run(['--duration-ms', '100', '--socket-seconds', '0.2'])) as Record<string, unknown>;
  assert.equal(output.unit, 'handshakes/s');
  assert.ok((output.value as number) > 0);
  assert.ok(((output.baseline as { value: number }).value as number) > 0);
  assert.ok((output.ratio as number) > 0 && (output.ratio as number) < 1);
  const targets = output.targets as Record<string, number | boolean>;
  assert.equal(targets.serverIkPerSecond, 3500);
  assert.equal(targets.fractionOfDhBound, 0.7);
  assert.equal(targets.connectMedianMs, 1);
  assert.equal(targets.fractionOfDhBoundMet, (output.ratio as number) >= 0.7);
  const sockets = output.realSockets as Record<string, { connectMedianMs: number }>;
  assert.ok(sockets.ik!.connectMedianMs > 0 && sockets.xx!.connectMedianMs > 0);
  await assert.rejects(run(['--bogus']));
});
