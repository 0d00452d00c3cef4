// The failure detector on WAN-like links (issue 14): a session leaves its active path only on
// evidence that the path failed, never because one packet or a short burst was lost, an ACK
// came back late on another path, or the host itself stalled; a real blackhole is still left
// within 3 × srtt(active) + rtt(standby) + 50 ms. The client has two providers named by path
// profiles (src/cli/demo/path-profiles.ts), the server one address on a clean link. Every run
// is seeded and deterministic.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DirectionProfile, meanRttMs, pathProfile } from '../../src/cli/demo/path-profiles.js';
import { runEngineSessions } from '../../testing/sim/engine-run.js';
import type { LinkParams } from '../../testing/sim/link.js';
import { Rng } from '../../testing/sim/rng.js';
import { type FaultSpec, scenario } from '../../testing/sim/scenario.js';
import type { SessionDriver, WorkloadSpec } from '../../testing/sim/workload.js';

const CLIENT = { a: '192.0.2.10', b: '198.51.100.10' };
const SERVER = '203.0.113.5';
const MINUTE = 60_000;

/**
 * One direction of a profile in the simulator's current link model. Its jitter keeps packets in
 * order; a profile that reorders holds 2 % of packets back by up to its jitter. The queue is the
 * profile's queue in ms at its rate, in 1200-byte packets.
 */
function simLink(d: DirectionProfile): Partial<LinkParams> {
  const limited = Number.isFinite(d.rateBps);
  return {
    delay: d.delayMs,
    jitter: d.reorder ? 0 : d.jitterMs,
    reorder: d.reorder ? 0.02 : 0,
    reorderDelay: d.reorder ? d.jitterMs : 10,
    loss: d.loss,
    burstLoss: d.burstLoss,
    bandwidth: d.rateBps,
    queue: limited ? Math.max(8, Math.round(((d.queueMs / 1000) * d.rateBps) / (1200 * 8))) : 1000,
  };
}

function profileLink(name: string) {
  const profile = pathProfile(name);
  return { out: simLink(profile.up), in: simLink(profile.down) };
}

interface Run {
  /** Profile of the client's provider a (dialled) and b (none: a single provider). */
  a: string;
  b?: string;
  workload: WorkloadSpec;
  seed: number;
  until: number;
  faults?: FaultSpec[];
  transport?: Parameters<typeof runEngineSessions>[0]['transport'];
}

function run(spec: Run) {
  const interfaces: Record<string, string[]> = { a: [CLIENT.a] };
  const links: Record<string, ReturnType<typeof profileLink> | object> = {
    'client.a': profileLink(spec.a),
    'server.eth': {},
  };
  if (spec.b) {
    interfaces.b = [CLIENT.b];
    links['client.b'] = profileLink(spec.b);
  }
  const sim = scenario({
    seed: spec.seed,
    hosts: { client: { interfaces }, server: { interfaces: { eth: [SERVER] } } },
    links,
    faults: spec.faults ?? [],
  });
  const r = runEngineSessions({
    sim,
    rng: new Rng(spec.seed),
    client: { host: 'client', address: CLIENT.a },
    server: { host: 'server', address: SERVER },
    workload: spec.workload,
    transport: spec.transport,
    timeLimit: Math.min(spec.until, 5000),
    requireCompletion: false,
  });
  // Workloads outlast the first run on purpose (the run goes on below): not a hang.
  assert.deepEqual(
    r.violations.filter((v) => !v.endsWith('a hang')),
    [],
  );
  sim.run({ until: spec.until });
  return { sim, r };
}

const describeMoves = (d: SessionDriver) =>
  d
    .failovers()
    .map((f) => `${f.at.toFixed(0)} ms ${f.event.from.id}→${f.event.to.id} ${f.event.reason}`)
    .join(', ');

/** Path changes on either side of every session of a run. */
function pathChanges(r: ReturnType<typeof run>['r']): string[] {
  const out: string[] = [];
  for (const [side, drivers] of [
    ['client', r.clients],
    ['server', r.servers],
  ] as const)
    for (const d of drivers) if (d.failovers().length > 0) out.push(`${side}: ${describeMoves(d)}`);
  return out;
}

const IDLE: WorkloadSpec = { requests: { count: 1, size: 100 } };
/** One 100-byte message every 50 ms for the whole run. */
const interactive = (ms: number): WorkloadSpec => ({
  datagrams: { count: Math.floor(ms / 50), size: 100, interval: 50 },
});

describe('no fault, no path change (10 simulated minutes)', () => {
  // Before: the session left the lossless fiber ~120 ms after the start in most seeds (a packet
  // of NEW_CONNECTION_ID frames only was acknowledged late, on lte) and lte+wifi-bad changed
  // path several times per idle 10 minutes (one lost keepalive and a standby's answer were
  // enough).
  const cases: Array<{ name: string; a: string; b?: string; workload: WorkloadSpec; seeds: number[] }> = [
    { name: 'fiber+lte, idle', a: 'fiber', b: 'lte', workload: IDLE, seeds: [1, 2, 3, 4, 5, 6, 7, 8] },
    { name: 'lte+wifi-bad, idle', a: 'lte', b: 'wifi-bad', workload: IDLE, seeds: [1, 2, 3, 4, 5, 6, 7, 8] },
    { name: 'wifi-bad alone, interactive', a: 'wifi-bad', workload: interactive(10 * MINUTE), seeds: [1, 2] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const moved: string[] = [];
      for (const seed of c.seeds) {
        const { r } = run({ a: c.a, b: c.b, workload: c.workload, seed, until: 10 * MINUTE });
        for (const line of pathChanges(r)) moved.push(`seed ${seed} ${line}`);
      }
      assert.deepEqual(moved, [], 'no path changed');
    });
  }

  // The pairs whose blackhole is asserted below, under load: a fast verdict must not fire here.
  for (const [a, b] of [
    ['lte', 'wifi-bad'],
    ['cable', 'satellite-geo'],
  ])
    test(`${a}+${b}, bulk download (30 simulated s)`, () => {
      const moved: string[] = [];
      for (const seed of [1, 2]) {
        const { r } = run({
          a,
          b,
          workload: { bulk: { streams: 1, bytes: 1 << 30, direction: 'down' } },
          seed,
          until: 30_000,
        });
        for (const line of pathChanges(r)) moved.push(`seed ${seed} ${line}`);
      }
      assert.deepEqual(moved, [], 'no path changed');
    });
});

describe('a busy host is not a dead path', () => {
  // The client's event loop stalls for 150 ms every 20 s (a long GC, a starved CPU) while its
  // lossless fiber path is idle or carrying interactive traffic: its timers fire late, ACKs wait
  // unread, and nothing of that says the path failed.
  for (const [name, workload] of [
    ['idle', IDLE],
    ['interactive', interactive(2 * MINUTE)],
  ] as const) {
    test(`fiber+lte, ${name}, client stalls 150 ms every 20 s`, () => {
      const faults: FaultSpec[] = [];
      for (let at = 10_000; at < 2 * MINUTE; at += 20_000) {
        faults.push({ at, pause: 'client', duration: 150 });
        faults.push({ at: at + 7000, pause: 'server', duration: 150 });
      }
      const { r } = run({ a: 'fiber', b: 'lte', workload, seed: 3, until: 2 * MINUTE, faults });
      assert.deepEqual(pathChanges(r), []);
    });
  }
});

describe('a real blackhole is still left at once', () => {
  // The active provider goes silent both ways mid-transfer; the side sending the data must
  // decide within 3 × srtt(active) + rtt(standby) + 50 ms (nominal profile RTTs).
  const cases = [
    { a: 'fiber', b: 'lte' },
    { a: 'lte', b: 'fiber' },
    { a: 'lte', b: 'wifi-bad' },
    { a: 'cable', b: 'satellite-geo' },
  ];
  for (const { a, b } of cases) {
    for (const direction of ['up', 'down'] as const) {
      test(`${a} → ${b}, ${direction}load`, () => {
        const faultAt = 3000;
        const { r } = run({
          a,
          b,
          workload: { bulk: { streams: 1, bytes: 1 << 30, direction } },
          seed: 7,
          until: faultAt + 2000,
          faults: [{ at: faultAt, blackhole: 'client.a', direction: 'both' }],
        });
        const sender = direction === 'up' ? r.clients[0] : r.servers[0];
        const moves = sender.failovers();
        const before = moves.filter((m) => m.at < faultAt);
        assert.deepEqual(before, [], `no path change before the fault: ${describeMoves(sender)}`);
        const decided = moves[0];
        assert.ok(decided, 'the sender left the dead path');
        // The active path's smoothed RTT as the sender measured it (a full queue inflates it),
        // the standby's as it was validated, never below the profiles' nominal RTTs.
        const srtt = Math.max(decided.event.from.srtt ?? 0, meanRttMs(pathProfile(a)));
        const standby = Math.max(decided.event.to.srtt ?? 0, meanRttMs(pathProfile(b)));
        const bound = Math.round(3 * srtt + standby + 50);
        const took = decided.at - faultAt;
        console.log(
          `blackhole ${a} → ${b} (${direction}): decided after ${took.toFixed(0)} ms (bound ${bound} ms)`,
        );
        assert.ok(took <= bound, `decided after ${took.toFixed(0)} ms, bound ${bound} ms`);
        // The sender found the path dead itself, or followed the receiver, which found the
        // silence first (under BBR fiber's short srtt can let the receiving client decide first).
        assert.ok(
          ['unresponsive', 'peer-moved'].includes(decided.event.reason),
          `left for ${decided.event.reason}`,
        );
      });
    }
  }
});
