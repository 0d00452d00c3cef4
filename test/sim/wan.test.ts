// Multihoming on WAN profiles in the simulator (issue 14, testing/harness/wan.ts): the harness.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runWanCase, type WanCaseOptions } from '../../testing/harness/wan.js';
import { runEngineSessions } from '../../testing/sim/engine-run.js';
import { Rng } from '../../testing/sim/rng.js';
import { scenario } from '../../testing/sim/scenario.js';

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
