import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ReceiveBuffer } from '../../src/engine/streams/receive-buffer.js';
import { SendBuffer } from '../../src/engine/streams/send-buffer.js';

function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed * 31 + i * 7) & 0xff;
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

test('sends new data in order, views within a chunk, copies across chunks', () => {
  const buffer = new SendBuffer();
  const a = bytes(10, 1);
  const b = bytes(10, 2);
  buffer.write(a);
  buffer.write(b);
  const first = buffer.nextChunk(4, Number.POSITIVE_INFINITY)!;
  assert.equal(first.offset, 0);
  assert.equal(first.data.buffer, a.buffer, 'a view, not a copy');
  assert.deepEqual(first.data, a.subarray(0, 4));
  const spanning = buffer.nextChunk(10, Number.POSITIVE_INFINITY)!;
  assert.equal(spanning.offset, 4);
  assert.deepEqual(spanning.data, concat([a.subarray(4), b.subarray(0, 4)]));
  assert.equal(buffer.highestSentOffset, 14);
  assert.equal(spanning.fin, false);
  assert.equal(spanning.isRetransmission, false);
});

test('respects the flow limit and reports being blocked', () => {
  const buffer = new SendBuffer();
  buffer.write(bytes(100, 3));
  assert.ok(buffer.hasSendable(30));
  assert.equal(buffer.nextChunk(1000, 30)!.data.length, 30);
  assert.equal(buffer.hasSendable(30), false);
  assert.ok(buffer.isFlowBlocked(30));
  assert.equal(buffer.nextChunk(1000, 30), undefined);
  assert.equal(buffer.nextChunk(1000, 100)!.data.length, 70);
});

test('retransmits lost ranges first, skipping acknowledged parts, then new data', () => {
  const buffer = new SendBuffer();
  buffer.write(bytes(300, 4));
  buffer.nextChunk(100, 1000);
  buffer.nextChunk(100, 1000);
  buffer.onAcked(50, 20, false); // partly acknowledged before the loss was declared
  buffer.onLost(0, 100, false);
  assert.equal(buffer.lostBytes, 80);
  const r1 = buffer.nextChunk(1000, 1000)!;
  assert.deepEqual([r1.offset, r1.data.length, r1.isRetransmission], [0, 50, true]);
  const r2 = buffer.nextChunk(10, 1000)!;
  assert.deepEqual([r2.offset, r2.data.length, r2.isRetransmission], [70, 10, true]);
  const r3 = buffer.nextChunk(1000, 1000)!;
  assert.deepEqual([r3.offset, r3.data.length], [80, 20]);
  const fresh = buffer.nextChunk(1000, 1000)!;
  assert.deepEqual([fresh.offset, fresh.data.length, fresh.isRetransmission], [200, 100, false]);
});

test('FIN rides on the last chunk, is retransmitted alone when lost, and completes on ack', () => {
  const buffer = new SendBuffer();
  buffer.write(bytes(10, 5));
  buffer.finish();
  const chunk = buffer.nextChunk(100, 100)!;
  assert.equal(chunk.fin, true);
  assert.equal(buffer.hasSendable(100), false);
  buffer.onAcked(0, 10, false);
  assert.equal(buffer.isFullyAcked, false);
  buffer.onLost(10, 0, true);
  const fin = buffer.nextChunk(100, 100)!;
  assert.deepEqual([fin.offset, fin.data.length, fin.fin, fin.isRetransmission], [10, 0, true, true]);
  buffer.onAcked(10, 0, true);
  assert.ok(buffer.isFullyAcked);
  assert.equal(buffer.hasSendable(100), false);
});

test('a bare FIN needs no flow credit', () => {
  const buffer = new SendBuffer();
  buffer.write(bytes(5, 6));
  buffer.nextChunk(100, 5);
  buffer.finish();
  const fin = buffer.nextChunk(100, 5)!;
  assert.deepEqual([fin.offset, fin.fin, fin.isRetransmission], [5, true, false]);
});

test('memory is released as data is acknowledged in order', () => {
  const buffer = new SendBuffer();
  for (let i = 0; i < 200; i++) buffer.write(bytes(100, i));
  for (let i = 0; i < 200; i++) buffer.nextChunk(100, Number.POSITIVE_INFINITY);
  assert.equal(buffer.heldChunks, 200);
  buffer.onAcked(100, 9900, false); // everything but the first chunk: nothing released yet
  assert.equal(buffer.heldChunks, 200);
  assert.equal(buffer.unackedBytes, 20000);
  buffer.onAcked(0, 100, false);
  assert.equal(buffer.heldChunks, 100);
  assert.equal(buffer.unackedBytes, 10000);
  buffer.onAcked(10000, 10000, false);
  assert.equal(buffer.heldChunks, 0);
  assert.equal(buffer.unackedBytes, 0);
  // Chunks written after compaction still map to the right offsets.
  buffer.write(bytes(50, 999));
  const next = buffer.nextChunk(100, Number.POSITIVE_INFINITY)!;
  assert.equal(next.offset, 20000);
  assert.deepEqual(next.data, bytes(50, 999));
});

test('property: any order of acks, losses and spurious losses delivers the written bytes exactly once', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 16 }),
      fc.array(fc.nat(10_000), { maxLength: 250 }),
      fc.boolean(),
      (sizes, tape, finish) => {
        const sender = new SendBuffer();
        const receiver = new ReceiveBuffer();
        const written: Uint8Array[] = [];
        const received: Uint8Array[] = [];
        const inFlight: Array<{ offset: number; data: Uint8Array; fin: boolean }> = [];
        const packet = new Uint8Array(256);
        let flowLimit = 64;
        let nextWrite = 0;
        const writeNext = () => {
          const data = bytes(sizes[nextWrite], nextWrite);
          written.push(data);
          sender.write(data);
          nextWrite++;
        };
        const emit = (maxLength: number, viaEmitInto: boolean) => {
          if (viaEmitInto) {
            const plan = sender.emitInto(packet, 3, maxLength, flowLimit);
            if (plan)
              inFlight.push({ offset: plan.offset, data: packet.slice(3, 3 + plan.length), fin: plan.fin });
          } else {
            const chunk = sender.nextChunk(maxLength, flowLimit);
            if (chunk) inFlight.push({ offset: chunk.offset, data: chunk.data.slice(), fin: chunk.fin });
          }
        };
        const deliver = (frame: { offset: number; data: Uint8Array; fin: boolean }) => {
          receiver.insert(frame.offset, frame.data, frame.fin);
          for (let r = receiver.read(); r; r = receiver.read()) received.push(r.slice());
        };
        while (nextWrite < sizes.length / 2) writeNext();
        for (const d of tape) {
          const op = d % 6;
          const pick = inFlight.length > 0 ? Math.floor(d / 6) % inFlight.length : -1;
          if (op === 0 || op === 1) emit(1 + (d % 97), op === 1);
          else if (op === 2 && pick >= 0) {
            const [frame] = inFlight.splice(pick, 1);
            deliver(frame);
            sender.onAcked(frame.offset, frame.data.length, frame.fin);
          } else if (op === 3 && pick >= 0) {
            const [frame] = inFlight.splice(pick, 1);
            if (d % 5 === 0) deliver(frame); // spurious: arrived although declared lost
            sender.onLost(frame.offset, frame.data.length, frame.fin);
          } else if (op === 4) flowLimit += d % 200;
          else if (op === 5 && nextWrite < sizes.length) writeNext();
        }
        while (nextWrite < sizes.length) writeNext();
        if (finish) sender.finish();
        flowLimit = Number.POSITIVE_INFINITY;
        // Drain: a perfect network from here on.
        for (
          let guard = 0;
          guard < 100_000 && (inFlight.length > 0 || sender.hasSendable(flowLimit));
          guard++
        ) {
          emit(50, guard % 2 === 0);
          const frame = inFlight.shift();
          if (frame) {
            deliver(frame);
            sender.onAcked(frame.offset, frame.data.length, frame.fin);
          }
        }
        assert.deepEqual(concat(received), concat(written));
        assert.equal(sender.unackedBytes, 0);
        assert.equal(sender.heldChunks, 0);
        assert.equal(sender.isFullyAcked, finish);
        assert.equal(receiver.isFinished, finish);
        assert.equal(receiver.bufferedBytes, 0);
      },
    ),
    { numRuns: 300 },
  );
});

test('a large transfer with 1% loss stays fast and releases memory', () => {
  const block = bytes(64 * 1024, 7);
  const sender = new SendBuffer();
  const total = 64 * 1024 * 1024;
  for (let written = 0; written < total; written += block.length) sender.write(block);
  sender.finish();
  const packet = new Uint8Array(1200);
  const lost: Array<{ offset: number; length: number; fin: boolean; sentAt: number }> = [];
  let sent = 0;
  let heldMismatches = 0;
  let maxLag = 0;
  let checksum = 0;
  const started = performance.now();
  for (let i = 0; !sender.isFullyAcked; i++) {
    const plan = sender.emitInto(packet, 0, 1150, Number.POSITIVE_INFINITY);
    if (!plan) {
      const frame = lost.shift()!;
      sender.onLost(frame.offset, frame.length, frame.fin);
      continue;
    }
    sent++;
    if (i % 100 === 37) {
      lost.push({ ...plan, sentAt: i });
    } else {
      checksum += packet[0];
      sender.onAcked(plan.offset, plan.length, plan.fin);
    }
    // Loss is detected a few dozen packets later, as packet-threshold detection would.
    if (lost.length > 0 && i - lost[0].sentAt > 30) {
      const frame = lost.shift()!;
      sender.onLost(frame.offset, frame.length, frame.fin);
    }
    // Every fully acknowledged block is released at once.
    const expectedHeld = total / block.length - Math.floor(sender.ackedOffset / block.length);
    if (sender.heldChunks !== expectedHeld) heldMismatches++;
    maxLag = Math.max(maxLag, sender.highestSentOffset - sender.ackedOffset);
  }
  const elapsed = performance.now() - started;
  assert.ok(checksum > 0);
  assert.equal(sender.heldChunks, 0);
  assert.equal(heldMismatches, 0);
  assert.ok(maxLag < 200 * 1150, `acknowledged prefix lagged ${maxLag} bytes`);
  assert.ok(sent > total / 1150);
  console.log(`64 MiB through SendBuffer with 1% loss: ${sent} chunks in ${elapsed.toFixed(0)} ms`);
});
