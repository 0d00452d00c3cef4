import { EventEmitter } from 'node:events';
import type { BackendInfo } from '../endpoint/backend.js';
import type {
  ConnectionEvent,
  ConnectionState,
  ConnectionStats,
  EarlyDataState,
  EngineConnection,
  FailoverReason,
  MultipathPolicy,
  PathInfo,
  SessionRole,
  StreamId,
  SuspendReason,
} from '../engine/types.js';
import type { SocketAddress } from '../net/address.js';
import { channels, publish } from './diagnostics.js';
import {
  type BraidError,
  CloseTimeoutError,
  DatagramTooLargeError,
  errorFromClose,
  InvalidArgumentError,
  SessionClosedError,
} from './errors.js';
import { BraidStream, type BraidStreamOptions, StreamErrorCode, type StreamHost } from './stream.js';
import { encodeTicket } from './tickets.js';

/** Typed events: `session.on('stream', (s) => …)` infers `s: BraidStream`. */
export interface SessionEvents {
  /** A stream opened by the peer. */
  stream: [stream: BraidStream];
  /** An unreliable datagram from the peer. */
  datagram: [data: Buffer];
  /** The handshake completed; the peer proved `remoteKey`. */
  handshake: [remoteKey: Uint8Array];
  /** Client: the server showed it accepted our handshake (and our key): nothing can refuse it now. */
  confirmed: [];
  /** A path was added, validated, promoted, demoted or removed. */
  path: [path: PathInfo];
  /**
   * The session moved its sending from one path to another (`from` and `to` as after the
   * move); `reason` says why: 'unresponsive', 'abandoned', 'address-removed',
   * 'peer-address-removed', 'peer-moved', 'migration' or 'preferred' (docs/multihoming.md).
   */
  failover: [from: PathInfo, to: PathInfo, reason: FailoverReason];
  /** A congestion event (loss or persistent congestion) cut `path`'s congestion window. */
  congestion: [path: PathInfo, reason: string];
  /** Packet protection keys rotated. */
  keyupdate: [phase: number];
  /**
   * No path has worked for the failure timeout (the idle timeout): the session is kept, streams
   * stay open and writes are buffered (up to each stream's send buffer, transport.sendBufferSize
   * or what auto-tuning grew it to, and the session's share of transport.maxSessionBuffer, then backpressure) until a path works again ('resumed') or the persistence timeout ends it
   * (SessionExpiredError). Datagrams are refused meanwhile. `reason`: 'failure-timeout' (nothing
   * heard from the peer for the failure timeout) or 'peer-suspended' (the peer said it is).
   */
  suspended: [reason: SuspendReason];
  /** The session is back, on fresh keys and connection IDs; no byte was lost or duplicated. */
  resumed: [];
  /** Client: a ticket for 0-RTT on a later connect() to this server; store it if you like. */
  ticket: [ticket: Buffer];
  /** Client with earlyData: whether the server took the first flight's data (if not, it was resent). */
  earlydata: [accepted: boolean];
  /** The session is closed; `error` is undefined for a clean close (code 0). */
  close: [error: BraidError | undefined];
  /** Emitted before 'close' when the session ended with an error and someone listens for it. */
  error: [error: BraidError];
}

/** A session's counters (see ConnectionStats) and the back-end it runs on. */
export interface SessionStats extends ConnectionStats {
  /** Sockets ('native' batched UDP or 'dgram'), packet protection ('openssl' or 'sodium'), and why not native. */
  backend: BackendInfo;
}

/** What a session needs from the shell that drives it. */
export interface SessionContext {
  scheduleFlush(): void;
  /** The back-end of the endpoint the session runs on. */
  backend(): BackendInfo;
  /** Called once, after 'close' was emitted. */
  sessionClosed?(session: Session): void;
}

export interface CloseOptions {
  /**
   * How long a graceful close() waits for the peer to acknowledge every ended stream, in ms
   * (default DEFAULT_GRACEFUL_CLOSE_TIMEOUT, 10 s); then it closes anyway and rejects with
   * CloseTimeoutError.
   */
  timeout?: number;
}

/** The default bound of a graceful close(): 10 s, a third of the default idle timeout. */
export const DEFAULT_GRACEFUL_CLOSE_TIMEOUT = 10_000;

export interface OpenStreamOptions {
  unidirectional?: boolean;
  highWaterMark?: number;
}

interface OpenWaiter {
  bidirectional: boolean;
  options: BraidStreamOptions;
  resolve(stream: BraidStream): void;
  reject(error: Error): void;
}

/** Events the session holds while nobody listens yet (e.g. between handshake and `await connect()`). */
const MAX_HELD_DATAGRAMS = 64;

/**
 * One Braid session: an authenticated, encrypted association with a peer's static
 * key, carrying streams and datagrams over any number of paths.
 */
export class Session extends EventEmitter<SessionEvents> {
  readonly #connection: EngineConnection;
  readonly #context: SessionContext;
  readonly #streams = new Map<StreamId, BraidStream>();
  /** Streams whose FIN the engine holds, until the peer acknowledges it (even once destroyed). */
  readonly #awaitingDelivery = new Map<StreamId, BraidStream>();
  #gracefulClose: Promise<void> | undefined;
  readonly #openWaiters: OpenWaiter[] = [];
  readonly #closeWaiters: Array<() => void> = [];
  readonly #heldStreams: BraidStream[] = [];
  readonly #heldDatagrams: Buffer[] = [];
  /**
   * The newest ticket that arrived while nobody listened: a ticket usually rides with the
   * handshake's confirmation, before connect() has handed the session out.
   */
  #heldTicket: Buffer | undefined;
  readonly #streamHost: StreamHost;
  #handshakeComplete = false;
  #handshakeConfirmed = false;
  #closed = false;
  #closeError: BraidError | undefined;

  /** @internal Sessions come from connect() or a server's 'session' event. */
  constructor(connection: EngineConnection, context: SessionContext) {
    super();
    this.#connection = connection;
    this.#context = context;
    this.#streamHost = {
      connection,
      scheduleFlush: () => context.scheduleFlush(),
      localAddress: () => this.localAddress,
      remoteAddress: () => this.remoteAddress,
      streamDestroyed: (id) => {
        this.#streams.delete(id);
      },
      awaitDelivery: (id, stream) => {
        this.#awaitingDelivery.set(id, stream);
      },
    };
    // 'newListener' is Node's own event, outside SessionEvents.
    (this as EventEmitter).on('newListener', (event: string | symbol) => {
      if (event === 'stream' && this.#heldStreams.length > 0) queueMicrotask(() => this.#releaseHeld());
      if (event === 'datagram' && this.#heldDatagrams.length > 0) queueMicrotask(() => this.#releaseHeld());
      if (event === 'ticket' && this.#heldTicket !== undefined) queueMicrotask(() => this.#releaseHeld());
    });
    publish(channels.sessionCreated, () => ({ session: this }));
  }

  get role(): SessionRole {
    return this.#connection.role;
  }

  get state(): ConnectionState {
    return this.#connection.state;
  }

  get handshakeComplete(): boolean {
    return this.#handshakeComplete;
  }

  /** Client: true once the server has shown it accepted the handshake ('confirmed'). */
  get handshakeConfirmed(): boolean {
    return this.#handshakeConfirmed;
  }

  /** True between 'suspended' and 'resumed' (see docs/persistence.md). */
  get suspended(): boolean {
    return this.#connection.suspended;
  }

  /**
   * 0-RTT: 'none' without a ticket; 'pending' until the server answers; then 'accepted'
   * or 'rejected' (the data was then sent again after the handshake). On a server:
   * 'accepted' when this session's first flight carried early data it delivered —
   * data that an attacker could have replayed, had the strike register not been there.
   */
  get earlyData(): EarlyDataState {
    return this.#connection.earlyData;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The error the session closed with (undefined while open or after a clean close). */
  get closeError(): BraidError | undefined {
    return this.#closeError;
  }

  /** The peer's static X25519 public key: the session's identity, independent of addresses. */
  get remoteKey(): Uint8Array | undefined {
    return this.#connection.remoteKey;
  }

  /** A value unique to this handshake, for binding application-level authentication to it. */
  channelBinding(): Uint8Array {
    return this.#connection.channelBinding();
  }

  get paths(): PathInfo[] {
    return this.#connection.paths;
  }

  /**
   * How the session uses its paths, as agreed in the handshake: the client's
   * `multipath.policy` if the server runs it, else 'failover'.
   */
  get multipathPolicy(): MultipathPolicy {
    return this.#connection.multipathPolicy;
  }

  /** The engine's counters, and `backend`: what the session's packets go through. */
  get stats(): SessionStats {
    return { ...this.#connection.stats, backend: this.#context.backend() };
  }

  get maxDatagramSize(): number {
    return this.#connection.maxDatagramSize;
  }

  /** The preferred path's remote address (it changes when the session migrates). */
  get remoteAddress(): SocketAddress | undefined {
    return this.#activePath()?.remote;
  }

  get localAddress(): SocketAddress | undefined {
    return this.#activePath()?.local;
  }

  #activePath(): PathInfo | undefined {
    const paths = this.#connection.paths;
    return paths.find((p) => p.state === 'active') ?? paths[0];
  }

  /**
   * Opens a stream. When the peer's stream limit is reached the promise waits for
   * credit; it rejects with SessionClosedError if the session closes first.
   */
  openStream(options: OpenStreamOptions = {}): Promise<BraidStream> {
    if (options === null || typeof options !== 'object') {
      return Promise.reject(new InvalidArgumentError('options', 'must be an object'));
    }
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#gracefulClose) {
      return Promise.reject(
        new SessionClosedError(
          { source: 'local', code: 0, application: true, reason: '' },
          'session is closing: no new streams',
        ),
      );
    }
    const bidirectional = !options.unidirectional;
    const streamOptions: BraidStreamOptions = { highWaterMark: options.highWaterMark };
    // Waiters keep FIFO order: a new call may not overtake queued ones.
    if (!this.#openWaiters.some((w) => w.bidirectional === bidirectional)) {
      try {
        const stream = this.#tryOpen(bidirectional, streamOptions);
        if (stream) return Promise.resolve(stream);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return new Promise((resolve, reject) => {
      this.#openWaiters.push({ bidirectional, options: streamOptions, resolve, reject });
    });
  }

  #tryOpen(bidirectional: boolean, options: BraidStreamOptions): BraidStream | undefined {
    const id = this.#connection.openStream(bidirectional);
    if (id === undefined) return undefined;
    const stream = new BraidStream(this.#streamHost, id, true, options);
    this.#streams.set(id, stream);
    this.#context.scheduleFlush();
    return stream;
  }

  #serviceOpenWaiters(bidirectional: boolean): void {
    for (let i = 0; i < this.#openWaiters.length; ) {
      const waiter = this.#openWaiters[i]!;
      if (waiter.bidirectional !== bidirectional) {
        i++;
        continue;
      }
      let stream: BraidStream | undefined;
      try {
        stream = this.#tryOpen(bidirectional, waiter.options);
      } catch (error) {
        this.#openWaiters.splice(i, 1);
        waiter.reject(error as Error);
        continue;
      }
      if (!stream) return;
      this.#openWaiters.splice(i, 1);
      waiter.resolve(stream);
    }
  }

  /**
   * Sends an unreliable datagram. Returns false when it was dropped (queue full or
   * no room); throws DatagramTooLargeError when it can never fit or the peer refuses
   * datagrams. The engine keeps a reference: do not mutate `data` afterwards.
   */
  sendDatagram(data: Uint8Array): boolean {
    if (!(data instanceof Uint8Array))
      throw new InvalidArgumentError('data', 'must be a Uint8Array or Buffer');
    if (this.#closed) return false;
    const max = this.#connection.maxDatagramSize;
    if (data.length > max || max === 0) throw new DatagramTooLargeError(data.length, max);
    const queued = this.#connection.sendDatagram(data);
    if (queued) this.#context.scheduleFlush();
    return queued;
  }

  /**
   * `close()` / `close({ timeout })`: graceful, like ending a TCP connection. No new streams;
   * waits until the peer acknowledged every stream that was ended (`end()`), at most `timeout`
   * ms (default 10 s), then closes with code 0. Streams still open then are destroyed. Rejects
   * with CloseTimeoutError (after closing) if the peer did not acknowledge in time.
   *
   * `close(code, reason)`: abrupt, at once, with an application error code (0 = no error):
   * data not yet acknowledged is dropped and open streams are destroyed (without an 'error'
   * event unless the application listens for one). Resolves once the engine reports it closed.
   */
  close(options?: CloseOptions): Promise<void>;
  close(code: number, reason?: string): Promise<void>;
  close(codeOrOptions?: number | CloseOptions, reason = ''): Promise<void> {
    if (codeOrOptions === undefined || (typeof codeOrOptions === 'object' && codeOrOptions !== null)) {
      return this.#closeGracefully(codeOrOptions?.timeout ?? DEFAULT_GRACEFUL_CLOSE_TIMEOUT);
    }
    return this.#closeNow(codeOrOptions, reason);
  }

  /** Abrupt close with code 0 (or `error.errorCode` when it is one), without waiting. */
  destroy(error?: Error): this {
    const code = (error as { errorCode?: unknown } | undefined)?.errorCode;
    const valid = typeof code === 'number' && Number.isInteger(code) && code >= 0;
    void this.#closeNow(valid ? code : error ? StreamErrorCode.INTERNAL : 0, error?.message ?? '');
    return this;
  }

  #closeGracefully(timeout: number): Promise<void> {
    if (typeof timeout !== 'number' || !(timeout >= 0)) {
      return Promise.reject(new InvalidArgumentError('timeout', 'must be a non-negative number of ms'));
    }
    if (this.#closed) return Promise.resolve();
    if (this.#gracefulClose) return this.#gracefulClose;
    if (this.#connection.state !== 'established') return this.#closeNow(0, '');
    const ended = new Set<BraidStream>(this.#awaitingDelivery.values());
    for (const stream of this.#streams.values()) if (stream.writableEnded) ended.add(stream);
    const closed = new Promise<void>((resolve) => this.#closeWaiters.push(resolve));
    this.#gracefulClose = (async () => {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<true>((resolve) => {
        timer = setTimeout(() => resolve(true), timeout);
      });
      const allDelivered = Promise.all([...ended].map((s) => s.delivered().catch(() => undefined)));
      const outcome = await Promise.race([
        allDelivered.then(() => false),
        closed.then(() => false),
        timedOut,
      ]);
      clearTimeout(timer);
      await this.#closeNow(0, '');
      if (outcome === true) throw new CloseTimeoutError(timeout);
    })();
    return this.#gracefulClose;
  }

  #closeNow(code: number, reason: string): Promise<void> {
    if (!Number.isInteger(code) || code < 0 || code > Number.MAX_SAFE_INTEGER) {
      return Promise.reject(new InvalidArgumentError('code', 'must be a non-negative integer'));
    }
    if (typeof reason !== 'string')
      return Promise.reject(new InvalidArgumentError('reason', 'must be a string'));
    if (this.#closed) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#closeWaiters.push(resolve));
    const state = this.#connection.state;
    if (state === 'handshaking' || state === 'established') this.#connection.close(code, reason);
    // Either the CLOSE must go out, or the engine's 'closed' event is waiting to be dispatched.
    this.#context.scheduleFlush();
    return done;
  }

  #closedError(): BraidError {
    return (
      this.#closeError ??
      new SessionClosedError({ source: 'local', code: 0, application: true, reason: '' }, 'session is closed')
    );
  }

  #releaseHeld(): void {
    if (this.listenerCount('stream') > 0) {
      for (const stream of this.#heldStreams.splice(0)) this.emit('stream', stream);
    }
    if (this.listenerCount('datagram') > 0) {
      for (const data of this.#heldDatagrams.splice(0)) this.emit('datagram', data);
    }
    if (this.listenerCount('ticket') > 0 && this.#heldTicket !== undefined) {
      const ticket = this.#heldTicket;
      this.#heldTicket = undefined;
      this.emit('ticket', ticket);
    }
  }

  /** @internal Routes one engine event. Called by the shell, in engine order. */
  handleEvent(event: ConnectionEvent): void {
    switch (event.type) {
      case 'handshake-complete':
        this.#handshakeComplete = true;
        publish(channels.sessionHandshake, () => ({ session: this, remoteKey: event.remoteKey }));
        this.emit('handshake', event.remoteKey);
        break;
      case 'handshake-confirmed':
        this.#handshakeConfirmed = true;
        this.emit('confirmed');
        break;
      case 'stream-opened': {
        if (this.#streams.has(event.streamId)) break;
        const stream = new BraidStream(this.#streamHost, event.streamId, false, { early: event.early });
        this.#streams.set(event.streamId, stream);
        if (this.listenerCount('stream') > 0) this.emit('stream', stream);
        else this.#heldStreams.push(stream);
        break;
      }
      case 'stream-readable':
        this.#streams.get(event.streamId)?.onReadable();
        break;
      case 'stream-writable':
        this.#streams.get(event.streamId)?.onWritable();
        break;
      case 'stream-reset':
        this.#streams.get(event.streamId)?.onReset(event.errorCode);
        break;
      case 'stream-stop-sending': {
        const stream = this.#streams.get(event.streamId) ?? this.#awaitingDelivery.get(event.streamId);
        this.#awaitingDelivery.delete(event.streamId);
        stream?.onStopSending(event.errorCode);
        break;
      }
      case 'stream-finished':
        this.#awaitingDelivery.get(event.streamId)?.onDelivered();
        this.#awaitingDelivery.delete(event.streamId);
        break;
      case 'streams-available':
        this.#serviceOpenWaiters(event.bidirectional);
        break;
      case 'datagram': {
        const data = Buffer.from(event.data.buffer, event.data.byteOffset, event.data.length);
        if (this.listenerCount('datagram') > 0) this.emit('datagram', data);
        else if (this.#heldDatagrams.length < MAX_HELD_DATAGRAMS) this.#heldDatagrams.push(data);
        break;
      }
      case 'key-update':
        this.emit('keyupdate', event.phase);
        break;
      case 'path-updated':
        publish(channels.pathUpdated, () => ({ session: this, path: event.path }));
        this.emit('path', event.path);
        break;
      case 'suspended':
        publish(channels.sessionSuspended, () => ({ session: this, reason: event.reason }));
        this.emit('suspended', event.reason);
        break;
      case 'resumed':
        publish(channels.sessionResumed, () => ({ session: this }));
        this.emit('resumed');
        break;
      case 'checkpoint':
        this.#streams.get(event.streamId)?.onCheckpoint(event.offset);
        break;
      case 'checkpoint-confirmed':
        this.#streams.get(event.streamId)?.onCheckpointConfirmed(event.offset);
        break;
      case 'ticket': {
        const ticket = encodeTicket(event.ticket, Date.now());
        if (this.listenerCount('ticket') > 0) this.emit('ticket', ticket);
        else this.#heldTicket = ticket;
        break;
      }
      case 'early-data':
        this.emit('earlydata', event.accepted);
        break;
      case 'failover':
        publish(channels.pathFailover, () => ({
          session: this,
          from: event.from,
          to: event.to,
          reason: event.reason,
        }));
        this.emit('failover', event.from, event.to, event.reason);
        break;
      case 'congestion':
        publish(channels.pathCongestion, () => ({ session: this, path: event.path, reason: event.reason }));
        this.emit('congestion', event.path, event.reason);
        break;
      case 'closed':
        this.#finish(errorFromClose(event.info), event.info.source === 'local');
        break;
    }
  }

  /** @internal Ends the session from the API side (e.g. connect timeout) without waiting for the engine. */
  finish(error: BraidError | undefined): void {
    this.#finish(error, true);
  }

  #finish(error: BraidError | undefined, closedByUs: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    for (const stream of [...this.#streams.values()]) stream.onSessionClosed(error, closedByUs);
    this.#streams.clear();
    const undelivered = error ?? this.#closedError();
    for (const stream of this.#awaitingDelivery.values()) stream.onDeliveryFailed(undelivered);
    this.#awaitingDelivery.clear();
    const waiterError = this.#closedError();
    for (const waiter of this.#openWaiters.splice(0)) waiter.reject(waiterError);
    publish(channels.sessionClosed, () => ({ session: this, error }));
    if (error && this.listenerCount('error') > 0) this.emit('error', error);
    this.emit('close', error);
    for (const resolve of this.#closeWaiters.splice(0)) resolve();
    this.#context.sessionClosed?.(this);
  }
}
