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
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createInterface } from 'node:readline';

function open(address: string, port = 0): Promise<Socket> {
  const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => resolve(socket));
  });
}

function print(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function echo(address: string, port: number): Promise<void> {
  const socket = await open(address, port);
  socket.on('message', (data, remote) => socket.send(data, remote.port, remote.address));
  print({ event: 'ready' });
}

async function ping(from: string, address: string, port: number, count: number, intervalMs: number) {
  const socket = await open(from);
  const sentAt = new Map<number, bigint>();
  const rttsMs: number[] = [];
  socket.on('message', (data) => {
    const at = process.hrtime.bigint();
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
  await sleep(1000);
  print({ event: 'done', sent: count, rttsMs });
  socket.close();
}

async function send(from: string, address: string, port: number, count: number, rate: number, size: number) {
  const socket = await open(from);
  const burst = Math.max(1, Math.round(rate / 200)); // paced in 5 ms steps
  const started = performance.now();
  for (let seq = 0; seq < count; ) {
    for (let i = 0; i < burst && seq < count; i++, seq++) {
      const datagram = Buffer.alloc(size);
      datagram.writeUInt32BE(seq, 0);
      socket.send(datagram, port, address);
    }
    const due = started + (seq / rate) * 1000;
    await sleep(Math.max(0, due - performance.now()));
  }
  await sleep(50);
  print({ event: 'done', sent: count, seconds: (performance.now() - started) / 1000 });
  socket.close();
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
  createInterface({ input: process.stdin }).on('line', (line) => {
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
const n = (i: number) => Number(args[i]);
if (mode === 'echo') await echo(args[0]!, n(1));
else if (mode === 'ping') await ping(args[0]!, args[1]!, n(2), n(3), n(4));
else if (mode === 'send') await send(args[0]!, args[1]!, n(2), n(3), n(4), n(5));
else if (mode === 'sink') await sink(args[0]!, n(1));
else {
  process.stderr.write('usage: udp-probe.ts echo|ping|send|sink ARGS (see the file)\n');
  process.exit(2);
}
