import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse, run } from '../../bench/wan-sim.js';

test('wan-sim parses its flags and rejects bad ones', () => {
  assert.deepEqual(parse([]), {
    seeds: 5,
    seconds: 600,
    bulkSeconds: 10,
    only: undefined,
    congestionControls: ['cubic', 'bbr'],
  });
  assert.deepEqual(
    parse([
      ...['--seeds', '2', '--seconds', '60', '--bulk-seconds', '3', '--only', 'blackhole'],
      ...['--congestion-control', 'bbr'],
    ]),
    { seeds: 2, seconds: 60, bulkSeconds: 3, only: 'blackhole', congestionControls: ['bbr'] },
  );
  assert.throws(() => parse(['--congestion-control', 'cubic,vegas']), /--congestion-control must list/);
  assert.throws(() => parse(['--seeds', '0']), RangeError);
  assert.throws(() => parse(['--only', 'everything']), /--only must be one of/);
  assert.throws(() => parse(['--window', '8']), TypeError);
});

test('wan-sim reports aggregate goodput against the faster single path, one record per pair', async () => {
  const out = (await run(['--only', 'aggregate', '--seeds', '1', '--bulk-seconds', '1'])) as {
    records: {
      name: string;
      value: number;
      baseline: { name: string; value: number };
      profiles: string[];
      senderBytesByProvider: Record<string, number>[];
      peakSessionBufferedBytes: number;
    }[];
  };
  assert.deepEqual(
    out.records.map((r) => r.profiles.join('+')),
    ['fiber+lte', 'cable+lte', 'fiber+satellite-geo'],
  );
  for (const record of out.records) {
    assert.equal(record.name, 'wan-sim-aggregate-goodput');
    assert.equal(record.baseline.name, 'faster-single-path-goodput');
    assert.ok(record.value > 0 && record.baseline.value > 0, JSON.stringify(record));
    assert.ok((record.senderBytesByProvider[0][`${record.profiles[0]}#0`] ?? 0) > 0, 'bytes per provider');
    assert.ok(
      record.peakSessionBufferedBytes > 0 && record.peakSessionBufferedBytes <= 16 * 1024 * 1024,
      `peak ${record.peakSessionBufferedBytes} B`,
    );
  }
});
