/**
 * Bulk transfer over real UDP sockets on loopback: 8 concurrent streams, 256 MiB in
 * total by default (BRAID_E2E_BYTES overrides the total for local debugging), SHA-256
 * of what was sent compared with what the server received. A smaller variant runs over ::1.
 * Each runs once per socket back-end (native batched I/O and node:dgram).
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import test from 'node:test';
import { connect } from '../../src/api/connect.js';
import { createServer } from '../../src/api/server.js';
import type { Session } from '../../src/api/session.js';
import type { SocketBackend } from '../../src/endpoint/datagram-socket.js';
import { socketBackendsUnderTest } from '../../testing/harness/socket-backends.js';
import {
  answerWithReceipt,
  bytesFromEnv,
  formatRate,
  MiB,
  sendAndVerify,
} from '../../testing/harness/transfer.js';

const STREAMS = 8;
const TOTAL_BYTES = bytesFromEnv('BRAID_E2E_BYTES', 256 * MiB);
const IPV6_TOTAL_BYTES = Math.min(TOTAL_BYTES, 16 * MiB);
// Generous: a correct but slow hot path must still finish; the slowest rate tolerated is ~1 MiB/s.
const timeoutFor = (bytes: number): number => 60_000 + Math.ceil(bytes / MiB) * 1000;

async function ipv6LoopbackAvailable(): Promise<boolean> {
  const socket = createSocket('udp6');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '::1', resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}

async function bulkTransfer(host: string, totalBytes: number, socketBackend: SocketBackend): Promise<void> {
  const server = createServer({ socketBackend }, (session: Session) =>
    session.on('stream', answerWithReceipt),
  );
  await server.listen({ host, port: 0 });
  const port = server.address()!.port;
  const client = await connect({ host, port }, { serverKey: server.publicKey, timeout: 5000, socketBackend });
  try {
    const perStream = Math.floor(totalBytes / STREAMS);
    const sizes = Array.from({ length: STREAMS }, (_, i) =>
      i === STREAMS - 1 ? totalBytes - perStream * (STREAMS - 1) : perStream,
    );
    const started = process.hrtime.bigint();
    const results = await Promise.all(
      sizes.map(async (size, i) => {
        const stream = await client.openStream();
        return { size, ...(await sendAndVerify(stream, `bulk-${host}-${i}`, size)) };
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    for (const [i, { size, sent, received }] of results.entries()) {
      assert.equal(received.bytes, size, `stream ${i}: byte count`);
      assert.equal(received.sha256, sent, `stream ${i}: SHA-256 at the server differs from the sender's`);
    }
    const stats = client.stats;
    console.log(
      `loopback bulk over ${host} (${socketBackend}), ${STREAMS} streams: ${formatRate(totalBytes, seconds)}; ` +
        `client packets sent ${stats.packetsSent}, lost ${stats.packetsLost}`,
    );
  } finally {
    await client.close().catch(() => undefined);
    await server.close(0, '', 500);
  }
}

for (const backend of socketBackendsUnderTest()) {
  test(`${backend}: loopback 127.0.0.1: ${STREAMS} concurrent streams, ${TOTAL_BYTES / MiB} MiB, SHA-256 equal at both ends`, {
    timeout: timeoutFor(TOTAL_BYTES),
  }, async () => {
    await bulkTransfer('127.0.0.1', TOTAL_BYTES, backend);
  });

  test(`${backend}: loopback ::1: ${STREAMS} concurrent streams, ${IPV6_TOTAL_BYTES / MiB} MiB, SHA-256 equal at both ends`, {
    timeout: timeoutFor(IPV6_TOTAL_BYTES),
  }, async (t) => {
    if (!(await ipv6LoopbackAvailable())) {
      t.skip('no IPv6 loopback on this host');
      return;
    }
    await bulkTransfer('::1', IPV6_TOTAL_BYTES, backend);
  });
}
