// PATH_ABANDON (docs/protocol.md §11.3): exact bytes, reason bounds, malformed input.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeFrames,
  encodeFrames,
  FrameDecodeError,
  frameSize,
  PATH_ABANDON_REASON_MAX,
} from '../../src/wire/frame-codec.js';
import { type Frame, PathAbandonCode } from '../../src/wire/frames.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('PATH_ABANDON frame', () => {
  test('type 0x42 (2-byte varint), path id, error code, reason length, reason', () => {
    const frame: Frame = {
      type: 'path_abandon',
      pathId: 5,
      errorCode: PathAbandonCode.UNRESPONSIVE,
      reason: 'pto',
    };
    const bytes = encodeFrames([frame]);
    assert.equal(toHex(bytes), '4042' + '05' + '02' + '03' + '70746f');
    assert.equal(frameSize(frame), bytes.length);
    assert.deepEqual(decodeFrames(bytes), [frame]);
  });

  test('an empty reason and a large path id', () => {
    const frame: Frame = { type: 'path_abandon', pathId: 300, errorCode: 0, reason: '' };
    const bytes = encodeFrames([frame]);
    assert.equal(toHex(bytes), '4042412c0000');
    assert.deepEqual(decodeFrames(bytes), [frame]);
  });

  test('a reason longer than 64 bytes is cut on a character boundary when encoding', () => {
    const frame: Frame = { type: 'path_abandon', pathId: 1, errorCode: 3, reason: 'é'.repeat(40) };
    const bytes = encodeFrames([frame]);
    assert.equal(frameSize(frame), bytes.length);
    const decoded = decodeFrames(bytes)[0];
    assert.ok(decoded.type === 'path_abandon');
    assert.equal(decoded.reason, 'é'.repeat(32));
    assert.ok(Buffer.byteLength(decoded.reason) <= PATH_ABANDON_REASON_MAX);
  });

  test('invalid UTF-8 in the reason decodes to U+FFFD and still re-encodes within 64 bytes', () => {
    const bytes = hex(`4042 01 00 4040 ${'80'.repeat(64)}`);
    const decoded = decodeFrames(bytes)[0];
    assert.ok(decoded.type === 'path_abandon');
    assert.ok(Buffer.byteLength(decoded.reason) <= PATH_ABANDON_REASON_MAX);
    assert.deepEqual(decodeFrames(encodeFrames([decoded])), [decoded]);
  });

  test('malformed: a reason over 64 bytes, truncation anywhere', () => {
    const isDecodeError = (err: unknown) => err instanceof FrameDecodeError && err.frameType === 0x42;
    assert.throws(() => decodeFrames(hex(`4042 01 00 41 ${'61'.repeat(65)}`)), isDecodeError);
    const full = encodeFrames([{ type: 'path_abandon', pathId: 7, errorCode: 1, reason: 'gone' }]);
    for (let cut = 2; cut < full.length; cut++)
      assert.throws(() => decodeFrames(full.subarray(0, cut)), isDecodeError, `cut at ${cut}`);
  });
});
