// Inner packets larger than one Braid datagram (src/vpn/fragments.ts): split, reassembled,
// and every lost, duplicate or malformed piece counted.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Fragmenter, Reassembler } from '../../src/vpn/fragments.js';

test('pieces: split to fit, reassembled in any order; lost, duplicate and malformed pieces are counted', () => {
  const fragmenter = new Fragmenter();
  const packet = Uint8Array.from(randomBytes(1280));
  const pieces = fragmenter.split(packet, 1156);
  assert.equal(pieces.length, 2);
  assert.deepEqual(
    fragmenter.split(packet.subarray(0, 1156), 1156),
    [packet.subarray(0, 1156)],
    'fits: as is',
  );
  const reassembler = new Reassembler(1000, 4);
  assert.equal(reassembler.accept(pieces[1]!, 0), undefined);
  assert.equal(reassembler.accept(pieces[1]!, 0), undefined);
  assert.equal(reassembler.malformed, 1, 'duplicate');
  assert.deepEqual(reassembler.accept(pieces[0]!, 1), packet);
  assert.equal(reassembler.pending, 0);
  // A lost piece: the other expires after the timeout.
  const lost = fragmenter.split(packet, 1156);
  reassembler.accept(lost[0]!, 10);
  assert.equal(reassembler.pending, 1);
  reassembler.accept(fragmenter.split(packet, 1156)[0]!, 2000);
  assert.equal(reassembler.expired, 1);
  assert.equal(reassembler.accept(Uint8Array.of(0xf0, 0, 1, 0x31, 9), 2000), undefined, 'index ≥ count');
  assert.equal(reassembler.malformed, 2);
  // Too many pending: the oldest goes.
  for (let i = 0; i < 6; i++) reassembler.accept(fragmenter.split(packet, 1156)[0]!, 2001);
  assert.equal(reassembler.pending, 4);
  assert.equal(reassembler.expired, 4);
});
