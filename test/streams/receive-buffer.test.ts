import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { StreamError } from '../../src/engine/streams/errors.js';
import { ReceiveBuffer } from '../../src/engine/streams/receive-buffer.js';
import { TransportError } from '../../src/wire/errors.js';

function bytes(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed + i * 13) & 0xff;
  return out;
}

function readAll(buffer: ReceiveBuffer): number[] {
  const out: number[] = [];
  for (let r = buffer.read(); r; r = buffer.read()) out.push(...r);
  return out;
}

function throwsCode(fn: () => unknown, code: number): void {
  assert.throws(fn, (e: unknown) => e instanceof StreamError && e.code === code);
}

test('in-order data is readable at once and reads are bounded by maxBytes', () => {
  const buffer = new ReceiveBuffer();
  assert.equal(buffer.insert(0, bytes(10), false), 10);
  assert.equal(buffer.readableBytes, 10);
  assert.deepEqual(buffer.read(4), bytes(10).subarray(0, 4));
  assert.deepEqual(buffer.read(), bytes(10).subarray(4));
  assert.equal(buffer.read(), undefined);
  assert.equal(buffer.readOffset, 10);
});

test('copies on insert: mutating the packet buffer afterwards changes nothing', () => {
  const buffer = new ReceiveBuffer();
  const packet = bytes(8);
  buffer.insert(0, packet, false);
  packet.fill(0);
  assert.deepEqual(buffer.read(), bytes(8));
});

test('out-of-order data waits for the gap and reads span segments', () => {
  const data = bytes(30);
  const buffer = new ReceiveBuffer();
  assert.equal(buffer.insert(20, data.subarray(20, 30), false), 30);
  assert.equal(buffer.insert(10, data.subarray(10, 20), false), 0);
  assert.equal(buffer.readableBytes, 0);
  assert.equal(buffer.bufferedBytes, 20);
  buffer.insert(0, data.subarray(0, 10), false);
  assert.equal(buffer.readableBytes, 30);
  assert.deepEqual(buffer.read(25), data.subarray(0, 25));
  assert.deepEqual(buffer.read(), data.subarray(25));
  assert.equal(buffer.bufferedBytes, 0);
});

test('duplicates and overlaps are trimmed so each byte is delivered once', () => {
  const data = bytes(50, 3);
  const buffer = new ReceiveBuffer();
  buffer.insert(10, data.subarray(10, 20), false);
  buffer.insert(30, data.subarray(30, 40), false);
  buffer.insert(5, data.subarray(5, 45), false); // covers both held segments and the gaps around them
  buffer.insert(10, data.subarray(10, 20), false); // exact duplicate
  assert.equal(buffer.bufferedBytes, 40);
  buffer.insert(0, data.subarray(0, 8), false);
  buffer.insert(2, data.subarray(2, 50), true);
  assert.deepEqual(readAll(buffer), [...data]);
  assert.ok(buffer.isFinished);
  buffer.insert(0, data.subarray(0, 50), true); // retransmission after the end
  assert.equal(buffer.read(), undefined);
});

test('final size errors', () => {
  const buffer = new ReceiveBuffer();
  buffer.insert(0, bytes(10), true);
  throwsCode(() => buffer.insert(5, bytes(10), false), TransportError.FINAL_SIZE_ERROR);
  throwsCode(() => buffer.insert(0, bytes(5), true), TransportError.FINAL_SIZE_ERROR);
  const other = new ReceiveBuffer();
  other.insert(0, bytes(20), false);
  throwsCode(() => other.insert(0, bytes(10), true), TransportError.FINAL_SIZE_ERROR);
  throwsCode(() => other.reset(15), TransportError.FINAL_SIZE_ERROR);
  throwsCode(() => other.insert(-1, bytes(1), false), TransportError.FRAME_ENCODING_ERROR);
  throwsCode(() => other.insert(2 ** 53, bytes(1), false), TransportError.FRAME_ENCODING_ERROR);
});

test('an empty FIN finishes the stream once the data is read', () => {
  const buffer = new ReceiveBuffer();
  buffer.insert(0, bytes(4), false);
  buffer.insert(4, new Uint8Array(0), true);
  assert.ok(buffer.isComplete);
  assert.equal(buffer.isFinished, false);
  buffer.read();
  assert.ok(buffer.isFinished);
});

test('reset fixes the final size, drops data and counts the rest for flow control', () => {
  const buffer = new ReceiveBuffer();
  buffer.insert(10, bytes(10), false);
  assert.equal(buffer.reset(100), 80);
  assert.equal(buffer.bufferedBytes, 0);
  assert.equal(buffer.finalSize, 100);
  assert.equal(buffer.highestReceived, 100);
  assert.ok(buffer.isFinished);
  const fin = new ReceiveBuffer();
  fin.insert(0, bytes(5), true);
  throwsCode(() => fin.reset(6), TransportError.FINAL_SIZE_ERROR);
});

test('discard releases held data and keeps counting new bytes', () => {
  const buffer = new ReceiveBuffer();
  buffer.insert(0, bytes(10), false);
  buffer.insert(20, bytes(10), false);
  assert.equal(buffer.discard(), 30);
  assert.equal(buffer.bufferedBytes, 0);
  assert.equal(buffer.insert(30, bytes(10), true), 10);
  assert.equal(buffer.readOffset, 40);
  assert.ok(buffer.isFinished);
  assert.equal(buffer.read(), undefined);
});

test('property: any segmentation, order and duplication reassembles the original', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 400 }),
      fc.array(fc.tuple(fc.nat(400), fc.integer({ min: 0, max: 80 })), { maxLength: 40 }),
      fc.array(fc.nat(1000), { maxLength: 40 }),
      (length, pieces, readSizes) => {
        const data = bytes(length, length);
        // Random pieces plus a covering in-order pass so that everything eventually arrives.
        const frames = pieces
          .map(([start, len]) => [Math.min(start, length), Math.min(start + len, length)] as const)
          .concat(
            Array.from(
              { length: Math.ceil(length / 50) + 1 },
              (_, i) => [i * 50, Math.min(length, i * 50 + 50)] as const,
            ).filter(([s, e]) => s <= e),
          );
        const buffer = new ReceiveBuffer();
        const out: number[] = [];
        let highest = 0;
        let counted = 0;
        frames.forEach(([start, end], i) => {
          counted += buffer.insert(start, data.subarray(start, end), end === length);
          highest = Math.max(highest, end);
          assert.equal(counted, highest);
          const chunk = buffer.read(readSizes[i] ?? 1000);
          if (chunk) out.push(...chunk);
          assert.ok(buffer.bufferedBytes <= highest - buffer.readOffset);
        });
        out.push(...readAll(buffer));
        assert.deepEqual(out, [...data]);
        assert.ok(buffer.isFinished);
        assert.equal(buffer.bufferedBytes, 0);
      },
    ),
    { numRuns: 400 },
  );
});

test('views returned by read stay intact while later data fills the same block', () => {
  const buffer = new ReceiveBuffer();
  buffer.insert(0, bytes(100, 1), false);
  const first = buffer.read()!;
  buffer.insert(100, bytes(100, 2), false);
  buffer.insert(300, bytes(100, 4), false);
  buffer.insert(200, bytes(100, 3), false);
  assert.deepEqual(first, bytes(100, 1));
  assert.equal(buffer.readableBytes, 300);
  assert.deepEqual(buffer.read(), new Uint8Array([...bytes(100, 2), ...bytes(100, 3), ...bytes(100, 4)]));
  assert.deepEqual(first, bytes(100, 1));
});
