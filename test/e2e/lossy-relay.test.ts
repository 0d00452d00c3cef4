/**
 * A session through a real-socket UDP relay that drops 5%, reorders and duplicates in
 * both directions: every stream must still deliver its bytes exactly once and in order
 * (SHA-256 and length equal), and the relay's counters must show it really impaired traffic.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import test from 'node:test';
import { connect } from '../../src/api/connect.js';
import { createServer } from '../../src/api/server.js';
import type { Session } from '../../src/api/session.js';
import { socketBackendsUnderTest } from '../../testing/harness/socket-backends.js';
import { answerWithReceipt, formatRate, MiB, sendAndVerify } from '../../testing/harness/transfer.js';
import { type Impairments, seededPrng, UdpRelay } from '../../testing/harness/udp-relay.js';

const IMPAIRMENTS: Impairments = {
  loss: 0.05,
  duplicate: 0.02,
  reorder: 0.03,
  reorderDistance: 3,
  delay: 0.01,
  delayMs: 5,
};
/** Streams each way: the client uploads on streams it opens, the server downloads on streams it opens. */
const STREAMS_EACH_WAY = 2;
const BYTES_PER_STREAM = 4 * MiB;
const TOTAL_BYTES = 2 * STREAMS_EACH_WAY * BYTES_PER_STREAM;

type Transfer = Awaited<ReturnType<typeof sendAndVerify>>;

function assertIntact(label: string, transfers: Transfer[]): void {
  assert.equal(transfers.length, STREAMS_EACH_WAY, `${label}: stream count`);
  for (const [i, { sent, received }] of transfers.entries()) {
    assert.equal(received.bytes, BYTES_PER_STREAM, `${label} stream ${i}: byte count`);
    assert.equal(received.sha256, sent, `${label} stream ${i}: SHA-256 differs`);
  }
}

// Once per socket back-end: the relay itself stays on node:dgram, Braid's sockets vary.
for (const backend of socketBackendsUnderTest()) {
  test(`${backend}: through a lossy, reordering, duplicating relay: ${2 * STREAMS_EACH_WAY} × ${BYTES_PER_STREAM / MiB} MiB both ways, exactly once, in order`, {
    timeout: 120_000,
  }, async () => {
    let downloads: Promise<Transfer[]> | undefined;
    const server = createServer({ socketBackend: backend }, (session: Session) => {
      session.on('stream', answerWithReceipt);
      downloads = Promise.all(
        Array.from({ length: STREAMS_EACH_WAY }, async (_, i) =>
          sendAndVerify(await session.openStream(), `lossy-down-${i}`, BYTES_PER_STREAM),
        ),
      );
    });
    await server.listen({ host: '127.0.0.1', port: 0 });
    const relay = await UdpRelay.start({
      target: { host: '127.0.0.1', port: server.address()!.port },
      seed: 7,
      toServer: IMPAIRMENTS,
      toClient: IMPAIRMENTS,
    });
    let client: Session | undefined;
    try {
      client = await connect(relay.address, {
        serverKey: server.publicKey,
        timeout: 10_000,
        socketBackend: backend,
      });
      const session = client;
      session.on('stream', answerWithReceipt);
      const started = process.hrtime.bigint();
      const uploads = await Promise.all(
        Array.from({ length: STREAMS_EACH_WAY }, async (_, i) =>
          sendAndVerify(await session.openStream(), `lossy-up-${i}`, BYTES_PER_STREAM),
        ),
      );
      assert.ok(downloads, 'the server never saw the session');
      const downloaded = await downloads;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      assertIntact('upload', uploads);
      assertIntact('download', downloaded);

      const counters = relay.counters;
      for (const direction of ['toServer', 'toClient'] as const) {
        const c = counters[direction];
        assert.ok(c.dropped > 0, `${direction}: relay dropped nothing`);
        assert.ok(c.reordered > 0, `${direction}: relay reordered nothing`);
        assert.ok(c.duplicated > 0, `${direction}: relay duplicated nothing`);
        // Both directions carry bulk data, so each saw enough datagrams for the 5% rate to show.
        assert.ok(c.dropped / c.received > 0.03, `${direction}: loss rate ${c.dropped / c.received}`);
      }
      assert.ok(client.stats.packetsLost > 0, 'the client detected no loss');
      console.log(
        `lossy relay (${backend}): ${formatRate(TOTAL_BYTES, seconds)}; relay ${JSON.stringify(counters)}; ` +
          `client lost ${client.stats.packetsLost}, drops ${JSON.stringify(client.stats.drops)}`,
      );
    } finally {
      await client?.close().catch(() => undefined);
      await server.close(0, '', 500);
      await relay.close();
    }
  });
}

async function boundSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

/** Sends `count` numbered datagrams from `from` through the relay and collects what reaches `sink`. */
async function pushThrough(relayOptions: Partial<Parameters<typeof UdpRelay.start>[0]>, count: number) {
  const sink = await boundSocket();
  const source = await boundSocket();
  const relay = await UdpRelay.start({
    target: { host: '127.0.0.1', port: sink.address().port },
    ...relayOptions,
  });
  const arrived: number[] = [];
  sink.on('message', (data) => arrived.push(data.readUInt32BE(0)));
  try {
    for (let i = 0; i < count; i++) {
      const data = Buffer.alloc(4);
      data.writeUInt32BE(i);
      source.send(data, relay.address.port, relay.address.host);
      // Pace the sends so loopback socket buffers never drop anything themselves.
      if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    // Long enough for the hold timer and delays to release the last datagrams.
    await new Promise((resolve) => setTimeout(resolve, 100));
    return { arrived, counters: relay.counters.toServer };
  } finally {
    await relay.close();
    source.close();
    sink.close();
  }
}

test('relay: impairments follow the seed and the counters match what arrived', {
  timeout: 10_000,
}, async () => {
  const impairments: Impairments = { loss: 0.1, duplicate: 0.1, reorder: 0.1, reorderDistance: 2 };
  const first = await pushThrough({ seed: 3, toServer: impairments }, 500);
  const second = await pushThrough({ seed: 3, toServer: impairments }, 500);
  assert.deepEqual(second.counters, first.counters, 'same seed, different decisions');
  assert.deepEqual(second.arrived, first.arrived, 'same seed, different arrival order');

  const { arrived, counters } = first;
  assert.equal(counters.received, 500);
  assert.equal(arrived.length, 500 - counters.dropped + counters.duplicated);
  assert.equal(counters.forwarded, arrived.length);
  assert.equal(new Set(arrived).size, 500 - counters.dropped, 'a datagram arrived that was dropped');
  const outOfOrder = arrived.filter((n, i) => i > 0 && n < arrived[i - 1]!).length;
  assert.ok(outOfOrder > 0, 'nothing arrived out of order');
  assert.ok(counters.dropped > 20 && counters.dropped < 80, `dropped ${counters.dropped} of 500 at 10%`);
});

test('relay: without impairments everything passes once and in order; a hook can drop', async () => {
  const clean = await pushThrough({}, 200);
  assert.deepEqual(
    clean.arrived,
    Array.from({ length: 200 }, (_, i) => i),
  );
  const hooked = await pushThrough(
    { hook: (_direction, data) => (data.readUInt32BE(0) % 2 ? 'drop' : 'pass') },
    10,
  );
  assert.deepEqual(hooked.arrived, [0, 2, 4, 6, 8]);
  assert.equal(hooked.counters.dropped, 5);
  assert.ok(seededPrng(1)() !== seededPrng(2)(), 'seeds do not matter');
});
