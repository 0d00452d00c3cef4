// `npm run bench -- vpn`: options are checked before any lab is built, and the parsers of what
// `braid vpn` and iperf3 print read exactly what the bench and the VPN lab tests rely on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOptions, run } from '../../bench/vpn.js';
import { type IperfReport, longestGapMs, parseVpnReady } from '../../testing/harness/vpn-lab.js';

test('the vpn bench refuses unknown options and bad numbers before building a lab', async () => {
  await assert.rejects(run(['--teleport', '1']), /unknown option --teleport/);
  await assert.rejects(run(['--seconds', '0']), /--seconds must be a positive number/);
  await assert.rejects(run(['--runs', '1.5']), /--runs must be a whole number/);
  assert.deepEqual(parseOptions(['--seconds', '3', '--blackhole-seconds', '4']), {
    seconds: 3,
    udpRateMbps: 1000,
    pingCount: 100,
    blackholeSeconds: 4,
    keepaliveSeconds: 25,
    runs: 1,
  });
});

test("braid vpn's ready line is read field by field; anything else is not a ready line", () => {
  assert.deepEqual(
    parseVpnReady('ready interface=braid0 inner4=10.78.0.2/24 inner6=fd12:3456::2/64 mtu=1380\n'),
    {
      interface: 'braid0',
      inner4: '10.78.0.2/24',
      inner6: 'fd12:3456::2/64',
      mtu: 1380,
    },
  );
  assert.equal(parseVpnReady('ready'), undefined);
  assert.equal(parseVpnReady('listening on 203.0.113.10:4500'), undefined);
});

function report(bytes: number[], interval = 0.1): IperfReport {
  return {
    intervals: bytes.map((b, i) => ({
      sum: { start: i * interval, end: (i + 1) * interval, bytes: b, bits_per_second: (b * 8) / interval },
    })),
    end: {},
  };
}

test('the longest gap is the longest run of empty intervals after the fault, at their resolution', () => {
  assert.equal(longestGapMs(report([5, 5, 5, 5])), 0);
  // Two runs: 2 and 3 intervals long.
  assert.equal(longestGapMs(report([5, 0, 0, 5, 0, 0, 0, 5])), 300);
  // A run still open at the end counts to the last interval's end.
  assert.equal(longestGapMs(report([5, 0, 5, 0, 0])), 200);
  // Empty intervals before `fromSeconds` (slow start, say) do not count.
  assert.equal(longestGapMs(report([0, 0, 0, 5, 0, 5]), 0.35), 100);
});
