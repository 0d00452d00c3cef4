import { Duplex, type DuplexOptions } from 'node:stream';
import type { EngineConnection, StreamId } from '../engine/types.js';
import type { SocketAddress } from '../net/address.js';
import { BraidError, InvalidArgumentError, StreamResetError, StreamWriteOverflowError } from './errors.js';

/**
 * Application error codes the API itself puts in RESET_STREAM / STOP_SENDING.
 * `destroy()` without an error sends CANCELLED; `destroy(err)` sends `err.errorCode`
 * when it is a non-negative integer, INTERNAL otherwise.
 */
export const StreamErrorCode = {
  CANCELLED: 0x0,
  INTERNAL: 0x1,
} as const;

/** What a stream needs from its session. */
export interface StreamHost {
  readonly connection: EngineConnection;
  scheduleFlush(): void;
  localAddress(): SocketAddress | undefined;
  remoteAddress(): SocketAddress | undefined;
  streamDestroyed(id: StreamId): void;
  /** Our FIN is with the engine: route its 'stream-finished' here even after the stream is destroyed. */
  awaitDelivery(id: StreamId, stream: BraidStream): void;
}

export interface BraidStreamOptions {
  /** Writable/readable buffer thresholds in bytes (Node's highWaterMark). Default 64 KiB. */
  highWaterMark?: number;
  /** @internal The peer opened it in 0-RTT data. */
  early?: boolean;
}

interface CheckpointWaiter {
  offset: number;
  resolve(offset: number): void;
  reject(error: Error): void;
}

const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
/**
 * Bytes a stream buffers for a writer that ignores write()'s false, in highWaterMarks: a
 * write finding this much still buffered destroys the stream (StreamWriteOverflowError)
 * instead of holding memory without bound, as Node's own Writable would.
 */
export const WRITE_OVERFLOW_FACTOR = 16;

/** Bit 1 of a stream id marks a unidirectional stream (QUIC layout). */
export function isUnidirectional(id: StreamId): boolean {
  return (id & 0x2) !== 0;
}

/**
 * One Braid stream as a Node Duplex. Half-close works like TCP: `end()` sends FIN and
 * reading continues until the peer's FIN. Also quacks enough like a net.Socket for
 * `http.Server.emit('connection', stream)` and `http.request({ createConnection })`.
 */
export class BraidStream extends Duplex {
  readonly #host: StreamHost;
  readonly #id: StreamId;
  readonly #bidirectional: boolean;
  /** Chunks the engine has not accepted yet, and the write callback they hold back. */
  #pending: Buffer[] = [];
  #pendingCallback: ((error?: Error | null) => void) | undefined;
  #readWanted = false;
  #readEnded: boolean;
  #writeEnded: boolean;
  /** Set once the peer sent STOP_SENDING: further writes fail with this code. */
  #stopSendingCode: number | undefined;
  #timeoutMs = 0;
  #timeoutTimer: NodeJS.Timeout | undefined;
  readonly #early: boolean;
  #durableOffset = 0;
  #checkpointWaiters: CheckpointWaiter[] = [];
  /** Delivery of our sending side: pending, done (true), or why it can no longer happen. */
  #delivery: 'pending' | true | Error = 'pending';
  #finSent = false;
  #deliveryWaiters: Array<{ resolve(): void; reject(error: Error): void }> = [];

  /** @internal Created by Session; applications get streams from openStream() or the 'stream' event. */
  constructor(host: StreamHost, id: StreamId, locallyInitiated: boolean, options: BraidStreamOptions = {}) {
    const bidirectional = !isUnidirectional(id);
    const readable = bidirectional || !locallyInitiated;
    const writable = bidirectional || locallyInitiated;
    // `readable`/`writable` are honoured by Node's Duplex but missing from @types/node 20.
    const duplexOptions: DuplexOptions & { readable: boolean; writable: boolean } = {
      allowHalfOpen: true,
      readable,
      writable,
      highWaterMark: options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      decodeStrings: true,
    };
    super(duplexOptions);
    this.#host = host;
    this.#id = id;
    this.#bidirectional = bidirectional;
    this.#readEnded = !readable;
    this.#writeEnded = !writable;
    this.#early = options.early === true;
    // Receive-only (the peer's unidirectional stream): nothing of ours to deliver.
    if (!writable) this.#delivery = true;
  }

  /**
   * The peer opened this stream in its first flight's 0-RTT data and its first bytes arrived
   * before the handshake completed. Such data is the application's replay risk: Braid refuses
   * a replayed first flight (single-use tickets, strike register), but a request that must never
   * run twice should still be idempotent or checked (see docs/persistence.md §5).
   */
  get early(): boolean {
    return this.#early;
  }

  // --- delivery ---

  /**
   * Resolves once the peer acknowledged everything written on this stream and its end: after
   * `end()`, the moment TCP's close would have delivered it. ('finish' keeps Node's meaning:
   * everything was handed to Braid.) Rejects if the stream is destroyed or reset, the peer stops
   * reading, or the session closes first. Resolves at once on a stream we cannot write.
   */
  delivered(): Promise<void> {
    if (this.#delivery === true) return Promise.resolve();
    if (this.#delivery instanceof Error) return Promise.reject(this.#delivery);
    return new Promise((resolve, reject) => this.#deliveryWaiters.push({ resolve, reject }));
  }

  /** @internal The peer acknowledged all data and the FIN ('stream-finished'). */
  onDelivered(): void {
    if (this.#delivery !== 'pending') return;
    this.#delivery = true;
    for (const waiter of this.#deliveryWaiters.splice(0)) waiter.resolve();
  }

  /** @internal Delivery can no longer happen (reset, stopped, session closed). */
  onDeliveryFailed(error: Error): void {
    if (this.#delivery !== 'pending') return;
    this.#delivery = error;
    for (const waiter of this.#deliveryWaiters.splice(0)) waiter.reject(error);
  }

  /**
   * `for await (const chunk of stream)` leaves the stream open when the peer's data ends, so
   * the reply can follow (`stream.end(reply)`): half-close, as with TCP. Node's default
   * iterator destroys the stream on every exit; here only leaving early (break, return, throw
   * in the loop) does, as there. `stream.iterator({ destroyOnReturn })` keeps Node's options.
   */
  override async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, undefined, undefined> {
    let ended = false;
    try {
      for await (const chunk of this.iterator({ destroyOnReturn: false })) yield chunk as Buffer;
      ended = true;
    } finally {
      if (!ended && !this.readableEnded) this.destroy();
    }
    return undefined;
  }

  // --- checkpoints (docs/persistence.md §4) ---

  /** Bytes the peer application confirmed it durably holds (a prefix of what we wrote). */
  get durableOffset(): number {
    return this.#durableOffset;
  }

  /**
   * Marks a checkpoint at everything written so far and asks the peer application to confirm
   * once it durably holds it (the peer gets a 'checkpoint' event and calls confirmCheckpoint).
   * Resolves with that offset; 'durable' is emitted whenever the confirmed offset grows.
   * Rejects if the stream or session ends first.
   */
  checkpoint(): Promise<number> {
    if (this.destroyed)
      return Promise.reject(new BraidError('stream is destroyed', 'BRAID_ERR_STREAM_DESTROYED'));
    return new Promise((resolve, reject) => {
      const mark = (): void => {
        const offset = this.#host.connection.requestCheckpoint(this.#id);
        if (offset === undefined) {
          reject(new BraidError(`stream ${this.#id} cannot send`, 'BRAID_ERR_STREAM_STATE'));
          return;
        }
        if (offset <= this.#durableOffset) {
          resolve(offset);
          return;
        }
        this.#checkpointWaiters.push({ offset, resolve, reject });
        this.#host.scheduleFlush();
      };
      // Everything written before this call counts: an empty write completes only once every
      // earlier chunk is in the engine (after end(), 'finish' says the same).
      if (this.writableFinished) mark();
      else if (this.writableEnded) this.once('finish', mark);
      else this.write(Buffer.alloc(0), (error) => (error ? reject(error) : mark()));
    });
  }

  /**
   * Receiving side: tells the peer that every byte of this stream below `offset` (counted from
   * the stream's start, at most what was read so far) is durably stored on our side.
   * @throws InvalidArgumentError beyond what was read.
   */
  confirmCheckpoint(offset: number): void {
    if (!this.#host.connection.confirmCheckpoint(this.#id, offset)) {
      throw new InvalidArgumentError('offset', `${offset} is not a byte count this stream has read`);
    }
    this.#host.scheduleFlush();
  }

  /** @internal The peer asks for a confirmation of `offset` ('checkpoint'). */
  onCheckpoint(offset: number): void {
    this.emit('checkpoint', offset);
  }

  /** @internal The peer confirmed `offset`. */
  onCheckpointConfirmed(offset: number): void {
    if (offset <= this.#durableOffset) return;
    this.#durableOffset = offset;
    const [done, waiting] = [
      this.#checkpointWaiters.filter((w) => w.offset <= offset),
      this.#checkpointWaiters.filter((w) => w.offset > offset),
    ];
    this.#checkpointWaiters = waiting;
    this.emit('durable', offset);
    for (const w of done) w.resolve(w.offset);
  }

  get id(): StreamId {
    return this.#id;
  }

  get bidirectional(): boolean {
    return this.#bidirectional;
  }

  // --- net.Socket look-alike surface (what node:http touches) ---

  get remoteAddress(): string | undefined {
    return this.#host.remoteAddress()?.address;
  }
  get remotePort(): number | undefined {
    return this.#host.remoteAddress()?.port;
  }
  get remoteFamily(): string | undefined {
    return this.#host.remoteAddress()?.family;
  }
  get localAddress(): string | undefined {
    return this.#host.localAddress()?.address;
  }
  get localPort(): number | undefined {
    return this.#host.localAddress()?.port;
  }
  get encrypted(): boolean {
    return true;
  }
  /** Mirrors net.Socket#connecting: a stream exists only on an established session. */
  get connecting(): boolean {
    return false;
  }

  /** Emits 'timeout' after `ms` without reads or writes (0 disables), like net.Socket#setTimeout. */
  setTimeout(ms: number, callback?: () => void): this {
    this.#timeoutMs = ms;
    if (callback) {
      if (ms === 0) this.off('timeout', callback);
      else this.once('timeout', callback);
    }
    this.#touch();
    return this;
  }

  /** Streams share the session's congestion controller; there is no per-stream Nagle to disable. */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  /** Liveness is the session's job (idle timeout, PINGs). */
  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this;
  }

  /** The session's sockets decide whether the process stays alive. */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** Ends our side, then destroys once everything is flushed (net.Socket#destroySoon). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  #touch(): void {
    if (this.#timeoutMs === 0 || this.destroyed) {
      if (this.#timeoutTimer) clearTimeout(this.#timeoutTimer);
      this.#timeoutTimer = undefined;
      return;
    }
    if (this.#timeoutTimer) {
      this.#timeoutTimer.refresh();
      return;
    }
    this.#timeoutTimer = setTimeout(() => {
      this.#timeoutTimer = undefined;
      this.emit('timeout');
    }, this.#timeoutMs);
    this.#timeoutTimer.unref();
  }

  // --- Writable side ---

  override write(
    chunk: unknown,
    encoding?: BufferEncoding | ((error: Error | null | undefined) => void),
    callback?: (error: Error | null | undefined) => void,
  ): boolean {
    const limit = WRITE_OVERFLOW_FACTOR * this.writableHighWaterMark;
    if (this.writableLength >= limit && !this.destroyed)
      this.destroy(new StreamWriteOverflowError(this.#id, this.writableLength, limit));
    // On a destroyed stream Node fails the write (ERR_STREAM_DESTROYED, to its callback).
    return super.write(chunk, encoding as BufferEncoding, callback);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#stopSendingCode !== undefined) {
      callback(this.#stoppedError());
      return;
    }
    this.#pending.push(chunk);
    this.#pendingCallback = callback;
    this.#drainPending();
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    if (this.#stopSendingCode !== undefined) {
      callback(this.#stoppedError());
      return;
    }
    for (const { chunk } of chunks) this.#pending.push(chunk);
    this.#pendingCallback = callback;
    this.#drainPending();
  }

  /** Hands pending chunks to the engine; completes the write once all are accepted. */
  #drainPending(): void {
    const callback = this.#pendingCallback;
    if (!callback) return;
    const connection = this.#host.connection;
    let wrote = false;
    try {
      while (this.#pending.length > 0) {
        const chunk = this.#pending[0]!;
        const accepted = chunk.length === 0 ? 0 : connection.writeStream(this.#id, chunk);
        if (accepted > 0) wrote = true;
        if (accepted >= chunk.length) {
          this.#pending.shift();
          continue;
        }
        // Partially accepted: keep the rest (a view, no copy) until 'stream-writable'.
        this.#pending[0] = chunk.subarray(accepted);
        break;
      }
    } catch (error) {
      this.#pending = [];
      this.#pendingCallback = undefined;
      callback(error as Error);
      return;
    }
    if (wrote) {
      this.#host.scheduleFlush();
      this.#touch();
    }
    if (this.#pending.length === 0) {
      this.#pendingCallback = undefined;
      callback();
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#stopSendingCode !== undefined) {
      // The peer stopped reading and our side is already reset: there is nothing to finish.
      callback();
      return;
    }
    try {
      this.#host.connection.finishStream(this.#id);
    } catch (error) {
      callback(error as Error);
      return;
    }
    this.#writeEnded = true;
    this.#finSent = true;
    this.#host.awaitDelivery(this.#id, this);
    this.#host.scheduleFlush();
    callback();
  }

  // --- Readable side ---

  override _read(_size: number): void {
    this.#readWanted = true;
    this.#pull();
  }

  #pull(): void {
    if (this.#readEnded || this.destroyed) return;
    const connection = this.#host.connection;
    let consumed = false;
    while (this.#readWanted) {
      let result: { data: Uint8Array | undefined; fin: boolean };
      try {
        result = connection.readStream(this.#id);
      } catch (error) {
        this.destroy(error as Error);
        return;
      }
      const { data, fin } = result;
      if (data && data.length > 0) {
        consumed = true;
        this.#readWanted = this.push(Buffer.from(data.buffer, data.byteOffset, data.length));
      }
      if (fin) {
        this.#readEnded = true;
        this.#readWanted = false;
        this.push(null);
        break;
      }
      if (!data) break;
    }
    if (consumed) {
      // Reading frees receive window: let MAX_STREAM_DATA / ACKs leave promptly.
      this.#host.scheduleFlush();
      this.#touch();
    }
  }

  // --- Engine events, routed by Session ---

  /** @internal */
  onReadable(): void {
    if (this.#readWanted) this.#pull();
  }

  /** @internal */
  onWritable(): void {
    this.#drainPending();
  }

  /** @internal The peer reset its sending side (like a TCP RST: an error, unless all data already arrived). */
  onReset(errorCode: number): void {
    if (this.#readEnded) return;
    this.#readEnded = true;
    this.destroy(new StreamResetError(errorCode, this.#id));
  }

  /**
   * @internal The peer will not read any more. Our sending side is reset at once;
   * like EPIPE on a socket, it only becomes an error if we still have or add writes.
   */
  onStopSending(errorCode: number): void {
    this.#stopSendingCode ??= errorCode;
    this.onDeliveryFailed(this.#stoppedError());
    if (this.#writeEnded) return;
    try {
      this.#host.connection.resetStream(this.#id, errorCode);
    } catch {
      // The engine may already have reset the stream itself (RFC 9000 §3.5).
    }
    this.#writeEnded = true;
    const callback = this.#pendingCallback;
    if (callback) {
      this.#pending = [];
      this.#pendingCallback = undefined;
      callback(this.#stoppedError());
    } else if (this.#readEnded) {
      this.destroy();
    }
  }

  #stoppedError(): StreamResetError {
    const code = this.#stopSendingCode ?? 0;
    return new StreamResetError(
      code,
      this.#id,
      `stream ${this.#id}: the peer stopped reading (code ${code})`,
    );
  }

  /**
   * @internal The session is gone: no frames can be sent any more. `error` comes from the peer
   * or the network (like ECONNRESET on a socket), or from our own close with a non-zero code:
   * then it is only reported to a stream whose application listens for 'error', so closing a
   * session never crashes its own process.
   */
  onSessionClosed(error: Error | undefined, closedByUs: boolean): void {
    this.#readEnded = true;
    this.#writeEnded = true;
    this.onDeliveryFailed(
      error ??
        new BraidError(
          'the session closed before the peer acknowledged the stream',
          'BRAID_ERR_SESSION_CLOSED',
        ),
    );
    this.destroy(error && (!closedByUs || this.listenerCount('error') > 0) ? error : undefined);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Destroyed after a clean end(): the FIN is with the engine and delivery may still come.
    if (error || !this.#finSent) {
      this.onDeliveryFailed(
        error ??
          new BraidError('stream destroyed before its end was delivered', 'BRAID_ERR_STREAM_DESTROYED'),
      );
    }
    const waiters = this.#checkpointWaiters.splice(0);
    for (const w of waiters)
      w.reject(
        error ??
          new BraidError('stream ended before the checkpoint was confirmed', 'BRAID_ERR_STREAM_DESTROYED'),
      );
    if (this.#timeoutTimer) clearTimeout(this.#timeoutTimer);
    this.#timeoutTimer = undefined;
    const pendingCallback = this.#pendingCallback;
    this.#pendingCallback = undefined;
    this.#pending = [];
    const code = resetCodeFor(error);
    const connection = this.#host.connection;
    // Whatever side did not end cleanly is aborted on the wire, so the peer sees a reset, not a hang.
    try {
      if (!this.#writeEnded) connection.resetStream(this.#id, code);
      if (!this.#readEnded) connection.stopSending(this.#id, code);
    } catch {
      // The session may already be closing; there is nothing left to abort.
    }
    this.#writeEnded = true;
    this.#readEnded = true;
    this.#host.scheduleFlush();
    this.#host.streamDestroyed(this.#id);
    pendingCallback?.(error ?? null);
    callback(error);
  }
}

function resetCodeFor(error: Error | null): number {
  if (!error) return StreamErrorCode.CANCELLED;
  const code = (error as { errorCode?: unknown }).errorCode;
  return typeof code === 'number' && Number.isInteger(code) && code >= 0 ? code : StreamErrorCode.INTERNAL;
}
