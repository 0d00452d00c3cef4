import { TransportError } from '../../wire/errors.js';
import { sessionSendBudget } from '../config.js';
import type { MemoryPressure } from '../session-limits.js';
import type { SessionRole, StreamId, TransportConfig } from '../types.js';
import { StreamError, StreamUsageError } from './errors.js';
import { ReceiveWindow, SendBudget, SendCredit, UNBOUNDED_SEND_BUDGET_LIMIT } from './flow-control.js';
import type { ChunkPlan, SendChunk } from './send-buffer.js';
import { type PendingReset, RecvSide, SendSide, Stream } from './stream.js';

export interface StreamMapOptions {
  role: SessionRole;
  /** Concurrent streams we let the peer open (our MAX_STREAMS credit, renewed as they close). */
  maxConcurrentBidiStreams: number;
  maxConcurrentUniStreams: number;
  /** Our per-stream receive window (initial and auto-tuning ceiling). */
  initialStreamWindow: number;
  maxStreamWindow: number;
  /** Our connection receive window. */
  initialConnectionWindow: number;
  maxConnectionWindow: number;
  /** Bytes one stream may queue unacknowledged. */
  sendBufferSize: number;
  /** Bytes all streams' send buffers may hold together (default: no bound beyond each stream's). */
  sessionSendBudget?: number;
  /** Stream send buffers grow from the paths' bandwidth-delay product (SendBudget.autoTune); default off. */
  sendBufferAutoTune?: boolean;
  /** The server's memory budget is exceeded: receive windows shrink back to their initial size. */
  pressure?: MemoryPressure;
}

const NO_PRESSURE: MemoryPressure = { high: false };

/**
 * Separate pieces all receive buffers of a session may hold, per byte of maxConnectionWindow
 * (at least MIN_HELD_SEGMENTS). Flow control bounds the bytes, not the pieces: 1-byte STREAM
 * frames with gaps between them would cost an object each, ~100 times the bytes. An honest
 * peer's pieces are bounded by its lost packets (every other one of a full window lost is one
 * piece per 1200 bytes); beyond the cap the session closes (docs/protocol.md §9.7).
 */
const BYTES_PER_HELD_SEGMENT = 512;
const MIN_HELD_SEGMENTS = 1024;

/** The peer's limits, from its transport parameters. */
export interface PeerStreamLimits {
  initialStreamWindow: number;
  initialConnectionWindow: number;
  /** Cumulative count of streams of each type we may open. */
  maxBidiStreams: number;
  maxUniStreams: number;
}

export interface OpenResult {
  /** undefined when the stream existed and is already closed and forgotten (ignore the frame). */
  stream: Stream | undefined;
  /** Peer-initiated streams opened by this frame, lowest first ('stream-opened' events). */
  opened: StreamId[];
}

const NONE: StreamId[] = [];

function typeIndex(bidirectional: boolean): 0 | 1 {
  return bidirectional ? 0 : 1;
}

/**
 * All streams of one connection, for one role: ID allocation and limits (RFC 9000
 * §2.1, §4.6), implicit opening, per-stream state, connection-level flow control
 * (MAX_DATA both ways) and a fair round-robin send schedule.
 *
 * Protocol violations throw StreamError (close the connection with its code);
 * API misuse throws StreamUsageError.
 *
 * Packetizer loop:
 *   for (let s; (s = map.nextSendable()); ) {
 *     write s.send?.takeReset(), s.recv?.takeStopSending(), s.recv?.takeMaxStreamData(),
 *       s.send?.takeBlocked(), then map.emitStreamData(s, ...) while it fits;
 *     map.markSendable(s.id); // re-queues at the tail if it still has work
 *   }
 */
export class StreamMap {
  readonly role: SessionRole;
  private readonly options: StreamMapOptions;
  private readonly streams = new Map<StreamId, Stream>();
  /** Indexed [bidi, uni]. */
  private readonly nextLocalIndex = [0, 0];
  private readonly peerMaxStreamsCount = [0, 0];
  private readonly nextRemoteIndex = [0, 0];
  private readonly closedRemote = [0, 0];
  /** Cumulative MAX_STREAMS we advertised. */
  private readonly localMaxStreamsCount: [number, number];
  private readonly maxStreamsResend = [false, false];
  private peerStreamWindow = 0;

  /** Connection-level receive window (MAX_DATA we send). */
  readonly connectionWindow: ReceiveWindow;
  /** Connection-level send credit (MAX_DATA the peer sent). */
  readonly connectionCredit = new SendCredit(0);
  private connectionReceived = 0;
  private connectionSent = 0;
  private maxDataPending = false;
  private dataBlockedReportedAt = -1;

  /** Round-robin schedule: a queue with a moving head (compacted as it drains). */
  private queue: Stream[] = [];
  private queueHead = 0;
  /** Streams whose only work waits for connection credit. */
  private connectionBlocked = new Set<Stream>();
  /** What all send buffers hold together, against the session's share of maxSessionBuffer. */
  readonly sendBudget: SendBudget;
  /** Streams a write was refused on: they hear 'stream-writable' when room frees (takeWritable). */
  private readonly writeRefused = new Set<Stream>();
  /** Receive-buffer pieces the session may hold, and an upper estimate of those it holds (see countSegments). */
  private readonly maxHeldSegments: number;
  private heldSegmentsEstimate = 0;

  constructor(options: StreamMapOptions, peer?: PeerStreamLimits) {
    this.role = options.role;
    this.options = options;
    this.localMaxStreamsCount = [options.maxConcurrentBidiStreams, options.maxConcurrentUniStreams];
    this.connectionWindow = new ReceiveWindow(options.initialConnectionWindow, options.maxConnectionWindow);
    this.sendBudget = new SendBudget(
      options.sessionSendBudget ?? UNBOUNDED_SEND_BUDGET_LIMIT,
      options.sendBufferAutoTune ?? false,
    );
    this.maxHeldSegments = Math.max(
      MIN_HELD_SEGMENTS,
      Math.floor(options.maxConnectionWindow / BYTES_PER_HELD_SEGMENT),
    );
    if (peer) this.applyPeerLimits(peer);
  }

  static fromConfig(
    role: SessionRole,
    config: TransportConfig,
    peer?: PeerStreamLimits,
    pressure?: MemoryPressure,
  ): StreamMap {
    return new StreamMap(
      {
        role,
        maxConcurrentBidiStreams: config.maxConcurrentBidiStreams,
        maxConcurrentUniStreams: config.maxConcurrentUniStreams,
        initialStreamWindow: config.initialStreamWindow,
        maxStreamWindow: config.maxStreamWindow,
        initialConnectionWindow: config.initialConnectionWindow,
        maxConnectionWindow: config.maxConnectionWindow,
        sendBufferSize: config.sendBufferSize,
        sessionSendBudget: sessionSendBudget(config),
        sendBufferAutoTune: config.sendBufferAutoTune,
        pressure,
      },
      peer,
    );
  }

  /** Applies the peer's transport parameters (limits only grow). */
  applyPeerLimits(peer: PeerStreamLimits): void {
    if (peer.initialStreamWindow > this.peerStreamWindow) {
      this.peerStreamWindow = peer.initialStreamWindow;
      for (const stream of this.streams.values()) {
        if (stream.send?.onMaxStreamData(peer.initialStreamWindow)) this.markSendable(stream.id);
      }
    }
    this.onMaxData(peer.initialConnectionWindow);
    this.peerMaxStreams(true, peer.maxBidiStreams);
    this.peerMaxStreams(false, peer.maxUniStreams);
  }

  get size(): number {
    return this.streams.size;
  }

  get(id: StreamId): Stream | undefined {
    return this.streams.get(id);
  }

  values(): IterableIterator<Stream> {
    return this.streams.values();
  }

  private isLocalId(id: StreamId): boolean {
    return id % 2 === (this.role === 'client' ? 0 : 1);
  }

  private makeId(index: number, bidirectional: boolean, local: boolean): StreamId {
    const initiatorBit = (this.role === 'client') === local ? 0 : 1;
    return index * 4 + (bidirectional ? 0 : 2) + initiatorBit;
  }

  private createStream(id: StreamId, local: boolean): Stream {
    const bidirectional = id % 4 < 2;
    const o = this.options;
    const send =
      bidirectional || local
        ? new SendSide(this.peerStreamWindow, o.sendBufferSize, this.sendBudget)
        : undefined;
    const recv = bidirectional || !local ? new RecvSide(o.initialStreamWindow, o.maxStreamWindow) : undefined;
    const stream = new Stream(id, local, send, recv);
    this.streams.set(id, stream);
    return stream;
  }

  // ---- stream limits ----

  /** Opens a local stream, or undefined when the peer's MAX_STREAMS forbids it (send STREAMS_BLOCKED). */
  openLocal(bidirectional: boolean): StreamId | undefined {
    const t = typeIndex(bidirectional);
    const index = this.nextLocalIndex[t];
    if (index >= this.peerMaxStreamsCount[t]) return undefined;
    this.nextLocalIndex[t] = index + 1;
    const id = this.makeId(index, bidirectional, true);
    this.createStream(id, true);
    return id;
  }

  /** The limit to report in STREAMS_BLOCKED when openLocal failed. */
  localStreamLimit(bidirectional: boolean): number {
    return this.peerMaxStreamsCount[typeIndex(bidirectional)];
  }

  /** Peer's MAX_STREAMS; returns true when the limit grew ('streams-available'). */
  peerMaxStreams(bidirectional: boolean, maximum: number): boolean {
    const t = typeIndex(bidirectional);
    if (maximum <= this.peerMaxStreamsCount[t]) return false;
    this.peerMaxStreamsCount[t] = maximum;
    return true;
  }

  /** Our current cumulative MAX_STREAMS (to resend after loss). */
  localMaxStreams(bidirectional: boolean): number {
    return this.localMaxStreamsCount[typeIndex(bidirectional)];
  }

  /**
   * New MAX_STREAMS to send once half of the concurrency limit's worth of peer
   * streams has closed since the last update (or the current value again after a
   * loss); undefined otherwise.
   */
  maxStreamsUpdate(bidirectional: boolean): number | undefined {
    const t = typeIndex(bidirectional);
    const concurrent = bidirectional
      ? this.options.maxConcurrentBidiStreams
      : this.options.maxConcurrentUniStreams;
    const target = this.closedRemote[t] + concurrent;
    if (target - this.localMaxStreamsCount[t] >= Math.max(1, concurrent / 2)) {
      this.localMaxStreamsCount[t] = target;
      this.maxStreamsResend[t] = false;
      return target;
    }
    if (this.maxStreamsResend[t]) {
      this.maxStreamsResend[t] = false;
      return this.localMaxStreamsCount[t];
    }
    return undefined;
  }

  /** A MAX_STREAMS frame was lost: unless superseded, the next maxStreamsUpdate repeats it. */
  onMaxStreamsLost(bidirectional: boolean, maximum: number): void {
    const t = typeIndex(bidirectional);
    if (maximum === this.localMaxStreamsCount[t]) this.maxStreamsResend[t] = true;
  }

  /**
   * Finds the stream a frame refers to, opening peer-initiated streams (and every
   * lower-numbered one of that type) on first use. `side` is the half the frame
   * acts on: 'recv' for STREAM/RESET_STREAM/STREAM_DATA_BLOCKED, 'send' for
   * MAX_STREAM_DATA/STOP_SENDING.
   * @throws StreamError STREAM_LIMIT_ERROR beyond our MAX_STREAMS, STREAM_STATE_ERROR for a
   *   local stream not yet opened or a frame for a half that does not exist.
   */
  getOrOpenRemote(id: StreamId, side: 'recv' | 'send' = 'recv'): OpenResult {
    if (!Number.isSafeInteger(id) || id < 0) {
      throw new StreamError(TransportError.FRAME_ENCODING_ERROR, `invalid stream id ${id}`);
    }
    const bidirectional = id % 4 < 2;
    const t = typeIndex(bidirectional);
    const index = Math.floor(id / 4);
    if (this.isLocalId(id)) {
      if (!bidirectional && side === 'recv') {
        throw new StreamError(TransportError.STREAM_STATE_ERROR, `stream ${id} is our unidirectional stream`);
      }
      if (index >= this.nextLocalIndex[t]) {
        throw new StreamError(TransportError.STREAM_STATE_ERROR, `stream ${id} has not been opened`);
      }
      return { stream: this.streams.get(id), opened: NONE };
    }
    if (!bidirectional && side === 'send') {
      throw new StreamError(
        TransportError.STREAM_STATE_ERROR,
        `stream ${id} is the peer's unidirectional stream`,
      );
    }
    if (index >= this.localMaxStreamsCount[t]) {
      throw new StreamError(
        TransportError.STREAM_LIMIT_ERROR,
        `stream ${id} exceeds limit of ${this.localMaxStreamsCount[t]} streams`,
      );
    }
    if (index < this.nextRemoteIndex[t]) return { stream: this.streams.get(id), opened: NONE };
    const opened: StreamId[] = [];
    let stream: Stream | undefined;
    for (let i = this.nextRemoteIndex[t]; i <= index; i++) {
      stream = this.createStream(this.makeId(i, bidirectional, false), false);
      opened.push(stream.id);
    }
    this.nextRemoteIndex[t] = index + 1;
    return { stream, opened };
  }

  /** How many streams of this type the peer has opened so far (as seen by us). */
  remoteStreamsSeen(bidirectional: boolean): number {
    return this.nextRemoteIndex[typeIndex(bidirectional)];
  }

  /** Whether `id` is a stream this side initiates. */
  isLocal(id: StreamId): boolean {
    return this.isLocalId(id);
  }

  /** Whether a stream with this ID has ever existed (opened by us, or by the peer so far). */
  wasOpened(id: StreamId): boolean {
    if (!Number.isSafeInteger(id) || id < 0) return false;
    const t = typeIndex(id % 4 < 2);
    const index = Math.floor(id / 4);
    return index < (this.isLocalId(id) ? this.nextLocalIndex[t] : this.nextRemoteIndex[t]);
  }

  /** Looks up a stream for an API call. @throws StreamUsageError when unknown or closed. */
  private require(id: StreamId): Stream {
    const stream = this.streams.get(id);
    if (!stream) throw new StreamUsageError(`unknown or closed stream ${id}`);
    return stream;
  }

  /** Forgets a stream whose halves are all terminal, crediting the peer a new stream if it opened it. */
  private collect(stream: Stream): void {
    if (!stream.isTerminal || this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    this.connectionBlocked.delete(stream);
    this.writeRefused.delete(stream);
    if (!stream.local) this.closedRemote[typeIndex(stream.bidirectional)]++;
  }

  // ---- frames from the peer ----

  /**
   * STREAM frame. `readable` is true when new bytes (or the end) became readable.
   * @throws StreamError (FLOW_CONTROL_ERROR, FINAL_SIZE_ERROR, STREAM_LIMIT_ERROR, STREAM_STATE_ERROR).
   */
  onStreamFrame(
    id: StreamId,
    offset: number,
    data: Uint8Array,
    fin: boolean,
    now: number,
  ): { opened: StreamId[]; readable: boolean } {
    const { stream, opened } = this.getOrOpenRemote(id, 'recv');
    const recv = stream?.recv;
    if (!stream || !recv) return { opened, readable: false };
    const contiguousBefore = recv.buffer.contiguousOffset;
    const stateBefore = recv.state;
    const readBefore = recv.buffer.readOffset;
    const segmentsBefore = recv.buffer.segmentCount;
    const newBytes = recv.onData(offset, data, fin);
    this.countReceived(newBytes);
    if (recv.buffer.segmentCount > segmentsBefore)
      this.countSegments(recv.buffer.segmentCount - segmentsBefore);
    // Data that arrives after STOP_SENDING is discarded at once: it counts as consumed.
    const discarded = recv.buffer.readOffset - readBefore;
    if (discarded > 0) this.consumeConnection(discarded, now, undefined);
    const readable =
      recv.stopSendingCode === undefined &&
      (recv.buffer.contiguousOffset > contiguousBefore ||
        (stateBefore !== 'DataRecvd' && recv.state === 'DataRecvd'));
    this.collect(stream);
    return { opened, readable };
  }

  /**
   * New receive-buffer pieces. The estimate only grows here (reads and resets shrink the real
   * count unseen); at the cap the real count is taken over all streams, and if that is still
   * at the cap the peer is fragmenting on purpose.
   * @throws StreamError PROTOCOL_VIOLATION.
   */
  private countSegments(added: number): void {
    this.heldSegmentsEstimate += added;
    if (this.heldSegmentsEstimate <= this.maxHeldSegments) return;
    let held = 0;
    for (const stream of this.streams.values()) held += stream.recv?.buffer.segmentCount ?? 0;
    this.heldSegmentsEstimate = held;
    if (held > this.maxHeldSegments) {
      throw new StreamError(
        TransportError.PROTOCOL_VIOLATION,
        `stream data held in ${held} separate pieces (limit ${this.maxHeldSegments})`,
      );
    }
  }

  private countReceived(newBytes: number): void {
    if (newBytes === 0) return;
    this.connectionReceived += newBytes;
    if (!this.connectionWindow.onReceived(this.connectionReceived)) {
      throw new StreamError(
        TransportError.FLOW_CONTROL_ERROR,
        `connection data ${this.connectionReceived} beyond limit ${this.connectionWindow.limit}`,
      );
    }
  }

  private consumeConnection(bytes: number, now: number, srtt: number | undefined): void {
    const shrink = (this.options.pressure ?? NO_PRESSURE).high;
    if (this.connectionWindow.onConsumed(bytes, now, srtt, shrink) !== undefined) this.maxDataPending = true;
  }

  /**
   * The most a stream may have written and not acknowledged in order: the session's send share
   * with auto-tuning, else the smaller of it and the configured per-stream size.
   */
  get sendWindow(): number {
    const o = this.options;
    return o.sendBufferAutoTune ? this.sendBudget.limit : Math.min(this.sendBudget.limit, o.sendBufferSize);
  }

  /**
   * Bytes this session's streams hold: every send buffer, and what the peer sent that was not
   * read yet (counted up to the highest offset of each stream, gaps included: a bound).
   */
  get bufferedBytes(): number {
    return this.sendBudget.held + this.connectionReceived - this.connectionWindow.consumedBytes;
  }

  /** RESET_STREAM. `reset` is true when the application must be told ('stream-reset'; then call resetDelivered). */
  onResetStream(
    id: StreamId,
    errorCode: number,
    finalSize: number,
    now: number,
  ): { opened: StreamId[]; reset: boolean } {
    const { stream, opened } = this.getOrOpenRemote(id, 'recv');
    const recv = stream?.recv;
    if (!stream || !recv) return { opened, reset: false };
    const result = recv.onReset(errorCode, finalSize);
    if (!result) return { opened, reset: false };
    this.countReceived(result.newBytes);
    this.consumeConnection(result.consumed, now, undefined);
    const reset = recv.state === 'ResetRecvd';
    this.collect(stream);
    return { opened, reset };
  }

  /** The application was told of the peer's reset. */
  resetDelivered(id: StreamId): void {
    const stream = this.streams.get(id);
    if (!stream?.recv) return;
    stream.recv.resetDelivered();
    this.collect(stream);
  }

  /** STOP_SENDING: we reset our sending side with its code. `stopped` is true the first time ('stream-stop-sending'). */
  onStopSending(id: StreamId, errorCode: number): { opened: StreamId[]; stopped: boolean } {
    const { stream, opened } = this.getOrOpenRemote(id, 'send');
    if (!stream?.send) return { opened, stopped: false };
    const stopped = stream.send.onStopSending(errorCode);
    if (stopped) this.markSendable(stream.id);
    return { opened, stopped };
  }

  /** MAX_STREAM_DATA. */
  onMaxStreamData(id: StreamId, maximum: number): { opened: StreamId[] } {
    const { stream, opened } = this.getOrOpenRemote(id, 'send');
    if (stream?.send?.onMaxStreamData(maximum)) this.markSendable(stream.id);
    return { opened };
  }

  /** MAX_DATA; returns true when the credit grew (blocked streams are re-queued). */
  onMaxData(maximum: number): boolean {
    if (!this.connectionCredit.raise(maximum)) return false;
    const blocked = [...this.connectionBlocked];
    this.connectionBlocked.clear();
    for (const stream of blocked) this.markSendable(stream.id);
    return true;
  }

  // ---- acknowledgements and losses of our frames ----

  /** A STREAM frame we sent was acknowledged. */
  onStreamDataAcked(
    id: StreamId,
    offset: number,
    length: number,
    fin: boolean,
  ): { finished: boolean; writable: boolean } {
    const stream = this.streams.get(id);
    if (!stream?.send) return { finished: false, writable: false };
    const result = stream.send.onAcked(offset, length, fin);
    if (result.writable) this.writeRefused.delete(stream);
    this.collect(stream);
    return result;
  }

  onStreamDataLost(id: StreamId, offset: number, length: number, fin: boolean): void {
    const stream = this.streams.get(id);
    if (!stream?.send) return;
    stream.send.onLost(offset, length, fin);
    this.markSendable(id);
  }

  onResetAcked(id: StreamId): void {
    const stream = this.streams.get(id);
    if (!stream?.send) return;
    stream.send.onResetAcked();
    this.collect(stream);
  }

  onResetLost(id: StreamId): void {
    if (this.streams.get(id)?.send?.onResetLost()) this.markSendable(id);
  }

  onStopSendingLost(id: StreamId): void {
    if (this.streams.get(id)?.recv?.onStopSendingLost()) this.markSendable(id);
  }

  onMaxStreamDataLost(id: StreamId): void {
    if (this.streams.get(id)?.recv?.onMaxStreamDataLost()) this.markSendable(id);
  }

  /**
   * After a resumption every flow-control and stream-control frame may have been lost with the
   * old paths: queue the current values again (limits only grow, so a repeat is harmless).
   */
  resendControl(): void {
    this.maxDataPending = true;
    this.maxStreamsResend[0] = true;
    this.maxStreamsResend[1] = true;
    for (const stream of this.streams.values()) {
      // Each call must run (no short-circuit): every frame that applies is queued again.
      const flags = [
        stream.recv?.onMaxStreamDataLost(),
        stream.recv?.onStopSendingLost(),
        stream.send?.onResetLost(),
      ];
      if (flags.includes(true)) this.markSendable(stream.id);
    }
  }

  /** MAX_DATA value to send, once (after the window moved or a loss). */
  takeMaxData(): number | undefined {
    if (!this.maxDataPending) return undefined;
    this.maxDataPending = false;
    return this.connectionWindow.limit;
  }

  onMaxDataLost(): void {
    this.maxDataPending = true;
  }

  /** DATA_BLOCKED limit to send, once per limit, when a stream waits for connection credit. */
  takeDataBlocked(): number | undefined {
    if (this.connectionBlocked.size === 0 || this.connectionCredit.available(this.connectionSent) > 0)
      return undefined;
    const limit = this.connectionCredit.limit;
    if (limit === this.dataBlockedReportedAt) return undefined;
    this.dataBlockedReportedAt = limit;
    return limit;
  }

  // ---- application calls ----

  /** Queues bytes (by reference); returns how many the send buffer accepted. @throws StreamUsageError. */
  write(id: StreamId, data: Uint8Array): number {
    const send = this.require(id).send;
    if (!send) throw new StreamUsageError(`stream ${id} is receive-only`);
    const accepted = send.write(data);
    if (accepted > 0) this.markSendable(id);
    if (accepted < data.length) this.writeRefused.add(this.require(id));
    return accepted;
  }

  /**
   * Streams refused a write that may write again: room freed in their own buffer or, after an
   * acknowledgement or a reset on another stream, in the session's budget. Each is reported
   * once per refusal ('stream-writable').
   */
  takeWritable(): StreamId[] {
    if (this.writeRefused.size === 0 || this.sendBudget.available === 0) return NONE;
    const writable: StreamId[] = [];
    for (const stream of this.writeRefused) {
      if (!stream.send?.isOpen) {
        this.writeRefused.delete(stream);
      } else if (stream.send.takeWritable()) {
        this.writeRefused.delete(stream);
        writable.push(stream.id);
      }
    }
    return writable;
  }

  /** @throws StreamUsageError. */
  finish(id: StreamId): void {
    const send = this.require(id).send;
    if (!send) throw new StreamUsageError(`stream ${id} is receive-only`);
    send.finish();
    this.markSendable(id);
  }

  /** Reads in order; queues MAX_STREAM_DATA / MAX_DATA when due. @throws StreamUsageError. */
  read(
    id: StreamId,
    maxBytes: number | undefined,
    now: number,
    srtt: number | undefined,
  ): { data: Uint8Array | undefined; fin: boolean } {
    const stream = this.require(id);
    if (!stream.recv) throw new StreamUsageError(`stream ${id} is send-only`);
    const result = stream.recv.read(maxBytes, now, srtt, (this.options.pressure ?? NO_PRESSURE).high);
    if (result.data) this.consumeConnection(result.data.length, now, srtt);
    if (stream.recv.hasWork) this.markSendable(id);
    this.collect(stream);
    return result;
  }

  /** Abandons our sending side (RESET_STREAM). No-op when already reset or finished and acknowledged. */
  reset(id: StreamId, errorCode: number): void {
    const stream = this.streams.get(id);
    if (stream?.send?.reset(errorCode)) this.markSendable(id);
  }

  /** Asks the peer to stop sending (STOP_SENDING) and discards incoming data. */
  stopSending(id: StreamId, errorCode: number, now: number): void {
    const stream = this.streams.get(id);
    if (!stream?.recv) return;
    const released = stream.recv.stopSending(errorCode);
    this.consumeConnection(released, now, undefined);
    this.markSendable(id);
    this.collect(stream);
  }

  // ---- sending ----

  /** Connection credit left for new stream bytes. */
  get connectionAvailable(): number {
    return this.connectionCredit.available(this.connectionSent);
  }

  private hasWork(stream: Stream): boolean {
    return (stream.send?.hasWork(this.connectionAvailable) ?? false) || (stream.recv?.hasWork ?? false);
  }

  /** Puts a stream at the tail of the schedule if it has something to send. */
  markSendable(id: StreamId): void {
    const stream = this.streams.get(id);
    if (!stream || stream.queued) return;
    if (this.hasWork(stream)) {
      stream.queued = true;
      this.queue.push(stream);
    } else if (stream.send?.isConnectionBlocked(this.connectionAvailable)) {
      this.connectionBlocked.add(stream);
    }
  }

  /** Some stream may have work queued (entries can be stale; nextSendable filters them). */
  get hasQueuedWork(): boolean {
    return this.queueHead < this.queue.length;
  }

  /** The next stream with work, round-robin. Call markSendable(stream.id) after serving it. */
  nextSendable(): Stream | undefined {
    while (this.queueHead < this.queue.length) {
      const stream = this.queue[this.queueHead++];
      if (this.queueHead >= 64 && this.queueHead * 2 >= this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      stream.queued = false;
      if (this.streams.get(stream.id) !== stream) continue;
      if (this.hasWork(stream)) return stream;
      if (stream.send?.isConnectionBlocked(this.connectionAvailable)) this.connectionBlocked.add(stream);
    }
    return undefined;
  }

  /** Offset of the stream's next chunk (to size the STREAM frame header). */
  peekStreamOffset(stream: Stream): number | undefined {
    return stream.send?.peekOffset(this.connectionAvailable);
  }

  /** Takes the stream's next chunk (view or copy), counting new bytes against connection credit. */
  nextStreamChunk(stream: Stream, maxLength: number): SendChunk | undefined {
    const chunk = stream.send?.nextChunk(maxLength, this.connectionAvailable);
    if (chunk && !chunk.isRetransmission) this.connectionSent += chunk.data.length;
    return chunk;
  }

  /** Copies the stream's next chunk into out, counting new bytes against connection credit. */
  emitStreamData(
    stream: Stream,
    out: Uint8Array,
    outOffset: number,
    maxLength: number,
  ): ChunkPlan | undefined {
    const plan = stream.send?.emitInto(out, outOffset, maxLength, this.connectionAvailable);
    if (plan && !plan.isRetransmission) this.connectionSent += plan.length;
    return plan;
  }

  /** Pending RESET_STREAM for a stream (convenience for the packetizer). */
  takeReset(stream: Stream): PendingReset | undefined {
    return stream.send?.takeReset();
  }
}

export type { PendingReset };
export { RecvSide, SendSide, Stream };
