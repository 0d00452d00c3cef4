/**
 * Packet codec (docs/protocol.md §Packets): long headers for the handshake, short
 * headers for protected data, packet-number truncation, and stateless resets.
 *
 * Long-header decoding copies connection IDs and tokens (they are kept) and returns
 * the payload as a view. Short-header parsing returns views only: it is on the hot path.
 */
import { TransportError, WireError } from './errors.js';
import {
  BRAID_VERSION_1,
  type HandshakePacket,
  type InitialPacket,
  type LongHeaderPacket,
  LongPacketType,
  MAX_CID_LENGTH,
  MIN_INITIAL_DATAGRAM,
  type ResumePacket,
  type RetryPacket,
  type ShortHeaderView,
  STATELESS_RESET_TOKEN_LENGTH,
  type UnsupportedVersionPacket,
  type VersionNegotiationPacket,
} from './packet.js';
import { Reader, varintLength, Writer } from './varint.js';

const LONG_FORM_BIT = 0x80;
const FIXED_BIT = 0x40;
const LONG_TYPE_SHIFT = 4;
const LONG_RESERVED_BITS = 0x0f;
const SHORT_SPIN_BIT = 0x20;
const SHORT_KEY_PHASE_BIT = 0x04;
/** Version-invariant prefix: byte0, version u32, dcid_len u8. */
const LONG_INVARIANT_PREFIX = 6;

/** Bytes of ciphertext the header-protection sample needs after the packet number's 4-byte slot. */
export const HEADER_PROTECTION_SAMPLE_LENGTH = 16;
/** Smallest stateless reset: 5 unpredictable bytes (like a short header) + 16-byte token. */
export const MIN_STATELESS_RESET_LENGTH = 21;
/** Packet numbers stay below 2^53 (JS numbers); a path must be abandoned before reaching it. */
export const MAX_PACKET_NUMBER = 2 ** 53 - 1;

function malformed(message: string, code: number = TransportError.PROTOCOL_VIOLATION): WireError {
  return new WireError(message, code);
}

function checkCid(cid: Uint8Array): void {
  if (cid.length > MAX_CID_LENGTH) throw new RangeError(`connection ID longer than ${MAX_CID_LENGTH} bytes`);
}

/** True when the first byte says long header (the receiver then calls decodeLongHeader). */
export function isLongHeader(datagram: Uint8Array): boolean {
  return datagram.length > 0 && (datagram[0] & LONG_FORM_BIT) !== 0;
}

function longHeaderSize(dcid: Uint8Array, scid: Uint8Array): number {
  checkCid(dcid);
  checkCid(scid);
  return LONG_INVARIANT_PREFIX + dcid.length + 1 + scid.length;
}

function writeLongHeader(w: Writer, type: number, version: number, dcid: Uint8Array, scid: Uint8Array): void {
  w.u8(LONG_FORM_BIT | FIXED_BIT | (type << LONG_TYPE_SHIFT))
    .u32(version)
    .u8(dcid.length)
    .bytes(dcid)
    .u8(scid.length)
    .bytes(scid);
}

function encodeInitialLike(p: InitialPacket | ResumePacket, type: number, minDatagram: number): Uint8Array {
  const size =
    longHeaderSize(p.dcid, p.scid) +
    varintLength(p.token.length) +
    p.token.length +
    1 +
    varintLength(p.payload.length) +
    p.payload.length;
  // Zero-filled: everything after the payload is padding.
  const w = new Writer(new Uint8Array(Math.max(size, minDatagram)));
  writeLongHeader(w, type, p.version, p.dcid, p.scid);
  w.varint(p.token.length).bytes(p.token).u8(p.pattern).varint(p.payload.length).bytes(p.payload);
  return w.buf;
}

/** Where an INITIAL's payload ends in its encoding (the padding starts there). */
export function initialPayloadEnd(p: InitialPacket): number {
  return (
    longHeaderSize(p.dcid, p.scid) +
    varintLength(p.token.length) +
    p.token.length +
    1 +
    varintLength(p.payload.length) +
    p.payload.length
  );
}

/** INITIAL, zero-padded to `minDatagram` bytes (servers drop INITIALs in smaller datagrams). */
export function encodeInitial(p: InitialPacket, minDatagram = MIN_INITIAL_DATAGRAM): Uint8Array {
  return encodeInitialLike(p, LongPacketType.INITIAL, minDatagram);
}

/** RESUME (reserved for resumption): same layout and padding as INITIAL. */
export function encodeResume(p: ResumePacket, minDatagram = MIN_INITIAL_DATAGRAM): Uint8Array {
  return encodeInitialLike(p, LongPacketType.RESUME, minDatagram);
}

export function encodeHandshake(p: HandshakePacket): Uint8Array {
  const size = longHeaderSize(p.dcid, p.scid) + 1 + varintLength(p.payload.length) + p.payload.length;
  const w = new Writer(new Uint8Array(size));
  writeLongHeader(w, LongPacketType.HANDSHAKE, p.version, p.dcid, p.scid);
  w.u8(p.messageIndex).varint(p.payload.length).bytes(p.payload);
  return w.buf;
}

export function encodeRetry(p: RetryPacket): Uint8Array {
  if (p.token.length === 0) throw new RangeError('Retry token must not be empty');
  const w = new Writer(new Uint8Array(longHeaderSize(p.dcid, p.scid) + p.token.length));
  writeLongHeader(w, LongPacketType.RETRY, p.version, p.dcid, p.scid);
  w.bytes(p.token);
  return w.buf;
}

export function encodeVersionNegotiation(p: VersionNegotiationPacket): Uint8Array {
  if (p.supportedVersions.length === 0)
    throw new RangeError('Version Negotiation needs at least one version');
  const w = new Writer(new Uint8Array(longHeaderSize(p.dcid, p.scid) + 4 * p.supportedVersions.length));
  writeLongHeader(w, 0, 0, p.dcid, p.scid);
  for (const v of p.supportedVersions) w.u32(v);
  return w.buf;
}

function readCid(r: Reader): Uint8Array {
  const length = r.u8();
  if (length > MAX_CID_LENGTH) throw malformed(`connection ID length ${length}`);
  return r.bytes(length).slice();
}

/**
 * The version-invariant part of a long header (views, no copies), or null when
 * malformed. The server uses it to answer unknown versions with Version Negotiation.
 */
export function peekLongHeader(
  datagram: Uint8Array,
): { version: number; dcid: Uint8Array; scid: Uint8Array } | null {
  if (datagram.length < LONG_INVARIANT_PREFIX + 1 || (datagram[0] & LONG_FORM_BIT) === 0) return null;
  const dcidLength = datagram[5];
  const scidLengthAt = LONG_INVARIANT_PREFIX + dcidLength;
  if (dcidLength > MAX_CID_LENGTH || scidLengthAt >= datagram.length) return null;
  const scidLength = datagram[scidLengthAt];
  if (scidLength > MAX_CID_LENGTH || scidLengthAt + 1 + scidLength > datagram.length) return null;
  const version = datagram[1] * 0x100_0000 + ((datagram[2] << 16) | (datagram[3] << 8) | datagram[4]);
  return {
    version,
    dcid: datagram.subarray(LONG_INVARIANT_PREFIX, scidLengthAt),
    scid: datagram.subarray(scidLengthAt + 1, scidLengthAt + 1 + scidLength),
  };
}

/** After the packet: only zero padding may follow (no coalescing in Braid v1). */
function expectZeroPadding(r: Reader): void {
  const b = r.buf;
  for (let i = r.offset; i < r.end; i++) {
    if (b[i] !== 0) throw malformed('non-zero bytes after long-header packet');
  }
}

/**
 * Decodes a long-header datagram of version BRAID_VERSION_1, or a Version Negotiation
 * packet (version 0). Any other version decodes as 'unsupported_version' with only its
 * version-invariant fields (the rest of its layout is unknown), so that a server can answer
 * it. Throws WireError on anything malformed and on INITIAL/RESUME in datagrams smaller
 * than MIN_INITIAL_DATAGRAM.
 */
export function decodeLongHeader(
  datagram: Uint8Array,
): LongHeaderPacket | VersionNegotiationPacket | UnsupportedVersionPacket {
  const r = new Reader(datagram);
  const first = r.u8();
  if ((first & LONG_FORM_BIT) === 0) throw malformed('not a long header');
  const version = r.u32();
  const dcid = readCid(r);
  const scid = readCid(r);
  if (version === 0) {
    // Version Negotiation: the other bits of byte 0 are unused and ignored.
    if (r.remaining === 0 || r.remaining % 4 !== 0) throw malformed('bad Version Negotiation version list');
    const supportedVersions: number[] = [];
    while (r.remaining > 0) supportedVersions.push(r.u32());
    return { kind: 'version_negotiation', dcid, scid, supportedVersions };
  }
  if (version !== BRAID_VERSION_1) return { kind: 'unsupported_version', version, dcid, scid };
  if ((first & FIXED_BIT) === 0) throw malformed('fixed bit clear');
  if ((first & LONG_RESERVED_BITS) !== 0) throw malformed('reserved header bits set');
  const type = (first >> LONG_TYPE_SHIFT) & 0x03;
  switch (type) {
    case LongPacketType.INITIAL:
    case LongPacketType.RESUME: {
      if (datagram.length < MIN_INITIAL_DATAGRAM) throw malformed('INITIAL datagram below 1200 bytes');
      const token = r.bytes(r.varint()).slice();
      const pattern = r.u8();
      const payload = r.bytes(r.varint());
      expectZeroPadding(r);
      const kind = type === LongPacketType.INITIAL ? 'initial' : 'resume';
      return { kind, version, dcid, scid, token, pattern, payload };
    }
    case LongPacketType.HANDSHAKE: {
      const messageIndex = r.u8();
      const payload = r.bytes(r.varint());
      expectZeroPadding(r);
      return { kind: 'handshake', version, dcid, scid, messageIndex, payload };
    }
    default: {
      const token = r.rest().slice();
      if (token.length === 0) throw malformed('empty Retry token');
      return { kind: 'retry', version, dcid, scid, token };
    }
  }
}

// ---------------------------------------------------------------------------
// Short header

/**
 * Writes byte 0, the destination CID and the truncated packet number (big-endian) at
 * buf[0]. Returns the header length (= where the AEAD ciphertext starts). Header
 * protection is applied afterwards by the crypto layer.
 */
/** 2^(8·n) for a packet number of n bytes: no Math.pow per packet. */
const PN_WINDOW = [1, 0x100, 0x1_0000, 0x100_0000, 0x1_0000_0000];

export function writeShortHeader(
  buf: Uint8Array,
  dcid: Uint8Array,
  keyPhase: 0 | 1,
  pnLength: number,
  truncatedPn: number,
  spin = false,
): number {
  if (pnLength < 1 || pnLength > 4 || (pnLength | 0) !== pnLength)
    throw new RangeError('pnLength must be 1..4');
  if (!(truncatedPn >= 0 && truncatedPn < PN_WINDOW[pnLength]) || !Number.isInteger(truncatedPn)) {
    throw new RangeError(`truncated packet number ${truncatedPn} does not fit ${pnLength} bytes`);
  }
  checkCid(dcid);
  const headerLength = 1 + dcid.length + pnLength;
  if (headerLength > buf.length) throw new RangeError('buffer too small for short header');
  buf[0] = FIXED_BIT | (spin ? SHORT_SPIN_BIT : 0) | (keyPhase ? SHORT_KEY_PHASE_BIT : 0) | (pnLength - 1);
  // A byte loop: TypedArray#set costs more than copying a connection ID's few bytes.
  for (let i = 0; i < dcid.length; i++) buf[1 + i] = dcid[i];
  let pn = truncatedPn;
  for (let i = headerLength - 1; i > dcid.length; i--) {
    buf[i] = pn & 0xff;
    pn = Math.floor(pn / 256);
  }
  return headerLength;
}

/**
 * Locates the fields of a short-header packet before header protection is removed.
 * `cidLength` is the receiving endpoint's own CID length. Throws WireError when the
 * datagram is too short to hold a header-protection sample or the fixed bit is clear.
 */
export function parseShortHeader(datagram: Uint8Array, cidLength: number): ShortHeaderView {
  const pnOffset = 1 + cidLength;
  if (datagram.length < pnOffset + 4 + HEADER_PROTECTION_SAMPLE_LENGTH) {
    throw malformed('short-header packet too short');
  }
  const first = datagram[0];
  if ((first & LONG_FORM_BIT) !== 0) throw malformed('not a short header');
  if ((first & FIXED_BIT) === 0) throw malformed('fixed bit clear');
  return { kind: 'short', dcid: datagram.subarray(1, pnOffset), pnOffset };
}

/** Key phase bit and packet-number length of byte 0 once header protection is removed. */
export function shortHeaderFlags(unprotectedFirstByte: number): {
  keyPhase: 0 | 1;
  pnLength: number;
  reservedBitsSet: boolean;
  spin: boolean;
} {
  return {
    keyPhase: unprotectedFirstByte & SHORT_KEY_PHASE_BIT ? 1 : 0,
    pnLength: (unprotectedFirstByte & 0x03) + 1,
    reservedBitsSet: (unprotectedFirstByte & 0x18) !== 0,
    spin: (unprotectedFirstByte & SHORT_SPIN_BIT) !== 0,
  };
}

// ---------------------------------------------------------------------------
// Packet numbers (RFC 9000 §17.1, Appendix A.2 and A.3)

/**
 * Shortest truncation that lets the peer recover `pn`, given the largest packet number
 * it has acknowledged in this path's space (undefined before any acknowledgement).
 */
export function encodePacketNumber(
  pn: number,
  largestAcked: number | undefined,
): { truncated: number; length: number } {
  // Twice the distance from the acknowledged number must fit in the window.
  const unacked = largestAcked === undefined ? pn + 1 : pn - largestAcked;
  let length: number;
  if (unacked <= 0x80) length = 1;
  else if (unacked <= 0x8000) length = 2;
  else if (unacked <= 0x80_0000) length = 3;
  else if (unacked <= 0x8000_0000) length = 4;
  else throw new RangeError(`${unacked} packets unacknowledged: packet number cannot be truncated`);
  return { truncated: pn % PN_WINDOW[length], length };
}

/**
 * Recovers the full packet number closest to largestReceived + 1 (pass -1 when
 * nothing has been received in this space yet).
 */
export function decodePacketNumber(
  largestReceived: number,
  truncated: number,
  pnLengthBytes: number,
): number {
  const expected = largestReceived + 1;
  const window = 2 ** (8 * pnLengthBytes);
  const halfWindow = window / 2;
  const candidate = expected - (expected % window) + truncated;
  if (candidate <= expected - halfWindow && candidate < 2 ** 53 - window) return candidate + window;
  if (candidate > expected + halfWindow && candidate >= window) return candidate - window;
  return candidate;
}

// ---------------------------------------------------------------------------
// Routing and stateless reset

/**
 * The destination connection ID for routing a datagram to its connection: from a long
 * header, or the first `shortCidLength` bytes after byte 0 of a short header. A view;
 * null when malformed. Never throws.
 */
export function peekDestinationCid(datagram: Uint8Array, shortCidLength: number): Uint8Array | null {
  if (datagram.length === 0) return null;
  const first = datagram[0];
  if ((first & LONG_FORM_BIT) !== 0) {
    if (datagram.length < LONG_INVARIANT_PREFIX) return null;
    const length = datagram[5];
    if (length > MAX_CID_LENGTH || LONG_INVARIANT_PREFIX + length > datagram.length) return null;
    return datagram.subarray(LONG_INVARIANT_PREFIX, LONG_INVARIANT_PREFIX + length);
  }
  if ((first & FIXED_BIT) === 0 || 1 + shortCidLength > datagram.length) return null;
  return datagram.subarray(1, 1 + shortCidLength);
}

/**
 * A stateless reset of `length` bytes: unpredictable bytes shaped like a short header
 * (form bit 0, fixed bit 1) ending in the 16-byte token. Callers must keep it shorter
 * than the datagram that triggered it (docs/protocol.md §Stateless reset).
 */
export function encodeStatelessReset(
  token: Uint8Array,
  length: number,
  random: (n: number) => Uint8Array,
): Uint8Array {
  if (token.length !== STATELESS_RESET_TOKEN_LENGTH)
    throw new RangeError('stateless reset token must be 16 bytes');
  if (!Number.isInteger(length) || length < MIN_STATELESS_RESET_LENGTH) {
    throw new RangeError(`stateless reset must be ≥ ${MIN_STATELESS_RESET_LENGTH} bytes`);
  }
  const out = new Uint8Array(length);
  const unpredictable = random(length - STATELESS_RESET_TOKEN_LENGTH);
  if (unpredictable.length < length - STATELESS_RESET_TOKEN_LENGTH)
    throw new RangeError('random source too short');
  out.set(unpredictable.subarray(0, length - STATELESS_RESET_TOKEN_LENGTH));
  out[0] = (out[0] & 0x3f) | FIXED_BIT;
  out.set(token, length - STATELESS_RESET_TOKEN_LENGTH);
  return out;
}

/**
 * The candidate stateless-reset token of a datagram (its last 16 bytes, a view), or null
 * when it cannot be one (too short or long header). The engine compares it, in constant
 * time, with the tokens of the peer's CIDs when a datagram fails to parse or decrypt.
 */
export function statelessResetToken(datagram: Uint8Array): Uint8Array | null {
  if (datagram.length < MIN_STATELESS_RESET_LENGTH || (datagram[0] & LONG_FORM_BIT) !== 0) return null;
  return datagram.subarray(datagram.length - STATELESS_RESET_TOKEN_LENGTH);
}
