import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { WireError } from '../../src/wire/errors.js';
import { BRAID_VERSION_1, MIN_INITIAL_DATAGRAM } from '../../src/wire/packet.js';
import {
  decodeLongHeader,
  decodePacketNumber,
  encodeHandshake,
  encodeInitial,
  encodePacketNumber,
  encodeResume,
  encodeRetry,
  encodeStatelessReset,
  encodeVersionNegotiation,
  isLongHeader,
  MIN_STATELESS_RESET_LENGTH,
  parseShortHeader,
  peekDestinationCid,
  peekLongHeader,
  shortHeaderFlags,
  statelessResetToken,
  writeShortHeader,
} from '../../src/wire/packet-codec.js';
import {
  handshakeArb,
  initialArb,
  resumeArb,
  retryArb,
  versionNegotiationArb,
} from '../../testing/harness/wire-arbitraries.js';

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}
function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
const isWireError = (err: unknown) => err instanceof WireError;

describe('long header: exact bytes', () => {
  test('HANDSHAKE', () => {
    const bytes = encodeHandshake({
      kind: 'handshake',
      version: BRAID_VERSION_1,
      dcid: hex('0102'),
      scid: hex('0a0b0c0d'),
      messageIndex: 1,
      payload: hex('616263'),
    });
    assert.equal(toHex(bytes), 'e0 42520001 02 0102 04 0a0b0c0d 01 03 616263'.replace(/\s+/g, ''));
  });

  test('INITIAL is zero-padded to 1200 bytes', () => {
    const bytes = encodeInitial({
      kind: 'initial',
      version: BRAID_VERSION_1,
      dcid: new Uint8Array(8).fill(0x11),
      scid: hex('0a0b'),
      token: new Uint8Array(0),
      pattern: 1,
      payload: hex('ff'),
    });
    assert.equal(bytes.length, MIN_INITIAL_DATAGRAM);
    const header = 'c0 42520001 08 1111111111111111 02 0a0b 00 01 01 ff'.replace(/\s+/g, '');
    assert.equal(toHex(bytes.subarray(0, header.length / 2)), header);
    assert.ok(bytes.subarray(header.length / 2).every((b) => b === 0));
  });

  test('RESUME, RETRY and VERSION_NEGOTIATION', () => {
    const resume = encodeResume(
      {
        kind: 'resume',
        version: BRAID_VERSION_1,
        dcid: hex('01'),
        scid: hex(''),
        token: hex('aa'),
        pattern: 0,
        payload: hex(''),
      },
      0,
    );
    assert.equal(toHex(resume), 'd04252000101010001aa0000');
    const retry = encodeRetry({
      kind: 'retry',
      version: BRAID_VERSION_1,
      dcid: hex(''),
      scid: hex('aa'),
      token: hex('746f6b'),
    });
    assert.equal(toHex(retry), 'f0 42520001 00 01 aa 746f6b'.replace(/\s+/g, ''));
    const vn = encodeVersionNegotiation({
      kind: 'version_negotiation',
      dcid: hex('01'),
      scid: hex('02'),
      supportedVersions: [BRAID_VERSION_1],
    });
    assert.equal(toHex(vn), 'c0 00000000 01 01 01 02 42520001'.replace(/\s+/g, ''));
  });
});

describe('long header: round trips', () => {
  test('every packet type re-decodes identically', () => {
    const packetArb = fc.oneof(
      initialArb.map((p) => ({ p, bytes: encodeInitial(p) })),
      resumeArb.map((p) => ({ p, bytes: encodeResume(p) })),
      handshakeArb.map((p) => ({ p, bytes: encodeHandshake(p) })),
      retryArb.map((p) => ({ p, bytes: encodeRetry(p) })),
      versionNegotiationArb.map((p) => ({ p, bytes: encodeVersionNegotiation(p) })),
    );
    fc.assert(
      fc.property(packetArb, ({ p, bytes }) => {
        assert.ok(isLongHeader(bytes));
        assert.deepEqual(decodeLongHeader(bytes), { ...p });
        assert.deepEqual(peekDestinationCid(bytes, 8), p.dcid);
        const invariant = peekLongHeader(bytes);
        assert.ok(invariant);
        assert.deepEqual(invariant.dcid, p.dcid);
        assert.deepEqual(invariant.scid, p.scid);
      }),
      { numRuns: 1500 },
    );
  });

  test('zero bytes may follow a HANDSHAKE packet; anything else is rejected', () => {
    const p = {
      kind: 'handshake' as const,
      version: BRAID_VERSION_1,
      dcid: hex('01'),
      scid: hex('02'),
      messageIndex: 2,
      payload: hex('0304'),
    };
    const bytes = encodeHandshake(p);
    const padded = new Uint8Array(bytes.length + 50);
    padded.set(bytes);
    assert.deepEqual(decodeLongHeader(padded), p);
    padded[bytes.length + 10] = 1; // a coalesced packet, which v1 does not allow
    assert.throws(() => decodeLongHeader(padded), isWireError);
  });

  test('INITIAL in a datagram under 1200 bytes is rejected', () => {
    const p = {
      kind: 'initial' as const,
      version: BRAID_VERSION_1,
      dcid: new Uint8Array(8),
      scid: new Uint8Array(8),
      token: new Uint8Array(0),
      pattern: 0,
      payload: new Uint8Array(96),
    };
    assert.throws(() => decodeLongHeader(encodeInitial(p, 1199)), isWireError);
    assert.deepEqual(decodeLongHeader(encodeInitial(p, 1200)), p);
  });
});

describe('long header: malformed input', () => {
  const handshake = encodeHandshake({
    kind: 'handshake',
    version: BRAID_VERSION_1,
    dcid: hex('01'),
    scid: hex('02'),
    messageIndex: 1,
    payload: hex('0304'),
  });

  test('unknown versions decode to their version-invariant fields only, whatever follows', () => {
    const other = handshake.slice();
    other[4] = 0x02;
    other[0] = 0x8f; // type and reserved bits mean nothing in another version
    assert.deepEqual(decodeLongHeader(other), {
      kind: 'unsupported_version',
      version: 0x42520002,
      dcid: hex('01'),
      scid: hex('02'),
    });
    assert.equal(peekLongHeader(other)?.version, 0x42520002);
    // The invariant fields must still be well formed.
    assert.throws(() => decodeLongHeader(hex('c0 42520002 15')), isWireError);
    assert.throws(() => decodeLongHeader(hex('c0 42520002 01 aa 15')), isWireError);
  });

  test('fixed bit clear, reserved bits set, short form, CID too long, truncation', () => {
    const mutate = (i: number, v: number) => {
      const b = handshake.slice();
      b[i] = v;
      return b;
    };
    assert.throws(() => decodeLongHeader(mutate(0, 0xa0)), isWireError);
    assert.throws(() => decodeLongHeader(mutate(0, 0xe1)), isWireError);
    assert.throws(() => decodeLongHeader(mutate(0, 0x60)), isWireError);
    assert.throws(() => decodeLongHeader(mutate(5, 21)), isWireError);
    for (let n = 0; n < handshake.length; n++) {
      assert.throws(() => decodeLongHeader(handshake.subarray(0, n)), isWireError, `length ${n}`);
    }
  });

  test('Retry with an empty token and Version Negotiation with a ragged list are rejected', () => {
    assert.throws(() => decodeLongHeader(hex('f0 42520001 00 01 aa')), isWireError);
    assert.throws(() => decodeLongHeader(hex('c0 00000000 00 00')), isWireError);
    assert.throws(() => decodeLongHeader(hex('c0 00000000 00 00 425200')), isWireError);
  });
});

describe('short header', () => {
  test('write then parse', () => {
    const buf = new Uint8Array(64);
    const dcid = hex('0102030405060708');
    const headerLength = writeShortHeader(buf, dcid, 1, 2, 0xbeef);
    assert.equal(headerLength, 11);
    assert.equal(toHex(buf.subarray(0, headerLength)), '45 0102030405060708 beef'.replace(/\s+/g, ''));
    const view = parseShortHeader(buf, 8);
    assert.deepEqual(view, { kind: 'short', dcid, pnOffset: 9 });
    assert.deepEqual(shortHeaderFlags(buf[0]), {
      keyPhase: 1,
      pnLength: 2,
      reservedBitsSet: false,
      spin: false,
    });
    assert.equal(writeShortHeader(buf, dcid, 0, 4, 0xffff_ffff, true), 13);
    assert.equal(buf[0], 0x63);
    assert.deepEqual(shortHeaderFlags(0x5b), {
      keyPhase: 0,
      pnLength: 4,
      reservedBitsSet: true,
      spin: false,
    });
  });

  test('parse rejects datagrams too short for a sample, long form, and a clear fixed bit', () => {
    const cidLength = 8;
    const minimum = 1 + cidLength + 4 + 16;
    const ok = new Uint8Array(minimum);
    ok[0] = 0x40;
    assert.equal(parseShortHeader(ok, cidLength).pnOffset, 9);
    assert.throws(() => parseShortHeader(ok.subarray(0, minimum - 1), cidLength), isWireError);
    const clear = ok.slice();
    clear[0] = 0x00;
    assert.throws(() => parseShortHeader(clear, cidLength), isWireError);
    const long = ok.slice();
    long[0] = 0xc0;
    assert.throws(() => parseShortHeader(long, cidLength), isWireError);
  });

  test('writer refuses bad lengths', () => {
    const buf = new Uint8Array(64);
    assert.throws(() => writeShortHeader(buf, hex('01'), 0, 0, 0), RangeError);
    assert.throws(() => writeShortHeader(buf, hex('01'), 0, 5, 0), RangeError);
    assert.throws(() => writeShortHeader(buf, hex('01'), 0, 1, 256), RangeError);
    assert.throws(() => writeShortHeader(new Uint8Array(3), hex('0102'), 0, 1, 0), RangeError);
  });
});

describe('packet numbers (RFC 9000 §17.1, Appendix A)', () => {
  test('A.2 encoding examples', () => {
    assert.deepEqual(encodePacketNumber(0xac5c02, 0xabe8b3), { truncated: 0x5c02, length: 2 });
    assert.deepEqual(encodePacketNumber(0xace8fe, 0xabe8b3), { truncated: 0xace8fe, length: 3 });
    assert.deepEqual(encodePacketNumber(0, undefined), { truncated: 0, length: 1 });
    assert.deepEqual(encodePacketNumber(128, 0), { truncated: 128, length: 1 });
    assert.deepEqual(encodePacketNumber(129, 0), { truncated: 129, length: 2 });
  });

  test('A.3 decoding example', () => {
    assert.equal(decodePacketNumber(0xa82f30ea, 0x9b32, 2), 0xa82f9b32);
  });

  test('decoding wraps in both directions around the window', () => {
    assert.equal(decodePacketNumber(-1, 0, 1), 0);
    assert.equal(decodePacketNumber(255, 0x00, 1), 256);
    assert.equal(decodePacketNumber(256, 0xff, 1), 255);
    assert.equal(decodePacketNumber(2 ** 40, 0x05, 1), 2 ** 40 + 5);
  });

  test('whatever the receiver has seen since the largest acknowledged, the full number comes back', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 52 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (largestAcked, distance, where) => {
          const pn = largestAcked + distance;
          const { truncated, length } = encodePacketNumber(pn, largestAcked);
          const largestReceived = largestAcked + Math.floor((distance - 1) * where);
          assert.equal(decodePacketNumber(largestReceived, truncated, length), pn);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('routing and stateless reset', () => {
  test('peekDestinationCid', () => {
    assert.deepEqual(peekDestinationCid(hex('40 0102 0304'), 2), hex('0102'));
    assert.equal(peekDestinationCid(hex('00 0102 0304'), 2), null, 'fixed bit clear');
    assert.equal(peekDestinationCid(hex('40 01'), 2), null, 'too short');
    assert.equal(peekDestinationCid(hex(''), 2), null);
    assert.deepEqual(peekDestinationCid(hex('c0 42520001 02 aabb'), 8), hex('aabb'));
    assert.equal(peekDestinationCid(hex('c0 42520001 03 aabb'), 8), null);
    assert.equal(peekDestinationCid(hex('c0 42520001 15'), 8), null);
  });

  test('a stateless reset looks like a short header and ends with the token', () => {
    const token = new Uint8Array(16).fill(0xab);
    const reset = encodeStatelessReset(token, 40, (n) => new Uint8Array(n).fill(0xff));
    assert.equal(reset.length, 40);
    assert.equal(reset[0] & 0xc0, 0x40);
    assert.ok(reset.subarray(1, 24).every((b) => b === 0xff));
    assert.deepEqual(statelessResetToken(reset), token);
    assert.deepEqual(
      statelessResetToken(encodeStatelessReset(token, MIN_STATELESS_RESET_LENGTH, (n) => new Uint8Array(n))),
      token,
    );
    assert.throws(() => encodeStatelessReset(token, 20, (n) => new Uint8Array(n)), RangeError);
    assert.throws(() => encodeStatelessReset(token.subarray(1), 30, (n) => new Uint8Array(n)), RangeError);
    assert.equal(statelessResetToken(reset.subarray(0, 20)), null);
    assert.equal(statelessResetToken(hex(`c0${'00'.repeat(30)}`)), null);
  });
});
