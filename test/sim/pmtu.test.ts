// PMTU discovery (DPLPMTUD, RFC 8899; docs/protocol.md §11.6) in the simulator: each path finds
// its own datagram size, a path whose MTU shrinks mid-transfer with no ICMP (a black hole) falls
// back to 1200 without losing the session, and random loss is not taken for a black hole.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PathInfo } from '../../src/engine/types.js';
import { runEngineSessions } from '../../testing/sim/engine-run.js';
import type { LinkParams } from '../../testing/sim/link.js';
import { Rng } from '../../testing/sim/rng.js';
import { type FaultSpec, scenario } from '../../testing/sim/scenario.js';

const MiB = 1 << 20;
/** UDP payload of a 1500-byte IPv4 MTU, and of 1280 (the IPv6 minimum). */
const ETHERNET = 1472;
const MTU_1280 = 1252;

function run(options: {
  seed: number;
  link: Partial<LinkParams>;
  bytes: number;
  faults?: FaultSpec[];
  /** Both ends' largest UDP payload: the discovery's ceiling (default 1452, discovery on). */
  maxUdpPayloadSize?: number;
  sampleFrom?: number;
}) {
  const sim = scenario({
    seed: options.seed,
    hosts: {
      client: { interfaces: { eth: ['192.0.2.10'] } },
      server: { interfaces: { eth: ['203.0.113.5'] } },
    },
    links: { 'client.eth': { delay: 10, bandwidth: 50e6, queue: 400, ...options.link }, 'server.eth': {} },
    faults: options.faults ?? [],
  });
  const progress: { at: number; bytes: number }[] = [];
  const r = runEngineSessions({
    sim,
    rng: new Rng(options.seed),
    client: { host: 'client', address: '192.0.2.10' },
    server: { host: 'server', address: '203.0.113.5' },
    workload: { bulk: { streams: 1, bytes: options.bytes, direction: 'down' } },
    transport: { maxUdpPayloadSize: options.maxUdpPayloadSize ?? 1452 },
    timeLimit: 120_000,
    onNodes: ({ client }) => {
      const sample = () => {
        const d = client.drivers[0];
        if (d) progress.push({ at: sim.now, bytes: d.bytesRead });
        if (!d?.complete) sim.at(sim.now + 1, sample);
      };
      sim.at(options.sampleFrom ?? 0, sample);
    },
  });
  assert.deepEqual(r.violations, [], 'every byte delivered once, in order');
  assert.ok(r.complete, 'the transfer completed');
  const client = r.clients[0];
  const seconds = ((client.completedAt ?? r.endTime) - (client.handshakeCompletedAt ?? 0)) / 1000;
  const sender = r.servers[0];
  const active = sender.conn.paths.find((p) => p.state === 'active') as PathInfo;
  let gap = 0;
  for (let i = 1, last = progress[0]?.at ?? 0; i < progress.length; i++) {
    if (progress[i].bytes === progress[i - 1].bytes) continue;
    gap = Math.max(gap, progress[i].at - last);
    last = progress[i].at;
  }
  const updates = sender.pathLog.flatMap((e) => (e.event.type === 'path-updated' ? [e.event.path] : []));
  return { goodputMbps: (options.bytes * 8) / seconds / 1e6, active, gap, updates, r };
}

describe('PMTU discovery', () => {
  test('a 1500-byte link: the path is raised from 1200 to 1452, with fewer packets for the same bytes', () => {
    const found = run({ seed: 1, link: { mtu: ETHERNET }, bytes: 16 * MiB });
    const fixed = run({
      seed: 1,
      link: { mtu: ETHERNET },
      bytes: 16 * MiB,
      maxUdpPayloadSize: 1200,
    });
    const packets = (x: typeof found) => x.r.servers[0].conn.stats.packetsSent;
    console.log(
      `1500-MTU link, 50 Mbit/s of UDP payload: ${found.goodputMbps.toFixed(2)} Mbit/s in ` +
        `${packets(found)} packets at ${found.active.udpPayloadSize} B; ${fixed.goodputMbps.toFixed(2)} ` +
        `Mbit/s in ${packets(fixed)} packets at a fixed 1200 B`,
    );
    assert.equal(found.active.udpPayloadSize, 1452);
    assert.equal(fixed.active.udpPayloadSize, 1200);
    assert.ok(packets(found) < 0.85 * packets(fixed), 'at least 15 % fewer packets');
    // The simulator's rate counts UDP payload only, so the gain in goodput is the header share.
    assert.ok(found.goodputMbps >= 0.99 * fixed.goodputMbps, 'no loss of goodput');
  });

  test('a link below 1452 bytes: the search settles within 16 bytes under its MTU, never above', () => {
    const r = run({ seed: 2, link: { mtu: 1350 }, bytes: 8 * MiB });
    console.log(`1350-byte link: ${r.active.udpPayloadSize} B`);
    assert.ok(
      r.active.udpPayloadSize <= 1350 && r.active.udpPayloadSize > 1350 - 16,
      `${r.active.udpPayloadSize}`,
    );
  });

  test('the MTU drops to 1280 mid-transfer with no ICMP: back to 1200, hash-equal, gap reported', () => {
    const dropAt = 2000;
    const r = run({
      seed: 3,
      link: { mtu: ETHERNET },
      bytes: 32 * MiB,
      faults: [{ at: dropAt, set: 'client.eth', params: { mtu: MTU_1280 } }],
      sampleFrom: dropAt,
    });
    const raisedAt = r.updates.findIndex((p) => p.udpPayloadSize > 1200);
    const fellBack = r.updates.slice(raisedAt + 1).find((p) => p.udpPayloadSize === 1200);
    console.log(
      `black hole at ${dropAt} ms: stall ${r.gap} ms, now ${r.active.udpPayloadSize} B, black holes ${r.active.pmtuBlackHoles}`,
    );
    assert.ok(fellBack, 'a path-updated event reports the fallback');
    assert.ok(r.active.pmtuBlackHoles >= 1);
    assert.ok(r.active.udpPayloadSize <= MTU_1280, `${r.active.udpPayloadSize} B fits the new MTU`);
  });

  test('random loss (3 % bursty) on a 1500-byte link is not a black hole', () => {
    for (const seed of [4, 5, 6, 7]) {
      const r = run({ seed, link: { mtu: ETHERNET, burstLoss: { p: 0.01, r: 1 / 3 } }, bytes: 8 * MiB });
      console.log(
        `bursty loss, seed ${seed}: ${r.active.udpPayloadSize} B, black holes ${r.active.pmtuBlackHoles}`,
      );
      assert.equal(r.active.pmtuBlackHoles, 0, `seed ${seed}`);
      assert.equal(r.active.udpPayloadSize, 1452, `seed ${seed}`);
    }
  });
});
