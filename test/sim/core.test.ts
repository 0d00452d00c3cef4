import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { EventQueue } from '../../testing/sim/event-queue.js';
import { Rng, seedFromEnv } from '../../testing/sim/rng.js';

describe('Rng', () => {
  test('same seed gives the same sequence; different seeds differ', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const seqA = Array.from({ length: 100 }, () => a.nextU32());
    const seqB = Array.from({ length: 100 }, () => b.nextU32());
    const seqC = Array.from({ length: 100 }, () => c.nextU32());
    assert.deepEqual(seqA, seqB);
    assert.notDeepEqual(seqA, seqC);
  });

  test('seeds differing only above bit 32 diverge', () => {
    assert.notEqual(new Rng(1).nextU32(), new Rng(1 + 2 ** 32).nextU32());
  });

  test('float is in [0, 1) and roughly uniform', () => {
    const rng = new Rng(7);
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const x = rng.float();
      assert.ok(x >= 0 && x < 1);
      buckets[Math.floor(x * 10)]++;
    }
    // 10000 expected per bucket, sd ≈ 95: ±600 is > 6 sd.
    for (const count of buckets) assert.ok(Math.abs(count - 10_000) < 600, `bucket ${count}`);
  });

  test('int stays in range for any n and covers it', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 1000 }), (seed, n) => {
        const rng = new Rng(seed);
        for (let i = 0; i < 50; i++) {
          const x = rng.int(n);
          if (!(Number.isInteger(x) && x >= 0 && x < n)) return false;
        }
        return true;
      }),
    );
    const rng = new Rng(3);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(rng.int(6));
    assert.equal(seen.size, 6);
  });

  test('fork gives an independent deterministic stream', () => {
    const a = new Rng(9).fork();
    const b = new Rng(9).fork();
    assert.equal(a.nextU32(), b.nextU32());
    assert.notEqual(new Rng(9).fork().nextU32(), new Rng(9).nextU32());
  });

  test('seedFromEnv reads BRAID_SEED and ignores junk', () => {
    const saved = process.env.BRAID_SEED;
    try {
      process.env.BRAID_SEED = '1234';
      assert.equal(seedFromEnv(5), 1234);
      process.env.BRAID_SEED = 'abc';
      assert.equal(seedFromEnv(5), 5);
      delete process.env.BRAID_SEED;
      assert.equal(seedFromEnv(5), 5);
    } finally {
      if (saved === undefined) delete process.env.BRAID_SEED;
      else process.env.BRAID_SEED = saved;
    }
  });
});

describe('EventQueue', () => {
  test('pops in time order, ties in insertion order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const queue = new EventQueue<{ time: number; seq: number; label: number }>();
        times.forEach((time, label) => {
          queue.push({ time, seq: 0, label });
        });
        const expected = times
          .map((time, label) => ({ time, label }))
          .sort((x, y) => x.time - y.time || x.label - y.label);
        const popped: { time: number; label: number }[] = [];
        for (let e = queue.pop(); e !== undefined; e = queue.pop())
          popped.push({ time: e.time, label: e.label });
        assert.deepEqual(popped, expected);
        assert.equal(queue.size, 0);
        assert.equal(queue.peekTime(), Number.POSITIVE_INFINITY);
      }),
    );
  });

  test('interleaved push and pop keep heap order', () => {
    const queue = new EventQueue<{ time: number; seq: number }>();
    const rng = new Rng(11);
    let last = -1;
    let now = 0;
    for (let i = 0; i < 10_000; i++) {
      if (queue.size === 0 || rng.chance(0.55)) queue.push({ time: now + rng.int(100), seq: 0 });
      else {
        const e = queue.pop();
        assert.ok(e !== undefined && e.time >= last);
        last = e.time;
        now = e.time;
      }
    }
  });
});
