// Failover (issue 4): a client with two providers keeps a warm standby path; when the
// active path fails mid-transfer the session moves without losing or duplicating a byte.
// Each run prints the failover gap: the longest stretch of simulated time after the fault
// in which the receiving host got no data-carrying datagram.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runEngineSessions } from '../../src/sim/engine-run.js';
import { Rng } from '../../src/sim/rng.js';
import { type FaultSpec, type HostSpec, type ScenarioSpec, scenario } from '../../src/sim/scenario.js';

const MiB = 1 << 20;
const FAULT_AT = 1500;

/** The default topology: a client with two providers, a single-homed server. */
const TWO_PROVIDERS: Topology = {
  client: { interfaces: { wifi: ['192.0.2.10'], lte: ['198.51.100.10'] } },
  server: { interfaces: { eth: ['203.0.113.5'] } },
  links: {
    'client.wifi': { delay: 10, bandwidth: 20e6, queue: 128 },
    'client.lte': { delay: 25, bandwidth: 10e6, queue: 128 },
    'server.eth': { delay: 5 },
  },
  dial: { client: '192.0.2.10', server: '203.0.113.5' },
};

interface Topology {
  client: HostSpec;
  server: HostSpec;
  links: NonNullable<ScenarioSpec['links']>;
  /** The addresses the client connects from and to. */
  dial: { client: string; server: string };
}

function failover(
  name: string,
  faults: FaultSpec[],
  direction: 'up' | 'down' | 'both',
  topology: Topology = TWO_PROVIDERS,
) {
  const sim = scenario({
    seed: 21,
    trace: true,
    hosts: { client: topology.client, server: topology.server },
    links: topology.links,
    faults,
  });
  const r = runEngineSessions({
    sim,
    rng: new Rng(21),
    client: { host: 'client', address: topology.dial.client },
    server: { host: 'server', address: topology.dial.server },
    workload: { bulk: { streams: 1, bytes: 4 * MiB, direction } },
    timeLimit: 60_000,
  });
  assert.deepEqual(r.violations, [], 'every byte delivered once, in order');
  assert.ok(r.complete, 'the transfer completed');
  assert.ok(r.endTime > FAULT_AT + 500, `the fault hit mid-transfer (ended at ${r.endTime})`);
  // Failover gap at the receiving host(s); the trace's last field is the receiving `host.interface`.
  const receivers =
    direction === 'up' ? ['server.'] : direction === 'down' ? ['client.'] : ['server.', 'client.'];
  const times = (sim.trace?.lines() ?? [])
    .map((l) => l.split(' '))
    .filter((p) => p[1] === 'deliver' && Number(p[4]) >= 1000 && Number(p[0]) >= FAULT_AT - 50)
    .filter((p) => receivers.some((r) => p[6].startsWith(r)))
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

  // The server advertises its second address (ADD_ADDRESS) after the handshake; the client's
  // standby goes there, and when the dialled address is withdrawn the session moves to it.
  const TWO_SERVER_ADDRESSES: Topology = {
    client: { interfaces: { wifi: ['192.0.2.10'] } },
    server: { interfaces: { eth: ['203.0.113.5'], eth2: ['198.51.100.5'] } },
    links: {
      'client.wifi': { delay: 10, bandwidth: 20e6, queue: 128 },
      'server.eth': { delay: 5 },
      'server.eth2': { delay: 15 },
    },
    dial: { client: '192.0.2.10', server: '203.0.113.5' },
  };
  for (const direction of ['up', 'down'] as const) {
    test(`the server address the client dialled is removed (${direction})`, () => {
      const { active, r } = failover(
        'server address removed',
        [{ at: FAULT_AT, removeAddress: 'server.eth', address: '203.0.113.5' }],
        direction,
        TWO_SERVER_ADDRESSES,
      );
      assert.equal(active?.remote.address, '198.51.100.5', 'the client moved to the other server address');
      const serverActive = r.servers[0].conn.paths.find((p) => p.state === 'active');
      assert.equal(
        serverActive?.local.address,
        '198.51.100.5',
        'the server sends from its remaining address',
      );
    });
  }

  // Each provider goes dark for 1 s every 3 s, the two staggered by 1.5 s so one is always up:
  // whichever path is active keeps dying under the transfer, and the session keeps moving.
  // Slower links, so that the 4 MiB transfer lives through several flaps.
  const SLOW_PROVIDERS: Topology = {
    ...TWO_PROVIDERS,
    links: {
      'client.wifi': { delay: 10, bandwidth: 5e6, queue: 128 },
      'client.lte': { delay: 25, bandwidth: 4e6, queue: 128 },
      'server.eth': { delay: 5 },
    },
  };
  const flaps: FaultSpec[] = [];
  for (let at = FAULT_AT; at < 15_000; at += 3000) {
    flaps.push({ at, blackhole: 'client.wifi', duration: 1000 });
    flaps.push({ at: at + 1500, blackhole: 'client.lte', duration: 1000 });
  }
  for (const direction of ['up', 'down'] as const) {
    test(`flapping paths: 1 s down every 3 s on each provider (${direction})`, {
      todo:
        'engine: after the client follows a server-side failover, its old active path stays a leftover ' +
        'standby (not a backup, never re-challenged; the server already removed that path id) and occupies ' +
        'the only other pair, so ensureStandby opens no new standby; when the leftover expires (~3 s later) ' +
        'nothing calls ensureStandby again. The next outage of the active path is then sat out (gap ≈ 1 s up, ' +
        '1.7 s down, no failover after the first)',
    }, () => {
      const { gap, r } = failover('flapping', flaps, direction, SLOW_PROVIDERS);
      assert.ok(r.endTime > FAULT_AT + 3000, `the transfer spanned several flaps (ended at ${r.endTime})`);
      assert.ok(gap < 1000, `gap ${gap} ms`);
    });
  }

  // Dual stack at both ends: the client's IPv4 address on one provider, its IPv6 address on
  // the other; the server advertises its IPv6 address, so the standby is the IPv6 pair (a
  // path never mixes families). The IPv4 provider then dies silently.
  const DUAL_STACK: Topology = {
    client: { interfaces: { wifi: ['192.0.2.10'], lte: ['2001:db8:1::10'] } },
    server: { interfaces: { eth: ['203.0.113.5', '2001:db8:2::5'] } },
    links: TWO_PROVIDERS.links,
    dial: { client: '192.0.2.10', server: '203.0.113.5' },
  };
  for (const direction of ['up', 'down'] as const) {
    test(`IPv4 to IPv6: the IPv4 path is blackholed mid-transfer (${direction})`, () => {
      const { gap, active } = failover(
        'ipv4 to ipv6',
        [{ at: FAULT_AT, blackhole: 'client.wifi' }],
        direction,
        DUAL_STACK,
      );
      assert.equal(active?.local.address, '2001:db8:1::10', 'the client moved to IPv6');
      assert.equal(active?.remote.address, '2001:db8:2::5');
      assert.ok(gap < 1000, `gap ${gap} ms`);
    });
  }
});
