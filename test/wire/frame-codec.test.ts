import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TransportError, WireError } from '../../src/wire/errors.js';
import {
  datagramFrameOverhead,
  decodeFrames,
  encodeDatagramFrameHeader,
  encodeFrame,
  encodeFrames,
  encodeStreamFrameHeader,
  FrameDecodeError,
  frameSize,
  streamDataCapacity,
  streamFrameOverhead,
} from '../../src/wire/frame-codec.js';
import type { Frame } from '../../src/wire/frames.js';
import { MAX_VARINT, Writer } from '../../src/wire/varint.js';
import { collapsePadding, frameArb, varintArb } from '../../testing/harness/wire-arbitraries.js';

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}
function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function rejects(bytes: Uint8Array, frameType?: number): void {
  assert.throws(
    () => decodeFrames(bytes),
    (err: unknown) =>
      err instanceof FrameDecodeError &&
      err.code === TransportError.FRAME_ENCODING_ERROR &&
      (frameType === undefined || err.frameType === frameType),
  );
}

describe('frame codec: exact bytes (docs/protocol.md §Frames)', () => {
  const cases: [string, Frame, string][] = [
    ['PING', { type: 'ping' }, '01'],
    ['HANDSHAKE_DONE', { type: 'handshake_done' }, '1e'],
    ['PADDING x3', { type: 'padding', length: 3 }, '000000'],
    [
      // path 0, largest 10, delay 1000 µs, 1 extra range; first range 10..8; gap = 8-5-2 = 1; then 5..2.
      'ACK with two ranges',
      {
        type: 'ack',
        pathId: 0,
        ackDelayMicros: 1000,
        ranges: [
          { smallest: 8, largest: 10 },
          { smallest: 2, largest: 5 },
        ],
      },
      '02 00 0a 43e8 01 02 01 03',
    ],
    [
      'ACK on path 3, single packet',
      { type: 'ack', pathId: 3, ackDelayMicros: 0, ranges: [{ smallest: 7, largest: 7 }] },
      '02 03 07 00 00 00',
    ],
    [
      'RESET_STREAM',
      { type: 'reset_stream', streamId: 4, errorCode: 0x100, finalSize: 70 },
      '04 04 4100 4046',
    ],
    ['STOP_SENDING', { type: 'stop_sending', streamId: 9, errorCode: 1 }, '05 09 01'],
    ['NEW_TOKEN', { type: 'new_token', token: hex('aabb') }, '07 02 aabb'],
    [
      'STREAM id 4, offset 0, LEN, FIN',
      { type: 'stream', streamId: 4, offset: 0, data: hex('6869'), fin: true },
      '0b 04 02 6869',
    ],
    [
      'STREAM id 1, offset 300, LEN',
      { type: 'stream', streamId: 1, offset: 300, data: hex('ff'), fin: false },
      '0e 01 412c 01 ff',
    ],
    ['MAX_DATA', { type: 'max_data', maximum: 16384 }, '10 80004000'],
    ['MAX_STREAM_DATA', { type: 'max_stream_data', streamId: 2, maximum: 5 }, '11 02 05'],
    ['MAX_STREAMS bidi', { type: 'max_streams', bidirectional: true, maximum: 100 }, '12 4064'],
    ['MAX_STREAMS uni', { type: 'max_streams', bidirectional: false, maximum: 3 }, '13 03'],
    ['DATA_BLOCKED', { type: 'data_blocked', limit: 1 }, '14 01'],
    ['STREAM_DATA_BLOCKED', { type: 'stream_data_blocked', streamId: 8, limit: 2 }, '15 08 02'],
    ['STREAMS_BLOCKED bidi', { type: 'streams_blocked', bidirectional: true, limit: 4 }, '16 04'],
    ['STREAMS_BLOCKED uni', { type: 'streams_blocked', bidirectional: false, limit: 4 }, '17 04'],
    [
      'NEW_CONNECTION_ID',
      {
        type: 'new_connection_id',
        pathId: 1,
        sequence: 2,
        retirePriorTo: 1,
        connectionId: hex('aabbccdd'),
        statelessResetToken: new Uint8Array(16).fill(0x11),
      },
      `18 01 02 01 04 aabbccdd ${'11'.repeat(16)}`,
    ],
    ['RETIRE_CONNECTION_ID', { type: 'retire_connection_id', pathId: 1, sequence: 2 }, '19 01 02'],
    ['PATH_CHALLENGE', { type: 'path_challenge', data: hex('0102030405060708') }, '1a 0102030405060708'],
    ['PATH_RESPONSE', { type: 'path_response', data: hex('0102030405060708') }, '1b 0102030405060708'],
    [
      'CLOSE',
      { type: 'close', application: false, errorCode: 7, frameType: 8, reason: 'bad' },
      '1c 07 08 03 626164',
    ],
    [
      'APPLICATION_CLOSE',
      { type: 'close', application: true, errorCode: 0x100, frameType: 0, reason: '' },
      '1d 4100 00',
    ],
    ['DATAGRAM with length', { type: 'datagram', data: hex('cafe') }, '31 02 cafe'],
    [
      'RESUMPTION_ID',
      {
        type: 'resumption_id',
        sequence: 3,
        resumptionId: new Uint8Array(16).fill(0xaa),
        lostToken: new Uint8Array(16).fill(0x11),
        expiredToken: new Uint8Array(16).fill(0x22),
      },
      `4050 03 ${'aa'.repeat(16)} ${'11'.repeat(16)} ${'22'.repeat(16)}`,
    ],
    ['RESUME_DONE', { type: 'resume_done' }, '4051'],
    [
      'RESUME_STATE',
      {
        type: 'resume_state',
        bidiSeen: 2,
        uniSeen: 1,
        total: 2,
        entries: [
          { streamId: 0, offset: 1000, fin: false, reset: false },
          { streamId: 3, offset: 5, fin: true, reset: false },
        ],
      },
      '4052 02 01 02 02 00 43e8 00 03 05 01',
    ],
    ['SUSPENDED', { type: 'suspended' }, '4053'],
    ['CHECKPOINT', { type: 'checkpoint', streamId: 4, offset: 65536 }, '4054 04 80010000'],
    ['CHECKPOINT_ACK', { type: 'checkpoint_ack', streamId: 4, offset: 65536 }, '4055 04 80010000'],
    [
      'NEW_TICKET',
      { type: 'new_ticket', lifetime: 86_400_000, maxEarlyData: 1024, ticket: hex('0102') },
      '4056 8526 5c00 4400 02 0102',
    ],
  ];
  for (const [name, frame, expected] of cases) {
    test(name, () => {
      const bytes = encodeFrames([frame]);
      assert.equal(toHex(bytes), expected.replace(/\s+/g, ''));
      assert.equal(frameSize(frame), bytes.length);
      assert.deepEqual(decodeFrames(bytes), [frame]);
    });
  }

  test('STREAM and DATAGRAM without length run to the end of the payload', () => {
    assert.deepEqual(decodeFrames(hex('0d 01 412c abcd')), [
      { type: 'stream', streamId: 1, offset: 300, data: hex('abcd'), fin: true },
    ]);
    assert.deepEqual(decodeFrames(hex('01 30 abcd')), [
      { type: 'ping' },
      { type: 'datagram', data: hex('abcd') },
    ]);
    assert.deepEqual(decodeFrames(hex('08 00')), [
      { type: 'stream', streamId: 0, offset: 0, data: new Uint8Array(0), fin: false },
    ]);
  });
});

describe('frame codec: round trips', () => {
  test('any frame sequence re-decodes identically, and frameSize matches the encoding', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), (frames) => {
        const w = new Writer(new Uint8Array(4096));
        for (const f of frames) {
          const before = w.offset;
          encodeFrame(w, f);
          assert.equal(w.offset - before, frameSize(f));
        }
        assert.deepEqual(decodeFrames(w.buf.subarray(0, w.offset)), collapsePadding(frames));
      }),
      { numRuns: 3000 },
    );
  });

  test('STREAM and DATAGRAM data are views into the payload; other bytes are copies', () => {
    const payload = encodeFrames([
      { type: 'stream', streamId: 0, offset: 0, data: hex('010203'), fin: false },
      { type: 'datagram', data: hex('0405') },
      { type: 'path_challenge', data: hex('0102030405060708') },
    ]);
    const [stream, datagram, challenge] = decodeFrames(payload);
    assert.ok(stream.type === 'stream' && stream.data.buffer === payload.buffer);
    assert.ok(datagram.type === 'datagram' && datagram.data.buffer === payload.buffer);
    assert.ok(challenge.type === 'path_challenge' && challenge.data.buffer !== payload.buffer);
  });

  test('runs of PADDING collapse into one frame', () => {
    assert.deepEqual(decodeFrames(hex('000000 01 00')), [
      { type: 'padding', length: 3 },
      { type: 'ping' },
      { type: 'padding', length: 1 },
    ]);
    assert.deepEqual(decodeFrames(new Uint8Array(0)), []);
  });

  test('invalid UTF-8 in a close reason is replaced, not rejected', () => {
    const [frame] = decodeFrames(hex('1d 00 03 61ff62'));
    assert.deepEqual(frame, {
      type: 'close',
      application: true,
      errorCode: 0,
      frameType: 0,
      reason: 'a\ufffdb',
    });
  });
});

describe('frame codec: packetizer helpers', () => {
  test('encodeStreamFrameHeader writes exactly streamFrameOverhead bytes, then data decodes', () => {
    fc.assert(
      fc.property(
        varintArb,
        fc.integer({ min: 0, max: MAX_VARINT - 100 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.boolean(),
        fc.boolean(),
        (streamId, offset, data, fin, withLength) => {
          const buf = new Uint8Array(200);
          const w = new Writer(buf);
          encodeStreamFrameHeader(w, streamId, offset, data.length, fin, withLength);
          assert.equal(w.offset, streamFrameOverhead(streamId, offset, data.length, withLength));
          w.bytes(data);
          assert.deepEqual(decodeFrames(buf.subarray(0, w.offset)), [
            { type: 'stream', streamId, offset, data, fin },
          ]);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('streamDataCapacity is the largest data length whose frame fits', () => {
    fc.assert(
      fc.property(
        varintArb,
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 70000 }),
        (id, off, space) => {
          const n = streamDataCapacity(id, off, space);
          if (n > 0 || streamFrameOverhead(id, off, 0, true) <= space) {
            assert.ok(streamFrameOverhead(id, off, n, true) + n <= space);
          }
          assert.ok(streamFrameOverhead(id, off, n + 1, true) + n + 1 > space);
        },
      ),
      // A length-field size boundary that a random seed found once (16382 returned, 16383 fits).
      { numRuns: 2000, examples: [[0, 2 ** 30, 16396]] },
    );
  });

  test('DATAGRAM header helpers agree with the decoder', () => {
    for (const withLength of [true, false]) {
      const data = hex('aabbcc');
      const w = new Writer(new Uint8Array(10));
      encodeDatagramFrameHeader(w, data.length, withLength);
      assert.equal(w.offset, datagramFrameOverhead(data.length, withLength));
      w.bytes(data);
      assert.deepEqual(decodeFrames(w.buf.subarray(0, w.offset)), [{ type: 'datagram', data }]);
    }
  });

  test('encoders refuse invalid frames with RangeError', () => {
    const bad: Frame[] = [
      { type: 'ack', pathId: 0, ackDelayMicros: 0, ranges: [] },
      {
        type: 'ack',
        pathId: 0,
        ackDelayMicros: 0,
        ranges: [
          { smallest: 5, largest: 6 },
          { smallest: 2, largest: 4 }, // adjacent to the previous range
        ],
      },
      {
        type: 'new_connection_id',
        pathId: 0,
        sequence: 1,
        retirePriorTo: 2,
        connectionId: hex('01'),
        statelessResetToken: new Uint8Array(16),
      },
      {
        type: 'new_connection_id',
        pathId: 0,
        sequence: 1,
        retirePriorTo: 0,
        connectionId: new Uint8Array(21),
        statelessResetToken: new Uint8Array(16),
      },
      { type: 'path_challenge', data: new Uint8Array(7) },
      { type: 'new_token', token: new Uint8Array(0) },
      { type: 'stream', streamId: 0, offset: MAX_VARINT, data: hex('00'), fin: false },
      { type: 'max_streams', bidirectional: true, maximum: 2 ** 51 + 1 },
      { type: 'padding', length: 0 },
    ];
    for (const f of bad)
      assert.throws(() => encodeFrame(new Writer(new Uint8Array(100)), f), RangeError, f.type);
  });
});

describe('frame codec: SEQUENCED_DATAGRAM (0x48, 0x49)', () => {
  test('exact bytes: 2-byte type 0x49, sequence, length, data; 0x48 runs to the end of the packet', () => {
    const frame: Frame = { type: 'datagram', sequence: 300, data: hex('aabbcc') };
    const bytes = encodeFrames([frame]);
    assert.equal(toHex(bytes), '4049' + '412c' + '03' + 'aabbcc');
    assert.equal(frameSize(frame), bytes.length);
    assert.deepEqual(decodeFrames(bytes), [frame]);
    assert.deepEqual(decodeFrames(hex('4048 05 0102')), [
      { type: 'datagram', sequence: 5, data: hex('0102') },
    ]);
    // Without a sequence number it stays a plain DATAGRAM (0x31).
    assert.equal(toHex(encodeFrames([{ type: 'datagram', data: hex('aa') }])), '3101aa');
  });

  test('truncated sequence or length is FRAME_ENCODING_ERROR', () => {
    rejects(hex('4049'), 0x49);
    rejects(hex('4049 05'), 0x49);
    rejects(hex('4049 05 04 0102'), 0x49);
    rejects(hex('4048'), 0x48);
  });
});

describe('frame codec: malformed input', () => {
  test('unknown and reserved frame types', () => {
    rejects(hex('03'), 0x03); // ACK_ECN is not part of Braid
    rejects(hex('1f'), 0x1f);
    rejects(hex('21'), 0x21);
    rejects(hex('4047'), 0x47); // path frames beyond PATH_ABANDON: reserved
    rejects(hex('405f'), 0x5f); // persistence frames beyond NEW_TICKET (0x56): reserved
    rejects(hex('4057'), 0x57);
    rejects(hex('4060'), 0x60);
  });

  test('non-minimal frame type encodings', () => {
    rejects(hex('4001'), 0x01);
    rejects(hex('4000'), 0x00);
  });

  test('truncation anywhere in a frame', () => {
    const full = encodeFrames([
      {
        type: 'new_connection_id',
        pathId: 1,
        sequence: 300,
        retirePriorTo: 0,
        connectionId: hex('0102030405060708'),
        statelessResetToken: new Uint8Array(16),
      },
    ]);
    for (let n = 1; n < full.length; n++) rejects(full.subarray(0, n), 0x18);
    rejects(hex('40'), 0);
  });

  test('ACK ranges that would go below packet number 0', () => {
    rejects(hex('02 00 05 00 00 06'), 0x02); // first range 6 > largest 5
    rejects(hex('02 00 05 00 01 00 04 00'), 0x02); // gap 4: next largest = 5 - 4 - 2 < 0
    rejects(hex('02 00 05 00 01 00 01 03'), 0x02); // next range 2..-1
    rejects(hex('02 00 05 00 3f 00'), 0x02); // 63 ranges announced, none present
  });

  test('NEW_CONNECTION_ID field checks', () => {
    const token = '00'.repeat(16);
    rejects(hex(`18 00 01 02 04 01020304 ${token}`), 0x18); // retire_prior_to > sequence
    rejects(hex(`18 00 01 00 00 ${token}`), 0x18); // empty CID
    rejects(hex(`18 00 01 00 15 ${'00'.repeat(21)} ${token}`), 0x18); // 21-byte CID
  });

  test('stream limits', () => {
    // offset 2^53-1 with one byte of data exceeds the offset space.
    rejects(hex('0e 00 c01fffffffffffff 01 00'), 0x0e);
    // stream count above 2^51
    rejects(hex('12 c008000000000001'), 0x12);
    rejects(hex('17 c008000000000001'), 0x17);
    rejects(hex('07 00'), 0x07); // empty NEW_TOKEN
    rejects(hex('0a 00 05 0102'), 0x0a); // length beyond the payload
  });

  test('errors are WireError subclasses carrying the offending frame type', () => {
    try {
      decodeFrames(hex('01 1a 0102'));
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof WireError);
      assert.ok(err instanceof FrameDecodeError);
      assert.equal(err.frameType, 0x1a);
    }
  });
});
