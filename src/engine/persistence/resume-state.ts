/**
 * Stream checkpoints exchanged right after a resumption (RESUME_STATE, docs/protocol.md §15.5):
 * each side tells the other, per stream it still holds, how many bytes it received in order
 * (and whether the FIN or a reset arrived), plus how many of the other side's streams it has
 * seen. The other side then treats everything below each checkpoint as acknowledged and
 * retransmits exactly the rest; a stream it is not told about was either fully received and
 * forgotten (seen) or never seen at all (everything is resent, as it already is lost).
 */

import { TransportError, WireError } from '../../wire/errors.js';
import { checkpointEntrySize, resumeStateHeaderSize } from '../../wire/frame-codec.js';
import type { ResumeStateFrame, StreamCheckpoint } from '../../wire/frames.js';
import type { StreamMap } from '../streams/stream-map.js';
import type { StreamId } from '../types.js';

/** Our receive checkpoints, split into frames of at most `maxFrameSize` bytes. */
export function buildResumeState(streams: StreamMap, maxFrameSize: number): ResumeStateFrame[] {
  const entries: StreamCheckpoint[] = [];
  for (const stream of streams.values()) {
    const recv = stream.recv;
    if (!recv) continue;
    const reset = recv.state === 'ResetRecvd' || recv.state === 'ResetRead';
    entries.push({
      streamId: stream.id,
      offset: reset ? 0 : recv.buffer.contiguousOffset,
      fin: !reset && recv.buffer.isComplete,
      reset,
    });
  }
  const bidiSeen = streams.remoteStreamsSeen(true);
  const uniSeen = streams.remoteStreamsSeen(false);
  const total = entries.length;
  const frames: ResumeStateFrame[] = [];
  let current: ResumeStateFrame = { type: 'resume_state', bidiSeen, uniSeen, total, entries: [] };
  let size = resumeStateHeaderSize(current) + 2; // room for the count varint to grow
  for (const entry of entries) {
    const entrySize = checkpointEntrySize(entry);
    if (current.entries.length > 0 && size + entrySize > maxFrameSize) {
      frames.push(current);
      current = { type: 'resume_state', bidiSeen, uniSeen, total, entries: [] };
      size = resumeStateHeaderSize(current) + 2;
    }
    current.entries.push(entry);
    size += entrySize;
  }
  frames.push(current);
  return frames;
}

export interface CheckpointEffects {
  finished(id: StreamId): void;
  writable(id: StreamId): void;
}

/**
 * Collects the peer's RESUME_STATE frames (they may arrive split, reordered or repeated) and
 * applies each checkpoint to our sending sides; `complete` once all `total` entries arrived.
 */
export class PeerResumeState {
  readonly #applied = new Set<StreamId>();
  #total: number | undefined;
  #bidiSeen = 0;
  #uniSeen = 0;
  complete = false;

  /** @throws WireError PROTOCOL_VIOLATION on a checkpoint beyond what we sent, or inconsistent totals. */
  onFrame(frame: ResumeStateFrame, streams: StreamMap, effects: CheckpointEffects): void {
    if (this.complete) return;
    if (this.#total !== undefined && frame.total !== this.#total)
      throw new WireError('RESUME_STATE totals disagree', TransportError.PROTOCOL_VIOLATION);
    this.#total = frame.total;
    this.#bidiSeen = frame.bidiSeen;
    this.#uniSeen = frame.uniSeen;
    for (const entry of frame.entries) {
      if (this.#applied.has(entry.streamId)) continue;
      this.#applied.add(entry.streamId);
      applyCheckpoint(entry, streams, effects);
    }
    if (this.#applied.size > this.#total)
      throw new WireError(
        'RESUME_STATE lists more streams than its total',
        TransportError.PROTOCOL_VIOLATION,
      );
    if (this.#applied.size === this.#total) this.#finish(streams, effects);
  }

  /** Streams the peer did not list: forgotten (so fully received) if it had seen them. */
  #finish(streams: StreamMap, effects: CheckpointEffects): void {
    this.complete = true;
    for (const stream of [...streams.values()]) {
      const send = stream.send;
      if (!send || this.#applied.has(stream.id)) continue;
      if (streams.isLocal(stream.id)) {
        const seen = stream.bidirectional ? this.#bidiSeen : this.#uniSeen;
        if (Math.floor(stream.id / 4) >= seen) continue; // never reached the peer: all of it is resent
      }
      if (send.state === 'ResetSent') {
        streams.onResetAcked(stream.id);
        continue;
      }
      const sent = send.buffer.highestSentOffset;
      const fin = send.buffer.isFinished && sent === send.buffer.writtenOffset;
      report(streams.onStreamDataAcked(stream.id, 0, sent, fin), stream.id, effects);
    }
  }
}

function applyCheckpoint(entry: StreamCheckpoint, streams: StreamMap, effects: CheckpointEffects): void {
  const stream = streams.get(entry.streamId);
  const send = stream?.send;
  if (!stream || !send) {
    // A stream we no longer hold (all acknowledged) or never had a sending side for: nothing to
    // resend. A checkpoint for a stream of ours that never existed is a protocol error.
    if (!streams.wasOpened(entry.streamId) && streams.isLocal(entry.streamId))
      throw new WireError(
        `checkpoint for unopened stream ${entry.streamId}`,
        TransportError.PROTOCOL_VIOLATION,
      );
    return;
  }
  if (entry.reset) {
    if (send.state === 'ResetSent') streams.onResetAcked(stream.id);
    return;
  }
  if (send.state === 'ResetSent' || send.state === 'ResetRecvd') return;
  if (entry.offset > send.buffer.highestSentOffset)
    throw new WireError(
      `checkpoint ${entry.offset} on stream ${entry.streamId} beyond the ${send.buffer.highestSentOffset} bytes sent`,
      TransportError.PROTOCOL_VIOLATION,
    );
  report(streams.onStreamDataAcked(stream.id, 0, entry.offset, entry.fin), stream.id, effects);
}

function report(
  result: { finished: boolean; writable: boolean },
  id: StreamId,
  effects: CheckpointEffects,
): void {
  if (result.finished) effects.finished(id);
  if (result.writable) effects.writable(id);
}
