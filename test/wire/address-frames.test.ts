// ADD_ADDRESS / REMOVE_ADDRESS (docs/protocol.md §11.2): exact bytes, the backup flag and
// unknown flag bits, round trips for IPv4 and IPv6, malformed input.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { socketAddress } from '../../src/net/address.js';
import { decodeFrames, encodeFrames, FrameDecodeError, frameSize } from '../../src/wire/frame-codec.js';
import type { Frame } from '../../src/wire/frames.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('address frames', () => {
  test('ADD_ADDRESS IPv4: type 0x40 (2-byte varint), sequence, flags, version 4, address, port', () => {
    const frame: Frame = { type: 'add_address', sequence: 7, address: socketAddress('192.0.2.1', 4433) };
    const bytes = encodeFrames([frame]);
    assert.equal(toHex(bytes), '4040' + '07' + '00' + '04' + 'c0000201' + '1151');
    assert.equal(frameSize(frame), bytes.length);
    assert.deepEqual(decodeFrames(bytes), [frame]);
  });

  test('ADD_ADDRESS backup flag: bit 0x01 of the flags byte', () => {
    const frame: Frame = {
      type: 'add_address',
      sequence: 7,
      address: socketAddress('192.0.2.1', 4433),
      backup: true,
    };
    const bytes = encodeFrames([frame]);
    assert.equal(toHex(bytes), '4040' + '07' + '01' + '04' + 'c0000201' + '1151');
    assert.equal(frameSize(frame), bytes.length);
    assert.deepEqual(decodeFrames(bytes), [frame]);
  });

  test('ADD_ADDRESS flag bits this version does not know are ignored, not an error', () => {
    const unknownOnly = decodeFrames(hex('4040 07 fe 04 c0000201 1151'));
    assert.deepEqual(unknownOnly, [
      { type: 'add_address', sequence: 7, address: socketAddress('192.0.2.1', 4433) },
    ]);
    const withBackup = decodeFrames(hex('4040 07 81 04 c0000201 1151'));
    assert.deepEqual(withBackup, [
      { type: 'add_address', sequence: 7, address: socketAddress('192.0.2.1', 4433), backup: true },
    ]);
    // Re-encoded, only the flags this version knows remain.
    assert.equal(toHex(encodeFrames(withBackup)), '4040' + '07' + '01' + '04' + 'c0000201' + '1151');
  });

  test('REMOVE_ADDRESS IPv6: type 0x41, 16 address bytes, canonical text back', () => {
    const frame: Frame = {
      type: 'remove_address',
      sequence: 300,
      address: socketAddress('2001:db8::5', 443),
    };
    const bytes = encodeFrames([frame]);
    assert.equal(toHex(bytes), `4041${'412c'}06${'20010db8000000000000000000000005'}01bb`);
    assert.equal(frameSize(frame), bytes.length);
    assert.deepEqual(decodeFrames(bytes), [frame]);
  });

  test('non-canonical IPv6 text encodes to the same bytes; decoding yields RFC 5952 text', () => {
    const long = encodeFrames([
      { type: 'add_address', sequence: 1, address: socketAddress('2001:DB8:0:0:0:0:0:5', 1) },
    ]);
    const short = encodeFrames([
      { type: 'add_address', sequence: 1, address: socketAddress('2001:db8::5', 1) },
    ]);
    assert.deepEqual(long, short);
    const mapped = encodeFrames([
      { type: 'add_address', sequence: 1, address: socketAddress('::ffff:192.0.2.1', 1) },
    ]);
    const decoded = decodeFrames(mapped)[0];
    assert.ok(decoded.type === 'add_address');
    assert.equal(decoded.address.address, '::ffff:c000:201');
  });

  test('any 16 address bytes survive decode → encode', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(0xffff), (ip, port) => {
        const bytes = new Uint8Array([0x40, 0x41, 0x00, 0x06, ...ip, port >> 8, port & 0xff]);
        assert.deepEqual(encodeFrames(decodeFrames(bytes)), bytes);
      }),
    );
  });

  test('malformed: unknown IP version, truncation anywhere', () => {
    const isDecodeError = (err: unknown) => err instanceof FrameDecodeError && err.frameType === 0x40;
    assert.throws(() => decodeFrames(hex('4040 01 00 05 c0000201 1151')), isDecodeError);
    const full = encodeFrames([
      { type: 'add_address', sequence: 1, address: socketAddress('2001:db8::1', 9) },
    ]);
    for (let cut = 2; cut < full.length; cut++)
      assert.throws(() => decodeFrames(full.subarray(0, cut)), isDecodeError, `cut at ${cut}`);
  });

  test('encoders refuse invalid addresses and ports with RangeError', () => {
    for (const address of [
      socketAddress('300.1.1.1', 1),
      socketAddress('1.2.3', 1),
      socketAddress('2001:db8:::1', 1),
      socketAddress('1:2:3:4:5:6:7:8:9', 1),
      socketAddress('192.0.2.1', 70000),
    ])
      assert.throws(() => encodeFrames([{ type: 'add_address', sequence: 0, address }]), RangeError);
  });
});
