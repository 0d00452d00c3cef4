// What an idle session costs per hour (issue 14, item 5), in the simulator with the real engine:
// a client with one or two providers, one stream open and nothing sent, every packet of both
// directions counted. The default setting, and LOW_POWER_TRANSPORT: at most WireGuard's 144
// packets an hour, and a dead active path still left within 2 × its keepalive interval.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LOW_POWER_TRANSPORT } from '../../src/engine/config.js';
import type { TransportConfig } from '../../src/engine/types.js';
import { runEngineSessions } from '../../testing/sim/engine-run.js';
import { Rng } from '../../testing/sim/rng.js';
import { scenario } from '../../testing/sim/scenario.js';

const CLIENT = { wifi: '192.0.2.10', lte: '198.51.100.10' };
const SERVER = '203.0.113.5';
const HOUR = 3_600_000;
/** WireGuard's persistent keepalive: one packet every 25 s. */
const WIREGUARD_PER_HOUR = 144;

function idleSession(paths: 1 | 2, transport?: Partial<TransportConfig>) {
  const interfaces: Record<string, string[]> = { wifi: [CLIENT.wifi] };
  const links: Record<string, object> = { 'client.wifi': { delay: 10 }, 'server.eth': { delay: 5 } };
  if (paths === 2) {
    interfaces.lte = [CLIENT.lte];
    links['client.lte'] = { delay: 25 };
  }
  const sim = scenario({
    seed: 11,
    trace: true,
    hosts: { client: { interfaces }, server: { interfaces: { eth: [SERVER] } } },
    links,
  });
  const r = runEngineSessions({
    sim,
    rng: new Rng(11),
    client: { host: 'client', address: CLIENT.wifi },
    server: { host: 'server', address: SERVER },
    workload: { requests: { count: 1, size: 100 } },
    transport,
    timeLimit: 5000,
  });
  assert.deepEqual(r.violations, []);
  // An application that keeps a stream open and says nothing (a shell at its prompt).
  assert.notEqual(r.clients[0].conn.openStream(true), undefined);
  return { sim, r };
}

/** Packets and bytes sent by either end in [from, to). */
function sentBetween(lines: readonly string[], from: number, to: number) {
  let packets = 0;
  let bytes = 0;
  for (const line of lines) {
    const p = line.split(' ');
    const t = Number(p[0]);
    if (p[1] !== 'send' || t < from || t >= to) continue;
    packets++;
    bytes += Number(p[4]);
  }
  return { packets, bytes };
}

function hourlyCost(paths: 1 | 2, transport?: Partial<TransportConfig>) {
  const { sim, r } = idleSession(paths, transport);
  const from = sim.now + 60_000; // past the start-up (standby validation, address frames)
  sim.run({ until: from + HOUR });
  assert.ok(!r.clients[0].closed, 'the idle session lives');
  return sentBetween(sim.trace?.lines() ?? [], from, from + HOUR);
}

describe('idle cost per hour, one stream open, both directions', () => {
  test('default setting', () => {
    const one = hourlyCost(1);
    const two = hourlyCost(2);
    console.log(
      `default, idle hour: one path ${one.packets} packets / ${one.bytes} bytes; two paths ${two.packets} packets / ${two.bytes} bytes`,
    );
    // One PING and its ACK per second on the active path, and the backup's check (challenge
    // and answer) as often: the default keeps both paths known good, second by second.
    assert.ok(one.packets <= 2 * 3600 * 1.02, `one path: ${one.packets}`);
    assert.ok(two.packets <= 4 * 3600 * 1.02, `two paths: ${two.packets}`);
  });

  test(`low-power setting: at most WireGuard's ${WIREGUARD_PER_HOUR} packets an hour`, () => {
    const one = hourlyCost(1, LOW_POWER_TRANSPORT);
    const two = hourlyCost(2, LOW_POWER_TRANSPORT);
    console.log(
      `low-power, idle hour: one path ${one.packets} packets / ${one.bytes} bytes; two paths ${two.packets} packets / ${two.bytes} bytes`,
    );
    assert.ok(one.packets <= WIREGUARD_PER_HOUR, `one path: ${one.packets}`);
    assert.ok(two.packets <= WIREGUARD_PER_HOUR, `two paths: ${two.packets}`);
  });

  for (const phase of [0.25, 0.75]) {
    test(`low-power setting: a dead active path is left within 2 × the keepalive interval (fault ${phase} into a cycle)`, () => {
      const interval = LOW_POWER_TRANSPORT.keepaliveInterval;
      const { sim, r } = idleSession(2, LOW_POWER_TRANSPORT);
      const faultAt = sim.now + 5 * interval + phase * interval;
      sim.at(faultAt, () => sim.blackhole('client.wifi', 'both', true));
      sim.run({ until: faultAt + 2 * interval });
      const moved = r.clients[0].pathLog.find((l) => l.at >= faultAt && l.event.type === 'failover');
      assert.ok(moved, 'the client left the dead path');
      console.log(
        `low-power, fault ${phase} into a cycle: left after ${((moved.at - faultAt) / 1000).toFixed(1)} s`,
      );
      assert.ok(moved.at - faultAt <= 2 * interval);
      const activeNow = r.clients[0].conn.paths.find((p) => p.state === 'active');
      assert.equal(activeNow?.local.address, CLIENT.lte);
      assert.ok(!r.clients[0].closed);
    });
  }
});
