/**
 * `npm run bench -- throughput [--bytes N] [--size 1200]`: single-stream goodput of an
 * encrypted Braid session on loopback, sender and receiver in separate processes,
 * beside two baselines measured in the same run: raw Node UDP at the same datagram
 * size (the runtime's ceiling) and udx-native (unencrypted reliable UDP streams).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import type { SocketBackendChoice } from '../src/endpoint/datagram-socket.js';
import { nativeUdpUnavailableReason } from '../src/endpoint/native-socket.js';
import { connect, createServer, generateKeyPair } from '../src/index.js';
import { round } from '../testing/harness/stats.js';
import { measureRawUdp, measureRawUdpNative } from './baselines/raw-udp.js';
import { measureUdx } from './baselines/udx.js';
import { type Channel, runInChild } from './lib/child.js';
import { result } from './lib/result.js';
import { progress, systemInfo } from './lib/system.js';

const LOOPBACK = '127.0.0.1';
const CHUNK = 256 * 1024;

/** What the shell reported when it closed (braid:endpoint:closed): back-end and I/O counters. */
interface EndpointReport {
  backend: string;
  datagramsSent: number;
  sendCalls: number;
  datagramsReceived: number;
  reads: number;
  sendErrors: Record<string, number>;
  sockets: Array<Record<string, number>>;
}

interface ReceiverReport {
  /** CPU time (user + system) of the receiving process from its first byte to its last, µs. */
  cpuMicros: number;
  bytes: number;
  seconds: number;
  bitsPerSec: number;
  packetsReceived: number;
  drops: Record<string, number>;
  endpoint: EndpointReport | undefined;
}

interface SenderInput {
  port: number;
  serverKey: string;
  bytes: number;
  datagramSize: number;
  socketBackend: SocketBackendChoice;
}

interface SenderReport {
  /** CPU time (user + system) of the sending process over the transfer, µs. */
  cpuMicros: number;
  bytes: number;
  packetsSent: number;
  packetsLost: number;
  keyUpdates: number;
  srtt: number | undefined;
  congestionWindow: number;
  endpoint: EndpointReport | undefined;
}

/** Resolves with the counters of the next shell that closes in this process (or undefined after `ms`). */
function nextEndpointReport(ms: number): Promise<EndpointReport | undefined> {
  return new Promise((resolve) => {
    const onClosed = (message: unknown): void => {
      const m = message as {
        backend: string;
        stats: Record<string, unknown>;
        sockets: Array<Record<string, number>>;
      };
      finish({
        backend: m.backend,
        datagramsSent: m.stats.datagramsSent as number,
        sendCalls: m.stats.sendCalls as number,
        datagramsReceived: m.stats.datagramsReceived as number,
        reads: m.stats.reads as number,
        sendErrors: m.stats.sendErrors as Record<string, number>,
        sockets: m.sockets,
      });
    };
    const timer = setTimeout(() => finish(undefined), ms);
    const finish = (report: EndpointReport | undefined): void => {
      clearTimeout(timer);
      diagnosticsChannel.unsubscribe('braid:endpoint:closed', onClosed);
      resolve(report);
    };
    diagnosticsChannel.subscribe('braid:endpoint:closed', onClosed);
  });
}

/** Child: a Braid server that counts the bytes of the first stream until its end. */
export async function throughputReceiver(
  input: { datagramSize: number; socketBackend: SocketBackendChoice },
  channel: Channel,
): Promise<ReceiverReport> {
  const staticKey = generateKeyPair();
  const server = createServer({
    staticKey,
    transport: { maxUdpPayloadSize: input.datagramSize },
    socketBackend: input.socketBackend,
  });
  await server.listen({ host: LOOPBACK, port: 0 });
  const done = new Promise<ReceiverReport>((resolve, reject) => {
    server.once('session', (session) => {
      session.once('stream', (stream) => {
        let bytes = 0;
        let firstAt = 0;
        let cpuAtFirst = process.cpuUsage();
        stream.on('data', (chunk: Buffer) => {
          if (bytes === 0) {
            firstAt = performance.now();
            cpuAtFirst = process.cpuUsage();
          }
          bytes += chunk.length;
        });
        stream.once('error', reject);
        stream.once('end', () => {
          const seconds = (performance.now() - firstAt) / 1000;
          const cpu = process.cpuUsage(cpuAtFirst);
          stream.end();
          resolve({
            cpuMicros: cpu.user + cpu.system,
            bytes,
            seconds,
            bitsPerSec: (bytes * 8) / seconds,
            packetsReceived: session.stats.packetsReceived,
            drops: session.stats.drops,
            endpoint: undefined,
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
  const endpoint = nextEndpointReport(5000);
  await server.close(0, '', 200);
  return { ...report, endpoint: await endpoint };
}

/** Child: connects with the pinned key and writes `bytes` on one stream with backpressure. */
export async function throughputSender(input: SenderInput, channel: Channel): Promise<SenderReport> {
  const session = await connect(
    { host: LOOPBACK, port: input.port },
    {
      serverKey: new Uint8Array(Buffer.from(input.serverKey, 'base64')),
      timeout: 5000,
      transport: { maxUdpPayloadSize: input.datagramSize },
      socketBackend: input.socketBackend,
    },
  );
  const stream = await session.openStream();
  const chunk = Buffer.alloc(CHUNK, 0x5a);
  const cpuAtStart = process.cpuUsage();
  let written = 0;
  while (written < input.bytes) {
    const piece = input.bytes - written >= CHUNK ? chunk : chunk.subarray(0, input.bytes - written);
    written += piece.length;
    if (!stream.write(piece)) await once(stream, 'drain');
  }
  stream.end();
  stream.resume();
  await channel.next(); // the receiver has counted every byte
  const cpu = process.cpuUsage(cpuAtStart);
  const path = session.paths[0];
  const report: SenderReport = {
    cpuMicros: cpu.user + cpu.system,
    bytes: written,
    packetsSent: session.stats.packetsSent,
    packetsLost: session.stats.packetsLost,
    keyUpdates: session.stats.keyUpdates,
    srtt: path?.srtt,
    congestionWindow: path?.congestionWindow ?? 0,
    endpoint: undefined,
  };
  const endpoint = nextEndpointReport(5000);
  await session.close();
  return { ...report, endpoint: await endpoint };
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
  socketBackend: SocketBackendChoice = 'auto',
): Promise<ReceiverReport & { sender: SenderReport }> {
  const timeoutMs = 180_000;
  const receiver = runInChild<ReceiverReport>(
    import.meta.url,
    'throughputReceiver',
    { datagramSize, socketBackend },
    { timeoutMs },
  );
  try {
    const endpoint = (await receiver.next(30_000)) as { port: number; serverKey: string };
    const sender = runInChild<SenderReport>(
      import.meta.url,
      'throughputSender',
      { ...endpoint, bytes, datagramSize, socketBackend } satisfies SenderInput,
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

function backendArg(args: string[]): SocketBackendChoice {
  const i = args.indexOf('--backend');
  if (i < 0) return 'auto';
  const value = args[i + 1];
  if (value !== 'auto' && value !== 'native' && value !== 'dgram') {
    throw new RangeError('--backend must be auto, native or dgram');
  }
  return value;
}

function braidDetails(braid: ReceiverReport & { sender: SenderReport }, size: number): object {
  return {
    bytes: braid.bytes,
    seconds: round(braid.seconds),
    datagramSize: size,
    packetsSent: braid.sender.packetsSent,
    packetsLost: braid.sender.packetsLost,
    keyUpdates: braid.sender.keyUpdates,
    srttMs: braid.sender.srtt === undefined ? null : round(braid.sender.srtt),
    congestionWindow: Math.round(braid.sender.congestionWindow),
    receiverDrops: braid.drops,
    socketBackend: braid.sender.endpoint?.backend ?? null,
    // CPU per packet on each side: steadier than goodput on a shared machine.
    senderCpuMicrosPerPacket: round(braid.sender.cpuMicros / braid.sender.packetsSent),
    receiverCpuMicrosPerPacket: round(braid.cpuMicros / braid.packetsReceived),
    // Datagrams per socket call: how much the batching back-end saves in syscalls.
    sender: braid.sender.endpoint,
    receiver: braid.endpoint,
  };
}

/**
 * `npm run bench -- throughput [--bytes N] [--size 1200] [--backend auto|native|dgram] [--braid-only]`.
 * --braid-only skips the baselines (for profiling iterations: no ratios, so not a result).
 */
export async function run(args: string[]): Promise<object> {
  const bytes = numberArg(args, 'bytes', 256 * 1024 * 1024);
  const size = numberArg(args, 'size', 1200);
  const socketBackend = backendArg(args);
  progress(
    `throughput: ${bytes} bytes over one Braid stream (datagrams of ${size} bytes, ${socketBackend} sockets)`,
  );
  const braid = await measureBraid(bytes, size, socketBackend);
  const braidBits = round(braid.bitsPerSec);
  if (args.includes('--braid-only')) {
    return {
      name: 'braid single-stream goodput (encrypted), no baselines',
      value: braidBits,
      unit: 'bit/s',
      details: braidDetails(braid, size),
      system: systemInfo(),
    };
  }
  progress('throughput: raw UDP baseline');
  const raw = await measureRawUdp({ size, durationMs: 3000 });
  progress('throughput: udx-native baseline');
  const udx = await measureUdx({ bytes: Math.min(bytes, 256 * 1024 * 1024) });
  // For transparency, not a target: raw UDP through the native batched back-end Braid uses.
  const nativeUnavailable = nativeUdpUnavailableReason();
  let rawNative: Awaited<ReturnType<typeof measureRawUdpNative>> | undefined;
  if (nativeUnavailable === undefined) {
    progress('throughput: raw UDP through the native batched back-end (information)');
    rawNative = await measureRawUdpNative({ size, durationMs: 3000 });
  }
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
    rawNativeBatched: rawNative
      ? {
          name: `raw UDP receive rate through Braid's native batched back-end (GSO/GRO), ${size}-byte datagrams; information, not a target`,
          value: round(rawNative.bitsPerSec),
          unit: 'bit/s',
          ratio: round(braidBits / rawNative.bitsPerSec),
          datagramsPerSec: round(rawNative.datagramsPerSec),
        }
      : { unavailable: nativeUnavailable },
    details: { ...braidDetails(braid, size), rawDatagramsPerSec: round(raw.datagramsPerSec) },
    system: systemInfo(),
  };
}
