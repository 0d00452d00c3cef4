/**
 * `npm run bench -- throughput [--bytes N] [--size 1200]`: single-stream goodput of an
 * encrypted Braid session on loopback, sender and receiver in separate processes,
 * beside two baselines measured in the same run: raw Node UDP at the same datagram
 * size (the runtime's ceiling) and udx-native (unencrypted reliable UDP streams).
 */
import { once } from 'node:events';
import { connect, createServer, generateKeyPair } from '../src/index.js';
import { measureRawUdp } from './baselines/raw-udp.js';
import { measureUdx } from './baselines/udx.js';
import { type Channel, runInChild } from './lib/child.js';
import { result } from './lib/result.js';
import { round } from './lib/stats.js';
import { progress, systemInfo } from './lib/system.js';

const LOOPBACK = '127.0.0.1';
const CHUNK = 256 * 1024;

interface ReceiverReport {
  bytes: number;
  seconds: number;
  bitsPerSec: number;
  packetsReceived: number;
  drops: Record<string, number>;
}

interface SenderInput {
  port: number;
  serverKey: string;
  bytes: number;
  datagramSize: number;
}

interface SenderReport {
  bytes: number;
  packetsSent: number;
  packetsLost: number;
  keyUpdates: number;
  srtt: number | undefined;
  congestionWindow: number;
}

/** Child: a Braid server that counts the bytes of the first stream until its end. */
export async function throughputReceiver(
  input: { datagramSize: number },
  channel: Channel,
): Promise<ReceiverReport> {
  const staticKey = generateKeyPair();
  const server = createServer({ staticKey, transport: { maxUdpPayloadSize: input.datagramSize } });
  await server.listen({ host: LOOPBACK, port: 0 });
  const done = new Promise<ReceiverReport>((resolve, reject) => {
    server.once('session', (session) => {
      session.once('stream', (stream) => {
        let bytes = 0;
        let firstAt = 0;
        stream.on('data', (chunk: Buffer) => {
          if (bytes === 0) firstAt = performance.now();
          bytes += chunk.length;
        });
        stream.once('error', reject);
        stream.once('end', () => {
          const seconds = (performance.now() - firstAt) / 1000;
          stream.end();
          resolve({
            bytes,
            seconds,
            bitsPerSec: (bytes * 8) / seconds,
            packetsReceived: session.stats.packetsReceived,
            drops: session.stats.drops,
          });
        });
      });
    });
  });
  channel.post({
    port: server.address()!.port,
    serverKey: Buffer.from(staticKey.publicKey).toString('base64'),
  });
  const report = await done;
  await server.close(0, '', 200);
  return report;
}

/** Child: connects with the pinned key and writes `bytes` on one stream with backpressure. */
export async function throughputSender(input: SenderInput, channel: Channel): Promise<SenderReport> {
  const session = await connect(
    { host: LOOPBACK, port: input.port },
    {
      serverKey: new Uint8Array(Buffer.from(input.serverKey, 'base64')),
      timeout: 5000,
      transport: { maxUdpPayloadSize: input.datagramSize },
    },
  );
  const stream = await session.openStream();
  const chunk = Buffer.alloc(CHUNK, 0x5a);
  let written = 0;
  while (written < input.bytes) {
    const piece = input.bytes - written >= CHUNK ? chunk : chunk.subarray(0, input.bytes - written);
    written += piece.length;
    if (!stream.write(piece)) await once(stream, 'drain');
  }
  stream.end();
  stream.resume();
  await channel.next(); // the receiver has counted every byte
  const path = session.paths[0];
  const report: SenderReport = {
    bytes: written,
    packetsSent: session.stats.packetsSent,
    packetsLost: session.stats.packetsLost,
    keyUpdates: session.stats.keyUpdates,
    srtt: path?.srtt,
    congestionWindow: path?.congestionWindow ?? 0,
  };
  await session.close();
  return report;
}

function numberArg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(args[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`--${name} must be a positive number`);
  return value;
}

export async function measureBraid(
  bytes: number,
  datagramSize: number,
): Promise<ReceiverReport & { sender: SenderReport }> {
  const timeoutMs = 180_000;
  const receiver = runInChild<ReceiverReport>(
    import.meta.url,
    'throughputReceiver',
    { datagramSize },
    { timeoutMs },
  );
  try {
    const endpoint = (await receiver.next(30_000)) as { port: number; serverKey: string };
    const sender = runInChild<SenderReport>(
      import.meta.url,
      'throughputSender',
      { ...endpoint, bytes, datagramSize } satisfies SenderInput,
      { timeoutMs },
    );
    try {
      const got = await receiver.result;
      sender.post('done');
      const sent = await sender.result;
      if (got.bytes !== sent.bytes) throw new Error(`Braid delivered ${got.bytes} of ${sent.bytes} bytes`);
      return { ...got, sender: sent };
    } finally {
      sender.kill();
    }
  } finally {
    receiver.kill();
  }
}

export async function run(args: string[]): Promise<object> {
  const bytes = numberArg(args, 'bytes', 256 * 1024 * 1024);
  const size = numberArg(args, 'size', 1200);
  progress(`throughput: ${bytes} bytes over one Braid stream (datagrams of ${size} bytes)`);
  const braid = await measureBraid(bytes, size);
  progress('throughput: raw UDP baseline');
  const raw = await measureRawUdp({ size, durationMs: 3000 });
  progress('throughput: udx-native baseline');
  const udx = await measureUdx({ bytes: Math.min(bytes, 256 * 1024 * 1024) });
  const braidBits = round(braid.bitsPerSec);
  return {
    ...result({
      name: 'braid single-stream goodput (encrypted)',
      value: braidBits,
      unit: 'bit/s',
      baseline: {
        name: `raw Node UDP receive rate, ${size}-byte datagrams`,
        value: round(raw.bitsPerSec),
        unit: 'bit/s',
      },
    }),
    udx: {
      name: 'udx-native single-stream goodput (unencrypted)',
      value: round(udx.bitsPerSec),
      unit: 'bit/s',
      ratio: round(braidBits / udx.bitsPerSec),
    },
    targets: { rawRatioAtLeast: 0.5, udxRatioAtLeast: 1 },
    details: {
      bytes: braid.bytes,
      seconds: round(braid.seconds),
      datagramSize: size,
      packetsSent: braid.sender.packetsSent,
      packetsLost: braid.sender.packetsLost,
      keyUpdates: braid.sender.keyUpdates,
      srttMs: braid.sender.srtt === undefined ? null : round(braid.sender.srtt),
      congestionWindow: braid.sender.congestionWindow,
      receiverDrops: braid.drops,
      rawDatagramsPerSec: round(raw.datagramsPerSec),
    },
    system: systemInfo(),
  };
}
