import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ReplayWindow } from '../../src/crypto/replay-window.js';

test('new packet numbers pass, duplicates do not', () => {
  const w = new ReplayWindow(64);
  assert.equal(w.check(0), true);
  w.mark(0);
  assert.equal(w.check(0), false);
  assert.equal(w.check(1), true);
  w.mark(5);
  assert.equal(w.check(5), false);
  assert.equal(w.check(3), true, 'a gap below the largest is still acceptable');
  w.mark(3);
  assert.equal(w.check(3), false);
  assert.equal(w.largestSeen, 5);
});

test('exact window edge: largest - size + 1 is inside, largest - size is too old', () => {
  const w = new ReplayWindow(64);
  w.mark(100);
  assert.equal(w.check(100 - 63), true);
  assert.equal(w.check(100 - 64), false);
  w.mark(100 - 63);
  assert.equal(w.check(100 - 63), false);
  w.mark(100 - 64); // ignored: too old
  w.mark(101);
  assert.equal(w.check(101 - 64), false, 'slid out when the window advanced');
  assert.equal(w.check(101 - 63), true);
});

test('far jumps clear the window; the slot reused by a new number does not inherit old marks', () => {
  const w = new ReplayWindow(64);
  for (let pn = 0; pn < 64; pn++) w.mark(pn);
  w.mark(64 + 10); // slots of 64..74 reused
  for (let pn = 64; pn < 74; pn++) assert.equal(w.check(pn), true, `pn ${pn}`);
  assert.equal(w.check(74), false);
  w.mark(1_000_000);
  assert.equal(w.check(74), false, 'too old now');
  assert.equal(w.check(1_000_000 - 1), true);
  assert.equal(w.check(1_000_000), false);
  w.mark(2 ** 50);
  assert.equal(w.check(2 ** 50 - 63), true);
});

test('invalid packet numbers are rejected', () => {
  const w = new ReplayWindow();
  assert.equal(w.size, 4096);
  assert.equal(w.check(-1), false);
  assert.equal(w.check(1.5), false);
  assert.equal(w.check(Number.NaN), false);
  assert.throws(() => new ReplayWindow(100));
});

test('agrees with a set-based model for random sequences', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.nat(300), fc.integer({ min: 0, max: 5000 })), { maxLength: 300 }),
      (pns) => {
        const size = 128;
        const w = new ReplayWindow(size);
        const seen = new Set<number>();
        let largest = -1;
        for (const pn of pns) {
          const expected = !seen.has(pn) && largest - pn < size;
          assert.equal(w.check(pn), expected, `pn ${pn} largest ${largest}`);
          if (expected) {
            w.mark(pn);
            seen.add(pn);
            largest = Math.max(largest, pn);
          }
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('a window that grows its bitmap agrees with the set-based model across each growth', () => {
  // Sizes above the initial bitmap (512 bits), one not a power of two: marks made before a
  // growth must still reject their duplicates after it, and the ring must hold once it wraps.
  for (const size of [1 << 14, 4000]) {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(700), fc.nat(40)), { minLength: 1, maxLength: 400 }), (steps) => {
        const w = new ReplayWindow(size);
        const seen = new Set<number>();
        let largest = -1;
        for (const [advance, back] of steps) {
          // Mostly forward, by up to 700, with duplicates and reordering up to 40 behind.
          for (const pn of [largest + advance, Math.max(0, largest - back), largest]) {
            if (pn < 0) continue;
            const expected = !seen.has(pn) && largest - pn < size;
            assert.equal(w.check(pn), expected, `size ${size}: pn ${pn} largest ${largest}`);
            if (expected) {
              w.mark(pn);
              seen.add(pn);
              largest = Math.max(largest, pn);
            }
          }
        }
      }),
      { numRuns: 100 },
    );
  }
});
