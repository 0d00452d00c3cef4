// `aggregate` on WAN profiles (issue 14, item 0b): send buffers sized from the bandwidth-delay
// product of the paths in use, and a head-of-line aware scheduler, so a slow or lossy second
// path never drags the session below the faster path alone, within the session's memory cap.
// Each pair is measured against its faster path alone, same seed, same run length.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pathProfile } from '../../src/cli/demo/path-profiles.js';
import { DEFAULT_TRANSPORT_CONFIG, sessionSendBudget } from '../../src/engine/config.js';
import { runWanCase, type WanCaseResult } from '../../testing/harness/wan.js';

const KiB = 1024;
const SEEDS = [1, 2];
const DURATION_MS = 5000;

function bulk(
  providers: string[],
  seed: number,
  policy: 'aggregate' | 'failover',
  congestionControl?: 'bbr',
): WanCaseResult {
  const transport = congestionControl === undefined ? undefined : { congestionControl };
  return runWanCase({ providers, traffic: 'bulk', policy, seed, durationMs: DURATION_MS, transport });
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

describe('aggregate on WAN profiles: never below the faster path alone (issue 14)', () => {
  const cases: {
    providers: string[];
    shareOfSum?: number;
    todo?: string;
    /** Both sides run it, the single path too; under 'aggregate' it stays per path, uncoupled. */
    congestionControl?: 'bbr';
  }[] = [
    { providers: ['fiber', 'lte'], shareOfSum: 0.85 },
    { providers: ['fiber', 'satellite-geo'] },
    {
      providers: ['cable', 'lte'],
      // Measured: with the coupling replaced by uncoupled CUBIC the same seeds give 19.5–28.6
      // Mbit/s (above cable alone); LIA's Reno increase on cable's 0.1 % random loss is slower
      // than CUBIC's, and the session falls below cable alone run on CUBIC.
      todo: 'LIA (coupled Reno) under random loss grows slower than CUBIC alone on cable',
    },
    { providers: ['cable', 'lte'], shareOfSum: 0.85, congestionControl: 'bbr' },
  ];
  for (const { providers, shareOfSum, todo, congestionControl } of cases) {
    const name = providers.join('+') + (congestionControl ? ` (${congestionControl})` : '');
    test(`${name}: aggregate ≥ the faster single path (−0.5 %) in seeds ${SEEDS.join(', ')}`, {
      todo,
    }, () => {
      const faster = providers[0];
      const linkSum = providers.reduce((sum, p) => sum + pathProfile(p).down.rateBps, 0);
      for (const seed of SEEDS) {
        const together = bulk(providers, seed, 'aggregate', congestionControl);
        const alone = bulk([faster], seed, 'failover', congestionControl);
        assertWithinCap(together);
        const spread = Object.entries(together.senderBytesByProvider)
          .map(([p, bytes]) => `${p} ${(bytes / 1e6).toFixed(1)} MB`)
          .join(', ');
        console.log(
          `${name} seed ${seed}: aggregate ${mbps(together.goodputBps)} Mbit/s ` +
            `(${(together.goodputBps / linkSum).toFixed(3)} of the link sum; ${spread}), ` +
            `${faster} alone ${mbps(alone.goodputBps)} Mbit/s; peak session buffers ` +
            `${Math.round(together.peakSessionBuffered / KiB)} KiB; path changes ${together.pathChanges.length}`,
        );
        // The failure detector's spurious moves under BBR's fuller queues are its own work
        // (issue 14 item 0); here they are only reported.
        if (congestionControl === undefined)
          assert.equal(together.pathChanges.length, 0, 'no path change without a fault');
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
