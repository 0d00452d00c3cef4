// Multipath policies (issue 4 point 6) in the deterministic simulator, real engine on both ends:
// - aggregate over two disjoint links reaches (close to) the sum of their rates;
// - aggregate on a bottleneck shared with a single-path session takes no more than that
//   session does (LIA's goal, RFC 6356);
// - a path failing under aggregate loses no byte and the other path carries on;
// - aggregate meets the path lifecycle: data on several paths is no move, a data path's
//   PATH_ABANDON resends its data on the other, one-way pairs carry data their working way;
// - redundant delivers small messages with a lower tail latency than failover when one path has
//   loss or delay spikes, and never delivers a datagram twice;
// - lazy backup paths open only after their threshold.
// Every figure printed here is quoted in docs/multihoming.md.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConnectionEvent, MultipathOptions, TransportConfig } from '../../src/engine/types.js';
import { mbps, runCompeting, runMessages } from '../../testing/harness/sim-policies.js';
import { percentile } from '../../testing/harness/stats.js';
import { runEngineSessions } from '../../testing/sim/engine-run.js';
import { Rng } from '../../testing/sim/rng.js';
import { type FaultSpec, type ScenarioSpec, scenario } from '../../testing/sim/scenario.js';

const MiB = 1 << 20;
const CLIENT = { host: 'client', address: '192.0.2.10' };
const SERVER = { host: 'server', address: '203.0.113.5' };

/** A client with two providers of different rates and delays, a server behind a fast link. */
function twoProviders(faults: FaultSpec[] = [], queue = 128): ScenarioSpec {
  return {
    seed: 3,
    trace: false,
    hosts: {
      client: { interfaces: { wifi: ['192.0.2.10'], lte: ['198.51.100.10'] } },
      server: { interfaces: { eth: ['203.0.113.5'] } },
    },
    links: {
      'client.wifi': { delay: 10, bandwidth: 20e6, queue },
      'client.lte': { delay: 25, bandwidth: 10e6, queue },
      'server.eth': { delay: 5 },
    },
    faults,
  };
}
const SUM_MBPS = 30;

const policy = (p: MultipathOptions['policy'], more: Partial<MultipathOptions> = {}) => ({
  multipath: { policy: p, ...more },
});

describe('aggregate: disjoint bottlenecks', () => {
  for (const direction of ['up', 'down'] as const) {
    test(`two providers (20 Mbit/s 10 ms + 10 Mbit/s 25 ms): goodput close to the sum (${direction})`, () => {
      const shares: Record<string, number> = {};
      for (const p of ['aggregate', 'failover'] as const) {
        const samples: [number, number][] = [];
        const run = runCompeting({
          sim: scenario(twoProviders()),
          rng: new Rng(3),
          server: { ...SERVER, transport: {} },
          clients: [{ ...CLIENT, transport: policy(p) }],
          workload: { bulk: { streams: 1, bytes: 100 * MiB, direction } },
          until: 10_000,
          tickMs: 500,
          onTick: (now, r) => {
            const receiver = direction === 'up' ? r.serverOf(0) : r.clients[0];
            samples.push([now, receiver?.bytesRead ?? 0]);
          },
        });
        assert.deepEqual(run.violations, []);
        // From 3 s (slow start done) to the end.
        const from = samples.find(([t]) => t >= 3000)!;
        const to = samples[samples.length - 1];
        shares[p] = mbps(from[1], to[1], from[0], to[0]) / SUM_MBPS;
        if (p === 'aggregate') {
          const client = run.clients[0].conn;
          const server = run.serverOf(0)!.conn;
          const [sender, receiver] = direction === 'up' ? [client, server] : [server, client];
          assert.ok(
            sender.paths.filter((path) => path.bytesSent > 4 * MiB).length === 2,
            'both paths carried data',
          );
          // Packets of the two paths arrive interleaved, one RTT apart; packet numbers are per
          // path, so that is no reordering: the receiver acknowledges every ~10th packet
          // (ackFrequency), not every one as it would for gaps.
          const ackRatio = receiver.stats.packetsSent / sender.stats.packetsSent;
          console.log(`aggregate ${direction}: receiver sent ${ackRatio.toFixed(3)} packets per data packet`);
          assert.ok(ackRatio < 0.25, `receiver packets per data packet ${ackRatio}`);
        }
      }
      console.log(
        `aggregate ${direction}: ${(shares.aggregate * 100).toFixed(1)}% of the sum of link rates ` +
          `(failover: ${(shares.failover * 100).toFixed(1)}%; stream bytes vs UDP payload rate, ` +
          'headers cap it near 96.6%)',
      );
      assert.ok(shares.aggregate >= 0.9, `aggregate reached ${shares.aggregate} of the sum`);
      assert.ok(shares.failover < 0.7, 'failover uses one provider only');
    });
  }
});

describe('aggregate: shared bottleneck (coupled congestion control)', () => {
  // Session A (two providers, both through the server's 20 Mbit/s link) against session B (one
  // provider, single path) uploading at the same time. Each access link has 2 ms jitter so the
  // tail-drop queue's loss pattern does not lock into one phase. The share is A's goodput over
  // A + B from 10 s to 40 s. Uncoupled per-path NewReno (measured with the coupling disabled)
  // took 0.69 / 0.66 / 0.60 against NewReno in the three RTT settings below; fair is 0.5.
  function share(lteDelay: number, cc: TransportConfig['congestionControl']): number {
    const sim = scenario({
      seed: 1,
      hosts: {
        A: { interfaces: { wifi: ['192.0.2.10'], lte: ['198.51.100.10'] } },
        B: { interfaces: { eth: ['192.0.2.20'] } },
        server: { interfaces: { eth: ['203.0.113.5'] } },
      },
      links: {
        'A.wifi': { delay: 5, jitter: 2 },
        'A.lte': { delay: lteDelay, jitter: 2 },
        'B.eth': { delay: 5, jitter: 2 },
        'server.eth': { delay: 10, in: { bandwidth: 20e6, queue: 80 } },
      },
    });
    const samples: number[][] = [];
    const run = runCompeting({
      sim,
      rng: new Rng(1),
      server: { ...SERVER, transport: {} },
      clients: [
        { host: 'A', address: '192.0.2.10', transport: { ...policy('aggregate'), congestionControl: cc } },
        { host: 'B', address: '192.0.2.20', transport: { congestionControl: cc } },
      ],
      workload: { bulk: { streams: 1, bytes: 200 * MiB, direction: 'up' } },
      until: 40_000,
      tickMs: 1000,
      onTick: (now, r) => samples.push([now, r.serverOf(0)?.bytesRead ?? 0, r.serverOf(1)?.bytesRead ?? 0]),
    });
    assert.deepEqual(run.violations, []);
    assert.equal(run.clients[0].conn.multipathPolicy, 'aggregate');
    const from = samples.find(([t]) => t >= 10_000)!;
    const to = samples[samples.length - 1];
    const a = mbps(from[1], to[1], from[0], to[0]);
    const b = mbps(from[2], to[2], from[0], to[0]);
    const aPaths = run.clients[0].conn.paths.filter((p) => p.bytesSent > MiB).length;
    assert.equal(aPaths, 2, 'the aggregate session used both of its paths');
    console.log(
      `shared bottleneck, A's second path ${2 * (lteDelay + 10)} ms base RTT, competitor ${cc}: ` +
        `aggregate ${a.toFixed(2)} Mbit/s, single path ${b.toFixed(2)} Mbit/s, share ${(a / (a + b)).toFixed(3)}`,
    );
    return a / (a + b);
  }

  test('against a single-path session: no more than half the bottleneck', () => {
    // Three RTTs for A's second path, against NewReno (LIA's reference) and CUBIC (Braid's
    // default). Two single-path CUBIC sessions split this bottleneck 0.43-0.54 in the same
    // setup, so one run says little; the mean over six does.
    const shares: number[] = [];
    for (const cc of ['newreno', 'cubic'] as const)
      for (const delay of [5, 10, 20]) shares.push(share(delay, cc));
    const mean = shares.reduce((x, y) => x + y, 0) / shares.length;
    console.log(`mean share over ${shares.length} runs: ${mean.toFixed(3)}`);
    for (const s of shares) assert.ok(s <= 0.6 && s >= 0.4, `share ${s}`);
    assert.ok(mean <= 0.55, `mean share ${mean}`);
  });
});

/**
 * An 8 MiB aggregate transfer meeting its faults at 1.5 s; every byte once, in order. `stall`:
 * the longest stretch after the fault without new in-order bytes at the receiving application.
 */
function aggregateTransfer(spec: ScenarioSpec, direction: 'up' | 'down') {
  const sim = scenario(spec);
  let stall = 0;
  const r = runEngineSessions({
    sim,
    rng: new Rng(21),
    client: CLIENT,
    server: SERVER,
    workload: { bulk: { streams: 1, bytes: 8 * MiB, direction } },
    clientTransport: policy('aggregate'),
    timeLimit: 60_000,
    onNodes: ({ client, server }) => {
      let last = 1500;
      let lastBytes = -1;
      const tick = () => {
        const bytes = (direction === 'up' ? server : client).drivers[0]?.bytesRead ?? 0;
        if (bytes > lastBytes) {
          if (sim.now > 1500) stall = Math.max(stall, sim.now - last);
          last = Math.max(sim.now, 1500);
          lastBytes = bytes;
        }
        if (bytes < 8 * MiB && sim.now < 60_000) sim.at(sim.now + 5, tick);
      };
      sim.at(1000, tick);
    },
  });
  assert.deepEqual(r.violations, [], 'every byte delivered once, in order');
  assert.ok(r.complete, 'the transfer completed');
  const sent = (direction === 'up' ? r.clients[0] : r.servers[0]).sent;
  const read = (direction === 'up' ? r.servers[0] : r.clients[0]).received;
  for (const [id, record] of sent) {
    assert.equal(read.get(id)?.digest, record.digest, `stream ${id}: SHA-256 equal at both ends`);
    assert.equal(read.get(id)?.bytes, 8 * MiB);
  }
  assert.ok(r.endTime > 2000, `the fault hit mid-transfer (ended at ${r.endTime})`);
  // Then 5 s of quiet: both ends hold the same path ids (no one-sided abandonment). A path
  // still being opened (validating: the client re-tries the dead provider with back-off) may
  // be unknown to the peer until its first packet arrives.
  sim.run({ until: r.endTime + 5000 });
  const ids = (d: (typeof r.clients)[number]) =>
    d.conn.paths
      .filter((p) => p.state !== 'validating')
      .map((p) => p.id)
      .sort((a, b) => a - b);
  assert.deepEqual(ids(r.servers[0]), ids(r.clients[0]), 'client and server hold the same path ids');
  return { r, stall };
}

describe('aggregate: a path fails mid-transfer', () => {
  for (const direction of ['up', 'down'] as const) {
    for (const failing of ['wifi', 'lte'] as const) {
      test(`${failing} blackholed both ways at 1.5 s (${direction}): no byte lost, the other path carries on`, () => {
        const { r, stall } = aggregateTransfer(
          twoProviders([{ at: 1500, blackhole: `client.${failing}` }]),
          direction,
        );
        const survivor = failing === 'wifi' ? '198.51.100.10' : '192.0.2.10';
        const live = r.clients[0].conn.paths.filter((p) => p.state === 'active' || p.state === 'standby');
        assert.ok(
          live.some((p) => p.local.address === survivor && p.state === 'active'),
          `the surviving provider carries the session: ${JSON.stringify(live.map((p) => [p.local.address, p.state]))}`,
        );
        console.log(
          `aggregate, ${failing} fails (${direction}): application stall ${stall.toFixed(0)} ms, ` +
            `done at ${r.endTime.toFixed(0)} ms`,
        );
        assert.ok(stall < 1000, `stall ${stall} ms`);
      });
    }
  }
});

describe('aggregate meets the path lifecycle', () => {
  type Failover = Extract<ConnectionEvent, { type: 'failover' }>;
  const failovers = (d: { pathLog: Array<{ at: number; event: ConnectionEvent }> }) =>
    d.pathLog.filter((l) => l.event.type === 'failover').map((l) => l.event as Failover);

  for (const direction of ['up', 'down'] as const) {
    test(`a data path's address goes away (${direction}): PATH_ABANDON, its data goes on the other path, no move`, () => {
      const { r, stall } = aggregateTransfer(
        twoProviders([{ at: 1500, removeAddress: 'client.lte', address: '198.51.100.10' }]),
        direction,
      );
      console.log(`aggregate, lte address removed (${direction}): application stall ${stall.toFixed(0)} ms`);
      assert.ok(stall < 1000, `stall ${stall} ms`);
      for (const d of [r.clients[0], r.servers[0]]) {
        assert.ok(
          d.conn.paths.every(
            (p) => p.local.address !== '198.51.100.10' && p.remote.address !== '198.51.100.10',
          ),
          'the lte path id is gone at both ends',
        );
        // The peer sending on both paths was never taken for a move.
        const moves = failovers(d).filter((f) => f.reason === 'peer-moved' || f.reason === 'migration');
        assert.deepEqual(moves, [], 'no follow, no migration');
      }
      const server = r.servers[0].conn;
      assert.ok(
        r.servers[0].pathLog.some((l) => l.event.type === 'path-updated' && l.event.path.state === 'removed'),
        'the server removed the path on PATH_ABANDON',
      );
      assert.equal(server.paths.find((p) => p.state === 'active')?.remote.address, '192.0.2.10');
    });
  }

  // Server on two addresses; mid-transfer only A1→B1 (client wifi → server eth) works one way
  // and only B2→A2 (server eth2 → client lte) the other. Each end keeps sending on the pair
  // that works its way; ACKs for the other pair's number space ride on the working one.
  for (const direction of ['up', 'down'] as const) {
    // The down case once stalled 1780 ms: the client acknowledged the server's data on B2→A2
    // over A2→B2 (a data path carries its own ACKs), whose client → server direction is the
    // dead one, so the server saw no ACK until the client's PTOs there failed the path. Now a
    // data path whose PTO fired leaves its ACKs to the active path.
    test(`one-way pairs: only A1→B1 and B2→A2 work (${direction}); each side sends where its packets arrive`, () => {
      const spec = twoProviders([
        { at: 1500, blackhole: 'client.wifi', direction: 'in' },
        { at: 1500, blackhole: 'client.lte', direction: 'out' },
        { at: 1500, blackhole: 'server.eth', direction: 'out' },
        { at: 1500, blackhole: 'server.eth2', direction: 'in' },
      ]);
      spec.hosts.server = { interfaces: { eth: ['203.0.113.5'], eth2: ['203.0.113.6'] } };
      spec.links = { ...spec.links, 'server.eth2': { delay: 8 } };
      const { r, stall } = aggregateTransfer(spec, direction);
      const active = (d: (typeof r.clients)[number]) => d.conn.paths.find((p) => p.state === 'active');
      assert.equal(active(r.clients[0])?.local.address, '192.0.2.10', 'the client sends on A1→B1');
      assert.equal(active(r.clients[0])?.remote.address, '203.0.113.5');
      assert.equal(active(r.servers[0])?.local.address, '203.0.113.6', 'the server sends on B2→A2');
      assert.equal(active(r.servers[0])?.remote.address, '198.51.100.10');
      console.log(
        `aggregate, one-way pairs (${direction}): application stall ${stall.toFixed(0)} ms, done at ${r.endTime.toFixed(0)} ms`,
      );
      assert.ok(stall < 1000, `stall ${stall} ms`);
    });
  }
});

describe('redundant: small messages on two paths', () => {
  // A 200-byte message every 20 ms (as a datagram and on one stream). The active provider
  // (wifi) has a 300 ms spike every second: 50% loss, or its delay rising from 10 to 150 ms.
  function spikes(kind: 'loss' | 'delay'): FaultSpec[] {
    const faults: FaultSpec[] = [];
    for (let at = 1000; at < 11_000; at += 1000) {
      const [on, off] = kind === 'loss' ? [{ loss: 0.5 }, { loss: 0 }] : [{ delay: 150 }, { delay: 10 }];
      faults.push({ at, set: 'client.wifi', params: on });
      faults.push({ at: at + 300, set: 'client.wifi', params: off });
    }
    return faults;
  }
  for (const kind of ['loss', 'delay'] as const) {
    test(`${kind} spikes on the active path: lower tail latency than failover, no datagram twice`, () => {
      const result: Record<string, { dgram: number[]; stream: number[]; lost: number; dropped: number }> = {};
      for (const p of ['failover', 'redundant'] as const) {
        const sim = scenario({ ...twoProviders(spikes(kind)), seed: 4 });
        const { client, server } = runMessages({
          sim,
          rng: new Rng(4),
          client: 'client',
          server: 'server',
          transport: policy(p),
          message: { size: 200, interval: 20, count: 500 },
          until: 12_000,
        });
        assert.equal(client.conn?.multipathPolicy, p);
        assert.equal(client.sent, 500);
        assert.equal(server.duplicateDatagrams, 0, 'no datagram reached the application twice');
        assert.equal(server.streamLatencies.length, 500, 'every stream message arrived');
        result[p] = {
          dgram: server.datagramLatencies,
          stream: server.streamLatencies,
          lost: 500 - server.datagramLatencies.length,
          dropped: server.conn?.stats.drops['duplicate-datagram'] ?? 0,
        };
      }
      const p99 = (xs: number[]) => percentile(xs, 99);
      for (const p of ['failover', 'redundant'] as const) {
        const r = result[p];
        console.log(
          `${kind} spikes, ${p}: stream p50 ${percentile(r.stream, 50).toFixed(1)} / p99 ${p99(r.stream).toFixed(1)} / ` +
            `max ${Math.max(...r.stream).toFixed(1)} ms; datagrams p99 ${p99(r.dgram).toFixed(1)} ms, ` +
            `${r.lost} of 500 lost, ${r.dropped} duplicate copies dropped by the receiver`,
        );
      }
      const { failover, redundant } = result;
      // Failover's own tail improved with the path lifecycle and persistence work (152.8 ms, then
      // 165.3 ms, now 56.2 ms under loss spikes); redundant's stays at the copy path's latency.
      assert.ok(p99(redundant.stream) < 0.6 * p99(failover.stream), 'stream tail latency at least 40% lower');
      // A lost datagram is the worst latency there is: it counts as the largest number (not
      // Infinity, which the percentile's interpolation would turn into NaN).
      const withLost = (r: { dgram: number[]; lost: number }) => [
        ...r.dgram,
        ...new Array<number>(r.lost).fill(Number.MAX_VALUE),
      ];
      // "No worse" within half a millisecond (a 1200-byte packet's serialization at 20 Mbit/s):
      // both sit at the path's one-way latency, and copies queue beside the originals.
      assert.ok(p99(withLost(redundant)) <= p99(withLost(failover)) + 0.5, 'datagram tail latency no worse');
      assert.ok(redundant.lost <= failover.lost, 'no more datagrams lost');
      assert.ok(redundant.dropped > 0, 'copies arrived and were deduplicated');
    });
  }
});

describe('lazy backup paths', () => {
  /** Path count and bytes moved at the client every 10 ms, and when its second path was opened. */
  function watch(multipath: MultipathOptions, workload: Parameters<typeof runEngineSessions>[0]['workload']) {
    const sim = scenario(twoProviders());
    let opened: { at: number; bytes: number } | undefined;
    let firstPathsAt1s = 0;
    runEngineSessions({
      sim,
      rng: new Rng(8),
      client: CLIENT,
      server: SERVER,
      workload,
      clientTransport: { multipath },
      timeLimit: 8000,
      requireCompletion: false,
      onNodes: ({ client }) => {
        const tick = () => {
          const conn = client.drivers[0]?.conn;
          if (conn) {
            if (sim.now <= 1000) firstPathsAt1s = conn.paths.length;
            if (opened === undefined && conn.paths.length > 1)
              opened = { at: sim.now, bytes: conn.stats.bytesSent + conn.stats.bytesReceived };
          }
          if (sim.now < 7990) sim.at(sim.now + 10, tick);
        };
        sim.at(10, tick);
      },
    });
    return { opened, firstPathsAt1s };
  }

  // A session that lives ~7 s at a trickle: a 100-byte datagram every 20 ms.
  const TRICKLE = { datagrams: { count: 350, size: 100, interval: 20 } };

  test('failover without lazy opens its standby right after the handshake', () => {
    const { opened } = watch({ policy: 'failover' }, TRICKLE);
    assert.ok(opened !== undefined && opened.at < 200, `standby opened at ${opened?.at}`);
  });

  test('lazy.afterMs: no second path before 3 s, one just after', () => {
    const { opened, firstPathsAt1s } = watch({ policy: 'aggregate', lazy: { afterMs: 3000 } }, TRICKLE);
    assert.equal(firstPathsAt1s, 1);
    assert.ok(opened !== undefined, 'a second path was opened');
    console.log(`lazy afterMs 3000: second path opened at ${opened.at} ms`);
    assert.ok(opened.at >= 3000 && opened.at < 3200, `opened at ${opened.at}`);
  });

  test('lazy.afterBytes: no second path before 2 MiB moved, one as soon as they are', () => {
    const { opened } = watch(
      { policy: 'aggregate', lazy: { afterBytes: 2 * MiB } },
      { bulk: { streams: 1, bytes: 6 * MiB, direction: 'up' } },
    );
    assert.ok(opened !== undefined, 'a second path was opened');
    console.log(`lazy afterBytes 2 MiB: second path opened at ${opened.at} ms, ${opened.bytes} bytes moved`);
    assert.ok(opened.bytes >= 2 * MiB && opened.bytes < 2.2 * MiB, `opened after ${opened.bytes} bytes`);
  });

  test('lazy never opens a second path for a session below both thresholds', () => {
    const { opened } = watch(
      { policy: 'failover', lazy: { afterMs: 60_000, afterBytes: 10 * MiB } },
      TRICKLE,
    );
    assert.equal(opened, undefined);
  });
});
