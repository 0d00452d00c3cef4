/**
 * What an authenticated packet's frames do to the session's state: each frame goes to the
 * owner of what it changes (streams, CIDs, paths, persistence, the multipath policy), and the
 * events it raises go to the outbox. Frames that change the session's own lifecycle (CLOSE,
 * HANDSHAKE_DONE) stay with the connection.
 */
import type { Path } from '../../paths/path.js';
import { TransportError, WireError } from '../../wire/errors.js';
import type {
  AckFrame,
  CheckpointFrame,
  Frame,
  NewConnectionIdFrame,
  NewTicketFrame,
  StreamFrame,
} from '../../wire/frames.js';
import { onCheckpointFrame } from '../persistence/app-checkpoints.js';
import { ticketFromFrame } from '../persistence/early-data.js';
import type { SessionPersistence } from '../persistence/session-persistence.js';
import type { StreamMap } from '../streams/stream-map.js';
import type { SessionRole, StreamId, TransportConfig } from '../types.js';
import type { CidState } from './cid-state.js';
import type { Liveness } from './liveness.js';
import type { MultipathSession } from './multipath.js';
import type { Outbox } from './outbox.js';
import type { PacketBuilder } from './packet-builder.js';
import type { PathManager } from './path-manager.js';
import type { SentInfo, SentRecord, SentRecords } from './sent-records.js';
import type { SessionView } from './session-view.js';

export interface FrameHandlerOwners {
  role: SessionRole;
  config: TransportConfig;
  session: SessionView;
  /** An ACK (client) proves the server has our keys: the handshake is confirmed. */
  confirmHandshake(): void;
  streams: StreamMap;
  cids: CidState;
  paths: PathManager;
  multipath: MultipathSession<Path<SentInfo>, SentRecord>;
  persist: SessionPersistence;
  builder: PacketBuilder;
  sent: SentRecords;
  liveness: Liveness;
  outbox: Outbox;
}

export class FrameHandler {
  constructor(private readonly o: FrameHandlerOwners) {}

  /**
   * Applies one frame of an authenticated packet (`via`: the path of the address pair it came
   * over; `dcid`: the packet's destination CID, one of ours).
   */
  onFrame(
    frame: Exclude<Frame, { type: 'close' | 'handshake_done' }>,
    via: Path<SentInfo> | undefined,
    now: number,
    dcid: Uint8Array,
  ): void {
    const { streams, outbox } = this.o;
    switch (frame.type) {
      case 'padding':
      case 'ping':
        return;
      case 'ack':
        return this.onAck(frame, now);
      case 'stream':
        this.o.liveness.lastStreamDataAt = now;
        this.deliverStream(frame, now);
        return;
      case 'reset_stream': {
        const { opened, reset } = streams.onResetStream(
          frame.streamId,
          frame.errorCode,
          frame.finalSize,
          now,
        );
        this.emitOpened(opened);
        if (reset) {
          outbox.emit({ type: 'stream-reset', streamId: frame.streamId, errorCode: frame.errorCode });
          streams.resetDelivered(frame.streamId);
        }
        return;
      }
      case 'stop_sending': {
        const { opened, stopped } = streams.onStopSending(frame.streamId, frame.errorCode);
        this.emitOpened(opened);
        if (stopped) {
          outbox.emit({
            type: 'stream-stop-sending',
            streamId: frame.streamId,
            errorCode: frame.errorCode,
          });
          // The reset freed this stream's share of the session's send budget for the others.
          for (const streamId of streams.takeWritable()) outbox.emit({ type: 'stream-writable', streamId });
        }
        return;
      }
      case 'max_data':
        streams.onMaxData(frame.maximum);
        return;
      case 'max_stream_data':
        this.emitOpened(streams.onMaxStreamData(frame.streamId, frame.maximum).opened);
        return;
      case 'max_streams':
        if (streams.peerMaxStreams(frame.bidirectional, frame.maximum)) {
          outbox.emit({ type: 'streams-available', bidirectional: frame.bidirectional });
        }
        return;
      case 'data_blocked':
      case 'stream_data_blocked':
      case 'streams_blocked':
        return;
      case 'new_token':
        if (this.o.role === 'server')
          throw new WireError('NEW_TOKEN from client', TransportError.PROTOCOL_VIOLATION);
        return;
      case 'new_connection_id':
        return this.onNewConnectionId(frame, now);
      case 'retire_connection_id':
        this.o.cids.onRetire(frame, dcid);
        return;
      case 'path_challenge':
        this.o.paths.onPathChallenge(frame.data, via, now);
        return;
      case 'path_response':
        this.o.paths.onPathResponse(frame.data, now);
        return;
      case 'add_address':
      case 'remove_address':
        this.o.paths.onAddressFrame(frame, now);
        return;
      case 'path_abandon':
        this.o.paths.onPathAbandon(frame, now);
        return;
      case 'resumption_id':
        this.o.persist.onResumptionId(frame);
        return;
      case 'resume_done':
        this.o.persist.onResumeDone();
        return;
      case 'resume_state':
        this.o.persist.onResumeState(frame, {
          finished: (streamId) => outbox.emit({ type: 'stream-finished', streamId }),
          writable: (streamId) => outbox.emit({ type: 'stream-writable', streamId }),
        });
        return;
      case 'suspended':
        // Clients handle it before any frame (handleShort); only servers send it.
        throw new WireError('SUSPENDED from client', TransportError.PROTOCOL_VIOLATION);
      case 'checkpoint':
      case 'checkpoint_ack':
      case 'new_ticket':
        return this.onPersistenceFrame(frame);
      case 'datagram': {
        // The limit counts the whole frame; type byte and data alone are its smallest encoding.
        const max = this.o.config.maxDatagramFrameSize;
        if (max === 0 || 1 + frame.data.length > max) {
          throw new WireError('unexpected DATAGRAM frame', TransportError.PROTOCOL_VIOLATION);
        }
        if (!this.o.multipath.acceptDatagram(frame.sequence)) {
          outbox.drop('duplicate-datagram');
          return;
        }
        outbox.emit({ type: 'datagram', data: Uint8Array.prototype.slice.call(frame.data) });
        return;
      }
    }
  }

  /** STREAM data to its stream (also the accepted early data, its streams flagged early). */
  deliverStream(frame: StreamFrame, now: number, early = false): void {
    const { opened, readable } = this.o.streams.onStreamFrame(
      frame.streamId,
      frame.offset,
      frame.data,
      frame.fin,
      now,
    );
    this.emitOpened(opened, early);
    if (readable) this.o.outbox.emit({ type: 'stream-readable', streamId: frame.streamId });
  }

  private emitOpened(ids: StreamId[], early = false): void {
    for (const id of ids)
      this.o.outbox.emit(
        early ? { type: 'stream-opened', streamId: id, early } : { type: 'stream-opened', streamId: id },
      );
  }

  private onNewConnectionId(frame: NewConnectionIdFrame, now: number): void {
    if (this.o.paths.isRemoved(frame.pathId)) return;
    if (this.o.cids.onNewConnectionId(frame)) this.o.paths.onPeerCid(frame.pathId, frame.connectionId, now);
    // retire_prior_to may have retired the CID the path of that id sends with.
    if (frame.retirePriorTo > 0) this.o.paths.onPeerCidsRetired(frame.pathId);
  }

  private onAck(frame: AckFrame, now: number): void {
    const { paths, liveness, builder, session } = this.o;
    const path = paths.byId(frame.pathId);
    if (!path) {
      if (paths.isRemoved(frame.pathId)) return; // late ACK for an abandoned path
      throw new WireError('ACK for an unknown path', TransportError.PROTOCOL_VIOLATION);
    }
    const sizeBefore = path.pmtu.size;
    const result = path.loss.onAckReceived(
      frame.ranges,
      frame.ackDelayMicros / 1000,
      now,
      session.handshakeConfirmed,
    );
    if (!result) throw new WireError('ACK of a packet never sent', TransportError.PROTOCOL_VIOLATION);
    if (result.acked.length > 0) {
      liveness.onAcked(now, paths.active.pto());
      paths.onAcked(path, result.acked[result.acked.length - 1].timeSent, now);
    }
    if (result.acked.length > 0 && this.o.role === 'client') this.o.confirmHandshake();
    // Send buffers follow the paths' bandwidth-delay product (an ACK is when it changes).
    if (
      result.acked.length > 0 &&
      this.o.streams.sendBudget.autoTune(this.o.multipath.bandwidthDelayProduct(now))
    )
      for (const streamId of this.o.streams.takeWritable())
        this.o.outbox.emit({ type: 'stream-writable', streamId });
    const keys = builder.keys;
    for (const packet of result.acked) {
      path.onPacketAcked(packet, now);
      if (keys && packet.info.keyGeneration === builder.keyGeneration) keys.confirmCurrentPhase();
      if (this.o.sent.onAcked(packet.info.records)) liveness.onStreamProgress();
    }
    for (const packet of result.lateAcked)
      if (this.o.sent.onLateAcked(packet.info.records)) liveness.onStreamProgress();
    path.onLateAcked(result.lateAcked);
    if (result.lost.length > 0) this.o.sent.onPacketsLost(path, result.lost, now);
    if (result.acked.length > 0) path.onAckProcessed(now);
    // After the losses: a black hole shows as larger packets lost while a base-size one arrived.
    path.onAckedForPmtu(result.acked, now);
    if (path.pmtu.size !== sizeBefore) this.o.outbox.emit({ type: 'path-updated', path: path.info() });
    if (result.persistentCongestion) {
      path.onPersistentCongestion();
      this.o.outbox.emit({ type: 'congestion', path: path.info(), reason: 'persistent-congestion' });
    }
  }

  /** Application checkpoints and tickets (docs/protocol.md §15.7–15.8). */
  private onPersistenceFrame(frame: CheckpointFrame | NewTicketFrame): void {
    const { outbox, session } = this.o;
    if (frame.type !== 'new_ticket') {
      outbox.emit(onCheckpointFrame(frame, this.o.streams, (ids) => this.emitOpened(ids)));
      return;
    }
    if (this.o.role === 'server')
      throw new WireError('NEW_TICKET from client', TransportError.PROTOCOL_VIOLATION);
    if (session.peerParams && session.remoteKey)
      outbox.emit({
        type: 'ticket',
        ticket: ticketFromFrame(frame, session.peerParams, session.remoteKey),
      });
  }
}
