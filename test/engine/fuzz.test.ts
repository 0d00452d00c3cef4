/**
 * Hostile input: random and mutated datagrams thrown at live endpoints must never
 * throw, never create server state, and never corrupt an established session.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { CLIENT_ADDR, Pair, SERVER_ADDR, seededRandom } from '../../testing/harness/engine-pair.js';

const TOTAL = Number(process.env.BRAID_FUZZ_DATAGRAMS ?? 100_000);

test(`engine survives ${TOTAL} random and mutated datagrams; the session still works after`, () => {
  const pair = new Pair({ seed: 11 });
  const captured: Uint8Array[] = [];
  pair.hook = (_from, data) => {
    if (captured.length < 200) captured.push(Uint8Array.prototype.slice.call(data));
    return undefined;
  };
  // IK: every byte of the INITIAL is authenticated, so no mutation of it may create a session.
  // (An XX first message carries only an ephemeral key; servers facing junk use Retry.)
  pair.handshake();
  const id = pair.clientConn.openStream(true)!;
  pair.clientConn.writeStream(id, Buffer.alloc(20_000, 7));
  pair.runUntil(() => pair.server.stats.datagramsReceived > 12);
  const serverConnsBefore = pair.serverConns.length;

  const mutated = fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 1500 }),
    fc
      .record({
        base: fc.constantFrom(...captured),
        flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
        cut: fc.option(fc.nat(), { nil: undefined }),
      })
      .map(({ base, flips, cut }) => {
        const out = Uint8Array.prototype.slice.call(base);
        for (const [pos, x] of flips) out[pos % out.length] ^= x;
        return cut === undefined ? out : out.subarray(0, cut % (out.length + 1));
      }),
  );
  const samples = fc.sample(mutated, { numRuns: TOTAL, seed: 42 });
  let i = 0;
  for (const d of samples) {
    // Alternate targets and directions; keep the clock moving slowly.
    if (i % 2 === 0) pair.server.receive(d, SERVER_ADDR, CLIENT_ADDR, pair.now);
    else pair.client.receive(d, CLIENT_ADDR, SERVER_ADDR, pair.now);
    if (i % 1000 === 0) pair.step();
    i++;
  }
  assert.equal(pair.serverConns.length, serverConnsBefore, 'junk created no server sessions');
  const drops = Object.values(pair.server.stats.drops).reduce((a, b) => a + b, 0);
  assert.ok(drops > 0);

  // The real session is intact: finish a transfer and compare hashes.
  const payload = seededRandom(8)(50_000);
  pair.clientConn.writeStream(id, payload);
  pair.clientConn.finishStream(id);
  const sink: Uint8Array[] = [];
  let fin = false;
  pair.runUntil(() => {
    if (!fin) fin = Pair.drain(pair.serverConn, id, sink);
    return fin;
  });
  const got = createHash('sha256').update(Buffer.concat(sink)).digest('hex');
  const want = createHash('sha256')
    .update(Buffer.concat([Buffer.alloc(20_000, 7), payload]))
    .digest('hex');
  assert.equal(got, want);
  assert.equal(pair.clientConn.state, 'established');
});
