import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamError } from '../../src/engine/streams/errors.js';
import {
  type PeerStreamLimits,
  StreamMap,
  type StreamMapOptions,
} from '../../src/engine/streams/stream-map.js';
import type { SessionRole, StreamId } from '../../src/engine/types.js';
import { TransportError } from '../../src/wire/errors.js';

const defaults: Omit<StreamMapOptions, 'role'> = {
  maxConcurrentBidiStreams: 100,
  maxConcurrentUniStreams: 100,
  initialStreamWindow: 64 * 1024,
  maxStreamWindow: 1024 * 1024,
  initialConnectionWindow: 256 * 1024,
  maxConnectionWindow: 4 * 1024 * 1024,
  sendBufferSize: 1024 * 1024,
};

function limitsOf(options: Omit<StreamMapOptions, 'role'>): PeerStreamLimits {
  return {
    initialStreamWindow: options.initialStreamWindow,
    initialConnectionWindow: options.initialConnectionWindow,
    maxBidiStreams: options.maxConcurrentBidiStreams,
    maxUniStreams: options.maxConcurrentUniStreams,
  };
}

function pair(client: Partial<StreamMapOptions> = {}, server: Partial<StreamMapOptions> = {}) {
  const c = { ...defaults, ...client };
  const s = { ...defaults, ...server };
  return {
    client: new StreamMap({ ...c, role: 'client' }, limitsOf(s)),
    server: new StreamMap({ ...s, role: 'server' }, limitsOf(c)),
  };
}

function single(
  role: SessionRole,
  options: Partial<StreamMapOptions> = {},
  peer: Partial<PeerStreamLimits> = {},
) {
  return new StreamMap({ ...defaults, ...options, role }, { ...limitsOf(defaults), ...peer });
}

function throwsCode(fn: () => unknown, code: number): void {
  assert.throws(fn, (e: unknown) => e instanceof StreamError && e.code === code);
}

interface Delivery {
  opened: StreamId[];
  readable: Set<StreamId>;
  resets: StreamId[];
  stops: StreamId[];
  finished: StreamId[];
  order: StreamId[];
}

/**
 * Moves every pending frame from one map to the other over a lossless, instant
 * network (acknowledging at once), one stream-turn at a time. Returns what the
 * receiver would surface as events.
 */
function transfer(from: StreamMap, to: StreamMap, chunkSize = 1000, maxTurns = 1_000_000): Delivery {
  const d: Delivery = { opened: [], readable: new Set(), resets: [], stops: [], finished: [], order: [] };
  const maxData = from.takeMaxData();
  if (maxData !== undefined) to.onMaxData(maxData);
  for (const bidi of [true, false]) {
    const maxStreams = from.maxStreamsUpdate(bidi);
    if (maxStreams !== undefined) to.peerMaxStreams(bidi, maxStreams);
  }
  for (let turn = 0; turn < maxTurns; turn++) {
    const stream = from.nextSendable();
    if (!stream) break;
    d.order.push(stream.id);
    const reset = stream.send?.takeReset();
    if (reset) {
      const r = to.onResetStream(stream.id, reset.errorCode, reset.finalSize, 0);
      d.opened.push(...r.opened);
      if (r.reset) d.resets.push(stream.id);
      from.onResetAcked(stream.id);
    }
    const stop = stream.recv?.takeStopSending();
    if (stop !== undefined) {
      const r = to.onStopSending(stream.id, stop);
      d.opened.push(...r.opened);
      if (r.stopped) d.stops.push(stream.id);
    }
    const maxStreamData = stream.recv?.takeMaxStreamData();
    if (maxStreamData !== undefined) to.onMaxStreamData(stream.id, maxStreamData);
    stream.send?.takeBlocked();
    const chunk = from.nextStreamChunk(stream, chunkSize);
    if (chunk) {
      const r = to.onStreamFrame(stream.id, chunk.offset, chunk.data, chunk.fin, 0);
      d.opened.push(...r.opened);
      if (r.readable) d.readable.add(stream.id);
      if (from.onStreamDataAcked(stream.id, chunk.offset, chunk.data.length, chunk.fin).finished) {
        d.finished.push(stream.id);
      }
    }
    from.markSendable(stream.id);
  }
  return d;
}

function readText(map: StreamMap, id: StreamId): { text: string; fin: boolean } {
  let text = '';
  for (;;) {
    const { data, fin } = map.read(id, undefined, 0, undefined);
    if (data) text += Buffer.from(data).toString();
    if (!data || fin) return { text, fin };
  }
}

test('local stream IDs follow the initiator and direction bits', () => {
  const client = single('client');
  assert.deepEqual([client.openLocal(true), client.openLocal(true), client.openLocal(false)], [0, 4, 2]);
  const server = single('server');
  assert.deepEqual([server.openLocal(true), server.openLocal(false), server.openLocal(false)], [1, 3, 7]);
  assert.ok(server.get(3)?.send && !server.get(3)?.recv, 'a local uni stream only sends');
  assert.ok(server.get(1)?.send && server.get(1)?.recv);
});

test("opening respects the peer's MAX_STREAMS and resumes when it grows", () => {
  const client = single('client', {}, { maxBidiStreams: 2, maxUniStreams: 0 });
  assert.equal(client.openLocal(false), undefined);
  assert.equal(client.openLocal(true), 0);
  assert.equal(client.openLocal(true), 4);
  assert.equal(client.openLocal(true), undefined);
  assert.equal(client.localStreamLimit(true), 2);
  assert.equal(client.peerMaxStreams(true, 2), false);
  assert.equal(client.peerMaxStreams(true, 3), true);
  assert.equal(client.openLocal(true), 8);
  assert.equal(client.peerMaxStreams(true, 1), false, 'decreases are ignored');
});

test('a frame on a higher peer stream implicitly opens all lower ones of its type', () => {
  const server = single('server');
  const first = server.getOrOpenRemote(8);
  assert.deepEqual(first.opened, [0, 4, 8]);
  assert.equal(first.stream?.id, 8);
  const again = server.getOrOpenRemote(4);
  assert.deepEqual(again.opened, []);
  assert.equal(again.stream?.id, 4);
  assert.deepEqual(server.getOrOpenRemote(6).opened, [2, 6]);
  assert.equal(server.size, 5);
  assert.equal(server.get(6)?.send, undefined, 'a peer uni stream only receives');
});

test('stream limit and stream state violations', () => {
  const server = single('server', { maxConcurrentBidiStreams: 3, maxConcurrentUniStreams: 1 });
  server.getOrOpenRemote(8);
  throwsCode(() => server.getOrOpenRemote(12), TransportError.STREAM_LIMIT_ERROR);
  throwsCode(() => server.getOrOpenRemote(6), TransportError.STREAM_LIMIT_ERROR);
  // Our own streams: not yet opened, or data on our send-only stream.
  throwsCode(() => server.getOrOpenRemote(1), TransportError.STREAM_STATE_ERROR);
  server.openLocal(false);
  throwsCode(
    () => server.onStreamFrame(3, 0, new Uint8Array(1), false, 0),
    TransportError.STREAM_STATE_ERROR,
  );
  // MAX_STREAM_DATA / STOP_SENDING for the peer's uni stream, which we cannot send on.
  throwsCode(() => server.onMaxStreamData(2, 100), TransportError.STREAM_STATE_ERROR);
  throwsCode(() => server.onStopSending(2, 1), TransportError.STREAM_STATE_ERROR);
  throwsCode(() => server.getOrOpenRemote(-4), TransportError.FRAME_ENCODING_ERROR);
});

test('request/response on a bidirectional stream closes and forgets it on both sides', () => {
  const { client, server } = pair();
  const id = client.openLocal(true)!;
  assert.equal(client.write(id, Buffer.from('hello')), 5);
  client.finish(id);
  const toServer = transfer(client, server);
  assert.deepEqual(toServer.opened, [id]);
  assert.ok(toServer.readable.has(id));
  assert.deepEqual(readText(server, id), { text: 'hello', fin: true });
  server.write(id, Buffer.from('world'));
  server.finish(id);
  const toClient = transfer(server, client);
  assert.deepEqual(toClient.finished, [id]);
  assert.equal(server.size, 0, 'server forgets the stream: sent and acknowledged, read to the end');
  assert.deepEqual(readText(client, id), { text: 'world', fin: true });
  assert.equal(client.size, 0);
  throwsCode(() => client.getOrOpenRemote(4), TransportError.STREAM_STATE_ERROR);
  assert.deepEqual(client.getOrOpenRemote(id), { stream: undefined, opened: [] }, 'late frames are ignored');
});

test('5,000 short streams flow under a limit of 100 concurrent through MAX_STREAMS credit', () => {
  const { client, server } = pair({}, { maxConcurrentBidiStreams: 100 });
  let opened = 0;
  let completed = 0;
  let peakConcurrent = 0;
  const waiting = new Set<StreamId>();
  for (let round = 0; completed < 5000 && round < 1000; round++) {
    for (
      let id = client.openLocal(true);
      id !== undefined && opened < 5000;
      id = opened < 5000 ? client.openLocal(true) : undefined
    ) {
      opened++;
      client.write(id, Buffer.from(`req ${id}`));
      client.finish(id);
      waiting.add(id);
    }
    peakConcurrent = Math.max(peakConcurrent, server.size);
    const requests = transfer(client, server);
    for (const id of requests.readable) {
      const { text, fin } = readText(server, id);
      assert.equal(text, `req ${id}`);
      assert.ok(fin);
      server.write(id, Buffer.from(`resp ${id}`));
      server.finish(id);
    }
    const responses = transfer(server, client);
    for (const id of responses.readable) {
      assert.deepEqual(readText(client, id), { text: `resp ${id}`, fin: true });
      waiting.delete(id);
      completed++;
    }
    transfer(client, server); // carries nothing new but keeps the pump symmetric
  }
  assert.equal(completed, 5000);
  assert.equal(waiting.size, 0);
  assert.ok(peakConcurrent <= 100, `peak ${peakConcurrent}`);
  assert.equal(client.size, 0);
  assert.equal(server.size, 0);
  assert.ok(server.localMaxStreams(true) >= 5000);
});

test('round-robin interleaves streams fairly', () => {
  const { client, server } = pair();
  const ids = [client.openLocal(true)!, client.openLocal(true)!, client.openLocal(true)!];
  for (const id of ids) client.write(id, new Uint8Array(5000));
  const d = transfer(client, server, 1000);
  assert.deepEqual(d.order.slice(0, 9), [...ids, ...ids, ...ids]);
  assert.equal(d.order.length, 15);
  // A stream that joins later gets its turn within one round.
  const late = client.openLocal(true)!;
  for (const id of ids) client.write(id, new Uint8Array(3000));
  client.write(late, new Uint8Array(3000));
  const d2 = transfer(client, server, 1000);
  assert.deepEqual(d2.order.slice(0, 4).sort(), [...ids, late].sort());
});

test('stream flow control: the sender stops at the window and resumes on MAX_STREAM_DATA', () => {
  const { client, server } = pair({}, { initialStreamWindow: 2000, maxStreamWindow: 2000 });
  const id = client.openLocal(true)!;
  client.write(id, new Uint8Array(10_000));
  client.finish(id);
  transfer(client, server);
  assert.equal(server.get(id)!.recv!.buffer.highestReceived, 2000);
  assert.equal(client.get(id)!.send!.takeBlocked(), undefined, 'blocked already reported by the pump');
  let total = 0;
  for (let i = 0; i < 20 && total < 10_000; i++) {
    for (
      let r = server.read(id, undefined, 0, undefined);
      r.data;
      r = server.read(id, undefined, 0, undefined)
    ) {
      total += r.data.length;
    }
    transfer(server, client); // MAX_STREAM_DATA
    transfer(client, server);
  }
  for (
    let r = server.read(id, undefined, 0, undefined);
    r.data;
    r = server.read(id, undefined, 0, undefined)
  ) {
    total += r.data.length;
  }
  assert.equal(total, 10_000);
  assert.ok(server.read(id, undefined, 0, undefined).fin);
});

test('connection flow control: MAX_DATA unblocks every waiting stream', () => {
  const { client, server } = pair({}, { initialConnectionWindow: 3000, maxConnectionWindow: 3000 });
  const a = client.openLocal(true)!;
  const b = client.openLocal(true)!;
  client.write(a, new Uint8Array(4000));
  client.write(b, new Uint8Array(4000));
  transfer(client, server);
  const received = () =>
    server.get(a)!.recv!.buffer.highestReceived + server.get(b)!.recv!.buffer.highestReceived;
  assert.equal(received(), 3000);
  assert.equal(client.connectionAvailable, 0);
  assert.equal(client.takeDataBlocked(), 3000);
  assert.equal(client.takeDataBlocked(), undefined, 'reported once per limit');
  for (let i = 0; i < 10 && received() < 8000; i++) {
    server.read(a, undefined, 0, undefined);
    server.read(b, undefined, 0, undefined);
    transfer(server, client);
    transfer(client, server);
  }
  assert.equal(received(), 8000);
});

test('flow control violations close the connection', () => {
  const server = single('server', { initialStreamWindow: 100, initialConnectionWindow: 150 });
  throwsCode(
    () => server.onStreamFrame(0, 50, new Uint8Array(51), false, 0),
    TransportError.FLOW_CONTROL_ERROR,
  );
  server.onStreamFrame(4, 0, new Uint8Array(100), false, 0);
  throwsCode(
    () => server.onStreamFrame(8, 0, new Uint8Array(60), false, 0),
    TransportError.FLOW_CONTROL_ERROR,
  );
  throwsCode(() => server.onResetStream(12, 0, 101, 0), TransportError.FLOW_CONTROL_ERROR);
});

test('final size errors surface from frames', () => {
  const server = single('server');
  server.onStreamFrame(0, 0, new Uint8Array(10), true, 0);
  throwsCode(() => server.onStreamFrame(0, 10, new Uint8Array(1), false, 0), TransportError.FINAL_SIZE_ERROR);
  throwsCode(() => server.onResetStream(0, 7, 11, 0), TransportError.FINAL_SIZE_ERROR);
});

test('reset by the sender: the receiver is told once and both sides forget the stream', () => {
  const { client, server } = pair();
  const id = client.openLocal(false)!;
  client.write(id, new Uint8Array(1500));
  transfer(client, server, 1000, 1); // one chunk only
  client.reset(id, 42);
  assert.throws(() => client.write(id, new Uint8Array(1)), { name: 'StreamUsageError' });
  const d = transfer(client, server);
  assert.deepEqual(d.resets, [id]);
  assert.equal(server.get(id)!.recv!.resetCode, 42);
  assert.equal(server.get(id)!.recv!.buffer.finalSize, 1000, 'final size is what was sent');
  assert.equal(client.size, 0, 'RESET_STREAM acknowledged');
  assert.deepEqual(server.read(id, undefined, 0, undefined), { data: undefined, fin: false });
  server.resetDelivered(id);
  assert.equal(server.size, 0);
  // The connection window counted the reset bytes as consumed.
  assert.equal(server.connectionWindow.consumedBytes, 1000);
});

test('STOP_SENDING makes the peer reset with the same code and releases connection credit', () => {
  const { client, server } = pair();
  const id = client.openLocal(true)!;
  client.write(id, new Uint8Array(3000));
  transfer(client, server, 1000, 2);
  server.stopSending(id, 7, 0);
  assert.equal(server.connectionWindow.consumedBytes, 2000);
  const toClient = transfer(server, client);
  assert.deepEqual(toClient.stops, [id]);
  assert.equal(client.get(id)!.send!.state, 'ResetSent');
  const toServer = transfer(client, server);
  assert.deepEqual(toServer.resets, [], 'the application asked for this: no reset event');
  assert.equal(server.get(id)!.recv!.state, 'ResetRead');
  // The server's own sending half is still open.
  server.finish(id);
  transfer(server, client);
  assert.deepEqual(readText(client, id), { text: '', fin: true });
  assert.equal(client.size, 0);
  assert.equal(server.size, 0);
});

test('lost control frames are sent again', () => {
  const { client, server } = pair({}, { maxConcurrentBidiStreams: 2 });
  const id = client.openLocal(true)!;
  client.reset(id, 3);
  const s = client.nextSendable()!;
  const reset = s.send!.takeReset()!;
  assert.deepEqual(reset, { errorCode: 3, finalSize: 0 });
  client.markSendable(id);
  assert.equal(client.nextSendable(), undefined);
  client.onResetLost(id);
  assert.deepEqual(client.nextSendable()!.send!.takeReset(), reset);

  // MAX_STREAMS: after the peer's two streams close, the update is due; a loss repeats it.
  for (const stream of [0, 4]) {
    server.onStreamFrame(stream, 0, new Uint8Array(0), true, 0);
    server.read(stream, undefined, 0, undefined);
    server.finish(stream);
    const chunk = server.nextStreamChunk(server.get(stream)!, 100)!;
    server.onStreamDataAcked(stream, chunk.offset, chunk.data.length, chunk.fin);
  }
  assert.equal(server.size, 0);
  assert.equal(server.maxStreamsUpdate(true), 4);
  assert.equal(server.maxStreamsUpdate(true), undefined);
  server.onMaxStreamsLost(true, 4);
  assert.equal(server.maxStreamsUpdate(true), 4);
  server.onMaxStreamsLost(true, 3); // stale: superseded
  assert.equal(server.maxStreamsUpdate(true), undefined);
});

test('lost stream data is retransmitted through the schedule', () => {
  const { client, server } = pair();
  const id = client.openLocal(false)!;
  client.write(id, Buffer.from('abcdef'));
  client.finish(id);
  const stream = client.nextSendable()!;
  const chunk = client.nextStreamChunk(stream, 100)!;
  client.markSendable(id);
  assert.equal(client.nextSendable(), undefined);
  client.onStreamDataLost(id, chunk.offset, chunk.data.length, chunk.fin);
  const d = transfer(client, server);
  assert.deepEqual(d.finished, [id]);
  assert.deepEqual(readText(server, id), { text: 'abcdef', fin: true });
  assert.equal(client.size, 0);
  assert.equal(server.size, 0);
});

test('writes report backpressure and writable space after acknowledgements', () => {
  const { client } = pair({ sendBufferSize: 1000 });
  const id = client.openLocal(true)!;
  assert.equal(client.write(id, new Uint8Array(1500)), 1000);
  assert.equal(client.write(id, new Uint8Array(10)), 0);
  const stream = client.nextSendable()!;
  const chunk = client.nextStreamChunk(stream, 400)!;
  assert.deepEqual(client.onStreamDataAcked(id, chunk.offset, chunk.data.length, chunk.fin), {
    finished: false,
    writable: true,
  });
  assert.equal(client.write(id, new Uint8Array(500)), 400);
});

test('the session send budget bounds all streams together and wakes the refused ones', () => {
  const { client } = pair({ sendBufferSize: 1000, sessionSendBudget: 1500 });
  const a = client.openLocal(true)!;
  const b = client.openLocal(true)!;
  assert.equal(client.write(a, new Uint8Array(1000)), 1000);
  assert.equal(client.write(b, new Uint8Array(1000)), 500, 'the budget, not the stream buffer, refuses');
  assert.equal(client.write(b, new Uint8Array(10)), 0);
  assert.equal(client.sendBudget.held, 1500);
  assert.deepEqual(client.takeWritable(), [], 'no room yet');
  const stream = client.nextSendable()!;
  assert.equal(stream.id, a);
  const chunk = client.nextStreamChunk(stream, 300)!;
  client.onStreamDataAcked(a, chunk.offset, chunk.data.length, chunk.fin);
  assert.equal(client.sendBudget.held, 1200);
  assert.deepEqual(client.takeWritable(), [b], 'the acknowledgement on a lets b write again');
  assert.deepEqual(client.takeWritable(), [], 'once per refusal');
  assert.equal(client.write(b, new Uint8Array(1000)), 300);
  client.reset(a, 7);
  assert.equal(client.sendBudget.held, 800, "a reset gives the stream's bytes back");
});

test('peer transport parameters raise the credit of streams opened before them', () => {
  const client = new StreamMap({ ...defaults, role: 'client' });
  assert.equal(client.openLocal(true), undefined, 'no streams before the peer allows any');
  client.applyPeerLimits({
    initialStreamWindow: 500,
    initialConnectionWindow: 10_000,
    maxBidiStreams: 1,
    maxUniStreams: 0,
  });
  const id = client.openLocal(true)!;
  client.write(id, new Uint8Array(800));
  const stream = client.nextSendable()!;
  assert.equal(client.nextStreamChunk(stream, 10_000)!.data.length, 500);
  assert.equal(client.nextStreamChunk(stream, 10_000), undefined);
  assert.equal(stream.send!.takeBlocked(), 500);
  client.onMaxStreamData(id, 800);
  assert.equal(client.nextSendable(), stream);
  assert.equal(client.nextStreamChunk(stream, 10_000)!.data.length, 300);
});
