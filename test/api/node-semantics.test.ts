// What a Node developer expects of a session and its streams (README "Node semantics"):
// 'finish' then close() delivers, delivered() waits for the peer, close(code) never crashes the
// closing process, and for-await leaves the stream half-open for the reply.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { generateKeyPair } from '../../src/api/engine-factory.js';
import { type BraidError, CloseTimeoutError, SessionClosedError } from '../../src/api/errors.js';
import type { Session } from '../../src/api/session.js';
import type { BraidStream } from '../../src/api/stream.js';
import { closeEvent, readAll, startPair } from '../../testing/harness/api-pair.js';

/** A broken close or half-close hangs rather than throws: fail it in bounded time instead. */
const LIMIT = { timeout: 20_000 };

const serverOptions = () => ({ staticKey: generateKeyPair(), authorizedKeys: 'any' as const });

function nextStream(session: Session): Promise<BraidStream> {
  return once(session, 'stream').then(([stream]) => stream as BraidStream);
}

for (const size of [1000, 1 << 20]) {
  test(`end(data), 'finish', close(): the peer gets all ${size} bytes`, LIMIT, async () => {
    const pair = await startPair(serverOptions());
    try {
      const received = nextStream(pair.serverSession).then(readAll);
      const stream = await pair.client.openStream();
      const data = Buffer.alloc(size, 7);
      stream.end(data);
      await once(stream, 'finish');
      await pair.client.close();
      const got = await received;
      assert.equal(got.length, size);
      assert.ok(got.equals(data));
    } finally {
      await pair.close();
    }
  });
}

test('delivered() resolves once the peer acknowledged the end, not at finish', LIMIT, async () => {
  const pair = await startPair(serverOptions());
  try {
    const received = nextStream(pair.serverSession).then(readAll);
    const stream = await pair.client.openStream();
    let delivered = false;
    const delivery = stream.delivered().then(() => {
      delivered = true;
    });
    stream.write(Buffer.alloc(200_000, 1));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(delivered, false, 'not before end()');
    stream.end();
    await delivery;
    assert.equal((await received).length, 200_000);
    await stream.delivered(); // settled: resolves again at once
  } finally {
    await pair.close();
  }
});

test('delivered() rejects when the stream is destroyed before its end was delivered', LIMIT, async () => {
  const pair = await startPair(serverOptions());
  try {
    const stream = await pair.client.openStream();
    stream.on('error', () => {});
    stream.write('x');
    const delivery = stream.delivered();
    stream.destroy();
    await assert.rejects(delivery, (error: BraidError) => error.code === 'BRAID_ERR_STREAM_DESTROYED');
  } finally {
    await pair.close();
  }
});

test('graceful close() is bounded by its timeout when the peer acknowledges nothing', LIMIT, async () => {
  let blackhole = false;
  const pair = await startPair(serverOptions(), { faultInjector: () => blackhole });
  try {
    const stream = await pair.client.openStream();
    blackhole = true;
    stream.end(Buffer.alloc(10_000));
    const started = Date.now();
    await assert.rejects(pair.client.close({ timeout: 300 }), CloseTimeoutError);
    assert.ok(Date.now() - started < 5000);
    assert.equal(pair.client.closed, true);
    await assert.rejects(pair.client.openStream(), SessionClosedError);
  } finally {
    await pair.close();
  }
});

test(
  'close(code) with a non-zero code does not make our own streams emit error without a listener',
  LIMIT,
  async () => {
    const pair = await startPair(serverOptions());
    const uncaught: Error[] = [];
    const onUncaught = (error: Error): void => {
      uncaught.push(error);
    };
    process.on('uncaughtException', onUncaught);
    try {
      const quiet = await pair.client.openStream();
      quiet.write('open');
      const listening = await pair.client.openStream();
      listening.write('open');
      const errors: Error[] = [];
      listening.on('error', (error) => errors.push(error));
      const peerClosed = closeEvent(pair.serverSession);
      await pair.client.close(7, 'application failure');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(uncaught, []);
      assert.equal(quiet.destroyed, true);
      assert.equal(errors.length, 1, 'a stream whose application listens still hears why');
      assert.equal((errors[0] as SessionClosedError).applicationCode, 7);
      const peerError = (await peerClosed) as SessionClosedError;
      assert.equal(peerError.applicationCode, 7, 'the peer gets the code');
    } finally {
      process.off('uncaughtException', onUncaught);
      await pair.close();
    }
  },
);

test(
  'for await over a stream, then end(reply): half-close works, the peer gets the reply',
  LIMIT,
  async () => {
    const pair = await startPair(serverOptions(), {}, (session) => {
      session.on('stream', async (stream: BraidStream) => {
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        stream.end(`got ${Buffer.concat(chunks).length} bytes`);
      });
    });
    try {
      const stream = await pair.client.openStream();
      const errors: Error[] = [];
      stream.on('error', (error) => errors.push(error));
      stream.end(Buffer.alloc(50_000, 3));
      assert.equal(String(await readAll(stream)), 'got 50000 bytes');
      assert.deepEqual(errors, []);
    } finally {
      await pair.close();
    }
  },
);

test('leaving a for-await loop early still destroys the stream, as Node does', LIMIT, async () => {
  const pair = await startPair(serverOptions());
  try {
    const accepted = nextStream(pair.serverSession);
    const stream = await pair.client.openStream();
    stream.write('first');
    const peer = await accepted;
    for await (const _ of peer) break;
    assert.equal(peer.destroyed, true);
  } finally {
    await pair.close();
  }
});

test(
  'a stream opens lazily, as in QUIC: the peer sees it with its first byte or its end',
  LIMIT,
  async () => {
    const pair = await startPair(serverOptions());
    try {
      const seen: BraidStream[] = [];
      pair.serverSession.on('stream', (stream: BraidStream) => seen.push(stream));
      const silent = await pair.client.openStream();
      const ended = await pair.client.openStream();
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(seen.length, 0, 'opening alone sends nothing');
      ended.end(); // an empty stream: its FIN is its first frame
      silent.write('x');
      const deadline = Date.now() + 5000;
      while (seen.length < 2 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(seen.map((s) => s.id).sort(), [silent.id, ended.id].sort());
    } finally {
      await pair.close();
    }
  },
);
