import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { StreamResetError } from '../../src/api/errors.js';
import { BraidStream, type StreamHost } from '../../src/api/stream.js';
import type { ConnectionEvent, EngineConnection } from '../../src/engine/types.js';

/**
 * BraidStream against an in-memory engine double: one bidirectional stream (id 0)
 * whose two directions are bounded byte queues. It checks the Duplex adapter on its
 * own (backpressure, FIN, resets); the loopback suites check it with the real engine.
 */
/**
 * Collects a readable side until 'end'. Not `for await`: a finished async iterator
 * destroys a Duplex, which would abort our still-open writable side.
 */
function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

interface Direction {
  chunks: Uint8Array[];
  queued: number;
  fin: boolean;
  resetCode: number | undefined;
}

class MemoryEnd {
  readonly events: ConnectionEvent[] = [];
  peer!: MemoryEnd;
  constructor(
    readonly outgoing: Direction,
    readonly incoming: Direction,
    private readonly capacity: number,
  ) {}

  writeStream(id: number, data: Uint8Array): number {
    if (this.outgoing.fin || this.outgoing.resetCode !== undefined) throw new Error('stream not writable');
    const accepted = Math.min(data.length, this.capacity - this.outgoing.queued);
    if (accepted <= 0) return 0;
    this.outgoing.chunks.push(data.slice(0, accepted));
    this.outgoing.queued += accepted;
    this.peer.events.push({ type: 'stream-readable', streamId: id });
    return accepted;
  }
  finishStream(id: number): void {
    this.outgoing.fin = true;
    this.peer.events.push({ type: 'stream-readable', streamId: id });
  }
  readStream(id: number): { data: Uint8Array | undefined; fin: boolean } {
    const data = this.incoming.chunks.shift();
    if (data) {
      this.incoming.queued -= data.length;
      this.peer.events.push({ type: 'stream-writable', streamId: id });
    }
    return { data, fin: this.incoming.fin && this.incoming.chunks.length === 0 };
  }
  resetStream(id: number, errorCode: number): void {
    this.outgoing.resetCode = errorCode;
    this.peer.events.push({ type: 'stream-reset', streamId: id, errorCode });
  }
  stopSending(id: number, errorCode: number): void {
    this.peer.events.push({ type: 'stream-stop-sending', streamId: id, errorCode });
  }
}

function memoryPair(capacity = 32 * 1024): { a: BraidStream; b: BraidStream } {
  const ab: Direction = { chunks: [], queued: 0, fin: false, resetCode: undefined };
  const ba: Direction = { chunks: [], queued: 0, fin: false, resetCode: undefined };
  const endA = new MemoryEnd(ab, ba, capacity);
  const endB = new MemoryEnd(ba, ab, capacity);
  endA.peer = endB;
  endB.peer = endA;
  let scheduled = false;
  const streams: Array<[MemoryEnd, BraidStream]> = [];
  const pump = (): void => {
    scheduled = false;
    for (const [end, stream] of streams) {
      for (let event = end.events.shift(); event; event = end.events.shift()) {
        if (event.type === 'stream-readable') stream.onReadable();
        else if (event.type === 'stream-writable') stream.onWritable();
        else if (event.type === 'stream-reset') stream.onReset(event.errorCode);
        else if (event.type === 'stream-stop-sending') stream.onStopSending(event.errorCode);
      }
    }
  };
  const host = (end: MemoryEnd, port: number): StreamHost => ({
    connection: end as unknown as EngineConnection,
    scheduleFlush: () => {
      if (!scheduled) {
        scheduled = true;
        setImmediate(pump);
      }
    },
    localAddress: () => ({ address: '127.0.0.1', port, family: 'IPv4' }),
    remoteAddress: () => ({ address: '127.0.0.1', port: 3 - port, family: 'IPv4' }),
    streamDestroyed: () => {},
    awaitDelivery: () => {},
  });
  const a = new BraidStream(host(endA, 1), 0, true);
  const b = new BraidStream(host(endB, 2), 0, false);
  streams.push([endA, a], [endB, b]);
  return { a, b };
}

test('memory: bytes cross in order and FIN ends the peer readable', async () => {
  const { a, b } = memoryPair(1000);
  const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
  const [received] = await Promise.all([
    readAll(b),
    pipeline([payload.subarray(0, 50_000), payload.subarray(50_000)], a),
  ]);
  assert.ok(received.equals(payload));
});

test('memory: write() reports backpressure and drains when the peer reads', async () => {
  const { a, b } = memoryPair(4096);
  let writes = 0;
  while (a.write(Buffer.alloc(1024))) writes++;
  assert.ok(writes < 200, 'backpressure reported');
  const drained = once(a, 'drain');
  b.resume();
  await drained;
  a.end();
  await once(b, 'end');
});

test('memory: half-close keeps the other direction open; close after both ends', async () => {
  const { a, b } = memoryPair();
  const order: string[] = [];
  for (const name of ['finish', 'end', 'close']) a.on(name, () => order.push(name));
  const closed = once(a, 'close');
  a.end('question');
  await once(a, 'finish');
  assert.equal((await readAll(b)).toString(), 'question');
  b.end('answer');
  assert.equal((await readAll(a)).toString(), 'answer');
  await closed;
  assert.deepEqual(order, ['finish', 'end', 'close']);
});

test('memory: destroy(err) resets the peer with err.errorCode; destroy() with 0', async () => {
  for (const [error, expected] of [
    [Object.assign(new Error('x'), { errorCode: 9 }), 9],
    [new Error('no code'), 1],
    [undefined, 0],
  ] as const) {
    const { a, b } = memoryPair();
    a.on('error', () => undefined);
    b.resume();
    const failed = once(b, 'error');
    a.write('some');
    a.destroy(error);
    const [received] = await failed;
    assert.ok(received instanceof StreamResetError);
    assert.equal(received.errorCode, expected);
  }
});

test('memory: node:http serves a request through emit("connection") and createConnection', async () => {
  const { a, b } = memoryPair();
  const server = http.createServer((req, res) => res.end(`ok ${req.url} ${req.socket.remotePort}`));
  server.emit('connection', b);
  const body = await new Promise<string>((resolve, reject) => {
    const req = http.request({ path: '/x', createConnection: () => a as never }, (res) => {
      readAll(res).then((data) => resolve(data.toString()), reject);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(body, 'ok /x 1');
  a.destroy();
  b.destroy();
  server.close();
});
