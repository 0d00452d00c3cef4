// Partial faults on WAN profiles (issue 14): a one-way blackhole of the active path and a NAT
// that rebinds the client's active address every 2 s must not make a session flap; failed
// paths are given up after a bounded time, so the list of paths stays small however many
// 4-tuples a NAT burns; and an address the server removes is reported as removed at both ends.
// The client's providers are profiles of src/cli/demo/path-profiles.ts (testing/harness/wan.ts).
//
// What counts as a switch (docs/multihoming.md): a change of the active path to another
// provider or server address, i.e. every failover event but `migration`. Following a NAT
// rebinding keeps the same provider under a new 4-tuple: it is a `migration` event at both
// ends, and only that.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConnectionEvent } from '../../src/engine/types.js';
import { runWanCase, type WanCaseResult } from '../../testing/harness/wan.js';
import { runEngineSessions } from '../../testing/sim/engine-run.js';
import { Rng } from '../../testing/sim/rng.js';
import { scenario } from '../../testing/sim/scenario.js';

const MiB = 1 << 20;
/** A failed path is kept 3 × max(keepalive interval, PTO): 3 s with the defaults (PTOs here are far shorter). */
const FAILED_PATH_LIFETIME = 3000;
/** Timer granularity and the last PTO's share beyond the lifetime. */
const SLACK = 100;

function describeChanges(r: WanCaseResult): string {
  return r.pathChanges.map((c) => `${c.at.toFixed(0)} ${c.side} ${c.reason} ${c.from}>${c.to}`).join('; ');
}

function perSide(r: WanCaseResult): Record<'client' | 'server', number> {
  const count = { client: 0, server: 0 };
  for (const c of r.pathChanges) count[c.side]++;
  return count;
}

describe('one-way blackhole of the active path during a bulk transfer, then heal', () => {
  // cable (active) + lte; the blackhole starts 1 s into the transfer and heals 2 s later.
  const cases = [
    ...[1, 2, 3].map((seed) => ({ seed, transfer: 'down' as const })),
    ...[1, 2].map((seed) => ({ seed, transfer: 'up' as const })),
  ];
  for (const blackhole of ['up', 'down'] as const) {
    const way = blackhole === 'up' ? 'client → server' : 'server → client';
    test(`${way} only: at most 2 active-path changes per side, transfer hash-equal`, () => {
      for (const { seed, transfer } of cases) {
        const r = runWanCase({
          providers: ['cable', 'lte'],
          traffic: 'bulk',
          direction: transfer,
          bulkBytes: 16 * MiB,
          seed,
          durationMs: 60_000,
          oneWayBlackhole: { at: 1000, direction: blackhole, healAt: 3000 },
        });
        const label = `seed ${seed}, ${transfer}: ${describeChanges(r)}`;
        assert.deepEqual(r.violations, [], label);
        assert.ok(r.complete, `${label}: completed, every stream's SHA-256 equal`);
        assert.ok(r.endTime > 3000, `${label}: the transfer outlived the fault (done at ${r.endTime})`);
        const count = perSide(r);
        assert.ok(count.client <= 2 && count.server <= 2, `${label}: ${JSON.stringify(count)}`);
        assert.ok(r.pathChanges.length > 0, `${label}: the dead direction was left`);
      }
    });
  }
});

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

describe('the server removes its active address', () => {
  type Failover = Extract<ConnectionEvent, { type: 'failover' }>;
  // Client on two providers, server on two addresses; the server's address the client dialled
  // goes away mid-transfer. The server moves off it (`address-removed`) and withdraws it
  // (REMOVE_ADDRESS); the client moves because the server withdrew it (`peer-address-removed`):
  // neither end calls it `unresponsive`, and nobody merely follows.
  for (const direction of ['up', 'down'] as const) {
    for (const traffic of ['bulk', 'interactive'] as const) {
      test(`${traffic} ${direction}: address-removed at the server, peer-address-removed at the client`, () => {
        for (const seed of [1, 2, 3]) {
          const sim = scenario({
            seed,
            hosts: {
              client: { interfaces: { wifi: ['192.0.2.10'], lte: ['198.51.100.10'] } },
              server: { interfaces: { eth: ['203.0.113.5'], eth2: ['198.51.100.5'] } },
            },
            links: {
              'client.wifi': { profile: 'cable' },
              'client.lte': { profile: 'lte' },
              'server.eth': { delay: 5 },
              'server.eth2': { delay: 15 },
            },
            faults: [{ at: 1000, removeAddress: 'server.eth', address: '203.0.113.5' }],
          });
          const r = runEngineSessions({
            sim,
            rng: new Rng(seed),
            client: { host: 'client', address: '192.0.2.10' },
            server: { host: 'server', address: '203.0.113.5' },
            workload:
              traffic === 'bulk'
                ? { bulk: { streams: 1, bytes: 8 * MiB, direction } }
                : { interactive: { size: 100, interval: 50, count: 80, direction } },
            timeLimit: 60_000,
          });
          assert.deepEqual(r.violations, [], `seed ${seed}`);
          assert.ok(r.complete, `seed ${seed}: completed`);
          assert.ok(r.endTime > 1000, `seed ${seed}: the removal came mid-transfer`);
          const reasons = (d: (typeof r.clients)[number]) =>
            d.pathLog.filter((l) => l.event.type === 'failover').map((l) => (l.event as Failover).reason);
          assert.deepEqual(reasons(r.servers[0]), ['address-removed'], `seed ${seed}: server`);
          assert.deepEqual(reasons(r.clients[0]), ['peer-address-removed'], `seed ${seed}: client`);
          for (const d of [r.clients[0], r.servers[0]])
            assert.ok(
              d.conn.paths.every(
                (p) => p.local.address !== '203.0.113.5' && p.remote.address !== '203.0.113.5',
              ),
              `seed ${seed}: ${d.role} holds no path to the removed address`,
            );
        }
      });
    }
  }
});
