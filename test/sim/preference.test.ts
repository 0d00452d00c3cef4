// Path preference and move-back (issue 14, docs/multihoming.md "Preference and move-back"): a
// backup path (transport.backupAddresses, or a peer address advertised with ADD_ADDRESS's backup
// flag) carries data only while no preferred path works; after a failure the session returns to
// the preferred path once it has stayed healthy for moveBackDelay, and then stays. Without
// preferences it returns to the path a failure left only when that path's RTT is clearly lower.
// Links use the named profiles (testing/sim/profiles.ts); every run is seeded and deterministic.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { meanRttMs, pathProfile } from '../../src/cli/demo/path-profiles.js';
import type { ConnectionEvent, TransportConfig } from '../../src/engine/types.js';
import { runWanCase, WAN_CLIENT_ADDRESSES } from '../../testing/harness/wan.js';
import { runEngineSessions } from '../../testing/sim/engine-run.js';
import { Rng } from '../../testing/sim/rng.js';
import { type FaultSpec, scenario } from '../../testing/sim/scenario.js';
import type { SessionDriver, WorkloadSpec } from '../../testing/sim/workload.js';

type Failover = Extract<ConnectionEvent, { type: 'failover' }>;

const FIBER = '192.0.2.10';
const LTE = '198.51.100.10';
const SERVER = '203.0.113.5';
const SERVER_BACKUP = '203.0.113.6';
const MINUTE = 60_000;

interface Run {
  seed: number;
  until: number;
  /** Client addresses: fiber and lte (two providers), or fiber alone. */
  clientProviders: 'fiber+lte' | 'fiber';
  /** The client dials from this address, to this server address. */
  from: string;
  to: string;
  /** The server has a second address (clean link) besides SERVER. */
  serverBackup?: boolean;
  workload: WorkloadSpec;
  faults?: FaultSpec[];
  transport?: Partial<TransportConfig>;
}

function run(spec: Run) {
  const clientInterfaces: Record<string, string[]> = { fiber: [FIBER] };
  const links: Record<string, object> = { 'client.fiber': { profile: 'fiber' }, 'server.eth': {} };
  if (spec.clientProviders === 'fiber+lte') {
    clientInterfaces.lte = [LTE];
    links['client.lte'] = { profile: 'lte' };
  }
  const serverInterfaces: Record<string, string[]> = { eth: [SERVER] };
  if (spec.serverBackup) {
    serverInterfaces.eth2 = [SERVER_BACKUP];
    links['server.eth2'] = {};
  }
  const sim = scenario({
    seed: spec.seed,
    hosts: { client: { interfaces: clientInterfaces }, server: { interfaces: serverInterfaces } },
    links,
    faults: spec.faults ?? [],
  });
  // UDP payload bytes through each address, either direction, by simulated time.
  const bytes = new Map<string, Array<{ at: number; size: number }>>();
  sim.capture((d) => {
    for (const address of [d.src.address, d.dst.address]) {
      const list = bytes.get(address) ?? [];
      bytes.set(address, list);
      list.push({ at: d.at, size: d.data.length });
    }
    return false;
  });
  const r = runEngineSessions({
    sim,
    rng: new Rng(spec.seed),
    client: { host: 'client', address: spec.from },
    server: { host: 'server', address: spec.to },
    workload: spec.workload,
    transport: spec.transport,
    timeLimit: Math.min(spec.until, 5000),
    requireCompletion: false,
  });
  assert.deepEqual(
    r.violations.filter((v) => !v.endsWith('a hang')),
    [],
  );
  sim.run({ until: spec.until });
  const bytesThrough = (address: string, from: number, to = Number.POSITIVE_INFINITY) =>
    (bytes.get(address) ?? []).filter((b) => b.at >= from && b.at < to).reduce((n, b) => n + b.size, 0);
  return { r, bytesThrough };
}

const describeMoves = (d: SessionDriver) =>
  d
    .failovers()
    .map(
      (f) =>
        `${f.at.toFixed(0)} ms ${f.event.from.local.address}→${f.event.from.remote.address} to ` +
        `${f.event.to.local.address}→${f.event.to.remote.address} ${f.event.reason}`,
    )
    .join('; ');

function activePath(d: SessionDriver) {
  const active = d.conn.paths.find((p) => p.state === 'active');
  assert.ok(active, 'an active path');
  return active;
}

/** 1000 bytes from the server every 20 ms (50 kB/s) for `ms`. */
const downstream = (ms: number): WorkloadSpec => ({
  interactive: { size: 1000, interval: 20, count: Math.floor(ms / 20), direction: 'down' },
});

describe('a backup path carries no data while a preferred one works', () => {
  test('fiber (preferred) + lte (backup), dialled on lte: data moves to fiber and stays there 10 minutes', () => {
    const { r, bytesThrough } = run({
      seed: 1,
      until: 10 * MINUTE,
      clientProviders: 'fiber+lte',
      from: LTE,
      to: SERVER,
      workload: downstream(10 * MINUTE),
      transport: { backupAddresses: [LTE] },
    });
    const client = r.clients[0];
    const server = r.servers[0];
    for (const d of [client, server]) {
      const moves = d.failovers();
      // One move each, early: off the backup as soon as fiber validated (it never failed: no hold).
      assert.equal(moves.length, 1, describeMoves(d));
      assert.equal(
        moves[0].event.to.local.address === FIBER || moves[0].event.to.remote.address === FIBER,
        true,
      );
      assert.ok(moves[0].at < 1000, describeMoves(d));
      assert.equal(activePath(d).state, 'active');
    }
    assert.equal(activePath(client).local.address, FIBER);
    assert.equal(activePath(server).remote.address, FIBER);
    // From 2 s on: lte carries only the warm standby's checks (a small challenge and its answer
    // per second), fiber the whole stream.
    const lte = bytesThrough(LTE, 2000);
    const fiber = bytesThrough(FIBER, 2000);
    const seconds = (10 * MINUTE - 2000) / 1000;
    console.log(`lte ${lte} bytes (${(lte / seconds).toFixed(0)} B/s), fiber ${fiber} bytes`);
    assert.ok(fiber > 50_000 * seconds, `fiber carried ${fiber} bytes`);
    assert.ok(lte / seconds < 500, `lte carried ${lte} bytes: ${(lte / seconds).toFixed(0)} B/s`);
  });
});

interface HealCase {
  name: string;
  transport: Partial<TransportConfig>;
  serverBackup?: boolean;
  clientProviders: 'fiber+lte' | 'fiber';
  from: string;
  to: string;
  /** The link blackholed, and the address whose paths must carry the data before and after. */
  link: string;
  preferred: { side: 'local' | 'remote'; address: string };
  /** Nominal RTTs of the dead path and the one failed over to, for the failover bound. */
  rtts: [number, number];
}

describe('blackhole of the preferred path: failover to the backup, move back within 5 s of the heal', () => {
  const fiberRtt = meanRttMs(pathProfile('fiber'));
  const lteRtt = meanRttMs(pathProfile('lte'));
  const cases: HealCase[] = [
    {
      name: 'client backup address: fiber (preferred) + lte (backup)',
      transport: { backupAddresses: [LTE] },
      clientProviders: 'fiber+lte',
      from: FIBER,
      to: SERVER,
      link: 'client.fiber',
      preferred: { side: 'local', address: FIBER },
      rtts: [fiberRtt, lteRtt],
    },
    {
      name: 'no preferences: fiber + lte, back to the lower RTT',
      transport: {},
      clientProviders: 'fiber+lte',
      from: FIBER,
      to: SERVER,
      link: 'client.fiber',
      preferred: { side: 'local', address: FIBER },
      rtts: [fiberRtt, lteRtt],
    },
    {
      name: 'server backup address, dialled first: the client moves to the preferred one',
      transport: { backupAddresses: [SERVER_BACKUP] },
      serverBackup: true,
      clientProviders: 'fiber',
      from: FIBER,
      to: SERVER_BACKUP,
      link: 'server.eth',
      preferred: { side: 'remote', address: SERVER },
      rtts: [fiberRtt, fiberRtt],
    },
  ];
  for (const c of cases) {
    for (const seed of [1, 2]) {
      test(`${c.name} (seed ${seed})`, () => {
        const faultAt = 10_000;
        const healAt = 25_000;
        const until = 2 * MINUTE;
        const { r, bytesThrough } = run({
          seed,
          until,
          clientProviders: c.clientProviders,
          from: c.from,
          to: c.to,
          serverBackup: c.serverBackup,
          workload: downstream(until),
          transport: c.transport,
          faults: [{ at: faultAt, blackhole: c.link, direction: 'both', duration: healAt - faultAt }],
        });
        const onPreferred = (d: SessionDriver, p: Failover['to']) =>
          (d.role === 'client') === (c.preferred.side === 'local')
            ? p.local.address === c.preferred.address
            : p.remote.address === c.preferred.address;
        for (const d of [r.clients[0], r.servers[0]]) {
          const moves = d.failovers();
          const log = `${d.role}: ${describeMoves(d)}`;
          // Before the fault: at most the start-up move onto the preferred path.
          for (const m of moves.filter((m) => m.at < faultAt)) assert.ok(onPreferred(d, m.event.to), log);
          const during = moves.filter((m) => m.at >= faultAt && m.at < healAt);
          const after = moves.filter((m) => m.at >= healAt);
          // The fault: the server (it sends the data) leaves the dead path within the bound.
          if (d.role === 'server') {
            assert.ok(during.length > 0, `left the dead path: ${log}`);
            // As in test/sim/detector.test.ts: the RTTs the sender measured (a queue inflates
            // them), never below the profiles' nominal ones.
            const srtt = Math.max(during[0].event.from.srtt ?? 0, c.rtts[0]);
            const standby = Math.max(during[0].event.to.srtt ?? 0, c.rtts[1]);
            const bound = 3 * srtt + standby + 50;
            assert.ok(during[0].at - faultAt <= bound, `decided after ${during[0].at - faultAt} ms: ${log}`);
          }
          for (const m of during)
            assert.ok(!onPreferred(d, m.event.to), `no move onto the dead path: ${log}`);
          // The heal: one move back, within 5 s, and nothing after it for the rest of the run.
          assert.equal(after.length, 1, `one move after the heal: ${log}`);
          assert.ok(onPreferred(d, after[0].event.to), log);
          // Not before the healed path answered for moveBackDelay (2 s by default): hysteresis.
          const back = after[0].at - healAt;
          assert.ok(back >= 2000 && back <= 5000, `back ${back.toFixed(0)} ms after the heal: ${log}`);
          assert.ok(onPreferred(d, activePath(d)), `ends on the preferred path: ${log}`);
          console.log(`${c.name} seed ${seed}: ${log}`);
        }
        if (c.clientProviders === 'fiber+lte') {
          // After the move back, lte carries only the warm standby's checks again.
          const lte = bytesThrough(LTE, healAt + 6000);
          const seconds = (until - healAt - 6000) / 1000;
          assert.ok(lte / seconds < 500, `lte after the heal: ${(lte / seconds).toFixed(0)} B/s`);
        }
      });
    }
  }
});

describe('aggregate and redundant: a backup path carries no data while a preferred one works (protocol.md §11.2)', () => {
  const BACKUP = { backupAddresses: [WAN_CLIENT_ADDRESSES[1]] };
  // cable+lte, no fault: without the flag lte carries a quarter of an aggregate download
  // (11 MB in 5 s) and a copy of every small message under 'redundant' (31 kB in 10 s); as a
  // backup only its validation, its RTT sample and the warm standby's checks (1.6–2.5 kB).
  for (const [policy, traffic, durationMs] of [
    ['aggregate', 'bulk', 3000],
    ['redundant', 'interactive', 10_000],
  ] as const) {
    test(`${policy}, ${traffic}, cable (preferred) + lte (backup): lte carries < 5 kB, no path change, seeds 1, 2`, () => {
      for (const seed of [1, 2]) {
        const r = runWanCase({
          providers: ['cable', 'lte'],
          traffic,
          policy,
          seed,
          durationMs,
          transport: BACKUP,
        });
        assert.deepEqual(r.violations, []);
        assert.deepEqual(r.pathChanges, [], `seed ${seed}`);
        const lte = r.senderBytesByProvider['lte#1'] ?? 0;
        const cable = r.senderBytesByProvider['cable#0'] ?? 0;
        console.log(`${policy} seed ${seed}: cable ${cable} bytes, lte (backup) ${lte} bytes`);
        assert.ok(cable > (traffic === 'bulk' ? 5e6 : 15_000), `cable carried ${cable} bytes`);
        assert.ok(lte < 5000, `seed ${seed}: lte carried ${lte} bytes`);
      }
    });
  }

  test('aggregate: the preferred path dies, data goes on the backup, and comes back to the preferred path after the heal', () => {
    const faultAt = 10_000;
    const healAt = 25_000;
    const until = MINUTE;
    const { r, bytesThrough } = run({
      seed: 1,
      until,
      clientProviders: 'fiber+lte',
      from: FIBER,
      to: SERVER,
      workload: downstream(until),
      transport: { backupAddresses: [LTE], multipath: { policy: 'aggregate' } },
      faults: [{ at: faultAt, blackhole: 'client.fiber', direction: 'both', duration: healAt - faultAt }],
    });
    assert.equal(r.clients[0].conn.multipathPolicy, 'aggregate');
    for (const d of [r.clients[0], r.servers[0]]) {
      const log = `${d.role}: ${describeMoves(d)}`;
      const fiberEnd = (p: Failover['to']) => (d.role === 'client' ? p.local : p.remote).address === FIBER;
      const moves = d.failovers();
      assert.ok(
        moves.filter((m) => m.at >= faultAt && m.at < healAt && !fiberEnd(m.event.to)).length > 0,
        log,
      );
      const after = moves.filter((m) => m.at >= healAt);
      assert.equal(after.length, 1, `one move after the heal: ${log}`);
      assert.ok(fiberEnd(after[0].event.to), log);
      assert.ok(after[0].at - healAt <= 5000, log);
      assert.equal(fiberEnd(activePath(d)), true, `ends on fiber: ${log}`);
    }
    // The backup carried the stream while fiber was dead, and only checks again after the move back.
    const during = bytesThrough(LTE, faultAt + 1000, healAt);
    const lteAfter = bytesThrough(LTE, healAt + 6000);
    const seconds = (until - healAt - 6000) / 1000;
    console.log(
      `aggregate: lte ${during} bytes during the fault, ${(lteAfter / seconds).toFixed(0)} B/s after`,
    );
    assert.ok(
      during > 40_000 * ((healAt - faultAt - 1000) / 1000),
      `lte carried ${during} bytes during the fault`,
    );
    assert.ok(lteAfter / seconds < 500, `lte after the heal: ${(lteAfter / seconds).toFixed(0)} B/s`);
  });
});
