// `aggregate` on WAN profiles (issue 14, item 0b): send buffers sized from the bandwidth-delay
// product of the paths in use, and a head-of-line aware scheduler, so a slow or lossy second
// path never drags the session below the faster path alone, within the session's memory cap.
// Each pair is measured against its faster path alone, same seed, same run length, and no run
// may change path: nothing failed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pathProfile } from '../../src/cli/demo/path-profiles.js';
import { DEFAULT_TRANSPORT_CONFIG, sessionSendBudget } from '../../src/engine/config.js';
import type { CongestionControlKind } from '../../src/paths/congestion/index.js';
import { runWanCase, type WanCaseResult } from '../../testing/harness/wan.js';

const KiB = 1024;
const SEEDS = [1, 2, 3];
const DURATION_MS = 5000;

function bulk(
  providers: string[],
  seed: number,
  policy: 'aggregate' | 'failover',
  options: { congestionControl?: CongestionControlKind; direction?: 'up' | 'down' } = {},
): WanCaseResult {
  const { congestionControl, direction } = options;
  const transport = congestionControl === undefined ? undefined : { congestionControl };
  return runWanCase({
    providers,
    traffic: 'bulk',
    direction,
    policy,
    seed,
    durationMs: DURATION_MS,
    transport,
  });
}

const mbps = (bps: number) => (bps / 1e6).toFixed(2);
/**
 * Fiber alone runs at its link's ceiling (200 Mbit/s of IP packets is 189.6 Mbit/s of stream
 * bytes); beside it the second path's RTT measurement and ACKs cost a few packets, so "never
 * below" is held to within 0.5 %.
 */
const SAME = 0.995;

/** The session cap holds on both sides in every sample, and the run broke no property. */
function assertWithinCap(r: WanCaseResult): void {
  assert.deepEqual(r.violations, []);
  assert.ok(
    r.peakSessionBuffered <= DEFAULT_TRANSPORT_CONFIG.maxSessionBuffer,
    `a session buffered ${r.peakSessionBuffered} B`,
  );
  assert.ok(
    r.peakSendBuffered <= sessionSendBudget(DEFAULT_TRANSPORT_CONFIG),
    `send ${r.peakSendBuffered} B`,
  );
}

/** Nothing failed: neither end changed its active path (a failover is a stall, and a bug). */
function assertNoPathChange(r: WanCaseResult, label: string): void {
  assert.deepEqual(
    r.pathChanges.map((c) => `${c.at.toFixed(0)} ms ${c.side} ${c.reason} ${c.from}>${c.to}`),
    [],
    `${label}: no path change without a fault`,
  );
}

const spread = (r: WanCaseResult) =>
  Object.entries(r.senderBytesByProvider)
    .map(([p, bytes]) => `${p} ${(bytes / 1e6).toFixed(1)} MB`)
    .join(', ');

describe('aggregate on WAN profiles: never below the faster path alone, no path change (issue 14)', () => {
  // The default congestion control (BBR): under 'aggregate' each path runs its own, uncoupled.
  const cases: { providers: string[]; shareOfSum?: number; direction?: 'up' | 'down' }[] = [
    { providers: ['fiber', 'lte'], shareOfSum: 0.85 },
    { providers: ['fiber', 'satellite-geo'] },
    { providers: ['cable', 'lte'], shareOfSum: 0.85 },
    { providers: ['cable', 'lte'], shareOfSum: 0.85, direction: 'up' },
  ];
  for (const { providers, shareOfSum, direction } of cases) {
    const name = providers.join('+') + (direction === 'up' ? ' (up)' : '');
    test(`${name}: aggregate ≥ the faster single path (−0.5 %), no path change, in seeds ${SEEDS.join(', ')}`, () => {
      const faster = providers[0];
      const linkSum = providers.reduce((sum, p) => sum + pathProfile(p).down.rateBps, 0);
      for (const seed of SEEDS) {
        const together = bulk(providers, seed, 'aggregate', { direction });
        const alone = bulk([faster], seed, 'failover', { direction });
        assertWithinCap(together);
        console.log(
          `${name} seed ${seed}: aggregate ${mbps(together.goodputBps)} Mbit/s ` +
            `(${(together.goodputBps / linkSum).toFixed(3)} of the link sum; ${spread(together)}), ` +
            `${faster} alone ${mbps(alone.goodputBps)} Mbit/s; peak session buffers ` +
            `${Math.round(together.peakSessionBuffered / KiB)} KiB; path changes ${together.pathChanges.length}`,
        );
        // Before the failure detector waited for the peer's data to stop as well, a receiver's
        // few packets, whose ACKs queue behind the start-up's data, failed cable 1–2 times here.
        assertNoPathChange(together, `${name} seed ${seed}`);
        assertNoPathChange(alone, `${faster} alone seed ${seed}`);
        assert.ok(
          together.goodputBps >= SAME * alone.goodputBps,
          `aggregate ${mbps(together.goodputBps)} < ${faster} alone ${mbps(alone.goodputBps)} Mbit/s`,
        );
        if (shareOfSum !== undefined)
          assert.ok(
            together.goodputBps >= shareOfSum * linkSum,
            `aggregate ${mbps(together.goodputBps)} Mbit/s < ${shareOfSum} of ${mbps(linkSum)}`,
          );
      }
    });
  }

  // A documented limit (docs/multihoming.md "Congestion control"): with a loss-based controller
  // 'aggregate' couples its paths with LIA, whose Reno increase under cable's 0.1 % random loss
  // grows slower than CUBIC on cable alone. Measured (seeds 1–3, 5 s): 0.78–0.87 of cable alone
  // run on CUBIC; uncoupled BBR, the default, is 1.38–1.40×.
  test(`cable+lte under CUBIC (LIA): both paths carry data, no path change, ≥ 0.6 × cable alone on CUBIC, in seeds ${SEEDS.join(', ')}`, () => {
    for (const seed of SEEDS) {
      const together = bulk(['cable', 'lte'], seed, 'aggregate', { congestionControl: 'cubic' });
      const alone = bulk(['cable'], seed, 'failover', { congestionControl: 'cubic' });
      assertWithinCap(together);
      console.log(
        `cable+lte (cubic, LIA) seed ${seed}: aggregate ${mbps(together.goodputBps)} Mbit/s (${spread(together)}), ` +
          `cable alone ${mbps(alone.goodputBps)} Mbit/s, ratio ${(together.goodputBps / alone.goodputBps).toFixed(2)}`,
      );
      assertNoPathChange(together, `cable+lte (cubic) seed ${seed}`);
      assert.ok(
        (together.senderBytesByProvider['lte#1'] ?? 0) > 1e6,
        `lte carried data: ${spread(together)}`,
      );
      assert.ok(
        together.goodputBps >= 0.6 * alone.goodputBps,
        `aggregate ${mbps(together.goodputBps)} < 0.6 × cable alone ${mbps(alone.goodputBps)} Mbit/s`,
      );
    }
  });
});

describe('send buffers auto-tune from the bandwidth-delay product', () => {
  test('intercontinental (150 ms, 100 Mbit/s): a 256 KiB buffer grows to the path, a pinned one limits it', () => {
    const run = (transport: { sendBufferSize: number; sendBufferAutoTune?: boolean }) =>
      runWanCase({
        providers: ['intercontinental'],
        traffic: 'bulk',
        seed: 1,
        durationMs: DURATION_MS,
        transport,
      });
    const pinned = run({ sendBufferSize: 256 * KiB });
    const tuned = run({ sendBufferSize: 256 * KiB, sendBufferAutoTune: true });
    assertWithinCap(tuned);
    console.log(
      `intercontinental: 256 KiB pinned ${mbps(pinned.goodputBps)} Mbit/s (peak send ${Math.round(pinned.peakSendBuffered / KiB)} KiB), ` +
        `auto-tuned ${mbps(tuned.goodputBps)} Mbit/s (peak send ${Math.round(tuned.peakSendBuffered / KiB)} KiB)`,
    );
    // One 256 KiB window per 150 ms round trip is ~14 Mbit/s.
    assert.ok(pinned.peakSendBuffered <= 256 * KiB, 'a size set by hand is kept');
    assert.ok(pinned.goodputBps < 20e6, `pinned ${mbps(pinned.goodputBps)} Mbit/s`);
    assert.ok(tuned.peakSendBuffered > 256 * KiB, 'the buffer grew');
    assert.ok(tuned.goodputBps > 3 * pinned.goodputBps, `auto-tuned ${mbps(tuned.goodputBps)} Mbit/s`);
  });
});
