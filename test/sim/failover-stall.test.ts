// Local stalls are not path failures (issue 4, robustness under load). On a LAN-like pair of
// providers (PTO ~5–10 ms with max_ack_delay 3 ms) a host that processes nothing for 20 or
// 50 ms (GC, a long receive batch, a starved CPU: the simulator's `pause` fault) must not make
// either end move its active path; a real blackhole of the active provider still must, with
// the gap reported. Each case in both transfer directions, each stall on either end.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deliveryGap } from '../../testing/harness/sim-hosts.js';
import { runEngineSessions } from '../../testing/sim/engine-run.js';
import { Rng } from '../../testing/sim/rng.js';
import { type FaultSpec, scenario } from '../../testing/sim/scenario.js';

const MiB = 1 << 20;
const FAULT_AT = 400;

/** Client with two LAN-like providers, single-homed server: RTT ~3 ms on either path. */
function run(
  faults: FaultSpec[],
  direction: 'up' | 'down',
  policy: 'failover' | 'aggregate' = 'failover',
  seed = 5,
) {
  const sim = scenario({
    seed,
    trace: true,
    hosts: {
      client: { interfaces: { wifi: ['192.0.2.10'], lte: ['198.51.100.10'] } },
      server: { interfaces: { eth: ['203.0.113.5'] } },
    },
    links: {
      'client.wifi': { delay: 1, bandwidth: 100e6, queue: 256 },
      'client.lte': { delay: 1.5, bandwidth: 100e6, queue: 256 },
      'server.eth': { delay: 0.2 },
    },
    faults,
  });
  const r = runEngineSessions({
    sim,
    rng: new Rng(seed),
    client: { host: 'client', address: '192.0.2.10' },
    server: { host: 'server', address: '203.0.113.5' },
    workload: { bulk: { streams: 1, bytes: (policy === 'aggregate' ? 16 : 8) * MiB, direction } },
    clientTransport: { multipath: { policy } },
    timeLimit: 30_000,
  });
  assert.deepEqual(r.violations, [], 'every byte delivered once, in order');
  assert.ok(r.complete, 'the transfer completed');
  assert.ok(r.endTime > FAULT_AT + 200, `the fault hit mid-transfer (ended at ${r.endTime})`);
  const failovers = (d: (typeof r.clients)[number]) =>
    d.pathLog
      .filter((e) => e.event.type === 'failover')
      .map((e) => {
        const ev = e.event as Extract<typeof e.event, { type: 'failover' }>;
        return `${e.at.toFixed(1)} ${ev.reason} ${ev.from.local.address}>${ev.to.local.address}`;
      });
  const gap = deliveryGap(sim, direction === 'up' ? 'server' : 'client', FAULT_AT, 20);
  return { client: failovers(r.clients[0]), server: failovers(r.servers[0]), gap, r };
}

describe('a local stall is not a path failure (simulated pause, LAN RTTs)', () => {
  for (const direction of ['up', 'down'] as const) {
    for (const host of ['client', 'server'] as const) {
      for (const ms of [20, 50]) {
        test(`${host} stalls ${ms} ms twice mid-transfer (${direction}): no failover`, () => {
          const { client, server } = run(
            [
              { at: FAULT_AT, pause: host, duration: ms },
              { at: FAULT_AT + 150, pause: host, duration: ms },
            ],
            direction,
          );
          assert.deepEqual({ client, server }, { client: [], server: [] }, 'no side moved');
        });
      }
    }
    for (const policy of ['failover', 'aggregate'] as const) {
      test(`${policy}: a real blackhole of the active provider still fails over (${direction})`, () => {
        const { client, gap } = run([{ at: FAULT_AT, blackhole: 'client.wifi' }], direction, policy);
        console.log(
          `LAN blackhole, ${policy} (${direction}): gap ${gap.toFixed(1)} ms; client ${client.join(', ')}`,
        );
        // Under 'aggregate' the active path may already have changed hands before the fault
        // (docs/multihoming.md, "Not done here"): count the moves the fault caused.
        const moves = client.filter((line) => Number(line.split(' ')[0]) >= FAULT_AT);
        assert.equal(moves.length, 1, `one failover after the fault: ${client.join(', ')}`);
        assert.match(moves[0], / 192\.0\.2\.10>198\.51\.100\.10$/);
        assert.ok(gap < 100, `gap ${gap.toFixed(1)} ms`);
      });
    }
  }
});
