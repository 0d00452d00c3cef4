/**
 * The receive metadata record crosses the native boundary by offsets: RECEIVE_META
 * (src/endpoint/receive-meta.ts) must be exactly the layout of braid::ReceiveMeta
 * (native/receive_meta.h) as the built addon reports it. A change on one side alone fails here.
 *
 * On Linux the addon must have been built (npm run build:native); BRAID_NATIVE_UDP=0 opts out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isReceiveMetaLayout, RECEIVE_META } from '../../src/endpoint/receive-meta.js';
import { loadAddon } from '../../src/native/addons.js';

const skip =
  (process.platform !== 'linux' || process.env.BRAID_NATIVE_UDP === '0') &&
  'the native back-end is Linux-only (or BRAID_NATIVE_UDP=0)';

test('RECEIVE_META is the layout the braid_udp addon fills', { skip }, () => {
  const { module, error } = loadAddon<{ metaLayout(): Record<string, number> }>('braid_udp');
  assert.ok(module, error);
  assert.deepEqual(module.metaLayout(), { ...RECEIVE_META });
  assert.equal(isReceiveMetaLayout(module.metaLayout()), true);
});

test('RECEIVE_META is self-consistent: 32-bit fields aligned, every field inside the record, none overlapping', () => {
  const widths: Record<Exclude<keyof typeof RECEIVE_META, 'size'>, number> = {
    offset: 4,
    length: 4,
    segmentSize: 4,
    remotePort: 2,
    remoteFamily: 1,
    localFamily: 1,
    remoteAddress: 16,
    localAddress: 16,
    localInterface: 4,
    remoteScopeId: 4,
  };
  assert.equal(RECEIVE_META.size % 4, 0, 'the table is read through a Uint32Array');
  const fields = Object.entries(widths).map(([name, width]) => ({
    name,
    start: RECEIVE_META[name as keyof typeof widths],
    width,
  }));
  assert.deepEqual(
    fields.map((f) => f.name).sort(),
    Object.keys(RECEIVE_META)
      .filter((k) => k !== 'size')
      .sort(),
  );
  fields.sort((a, b) => a.start - b.start);
  let end = 0;
  for (const { name, start, width } of fields) {
    if (width === 4) assert.equal(start % 4, 0, `${name}: a u32 must be 4-aligned`);
    assert.ok(start >= end, `${name} overlaps the field before it`);
    end = start + width;
  }
  assert.ok(end <= RECEIVE_META.size, 'the last field ends past the record');
});

test('isReceiveMetaLayout refuses a layout that differs in one field, lacks one, or has one more', () => {
  assert.equal(isReceiveMetaLayout({ ...RECEIVE_META }), true);
  assert.equal(
    isReceiveMetaLayout({ ...RECEIVE_META, remoteScopeId: RECEIVE_META.remoteScopeId + 4 }),
    false,
  );
  const { localInterface: _, ...missing } = RECEIVE_META;
  assert.equal(isReceiveMetaLayout(missing), false);
  assert.equal(isReceiveMetaLayout({ ...RECEIVE_META, extra: 60 }), false);
  assert.equal(isReceiveMetaLayout(undefined), false);
});
