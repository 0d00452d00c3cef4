// Multihoming on WAN profiles in the simulator (issue 14, testing/harness/wan.ts): the harness
// itself, and the behaviour the engine must reach: no path change when nothing failed, and a
// transfer that survives a PMTU black hole (PMTU discovery on: it is opt-in). The idle
// two-provider cases hold since the failure detector waits for a dead path, lte+wifi-bad bulk
// since a suspected path's probes repeat their ACK ranges and only a receipt asked for after the
// verdict moves the session; lte+wifi-bad interactive since the verdict waits while the peer's
// packets still arrive on the suspected path (seeds 5, 9 and 10 changed path 3 times per side).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runWanCase, type WanCaseOptions } from '../../testing/harness/wan.js';
import { runEngineSessions } from '../../testing/sim/engine-run.js';
import { Rng } from '../../testing/sim/rng.js';
import { scenario } from '../../testing/sim/scenario.js';

const MiB = 1 << 20;
const TEN_MINUTES = 600_000;
const SEEDS = [1, 2, 3];
/** lte+wifi-bad interactive: seeds 1–3 passed before its fix, 5, 9 and 10 did not. */
const INTERACTIVE_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

describe('the WAN harness', () => {
  test('an interactive stream carries count × size bytes, hash-equal, one write per interval', () => {
    const sim = scenario({
      seed: 3,
      hosts: {
        client: { interfaces: { eth: ['192.0.2.10'] } },
        server: { interfaces: { eth: ['203.0.113.5'] } },
      },
      links: { 'client.eth': { profile: 'lte' } },
    });
    const r = runEngineSessions({
      sim,
      rng: new Rng(3),
      client: { host: 'client', address: '192.0.2.10' },
      server: { host: 'server', address: '203.0.113.5' },
      workload: { interactive: { size: 100, interval: 50, count: 40, direction: 'down' } },
      timeLimit: 30_000,
    });
    assert.deepEqual(r.violations, []);
    assert.ok(r.complete);
    const [record] = [...r.clients[0].received.values()];
    assert.equal(record.bytes, 4000);
    // 39 intervals of 50 ms after the handshake, then the last bytes cross the link.
    const done = r.servers[0].completedAt as number;
    const start = r.servers[0].handshakeCompletedAt as number;
    assert.ok(done - start >= 39 * 50 && done - start < 39 * 50 + 1000, `took ${done - start} ms`);
  });

  test('a case is deterministic per seed and reports the blackhole, its bound and the path changes', () => {
    const options: WanCaseOptions = {
      providers: ['cable', 'lte'],
      traffic: 'bulk',
      seed: 4,
      blackholeAt: 1200,
      durationMs: 2500,
    };
    const first = runWanCase(options);
    assert.deepEqual(runWanCase(options), first);
    assert.deepEqual(first.violations, []);
    const blackhole = first.blackhole;
    assert.ok(blackhole !== undefined);
    assert.ok(blackhole.srttActive > 0 && blackhole.rttStandby > 0);
    assert.equal(blackhole.boundMs, 3 * blackhole.srttActive + blackhole.rttStandby + 50);
    assert.ok(blackhole.firstNewByteMs !== undefined && blackhole.firstNewByteMs > 0, 'data came back');
    // The session left the blackholed provider: the last change moved away from it.
    const last = first.pathChanges.at(-1);
    assert.ok(last !== undefined && last.from === blackhole.provider, JSON.stringify(first.pathChanges));
    assert.ok(first.goodputBps > 1e6, `goodput ${first.goodputBps}`);
  });

  test('goodput stays under the profile rate; idle cost is counted per side and per hour', () => {
    const bulk = runWanCase({ providers: ['lte'], traffic: 'bulk', seed: 1, durationMs: 4000 });
    assert.ok(bulk.goodputBps > 1e6 && bulk.goodputBps < 20e6, `lte goodput ${bulk.goodputBps}`);
    const idle = runWanCase({ providers: ['fiber'], traffic: 'idle', seed: 1, durationMs: 61_000 });
    for (const side of ['client', 'server'] as const) {
      const sent = idle.sent[side];
      assert.ok(sent.packets > 0, `${side} sent keepalives`);
      assert.equal(sent.packetsPerHour, Math.round(sent.packets * 60));
    }
    assert.equal(idle.receivedBytes, 0, 'nothing but the first write, before the warm-up');
  });
});

/**
 * What a no-fault run did that it should not have, one line each: failover events, and (the
 * form a single path's false alarm takes) suspensions and closes.
 */
function changes(options: WanCaseOptions): string[] {
  const r = runWanCase(options);
  assert.deepEqual(r.violations, []);
  return [
    ...r.pathChanges.map((c) => `${c.at.toFixed(0)} ms ${c.side} ${c.reason} ${c.from}>${c.to}`),
    ...(r.suspensions > 0 ? [`${r.suspensions} suspension(s)`] : []),
    ...r.closed.map((c) => `closed, ${c}`),
  ];
}

describe('no path change when nothing failed (issue 14)', () => {
  /** Bulk costs CPU in proportion to the rate: 2 simulated minutes (lte+wifi-bad flaps within 50 s today). */
  const BULK = 120_000;
  const twoProviders: [string[], WanCaseOptions['traffic'], number][] = [
    [['fiber', 'lte'], 'idle', TEN_MINUTES],
    [['lte', 'wifi-bad'], 'idle', TEN_MINUTES],
    [['lte', 'wifi-bad'], 'interactive', TEN_MINUTES],
    [['lte', 'wifi-bad'], 'bulk', BULK],
  ];
  for (const [providers, traffic, durationMs] of twoProviders) {
    const seeds = traffic === 'interactive' ? INTERACTIVE_SEEDS : SEEDS;
    test(`${providers.join('+')}, ${traffic}, ${durationMs / 1000} s: zero path changes in seeds ${seeds.join(', ')}`, () => {
      const perSeed = seeds.map((seed) => ({
        seed,
        changes: changes({ providers, traffic, seed, durationMs }),
      }));
      assert.deepEqual(
        perSeed.filter((s) => s.changes.length > 0),
        [],
      );
    });
  }
  // One provider cannot change path: a false alarm there suspends or closes the session.
  for (const [traffic, durationMs] of [
    ['idle', TEN_MINUTES],
    ['interactive', TEN_MINUTES],
    // Bulk on one provider: 1 simulated minute (the CPU cost grows with the goodput).
    ['bulk', 60_000],
  ] as const) {
    test(`wifi-bad alone, ${traffic}, ${durationMs / 1000} s: no suspension, no close, in seeds ${SEEDS.join(', ')}`, () => {
      const perSeed = SEEDS.map((seed) => ({
        seed,
        changes: changes({ providers: ['wifi-bad'], traffic, seed, durationMs }),
      }));
      assert.deepEqual(
        perSeed.filter((s) => s.changes.length > 0),
        [],
      );
    });
  }
});

describe('PMTU black hole (issue 14)', () => {
  test("the active path's MTU drops to 1280 mid-transfer, no ICMP: larger datagrams before, transfer completes hash-equal", {}, () => {
    for (const seed of SEEDS) {
      const r = runWanCase({
        providers: ['fiber', 'lte'],
        traffic: 'bulk',
        bulkBytes: 8 * MiB,
        seed,
        // IP MTU 1280: 1252 bytes of UDP payload over IPv4.
        mtuDrop: { at: 300, mtu: 1252 },
        durationMs: 60_000,
        // PMTU discovery is opt-in: both ends accept (and probe up to) 1452-byte payloads.
        transport: { maxUdpPayloadSize: 1452 },
      });
      // The drop must matter: the session had found the 1500-byte path (DPLPMTUD, RFC 8899).
      assert.ok(
        (r.largestDatagramBeforeMtuDrop ?? 0) > 1252,
        `seed ${seed}: largest datagram before the drop ${r.largestDatagramBeforeMtuDrop} bytes`,
      );
      assert.deepEqual(r.violations, [], `seed ${seed}`);
      assert.ok(r.complete, `seed ${seed}: transfer completed, every stream's SHA-256 equal`);
      assert.ok(r.endTime > 300, `seed ${seed}: the drop came mid-transfer (ended at ${r.endTime} ms)`);
    }
  });
});
