/**
 * Workloads the simulator runs over real engine sessions: bulk unidirectional streams
 * (SHA-256 of every byte at both ends), request/response streams (the server echoes) and
 * sequence-numbered datagrams (checked for duplicates and corruption). One SessionDriver
 * plays one side of one connection; it only reacts to engine events and its own timer,
 * and it respects backpressure (writes resume on 'stream-writable').
 */
import { createHash, type Hash } from 'node:crypto';
import type { CloseInfo, ConnectionEvent, EngineConnection, StreamId } from '../../src/engine/types.js';
import type { Rng } from './rng.js';

export interface WorkloadSpec {
  /** Unidirectional bulk streams: `streams` × `bytes`, client→server ('up'), server→client ('down') or both. */
  bulk?: { streams: number; bytes: number; direction?: 'up' | 'down' | 'both' };
  /** `count` bidirectional streams of `size` bytes each that the server echoes, ≤ `concurrency` at once. */
  requests?: { count: number; size: number; concurrency?: number };
  /** `count` client→server datagrams of `size` bytes (≥ 8), one every `interval` ms. */
  datagrams?: { count: number; size: number; interval: number };
  /**
   * One unidirectional stream ('up': client→server, 'down': server→client) that carries `size`
   * bytes every `interval` ms, `count` writes in all, then FIN: keystrokes, a game, a chat.
   */
  interactive?: { size: number; interval: number; count: number; direction?: 'up' | 'down' };
}

/** Validates a workload, naming the offending field. */
export function validateWorkload(spec: WorkloadSpec): WorkloadSpec {
  const check = (field: string, value: unknown, min: number): void => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
      throw new RangeError(`workload.${field} must be an integer ≥ ${min}, got ${String(value)}`);
  };
  if (spec.bulk) {
    check('bulk.streams', spec.bulk.streams, 0);
    check('bulk.bytes', spec.bulk.bytes, 0);
    const d = spec.bulk.direction ?? 'up';
    if (d !== 'up' && d !== 'down' && d !== 'both')
      throw new RangeError(`workload.bulk.direction must be 'up', 'down' or 'both', got ${String(d)}`);
  }
  if (spec.requests) {
    check('requests.count', spec.requests.count, 0);
    check('requests.size', spec.requests.size, 1);
    if (spec.requests.concurrency !== undefined) check('requests.concurrency', spec.requests.concurrency, 1);
  }
  if (spec.interactive) {
    check('interactive.size', spec.interactive.size, 1);
    check('interactive.interval', spec.interactive.interval, 1);
    check('interactive.count', spec.interactive.count, 1);
    const d = spec.interactive.direction ?? 'up';
    if (d !== 'up' && d !== 'down')
      throw new RangeError(`workload.interactive.direction must be 'up' or 'down', got ${String(d)}`);
  }
  if (spec.datagrams) {
    check('datagrams.count', spec.datagrams.count, 0);
    check('datagrams.size', spec.datagrams.size, 8);
    check('datagrams.interval', spec.datagrams.interval, 0);
  }
  return spec;
}

const PATTERN_SIZE = 1 << 16;

/** The bytes every stream sends: a seeded random block, read from a stream-specific rotation. */
export class Pattern {
  readonly block: Uint8Array;
  constructor(rng: Rng) {
    this.block = rng.bytes(PATTERN_SIZE);
  }

  /** Up to `max` bytes of stream `id` starting at `offset` (a view: never mutated). */
  chunk(id: StreamId, offset: number, max: number): Uint8Array {
    const start = (offset + id * 7919) % PATTERN_SIZE;
    return this.block.subarray(start, start + Math.min(max, PATTERN_SIZE - start));
  }
}

/** What one side sent or received on one stream; digests are hex SHA-256. */
export interface StreamRecord {
  bytes: number;
  /** Set when the side finished (sender: FIN written; receiver: FIN read). */
  digest: string | undefined;
}

interface OutStream {
  id: StreamId;
  total: number;
  /** Bytes the workload lets the stream write so far (interactive: grows with each tick). */
  allowed: number;
  written: number;
  hash: Hash;
  finSent: boolean;
  acked: boolean;
}

interface InStream {
  bytes: number;
  hash: Hash;
  fin: boolean;
  /** Echo side: bytes read but not yet accepted by writeStream. */
  pending: Uint8Array[];
  echoFinSent: boolean;
  echoAcked: boolean;
}

export interface DatagramLedger {
  sent: number;
  refused: number;
  received: number;
  duplicates: number;
  corrupted: number;
}

/** 32-bit FNV-1a over bytes [from, data.length). */
function fnv(data: Uint8Array, from: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < data.length; i++) h = Math.imul(h ^ data[i], 0x01000193);
  return h >>> 0;
}

export class SessionDriver {
  readonly sent = new Map<StreamId, StreamRecord>();
  readonly received = new Map<StreamId, StreamRecord>();
  readonly datagrams: DatagramLedger = { sent: 0, refused: 0, received: 0, duplicates: 0, corrupted: 0 };
  /** Problems the driver itself saw (bad datagram, echo mismatch, unexpected event). */
  readonly problems: string[] = [];
  handshakeComplete = false;
  /** Simulated ms of the handshake-complete event, and of the first stream bytes read. */
  handshakeCompletedAt: number | undefined;
  firstReadAt: number | undefined;
  /** Streams the peer opened with 0-RTT data (`stream-opened` flagged early). */
  readonly earlyStreams: StreamId[] = [];
  /** Client: the workload started before the handshake (0-RTT, see `startEarly`). */
  private early = false;
  closeInfo: CloseInfo | undefined;
  completedAt: number | undefined;
  keyUpdates = 0;
  /** Hex channel binding: equal on both ends of one session, used to pair them up. */
  binding: string | undefined;
  /** Path events (path-updated, failover) with the simulated time they were seen, for tests. */
  readonly pathLog: Array<{
    at: number;
    event: Extract<ConnectionEvent, { type: 'path-updated' | 'failover' }>;
  }> = [];

  /** The failover events of pathLog, with their times. */
  failovers(): Array<{ at: number; event: Extract<ConnectionEvent, { type: 'failover' }> }> {
    return this.pathLog.flatMap((l) => (l.event.type === 'failover' ? [{ at: l.at, event: l.event }] : []));
  }

  private readonly out = new Map<StreamId, OutStream>();
  private readonly inbound = new Map<StreamId, InStream>();
  private readonly bulkOut: number;
  /** This side writes the interactive stream. */
  private readonly interactiveHere: boolean;
  private readonly bulkIn: number;
  private bulkOpened = 0;
  private bulkAcked = 0;
  private bulkRead = 0;
  private requestsOpened = 0;
  private requestsDone = 0;
  private echoesDone = 0;
  private datagramsAttempted = 0;
  private nextDatagramAt: number | undefined;
  private interactiveOut: OutStream | undefined;
  private nextInteractiveAt: number | undefined;
  private readonly seenDatagrams = new Set<number>();
  /** The time of the latest event, for timers armed from openMore (which has no clock). */
  private lastNow = 0;
  private readonly spec: WorkloadSpec;

  constructor(
    readonly role: 'client' | 'server',
    readonly conn: EngineConnection,
    spec: WorkloadSpec,
    private readonly pattern: Pattern,
  ) {
    this.spec = spec;
    const bulk = spec.bulk;
    const direction = bulk?.direction ?? 'up';
    const up = bulk && direction !== 'down' ? bulk.streams : 0;
    const down = bulk && direction !== 'up' ? bulk.streams : 0;
    // An interactive stream is one more unidirectional stream to finish and to read to its end.
    const interactiveUp = spec.interactive && (spec.interactive.direction ?? 'up') === 'up' ? 1 : 0;
    const interactiveDown = spec.interactive && !interactiveUp ? 1 : 0;
    this.bulkOut = role === 'client' ? up + interactiveUp : down + interactiveDown;
    this.bulkIn = role === 'client' ? down + interactiveDown : up + interactiveUp;
    this.interactiveHere = (role === 'client' ? interactiveUp : interactiveDown) === 1;
  }

  get complete(): boolean {
    return this.completedAt !== undefined;
  }

  /** Stream bytes read so far, all streams together (goodput sampling). */
  get bytesRead(): number {
    let total = 0;
    for (const state of this.inbound.values()) total += state.bytes;
    return total;
  }

  get closed(): boolean {
    return this.closeInfo !== undefined;
  }

  /** The driver's own timer (datagram and interactive pacing), or undefined. */
  deadline(): number | undefined {
    if (this.nextInteractiveAt === undefined) return this.nextDatagramAt;
    if (this.nextDatagramAt === undefined) return this.nextInteractiveAt;
    return Math.min(this.nextDatagramAt, this.nextInteractiveAt);
  }

  onTimer(now: number): void {
    if (this.nextInteractiveAt !== undefined && now >= this.nextInteractiveAt) this.tickInteractive(now);
    if (this.nextDatagramAt === undefined || now < this.nextDatagramAt) return;
    this.sendDatagrams(now);
    // The last datagram may be the last thing the workload waited for, and no engine event
    // need follow it (seed 479: stream acked first, then only keepalives): check here too.
    this.checkComplete(now);
  }

  handle(event: ConnectionEvent, now: number): void {
    this.lastNow = now;
    switch (event.type) {
      case 'handshake-complete':
        this.handshakeComplete = true;
        this.handshakeCompletedAt = now;
        this.binding = Buffer.from(this.conn.channelBinding()).toString('hex');
        this.start(now);
        break;
      case 'stream-opened':
        if (event.early) this.earlyStreams.push(event.streamId);
        this.service(event.streamId, now);
        break;
      case 'stream-readable':
        this.service(event.streamId, now);
        break;
      case 'stream-writable': {
        const out = this.out.get(event.streamId);
        if (out) this.pump(out);
        else this.service(event.streamId, now);
        break;
      }
      case 'stream-finished':
        this.onFinished(event.streamId);
        break;
      case 'streams-available':
        this.openMore();
        break;
      case 'datagram':
        this.onDatagram(event.data);
        break;
      case 'key-update':
        this.keyUpdates++;
        break;
      case 'path-updated':
      case 'failover':
        this.pathLog.push({ at: now, event });
        break;
      case 'closed':
        this.closeInfo = event.info;
        this.nextDatagramAt = undefined;
        this.nextInteractiveAt = undefined;
        break;
      case 'stream-reset':
      case 'stream-stop-sending':
        this.problems.push(`${this.role}: unexpected ${event.type} on stream ${event.streamId}`);
        break;
      default:
        break;
    }
    this.checkComplete(now);
  }

  /**
   * Client with a 0-RTT ticket: opens and writes streams before the handshake, so what fits
   * rides in the first flight (datagrams wait for the handshake: the engine refuses them before).
   */
  startEarly(now: number): void {
    this.early = true;
    this.openMore();
    this.checkComplete(now);
  }

  private start(now: number): void {
    this.openMore();
    if (this.role === 'client' && this.spec.datagrams && this.spec.datagrams.count > 0)
      this.sendDatagrams(now);
  }

  /** Opens bulk and request streams as the peer's stream limits allow. */
  private openMore(): void {
    if ((!this.handshakeComplete && !this.early) || this.closed) return;
    while (this.bulkOpened < this.bulkOut) {
      const id = this.conn.openStream(false);
      if (id === undefined) break;
      this.bulkOpened++;
      const interactive = this.spec.interactive;
      if (this.interactiveHere && this.interactiveOut === undefined && interactive) {
        // The interactive stream first: one write now, the next `interval` ms later.
        this.interactiveOut = this.startOut(id, interactive.size * interactive.count, interactive.size);
        if (interactive.count > 1) this.nextInteractiveAt = this.lastNow + interactive.interval;
      } else {
        this.startOut(id, this.spec.bulk?.bytes ?? 0);
      }
    }
    const requests = this.spec.requests;
    if (this.role !== 'client' || !requests) return;
    const concurrency = requests.concurrency ?? requests.count;
    while (this.requestsOpened < requests.count && this.requestsOpened - this.requestsDone < concurrency) {
      const id = this.conn.openStream(true);
      if (id === undefined) break;
      this.requestsOpened++;
      this.inbound.set(id, this.newInbound());
      this.startOut(id, requests.size);
    }
  }

  private startOut(id: StreamId, total: number, allowed = total): OutStream {
    const out: OutStream = {
      id,
      total,
      allowed,
      written: 0,
      hash: createHash('sha256'),
      finSent: false,
      acked: false,
    };
    this.out.set(id, out);
    this.sent.set(id, { bytes: 0, digest: undefined });
    this.pump(out);
    return out;
  }

  /** The next interactive write: `size` more bytes may go. */
  private tickInteractive(now: number): void {
    const out = this.interactiveOut;
    const interactive = this.spec.interactive;
    if (!out || !interactive || this.closed) {
      this.nextInteractiveAt = undefined;
      return;
    }
    out.allowed = Math.min(out.total, out.allowed + interactive.size);
    this.pump(out);
    this.nextInteractiveAt = out.allowed < out.total ? now + interactive.interval : undefined;
  }

  /** Writes until the stream's send buffer refuses more (then 'stream-writable' resumes it). */
  private pump(out: OutStream): void {
    if (this.closed) return;
    while (out.written < out.allowed) {
      const chunk = this.pattern.chunk(out.id, out.written, out.allowed - out.written);
      const accepted = this.conn.writeStream(out.id, chunk);
      if (accepted > 0) out.hash.update(chunk.subarray(0, accepted));
      out.written += accepted;
      if (accepted < chunk.length) break;
    }
    const record = this.sent.get(out.id) as StreamRecord;
    record.bytes = out.written;
    if (out.written === out.total && !out.finSent) {
      out.finSent = true;
      record.digest = out.hash.digest('hex');
      this.conn.finishStream(out.id);
    }
  }

  private newInbound(): InStream {
    return {
      bytes: 0,
      hash: createHash('sha256'),
      fin: false,
      pending: [],
      echoFinSent: false,
      echoAcked: false,
    };
  }

  /** Reads what a stream has; the server echoes bidirectional streams, respecting backpressure. */
  private service(id: StreamId, now: number): void {
    if (this.closed) return;
    let state = this.inbound.get(id);
    if (!state) {
      state = this.newInbound();
      this.inbound.set(id, state);
      this.received.set(id, { bytes: 0, digest: undefined });
    }
    const echo = this.role === 'server' && (id & 2) === 0;
    for (;;) {
      if (echo && !this.flushEcho(id, state)) return;
      if (state.fin) break;
      const r = this.conn.readStream(id, 1 << 16);
      if (r.data) {
        this.firstReadAt ??= now;
        state.hash.update(r.data);
        state.bytes += r.data.length;
        if (echo) state.pending.push(Uint8Array.prototype.slice.call(r.data));
      }
      if (r.fin) {
        state.fin = true;
        continue;
      }
      if (!r.data) return;
    }
    if (!this.received.has(id)) this.received.set(id, { bytes: 0, digest: undefined });
    const record = this.received.get(id) as StreamRecord;
    if (record.digest === undefined) {
      record.bytes = state.bytes;
      record.digest = state.hash.digest('hex');
      if ((id & 2) !== 0) this.bulkRead++;
      else if (this.role === 'client') this.onEchoRead(id, record);
    }
    if (echo && !state.echoFinSent && state.pending.length === 0) {
      state.echoFinSent = true;
      this.conn.finishStream(id);
    }
  }

  /** Writes pending echo bytes; false while the send buffer is full. */
  private flushEcho(id: StreamId, state: InStream): boolean {
    while (state.pending.length > 0) {
      const chunk = state.pending[0];
      const accepted = this.conn.writeStream(id, chunk);
      if (accepted < chunk.length) {
        state.pending[0] = chunk.subarray(accepted);
        return false;
      }
      state.pending.shift();
    }
    return true;
  }

  private onEchoRead(id: StreamId, record: StreamRecord): void {
    const sent = this.sent.get(id);
    if (!sent || sent.digest !== record.digest || sent.bytes !== record.bytes) {
      this.problems.push(
        `client: echo on stream ${id} differs (sent ${sent?.bytes} B ${sent?.digest?.slice(0, 12)}, got ${record.bytes} B ${record.digest?.slice(0, 12)})`,
      );
    }
    this.requestsDone++;
    this.openMore();
  }

  private onFinished(id: StreamId): void {
    const out = this.out.get(id);
    if (out) {
      if (!out.acked && (id & 2) !== 0) this.bulkAcked++;
      out.acked = true;
      return;
    }
    const state = this.inbound.get(id);
    if (state && this.role === 'server' && !state.echoAcked) {
      state.echoAcked = true;
      this.echoesDone++;
    }
  }

  private sendDatagrams(now: number): void {
    const spec = this.spec.datagrams as NonNullable<WorkloadSpec['datagrams']>;
    while (this.datagramsAttempted < spec.count && !this.closed) {
      const seq = this.datagramsAttempted++;
      const data = new Uint8Array(Math.min(spec.size, this.conn.maxDatagramSize));
      data.set(this.pattern.chunk(seq, 0, data.length - 8), 8);
      new DataView(data.buffer).setUint32(0, seq);
      new DataView(data.buffer).setUint32(4, fnv(data, 8));
      if (this.conn.sendDatagram(data)) this.datagrams.sent++;
      else this.datagrams.refused++;
      if (spec.interval > 0) {
        this.nextDatagramAt = now + spec.interval;
        return;
      }
    }
    this.nextDatagramAt = undefined;
  }

  private onDatagram(data: Uint8Array): void {
    const count = this.spec.datagrams?.count ?? 0;
    if (this.role !== 'server' || data.length < 8) {
      this.datagrams.corrupted++;
      this.problems.push(`${this.role}: unexpected datagram of ${data.length} bytes`);
      return;
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const seq = view.getUint32(0);
    if (seq >= count || view.getUint32(4) !== fnv(data, 8)) {
      this.datagrams.corrupted++;
      this.problems.push(`server: corrupted datagram (seq field ${seq})`);
      return;
    }
    if (this.seenDatagrams.has(seq)) {
      this.datagrams.duplicates++;
      this.problems.push(`server: datagram ${seq} delivered twice`);
      return;
    }
    this.seenDatagrams.add(seq);
    this.datagrams.received++;
  }

  private checkComplete(now: number): void {
    if (this.completedAt !== undefined || !this.handshakeComplete) return;
    if (this.bulkAcked < this.bulkOut || this.bulkRead < this.bulkIn) return;
    const requests = this.spec.requests?.count ?? 0;
    if (this.role === 'client') {
      if (this.requestsDone < requests) return;
      if (this.datagramsAttempted < (this.spec.datagrams?.count ?? 0)) return;
    } else if (this.echoesDone < requests) {
      return;
    }
    this.completedAt = now;
  }
}
