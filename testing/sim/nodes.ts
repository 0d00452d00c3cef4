/**
 * Small SimNodes for testing the simulator itself and for benchmarks, before (and
 * beside) the real engine: an echo server, a recorder, a paced sequence sender and a
 * fixed-window reliable sender with cumulative acks (go-back-N).
 *
 * Payload layout: byte 0 = type (0 data, 1 ack), bytes 1..4 = sequence number (big endian),
 * the rest filled with the low byte of the sequence number so corruption is detectable.
 */
import type { SocketAddress, Transmit } from '../../src/net/address.js';
import type { SimNode } from './network.js';

const TYPE_DATA = 0;
const TYPE_ACK = 1;
const HEADER = 5;

const SLAB_SIZE = 1 << 20;
let slab = new Uint8Array(SLAB_SIZE);
let slabUsed = 0;

/**
 * Views carved from a shared slab: a fresh small Uint8Array per packet costs far more
 * than a subarray. A slab is never reused, so each packet keeps its bytes.
 */
function allocate(size: number): Uint8Array {
  if (size > SLAB_SIZE / 16) return new Uint8Array(size);
  if (slabUsed + size > SLAB_SIZE) {
    slab = new Uint8Array(SLAB_SIZE);
    slabUsed = 0;
  }
  const view = slab.subarray(slabUsed, slabUsed + size);
  slabUsed += size;
  return view;
}

export function makePacket(type: number, seq: number, size: number): Uint8Array {
  const data = allocate(Math.max(size, HEADER));
  data[0] = type;
  data[1] = seq >>> 24;
  data[2] = (seq >>> 16) & 0xff;
  data[3] = (seq >>> 8) & 0xff;
  data[4] = seq & 0xff;
  if (data.length > HEADER) data.fill(seq & 0xff, HEADER);
  return data;
}

/** Sequence number of a packet built by makePacket (-1 if too short). */
export function packetSeq(data: Uint8Array): number {
  if (data.length < HEADER) return -1;
  return ((data[1] << 24) | (data[2] << 16) | (data[3] << 8) | data[4]) >>> 0;
}

/** true when the packet's filler matches its sequence number (i.e. it was not corrupted there). */
export function packetIntact(data: Uint8Array): boolean {
  if (data.length < HEADER || data[0] > TYPE_ACK) return false;
  const fill = packetSeq(data) & 0xff;
  for (let i = HEADER; i < data.length; i++) if (data[i] !== fill) return false;
  return true;
}

export interface Arrival {
  time: number;
  seq: number;
  size: number;
  local: SocketAddress;
  remote: SocketAddress;
  data: Uint8Array;
}

/** FIFO of transmits without Array.shift's O(n). */
class TransmitQueue {
  private items: Transmit[] = [];
  private head = 0;

  push(t: Transmit): void {
    this.items.push(t);
  }

  shift(): Transmit | undefined {
    if (this.head >= this.items.length) return undefined;
    const t = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return t;
  }
}

/** Records every datagram it receives; sends nothing. */
export class Recorder implements SimNode {
  readonly arrivals: Arrival[] = [];
  readonly addressChanges: { added: readonly string[]; removed: readonly string[]; time: number }[] = [];

  receive(data: Uint8Array, local: SocketAddress, remote: SocketAddress, now: number): void {
    this.arrivals.push({ time: now, seq: packetSeq(data), size: data.length, local, remote, data });
  }

  pollTransmit(_now: number): Transmit | undefined {
    return undefined;
  }

  nextDeadline(): number | undefined {
    return undefined;
  }

  onTimeout(_now: number): void {}

  onAddressChange(added: readonly string[], removed: readonly string[], now: number): void {
    this.addressChanges.push({ added, removed, time: now });
  }
}

/** Records and sends every datagram back to where it came from, from the address it arrived on. */
export class EchoNode extends Recorder {
  private readonly out = new TransmitQueue();

  override receive(data: Uint8Array, local: SocketAddress, remote: SocketAddress, now: number): void {
    super.receive(data, local, remote, now);
    this.out.push({ local, remote, data });
  }

  override pollTransmit(): Transmit | undefined {
    return this.out.shift();
  }
}

/**
 * Sends whatever the test queues with `send` (call `sim.wake(host)` afterwards, e.g.
 * inside `sim.at`); records what it receives.
 */
export class ScriptedNode extends Recorder {
  private readonly out = new TransmitQueue();

  send(local: SocketAddress, remote: SocketAddress, data: Uint8Array): void {
    this.out.push({ local, remote, data });
  }

  override pollTransmit(): Transmit | undefined {
    return this.out.shift();
  }
}

export interface SequenceSenderOptions {
  local: SocketAddress;
  remote: SocketAddress;
  count: number;
  /** Payload bytes (≥ 5). */
  size: number;
  /** Gap between sends, ms; 0 sends all at `start`. */
  interval: number;
  start?: number;
}

/** Sends `count` numbered datagrams at a fixed pace; records whatever comes back. */
export class SequenceSender extends Recorder {
  /** Source address for the next send; tests may change it to model migration. */
  local: SocketAddress;
  remote: SocketAddress;
  sent = 0;
  private nextAt: number;

  constructor(private readonly options: SequenceSenderOptions) {
    super();
    this.local = options.local;
    this.remote = options.remote;
    this.nextAt = options.start ?? 0;
  }

  override pollTransmit(now: number): Transmit | undefined {
    if (this.sent >= this.options.count || now < this.nextAt) return undefined;
    const data = makePacket(TYPE_DATA, this.sent, this.options.size);
    this.sent++;
    this.nextAt += this.options.interval;
    return { local: this.local, remote: this.remote, data };
  }

  override nextDeadline(): number | undefined {
    return this.sent < this.options.count ? this.nextAt : undefined;
  }
}

export interface WindowSenderOptions {
  local: SocketAddress;
  remote: SocketAddress;
  /** Packets to deliver; Infinity for an endless bulk flow. */
  total: number;
  /** Unacknowledged packets allowed in flight. */
  window: number;
  size: number;
  /** Retransmission timeout (fixed), ms. */
  rto: number;
}

/**
 * Fixed-window reliable sender with cumulative acks and go-back-N on timeout: a bulk
 * workload that survives loss, for benchmarks and end-to-end simulator checks.
 */
export class WindowSender implements SimNode {
  /** Lowest unacknowledged sequence number. */
  base = 0;
  nextSeq = 0;
  sent = 0;
  retransmissions = 0;
  /** Time the last packet was acknowledged (undefined until done). */
  completedAt: number | undefined;
  local: SocketAddress;
  private deadline: number | undefined;

  constructor(private readonly options: WindowSenderOptions) {
    this.local = options.local;
  }

  get done(): boolean {
    return this.base >= this.options.total;
  }

  receive(data: Uint8Array, _local: SocketAddress, _remote: SocketAddress, now: number): void {
    if (data.length < HEADER || data[0] !== TYPE_ACK) return;
    const ack = packetSeq(data);
    if (ack <= this.base || ack > this.nextSeq) return;
    this.base = ack;
    if (this.done) {
      this.completedAt = now;
      this.deadline = undefined;
    } else {
      this.deadline = this.base < this.nextSeq ? now + this.options.rto : undefined;
    }
  }

  pollTransmit(now: number): Transmit | undefined {
    const { total, window, size, remote } = this.options;
    if (this.nextSeq >= total || this.nextSeq >= this.base + window) return undefined;
    const data = makePacket(TYPE_DATA, this.nextSeq, size);
    this.nextSeq++;
    this.sent++;
    if (this.deadline === undefined) this.deadline = now + this.options.rto;
    return { local: this.local, remote, data };
  }

  nextDeadline(): number | undefined {
    return this.deadline;
  }

  onTimeout(now: number): void {
    if (this.deadline === undefined || now < this.deadline) return;
    // Go back N: resend everything after the last cumulative ack.
    this.retransmissions += this.nextSeq - this.base;
    this.nextSeq = this.base;
    this.deadline = this.base < this.options.total ? now + this.options.rto : undefined;
  }
}

/** Receiving side of WindowSender: accepts in-order packets and acks cumulatively (every packet). */
export class WindowReceiver implements SimNode {
  /** `verify`: check every payload byte for corruption (default true; benchmarks turn it off). */
  constructor(private readonly options: { verify?: boolean } = {}) {}

  /** Next expected sequence number = packets delivered in order. */
  expected = 0;
  duplicates = 0;
  outOfOrder = 0;
  corrupted = 0;
  private readonly out = new TransmitQueue();

  receive(data: Uint8Array, local: SocketAddress, remote: SocketAddress): void {
    const intact = this.options.verify === false ? data.length >= HEADER : packetIntact(data);
    if (!intact || data[0] !== TYPE_DATA) {
      this.corrupted++;
      return;
    }
    const seq = packetSeq(data);
    if (seq === this.expected) this.expected++;
    else if (seq < this.expected) this.duplicates++;
    else this.outOfOrder++;
    this.out.push({ local, remote, data: makePacket(TYPE_ACK, this.expected, HEADER) });
  }

  pollTransmit(): Transmit | undefined {
    return this.out.shift();
  }

  nextDeadline(): number | undefined {
    return undefined;
  }

  onTimeout(): void {}
}
