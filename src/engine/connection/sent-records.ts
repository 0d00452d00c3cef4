/**
 * What each sent packet carried, so that an ACK or a loss can be applied to the state the
 * frames came from.
 */
import type { SentPacket } from '../../paths/loss-detection.js';
import type { Path } from '../../paths/path.js';
import type { Frame } from '../../wire/frames.js';
import type { StreamMap } from '../streams/stream-map.js';
import type { StreamId } from '../types.js';
import type { CidState } from './cid-state.js';
import type { Outbox } from './outbox.js';

export type SentRecord =
  | {
      kind: 'stream';
      id: StreamId;
      offset: number;
      length: number;
      fin: boolean;
      /** A redundant copy (policy 'redundant'): its loss is not retransmitted, the original's is. */
      copy?: boolean;
    }
  | { kind: 'control'; frame: Frame }
  | { kind: 'ack'; pathId: number; largest: number }
  | { kind: 'datagram' }
  | { kind: 'ping' }
  /** A PMTU probe of `size` bytes on path `pathId` (docs/protocol.md §11.6): never resent. */
  | { kind: 'pmtu-probe'; pathId: number; size: number };

export interface SentInfo {
  records: SentRecord[];
  /** Key generation (count of updates so far), not the 1-bit phase, so old packets can't confirm a new phase. */
  keyGeneration: number;
}

export type Sent = SentPacket<SentInfo>;

/** Where acknowledged ACK records and PMTU probes are reported: the path id's ACK tracker and PMTU search. */
interface AckSpaces {
  byId(pathId: number):
    | {
        acks: { onAckAcked(largest: number): void };
        pmtu: { onProbeAcked(size: number): void; onProbeLost(size: number): void };
      }
    | undefined;
}

/** Applies acknowledgements and losses of sent packets to the state their frames came from. */
export class SentRecords {
  /** STREAM frames sent and not yet acknowledged or declared lost. */
  private streamFramesInFlight = 0;

  constructor(
    private readonly streams: StreamMap,
    private readonly outbox: Outbox,
    private readonly cids: CidState,
    private readonly spaces: AckSpaces,
  ) {}

  /** Stream data is owed to the peer: in flight, lost and awaiting retransmission, or sendable (the stall watchdog's question). */
  get streamDataOwed(): boolean {
    return this.streamFramesInFlight > 0 || this.streams.hasQueuedWork;
  }

  onSent(records: readonly SentRecord[]): void {
    for (const record of records) if (record.kind === 'stream') this.streamFramesInFlight++;
  }

  /** A packet's records were acknowledged; true if stream data made progress. */
  onAcked(records: readonly SentRecord[]): boolean {
    let progress = false;
    for (const record of records) if (this.onRecordAcked(record)) progress = true;
    // Room freed in the session's send budget lets other refused writers go on.
    if (progress)
      for (const streamId of this.streams.takeWritable())
        this.outbox.emit({ type: 'stream-writable', streamId });
    return progress;
  }

  /**
   * A packet declared lost arrived after all (loss detection's lateAcked): what it carried is
   * acknowledged, so data not yet resent is not resent. Its frames no longer count as in flight.
   */
  onLateAcked(records: readonly SentRecord[]): boolean {
    let progress = false;
    for (const record of records) if (this.onRecordAcked(record, false)) progress = true;
    return progress;
  }

  private onRecordAcked(record: SentRecord, inFlight = true): boolean {
    switch (record.kind) {
      case 'stream': {
        if (inFlight) this.streamFramesInFlight = Math.max(0, this.streamFramesInFlight - 1);
        const { finished, writable } = this.streams.onStreamDataAcked(
          record.id,
          record.offset,
          record.length,
          record.fin,
        );
        if (finished) this.outbox.emit({ type: 'stream-finished', streamId: record.id });
        if (writable) this.outbox.emit({ type: 'stream-writable', streamId: record.id });
        return true;
      }
      case 'ack':
        this.spaces.byId(record.pathId)?.acks.onAckAcked(record.largest);
        return false;
      case 'pmtu-probe':
        this.spaces.byId(record.pathId)?.pmtu.onProbeAcked(record.size);
        return false;
      case 'control':
        if (record.frame.type === 'reset_stream') this.streams.onResetAcked(record.frame.streamId);
        return false;
      default:
        return false;
    }
  }

  /** Packets declared lost on `path`: counted, their frames back in line, congestion control told. */
  onPacketsLost(path: Path<SentInfo>, lost: readonly Sent[], now: number): void {
    for (const packet of lost) {
      this.outbox.stats.packetsLost++;
      this.onLost(packet.info.records);
    }
    // Reported only when a new congestion event cut the window (not within one recovery period).
    if (path.onPacketsLost(lost, now))
      this.outbox.emit({ type: 'congestion', path: path.info(), reason: 'loss' });
  }

  /** Puts what a lost (or abandoned) packet carried back in line, if it still matters. */
  onLost(records: readonly SentRecord[]): void {
    for (const record of records) {
      switch (record.kind) {
        case 'stream':
          this.streamFramesInFlight = Math.max(0, this.streamFramesInFlight - 1);
          if (!record.copy)
            this.streams.onStreamDataLost(record.id, record.offset, record.length, record.fin);
          break;
        case 'control':
          this.requeueLostControl(record.frame);
          break;
        case 'pmtu-probe':
          this.spaces.byId(record.pathId)?.pmtu.onProbeLost(record.size);
          break;
        default:
          break; // ACKs, PINGs and datagrams are not retransmitted
      }
    }
  }

  /** Stream-level control frames are regenerated with current values by the stream map. */
  private requeueLostControl(frame: Frame): void {
    switch (frame.type) {
      case 'reset_stream':
        return this.streams.onResetLost(frame.streamId);
      case 'stop_sending':
        return this.streams.onStopSendingLost(frame.streamId);
      case 'max_stream_data':
        return this.streams.onMaxStreamDataLost(frame.streamId);
      case 'max_data':
        return this.streams.onMaxDataLost();
      case 'max_streams':
        return this.streams.onMaxStreamsLost(frame.bidirectional, frame.maximum);
      case 'data_blocked':
      case 'stream_data_blocked':
      case 'streams_blocked':
      case 'path_response':
        return; // advisory, or answered again when the peer asks again
      case 'new_connection_id':
        // Each path id has its own sequence space: (path id, sequence) names the CID.
        if (this.cids.isLive(frame.pathId, frame.sequence)) this.outbox.queueControl(frame);
        return;
      default:
        this.outbox.queueControl(frame);
    }
  }

  /** Resumption: what was in flight was handed to onLost; nothing counts as in flight now. */
  resetForResumption(): void {
    this.streamFramesInFlight = 0;
  }
}
