import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { Pair, seededRandom } from '../../testing/harness/engine-pair.js';

function sha256(chunks: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

/** Writes `data` on `id`, respecting backpressure, then FIN; returns when all was queued. */
function pump(pair: Pair, id: number, data: Uint8Array): void {
  let offset = 0;
  const conn = pair.clientConn;
  pair.runUntil(() => {
    while (offset < data.length) {
      const n = conn.writeStream(id, data.subarray(offset, Math.min(data.length, offset + 65536)));
      if (n === 0) break;
      offset += n;
    }
    if (offset === data.length) {
      conn.finishStream(id);
      return true;
    }
    return false;
  });
}

test('a bidirectional stream carries bytes exactly once, in order, both ways', () => {
  const pair = new Pair();
  pair.handshake();
  const id = pair.clientConn.openStream(true)!;
  const payload = seededRandom(3)(300_000);
  pump(pair, id, payload);
  const received: Uint8Array[] = [];
  let fin = false;
  pair.runUntil(() => {
    if (!fin) fin = Pair.drain(pair.serverConn, id, received);
    return fin;
  });
  assert.equal(sha256(received), sha256([payload]));
  // Echo back.
  pair.serverConn.writeStream(id, Buffer.from('pong'));
  pair.serverConn.finishStream(id);
  const back: Uint8Array[] = [];
  let backFin = false;
  pair.runUntil(() => {
    if (!backFin) backFin = Pair.drain(pair.clientConn, id, back);
    return backFin;
  });
  assert.equal(Buffer.concat(back).toString(), 'pong');
  assert.ok(pair.serverEvents.some((e) => e.type === 'stream-opened' && e.streamId === id));
});

test('transfer through 5% loss, reordering and duplication stays exactly-once', () => {
  const pair = new Pair({ seed: 9 });
  const rnd = seededRandom(77);
  let reordered = 0;
  let duplicated = 0;
  pair.hook = () => {
    const [a, b] = rnd(2);
    if (a < 13) return false; // ≈5% loss
    if (b < 13) {
      reordered++;
      return { extraDelay: 15 }; // overtaken by later packets
    }
    if (b > 243) {
      duplicated++;
      return { duplicate: true };
    }
    return undefined;
  };
  pair.handshake();
  const ids = [
    pair.clientConn.openStream(true)!,
    pair.clientConn.openStream(true)!,
    pair.clientConn.openStream(false)!,
  ];
  const payloads = ids.map((_, i) => seededRandom(100 + i)(120_000));
  for (const [i, id] of ids.entries()) pump(pair, id, payloads[i]);
  const sinks = ids.map(() => [] as Uint8Array[]);
  const done = ids.map(() => false);
  pair.runUntil(() => {
    for (const [i, id] of ids.entries()) {
      if (!done[i]) done[i] = Pair.drain(pair.serverConn, id, sinks[i]);
    }
    return done.every(Boolean);
  }, 120_000);
  for (const i of ids.keys()) assert.equal(sha256(sinks[i]), sha256([payloads[i]]));
  assert.ok(pair.clientConn.stats.packetsLost > 0, 'loss was actually exercised');
  assert.ok(reordered > 10 && duplicated > 10, `reordered ${reordered}, duplicated ${duplicated}`);
  assert.ok((pair.serverConn.stats.drops.duplicate ?? 0) > 0, 'duplicates were detected and dropped');
});

test('datagrams are delivered unreliably and whole', () => {
  const pair = new Pair();
  pair.handshake();
  assert.ok(pair.clientConn.maxDatagramSize > 1000);
  assert.ok(pair.clientConn.sendDatagram(Buffer.from('hello')));
  assert.equal(pair.clientConn.sendDatagram(new Uint8Array(5000)), false);
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'datagram'));
  const d = pair.serverEvents.find((e) => e.type === 'datagram');
  assert.ok(d?.type === 'datagram');
  assert.equal(Buffer.from(d.data).toString(), 'hello');
});

test('5,000 short streams flow under a 100-stream limit as the receiver raises it', () => {
  const pair = new Pair({ transport: { maxConcurrentBidiStreams: 100 } });
  pair.handshake();
  const total = 5000;
  let opened = 0;
  let finished = 0;
  const open = new Set<number>();
  pair.runUntil(() => {
    while (opened < total) {
      const id = pair.clientConn.openStream(true);
      if (id === undefined) break;
      pair.clientConn.writeStream(id, Buffer.from(`stream ${opened}`));
      pair.clientConn.finishStream(id);
      open.add(id);
      opened++;
    }
    for (const e of pair.serverEvents.splice(0)) {
      if (e.type === 'stream-opened' || e.type === 'stream-readable') {
        const sink: Uint8Array[] = [];
        if (Pair.drain(pair.serverConn, e.streamId, sink)) {
          pair.serverConn.finishStream(e.streamId);
        }
      }
    }
    for (const e of pair.clientEvents.splice(0)) {
      if (e.type === 'stream-readable' || e.type === 'stream-finished') {
        const sink: Uint8Array[] = [];
        if (open.has(e.streamId) && Pair.drain(pair.clientConn, e.streamId, sink)) {
          open.delete(e.streamId);
          finished++;
        }
      }
    }
    return finished === total;
  }, 600_000);
  assert.equal(finished, total);
});

test('a key update happens within the first MiB and the transfer does not stall', () => {
  const pair = new Pair({ transport: { keyUpdateInterval: 300 } });
  pair.handshake();
  const id = pair.clientConn.openStream(false)!;
  const payload = seededRandom(5)(1 << 20);
  pump(pair, id, payload);
  const sink: Uint8Array[] = [];
  let fin = false;
  pair.runUntil(() => {
    if (!fin) fin = Pair.drain(pair.serverConn, id, sink);
    return fin;
  });
  assert.equal(sha256(sink), sha256([payload]));
  assert.ok(pair.clientConn.stats.keyUpdates >= 1, 'client updated keys');
  assert.ok(pair.serverConn.stats.keyUpdates >= 1, 'server followed');
});

test('close with an application code reaches the peer', () => {
  const pair = new Pair();
  pair.handshake();
  pair.clientConn.close(42, 'bye');
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'closed'));
  const e = pair.serverEvents.find((x) => x.type === 'closed');
  assert.ok(e?.type === 'closed');
  assert.equal(e.info.code, 42);
  assert.equal(e.info.application, true);
  assert.equal(e.info.reason, 'bye');
  pair.runUntil(() => pair.clientConn.state === 'closed' && pair.serverConn.state === 'closed');
});

test('idle timeout closes both sides (persistence off)', () => {
  // With persistence (the default) an idle session is kept alive instead: test/engine/persistence.test.ts.
  const pair = new Pair({ transport: { idleTimeout: 2000, persistenceTimeout: 0 } });
  pair.handshake();
  pair.runUntil(() => pair.clientConn.state === 'closed' && pair.serverConn.state === 'closed', 10_000);
  const e = pair.clientEvents.find((x) => x.type === 'closed');
  assert.ok(e?.type === 'closed' && e.info.source === 'idle-timeout');
});

test('a peer that lost its state answers with a stateless reset', () => {
  const pair = new Pair();
  pair.handshake();
  // Simulate a server restart: a fresh server endpoint with the same addresses but no sessions.
  (pair as unknown as { server: unknown }).server = new (
    pair.server.constructor as typeof import('../../src/engine/endpoint.js').Endpoint
  )({
    staticKey: pair.serverKey,
    server: { authorizedKeys: 'any' },
  });
  const id = pair.clientConn.openStream(true)!;
  pair.clientConn.writeStream(id, Buffer.alloc(100, 1));
  pair.runUntil(() => pair.clientConn.state === 'closed', 30_000);
  const e = pair.clientEvents.find((x) => x.type === 'closed');
  assert.ok(e?.type === 'closed');
  // Same static key ⇒ same reset key: the client learns at once that the session is gone.
  assert.equal(e.info.source, 'stateless-reset');
  assert.ok(pair.now < 5_000, `reset took ${pair.now} ms`);
});
