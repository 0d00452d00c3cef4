// The Node stream adapter's memory: a writer that keeps writing after write() returned false
// (never waiting for 'drain') must not make a BraidStream buffer without bound, as Node's own
// Writable would. Real sessions on loopback, through the public stream API.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BraidError } from '../../src/api/errors.js';
import { WRITE_OVERFLOW_FACTOR } from '../../src/api/stream.js';
import { startPair, until } from '../../testing/harness/api-pair.js';

const KiB = 1024;

test("a writer that ignores write()'s false: the stream is destroyed at 16 highWaterMarks buffered", async () => {
  // The server application never reads, so the engine's send buffer fills and stays full; it
  // sees the overflowing stream reset.
  const pair = await startPair({}, {}, (session) =>
    session.on('stream', (stream) => stream.on('error', () => undefined)),
  );
  try {
    const stream = await pair.client.openStream();
    const errors: Error[] = [];
    stream.on('error', (error) => errors.push(error));
    const chunk = Buffer.alloc(64 * KiB, 0x5a);
    const limit = WRITE_OVERFLOW_FACTOR * stream.writableHighWaterMark;
    let most = 0;
    let writes = 0;
    // Up to 64 MiB in one synchronous burst, never waiting for 'drain'.
    while (writes < 1024 && !stream.destroyed) {
      stream.write(chunk, () => undefined);
      most = Math.max(most, stream.writableLength);
      writes++;
    }
    assert.ok(stream.destroyed, `the stream took ${writes} writes (${most} bytes buffered) without refusing`);
    assert.ok(most <= limit + chunk.length, `${most} bytes buffered, limit ${limit} + one chunk`);
    await until(() => errors.length > 0, 2000);
    assert.equal((errors[0] as BraidError).code, 'BRAID_ERR_STREAM_WRITE_OVERFLOW');
    // The session is unharmed: another stream still works.
    const next = await pair.client.openStream();
    next.end(Buffer.from('after'));
    await new Promise((resolve) => next.once('finish', resolve));
  } finally {
    await pair.close();
  }
});

test('a writer that waits for drain writes far beyond 16 highWaterMarks without an overflow', async () => {
  const pair = await startPair({}, {}, (session) =>
    session.on('stream', (stream) => {
      stream.resume();
      stream.on('end', () => stream.end());
    }),
  );
  try {
    const stream = await pair.client.openStream();
    const chunk = Buffer.alloc(64 * KiB, 0x33);
    const total = 4 * WRITE_OVERFLOW_FACTOR * stream.writableHighWaterMark;
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!stream.write(chunk)) await new Promise((resolve) => stream.once('drain', resolve));
    }
    stream.end();
    stream.resume();
    await new Promise((resolve, reject) => {
      stream.once('close', resolve);
      stream.once('error', reject);
    });
  } finally {
    await pair.close();
  }
});
