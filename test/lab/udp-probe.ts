/**
 * UDP probes for calibrating the lab's impairment element, run inside a lab namespace
 * (`node --import tsx test/lab/udp-probe.ts MODE ...`); each prints JSON lines on stdout.
 *
 *   echo ADDRESS PORT                         answer every datagram with itself
 *   ping FROM ADDRESS PORT COUNT INTERVAL_MS  send COUNT stamped probes to an echo, print the RTTs
 *   send FROM ADDRESS PORT COUNT RATE_PPS SIZE  send COUNT datagrams carrying sequence numbers
 *   sink ADDRESS PORT                         count arrivals and order; a stdin line with `report` prints and resets
 *
 * Loss is not judged from what a probe reads (a busy machine makes the receiving socket drop) but
 * from the kernel's UDP counters; the sink reports order, which socket drops cannot create.
 *
 * Every probe ends on its own, whatever happens: `ping` and `send` when done or at a deadline
 * derived from their arguments, `echo` and `sink` when their stdin closes (the test finished or
 * died) or after MAX_LIFETIME_MS; a socket or stdout error ends a probe too. Probes never run at
 * real-time priority: a real-time sender starves every normal process on its core (docs/lab.md).
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createInterface } from 'node:readline';

/** Longest life of a long-running probe (echo, sink): well beyond a calibration run. */
const MAX_LIFETIME_MS = 150_000;
/** Grace beyond a finite probe's own schedule before it gives up. */
const DEADLINE_SLACK_MS = 10_000;

function print(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** Reports why the probe stops early and exits with a failure status. */
function fail(message: string): never {
  print({ event: 'error', message });
  process.exit(1);
}

/** The probe's deadline: past it, report and exit, whatever the event loop was waiting for. */
function deadline(ms: number, what: string): void {
  setTimeout(() => fail(`${what}: deadline of ${ms} ms passed`), ms).unref();
}

// A closed stdout (the test is gone) must end the probe, not leave it running unobserved.
process.stdout.on('error', () => process.exit(1));

function open(address: string, port = 0): Promise<Socket> {
  const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      // Any later error (a send refused, the address gone) ends the probe with its message.
      socket.on('error', (error) => fail(`socket: ${error.message}`));
      resolve(socket);
    });
  });
}

/** For long-running probes: exit once the test closes our stdin (or dies), or at the lifetime cap. */
function endWithStdin(onLine: (line: string) => void = () => undefined): void {
  const lines = createInterface({ input: process.stdin });
  lines.on('line', onLine);
  lines.on('close', () => process.exit(0));
  deadline(MAX_LIFETIME_MS, 'lifetime');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function echo(address: string, port: number): Promise<void> {
  const socket = await open(address, port);
  socket.on('message', (data, remote) => socket.send(data, remote.port, remote.address));
  endWithStdin();
  print({ event: 'ready' });
}

async function ping(from: string, address: string, port: number, count: number, intervalMs: number) {
  const REPLY_WAIT_MS = 1000;
  deadline(count * intervalMs + REPLY_WAIT_MS + DEADLINE_SLACK_MS, 'ping');
  const socket = await open(from);
  const sentAt = new Map<number, bigint>();
  const rttsMs: number[] = [];
  socket.on('message', (data) => {
    const at = process.hrtime.bigint();
    if (data.length < 4) return; // not one of ours
    const started = sentAt.get(data.readUInt32BE(0));
    if (started !== undefined) rttsMs.push(Number(at - started) / 1e6);
  });
  for (let i = 0; i < count; i++) {
    const probe = Buffer.alloc(64);
    probe.writeUInt32BE(i, 0);
    sentAt.set(i, process.hrtime.bigint());
    socket.send(probe, port, address);
    await sleep(intervalMs);
  }
  await sleep(REPLY_WAIT_MS);
  print({ event: 'done', sent: count, rttsMs });
  process.exit(0);
}

async function send(from: string, address: string, port: number, count: number, rate: number, size: number) {
  deadline((count / rate) * 1000 + DEADLINE_SLACK_MS, 'send');
  const socket = await open(from);
  const burst = Math.max(1, Math.round(rate / 200)); // paced in 5 ms steps
  const started = performance.now();
  let lastHandedOver: Promise<void> = Promise.resolve();
  for (let seq = 0; seq < count; ) {
    for (let i = 0; i < burst && seq < count; i++, seq++) {
      const datagram = Buffer.alloc(size);
      datagram.writeUInt32BE(seq, 0);
      lastHandedOver = new Promise((resolve) => socket.send(datagram, port, address, () => resolve()));
    }
    const due = started + (seq / rate) * 1000;
    await sleep(Math.max(0, due - performance.now()));
  }
  // Sends complete in order: the last one's callback means all reached the kernel.
  await lastHandedOver;
  print({ event: 'done', sent: count, seconds: (performance.now() - started) / 1000 });
  process.exit(0);
}

async function sink(address: string, port: number): Promise<void> {
  const socket = await open(address, port);
  let received = 0;
  let outOfOrder = 0;
  let highest = -1;
  // Runs of missing sequence numbers: their mean length tells bursty loss from independent loss.
  let gapRuns = 0;
  let gapPackets = 0;
  socket.on('message', (data) => {
    if (data.length < 4) return; // not one of ours
    received++;
    const seq = data.readUInt32BE(0);
    if (seq < highest) {
      outOfOrder++;
      return;
    }
    if (seq > highest + 1) {
      gapRuns++;
      gapPackets += seq - highest - 1;
    }
    highest = seq;
  });
  endWithStdin((line) => {
    if (!line.includes('report')) return;
    print({ event: 'report', received, outOfOrder, gapRuns, gapPackets });
    received = 0;
    outOfOrder = 0;
    highest = -1;
    gapRuns = 0;
    gapPackets = 0;
  });
  print({ event: 'ready' });
}

const [mode, ...args] = process.argv.slice(2);
const n = (i: number) => {
  const value = Number(args[i]);
  if (!Number.isFinite(value) || value <= 0) fail(`argument ${i + 1} of ${mode} must be a positive number`);
  return value;
};
if (mode === 'echo') await echo(args[0]!, n(1));
else if (mode === 'ping') await ping(args[0]!, args[1]!, n(2), n(3), n(4));
else if (mode === 'send') await send(args[0]!, args[1]!, n(2), n(3), n(4), n(5));
else if (mode === 'sink') await sink(args[0]!, n(1));
else {
  process.stderr.write('usage: udp-probe.ts echo|ping|send|sink ARGS (see the file)\n');
  process.exit(2);
}
