/**
 * Frame codec (docs/protocol.md §Frames). Layouts follow RFC 9000 §19 except where
 * Braid adds a path id (ACK, NEW_CONNECTION_ID, RETIRE_CONNECTION_ID) and uses an
 * unscaled ACK delay in microseconds.
 *
 * Decoding: STREAM and DATAGRAM data are views into the payload (the engine copies
 * what it keeps); every other byte field is copied, because those are small and
 * tend to be stored for the life of the connection.
 */

import { ipv4Bytes, ipv6Bytes, ipv6Text, type SocketAddress, socketAddress } from '../net/address.js';
import { TransportError, WireError } from './errors.js';
import {
  type AckFrame,
  ADDRESS_FLAG_BACKUP,
  type AddressFrame,
  type CloseFrame,
  type Frame,
  FrameType,
  type NewConnectionIdFrame,
  type NewTicketFrame,
  type PathAbandonFrame,
  type ResumeStateFrame,
  type ResumptionIdFrame,
  type StreamCheckpoint,
  type StreamFrame,
} from './frames.js';
import { MAX_CID_LENGTH, STATELESS_RESET_TOKEN_LENGTH } from './packet.js';
import { MAX_VARINT, Reader, varintLength, Writer } from './varint.js';

/** A frame failed to decode; `frameType` is what a CLOSE frame should report (0 when unknown). */
export class FrameDecodeError extends WireError {
  readonly frameType: number;
  constructor(message: string, frameType: number, code: number = TransportError.FRAME_ENCODING_ERROR) {
    super(message, code);
    this.name = 'FrameDecodeError';
    this.frameType = frameType;
  }
}

export const PATH_CHALLENGE_LENGTH = 8;
/** Stream IDs are < 2^53, so a stream count (MAX_STREAMS, STREAMS_BLOCKED) can never usefully exceed 2^51. */
export const MAX_STREAM_COUNT = 2 ** 51;

const STREAM_OFF_BIT = 0x04;
const STREAM_LEN_BIT = 0x02;
const STREAM_FIN_BIT = 0x01;

const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

type FrameDecoder = (r: Reader, type: number) => Frame;

/**
 * Decoders indexed by frame type. 0x40..0x5f hold address (0x40, 0x41), PATH_ABANDON (0x42),
 * sequenced-datagram (0x48, 0x49) and persistence (0x50..0x56) frames; the other types there stay
 * empty (reserved). Adding a frame is one assignment here plus a case in encodeFrame and frameSize.
 */
const decoders: (FrameDecoder | undefined)[] = new Array(0x60).fill(undefined);

function fail(type: number, message: string): never {
  throw new FrameDecodeError(`frame 0x${type.toString(16)}: ${message}`, type);
}

function copy(r: Reader, n: number): Uint8Array {
  return r.bytes(n).slice();
}

decoders[FrameType.PING] = () => ({ type: 'ping' });
decoders[FrameType.HANDSHAKE_DONE] = () => ({ type: 'handshake_done' });

decoders[FrameType.ACK] = (r, type): AckFrame => {
  const pathId = r.varint();
  const largest = r.varint();
  const ackDelayMicros = r.varint();
  const rangeCount = r.varint();
  const firstRange = r.varint();
  if (firstRange > largest) fail(type, 'first ACK range below packet number 0');
  // Each further range takes at least two bytes: reject absurd counts before looping.
  if (rangeCount > r.remaining / 2) fail(type, 'ACK range count exceeds frame');
  let smallest = largest - firstRange;
  const ranges = [{ smallest, largest }];
  for (let i = 0; i < rangeCount; i++) {
    const gap = r.varint();
    const length = r.varint();
    const rangeLargest = smallest - gap - 2;
    if (rangeLargest < 0 || length > rangeLargest) fail(type, 'ACK range below packet number 0');
    smallest = rangeLargest - length;
    ranges.push({ smallest, largest: rangeLargest });
  }
  return { type: 'ack', pathId, ackDelayMicros, ranges };
};

decoders[FrameType.RESET_STREAM] = (r) => ({
  type: 'reset_stream',
  streamId: r.varint(),
  errorCode: r.varint(),
  finalSize: r.varint(),
});

decoders[FrameType.STOP_SENDING] = (r) => ({
  type: 'stop_sending',
  streamId: r.varint(),
  errorCode: r.varint(),
});

decoders[FrameType.NEW_TOKEN] = (r, type) => {
  const length = r.varint();
  if (length === 0) fail(type, 'empty token');
  return { type: 'new_token', token: copy(r, length) };
};

const decodeStream: FrameDecoder = (r, type): StreamFrame => {
  const streamId = r.varint();
  const offset = type & STREAM_OFF_BIT ? r.varint() : 0;
  const length = type & STREAM_LEN_BIT ? r.varint() : r.remaining;
  if (offset + length > MAX_VARINT) fail(type, 'stream offset + length exceeds 2^53-1');
  return { type: 'stream', streamId, offset, data: r.bytes(length), fin: (type & STREAM_FIN_BIT) !== 0 };
};
for (let t = FrameType.STREAM; t <= FrameType.STREAM + 7; t++) decoders[t] = decodeStream;

decoders[FrameType.MAX_DATA] = (r) => ({ type: 'max_data', maximum: r.varint() });
decoders[FrameType.MAX_STREAM_DATA] = (r) => ({
  type: 'max_stream_data',
  streamId: r.varint(),
  maximum: r.varint(),
});

function streamCount(r: Reader, type: number): number {
  const n = r.varint();
  if (n > MAX_STREAM_COUNT) fail(type, 'stream count exceeds 2^51');
  return n;
}
decoders[FrameType.MAX_STREAMS_BIDI] = (r, type) => ({
  type: 'max_streams',
  bidirectional: true,
  maximum: streamCount(r, type),
});
decoders[FrameType.MAX_STREAMS_UNI] = (r, type) => ({
  type: 'max_streams',
  bidirectional: false,
  maximum: streamCount(r, type),
});
decoders[FrameType.DATA_BLOCKED] = (r) => ({ type: 'data_blocked', limit: r.varint() });
decoders[FrameType.STREAM_DATA_BLOCKED] = (r) => ({
  type: 'stream_data_blocked',
  streamId: r.varint(),
  limit: r.varint(),
});
decoders[FrameType.STREAMS_BLOCKED_BIDI] = (r, type) => ({
  type: 'streams_blocked',
  bidirectional: true,
  limit: streamCount(r, type),
});
decoders[FrameType.STREAMS_BLOCKED_UNI] = (r, type) => ({
  type: 'streams_blocked',
  bidirectional: false,
  limit: streamCount(r, type),
});

decoders[FrameType.NEW_CONNECTION_ID] = (r, type): NewConnectionIdFrame => {
  const pathId = r.varint();
  const sequence = r.varint();
  const retirePriorTo = r.varint();
  if (retirePriorTo > sequence) fail(type, 'retire_prior_to greater than sequence');
  const length = r.u8();
  if (length < 1 || length > MAX_CID_LENGTH) fail(type, `connection ID length ${length}`);
  const connectionId = copy(r, length);
  const statelessResetToken = copy(r, STATELESS_RESET_TOKEN_LENGTH);
  return { type: 'new_connection_id', pathId, sequence, retirePriorTo, connectionId, statelessResetToken };
};

decoders[FrameType.RETIRE_CONNECTION_ID] = (r) => ({
  type: 'retire_connection_id',
  pathId: r.varint(),
  sequence: r.varint(),
});

decoders[FrameType.PATH_CHALLENGE] = (r) => ({
  type: 'path_challenge',
  data: copy(r, PATH_CHALLENGE_LENGTH),
});
decoders[FrameType.PATH_RESPONSE] = (r) => ({ type: 'path_response', data: copy(r, PATH_CHALLENGE_LENGTH) });

/** IP version byte of ADD_ADDRESS / REMOVE_ADDRESS, then 4 or 16 address bytes and a 2-byte port. */
const IP_V4 = 4;
const IP_V6 = 6;

function decodeAddressFrame(r: Reader, type: number): AddressFrame {
  const sequence = r.varint();
  // Flags (ADD_ADDRESS only): bits this version does not know are ignored, so that later
  // versions can add flags without breaking older receivers.
  const flags = type === FrameType.ADD_ADDRESS ? r.u8() : 0;
  const version = r.u8();
  if (version !== IP_V4 && version !== IP_V6) fail(type, `IP version ${version}`);
  const ip = r.bytes(version === IP_V4 ? 4 : 16);
  const port = (r.u8() << 8) | r.u8();
  const text = version === IP_V4 ? ip.join('.') : ipv6Text(ip);
  const frame: AddressFrame = {
    type: type === FrameType.ADD_ADDRESS ? 'add_address' : 'remove_address',
    sequence,
    address: socketAddress(text, port),
  };
  if (flags & ADDRESS_FLAG_BACKUP) frame.backup = true;
  return frame;
}
decoders[FrameType.ADD_ADDRESS] = decodeAddressFrame;
decoders[FrameType.REMOVE_ADDRESS] = decodeAddressFrame;

/** PATH_ABANDON reasons are short log lines; longer ones are a peer's protocol error. */
export const PATH_ABANDON_REASON_MAX = 64;

decoders[FrameType.PATH_ABANDON] = (r, type): PathAbandonFrame => {
  const pathId = r.varint();
  const errorCode = r.varint();
  const length = r.varint();
  if (length > PATH_ABANDON_REASON_MAX) fail(type, `reason of ${length} bytes`);
  // Invalid UTF-8 becomes U+FFFD (3 bytes each): cut again so the reason always re-encodes whole.
  const reason = utf8Decoder.decode(abandonReason(utf8Decoder.decode(r.bytes(length))));
  return { type: 'path_abandon', pathId, errorCode, reason };
};

/** The reason's UTF-8 bytes, cut to PATH_ABANDON_REASON_MAX on a character boundary. */
function abandonReason(reason: string): Uint8Array {
  const bytes = utf8Encoder.encode(reason);
  if (bytes.length <= PATH_ABANDON_REASON_MAX) return bytes;
  let end = PATH_ABANDON_REASON_MAX;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

function addressBytes(a: SocketAddress): Uint8Array {
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 0xffff) throw new RangeError(`port ${a.port}`);
  return a.family === 'IPv6' ? ipv6Bytes(a.address) : ipv4Bytes(a.address);
}

// ---- persistence frames (0x50..0x5f) ----

const RESUMPTION_ID_LENGTH = 16;
const TOKEN_LENGTH = 16;

decoders[FrameType.RESUMPTION_ID] = (r): ResumptionIdFrame => ({
  type: 'resumption_id',
  sequence: r.varint(),
  resumptionId: copy(r, RESUMPTION_ID_LENGTH),
  lostToken: copy(r, TOKEN_LENGTH),
  expiredToken: copy(r, TOKEN_LENGTH),
});
decoders[FrameType.RESUME_DONE] = () => ({ type: 'resume_done' });

const CHECKPOINT_FIN = 0x01;
const CHECKPOINT_RESET = 0x02;
decoders[FrameType.RESUME_STATE] = (r, type): ResumeStateFrame => {
  const bidiSeen = streamCount(r, type);
  const uniSeen = streamCount(r, type);
  const total = r.varint();
  const count = r.varint();
  // Each entry takes at least three bytes: reject absurd counts before looping.
  if (count > r.remaining / 3 || count > total) fail(type, 'checkpoint count exceeds frame or total');
  const entries: StreamCheckpoint[] = [];
  for (let i = 0; i < count; i++) {
    const streamId = r.varint();
    const offset = r.varint();
    const flags = r.u8();
    if (flags & ~(CHECKPOINT_FIN | CHECKPOINT_RESET)) fail(type, `checkpoint flags 0x${flags.toString(16)}`);
    entries.push({
      streamId,
      offset,
      fin: (flags & CHECKPOINT_FIN) !== 0,
      reset: (flags & CHECKPOINT_RESET) !== 0,
    });
  }
  return { type: 'resume_state', bidiSeen, uniSeen, total, entries };
};
decoders[FrameType.SUSPENDED] = () => ({ type: 'suspended' });
decoders[FrameType.CHECKPOINT] = (r) => ({ type: 'checkpoint', streamId: r.varint(), offset: r.varint() });
decoders[FrameType.CHECKPOINT_ACK] = (r) => ({
  type: 'checkpoint_ack',
  streamId: r.varint(),
  offset: r.varint(),
});
decoders[FrameType.NEW_TICKET] = (r, type): NewTicketFrame => {
  const lifetime = r.varint();
  const maxEarlyData = r.varint();
  const length = r.varint();
  if (length === 0) fail(type, 'empty ticket');
  return { type: 'new_ticket', lifetime, maxEarlyData, ticket: copy(r, length) };
};

decoders[FrameType.CLOSE] = (r): CloseFrame => {
  const errorCode = r.varint();
  const frameType = r.varint();
  const reason = utf8Decoder.decode(r.bytes(r.varint()));
  return { type: 'close', application: false, errorCode, frameType, reason };
};
decoders[FrameType.APPLICATION_CLOSE] = (r): CloseFrame => {
  const errorCode = r.varint();
  const reason = utf8Decoder.decode(r.bytes(r.varint()));
  return { type: 'close', application: true, errorCode, frameType: 0, reason };
};

decoders[FrameType.DATAGRAM] = (r) => ({ type: 'datagram', data: r.rest() });
decoders[FrameType.DATAGRAM_LEN] = (r) => ({ type: 'datagram', data: r.bytes(r.varint()) });
decoders[FrameType.SEQUENCED_DATAGRAM] = (r) => {
  const sequence = r.varint();
  return { type: 'datagram', sequence, data: r.rest() };
};
decoders[FrameType.SEQUENCED_DATAGRAM_LEN] = (r) => {
  const sequence = r.varint();
  return { type: 'datagram', sequence, data: r.bytes(r.varint()) };
};

/**
 * Decodes every frame in a decrypted packet payload. Throws FrameDecodeError (a
 * WireError, code FRAME_ENCODING_ERROR) on truncation, unknown or non-minimally
 * encoded frame types, and out-of-range fields. Runs of PADDING collapse into one frame.
 * An empty payload yields [] (the engine treats a frameless packet as PROTOCOL_VIOLATION).
 */
export function decodeFrames(payload: Uint8Array): Frame[] {
  const r = new Reader(payload);
  const frames: Frame[] = [];
  while (r.offset < r.end) {
    const start = r.offset;
    let type: number;
    try {
      type = r.varint();
    } catch {
      throw new FrameDecodeError('truncated frame type', 0);
    }
    if (r.offset - start !== varintLength(type)) fail(type, 'frame type not minimally encoded');
    if (type === FrameType.PADDING) {
      let end = r.offset;
      while (end < r.end && payload[end] === 0) end++;
      frames.push({ type: 'padding', length: end - start });
      r.offset = end;
      continue;
    }
    const decode = type < decoders.length ? decoders[type] : undefined;
    if (decode === undefined) fail(type, 'unknown frame type');
    try {
      frames.push(decode(r, type));
    } catch (err) {
      if (err instanceof FrameDecodeError) throw err;
      if (err instanceof WireError)
        throw new FrameDecodeError(`frame 0x${type.toString(16)}: ${err.message}`, type);
      throw err;
    }
  }
  return frames;
}

// ---------------------------------------------------------------------------
// Encoding

/** Bytes a STREAM frame header takes (type, stream id, optional offset, optional length). */
export function streamFrameOverhead(
  streamId: number,
  offset: number,
  dataLength: number,
  withLength: boolean,
): number {
  return (
    1 +
    varintLength(streamId) +
    (offset > 0 ? varintLength(offset) : 0) +
    (withLength ? varintLength(dataLength) : 0)
  );
}

/**
 * Writes a STREAM frame header; the caller then writes exactly `dataLength` bytes.
 * Without a length field the data must run to the end of the packet payload.
 */
export function encodeStreamFrameHeader(
  w: Writer,
  streamId: number,
  offset: number,
  dataLength: number,
  fin: boolean,
  withLength: boolean,
): void {
  if (offset + dataLength > MAX_VARINT) throw new RangeError('stream offset + length exceeds 2^53-1');
  let type = FrameType.STREAM as number;
  if (offset > 0) type |= STREAM_OFF_BIT;
  if (withLength) type |= STREAM_LEN_BIT;
  if (fin) type |= STREAM_FIN_BIT;
  w.u8(type).varint(streamId);
  if (offset > 0) w.varint(offset);
  if (withLength) w.varint(dataLength);
}

/**
 * The most stream data bytes that fit in `space` bytes together with their header,
 * with a length field (0 when not even an empty frame fits).
 */
export function streamDataCapacity(streamId: number, offset: number, space: number): number {
  const fixed = 1 + varintLength(streamId) + (offset > 0 ? varintLength(offset) : 0);
  const available = space - fixed;
  if (available < 1) return 0;
  // The largest n with n + varintLength(n) <= available: the best n of each length-field size,
  // largest first. (Taking the first size whose n fits was up to 2 bytes short at the size
  // boundaries: with 16386 bytes available it gave 16382 with a 4-byte length, where 16383
  // fits with a 2-byte one.)
  for (let i = VARINT_SIZES.length - 1; i >= 0; i--) {
    const n = Math.min(available - VARINT_SIZES[i]!, VARINT_SIZE_MAX[i]!);
    if (n >= (i === 0 ? 0 : VARINT_SIZE_MAX[i - 1]! + 1)) return Math.min(n, MAX_VARINT - offset);
  }
  return 0;
}

/** Varint encoded sizes, and the largest value of each. */
const VARINT_SIZES = [1, 2, 4, 8] as const;
const VARINT_SIZE_MAX = [63, 16383, 2 ** 30 - 1, MAX_VARINT] as const;

/** Bytes a DATAGRAM frame header takes (type plus optional length). */
export function datagramFrameOverhead(dataLength: number, withLength: boolean): number {
  return 1 + (withLength ? varintLength(dataLength) : 0);
}

/**
 * The most data a DATAGRAM frame with a length field can carry within `frameLimit` bytes
 * (a peer's `max_datagram_frame_size`, which counts type, length and data); 0 if none fits.
 */
export function largestDatagramData(frameLimit: number): number {
  for (const lengthBytes of VARINT_SIZES) {
    const data = frameLimit - 1 - lengthBytes;
    if (data < 0) return 0;
    if (varintLength(data) <= lengthBytes) return data;
  }
  return 0;
}

/** Writes a DATAGRAM frame header; the caller then writes the data (to the end of the payload without length). */
export function encodeDatagramFrameHeader(w: Writer, dataLength: number, withLength: boolean): void {
  if (withLength) w.u8(FrameType.DATAGRAM_LEN).varint(dataLength);
  else w.u8(FrameType.DATAGRAM);
}

function ackBody(f: AckFrame, w: Writer | undefined): number {
  const ranges = f.ranges;
  if (ranges.length === 0) throw new RangeError('ACK frame needs at least one range');
  const first = ranges[0];
  if (first.smallest < 0 || first.largest < first.smallest) throw new RangeError('invalid ACK range');
  const firstRange = first.largest - first.smallest;
  let size =
    varintLength(f.pathId) +
    varintLength(first.largest) +
    varintLength(f.ackDelayMicros) +
    varintLength(ranges.length - 1) +
    varintLength(firstRange);
  w?.varint(f.pathId)
    .varint(first.largest)
    .varint(f.ackDelayMicros)
    .varint(ranges.length - 1)
    .varint(firstRange);
  let smallest = first.smallest;
  for (let i = 1; i < ranges.length; i++) {
    const range = ranges[i];
    const gap = smallest - range.largest - 2;
    const length = range.largest - range.smallest;
    if (gap < 0 || length < 0 || range.smallest < 0) {
      throw new RangeError('ACK ranges must be descending, disjoint and non-adjacent');
    }
    size += varintLength(gap) + varintLength(length);
    w?.varint(gap).varint(length);
    smallest = range.smallest;
  }
  return size;
}

function checkLength(what: string, b: Uint8Array, min: number, max: number): void {
  if (b.length < min || b.length > max)
    throw new RangeError(`${what} length ${b.length} not in ${min}..${max}`);
}

/** Encodes `f` at the writer's offset. STREAM and DATAGRAM frames always get a length field here. */
export function encodeFrame(w: Writer, f: Frame): void {
  switch (f.type) {
    case 'padding':
      if (f.length < 1) throw new RangeError('padding length must be ≥ 1');
      w.zeros(f.length);
      return;
    case 'ping':
      w.u8(FrameType.PING);
      return;
    case 'ack':
      w.u8(FrameType.ACK);
      ackBody(f, w);
      return;
    case 'reset_stream':
      w.u8(FrameType.RESET_STREAM).varint(f.streamId).varint(f.errorCode).varint(f.finalSize);
      return;
    case 'stop_sending':
      w.u8(FrameType.STOP_SENDING).varint(f.streamId).varint(f.errorCode);
      return;
    case 'new_token':
      if (f.token.length === 0) throw new RangeError('NEW_TOKEN token must not be empty');
      w.u8(FrameType.NEW_TOKEN).varint(f.token.length).bytes(f.token);
      return;
    case 'stream':
      encodeStreamFrameHeader(w, f.streamId, f.offset, f.data.length, f.fin, true);
      w.bytes(f.data);
      return;
    case 'max_data':
      w.u8(FrameType.MAX_DATA).varint(f.maximum);
      return;
    case 'max_stream_data':
      w.u8(FrameType.MAX_STREAM_DATA).varint(f.streamId).varint(f.maximum);
      return;
    case 'max_streams':
      if (f.maximum > MAX_STREAM_COUNT) throw new RangeError('stream count exceeds 2^51');
      w.u8(f.bidirectional ? FrameType.MAX_STREAMS_BIDI : FrameType.MAX_STREAMS_UNI).varint(f.maximum);
      return;
    case 'data_blocked':
      w.u8(FrameType.DATA_BLOCKED).varint(f.limit);
      return;
    case 'stream_data_blocked':
      w.u8(FrameType.STREAM_DATA_BLOCKED).varint(f.streamId).varint(f.limit);
      return;
    case 'streams_blocked':
      if (f.limit > MAX_STREAM_COUNT) throw new RangeError('stream count exceeds 2^51');
      w.u8(f.bidirectional ? FrameType.STREAMS_BLOCKED_BIDI : FrameType.STREAMS_BLOCKED_UNI).varint(f.limit);
      return;
    case 'new_connection_id':
      checkLength('connection ID', f.connectionId, 1, MAX_CID_LENGTH);
      checkLength('stateless reset token', f.statelessResetToken, 16, 16);
      if (f.retirePriorTo > f.sequence) throw new RangeError('retire_prior_to greater than sequence');
      w.u8(FrameType.NEW_CONNECTION_ID)
        .varint(f.pathId)
        .varint(f.sequence)
        .varint(f.retirePriorTo)
        .u8(f.connectionId.length)
        .bytes(f.connectionId)
        .bytes(f.statelessResetToken);
      return;
    case 'retire_connection_id':
      w.u8(FrameType.RETIRE_CONNECTION_ID).varint(f.pathId).varint(f.sequence);
      return;
    case 'path_challenge':
    case 'path_response':
      checkLength(f.type, f.data, PATH_CHALLENGE_LENGTH, PATH_CHALLENGE_LENGTH);
      w.u8(f.type === 'path_challenge' ? FrameType.PATH_CHALLENGE : FrameType.PATH_RESPONSE).bytes(f.data);
      return;
    case 'add_address':
    case 'remove_address': {
      const ip = addressBytes(f.address);
      w.varint(f.type === 'add_address' ? FrameType.ADD_ADDRESS : FrameType.REMOVE_ADDRESS).varint(
        f.sequence,
      );
      if (f.type === 'add_address') w.u8(f.backup ? ADDRESS_FLAG_BACKUP : 0);
      w.u8(ip.length === 4 ? IP_V4 : IP_V6)
        .bytes(ip)
        .u8(f.address.port >> 8)
        .u8(f.address.port & 0xff);
      return;
    }
    case 'resumption_id':
      checkLength('resumption ID', f.resumptionId, RESUMPTION_ID_LENGTH, RESUMPTION_ID_LENGTH);
      checkLength('lost token', f.lostToken, TOKEN_LENGTH, TOKEN_LENGTH);
      checkLength('expired token', f.expiredToken, TOKEN_LENGTH, TOKEN_LENGTH);
      w.varint(FrameType.RESUMPTION_ID)
        .varint(f.sequence)
        .bytes(f.resumptionId)
        .bytes(f.lostToken)
        .bytes(f.expiredToken);
      return;
    case 'resume_done':
      w.varint(FrameType.RESUME_DONE);
      return;
    case 'resume_state':
      if (f.entries.length > f.total) throw new RangeError('more checkpoint entries than total');
      w.varint(FrameType.RESUME_STATE)
        .varint(f.bidiSeen)
        .varint(f.uniSeen)
        .varint(f.total)
        .varint(f.entries.length);
      for (const e of f.entries)
        w.varint(e.streamId)
          .varint(e.offset)
          .u8((e.fin ? CHECKPOINT_FIN : 0) | (e.reset ? CHECKPOINT_RESET : 0));
      return;
    case 'suspended':
      w.varint(FrameType.SUSPENDED);
      return;
    case 'checkpoint':
    case 'checkpoint_ack':
      w.varint(f.type === 'checkpoint' ? FrameType.CHECKPOINT : FrameType.CHECKPOINT_ACK)
        .varint(f.streamId)
        .varint(f.offset);
      return;
    case 'new_ticket':
      if (f.ticket.length === 0) throw new RangeError('NEW_TICKET ticket must not be empty');
      w.varint(FrameType.NEW_TICKET)
        .varint(f.lifetime)
        .varint(f.maxEarlyData)
        .varint(f.ticket.length)
        .bytes(f.ticket);
      return;
    case 'path_abandon': {
      const reason = abandonReason(f.reason);
      w.varint(FrameType.PATH_ABANDON)
        .varint(f.pathId)
        .varint(f.errorCode)
        .varint(reason.length)
        .bytes(reason);
      return;
    }
    case 'close': {
      const reason = utf8Encoder.encode(f.reason);
      if (f.application) w.u8(FrameType.APPLICATION_CLOSE).varint(f.errorCode);
      else w.u8(FrameType.CLOSE).varint(f.errorCode).varint(f.frameType);
      w.varint(reason.length).bytes(reason);
      return;
    }
    case 'handshake_done':
      w.u8(FrameType.HANDSHAKE_DONE);
      return;
    case 'datagram':
      if (f.sequence === undefined) encodeDatagramFrameHeader(w, f.data.length, true);
      else w.varint(FrameType.SEQUENCED_DATAGRAM_LEN).varint(f.sequence).varint(f.data.length);
      w.bytes(f.data);
      return;
  }
}

/** Exactly the number of bytes encodeFrame(w, f) writes. */
export function frameSize(f: Frame): number {
  switch (f.type) {
    case 'padding':
      return f.length;
    case 'ping':
    case 'handshake_done':
      return 1;
    case 'ack':
      return 1 + ackBody(f, undefined);
    case 'reset_stream':
      return 1 + varintLength(f.streamId) + varintLength(f.errorCode) + varintLength(f.finalSize);
    case 'stop_sending':
      return 1 + varintLength(f.streamId) + varintLength(f.errorCode);
    case 'new_token':
      return 1 + varintLength(f.token.length) + f.token.length;
    case 'stream':
      return streamFrameOverhead(f.streamId, f.offset, f.data.length, true) + f.data.length;
    case 'max_data':
      return 1 + varintLength(f.maximum);
    case 'max_stream_data':
      return 1 + varintLength(f.streamId) + varintLength(f.maximum);
    case 'max_streams':
      return 1 + varintLength(f.maximum);
    case 'data_blocked':
      return 1 + varintLength(f.limit);
    case 'stream_data_blocked':
      return 1 + varintLength(f.streamId) + varintLength(f.limit);
    case 'streams_blocked':
      return 1 + varintLength(f.limit);
    case 'new_connection_id':
      return (
        1 +
        varintLength(f.pathId) +
        varintLength(f.sequence) +
        varintLength(f.retirePriorTo) +
        1 +
        f.connectionId.length +
        STATELESS_RESET_TOKEN_LENGTH
      );
    case 'retire_connection_id':
      return 1 + varintLength(f.pathId) + varintLength(f.sequence);
    case 'path_challenge':
    case 'path_response':
      return 1 + PATH_CHALLENGE_LENGTH;
    case 'add_address':
    case 'remove_address':
      return (
        2 +
        varintLength(f.sequence) +
        (f.type === 'add_address' ? 1 : 0) +
        1 +
        (f.address.family === 'IPv6' ? 16 : 4) +
        2
      );
    case 'resumption_id':
      return 2 + varintLength(f.sequence) + RESUMPTION_ID_LENGTH + 2 * TOKEN_LENGTH;
    case 'resume_state':
      return resumeStateHeaderSize(f) + f.entries.reduce((n, e) => n + checkpointEntrySize(e), 0);
    case 'suspended':
    case 'resume_done':
      return 2;
    case 'checkpoint':
    case 'checkpoint_ack':
      return 2 + varintLength(f.streamId) + varintLength(f.offset);
    case 'new_ticket':
      return (
        2 +
        varintLength(f.lifetime) +
        varintLength(f.maxEarlyData) +
        varintLength(f.ticket.length) +
        f.ticket.length
      );
    case 'path_abandon': {
      const reasonLength = abandonReason(f.reason).length;
      return (
        2 + varintLength(f.pathId) + varintLength(f.errorCode) + varintLength(reasonLength) + reasonLength
      );
    }
    case 'close': {
      const reasonLength = utf8Encoder.encode(f.reason).length;
      return (
        1 +
        varintLength(f.errorCode) +
        (f.application ? 0 : varintLength(f.frameType)) +
        varintLength(reasonLength) +
        reasonLength
      );
    }
    case 'datagram':
      return (
        datagramFrameOverhead(f.data.length, true) +
        (f.sequence === undefined ? 0 : 1 + varintLength(f.sequence)) +
        f.data.length
      );
  }
}

/** Bytes of a RESUME_STATE frame before its entries. */
export function resumeStateHeaderSize(f: Omit<ResumeStateFrame, 'type'>): number {
  return (
    2 +
    varintLength(f.bidiSeen) +
    varintLength(f.uniSeen) +
    varintLength(f.total) +
    varintLength(f.entries.length)
  );
}

/** Bytes one RESUME_STATE entry takes. */
export function checkpointEntrySize(e: StreamCheckpoint): number {
  return varintLength(e.streamId) + varintLength(e.offset) + 1;
}

/** Encodes `frames` into a new buffer of exactly the right size (tests, tools; the engine writes in place). */
export function encodeFrames(frames: readonly Frame[]): Uint8Array {
  let size = 0;
  for (const f of frames) size += frameSize(f);
  const w = new Writer(new Uint8Array(size));
  for (const f of frames) encodeFrame(w, f);
  return w.buf;
}
