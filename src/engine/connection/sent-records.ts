/**
 * What each sent packet carried, so that an ACK or a loss can be applied to the state the
 * frames came from.
 */
import type { SentPacket } from '../../paths/loss-detection.js';
import type { Frame } from '../../wire/frames.js';
import type { StreamId } from '../types.js';

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
  | { kind: 'ping' };

export interface SentInfo {
  records: SentRecord[];
  /** Key generation (count of updates so far), not the 1-bit phase, so old packets can't confirm a new phase. */
  keyGeneration: number;
}

export type Sent = SentPacket<SentInfo>;
