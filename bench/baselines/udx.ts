// Baseline: udx-native (reliable, congestion-controlled, unencrypted streams over UDP) goodput on
// loopback, sender and receiver in separate processes. It is the bar for what a userspace
// reliable transport reached from Node can do here, before encryption.
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import UDX from 'udx-native';
import { round } from '../../testing/harness/stats.js';
import { type Channel, runInChild } from '../lib/child.js';
import { result } from '../lib/result.js';
import { progress, systemInfo, warnIfCrowded } from '../lib/system.js';
import { measureRawUdp } from './raw-udp.js';

const LOOPBACK = '127.0.0.1';
const CHUNK = 64 * 1024;
const SOCKET_BUFFER = 4 * 1024 * 1024;
const SENDER_STREAM_ID = 1;
const RECEIVER_STREAM_ID = 2;

/** Exactly one of `bytes` (transfer that much) or `durationMs` (send for that long); default 3 s. */
export type UdxOptions =
  | { bytes: number; durationMs?: undefined }
  | { bytes?: undefined; durationMs?: number };

export interface UdxResult {
  /** Application bytes delivered per second, times 8, at the receiver. */
  bitsPerSec: number;
  bytes: number;
  /** From the receiver's first byte to its end-of-stream. */
  seconds: number;
}

interface Endpoint {
  port: number;
}

interface SenderInput {
  bytes: number | undefined;
  durationMs: number | undefined;
}

function openSocket(): { udx: UDX; socket: ReturnType<UDX['createSocket']>; port: number } {
  const udx = new UDX();
  const socket = udx.createSocket();
  socket.bind(0, LOOPBACK);
  socket.setRecvBufferSize(SOCKET_BUFFER);
  socket.setSendBufferSize(SOCKET_BUFFER);
  return { udx, socket, port: socket.address().port };
}

/** Child: connects to the sender named by the parent and counts bytes until end-of-stream. */
export async function udxReceiver(_input: null, channel: Channel): Promise<UdxResult> {
  const { udx, socket, port } = openSocket();
  channel.post({ port } satisfies Endpoint);
  const sender = (await channel.next()) as Endpoint;
  const stream = udx.createStream(RECEIVER_STREAM_ID);
  let bytes = 0;
  let firstAt = 0;
  stream.on('data', (data: Uint8Array) => {
    if (bytes === 0) firstAt = performance.now();
    bytes += data.byteLength;
  });
  const ended = once(stream, 'end');
  stream.connect(socket, SENDER_STREAM_ID, sender.port, LOOPBACK);
  channel.post('connected');
  await ended;
  const seconds = (performance.now() - firstAt) / 1000;
  stream.end();
  await once(stream, 'close');
  await socket.close();
  return { bitsPerSec: seconds > 0 ? (bytes * 8) / seconds : 0, bytes, seconds };
}

/** Child: writes 64 KiB chunks with backpressure until the byte count or the time is reached. */
export async function udxSender(input: SenderInput, channel: Channel): Promise<{ bytes: number }> {
  const { udx, socket, port } = openSocket();
  channel.post({ port } satisfies Endpoint);
  const receiver = (await channel.next()) as Endpoint;
  await channel.next(); // receiver connected: every packet from now on has a stream to land in
  const stream = udx.createStream(SENDER_STREAM_ID);
  stream.on('error', (error: Error) => progress(`udx sender: ${error.message}`));
  const closed = once(stream, 'close');
  stream.connect(socket, RECEIVER_STREAM_ID, receiver.port, LOOPBACK);
  const chunk = Buffer.alloc(CHUNK, 0x5a);
  const endAt =
    input.durationMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + input.durationMs;
  const limit = input.bytes ?? Number.POSITIVE_INFINITY;
  let written = 0;
  while (written < limit && performance.now() < endAt) {
    const piece = limit - written >= CHUNK ? chunk : chunk.subarray(0, limit - written);
    written += piece.byteLength;
    if (!stream.write(piece)) await once(stream, 'drain');
  }
  stream.end();
  await closed;
  await socket.close();
  return { bytes: written };
}

/**
 * Measures udx-native stream goodput on loopback. Throws RangeError for non-positive bytes or
 * duration.
 */
export async function measureUdx(options: UdxOptions = {}): Promise<UdxResult> {
  const bytes = options.bytes;
  const durationMs = bytes === undefined ? (options.durationMs ?? 3000) : undefined;
  if (bytes !== undefined && !(Number.isInteger(bytes) && bytes > 0)) {
    throw new RangeError(`bytes must be a positive integer, got ${bytes}`);
  }
  if (durationMs !== undefined && !(durationMs > 0)) {
    throw new RangeError(`duration must be positive, got ${durationMs}`);
  }
  warnIfCrowded(2);
  progress(`udx: ${bytes !== undefined ? `${bytes} bytes` : `${durationMs} ms`} over a loopback stream`);
  const timeoutMs = (durationMs ?? 30_000) + 30_000;
  const receiver = runInChild<UdxResult>(import.meta.url, 'udxReceiver', null, { timeoutMs });
  const sender = runInChild<{ bytes: number }>(
    import.meta.url,
    'udxSender',
    { bytes, durationMs } satisfies SenderInput,
    { timeoutMs },
  );
  try {
    const [receiverEnd, senderEnd] = (await Promise.all([receiver.next(30_000), sender.next(30_000)])) as [
      Endpoint,
      Endpoint,
    ];
    receiver.post(senderEnd);
    sender.post(receiverEnd);
    await receiver.next(30_000);
    sender.post('go');
    const [got, sent] = await Promise.all([receiver.result, sender.result]);
    if (got.bytes !== sent.bytes) {
      throw new Error(`udx delivered ${got.bytes} of ${sent.bytes} bytes written`);
    }
    return { bitsPerSec: round(got.bitsPerSec), bytes: got.bytes, seconds: round(got.seconds) };
  } finally {
    sender.kill();
    receiver.kill();
  }
}

/** `npm run bench -- baselines/udx [--bytes N | --duration 3000]`: udx goodput against raw UDP. */
export async function run(args: string[]): Promise<object> {
  const { values } = parseArgs({
    args,
    options: { bytes: { type: 'string' }, duration: { type: 'string' } },
  });
  const udx = await measureUdx(
    values.bytes !== undefined
      ? { bytes: Number(values.bytes) }
      : { durationMs: Number(values.duration ?? 3000) },
  );
  const raw = await measureRawUdp({ durationMs: Number(values.duration ?? 3000) });
  return result({
    name: 'udx stream goodput',
    value: udx.bitsPerSec,
    unit: 'bit/s',
    baseline: { name: 'raw UDP received (1200 B datagrams)', value: raw.bitsPerSec, unit: 'bit/s' },
    udx,
    raw,
    system: systemInfo(),
  });
}
