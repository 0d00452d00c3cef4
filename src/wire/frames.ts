/**
 * Frame types carried inside protected packets. Every integer is a QUIC-style
 * variable-length integer (RFC 9000 §16) unless noted; values are JS numbers
 * because every field is bounded below 2^53 (we reject larger on decode).
 *
 * The codec lives in ./frame-codec.ts; the byte layout is specified in docs/protocol.md.
 */
import type { SocketAddress } from '../net/address.js';

export const FrameType = {
  PADDING: 0x00,
  PING: 0x01,
  ACK: 0x02,
  RESET_STREAM: 0x04,
  STOP_SENDING: 0x05,
  NEW_TOKEN: 0x07,
  /** 0x08..0x0f: STREAM with OFF (0x04), LEN (0x02) and FIN (0x01) bits. */
  STREAM: 0x08,
  MAX_DATA: 0x10,
  MAX_STREAM_DATA: 0x11,
  MAX_STREAMS_BIDI: 0x12,
  MAX_STREAMS_UNI: 0x13,
  DATA_BLOCKED: 0x14,
  STREAM_DATA_BLOCKED: 0x15,
  STREAMS_BLOCKED_BIDI: 0x16,
  STREAMS_BLOCKED_UNI: 0x17,
  NEW_CONNECTION_ID: 0x18,
  RETIRE_CONNECTION_ID: 0x19,
  PATH_CHALLENGE: 0x1a,
  PATH_RESPONSE: 0x1b,
  /** Transport-level close (protocol errors). */
  CLOSE: 0x1c,
  /** Application-level close. */
  APPLICATION_CLOSE: 0x1d,
  HANDSHAKE_DONE: 0x1e,
  DATAGRAM: 0x30,
  /** DATAGRAM with an explicit length field. */
  DATAGRAM_LEN: 0x31,
  /** 0x40..0x4f: address (locator) frames — multihoming. */
  ADD_ADDRESS: 0x40,
  REMOVE_ADDRESS: 0x41,
  /** The sender gives up a path id for good (docs/protocol.md §11.3). */
  PATH_ABANDON: 0x42,
  /** 0x48..0x49: DATAGRAM with a sequence number, for duplicate suppression (`redundant` policy). */
  SEQUENCED_DATAGRAM: 0x48,
  SEQUENCED_DATAGRAM_LEN: 0x49,
  /** 0x50..0x5f: persistence frames (docs/protocol.md §15, docs/persistence.md). */
  RESUMPTION_ID: 0x50,
  RESUME_DONE: 0x51,
  RESUME_STATE: 0x52,
  SUSPENDED: 0x53,
  CHECKPOINT: 0x54,
  CHECKPOINT_ACK: 0x55,
  NEW_TICKET: 0x56,
} as const;

export interface PaddingFrame {
  type: 'padding';
  /** Number of zero bytes (including the first type byte). */
  length: number;
}
export interface PingFrame {
  type: 'ping';
}
export interface AckRange {
  /** Inclusive. */
  smallest: number;
  /** Inclusive. */
  largest: number;
}
export interface AckFrame {
  type: 'ack';
  /** Packet-number space being acknowledged (one per path; 0 for the first path). */
  pathId: number;
  /** Microseconds between receiving the largest packet and sending this ACK. */
  ackDelayMicros: number;
  /** Descending, non-overlapping, non-adjacent; ranges[0].largest is the largest acknowledged. */
  ranges: AckRange[];
}
export interface ResetStreamFrame {
  type: 'reset_stream';
  streamId: number;
  errorCode: number;
  finalSize: number;
}
export interface StopSendingFrame {
  type: 'stop_sending';
  streamId: number;
  errorCode: number;
}
export interface NewTokenFrame {
  type: 'new_token';
  token: Uint8Array;
}
export interface StreamFrame {
  type: 'stream';
  streamId: number;
  offset: number;
  data: Uint8Array;
  fin: boolean;
}
export interface MaxDataFrame {
  type: 'max_data';
  maximum: number;
}
export interface MaxStreamDataFrame {
  type: 'max_stream_data';
  streamId: number;
  maximum: number;
}
export interface MaxStreamsFrame {
  type: 'max_streams';
  bidirectional: boolean;
  maximum: number;
}
export interface DataBlockedFrame {
  type: 'data_blocked';
  limit: number;
}
export interface StreamDataBlockedFrame {
  type: 'stream_data_blocked';
  streamId: number;
  limit: number;
}
export interface StreamsBlockedFrame {
  type: 'streams_blocked';
  bidirectional: boolean;
  limit: number;
}
export interface NewConnectionIdFrame {
  type: 'new_connection_id';
  pathId: number;
  sequence: number;
  retirePriorTo: number;
  connectionId: Uint8Array;
  /** 16 bytes. */
  statelessResetToken: Uint8Array;
}
export interface RetireConnectionIdFrame {
  type: 'retire_connection_id';
  pathId: number;
  sequence: number;
}
export interface PathChallengeFrame {
  type: 'path_challenge';
  /** 8 bytes. */
  data: Uint8Array;
}
export interface PathResponseFrame {
  type: 'path_response';
  /** 8 bytes. */
  data: Uint8Array;
}
/**
 * ADD_ADDRESS / REMOVE_ADDRESS: the sender can (no longer) be reached at `address`.
 * `sequence` counts the sender's address updates; a receiver ignores an update for an
 * address older than the last one it applied for that address (reordering, retransmission).
 */
export interface AddressFrame {
  type: 'add_address' | 'remove_address';
  sequence: number;
  address: SocketAddress;
  /**
   * ADD_ADDRESS only (its Flags byte, ADDRESS_FLAG_BACKUP): paths over this address are backups,
   * used only while no other path works (protocol.md §11.2). Absent when not set.
   */
  backup?: boolean;
}
/** ADD_ADDRESS Flags: the address is a backup (as MPTCP's backup bit). Other bits are ignored. */
export const ADDRESS_FLAG_BACKUP = 0x01;
/**
 * Server → client: a single-use identifier the client may present in a RESUME packet, with
 * the two tokens that authenticate the server's stateless refusals of it (state lost, expired).
 */
export interface ResumptionIdFrame {
  type: 'resumption_id';
  sequence: number;
  /** 16 bytes. */
  resumptionId: Uint8Array;
  /** 16 bytes each. */
  lostToken: Uint8Array;
  expiredToken: Uint8Array;
}
/** Server → client: the resumption is confirmed (the client commits its resumption secret). */
export interface ResumeDoneFrame {
  type: 'resume_done';
}
/** One stream's receive checkpoint in RESUME_STATE. */
export interface StreamCheckpoint {
  streamId: number;
  /** Bytes received in order (every byte below it). */
  offset: number;
  /** Every byte and the FIN were received. */
  fin: boolean;
  /** The peer's RESET_STREAM was received. */
  reset: boolean;
}
/**
 * After a resumption, each side's receive checkpoints: what it holds, so the other side
 * retransmits exactly what is missing. `total` entries are spread over one or more frames.
 */
export interface ResumeStateFrame {
  type: 'resume_state';
  /** Streams of each type opened by the frame's receiver that its sender has seen. */
  bidiSeen: number;
  uniSeen: number;
  total: number;
  entries: StreamCheckpoint[];
}
/** The sender is suspended: the receiver should start (or retry) a resumption at once. */
export interface SuspendedFrame {
  type: 'suspended';
}
/** Application checkpoint on a stream: confirm once every byte below `offset` is durably stored. */
export interface CheckpointFrame {
  type: 'checkpoint' | 'checkpoint_ack';
  streamId: number;
  offset: number;
}
/** Server → client: a ticket for 0-RTT data in a later session's first flight. */
export interface NewTicketFrame {
  type: 'new_ticket';
  /** Milliseconds the ticket stays valid. */
  lifetime: number;
  /** Bytes of early data the server will accept with it. */
  maxEarlyData: number;
  ticket: Uint8Array;
}
/** Why a path id was given up (PATH_ABANDON's error code; its own small code space, §11.3). */
export const PathAbandonCode = {
  /** A standby or leftover path nobody uses any more. */
  UNUSED: 0x0,
  /** The pair never answered a PATH_CHALLENGE. */
  VALIDATION_FAILED: 0x1,
  /** The path stopped answering (probe timeouts) and the peer no longer uses it either. */
  UNRESPONSIVE: 0x2,
  /** One of its addresses is gone (local address removed, or REMOVE_ADDRESS from the peer). */
  ADDRESS_GONE: 0x3,
} as const;

/**
 * PATH_ABANDON: the sender will never again send in, or accept, the number space of `pathId`;
 * it has retired the receiver's CIDs for it. The receiver stops using the path id at once.
 */
export interface PathAbandonFrame {
  type: 'path_abandon';
  pathId: number;
  errorCode: number;
  /** UTF-8 for humans, at most 64 bytes on the wire. */
  reason: string;
}
export interface CloseFrame {
  type: 'close';
  /** true: APPLICATION_CLOSE (0x1d); false: CLOSE (0x1c), which also carries the offending frame type. */
  application: boolean;
  errorCode: number;
  frameType: number;
  reason: string;
}
export interface HandshakeDoneFrame {
  type: 'handshake_done';
}
export interface DatagramFrame {
  type: 'datagram';
  data: Uint8Array;
  /**
   * Present on SEQUENCED_DATAGRAM (0x48/0x49): a per-sender counter, so the copies of one
   * datagram sent on two paths reach the application once.
   */
  sequence?: number;
}

export type Frame =
  | PaddingFrame
  | PingFrame
  | AckFrame
  | ResetStreamFrame
  | StopSendingFrame
  | NewTokenFrame
  | StreamFrame
  | MaxDataFrame
  | MaxStreamDataFrame
  | MaxStreamsFrame
  | DataBlockedFrame
  | StreamDataBlockedFrame
  | StreamsBlockedFrame
  | NewConnectionIdFrame
  | RetireConnectionIdFrame
  | PathChallengeFrame
  | PathResponseFrame
  | AddressFrame
  | ResumptionIdFrame
  | ResumeDoneFrame
  | ResumeStateFrame
  | SuspendedFrame
  | CheckpointFrame
  | NewTicketFrame
  | PathAbandonFrame
  | CloseFrame
  | HandshakeDoneFrame
  | DatagramFrame;

/** Frames that do not make a packet ack-eliciting (RFC 9002 §2). */
export function isAckEliciting(frame: Frame): boolean {
  return frame.type !== 'ack' && frame.type !== 'padding' && frame.type !== 'close';
}
