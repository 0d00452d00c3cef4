// Baseline: the runtime's UDP ceiling. Sender and receiver run in separate processes on loopback;
// the sender pushes fixed-size datagrams through Node's dgram as fast as it can, limited only by
// a credit window the receiver refreshes with cumulative counts, so the kernel buffer never
// overflows and the figure is what a Node receiver can actually consume.
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { DatagramSocket } from '../../src/endpoint/datagram-socket.js';
import { openDatagramSocket } from '../../src/endpoint/open-socket.js';
import type { SocketAddress } from '../../src/net/address.js';
import { round } from '../../testing/harness/stats.js';
import { type Channel, runInChild } from '../lib/child.js';
import { progress, systemInfo, warnIfCrowded } from '../lib/system.js';
import { sleep } from '../lib/timing.js';

const LOOPBACK = '127.0.0.1';
/** Largest UDP payload over IPv4. */
const MAX_DATAGRAM = 65_507;
/** Asked of the kernel; Linux caps it at net.core.rmem_max and reports the (doubled) result. */
const REQUESTED_RECV_BUFFER = 4 * 1024 * 1024;
const MAX_WINDOW = 1024;
/** With the window full and no new count for this long, unreported datagrams are deemed lost. */
const STALL_MS = 20;
const QUIET_MS = 50;

export interface RawUdpOptions {
  size?: number;
  durationMs?: number;
  /** Datagrams in flight before the sender waits for the receiver's count (default: fits the receive buffer). */
  window?: number;
}

export interface RawUdpResult {
  datagramsPerSec: number;
  /** Payload bits per second received (UDP/IP headers excluded). */
  bitsPerSec: number;
  sent: number;
  received: number;
  size: number;
  durationMs: number;
  window: number;
  /** Seconds between the first and last datagram at the receiver. */
  seconds: number;
  /** Times the sender gave up waiting for counts and wrote unreported datagrams off as lost. */
  lossResets: number;
  /** Send errors the sender's socket reported (e.g. ECONNREFUSED); 0 on a healthy run. */
  sendErrors: number;
}

interface ReceiverInput {
  recvBufferBytes: number;
}

/** Sent to the receiver once the window is known. */
interface ReceiverConfig {
  feedbackEvery: number;
}

interface ReceiverReady {
  port: number;
  recvBufferBytes: number;
}

interface ReceiverReport {
  received: number;
  bytes: number;
  seconds: number;
}

interface SenderInput {
  port: number;
  size: number;
  durationMs: number;
  window: number;
}

interface SenderReport {
  sent: number;
  seconds: number;
  lossResets: number;
  sendErrors: number;
}

async function bindLoopback(socket: Socket): Promise<number> {
  socket.bind(0, LOOPBACK);
  await once(socket, 'listening');
  return socket.address().port;
}

/** Resolves once `count()` stopped changing for QUIET_MS: the sender is done and nothing is in flight. */
async function untilQuiet(count: () => number): Promise<void> {
  let before = -1;
  while (before !== count()) {
    before = count();
    await sleep(QUIET_MS);
  }
}

/** Child: counts datagrams and returns cumulative counts to their sender as 8-byte credits. */
export async function rawUdpReceiver(input: ReceiverInput, channel: Channel): Promise<ReceiverReport> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: input.recvBufferBytes });
  const port = await bindLoopback(socket);
  const ready: ReceiverReady = { port, recvBufferBytes: socket.getRecvBufferSize() };
  channel.post(ready);
  const { feedbackEvery } = (await channel.next()) as ReceiverConfig;

  const credit = Buffer.alloc(8);
  let received = 0;
  let bytes = 0;
  let firstAt = 0;
  let lastAt = 0;
  let reported = 0;
  let senderPort = 0;
  const report = (): void => {
    reported = received;
    credit.writeDoubleLE(received, 0);
    socket.send(credit, senderPort, LOOPBACK);
  };
  socket.on('message', (message, from) => {
    lastAt = performance.now();
    if (received === 0) {
      firstAt = lastAt;
      senderPort = from.port;
    }
    received++;
    bytes += message.length;
    if (received - reported >= feedbackEvery) report();
  });
  socket.on('error', (error) => progress(`raw-udp receiver: ${error.message}`));
  // Covers the tail of a burst smaller than feedbackEvery.
  const ticker = setInterval(() => {
    if (senderPort !== 0 && received !== reported) report();
  }, 2);

  await channel.next();
  await untilQuiet(() => received);
  clearInterval(ticker);
  socket.close();
  return { received, bytes, seconds: received > 1 ? (lastAt - firstAt) / 1000 : 0 };
}

/** Child: sends datagrams for `durationMs`, keeping at most `window` unacknowledged. */
export async function rawUdpSender(input: SenderInput): Promise<SenderReport> {
  const socket = createSocket({ type: 'udp4', sendBufferSize: REQUESTED_RECV_BUFFER });
  await bindLoopback(socket);
  socket.connect(input.port, LOOPBACK);
  await once(socket, 'connect');
  const payload = Buffer.alloc(input.size, 0x5a);

  let sent = 0;
  let reportedReceived = 0;
  let writtenOff = 0;
  let lossResets = 0;
  let sendErrors = 0;
  let lastProgressAt = performance.now();
  const startedAt = lastProgressAt;
  const endAt = startedAt + input.durationMs;
  let done = false;
  let pumpScheduled = false;

  const inFlight = (): number => sent - reportedReceived - writtenOff;

  return new Promise<SenderReport>((resolve) => {
    const finish = (): void => {
      if (done) return;
      done = true;
      clearInterval(watchdog);
      const seconds = (performance.now() - startedAt) / 1000;
      socket.close(() => resolve({ sent, seconds, lossResets, sendErrors }));
    };
    const pump = (): void => {
      pumpScheduled = false;
      if (done) return;
      // Bounded bursts let credit messages and timers in between.
      for (let burst = 0; burst < 256 && inFlight() < input.window; burst++) {
        socket.send(payload);
        sent++;
      }
      if (performance.now() >= endAt) finish();
      else if (inFlight() < input.window) schedulePump();
    };
    const schedulePump = (): void => {
      if (pumpScheduled) return;
      pumpScheduled = true;
      setImmediate(pump);
    };
    socket.on('message', (message) => {
      if (message.length !== 8) return;
      const count = message.readDoubleLE(0);
      if (count <= reportedReceived) return;
      reportedReceived = count;
      lastProgressAt = performance.now();
      schedulePump();
    });
    socket.on('error', () => {
      sendErrors++;
    });
    const watchdog = setInterval(() => {
      const now = performance.now();
      if (now >= endAt) {
        finish();
        return;
      }
      if (inFlight() >= input.window && now - lastProgressAt > STALL_MS) {
        writtenOff = sent - reportedReceived;
        lossResets++;
        lastProgressAt = now;
        schedulePump();
      }
    }, 5);
    schedulePump();
  });
}

/** A window the receive buffer can always hold: the kernel may charge up to ~4x a datagram's payload. */
export function windowFor(size: number, recvBufferBytes: number): number {
  return Math.max(4, Math.min(MAX_WINDOW, Math.floor(recvBufferBytes / (4 * (size + 1024)))));
}

/**
 * Measures raw loopback UDP between two processes. Throws RangeError for a size outside
 * 1..65507 or a non-positive duration.
 */
export async function measureRawUdp(options: RawUdpOptions = {}): Promise<RawUdpResult> {
  return measureWith('rawUdpReceiver', 'rawUdpSender', options);
}

async function measureWith(
  receiverName: string,
  senderName: string,
  options: RawUdpOptions,
): Promise<RawUdpResult> {
  const size = options.size ?? 1200;
  const durationMs = options.durationMs ?? 3000;
  if (!Number.isInteger(size) || size < 1 || size > MAX_DATAGRAM) {
    throw new RangeError(`datagram size must be 1..${MAX_DATAGRAM}, got ${size}`);
  }
  if (!(durationMs > 0)) throw new RangeError(`duration must be positive, got ${durationMs}`);
  warnIfCrowded(2);

  const receiver = runInChild<ReceiverReport>(import.meta.url, receiverName, {
    recvBufferBytes: REQUESTED_RECV_BUFFER,
  } satisfies ReceiverInput);
  let sender: ReturnType<typeof runInChild<SenderReport>> | undefined;
  try {
    const ready = (await receiver.next(30_000)) as ReceiverReady;
    const window = options.window ?? windowFor(size, ready.recvBufferBytes);
    // Counts every quarter window: frequent enough to keep the pipe full, rare enough to be cheap.
    receiver.post({ feedbackEvery: Math.max(1, Math.floor(window / 4)) } satisfies ReceiverConfig);
    progress(`${senderName}: ${size} B datagrams for ${durationMs} ms, window ${window}`);
    sender = runInChild<SenderReport>(
      import.meta.url,
      senderName,
      { port: ready.port, size, durationMs, window } satisfies SenderInput,
      { timeoutMs: durationMs + 30_000 },
    );
    const sent = await sender.result;
    receiver.post('stop');
    const got = await receiver.result;
    return {
      datagramsPerSec: round(got.seconds > 0 ? got.received / got.seconds : 0),
      bitsPerSec: round(got.seconds > 0 ? (got.bytes * 8) / got.seconds : 0),
      sent: sent.sent,
      received: got.received,
      size,
      durationMs,
      window,
      seconds: round(got.seconds),
      lossResets: sent.lossResets,
      sendErrors: sent.sendErrors,
    };
  } finally {
    sender?.kill();
    receiver.kill();
  }
}

// ─── The same measurement through Braid's native batched socket back-end ───
// Not the runtime's ceiling (that is the dgram figure above, which the throughput target
// refers to): it shows what batching (UDP GSO sends of up to 64 datagrams, recvmmsg + GRO
// reads) does to the cost of moving equal 1200-byte datagrams, i.e. where Braid's own gain
// on the native back-end comes from.

/** Child: as rawUdpReceiver, on the native back-end. */
export async function rawNativeReceiver(input: ReceiverInput, channel: Channel): Promise<ReceiverReport> {
  let received = 0;
  let bytes = 0;
  let firstAt = 0;
  let lastAt = 0;
  let reported = 0;
  let sender: SocketAddress | undefined;
  let feedbackEvery = Number.POSITIVE_INFINITY;
  const credit = Buffer.alloc(8);
  const report = (): void => {
    if (!sender) return;
    reported = received;
    credit.writeDoubleLE(received, 0);
    socket.send(credit, 0, 8, 0, sender);
  };
  const socket: DatagramSocket = await openDatagramSocket('native', {
    host: LOOPBACK,
    port: 0,
    ipv6Only: false,
    bufferSize: input.recvBufferBytes,
    handlers: {
      onDatagram: (data, remote) => {
        if (received === 0) {
          firstAt = performance.now();
          sender = remote;
        }
        received++;
        bytes += data.length;
      },
      onReadDone: () => {
        lastAt = performance.now();
        if (received - reported >= feedbackEvery) report();
      },
      onWritable: () => {},
      onSendError: () => {},
      onSocketError: (error) => progress(`raw-native receiver: ${error.message}`),
    },
  });
  channel.post({ port: socket.local.port, recvBufferBytes: input.recvBufferBytes } satisfies ReceiverReady);
  ({ feedbackEvery } = (await channel.next()) as ReceiverConfig);
  const ticker = setInterval(() => {
    if (received !== reported) report();
  }, 2);
  await channel.next();
  await untilQuiet(() => received);
  clearInterval(ticker);
  socket.close();
  return { received, bytes, seconds: received > 1 ? (lastAt - firstAt) / 1000 : 0 };
}

/** Child: as rawUdpSender, but each send is one GSO batch of as many datagrams as the window allows (≤ 64). */
export async function rawNativeSender(input: SenderInput): Promise<SenderReport> {
  let reportedReceived = 0;
  let lastProgressAt = performance.now();
  let pumpScheduled = false;
  let sendErrors = 0;
  let pump = (): void => {};
  const schedulePump = (): void => {
    if (pumpScheduled) return;
    pumpScheduled = true;
    setImmediate(() => pump());
  };
  const socket = await openDatagramSocket('native', {
    host: LOOPBACK,
    port: 0,
    ipv6Only: false,
    bufferSize: REQUESTED_RECV_BUFFER,
    handlers: {
      onDatagram: (data) => {
        if (data.length !== 8) return;
        const count = Buffer.from(data.buffer, data.byteOffset, 8).readDoubleLE(0);
        if (count <= reportedReceived) return;
        reportedReceived = count;
        lastProgressAt = performance.now();
        schedulePump();
      },
      onReadDone: () => {},
      onWritable: () => schedulePump(),
      onSendError: (_code, count) => {
        sendErrors += count;
      },
      onSocketError: () => {
        sendErrors++;
      },
    },
  });
  const remote: SocketAddress = { address: LOOPBACK, port: input.port, family: 'IPv4' };
  const perSend = Math.max(1, Math.min(socket.maxSegments, Math.floor(socket.maxBatchBytes / input.size)));
  const payload = Buffer.alloc(input.size * perSend, 0x5a);
  let sent = 0;
  let writtenOff = 0;
  let lossResets = 0;
  const startedAt = performance.now();
  const endAt = startedAt + input.durationMs;
  let done = false;
  const inFlight = (): number => sent - reportedReceived - writtenOff;
  return new Promise<SenderReport>((resolve) => {
    const finish = (): void => {
      if (done) return;
      done = true;
      clearInterval(watchdog);
      const seconds = (performance.now() - startedAt) / 1000;
      socket.close();
      resolve({ sent, seconds, lossResets, sendErrors });
    };
    pump = (): void => {
      pumpScheduled = false;
      if (done) return;
      for (let burst = 0; burst < 16 && !socket.blocked; burst++) {
        const count = Math.min(perSend, input.window - inFlight());
        if (count <= 0) break;
        socket.send(payload, 0, count * input.size, input.size, remote);
        sent += count;
      }
      if (performance.now() >= endAt) finish();
      else if (inFlight() < input.window && !socket.blocked) schedulePump();
    };
    const watchdog = setInterval(() => {
      const now = performance.now();
      if (now >= endAt) {
        finish();
        return;
      }
      if (inFlight() >= input.window && now - lastProgressAt > STALL_MS) {
        writtenOff = sent - reportedReceived;
        lossResets++;
        lastProgressAt = now;
        schedulePump();
      }
    }, 5);
    schedulePump();
  });
}

/** As measureRawUdp, through the native batched back-end (Linux, addon built). */
export async function measureRawUdpNative(options: RawUdpOptions = {}): Promise<RawUdpResult> {
  return measureWith('rawNativeReceiver', 'rawNativeSender', options);
}

/** `npm run bench -- baselines/raw-udp [--size 1200[,64,...]] [--duration 3000]` */
export async function run(args: string[]): Promise<object> {
  const { values } = parseArgs({
    args,
    options: { size: { type: 'string', default: '1200' }, duration: { type: 'string', default: '3000' } },
  });
  const sizes = values.size.split(',').map(Number);
  const durationMs = Number(values.duration);
  const runs: RawUdpResult[] = [];
  for (const size of sizes) runs.push(await measureRawUdp({ size, durationMs }));
  return { name: 'raw-udp', system: systemInfo(), runs };
}
