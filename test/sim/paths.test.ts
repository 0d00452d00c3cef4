// The path lifecycle (issue 4) in the simulator with the real engine: idle failure detection
// and its cost, PATH_ABANDON, following the peer to any path id, and path health shared by
// the sessions of one endpoint. Every run is seeded and deterministic.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConnectionEvent, PathInfo } from '../../src/engine/types.js';
import type { Frame } from '../../src/wire/frames.js';
import { runEngineSessions } from '../../testing/sim/engine-run.js';
import type { Simulator } from '../../testing/sim/network.js';
import { Rng } from '../../testing/sim/rng.js';
import { type HostSpec, type ScenarioSpec, scenario } from '../../testing/sim/scenario.js';
import type { SessionDriver, WorkloadSpec } from '../../testing/sim/workload.js';

type Failover = Extract<ConnectionEvent, { type: 'failover' }>;

const CLIENT = { wifi: '192.0.2.10', lte: '198.51.100.10' };
const SERVER = { eth: '203.0.113.5', eth2: '203.0.113.6' };

interface Setup {
  client?: HostSpec;
  server?: HostSpec;
  links?: ScenarioSpec['links'];
  nats?: ScenarioSpec['nats'];
  workload?: WorkloadSpec;
  sessions?: number;
  sessionInterval?: number;
  timeLimit?: number;
  dial?: string;
  hooks?: Parameters<typeof runEngineSessions>[0]['testHooks'];
  onNodes?: Parameters<typeof runEngineSessions>[0]['onNodes'];
  sim?: (sim: Simulator) => void;
}

function start(setup: Setup) {
  const sim = scenario({
    seed: 5,
    trace: true,
    hosts: {
      client: setup.client ?? { interfaces: { wifi: [CLIENT.wifi], lte: [CLIENT.lte] } },
      server: setup.server ?? { interfaces: { eth: [SERVER.eth] } },
    },
    links: setup.links ?? {
      'client.wifi': { delay: 10 },
      'client.lte': { delay: 25 },
      'server.eth': { delay: 5 },
    },
    ...(setup.nats && { nats: setup.nats }),
  });
  setup.sim?.(sim);
  const r = runEngineSessions({
    sim,
    rng: new Rng(5),
    client: { host: 'client', address: setup.dial ?? CLIENT.wifi },
    server: { host: 'server', address: SERVER.eth },
    workload: setup.workload ?? { requests: { count: 1, size: 100 } },
    sessions: setup.sessions,
    sessionInterval: setup.sessionInterval,
    timeLimit: setup.timeLimit ?? 10_000,
    testHooks: setup.hooks,
    onNodes: setup.onNodes,
  });
  assert.deepEqual(r.violations, []);
  assert.ok(r.complete);
  return { sim, r };
}

function failovers(d: SessionDriver, after = -Infinity): Array<{ at: number; event: Failover }> {
  return d.pathLog
    .filter((l) => l.at >= after && l.event.type === 'failover')
    .map((l) => ({ at: l.at, event: l.event as Failover }));
}

const active = (d: SessionDriver): PathInfo | undefined => d.conn.paths.find((p) => p.state === 'active');

describe('idle sessions: keepalives and failure detection', () => {
  const INTERVAL = 1000; // transport.keepaliveInterval's default

  for (const phase of [0, 250, 500, 750]) {
    test(`a dead path of an idle session is left within 2 × the keepalive interval (fault ${phase} ms into a cycle)`, () => {
      const { sim, r } = start({});
      const quietFrom = 3000;
      const quietTo = quietFrom + 10 * INTERVAL;
      sim.run({ until: quietTo });
      // What an idle session costs: per path and direction, one small packet per interval.
      const sends = new Map<string, number>();
      for (const line of sim.trace?.lines() ?? []) {
        const p = line.split(' ');
        const t = Number(p[0]);
        if (p[1] !== 'send' || t < quietFrom || t >= quietTo) continue;
        const [src, dst] = p[3].split('>').map((a) => a.slice(0, a.lastIndexOf(':')));
        sends.set(`${src}>${dst}`, (sends.get(`${src}>${dst}`) ?? 0) + 1);
        assert.ok(Number(p[4]) <= 64, `a keepalive or check is small (${p[4]} bytes)`);
      }
      assert.equal(sends.size, 4, 'both paths, both directions');
      for (const [pair, n] of sends) assert.ok(n <= 10, `${pair}: ${n} packets in 10 intervals`);
      if (phase === 0)
        console.log(`idle: packets per 10 intervals ${JSON.stringify(Object.fromEntries(sends))}`);

      const faultAt = quietTo + phase;
      sim.at(faultAt, () => sim.blackhole('client.wifi', 'both', true));
      sim.run({ until: faultAt + 2 * INTERVAL });
      const [moved] = failovers(r.clients[0], faultAt);
      assert.ok(moved, 'the client left the dead path');
      const [followed] = failovers(r.servers[0], faultAt);
      assert.ok(followed, 'the server followed');
      console.log(
        `idle, fault at +${phase} ms: client moved after ${(moved.at - faultAt).toFixed(0)} ms, server after ${(followed.at - faultAt).toFixed(0)} ms`,
      );
      assert.equal(active(r.clients[0])?.local.address, CLIENT.lte);
      assert.equal(active(r.servers[0])?.remote.address, CLIENT.lte);
      assert.ok(followed.at - faultAt <= 2 * INTERVAL);
      if (phase !== 0) return;
      // Afterwards the dead pair is re-checked with backoff (small probes, no padding: the pair
      // was validated before), never more than one packet per interval, while the session
      // keeps a standby there (and so its keepalive).
      const after = faultAt + 2 * INTERVAL;
      sim.run({ until: after + 20 * INTERVAL });
      let deadSends = 0;
      for (const line of sim.trace?.lines() ?? []) {
        const p = line.split(' ');
        if (p[1] !== 'send' || Number(p[0]) < after || !p[3].startsWith(`${CLIENT.wifi}:`)) continue;
        deadSends++;
        assert.ok(Number(p[4]) <= 64, `a re-check of the dead pair is small (${p[4]} bytes)`);
      }
      console.log(`idle, after the failover: ${deadSends} packets to the dead pair in 20 intervals`);
      assert.ok(deadSends > 0 && deadSends <= 20, `${deadSends} packets`);
    });
  }
});

describe('PATH_ABANDON: giving up a path id is never one-sided', () => {
  test('a client leaving an address abandons its path id, and the server drops it too', () => {
    const abandons: Frame[] = [];
    const { sim, r } = start({
      workload: { bulk: { streams: 1, bytes: 1 << 20, direction: 'down' } },
      hooks: {
        server: {
          mutateFramesBeforeProcessing: (frames) => {
            for (const f of frames) if (f.type === 'path_abandon') abandons.push(f);
            return frames;
          },
        },
      },
      sim: (s) => s.at(400, () => s.removeAddress('client.wifi', CLIENT.wifi)),
    });
    sim.run({ until: r.endTime + 3000 });
    assert.ok(
      abandons.some((f) => f.type === 'path_abandon' && f.pathId === 0 && f.errorCode === 3),
      `PATH_ABANDON(0, ADDRESS_GONE) reached the server: ${JSON.stringify(abandons)}`,
    );
    const removed = r.servers[0].pathLog.find(
      (l) => l.event.type === 'path-updated' && l.event.path.id === 0 && l.event.path.state === 'removed',
    );
    assert.ok(removed, 'the server removed path 0');
    assert.deepEqual(
      r.servers[0].conn.paths.map((p) => p.id).sort(),
      r.clients[0].conn.paths.map((p) => p.id).sort(),
      'both ends hold the same path ids',
    );
  });

  test('a peer abandoning the path we send on moves us at once, and the peer follows to a lower path id', () => {
    // The client's wifi is behind a NAT: its rebinding at 1 s makes the server validate the new
    // address on a path id of its own (2) and the client follow there; the client's standby on
    // lte is path 1. At 2 s the client receives a PATH_ABANDON for path 2 (injected, as if the
    // server had given it up; the server in fact still uses it): the client must move at once,
    // to path 1, and the server, which saw nothing wrong with path 2, must follow it down to
    // the lower path id.
    let armed = false;
    let injected: number | undefined;
    const { r } = start({
      workload: { bulk: { streams: 1, bytes: 3 << 20, direction: 'up' } },
      client: { interfaces: { wifi: ['10.0.0.2'], lte: [CLIENT.lte] } },
      dial: '10.0.0.2',
      links: {
        'client.wifi': { delay: 10, bandwidth: 8e6, queue: 64 },
        'client.lte': { delay: 25, bandwidth: 8e6, queue: 64 },
        'server.eth': { delay: 5 },
      },
      nats: { nat: { covers: 'client.wifi', public: ['198.51.100.200', '198.51.100.201'] } },
      hooks: {
        client: {
          mutateFramesBeforeProcessing: (frames) => {
            if (!armed || injected !== undefined) return frames;
            injected = 2;
            return [...frames, { type: 'path_abandon', pathId: 2, errorCode: 2, reason: 'test' }];
          },
        },
      },
      sim: (s) => {
        s.at(1000, () => s.rebind('nat', { port: true, address: true }));
        s.at(2000, () => (armed = true));
      },
    });
    assert.equal(injected, 2);
    assert.equal(active(r.clients[0])?.id, 1);
    const moved = failovers(r.clients[0], 2000)[0];
    assert.equal(moved?.event.reason, 'abandoned');
    assert.deepEqual(
      [moved?.event.from.id, moved?.event.to.id],
      [2, 1],
      'the client moved down from path 2 to 1',
    );
    assert.ok(!r.clients[0].conn.paths.some((p) => p.id === 2), 'path 2 is gone at the client');
    const followed = failovers(r.servers[0], moved.at)[0];
    assert.equal(followed?.event.reason, 'peer-moved', 'the server followed');
    assert.equal(followed?.event.to.id, 1);
    assert.ok(followed.at - moved.at < 100, `followed after ${followed.at - moved.at} ms`);
  });
});

describe('path ids are never used up', () => {
  test('standbys opened and abandoned over a dead link do not exhaust path ids: the standby returns after the heal', () => {
    // wifi (the active provider) is blackholed both ways for 12 s: the client fails over to lte,
    // then keeps re-opening a standby over wifi (backed off), a new path id each time, none of
    // whose packets reach the server. Only the client's PATH_ABANDONs (sent on lte) tell the
    // server those ids were used; it must issue CIDs past them, or after the heal the client has
    // no path id left to open a standby with (found in the lab: braid tunnel had no standby
    // 15 s after a blackhole healed).
    const HEAL = 13_000;
    const { r } = start({
      workload: { datagrams: { count: 1100, size: 100, interval: 20 } },
      timeLimit: 30_000,
      sim: (s) => {
        s.at(1000, () => s.blackhole('client.wifi', 'both', true));
        s.at(HEAL, () => s.blackhole('client.wifi', 'both', false));
      },
    });
    const client = r.clients[0];
    const opened = client.pathLog.filter(
      (l) =>
        l.at > 1000 &&
        l.at < HEAL &&
        l.event.type === 'path-updated' &&
        l.event.path.state === 'validating' &&
        l.event.path.local.address === CLIENT.wifi,
    );
    assert.ok(opened.length >= 2, `the client tried wifi again under new path ids: ${opened.length} times`);
    const back = client.pathLog.find(
      (l) =>
        l.at >= HEAL &&
        l.event.type === 'path-updated' &&
        (l.event.path.state === 'standby' || l.event.path.state === 'active') &&
        l.event.path.local.address === CLIENT.wifi,
    );
    assert.ok(back, 'a path over wifi is validated again after the heal');
    assert.ok(back.at - HEAL < 10_000, `wifi back ${(back.at - HEAL).toFixed(0)} ms after the heal`);
    console.log(
      `path ids after a 12 s blackhole: ${opened.length} standby attempts over wifi; wifi back ${(back.at - HEAL).toFixed(0)} ms after the heal (path ${back.event.type === 'path-updated' ? back.event.path.id : '?'})`,
    );
  });
});

describe('PATH_ABANDON with nowhere to go yet', () => {
  test('the only path is abandoned before any CID for another path id arrives: the client moves as soon as one does', () => {
    // A single-homed client. The PATH_ABANDON for path 0 is put in front of the first
    // NEW_CONNECTION_IDs for further path ids: when it is handled there is no other path and
    // no CID to open one; the CIDs follow in the same packet, and the client re-opens the same
    // pair under path id 1 and moves there. The server (which never gave path 0 up) follows,
    // and later abandons its idle path 0.
    let injected = false;
    const { sim, r } = start({
      client: { interfaces: { wifi: [CLIENT.wifi] } },
      links: { 'client.wifi': { delay: 10, bandwidth: 10e6, queue: 64 }, 'server.eth': { delay: 5 } },
      workload: { bulk: { streams: 1, bytes: 1 << 20, direction: 'up' } },
      hooks: {
        client: {
          mutateFramesBeforeProcessing: (frames) => {
            if (injected || !frames.some((f) => f.type === 'new_connection_id' && f.pathId > 0))
              return frames;
            injected = true;
            return [{ type: 'path_abandon', pathId: 0, errorCode: 2, reason: 'test' }, ...frames];
          },
        },
      },
    });
    assert.ok(injected);
    const [moved] = failovers(r.clients[0]);
    assert.deepEqual([moved?.event.reason, moved?.event.from.id, moved?.event.to.id], ['abandoned', 0, 1]);
    assert.equal(moved.event.to.local.address, CLIENT.wifi, 'the same pair under a fresh path id');
    assert.equal(failovers(r.servers[0])[0]?.event.reason, 'peer-moved');
    sim.run({ until: r.endTime + 5000 });
    assert.deepEqual(
      r.servers[0].conn.paths.map((p) => p.id),
      r.clients[0].conn.paths.map((p) => p.id),
    );
  });
});

describe('path health shared by the sessions of an endpoint', () => {
  test('a session probes towards the server address that still works first when another session saw the other fail', () => {
    // Two idle sessions from the same client endpoint to the same two-address server. Then the
    // server's first address and the client's lte both die: only A1 (wifi) → B2 works. The
    // first session to notice has no information and tries the pair most different from its
    // failed one in our default order (other local address first: lte → B1, dead), then wifi →
    // B2. The second session consults the endpoint's health table, which by then blames B1 and
    // lte, and tries wifi → B2 first.
    const { sim, r } = start({
      server: { interfaces: { eth: [SERVER.eth], eth2: [SERVER.eth2] } },
      links: {
        'client.wifi': { delay: 10 },
        'client.lte': { delay: 25 },
        'server.eth': { delay: 5 },
        'server.eth2': { delay: 5 },
      },
      sessions: 2,
      sessionInterval: 400,
    });
    const faultAt = 5000;
    sim.at(faultAt, () => {
      sim.blackhole('server.eth', 'both', true);
      sim.blackhole('client.lte', 'both', true);
    });
    sim.run({ until: faultAt + 3000 });
    const explored = (d: SessionDriver) =>
      d.pathLog
        .filter(
          (l) => l.at > faultAt && l.event.type === 'path-updated' && l.event.path.state === 'validating',
        )
        .map((l) => {
          const p = (l.event as Extract<ConnectionEvent, { type: 'path-updated' }>).path;
          return `${p.local.address}>${p.remote.address}`;
        });
    const [first, second] = [...r.clients].sort(
      (a, b) => (failovers(a, faultAt)[0]?.at ?? Infinity) - (failovers(b, faultAt)[0]?.at ?? Infinity),
    );
    console.log(
      `health: first session probed ${explored(first).join(', ')}; second ${explored(second).join(', ')}`,
    );
    assert.equal(
      explored(first)[0],
      `${CLIENT.lte}>${SERVER.eth}`,
      'without information: other local address first',
    );
    assert.equal(
      explored(second)[0],
      `${CLIENT.wifi}>${SERVER.eth2}`,
      'with the shared table: the working pair first',
    );
    assert.ok(!explored(second).includes(`${CLIENT.lte}>${SERVER.eth}`), 'nothing towards the blamed ends');
    for (const d of r.clients) {
      const p = active(d);
      assert.equal(`${p?.local.address}>${p?.remote.address}`, `${CLIENT.wifi}>${SERVER.eth2}`);
    }
  });
});
