import { TransportError } from '../../wire/errors.js';
import type { StreamId } from '../types.js';
import { StreamError, StreamUsageError } from './errors.js';
import { ReceiveWindow, SendBudget, SendCredit, UNBOUNDED_SEND_BUDGET_LIMIT } from './flow-control.js';
import { ReceiveBuffer } from './receive-buffer.js';
import { type ChunkPlan, SendBuffer, type SendChunk } from './send-buffer.js';

/** RFC 9000 §3.1 sending-side states. */
export type SendState = 'Ready' | 'Send' | 'DataSent' | 'DataRecvd' | 'ResetSent' | 'ResetRecvd';
/** RFC 9000 §3.2 receiving-side states. */
export type RecvState = 'Recv' | 'SizeKnown' | 'DataRecvd' | 'DataRead' | 'ResetRecvd' | 'ResetRead';

export interface PendingReset {
  errorCode: number;
  finalSize: number;
}

/** The sending half of a stream: buffer, peer credit, state machine and pending control frames. */
export class SendSide {
  state: SendState = 'Ready';
  readonly buffer = new SendBuffer();
  readonly credit: SendCredit;
  /**
   * Bytes the application may hold unacknowledged before writes are refused: the configured
   * size, or more once the session's auto-tuning raised it (SendBudget.tunedStreamBuffer).
   */
  readonly bufferLimit: number;
  /** Set once we reset the stream (locally or in answer to STOP_SENDING). */
  resetCode: number | undefined;
  /** Error code of the peer's STOP_SENDING, if any. */
  stopSendingCode: number | undefined;
  private resetFinalSize = 0;
  private resetPending = false;
  /** A write was refused for lack of buffer space: report 'stream-writable' when space frees. */
  private writeBlocked = false;
  /** Stream credit limit last reported in STREAM_DATA_BLOCKED (-1: none). */
  private blockedReportedAt = -1;

  constructor(
    peerInitialWindow: number,
    bufferLimit: number,
    /** Shared by every stream of the session: what all send buffers may hold together. */
    private readonly budget = new SendBudget(UNBOUNDED_SEND_BUDGET_LIMIT),
  ) {
    this.credit = new SendCredit(peerInitialWindow);
    this.bufferLimit = bufferLimit;
  }

  /** The application can still write (not finished, not reset). */
  get isOpen(): boolean {
    return (this.state === 'Ready' || this.state === 'Send') && !this.buffer.isFinished;
  }

  get isTerminal(): boolean {
    return this.state === 'DataRecvd' || this.state === 'ResetRecvd';
  }

  /** Buffer space left for writes. */
  get writableBytes(): number {
    if (!this.isOpen) return 0;
    const limit = Math.max(this.bufferLimit, this.budget.tunedStreamBuffer);
    return Math.max(0, Math.min(limit - this.buffer.unackedBytes, this.budget.available));
  }

  /**
   * Queues as much of data as the send buffer allows (by reference); returns the count accepted.
   * @throws StreamUsageError after finish or reset.
   */
  write(data: Uint8Array): number {
    if (!this.isOpen) throw new StreamUsageError('stream is not writable');
    const accepted = Math.min(data.length, this.writableBytes);
    if (accepted < data.length) this.writeBlocked = true;
    if (accepted > 0) {
      this.buffer.write(accepted === data.length ? data : data.subarray(0, accepted));
      this.budget.hold(accepted);
    }
    return accepted;
  }

  /** Runs a change to the buffer and gives back to the session's budget what it released. */
  private releasing(change: () => void): void {
    const before = this.buffer.unackedBytes;
    change();
    this.budget.release(before - this.buffer.unackedBytes);
  }

  /** A write was refused and there is room again: true once, to report 'stream-writable'. */
  takeWritable(): boolean {
    if (!this.writeBlocked || this.writableBytes === 0) return false;
    this.writeBlocked = false;
    return true;
  }

  /** @throws StreamUsageError after reset. */
  finish(): void {
    if (this.state !== 'Ready' && this.state !== 'Send' && this.state !== 'DataSent') {
      throw new StreamUsageError('stream was reset');
    }
    this.buffer.finish();
  }

  /** Abandons the sending side with RESET_STREAM. Returns false when it was already reset or fully acknowledged. */
  reset(errorCode: number): boolean {
    if (this.state !== 'Ready' && this.state !== 'Send' && this.state !== 'DataSent') return false;
    this.state = 'ResetSent';
    this.resetCode = errorCode;
    // The final size is the flow-control credit consumed: everything ever sent.
    this.resetFinalSize = this.buffer.highestSentOffset;
    this.resetPending = true;
    this.releasing(() => this.buffer.discard());
    return true;
  }

  /** Peer's STOP_SENDING: we answer with RESET_STREAM carrying its code. Returns true the first time. */
  onStopSending(errorCode: number): boolean {
    if (this.stopSendingCode !== undefined) return false;
    this.stopSendingCode = errorCode;
    this.reset(errorCode);
    return true;
  }

  /** Peer's MAX_STREAM_DATA; returns true when the credit grew. */
  onMaxStreamData(maximum: number): boolean {
    return this.credit.raise(maximum);
  }

  /** Absolute offset up to which new data may go, given connection credit left. */
  flowLimit(connectionAvailable: number): number {
    return Math.min(this.credit.limit, this.buffer.highestSentOffset + connectionAvailable);
  }

  /** Anything to send now: RESET_STREAM, STREAM_DATA_BLOCKED, or stream data within credit. */
  hasWork(connectionAvailable: number): boolean {
    if (this.resetPending) return true;
    if (this.state === 'ResetSent' || this.state === 'ResetRecvd' || this.state === 'DataRecvd') return false;
    return this.buffer.hasSendable(this.flowLimit(connectionAvailable)) || this.hasBlockedToReport();
  }

  /** New data waits only for connection credit (the caller re-queues us on MAX_DATA). */
  isConnectionBlocked(connectionAvailable: number): boolean {
    return (
      this.state !== 'ResetSent' &&
      this.state !== 'ResetRecvd' &&
      this.buffer.isFlowBlocked(this.flowLimit(connectionAvailable)) &&
      !this.buffer.isFlowBlocked(this.credit.limit)
    );
  }

  private hasBlockedToReport(): boolean {
    return this.buffer.isFlowBlocked(this.credit.limit) && this.blockedReportedAt !== this.credit.limit;
  }

  /** Limit to report in STREAM_DATA_BLOCKED, once per limit. */
  takeBlocked(): number | undefined {
    if (this.state === 'ResetSent' || this.state === 'ResetRecvd' || !this.hasBlockedToReport())
      return undefined;
    this.blockedReportedAt = this.credit.limit;
    return this.credit.limit;
  }

  /** Offset of the next chunk (to size the frame header) or undefined when nothing is sendable. */
  peekOffset(connectionAvailable: number): number | undefined {
    if (this.state === 'ResetSent' || this.state === 'ResetRecvd') return undefined;
    return this.buffer.peekOffset(this.flowLimit(connectionAvailable));
  }

  nextChunk(maxLength: number, connectionAvailable: number): SendChunk | undefined {
    if (this.state === 'ResetSent' || this.state === 'ResetRecvd') return undefined;
    const chunk = this.buffer.nextChunk(maxLength, this.flowLimit(connectionAvailable));
    if (chunk) this.onChunkTaken(chunk.fin);
    return chunk;
  }

  emitInto(
    out: Uint8Array,
    outOffset: number,
    maxLength: number,
    connectionAvailable: number,
  ): ChunkPlan | undefined {
    if (this.state === 'ResetSent' || this.state === 'ResetRecvd') return undefined;
    const plan = this.buffer.emitInto(out, outOffset, maxLength, this.flowLimit(connectionAvailable));
    if (plan) this.onChunkTaken(plan.fin);
    return plan;
  }

  private onChunkTaken(fin: boolean): void {
    if (this.state === 'Ready') this.state = 'Send';
    if (fin && this.state === 'Send') this.state = 'DataSent';
  }

  /**
   * A STREAM frame was acknowledged. Returns whether the stream just became fully
   * acknowledged ('stream-finished') and whether buffer space freed after a refused write ('stream-writable').
   */
  onAcked(offset: number, length: number, fin: boolean): { finished: boolean; writable: boolean } {
    this.releasing(() => this.buffer.onAcked(offset, length, fin));
    let finished = false;
    if (this.state === 'DataSent' && this.buffer.isFullyAcked) {
      this.state = 'DataRecvd';
      finished = true;
    }
    return { finished, writable: this.takeWritable() };
  }

  onLost(offset: number, length: number, fin: boolean): void {
    this.buffer.onLost(offset, length, fin);
  }

  /** RESET_STREAM to send, once; call onResetLost to send it again. */
  takeReset(): PendingReset | undefined {
    if (!this.resetPending || this.resetCode === undefined) return undefined;
    this.resetPending = false;
    return { errorCode: this.resetCode, finalSize: this.resetFinalSize };
  }

  onResetAcked(): void {
    if (this.state === 'ResetSent') this.state = 'ResetRecvd';
  }

  /** Returns true when the RESET_STREAM must be sent again. */
  onResetLost(): boolean {
    if (this.state !== 'ResetSent') return false;
    this.resetPending = true;
    return true;
  }
}

/** The receiving half of a stream: reassembly, our window, state machine and pending control frames. */
export class RecvSide {
  state: RecvState = 'Recv';
  readonly buffer = new ReceiveBuffer();
  readonly window: ReceiveWindow;
  /** Peer's RESET_STREAM error code. */
  resetCode: number | undefined;
  /** Our STOP_SENDING error code (set by stopSending). */
  stopSendingCode: number | undefined;
  private stopSendingPending = false;
  private maxStreamDataPending = false;

  constructor(initialWindow: number, maxWindow: number) {
    this.window = new ReceiveWindow(initialWindow, maxWindow);
  }

  get isTerminal(): boolean {
    return this.state === 'DataRead' || this.state === 'ResetRead';
  }

  /** Anything to send: STOP_SENDING or MAX_STREAM_DATA. */
  get hasWork(): boolean {
    return this.stopSendingPending || (this.maxStreamDataPending && this.state === 'Recv');
  }

  /**
   * A STREAM frame. Returns the new bytes to count against connection flow control.
   * @throws StreamError FLOW_CONTROL_ERROR beyond our limit, FINAL_SIZE_ERROR on inconsistent sizes.
   */
  onData(offset: number, data: Uint8Array, fin: boolean): number {
    const end = offset + data.length;
    if (!this.window.onReceived(end)) {
      throw new StreamError(
        TransportError.FLOW_CONTROL_ERROR,
        `stream data up to ${end} beyond limit ${this.window.limit}`,
      );
    }
    if (this.state === 'ResetRecvd' || this.state === 'ResetRead') {
      // Data after a reset is dropped, but it must still agree with the final size.
      const final = this.buffer.finalSize;
      if (final !== undefined && (end > final || (fin && end !== final))) {
        throw new StreamError(
          TransportError.FINAL_SIZE_ERROR,
          `data up to ${end} beyond final size ${final}`,
        );
      }
      return 0;
    }
    const newBytes = this.buffer.insert(offset, data, fin);
    if (this.state === 'Recv' && this.buffer.finalSize !== undefined) this.state = 'SizeKnown';
    if (this.state === 'SizeKnown' && this.buffer.isComplete) this.state = 'DataRecvd';
    // After STOP_SENDING nobody reads: the stream ends once everything has arrived.
    if (this.state === 'DataRecvd' && this.stopSendingCode !== undefined) this.state = 'DataRead';
    return newBytes;
  }

  /**
   * Reads up to maxBytes in order. `fin` is true once every byte up to FIN was returned.
   * Without maxBytes, returns what is readable in one piece of the reassembly buffer (a
   * view, never a copy; read again for the rest). now/srtt drive window auto-tuning; a
   * MAX_STREAM_DATA is queued when due.
   */
  read(
    maxBytes: number | undefined,
    now: number,
    srtt: number | undefined,
    shrink = false,
  ): { data: Uint8Array | undefined; fin: boolean } {
    if (this.state === 'ResetRecvd' || this.state === 'ResetRead') return { data: undefined, fin: false };
    const data = maxBytes === undefined ? this.buffer.readChunk() : this.buffer.read(maxBytes);
    if (
      data &&
      this.window.onConsumed(data.length, now, srtt, shrink) !== undefined &&
      this.state === 'Recv'
    ) {
      this.maxStreamDataPending = true;
    }
    const fin = this.buffer.isFinished;
    if (fin && this.state !== 'DataRead') this.state = 'DataRead';
    return { data, fin };
  }

  /**
   * Peer's RESET_STREAM. Returns the new bytes for connection flow control and the
   * bytes that now count as consumed, or undefined if ignored (all data already received).
   * @throws StreamError FINAL_SIZE_ERROR / FLOW_CONTROL_ERROR.
   */
  onReset(errorCode: number, finalSize: number): { newBytes: number; consumed: number } | undefined {
    if (!this.window.onReceived(finalSize)) {
      throw new StreamError(
        TransportError.FLOW_CONTROL_ERROR,
        `final size ${finalSize} beyond limit ${this.window.limit}`,
      );
    }
    if (
      this.state === 'ResetRecvd' ||
      this.state === 'ResetRead' ||
      this.state === 'DataRecvd' ||
      this.state === 'DataRead'
    ) {
      const final = this.buffer.finalSize;
      if (final !== undefined && final !== finalSize) {
        throw new StreamError(
          TransportError.FINAL_SIZE_ERROR,
          `reset final size ${finalSize} but was ${final}`,
        );
      }
      return undefined;
    }
    const readBefore = this.buffer.readOffset;
    const newBytes = this.buffer.reset(finalSize);
    this.resetCode = errorCode;
    this.stopSendingPending = false;
    this.maxStreamDataPending = false;
    // Nobody is waiting for data we asked the peer to stop sending: no event to deliver.
    this.state = this.stopSendingCode !== undefined ? 'ResetRead' : 'ResetRecvd';
    return { newBytes, consumed: this.buffer.readOffset - readBefore };
  }

  /** The application has been told of the reset ('stream-reset' queued). */
  resetDelivered(): void {
    if (this.state === 'ResetRecvd') this.state = 'ResetRead';
  }

  /**
   * The application wants no more data: drop what is buffered and ask the peer to stop.
   * Returns the bytes that now count as consumed (for connection flow control).
   */
  stopSending(errorCode: number): number {
    if (this.stopSendingCode !== undefined || this.isTerminal || this.state === 'ResetRecvd') return 0;
    this.stopSendingCode = errorCode;
    if (this.state === 'Recv' || this.state === 'SizeKnown') this.stopSendingPending = true;
    this.maxStreamDataPending = false;
    const released = this.buffer.discard();
    if (this.buffer.isFinished) this.state = 'DataRead';
    return released;
  }

  takeStopSending(): number | undefined {
    if (!this.stopSendingPending || this.stopSendingCode === undefined) return undefined;
    this.stopSendingPending = false;
    return this.stopSendingCode;
  }

  /** Returns true when STOP_SENDING must be sent again. */
  onStopSendingLost(): boolean {
    if (this.stopSendingCode === undefined || (this.state !== 'Recv' && this.state !== 'SizeKnown'))
      return false;
    this.stopSendingPending = true;
    return true;
  }

  /** MAX_STREAM_DATA value to send, once; undefined when not due or pointless (final size known). */
  takeMaxStreamData(): number | undefined {
    if (!this.maxStreamDataPending) return undefined;
    this.maxStreamDataPending = false;
    return this.state === 'Recv' && this.stopSendingCode === undefined ? this.window.limit : undefined;
  }

  /** Returns true when MAX_STREAM_DATA must be sent again (with the current limit). */
  onMaxStreamDataLost(): boolean {
    if (this.state !== 'Recv' || this.stopSendingCode !== undefined) return false;
    this.maxStreamDataPending = true;
    return true;
  }
}

export class Stream {
  readonly id: StreamId;
  readonly bidirectional: boolean;
  /** Opened by us (as opposed to the peer). */
  readonly local: boolean;
  readonly send: SendSide | undefined;
  readonly recv: RecvSide | undefined;
  /** In the send schedule (owned by StreamMap). */
  queued = false;

  constructor(id: StreamId, local: boolean, send: SendSide | undefined, recv: RecvSide | undefined) {
    this.id = id;
    this.bidirectional = id % 4 < 2;
    this.local = local;
    this.send = send;
    this.recv = recv;
  }

  /** Both halves (those that exist) reached a terminal state: the stream can be forgotten. */
  get isTerminal(): boolean {
    return (
      (this.send === undefined || this.send.isTerminal) && (this.recv === undefined || this.recv.isTerminal)
    );
  }
}
