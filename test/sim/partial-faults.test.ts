// Partial faults on WAN profiles (issue 14): a NAT that rebinds the client's active address
// every 2 s must not make a session flap; failed paths are given up after a bounded time, so
// the list of paths stays small however many 4-tuples a NAT burns.
// The client's providers are profiles of src/cli/demo/path-profiles.ts (testing/harness/wan.ts).
//
// What counts as a switch (docs/multihoming.md): a change of the active path to another
// provider or server address, i.e. every failover event but `migration`. Following a NAT
// rebinding keeps the same provider under a new 4-tuple: it is a `migration` event at both
// ends, and only that.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runWanCase, type WanCaseResult } from '../../testing/harness/wan.js';

const MiB = 1 << 20;
/** A failed path is kept 3 × max(keepalive interval, PTO): 3 s with the defaults (PTOs here are far shorter). */
const FAILED_PATH_LIFETIME = 3000;
/** Timer granularity and the last PTO's share beyond the lifetime. */
const SLACK = 100;

function describeChanges(r: WanCaseResult): string {
  return r.pathChanges.map((c) => `${c.at.toFixed(0)} ${c.side} ${c.reason} ${c.from}>${c.to}`).join('; ');
}

describe('NAT rebinding of the active address every 2 s', () => {
  test('during a 20 s bulk download: no switch, one migration per side per rebinding', () => {
    for (const seed of [1, 2]) {
      const r = runWanCase({
        providers: ['cable', 'lte'],
        traffic: 'bulk',
        seed,
        durationMs: 21_000,
        natRebind: { every: 2000, until: 20_500 },
      });
      const label = `seed ${seed}: ${describeChanges(r)}`;
      assert.deepEqual(r.violations, [], label);
      assert.equal(r.natRebindings, 10);
      assert.ok(r.receivedBytes > 20 * MiB, `${label}: the transfer went on (${r.receivedBytes} bytes)`);
      // At most 2 active-path changes per rebinding event, both sides together.
      assert.ok(r.pathChanges.length <= 2 * r.natRebindings, label);
      for (const c of r.pathChanges) {
        // Following the rebinding is a migration on the same provider, never a switch.
        assert.equal(c.reason, 'migration', label);
        assert.equal(c.from, c.to, label);
      }
    }
  });

  test('10 rebindings: at most 4 paths per side at any time, failed paths gone within 3 s', () => {
    for (const seed of [1, 2, 3]) {
      for (const traffic of ['idle', 'interactive'] as const) {
        const r = runWanCase({
          providers: ['cable', 'lte'],
          traffic,
          seed,
          // 10 rebindings (2 s … 20 s), then twice the failed-path lifetime of quiet.
          durationMs: 20_000 + 2 * FAILED_PATH_LIFETIME + 500,
          natRebind: { every: 2000, until: 20_500 },
        });
        const label = `seed ${seed}, ${traffic}: ${JSON.stringify(r.paths)}`;
        assert.deepEqual(r.violations, [], label);
        assert.equal(r.natRebindings, 10);
        for (const side of ['client', 'server'] as const) {
          const paths = r.paths[side];
          assert.ok(paths.most <= 4, `${label}: ${side} held ${paths.most} paths`);
          assert.ok(paths.longestFailedMs <= FAILED_PATH_LIFETIME + SLACK, label);
          assert.ok(!paths.atEnd.includes('failed'), label);
          assert.ok(paths.atEnd.length <= 3, label);
        }
      }
    }
  });
});

describe('failed paths are given up after a bounded time', () => {
  // The server's sending on the active provider dies for good (server → client blackholed).
  // The client's challenges there still reach the server, whose failed path used to stay
  // listed as long as they came (27.9 s of a 30 s run): probes no longer keep a failed path.
  for (const direction of ['up', 'down'] as const) {
    test(`a one-way dead path (${direction === 'up' ? 'client → server' : 'server → client'}) stays failed at most 3 s at either end`, () => {
      for (const seed of [1, 2]) {
        // A lossless standby: a spurious move back onto the half-dead pair would make the peer
        // send its data there again, and that (rightly) keeps the path.
        const r = runWanCase({
          providers: ['cable', 'fiber'],
          traffic: 'interactive',
          seed,
          durationMs: 30_000,
          oneWayBlackhole: { at: 2000, direction, healAt: 60_000 },
        });
        const label = `seed ${seed}: ${JSON.stringify(r.paths)}; ${describeChanges(r)}`;
        assert.deepEqual(r.violations, [], label);
        assert.ok(r.pathChanges.length > 0, `${label}: the dead direction was left`);
        for (const side of ['client', 'server'] as const) {
          assert.ok(r.paths[side].longestFailedMs <= FAILED_PATH_LIFETIME + SLACK, `${label}: ${side}`);
          assert.ok(r.paths[side].most <= 3, `${label}: ${side}`);
        }
      }
    });
  }
});
