/**
 * Decoder fuzzing: random and mutated inputs (≥ 100,000 in total). The only thing a
 * decoder may throw is WireError, and whatever it accepts must re-encode to bytes
 * that decode to the same value.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { WireError } from '../../src/wire/errors.js';
import { decodeFrames, encodeFrames } from '../../src/wire/frame-codec.js';
import type { LongHeaderPacket, VersionNegotiationPacket } from '../../src/wire/packet.js';
import {
  decodeLongHeader,
  encodeHandshake,
  encodeInitial,
  encodeResume,
  encodeRetry,
  encodeVersionNegotiation,
  parseShortHeader,
  peekDestinationCid,
  peekLongHeader,
  shortHeaderFlags,
  writeShortHeader,
} from '../../src/wire/packet-codec.js';
import { decodeTransportParameters, encodeTransportParameters } from '../../src/wire/transport-params.js';
import {
  frameArb,
  handshakeArb,
  initialArb,
  mutatedArb,
  resumeArb,
  retryArb,
  transportParamsArb,
  versionNegotiationArb,
} from '../../testing/harness/wire-arbitraries.js';

/** Runs `decode`; returns undefined when it threw WireError, fails the test on any other exception. */
function attempt<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (err) {
    if (err instanceof WireError) return undefined;
    throw err;
  }
}

const randomBytes = (maxLength: number) => fc.uint8Array({ maxLength });
const counts = { frames: 0, long: 0, short: 0, params: 0, peek: 0 };

function encodeLong(p: LongHeaderPacket | VersionNegotiationPacket): Uint8Array {
  switch (p.kind) {
    case 'initial':
      return encodeInitial(p);
    case 'resume':
      return encodeResume(p);
    case 'handshake':
      return encodeHandshake(p);
    case 'retry':
      return encodeRetry(p);
    case 'version_negotiation':
      return encodeVersionNegotiation(p);
  }
}

describe('decoder fuzzing', () => {
  test('decodeFrames', () => {
    const validFrames = fc.array(frameArb, { minLength: 1, maxLength: 6 }).map((fs) => encodeFrames(fs));
    const input = fc.oneof(randomBytes(64), mutatedArb(validFrames));
    fc.assert(
      fc.property(input, (bytes) => {
        counts.frames++;
        const frames = attempt(() => decodeFrames(bytes));
        if (frames === undefined) return;
        assert.deepEqual(decodeFrames(encodeFrames(frames)), frames);
      }),
      { numRuns: 40_000 },
    );
  });

  test('decodeLongHeader', () => {
    const valid = fc.oneof(
      initialArb.map((p) => encodeInitial(p)),
      resumeArb.map((p) => encodeResume(p)),
      handshakeArb.map((p) => encodeHandshake(p)),
      retryArb.map((p) => encodeRetry(p)),
      versionNegotiationArb.map((p) => encodeVersionNegotiation(p)),
    );
    const input = fc.oneof(randomBytes(80), mutatedArb(valid));
    fc.assert(
      fc.property(input, (bytes) => {
        counts.long++;
        const packet = attempt(() => decodeLongHeader(bytes));
        if (packet === undefined) return;
        if (packet.kind === 'unsupported_version') {
          // Only the version-invariant fields are known: they must agree with peekLongHeader.
          const invariant = peekLongHeader(bytes);
          assert.deepEqual({ ...packet }, { kind: 'unsupported_version', ...invariant });
          return;
        }
        assert.deepEqual(decodeLongHeader(encodeLong(packet)), packet);
      }),
      { numRuns: 30_000 },
    );
  });

  test('parseShortHeader', () => {
    const valid = fc
      .tuple(
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc.integer({ min: 1, max: 4 }),
        fc.nat(),
        fc.uint8Array({ minLength: 16, maxLength: 40 }),
      )
      .map(([dcid, pnLength, pn, body]) => {
        const buf = new Uint8Array(1 + 8 + pnLength + body.length);
        const at = writeShortHeader(buf, dcid, 0, pnLength, pn % 2 ** (8 * pnLength));
        buf.set(body, at);
        return buf;
      });
    const input = fc.tuple(fc.oneof(randomBytes(48), mutatedArb(valid)), fc.integer({ min: 0, max: 20 }));
    fc.assert(
      fc.property(input, ([bytes, cidLength]) => {
        counts.short++;
        const view = attempt(() => parseShortHeader(bytes, cidLength));
        if (view === undefined) return;
        assert.equal(view.dcid.length, cidLength);
        // Rewrite the header from what was parsed (the packet-number bytes taken as-is).
        const { keyPhase, pnLength, spin } = shortHeaderFlags(bytes[0]);
        let pn = 0;
        for (let i = 0; i < pnLength; i++) pn = pn * 256 + bytes[view.pnOffset + i];
        const copy = bytes.slice();
        writeShortHeader(copy, view.dcid, keyPhase, pnLength, pn, spin);
        const again = parseShortHeader(copy, cidLength);
        assert.deepEqual(again, view);
        assert.equal(copy[0] & 0xe7, bytes[0] & 0xe7); // all but the reserved bits preserved
      }),
      { numRuns: 20_000 },
    );
  });

  test('decodeTransportParameters', () => {
    const valid = transportParamsArb.map((p) => encodeTransportParameters(p));
    const input = fc.oneof(randomBytes(64), mutatedArb(valid));
    fc.assert(
      fc.property(
        input,
        fc.constantFrom<'client' | 'server' | undefined>('client', 'server', undefined),
        (bytes, sender) => {
          counts.params++;
          const params = attempt(() => decodeTransportParameters(bytes, sender));
          if (params === undefined) return;
          assert.deepEqual(decodeTransportParameters(encodeTransportParameters(params), sender), params);
        },
      ),
      { numRuns: 25_000 },
    );
  });

  test('peekDestinationCid never throws', () => {
    const input = fc.tuple(
      fc.oneof(randomBytes(40), mutatedArb(handshakeArb.map((p) => encodeHandshake(p)))),
      fc.integer({ min: 0, max: 20 }),
    );
    fc.assert(
      fc.property(input, ([bytes, cidLength]) => {
        counts.peek++;
        const cid = peekDestinationCid(bytes, cidLength);
        if (cid === null) return;
        assert.ok(cid.length <= 20);
        if ((bytes[0] & 0x80) === 0) assert.equal(cid.length, cidLength);
      }),
      { numRuns: 10_000 },
    );
  });

  test('at least 100,000 inputs were tried', () => {
    const total = counts.frames + counts.long + counts.short + counts.params + counts.peek;
    assert.ok(total >= 100_000, `only ${total} inputs`);
  });
});
