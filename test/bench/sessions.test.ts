/**
 * Keeps bench/sessions.ts honest: a small run must establish every session on real loopback
 * sockets, find them all held by the server, and report positive per-session memory, keepalive
 * CPU and establishment figures.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { HEAP_TARGET_PER_SESSION, run } from '../../bench/sessions.js';

test('60 idle sessions from 2 client processes: all held, figures per session reported', {
  timeout: 180_000,
}, async () => {
  const output = (await run(['--sessions', '60', '--clients', '2', '--idle-seconds', '1'])) as Record<
    string,
    unknown
  >;
  const sessions = output.sessions as Record<string, number>;
  assert.equal(sessions.confirmed, 60);
  assert.equal(sessions.failed, 0);
  assert.equal(sessions.heldByServer, 60);
  assert.equal(output.unit, 'bytes');
  // A session costs the server something, and well under a megabyte.
  assert.ok((output.value as number) > 1024 && (output.value as number) < 1024 * 1024, `${output.value}`);
  assert.equal((output.baseline as { value: number }).value, HEAP_TARGET_PER_SESSION);
  const keepalive = output.keepalive as Record<string, number>;
  assert.ok(keepalive.coreFraction! >= 0 && keepalive.idleSeconds! >= 1);
  const establish = output.establish as Record<string, number>;
  assert.ok(establish.seconds! > 0 && establish.sessionsPerSecond! > 0);
  await assert.rejects(run(['--bogus']));
});
