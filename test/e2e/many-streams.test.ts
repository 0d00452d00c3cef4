/**
 * Through the public API on loopback: 5,000 short streams on one session while the
 * server allows only 100 concurrent ones (so it must raise MAX_STREAMS as streams
 * close), and a transfer whose keys rotate within its first MiB without stalling.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import test from 'node:test';
import type { Session } from '../../src/api/session.js';
import type { BraidStream } from '../../src/api/stream.js';
import { readAll, startPair } from '../../testing/harness/api-pair.js';
import { answerWithReceipt, MiB, sendAndVerify } from '../../testing/harness/transfer.js';

const STREAM_COUNT = 5000;
const SERVER_STREAM_LIMIT = 100;
/** More openers than the limit, so some always wait for the server to grant credit. */
const CLIENT_WORKERS = 150;

test(`${STREAM_COUNT} streams open, transfer and close on one session with a limit of ${SERVER_STREAM_LIMIT}`, {
  timeout: 120_000,
}, async () => {
  let open = 0;
  let peakOpen = 0;
  let served = 0;
  const seen = new Set<number>();
  // The server answers each request with its SHA-256 and closes its side.
  const onStream = (stream: BraidStream): void => {
    seen.add(stream.id);
    open++;
    peakOpen = Math.max(peakOpen, open);
    stream.once('close', () => open--);
    readAll(stream).then(
      (request) => {
        served++;
        stream.end(createHash('sha256').update(request).digest());
      },
      () => stream.destroy(),
    );
  };
  const pair = await startPair(
    { transport: { maxConcurrentBidiStreams: SERVER_STREAM_LIMIT } },
    {},
    (session: Session) => session.on('stream', onStream),
  );
  try {
    let next = 0;
    let maxStreamId = 0;
    const started = process.hrtime.bigint();
    const worker = async (): Promise<void> => {
      while (next < STREAM_COUNT) {
        const index = next++;
        const stream = await pair.client.openStream();
        maxStreamId = Math.max(maxStreamId, stream.id);
        const request = Buffer.from(`request ${index} `.repeat(1 + (index % 40)));
        const reply = readAll(stream);
        stream.end(request);
        const digest = await reply;
        assert.deepEqual(digest, createHash('sha256').update(request).digest(), `stream ${index}`);
        // Both sides are finished: the stream must be released so the limit can move on.
        await new Promise<void>((resolve) => (stream.closed ? resolve() : stream.once('close', resolve)));
      }
    };
    await Promise.all(Array.from({ length: CLIENT_WORKERS }, worker));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;

    assert.equal(served, STREAM_COUNT);
    assert.equal(seen.size, STREAM_COUNT);
    // Client-initiated bidirectional stream n has id 4n (QUIC layout): far past the initial limit.
    assert.equal(maxStreamId, 4 * (STREAM_COUNT - 1));
    assert.ok(peakOpen <= SERVER_STREAM_LIMIT, `server saw ${peakOpen} streams open at once`);
    assert.ok(peakOpen > SERVER_STREAM_LIMIT / 2, `the limit was never approached (peak ${peakOpen})`);
    console.log(
      `many streams: ${STREAM_COUNT} streams in ${seconds.toFixed(2)} s ` +
        `(${Math.round(STREAM_COUNT / seconds)} streams/s), peak open at server ${peakOpen}`,
    );
  } finally {
    await pair.close();
  }
});

test('a key update happens within the first MiB and the 2 MiB transfer completes', {
  timeout: 60_000,
}, async () => {
  const transferBytes = 2 * MiB;
  // ~1 MiB is ~900 full packets; 200 packets per key phase rotates several times inside it.
  const transport = { keyUpdateInterval: 200 };
  let serverSession: Session | undefined;
  const serverKeyUpdates: number[] = [];
  let receivedAtFirstUpdate: number | undefined;
  let received = 0;
  const pair = await startPair({ transport }, { transport }, (session) => {
    serverSession = session;
    session.on('keyupdate', (phase) => {
      serverKeyUpdates.push(phase);
      receivedAtFirstUpdate ??= received;
    });
    session.on('stream', (stream: BraidStream) => {
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      answerWithReceipt(stream);
    });
  });
  try {
    const clientKeyUpdates: number[] = [];
    pair.client.on('keyupdate', (phase) => clientKeyUpdates.push(phase));
    const stream = await pair.client.openStream();
    const { sent, received: receipt } = await sendAndVerify(stream, 'key-update', transferBytes);
    assert.equal(receipt.bytes, transferBytes);
    assert.equal(receipt.sha256, sent);

    assert.ok(serverSession);
    assert.ok(pair.client.stats.keyUpdates > 0, 'client never updated its keys');
    assert.ok(serverSession.stats.keyUpdates > 0, 'server never updated its keys');
    assert.ok(clientKeyUpdates.length > 0 && serverKeyUpdates.length > 0, "no 'keyupdate' event");
    assert.ok(
      receivedAtFirstUpdate !== undefined && receivedAtFirstUpdate < MiB,
      `first key update only after ${receivedAtFirstUpdate} bytes`,
    );
    console.log(
      `key update: client ${pair.client.stats.keyUpdates}, server ${serverSession.stats.keyUpdates} updates; ` +
        `first after ${receivedAtFirstUpdate} bytes received`,
    );
  } finally {
    await pair.close();
  }
});
