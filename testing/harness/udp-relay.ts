/**
 * A userspace UDP relay on real sockets (holepunch's test proxy idea): the client talks
 * to the relay's port, the relay talks to the server from a second socket, and every
 * datagram passes a per-direction impairment stage (loss, reordering, duplication,
 * extra delay) driven by a seeded PRNG, so the same seed makes the same decisions for
 * the same sequence of datagrams.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

export type Direction = 'toServer' | 'toClient';

/** Per-direction impairments; every probability is per datagram, in [0, 1]. */
export interface Impairments {
  loss?: number;
  duplicate?: number;
  /** Probability that a datagram is held back and released after the next `reorderDistance` datagrams. */
  reorder?: number;
  reorderDistance?: number;
  /** A held datagram is released after this many ms even if no further datagrams come (default 25). */
  reorderHoldMs?: number;
  /** Probability of an extra delay of `delayMs` on a datagram. */
  delay?: number;
  delayMs?: number;
}

/** Decides the fate of one datagram itself; returning undefined applies the seeded impairments. */
export type RelayHook = (direction: Direction, data: Buffer, index: number) => 'drop' | 'pass' | undefined;

export interface RelayOptions {
  /** The real server. */
  target: { host: string; port: number };
  /** Address the relay listens on for the client (default: the target's loopback family). */
  host?: string;
  seed?: number;
  toServer?: Impairments;
  toClient?: Impairments;
  hook?: RelayHook;
}

export interface DirectionCounters {
  received: number;
  forwarded: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  delayed: number;
}

interface Held {
  data: Buffer;
  copies: number;
  remaining: number;
  timer: NodeJS.Timeout;
}

/** mulberry32: tiny, fast and good enough to drive test impairments reproducibly. */
export function seededPrng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function emptyCounters(): DirectionCounters {
  return { received: 0, forwarded: 0, dropped: 0, duplicated: 0, reordered: 0, delayed: 0 };
}

function checkProbability(name: string, value: number | undefined): number {
  const p = value ?? 0;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${name} must be a probability in [0, 1]`);
  return p;
}

/** One impairment stage: decides and schedules, then hands datagrams to `send`. */
class Stage {
  readonly counters = emptyCounters();
  readonly #random: () => number;
  readonly #send: (data: Buffer) => void;
  readonly #loss: number;
  readonly #duplicate: number;
  readonly #reorder: number;
  readonly #reorderDistance: number;
  readonly #reorderHoldMs: number;
  readonly #delay: number;
  readonly #delayMs: number;
  readonly #held: Held[] = [];
  readonly #delayTimers = new Set<NodeJS.Timeout>();

  constructor(name: string, impairments: Impairments, random: () => number, send: (data: Buffer) => void) {
    this.#random = random;
    this.#send = send;
    this.#loss = checkProbability(`${name}.loss`, impairments.loss);
    this.#duplicate = checkProbability(`${name}.duplicate`, impairments.duplicate);
    this.#reorder = checkProbability(`${name}.reorder`, impairments.reorder);
    this.#delay = checkProbability(`${name}.delay`, impairments.delay);
    this.#reorderDistance = Math.max(1, impairments.reorderDistance ?? 3);
    this.#reorderHoldMs = impairments.reorderHoldMs ?? 25;
    this.#delayMs = impairments.delayMs ?? 10;
  }

  /** Applies the seeded impairments. Draws a fixed number of values per datagram so one seed gives one schedule. */
  impair(data: Buffer): void {
    const lose = this.#random() < this.#loss;
    const duplicate = this.#random() < this.#duplicate;
    const hold = this.#random() < this.#reorder;
    const delay = this.#random() < this.#delay;
    if (lose) {
      this.drop();
      return;
    }
    if (duplicate) this.counters.duplicated++;
    const copies = duplicate ? 2 : 1;
    if (hold) {
      this.counters.reordered++;
      this.#releaseDue();
      this.#hold(data, copies);
      return;
    }
    if (delay) {
      this.counters.delayed++;
      const timer = setTimeout(() => {
        this.#delayTimers.delete(timer);
        this.#deliver(data, copies);
      }, this.#delayMs);
      this.#delayTimers.add(timer);
      return;
    }
    this.#deliver(data, copies);
  }

  pass(data: Buffer): void {
    this.#deliver(data, 1);
  }

  drop(): void {
    this.counters.dropped++;
  }

  #hold(data: Buffer, copies: number): void {
    const entry: Held = {
      data,
      copies,
      remaining: this.#reorderDistance,
      timer: setTimeout(() => this.#release(entry), this.#reorderHoldMs),
    };
    this.#held.push(entry);
  }

  #release(entry: Held): void {
    const index = this.#held.indexOf(entry);
    if (index < 0) return;
    this.#held.splice(index, 1);
    clearTimeout(entry.timer);
    this.#forward(entry.data, entry.copies);
  }

  /** Sends now, then lets held datagrams whose k successors have passed follow it. */
  #deliver(data: Buffer, copies: number): void {
    this.#forward(data, copies);
    this.#releaseDue();
  }

  #releaseDue(): void {
    for (const entry of [...this.#held]) {
      entry.remaining--;
      if (entry.remaining <= 0) this.#release(entry);
    }
  }

  #forward(data: Buffer, copies: number): void {
    for (let i = 0; i < copies; i++) {
      this.counters.forwarded++;
      this.#send(data);
    }
  }

  stop(): void {
    for (const entry of this.#held.splice(0)) clearTimeout(entry.timer);
    for (const timer of this.#delayTimers) clearTimeout(timer);
    this.#delayTimers.clear();
  }
}

export class UdpRelay {
  readonly #clientSide: Socket;
  readonly #serverSide: Socket;
  readonly #target: { host: string; port: number };
  readonly #hook: RelayHook | undefined;
  readonly #toServer: Stage;
  readonly #toClient: Stage;
  #client: RemoteInfo | undefined;
  #index = 0;
  #closed = false;

  private constructor(options: RelayOptions, clientSide: Socket, serverSide: Socket) {
    this.#clientSide = clientSide;
    this.#serverSide = serverSide;
    this.#target = options.target;
    this.#hook = options.hook;
    // Separate streams of randomness per direction: one side's traffic volume does not shift the other's schedule.
    const seed = options.seed ?? 1;
    this.#toServer = new Stage('toServer', options.toServer ?? {}, seededPrng(seed * 2 + 1), (data) =>
      this.#serverSide.send(data, this.#target.port, this.#target.host),
    );
    this.#toClient = new Stage('toClient', options.toClient ?? {}, seededPrng(seed * 2 + 2), (data) => {
      const client = this.#client;
      if (client) this.#clientSide.send(data, client.port, client.address);
    });
    clientSide.on('message', (data, remote) => {
      // The relay serves one client; its latest address wins (a client may migrate).
      this.#client = remote;
      this.#onDatagram('toServer', data);
    });
    serverSide.on('message', (data) => this.#onDatagram('toClient', data));
    // Send errors on loopback (e.g. ENOBUFS) are just more loss for the protocol to handle.
    clientSide.on('error', () => undefined);
    serverSide.on('error', () => undefined);
  }

  /** Binds both sockets on the loopback address of the target's family (or `options.host`). */
  static async start(options: RelayOptions): Promise<UdpRelay> {
    const v6 = isIPv6(options.target.host);
    const type = v6 ? 'udp6' : 'udp4';
    const host = options.host ?? (v6 ? '::1' : '127.0.0.1');
    const clientSide = createSocket(type);
    const serverSide = createSocket(type);
    try {
      await Promise.all([bind(clientSide, host), bind(serverSide, host)]);
    } catch (error) {
      clientSide.close();
      serverSide.close();
      throw error;
    }
    return new UdpRelay(options, clientSide, serverSide);
  }

  /** Where the client should connect. */
  get address(): { host: string; port: number } {
    const { address, port } = this.#clientSide.address();
    return { host: address, port };
  }

  get counters(): Record<Direction, DirectionCounters> {
    return { toServer: { ...this.#toServer.counters }, toClient: { ...this.#toClient.counters } };
  }

  #onDatagram(direction: Direction, data: Buffer): void {
    if (this.#closed) return;
    const stage = direction === 'toServer' ? this.#toServer : this.#toClient;
    stage.counters.received++;
    const verdict = this.#hook?.(direction, data, this.#index++);
    if (verdict === 'drop') stage.drop();
    else if (verdict === 'pass') stage.pass(data);
    else stage.impair(data);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#toServer.stop();
    this.#toClient.stop();
    await Promise.all([
      new Promise<void>((resolve) => this.#clientSide.close(() => resolve())),
      new Promise<void>((resolve) => this.#serverSide.close(() => resolve())),
    ]);
  }
}

function bind(socket: Socket, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}
