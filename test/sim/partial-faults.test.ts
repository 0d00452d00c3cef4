// Partial faults on WAN profiles (issue 14): failed paths are given up after a bounded time,
// so the list of paths stays small. The client's providers are profiles of
// src/cli/demo/path-profiles.ts (testing/harness/wan.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runWanCase, type WanCaseResult } from '../../testing/harness/wan.js';

/** A failed path is kept 3 × max(keepalive interval, PTO): 3 s with the defaults (PTOs here are far shorter). */
const FAILED_PATH_LIFETIME = 3000;
/** Timer granularity and the last PTO's share beyond the lifetime. */
const SLACK = 100;

function describeChanges(r: WanCaseResult): string {
  return r.pathChanges.map((c) => `${c.at.toFixed(0)} ${c.side} ${c.reason} ${c.from}>${c.to}`).join('; ');
}

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
