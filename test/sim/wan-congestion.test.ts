// Congestion control under random loss (issue 14, item 0b): BBR holds its rate where loss is
// random, not congestive, and still follows a real drop in capacity. The engine in the
// simulator on the named profiles (testing/harness/wan.ts), bulk down, one path; figures are
// simulated time, deterministic per seed. docs/performance.md has the table for every profile.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pathProfile } from '../../src/cli/demo/path-profiles.js';
import { runWanCase } from '../../testing/harness/wan.js';

const SEEDS = [1, 2];

function shareOfLink(profile: string, seed: number, durationMs: number): number {
  const r = runWanCase({
    providers: [profile],
    traffic: 'bulk',
    seed,
    durationMs,
    transport: { congestionControl: 'bbr' },
  });
  assert.deepEqual(r.violations, [], `${profile} seed ${seed}: no property violated`);
  assert.deepEqual(r.closed, [], `${profile} seed ${seed}: the session stayed open`);
  return r.goodputBps / pathProfile(profile).down.rateBps;
}

describe('BBR on one path', () => {
  // CUBIC reaches 13–27 % (lte) and 11–12 % (wifi-bad) of the link rate on the same seeds: every
  // random loss cuts its window by 30 %.
  for (const profile of ['lte', 'wifi-bad']) {
    test(`${profile}: at least 85 % of the link rate under its random loss, seeds ${SEEDS.join(', ')}`, () => {
      for (const seed of SEEDS) {
        const share = shareOfLink(profile, seed, 8000);
        assert.ok(share >= 0.85, `${profile} seed ${seed}: ${(share * 100).toFixed(1)} % of the link rate`);
      }
    });
  }

  test('fiber: no regression, at least 90 % of the link rate (CUBIC: 94.8 %)', () => {
    const share = shareOfLink('fiber', 1, 4000);
    assert.ok(share >= 0.9, `fiber: ${(share * 100).toFixed(1)} % of the link rate`);
  });

  test('lte halves to 10 Mbit/s mid-run: BBR follows the new rate without a standing queue', () => {
    for (const seed of SEEDS) {
      // Halved at 4 s; goodput and RTT counted from 6 s, after the 10-round bandwidth filter forgot 20 Mbit/s.
      const r = runWanCase({
        providers: ['lte'],
        traffic: 'bulk',
        seed,
        durationMs: 12_000,
        warmupMs: 6000,
        rateChange: { at: 4000, rateBps: 10e6 },
        transport: { congestionControl: 'bbr' },
      });
      const share = r.goodputBps / 10e6;
      const srtt = r.sender.meanSrttMs ?? Number.POSITIVE_INFINITY;
      assert.ok(share >= 0.8, `seed ${seed}: ${(share * 100).toFixed(1)} % of the new rate`);
      // lte's base round trip is 60 ms (45 ms plus up to 15 ms of jitter); its queue holds 300 ms.
      // Pacing on at the old rate would fill the window (2 × the old BDP: ~180 ms at the new rate).
      assert.ok(srtt < 150, `seed ${seed}: mean smoothed RTT ${srtt.toFixed(1)} ms after the drop`);
      assert.equal(r.queueDrops, 0, `seed ${seed}: no packet dropped by a full queue`);
    }
  });
});
