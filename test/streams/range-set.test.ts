import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RangeSet } from '../../src/engine/streams/range-set.js';

test('add merges overlapping and adjacent ranges', () => {
  const set = new RangeSet();
  set.add(10, 20);
  set.add(30, 40);
  set.add(20, 25);
  assert.deepEqual(set.toArray(), [
    [10, 25],
    [30, 40],
  ]);
  set.add(5, 35);
  assert.deepEqual(set.toArray(), [[5, 40]]);
  set.add(0, 1);
  set.add(2, 3);
  set.add(1, 2);
  assert.deepEqual(set.toArray(), [
    [0, 3],
    [5, 40],
  ]);
});

test('remove splits ranges and forEachGap yields uncovered parts', () => {
  const set = new RangeSet();
  set.add(0, 100);
  set.remove(10, 20);
  set.remove(50, 60);
  assert.deepEqual(set.toArray(), [
    [0, 10],
    [20, 50],
    [60, 100],
  ]);
  const gaps: Array<[number, number]> = [];
  set.forEachGap(5, 70, (s, e) => gaps.push([s, e]));
  assert.deepEqual(gaps, [
    [10, 20],
    [50, 60],
  ]);
  set.remove(0, 100);
  assert.ok(set.isEmpty);
});

test('matches a bitmap model under random adds and removes', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(60), fc.nat(15)), { maxLength: 60 }), (ops) => {
      const set = new RangeSet();
      const model = new Array<boolean>(80).fill(false);
      for (const [add, start, length] of ops) {
        if (add) set.add(start, start + length);
        else set.remove(start, start + length);
        for (let i = start; i < start + length; i++) model[i] = add;
      }
      const expected: Array<[number, number]> = [];
      for (let i = 0; i < model.length; i++) {
        if (!model[i]) continue;
        let j = i;
        while (j < model.length && model[j]) j++;
        expected.push([i, j]);
        i = j;
      }
      assert.deepEqual(set.toArray(), expected);
    }),
    { numRuns: 300 },
  );
});
