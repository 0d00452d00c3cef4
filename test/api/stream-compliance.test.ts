import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { test } from 'node:test';
import { StreamResetError } from '../../src/api/errors.js';
import type { Session } from '../../src/api/session.js';
import type { BraidStream } from '../../src/api/stream.js';
import { readAll, startPair } from '../../testing/harness/api-pair.js';

/** "A Braid stream is a well-behaved Node Duplex", checked against real sessions on loopback. */

function nextStream(session: Session): Promise<BraidStream> {
  return (once(session, 'stream') as Promise<[BraidStream]>).then(([s]) => s);
}

test('backpressure: write() returns false when the peer does not read, then drain once it does', {
  timeout: 10_000,
}, async () => {
  const small = { initialStreamWindow: 16 * 1024, maxStreamWindow: 16 * 1024, sendBufferSize: 32 * 1024 };
  const pair = await startPair({ transport: small }, { transport: small });
  try {
    const incoming = nextStream(pair.serverSession);
    const stream = await pair.client.openStream();
    const chunk = Buffer.alloc(8 * 1024, 1);
    let written = 0;
    while (stream.write(chunk)) written += chunk.length;
    written += chunk.length;
    assert.ok(written < 1024 * 1024, 'write() must report backpressure before 1 MiB is buffered');
    const peer = await incoming;
    const drained = once(stream, 'drain');
    let received = 0;
    peer.on('data', (data: Buffer) => {
      received += data.length;
    });
    await drained;
    stream.end();
    await once(peer, 'end');
    assert.equal(received, written);
  } finally {
    await pair.close();
  }
});

test("end/finish ordering: 'finish' after end(), peer 'end' after our FIN, 'close' after both sides", {
  timeout: 10_000,
}, async () => {
  const pair = await startPair();
  try {
    const incoming = nextStream(pair.serverSession);
    const stream = await pair.client.openStream();
    const events: string[] = [];
    for (const name of ['finish', 'end', 'close']) stream.on(name, () => events.push(name));
    stream.end('request');
    await once(stream, 'finish');
    assert.deepEqual(events, ['finish']);
    assert.equal(stream.readable, true, 'our readable side stays open after end()');
    const peer = await incoming;
    assert.equal((await readAll(peer)).toString(), 'request');
    peer.end('response');
    const reply: Buffer[] = [];
    stream.on('data', (d: Buffer) => reply.push(d));
    await once(stream, 'close');
    assert.equal(Buffer.concat(reply).toString(), 'response');
    assert.deepEqual(events, ['finish', 'end', 'close']);
  } finally {
    await pair.close();
  }
});

test('destroy(err) with an errorCode reaches the peer as StreamResetError with that code', {
  timeout: 10_000,
}, async () => {
  const pair = await startPair();
  try {
    const incoming = nextStream(pair.serverSession);
    const stream = await pair.client.openStream();
    stream.write('partial');
    const peer = await incoming;
    const peerError = once(peer, 'error');
    peer.resume();
    stream.on('error', () => undefined);
    stream.destroy(Object.assign(new Error('abort'), { errorCode: 77 }));
    const [error] = await peerError;
    assert.ok(error instanceof StreamResetError, String(error));
    assert.equal(error.code, 'BRAID_ERR_STREAM_RESET');
    assert.equal(error.errorCode, 77);
    assert.equal(error.streamId, stream.id);
  } finally {
    await pair.close();
  }
});

test('a plain destroy() resets with code 0 and the session stays usable', { timeout: 10_000 }, async () => {
  const pair = await startPair();
  try {
    const incoming = nextStream(pair.serverSession);
    const stream = await pair.client.openStream();
    stream.write('x');
    const peer = await incoming;
    peer.resume();
    const peerError = once(peer, 'error');
    stream.destroy();
    const [error] = await peerError;
    assert.equal((error as StreamResetError).errorCode, 0);
    const next = nextStream(pair.serverSession);
    const again = await pair.client.openStream();
    again.end('still fine');
    assert.equal((await readAll(await next)).toString(), 'still fine');
  } finally {
    await pair.close();
  }
});

test('session close destroys open streams', { timeout: 10_000 }, async () => {
  const pair = await startPair();
  const stream = await pair.client.openStream();
  stream.write('x');
  const closed = once(stream, 'close');
  await pair.client.close();
  await closed;
  assert.ok(stream.destroyed);
  await pair.close();
});

test('node:http serves a request over a Braid stream (server emit connection, client createConnection)', {
  timeout: 10_000,
}, async () => {
  const httpServer = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`hello ${req.method} ${req.url} from ${typeof req.socket.remoteAddress}`);
  });
  const pair = await startPair({}, {}, (session) => {
    session.on('stream', (stream) => httpServer.emit('connection', stream));
  });
  try {
    const stream = await pair.client.openStream();
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        {
          method: 'GET',
          path: '/braid',
          headers: { connection: 'close' },
          createConnection: () => stream as never,
        },
        (res) => {
          assert.equal(res.statusCode, 200);
          readAll(res).then((b) => resolve(b.toString()), reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(body, 'hello GET /braid from string');
  } finally {
    httpServer.close();
    await pair.close();
  }
});
