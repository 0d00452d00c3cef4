// Failover (issue 4): a client with two providers keeps a warm standby path; when the
// active path fails mid-transfer the session moves without losing or duplicating a byte.
// Each run prints the failover gap: the longest stretch of simulated time after the fault
// in which the receiving host got no data-carrying datagram.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runEngineSessions } from '../../src/sim/engine-run.js';
import { Rng } from '../../src/sim/rng.js';
import { type FaultSpec, scenario } from '../../src/sim/scenario.js';

const MiB = 1 << 20;
const FAULT_AT = 1500;

function failover(name: string, faults: FaultSpec[], direction: 'up' | 'down' | 'both') {
  const sim = scenario({
    seed: 21,
    trace: true,
    hosts: {
      client: { interfaces: { wifi: ['192.0.2.10'], lte: ['198.51.100.10'] } },
      server: { interfaces: { eth: ['203.0.113.5'] } },
    },
    links: {
      'client.wifi': { delay: 10, bandwidth: 20e6, queue: 128 },
      'client.lte': { delay: 25, bandwidth: 10e6, queue: 128 },
      'server.eth': { delay: 5 },
    },
    faults,
  });
  const r = runEngineSessions({
    sim,
    rng: new Rng(21),
    client: { host: 'client', address: '192.0.2.10' },
    server: { host: 'server', address: '203.0.113.5' },
    workload: { bulk: { streams: 1, bytes: 4 * MiB, direction } },
    timeLimit: 60_000,
  });
  assert.deepEqual(r.violations, [], 'every byte delivered once, in order');
  assert.ok(r.complete, 'the transfer completed');
  assert.ok(r.endTime > FAULT_AT + 500, `the fault hit mid-transfer (ended at ${r.endTime})`);
  // Failover gap at the receiving host(s).
  const receivers =
    direction === 'up' ? ['203.0.113.5'] : direction === 'down' ? ['192.0.2.10', '198.51.100.10'] : [];
  const times = (sim.trace?.lines() ?? [])
    .map((l) => l.split(' '))
    .filter((p) => p[1] === 'deliver' && Number(p[4]) >= 1000 && Number(p[0]) >= FAULT_AT - 50)
    .filter((p) => receivers.length === 0 || receivers.some((a) => p[3].split('>')[1].startsWith(`${a}:`)))
    .map((p) => Number(p[0]));
  let gap = 0;
  let last = FAULT_AT;
  for (const t of times) {
    if (t >= FAULT_AT) gap = Math.max(gap, t - last);
    last = Math.max(last, t);
  }
  console.log(
    `${name}: failover gap ${gap.toFixed(0)} ms (${direction}), done at ${r.endTime.toFixed(0)} ms`,
  );
  const client = r.clients[0].conn;
  const active = client.paths.find((p) => p.state === 'active');
  return { gap, active, r };
}

describe('failover between two client providers (real engine)', () => {
  for (const direction of ['up', 'down'] as const) {
    test(`active path blackholed both ways mid-transfer (${direction})`, () => {
      const { gap, active } = failover('blackhole', [{ at: FAULT_AT, blackhole: 'client.wifi' }], direction);
      assert.equal(active?.local.address, '198.51.100.10', 'the client moved to its other provider');
      assert.ok(gap < 1000, `gap ${gap} ms`);
    });
    for (const way of ['in', 'out'] as const) {
      test(`one-way failure (${way}) of the active path mid-transfer (${direction})`, () => {
        const { active } = failover(
          `one-way ${way}`,
          [{ at: FAULT_AT, blackhole: 'client.wifi', direction: way }],
          direction,
        );
        assert.equal(active?.local.address, '198.51.100.10');
      });
    }
  }

  test('client moves from one provider to the other: the old address is removed', () => {
    const { active } = failover(
      'move',
      [{ at: FAULT_AT, removeAddress: 'client.wifi', address: '192.0.2.10' }],
      'both',
    );
    assert.equal(active?.local.address, '198.51.100.10');
  });
});
