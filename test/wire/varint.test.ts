import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TransportError, WireError } from '../../src/wire/errors.js';
import { MAX_VARINT, Reader, varintLength, Writer } from '../../src/wire/varint.js';
import { varintArb } from '../../testing/harness/wire-arbitraries.js';

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

function isFrameEncodingError(err: unknown): boolean {
  return err instanceof WireError && err.code === TransportError.FRAME_ENCODING_ERROR;
}

describe('varint', () => {
  test('decodes the RFC 9000 §A.1 examples that fit below 2^53', () => {
    assert.equal(new Reader(hex('9d7f3e7d')).varint(), 494878333);
    assert.equal(new Reader(hex('7bbd')).varint(), 15293);
    assert.equal(new Reader(hex('25')).varint(), 37);
    assert.equal(new Reader(hex('4025')).varint(), 37);
  });

  test('rejects 8-byte values at or above 2^53 (including the RFC example 151288809941952652)', () => {
    assert.throws(() => new Reader(hex('c2197c5eff14e88c')).varint(), isFrameEncodingError);
    assert.throws(() => new Reader(hex('c020000000000000')).varint(), isFrameEncodingError);
    assert.equal(new Reader(hex('c01fffffffffffff')).varint(), MAX_VARINT);
  });

  test('encodes minimally with the expected bytes at each size boundary', () => {
    const cases: [number, string][] = [
      [0, '00'],
      [63, '3f'],
      [64, '4040'],
      [16383, '7fff'],
      [16384, '80004000'],
      [2 ** 30 - 1, 'bfffffff'],
      [2 ** 30, 'c000000040000000'],
      [MAX_VARINT, 'c01fffffffffffff'],
    ];
    for (const [value, expected] of cases) {
      const w = new Writer(new Uint8Array(8));
      w.varint(value);
      assert.equal(Buffer.from(w.buf.subarray(0, w.offset)).toString('hex'), expected, `value ${value}`);
      assert.equal(varintLength(value), expected.length / 2);
    }
  });

  test('round-trips every value below 2^53', () => {
    fc.assert(
      fc.property(varintArb, (v) => {
        const w = new Writer(new Uint8Array(8));
        w.varint(v);
        assert.equal(w.offset, varintLength(v));
        const r = new Reader(w.buf, 0, w.offset);
        assert.equal(r.varint(), v);
        assert.equal(r.remaining, 0);
      }),
      { numRuns: 2000 },
    );
  });

  test('the writer refuses unencodable values and overflow with RangeError', () => {
    const w = new Writer(new Uint8Array(2));
    assert.throws(() => w.varint(-1), RangeError);
    assert.throws(() => w.varint(1.5), RangeError);
    assert.throws(() => w.varint(2 ** 53), RangeError);
    assert.throws(() => w.varint(Number.NaN), RangeError);
    assert.throws(() => w.varint(16384), RangeError);
    assert.throws(() => varintLength(2 ** 53), RangeError);
    assert.throws(() => w.u8(256), RangeError);
    assert.throws(() => w.u16(-1), RangeError);
    assert.equal(w.offset, 0, 'failed writes leave the offset alone');
  });
});

describe('Reader and Writer', () => {
  test('fixed-width integers round-trip big-endian', () => {
    const w = new Writer(new Uint8Array(7));
    w.u8(0xab).u16(0xcdef).u32(0xfedcba98);
    assert.equal(w.remaining, 0);
    assert.equal(Buffer.from(w.buf).toString('hex'), 'abcdeffedcba98');
    const r = new Reader(w.buf);
    assert.equal(r.u8(), 0xab);
    assert.equal(r.u16(), 0xcdef);
    assert.equal(r.u32(), 0xfedcba98);
  });

  test('bytes() and rest() are views into the buffer', () => {
    const buf = hex('0102030405');
    const r = new Reader(buf, 1);
    const two = r.bytes(2);
    assert.equal(two.buffer, buf.buffer);
    assert.deepEqual([...two], [2, 3]);
    assert.deepEqual([...r.rest()], [4, 5]);
    assert.equal(r.remaining, 0);
  });

  test('every read past end throws WireError(FRAME_ENCODING_ERROR)', () => {
    const buf = hex('4000000000000000');
    // Each read given one byte less than it needs.
    const reads: [(r: Reader) => unknown, number][] = [
      [(r) => r.u8(), 0],
      [(r) => r.u16(), 1],
      [(r) => r.u32(), 3],
      [(r) => r.varint(), 1],
      [(r) => r.bytes(2), 1],
    ];
    for (const [read, available] of reads) {
      assert.throws(() => read(new Reader(buf, 0, available)), isFrameEncodingError);
    }
    // A 2-byte varint cut after its first byte, and an 8-byte one cut short.
    assert.throws(() => new Reader(hex('40')).varint(), isFrameEncodingError);
    assert.throws(() => new Reader(hex('c0000000')).varint(), isFrameEncodingError);
    assert.throws(() => new Reader(hex('80')).varint(), isFrameEncodingError);
    assert.throws(() => new Reader(buf).bytes(-1), isFrameEncodingError);
  });

  test('end bounds the reader even when the buffer is longer', () => {
    const r = new Reader(hex('0102030405'), 0, 3);
    assert.equal(r.remaining, 3);
    assert.deepEqual([...r.rest()], [1, 2, 3]);
    assert.throws(() => r.u8(), isFrameEncodingError);
  });
});
