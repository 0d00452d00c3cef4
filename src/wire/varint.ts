/**
 * QUIC variable-length integers (RFC 9000 §16) and the byte cursor every codec uses.
 *
 * The two high bits of the first byte give the length (1, 2, 4 or 8 bytes); the rest,
 * big-endian, is the value. QUIC allows values up to 2^62-1, but Braid keeps integers
 * as JS numbers, so decoding rejects anything ≥ 2^53 (MAX_VARINT + 1) with WireError.
 *
 * Hot path: no allocation per call except `bytes()`/`rest()` subarray views.
 */
import { TransportError, WireError } from './errors.js';

/** Largest value Braid encodes or accepts in a varint (2^53 - 1). */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER;

const TWO_POW_32 = 0x1_0000_0000;
/** 2^53 / 2^32: an 8-byte varint whose upper 32 bits reach this is ≥ 2^53. */
const HIGH_WORD_LIMIT = 0x20_0000;

function truncated(): WireError {
  return new WireError('truncated input', TransportError.FRAME_ENCODING_ERROR);
}

/** Encoded size in bytes of `v` (minimal encoding). Throws RangeError when `v` cannot be encoded. */
export function varintLength(v: number): 1 | 2 | 4 | 8 {
  if (v < 0x40 && v >= 0) return 1;
  if (v < 0x4000 && v >= 0) return 2;
  if (v < 0x4000_0000 && v >= 0) return 4;
  if (v <= MAX_VARINT && v >= 0) return 8;
  throw new RangeError(`varint out of range: ${v}`);
}

/** Reads from `buf[offset, end)`; every read past `end` throws WireError(FRAME_ENCODING_ERROR). */
export class Reader {
  readonly buf: Uint8Array;
  offset: number;
  readonly end: number;

  constructor(buf: Uint8Array, offset = 0, end = buf.length) {
    if (offset < 0 || end > buf.length || offset > end) throw new RangeError('Reader bounds outside buffer');
    this.buf = buf;
    this.offset = offset;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  varint(): number {
    const b = this.buf;
    const o = this.offset;
    if (o >= this.end) throw truncated();
    const first = b[o];
    switch (first >> 6) {
      case 0:
        this.offset = o + 1;
        return first;
      case 1:
        if (o + 2 > this.end) throw truncated();
        this.offset = o + 2;
        return ((first & 0x3f) << 8) | b[o + 1];
      case 2:
        if (o + 4 > this.end) throw truncated();
        this.offset = o + 4;
        return (first & 0x3f) * 0x100_0000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
      default: {
        if (o + 8 > this.end) throw truncated();
        const high = (first & 0x3f) * 0x100_0000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
        if (high >= HIGH_WORD_LIMIT) {
          throw new WireError('varint exceeds 2^53-1', TransportError.FRAME_ENCODING_ERROR);
        }
        const low = b[o + 4] * 0x100_0000 + ((b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]);
        this.offset = o + 8;
        return high * TWO_POW_32 + low;
      }
    }
  }

  u8(): number {
    if (this.offset >= this.end) throw truncated();
    return this.buf[this.offset++];
  }

  u16(): number {
    const o = this.offset;
    if (o + 2 > this.end) throw truncated();
    this.offset = o + 2;
    return (this.buf[o] << 8) | this.buf[o + 1];
  }

  u32(): number {
    const b = this.buf;
    const o = this.offset;
    if (o + 4 > this.end) throw truncated();
    this.offset = o + 4;
    return b[o] * 0x100_0000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
  }

  /** A view of the next `n` bytes (no copy). */
  bytes(n: number): Uint8Array {
    const o = this.offset;
    if (!(n >= 0) || o + n > this.end) throw truncated();
    this.offset = o + n;
    return this.buf.subarray(o, o + n);
  }

  /** A view of everything up to `end` (no copy). */
  rest(): Uint8Array {
    const o = this.offset;
    this.offset = this.end;
    return this.buf.subarray(o, this.end);
  }
}

/** Writes into a caller-provided buffer. Overflow or unencodable values throw RangeError (a bug in the caller). */
export class Writer {
  readonly buf: Uint8Array;
  offset: number;

  constructor(buf: Uint8Array, offset = 0) {
    if (offset < 0 || offset > buf.length) throw new RangeError('Writer offset outside buffer');
    this.buf = buf;
    this.offset = offset;
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  private reserve(n: number): number {
    const o = this.offset;
    if (o + n > this.buf.length)
      throw new RangeError(`Writer overflow: need ${n}, have ${this.buf.length - o}`);
    this.offset = o + n;
    return o;
  }

  varint(v: number): this {
    const b = this.buf;
    if (v < 0x40 && v >= 0 && (v | 0) === v) {
      b[this.reserve(1)] = v;
    } else if (v < 0x4000 && v >= 0 && (v | 0) === v) {
      const o = this.reserve(2);
      b[o] = 0x40 | (v >> 8);
      b[o + 1] = v;
    } else if (v < 0x4000_0000 && v >= 0 && (v | 0) === v) {
      const o = this.reserve(4);
      b[o] = 0x80 | (v >>> 24);
      b[o + 1] = v >>> 16;
      b[o + 2] = v >>> 8;
      b[o + 3] = v;
    } else {
      if (!Number.isInteger(v) || v < 0 || v > MAX_VARINT) throw new RangeError(`varint out of range: ${v}`);
      const o = this.reserve(8);
      const high = Math.floor(v / TWO_POW_32);
      const low = v >>> 0;
      b[o] = 0xc0 | (high >>> 24);
      b[o + 1] = high >>> 16;
      b[o + 2] = high >>> 8;
      b[o + 3] = high;
      b[o + 4] = low >>> 24;
      b[o + 5] = low >>> 16;
      b[o + 6] = low >>> 8;
      b[o + 7] = low;
    }
    return this;
  }

  u8(v: number): this {
    if (!(v >= 0 && v <= 0xff) || (v | 0) !== v) throw new RangeError(`u8 out of range: ${v}`);
    this.buf[this.reserve(1)] = v;
    return this;
  }

  u16(v: number): this {
    if (!(v >= 0 && v <= 0xffff) || (v | 0) !== v) throw new RangeError(`u16 out of range: ${v}`);
    const o = this.reserve(2);
    this.buf[o] = v >> 8;
    this.buf[o + 1] = v;
    return this;
  }

  u32(v: number): this {
    if (!(v >= 0 && v <= 0xffff_ffff) || !Number.isInteger(v)) throw new RangeError(`u32 out of range: ${v}`);
    const o = this.reserve(4);
    const b = this.buf;
    b[o] = v >>> 24;
    b[o + 1] = v >>> 16;
    b[o + 2] = v >>> 8;
    b[o + 3] = v;
    return this;
  }

  bytes(src: Uint8Array): this {
    const o = this.reserve(src.length);
    this.buf.set(src, o);
    return this;
  }

  /** Writes `n` zero bytes. */
  zeros(n: number): this {
    if (!(n >= 0)) throw new RangeError(`negative length: ${n}`);
    const o = this.reserve(n);
    this.buf.fill(0, o, o + n);
    return this;
  }
}
