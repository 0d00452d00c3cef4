/**
 * Application checkpoints (docs/protocol.md §15.7, docs/persistence.md §4): CHECKPOINT asks the
 * receiving application to confirm once it durably holds a stream's bytes up to an offset;
 * CHECKPOINT_ACK is that confirmation. The transport only carries and checks them; what
 * "durably" means is the applications' business.
 */
import { TransportError, WireError } from '../../wire/errors.js';
import type { CheckpointFrame } from '../../wire/frames.js';
import type { StreamMap } from '../streams/stream-map.js';
import type { ConnectionEvent, StreamId } from '../types.js';

/**
 * A received CHECKPOINT / CHECKPOINT_ACK: the event for the application, after the checks.
 * @throws StreamError / WireError on a frame for the wrong side of a stream, or an ACK beyond
 *   what was written.
 */
export function onCheckpointFrame(
  frame: CheckpointFrame,
  streams: StreamMap,
  opened: (ids: StreamId[]) => void,
): ConnectionEvent {
  // CHECKPOINT concerns our receiving side; CHECKPOINT_ACK our sending side (opened if need be).
  const request = frame.type === 'checkpoint';
  const found = streams.getOrOpenRemote(frame.streamId, request ? 'recv' : 'send');
  opened(found.opened);
  const stream = found.stream;
  if (stream && (request ? !stream.recv : !stream.send))
    throw new WireError(
      `${request ? 'CHECKPOINT on a send-only' : 'CHECKPOINT_ACK on a receive-only'} stream`,
      TransportError.STREAM_STATE_ERROR,
    );
  if (request) return { type: 'checkpoint', streamId: frame.streamId, offset: frame.offset };
  const written = stream?.send?.buffer.writtenOffset;
  if (written !== undefined && frame.offset > written)
    throw new WireError(
      `CHECKPOINT_ACK ${frame.offset} beyond the ${written} bytes written`,
      TransportError.PROTOCOL_VIOLATION,
    );
  return { type: 'checkpoint-confirmed', streamId: frame.streamId, offset: frame.offset };
}

/** The CHECKPOINT for everything written to stream `id` so far, or undefined when it cannot send. */
export function checkpointRequest(streams: StreamMap, id: StreamId): CheckpointFrame | undefined {
  const send = streams.get(id)?.send;
  if (!send || send.state === 'ResetSent' || send.state === 'ResetRecvd') return undefined;
  return { type: 'checkpoint', streamId: id, offset: send.buffer.writtenOffset };
}

/**
 * The CHECKPOINT_ACK confirming `offset` on stream `id`, or undefined when that is not an offset
 * the application has read (beyond it, or not a stream we receive on). A stream already
 * forgotten was read to its end: any offset is accepted.
 */
export function checkpointConfirmation(
  streams: StreamMap,
  id: StreamId,
  offset: number,
): CheckpointFrame | undefined {
  if (!Number.isSafeInteger(offset) || offset < 0 || !streams.wasOpened(id)) return undefined;
  const stream = streams.get(id);
  if (!stream && streams.isLocal(id) && (id & 2) !== 0) return undefined; // our send-only stream
  if (stream && (!stream.recv || offset > stream.recv.buffer.readOffset)) return undefined;
  return { type: 'checkpoint_ack', streamId: id, offset };
}
