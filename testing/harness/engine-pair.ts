/**
 * Two-endpoint harness for engine tests (quinn-proto's `Pair`): a client and a
 * server Endpoint joined by an in-memory network with a virtual clock, one-way
 * latency and a per-datagram hook to drop, duplicate or rewrite packets.
 */
import { createHash } from 'node:crypto';
import { generateKeyPair, type KeyPair } from '../../src/crypto/noise/index.js';
import type { ConnectionTestHooks } from '../../src/engine/connection/connection.js';
import { Endpoint, type EndpointOptions, type ServerOptions } from '../../src/engine/endpoint.js';
import type {
  CloseInfo,
  ConnectionEvent,
  EngineConnection,
  TransportConfig,
} from '../../src/engine/types.js';
import { type SocketAddress, socketAddress, type Transmit } from '../../src/net/address.js';

export const CLIENT_ADDR = socketAddress('192.0.2.1', 40000);
export const SERVER_ADDR = socketAddress('203.0.113.1', 4433);

/** Deterministic randomness for reproducible engine tests (not for production). */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const block = createHash('sha256').update(`${seed}:${counter++}`).digest();
      const take = Math.min(block.length, n - filled);
      out.set(block.subarray(0, take), filled);
      filled += take;
    }
    return out;
  };
}

type Side = 'client' | 'server';
/** What a hook may do to one datagram: drop it, replace it, delay it (reordering) or duplicate it. */
export type PacketVerdict =
  | boolean
  | Uint8Array
  | undefined
  | { data?: Uint8Array; extraDelay?: number; duplicate?: boolean };
/** Return false to drop; a Uint8Array to replace; undefined to pass unchanged; or a PacketVerdict object. */
export type PacketHook = (from: Side, data: Uint8Array, now: number, transmit: Transmit) => PacketVerdict;

interface InFlight {
  at: number;
  to: Side;
  data: Uint8Array;
  from: SocketAddress;
  dest: SocketAddress;
}

export interface PairOptions {
  seed?: number;
  latency?: number;
  clientKey?: KeyPair;
  serverKey?: KeyPair;
  server?: Partial<ServerOptions>;
  transport?: Partial<TransportConfig>;
  clientTransport?: Partial<TransportConfig>;
  /** Pin the server key (IK); false for first contact (XX). */
  pinServerKey?: boolean;
  /** Frame-level fault injection for each side (see ConnectionTestHooks). */
  testHooks?: { client?: ConnectionTestHooks; server?: ConnectionTestHooks };
}

export class Pair {
  now = 0;
  readonly latency: number;
  readonly client: Endpoint;
  readonly server: Endpoint;
  readonly clientKey: KeyPair;
  readonly serverKey: KeyPair;
  hook: PacketHook | undefined;
  private queue: InFlight[] = [];
  readonly clientEvents: ConnectionEvent[] = [];
  readonly serverEvents: ConnectionEvent[] = [];
  readonly serverConns: EngineConnection[] = [];
  clientConn!: EngineConnection;
  delivered = 0;

  constructor(options: PairOptions = {}) {
    const random = seededRandom(options.seed ?? 1);
    this.latency = options.latency ?? 10;
    this.clientKey = options.clientKey ?? generateKeyPair();
    this.serverKey = options.serverKey ?? generateKeyPair();
    const common: Partial<EndpointOptions> = { random, transport: options.transport };
    this.client = new Endpoint({
      ...common,
      staticKey: this.clientKey,
      testHooks: options.testHooks?.client,
    });
    this.server = new Endpoint({
      ...common,
      staticKey: this.serverKey,
      testHooks: options.testHooks?.server,
      server: { authorizedKeys: 'any', retry: 'never', ...options.server },
    });
  }

  connect(options: PairOptions = {}): EngineConnection {
    const pin = options.pinServerKey ?? true;
    this.clientConn = this.client.connect(
      SERVER_ADDR,
      CLIENT_ADDR,
      { serverKey: pin ? this.serverKey.publicKey : undefined, transport: options.clientTransport },
      this.now,
    );
    return this.clientConn;
  }

  get serverConn(): EngineConnection {
    return this.serverConns[0];
  }

  private flush(): void {
    for (let t = this.client.pollTransmit(this.now); t; t = this.client.pollTransmit(this.now))
      this.send('client', t);
    for (let t = this.server.pollTransmit(this.now); t; t = this.server.pollTransmit(this.now))
      this.send('server', t);
    for (;;) {
      const e = this.server.pollEndpointEvent();
      if (!e) break;
      if (e.type === 'incoming') this.serverConns.push(e.connection);
    }
    while (this.client.pollEndpointEvent());
    for (const c of this.client.drainDirty()) {
      for (let e = c.pollEvent(); e; e = c.pollEvent()) this.clientEvents.push(e);
    }
    for (const c of this.server.drainDirty()) {
      for (let e = c.pollEvent(); e; e = c.pollEvent()) this.serverEvents.push(e);
    }
  }

  private send(from: Side, t: Transmit): void {
    let data = t.data;
    let extraDelay = 0;
    let copies = 1;
    if (this.hook) {
      const verdict = this.hook(from, data, this.now, t);
      if (verdict === false) return;
      if (verdict instanceof Uint8Array) data = verdict;
      else if (verdict && typeof verdict === 'object') {
        if (verdict.data) data = verdict.data;
        extraDelay = verdict.extraDelay ?? 0;
        if (verdict.duplicate) copies = 2;
      }
    }
    for (let i = 0; i < copies; i++) {
      this.queue.push({
        at: this.now + this.latency + extraDelay + i,
        to: from === 'client' ? 'server' : 'client',
        data: Uint8Array.prototype.slice.call(data),
        from: t.local,
        dest: t.remote,
      });
    }
  }

  /** Advances to the next event (delivery or timer). Returns false when nothing is left. */
  step(): boolean {
    this.flush();
    const nextDelivery = this.queue.reduce((m, p) => Math.min(m, p.at), Infinity);
    const nextTimer = Math.min(
      this.client.nextDeadline() ?? Infinity,
      this.server.nextDeadline() ?? Infinity,
    );
    const next = Math.min(nextDelivery, nextTimer);
    if (next === Infinity) return false;
    this.now = Math.max(this.now, next);
    const due = this.queue.filter((p) => p.at <= this.now);
    this.queue = this.queue.filter((p) => p.at > this.now);
    for (const p of due) {
      this.delivered++;
      (p.to === 'server' ? this.server : this.client).receive(p.data, p.dest, p.from, this.now);
    }
    if ((this.client.nextDeadline() ?? Infinity) <= this.now) this.client.onTimeout(this.now);
    if ((this.server.nextDeadline() ?? Infinity) <= this.now) this.server.onTimeout(this.now);
    this.flush();
    return true;
  }

  /** Runs until `done()` holds, or throws after `maxTime` virtual ms. */
  runUntil(done: () => boolean, maxTime = 60_000): void {
    const limit = this.now + maxTime;
    while (!done()) {
      if (this.now > limit) throw new Error(`condition not reached within ${maxTime} ms (virtual)`);
      if (!this.step()) {
        if (done()) return;
        throw new Error('network went quiet before the condition held');
      }
    }
  }

  handshake(options: PairOptions = {}): void {
    this.connect(options);
    this.runUntil(
      () =>
        this.clientEvents.some((e) => e.type === 'handshake-complete') &&
        this.serverEvents.some((e) => e.type === 'handshake-complete'),
    );
  }

  /** Reads everything currently readable on a stream; returns [bytes, fin]. */
  static drain(conn: EngineConnection, id: number, sink: Uint8Array[]): boolean {
    for (;;) {
      const r = conn.readStream(id);
      if (r.data) sink.push(r.data);
      if (r.fin) return true;
      if (!r.data) return false;
    }
  }
}

/**
 * Keeps the client talking (a small datagram every fourth step, so each packet can carry frames a
 * test injects) until the server closes or `ms` pass; the server's close, if any.
 */
export function driveUntilServerCloses(pair: Pair, ms: number): CloseInfo | undefined {
  const end = pair.now + ms;
  let sent = 0;
  while (pair.now < end && pair.serverConn.state === 'established') {
    if (sent++ % 4 === 0 && pair.clientConn.state === 'established')
      pair.clientConn.sendDatagram(new Uint8Array(8));
    if (!pair.step()) break;
  }
  for (let i = 0; i < 200 && pair.step(); i++);
  const closed = pair.serverEvents.find((e) => e.type === 'closed');
  return closed?.type === 'closed' ? closed.info : undefined;
}
