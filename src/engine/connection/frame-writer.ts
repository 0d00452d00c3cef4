/**
 * What goes into a packet besides its envelope: ACK frames, queued control frames and
 * datagrams, DATA_BLOCKED, and stream frames copied straight from the send buffers. The
 * packetizer in connection.ts decides which of them a packet carries.
 */
import type { Path } from '../../paths/path.js';
import { encodeFrame, frameSize } from '../../wire/frame-codec.js';
import { type AckFrame, type Frame, FrameType } from '../../wire/frames.js';
import type { Writer } from '../../wire/varint.js';
import type { StreamMap } from '../streams/stream-map.js';
import type { MultipathSession } from './multipath.js';
import type { Outbox } from './outbox.js';
import type { SentInfo, SentRecord } from './sent-records.js';

/** The ACK owed for a number space, if anything arrived in it since the last one. */
export function ackFrameFor(space: Path<SentInfo>, now: number): AckFrame | undefined {
  const ack = space.acks.buildAck(now);
  if (!ack) return undefined;
  return { type: 'ack', pathId: space.id, ackDelayMicros: ack.ackDelayMicros, ranges: ack.ranges };
}

/** An ACK frame went into a packet: its tracker knows, and the packet's records name it. */
export function ackSent(space: Path<SentInfo>, frame: AckFrame, records: SentRecord[]): void {
  space.acks.onAckSent();
  records.push({ kind: 'ack', pathId: space.id, largest: frame.ranges[0].largest });
}

export class FrameWriter {
  constructor(
    private readonly streams: StreamMap,
    private readonly outbox: Outbox,
    private readonly multipath: MultipathSession<Path<SentInfo>, SentRecord>,
  ) {}

  /**
   * Moves connection-level flow-control updates (MAX_DATA, MAX_STREAMS) that the
   * stream map has decided on into the control queue, so they go out even when
   * there is no stream data to carry them.
   */
  collectConnectionFrames(): void {
    const maxData = this.streams.takeMaxData();
    if (maxData !== undefined) this.outbox.queueControl({ type: 'max_data', maximum: maxData });
    for (const bidirectional of [true, false]) {
      const update = this.streams.maxStreamsUpdate(bidirectional);
      if (update !== undefined)
        this.outbox.queueControl({ type: 'max_streams', bidirectional, maximum: update });
    }
  }

  /** Queued control frames, in order, as long as they fit. */
  writeControlFrames(w: Writer, limit: number, records: SentRecord[]): boolean {
    let wrote = false;
    while (this.outbox.control.length > 0) {
      const frame = this.outbox.control[0];
      if (frameSize(frame) > limit - w.offset) break;
      this.outbox.control.shift();
      encodeFrame(w, frame);
      records.push({ kind: 'control', frame });
      wrote = true;
    }
    return wrote;
  }

  /** Queued datagrams that fit (`maxSize`: the largest the peer takes, for sequencing under 'redundant'). */
  writeDatagrams(w: Writer, limit: number, records: SentRecord[], maxSize: number): boolean {
    let wrote = false;
    while (this.outbox.datagrams.length > 0) {
      const data = this.outbox.datagrams[0];
      // Under 'redundant' a small datagram is sequenced (the receiver drops the second copy).
      const sequence = this.multipath.datagramSequence(data.length, maxSize);
      const frame: Frame =
        sequence === undefined ? { type: 'datagram', data } : { type: 'datagram', data, sequence };
      if (frameSize(frame) > limit - w.offset) break;
      this.outbox.takeDatagram();
      const start = w.offset;
      encodeFrame(w, frame);
      records.push({ kind: 'datagram' });
      if (sequence !== undefined)
        this.multipath.copyDatagram(w.buf.subarray(start, w.offset), { kind: 'datagram' });
      wrote = true;
    }
    return wrote;
  }

  /** DATA_BLOCKED is advisory: it rides along when a packet goes out anyway. */
  writeDataBlocked(w: Writer, limit: number, records: SentRecord[]): boolean {
    if (limit - w.offset < 10) return false;
    const blocked = this.streams.takeDataBlocked();
    if (blocked === undefined) return false;
    const frame: Frame = { type: 'data_blocked', limit: blocked };
    encodeFrame(w, frame);
    records.push({ kind: 'control', frame });
    return true;
  }

  /**
   * Stream frames, one per stream per pass (round-robin), copied straight from the
   * stream's send buffer into the packet. The length field is written as a fixed
   * 2-byte varint (allowed for non-type fields) so the header can be laid down before
   * the data size is known.
   */
  writeStreamFrames(w: Writer, limit: number, records: SentRecord[]): boolean {
    let wrote = false;
    const buf = w.buf;
    const served: number[] = [];
    for (;;) {
      if (limit - w.offset < 40) break;
      const stream = this.streams.nextSendable();
      if (!stream) break;
      served.push(stream.id);
      const id = stream.id;
      const reset = stream.send?.takeReset();
      if (reset) {
        const frame: Frame = {
          type: 'reset_stream',
          streamId: id,
          errorCode: reset.errorCode,
          finalSize: reset.finalSize,
        };
        encodeFrame(w, frame);
        records.push({ kind: 'control', frame });
        wrote = true;
      }
      const stop = stream.recv?.takeStopSending();
      if (stop !== undefined) {
        const frame: Frame = { type: 'stop_sending', streamId: id, errorCode: stop };
        encodeFrame(w, frame);
        records.push({ kind: 'control', frame });
        wrote = true;
      }
      const maxStreamData = stream.recv?.takeMaxStreamData();
      if (maxStreamData !== undefined) {
        const frame: Frame = { type: 'max_stream_data', streamId: id, maximum: maxStreamData };
        encodeFrame(w, frame);
        records.push({ kind: 'control', frame });
        wrote = true;
      }
      const blocked = stream.send?.takeBlocked();
      if (blocked !== undefined) {
        const frame: Frame = { type: 'stream_data_blocked', streamId: id, limit: blocked };
        encodeFrame(w, frame);
        records.push({ kind: 'control', frame });
        wrote = true;
      }
      const offset = this.streams.peekStreamOffset(stream);
      if (offset === undefined || limit - w.offset < 24) continue;
      const start = w.offset;
      w.u8(FrameType.STREAM | 0x04 | 0x02);
      w.varint(id);
      w.varint(offset);
      const lengthAt = w.offset;
      w.offset += 2;
      const room = Math.min(limit - w.offset, 16383);
      const plan = this.streams.emitStreamData(stream, buf, w.offset, room);
      if (!plan) {
        w.offset = start;
        continue;
      }
      if (plan.offset !== offset)
        throw new Error(`stream ${id}: planned offset ${offset}, emitted ${plan.offset}`);
      if (plan.isRetransmission) this.outbox.stats.streamBytesResent += plan.length;
      if (plan.fin) buf[start] |= 0x01;
      buf[lengthAt] = 0x40 | (plan.length >> 8);
      buf[lengthAt + 1] = plan.length & 0xff;
      w.offset += plan.length;
      records.push({ kind: 'stream', id, offset: plan.offset, length: plan.length, fin: plan.fin });
      // Under 'redundant' a small message (a frame that reaches the end of what was written) goes twice.
      if (
        this.multipath.copiesStreamFrame(
          plan.length,
          plan.offset + plan.length >= (stream.send?.buffer.writtenOffset ?? 0),
        )
      ) {
        this.multipath.copyFrame(buf.subarray(start, w.offset), {
          kind: 'stream',
          id,
          offset: plan.offset,
          length: plan.length,
          fin: plan.fin,
          copy: true,
        });
      }
      wrote = true;
    }
    for (const id of served) this.streams.markSendable(id);
    return wrote;
  }
}
