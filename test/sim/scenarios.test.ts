// Named scenarios (after the quic-interop-runner's test cases) run by the real engine in the
// simulator; every run is judged by the properties (testing/sim/properties.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Connection } from '../../src/engine/connection/connection.js';
import {
  type EngineRunOptions,
  type EngineRunResult,
  PAIR_CLIENT,
  pairScenario,
  runEngineSessions,
} from '../../testing/sim/engine-run.js';
import type { LinkSpec } from '../../testing/sim/network.js';
import { checkRun } from '../../testing/sim/properties.js';
import { Rng } from '../../testing/sim/rng.js';
import { type FaultSpec, scenario } from '../../testing/sim/scenario.js';
import type { SessionDriver } from '../../testing/sim/workload.js';

const MiB = 1 << 20;

interface NamedRun extends Omit<EngineRunOptions, 'sim' | 'rng' | 'client' | 'server' | 'timeLimit'> {
  seed?: number;
  clientLink?: LinkSpec;
  serverLink?: LinkSpec;
  faults?: FaultSpec[];
  ipv6?: boolean;
  trace?: boolean;
  timeLimit?: number;
}

function run(options: NamedRun): EngineRunResult & { sim: ReturnType<typeof pairScenario>['sim'] } {
  const seed = options.seed ?? 1;
  const { sim, client, server } = pairScenario({
    seed,
    clientLink: options.clientLink,
    serverLink: options.serverLink,
    faults: options.faults,
    ipv6: options.ipv6,
    trace: options.trace,
  });
  const result = runEngineSessions({
    ...options,
    sim,
    rng: new Rng(seed),
    client,
    server,
    timeLimit: options.timeLimit ?? 60_000,
  });
  assert.deepEqual(result.violations, [], `seed ${seed}: properties violated`);
  assert.ok(result.complete, 'every session completed its workload');
  return { ...result, sim };
}

/** Bytes of trace lines `send` from `address` (the address:port prefix of the source). */
function sentBytes(lines: string[], source: string, until = Number.POSITIVE_INFINITY): number {
  let total = 0;
  for (const line of lines) {
    const parts = line.split(' ');
    if (parts[1] !== 'send' || Number(parts[0]) > until) continue;
    if (parts[3].startsWith(`${source}:`)) total += Number(parts[4]);
  }
  return total;
}

function deliveredBytes(lines: string[], destination: string): number {
  let total = 0;
  for (const line of lines) {
    const parts = line.split(' ');
    if (parts[1] !== 'deliver') continue;
    if (parts[3].split('>')[1].startsWith(`${destination}:`)) total += Number(parts[4]);
  }
  return total;
}

describe('named scenarios (real engine)', () => {
  test('handshake: one session, one request, over a plain 10 ms link', () => {
    const r = run({ clientLink: { delay: 10 }, workload: { requests: { count: 1, size: 100 } } });
    assert.equal(r.clients[0].handshakeComplete, true);
    assert.equal(r.servers[0].handshakeComplete, true);
    const doneAt = Math.max(r.clients[0].completedAt ?? Infinity, r.servers[0].completedAt ?? Infinity);
    assert.ok(doneAt < 200, `done at ${doneAt} ms`);
  });

  test('transfer: 10 MiB completes and flow-control windows grow past their initial size', () => {
    const r = run({
      clientLink: { delay: 10, bandwidth: 200e6, queue: 512 },
      serverLink: { delay: 5 },
      workload: { bulk: { streams: 1, bytes: 10 * MiB, direction: 'up' } },
    });
    const peaks = r.monitor.peaks;
    assert.ok(peaks.streamWindow > 256 * 1024, `stream window auto-tuned to ${peaks.streamWindow}`);
    assert.ok(peaks.connectionWindow > MiB, `connection window auto-tuned to ${peaks.connectionWindow}`);
  });

  test('longrtt: 750 ms RTT, bulk both ways and requests', () => {
    const r = run({
      clientLink: { delay: 187.5, bandwidth: 20e6, queue: 1000 },
      serverLink: { delay: 187.5 },
      workload: {
        bulk: { streams: 2, bytes: 256 * 1024, direction: 'both' },
        requests: { count: 10, size: 2000 },
      },
    });
    const srtt = r.clients[0].conn.paths[0].srtt ?? 0;
    assert.ok(srtt >= 740 && srtt < 1000, `srtt ${srtt}`);
  });

  test('multiplexing: 2,000 request streams through a 100-stream limit', () => {
    const r = run({
      clientLink: { delay: 5, bandwidth: 100e6, queue: 1000 },
      workload: { requests: { count: 2000, size: 200 } },
    });
    assert.equal(r.servers[0].received.size, 2000);
  });

  test('retry: the server demands address validation, the client proves it and carries on', () => {
    const r = run({
      trace: true,
      clientLink: { delay: 10 },
      serverOptions: { retry: 'always' },
      workload: { requests: { count: 5, size: 1000 } },
    });
    // Two full-size INITIALs: the first draws the Retry, the second carries its token.
    const initials = (r.sim.trace?.lines() ?? []).filter((l) => {
      const p = l.split(' ');
      return p[1] === 'send' && p[3].startsWith('192.0.2.10:') && Number(p[4]) >= 1200;
    });
    assert.ok(initials.length >= 2, `client sent ${initials.length} full-size datagrams`);
  });

  test('blackhole: the path goes dark 2 s every 7 s during a transfer; the transfer completes', () => {
    const faults: FaultSpec[] = [];
    for (let at = 2000; at < 40_000; at += 7000) faults.push({ at, blackhole: 'client.eth', duration: 2000 });
    const r = run({
      clientLink: { delay: 15, bandwidth: 2e6, queue: 64 },
      serverLink: { delay: 15 },
      faults,
      workload: { bulk: { streams: 2, bytes: MiB, direction: 'up' }, requests: { count: 5, size: 500 } },
      timeLimit: 120_000,
    });
    assert.ok(r.endTime > 9000, `the transfer spanned at least one outage (ended at ${r.endTime})`);
  });

  test('keyupdate: keys roll every 64 packets, updates are observed and the transfer is intact', () => {
    const r = run({
      clientLink: { delay: 10, bandwidth: 50e6, queue: 256 },
      transport: { keyUpdateInterval: 64 },
      workload: { bulk: { streams: 1, bytes: 2 * MiB, direction: 'both' } },
    });
    const client = r.clients[0];
    const server = r.servers[0];
    assert.ok(client.keyUpdates >= 5, `client saw ${client.keyUpdates} key updates`);
    assert.ok(server.keyUpdates >= 5, `server saw ${server.keyUpdates} key updates`);
    // The run stops as the workloads complete: a key update made by the last packets may still
    // be queued as an event nobody polled.
    let queued = 0;
    for (let e = client.conn.pollEvent(); e; e = client.conn.pollEvent())
      if (e.type === 'key-update') queued++;
    assert.equal(client.conn.stats.keyUpdates, client.keyUpdates + queued);
  });

  test('amplificationlimit: before validation the server sends at most 3× what it received', () => {
    const { sim, client, server } = pairScenario({
      seed: 3,
      trace: true,
      clientLink: { delay: 20 },
      // The first INITIAL gets out; every client retransmission after it is dropped.
      faults: [{ at: 1, blackhole: 'client.eth', direction: 'out' }],
    });
    const r = runEngineSessions({
      sim,
      rng: new Rng(3),
      client,
      server,
      workload: { requests: { count: 1, size: 100 } },
      // Without persistence: a client that may suspend would (rightly) wait for its path.
      transport: { handshakeTimeout: 10_000, idleTimeout: 15_000, persistenceTimeout: 0 },
      timeLimit: 60_000,
      requireCompletion: false,
    });
    // The client completes its handshake (the server's reply gets through) but can never
    // confirm it, so both sides end by idle timeout: anything else is a violation.
    assert.deepEqual(
      r.violations.filter((v) => !v.includes('closed before completing: idle-timeout')),
      [],
    );
    const lines = sim.trace?.lines() ?? [];
    const received = deliveredBytes(lines, server.address);
    const sent = sentBytes(lines, server.address);
    assert.ok(received >= 1200, `server received ${received} B`);
    assert.ok(sent > 0, 'server answered');
    assert.ok(sent <= 3 * received, `server sent ${sent} B for ${received} B received`);
    assert.ok(r.clients[0].closeInfo !== undefined, 'the client session ended explicitly');
  });

  // Every datagram crosses both hosts' links, so the loss sits on the client's link only
  // (both directions): 30% each way, not 1 - 0.7² = 51%. PTO probes resend the oldest
  // unacknowledged data (RFC 9002 §6.2.4), so one probe that gets through makes progress.
  test('handshakeloss: 30% loss each way in bursts of 3; 50 short sessions all complete', () => {
    // Gilbert–Elliott: mean burst 1/r = 3 packets, stationary loss p / (p + r) = 30%.
    const burst = { burstLoss: { p: (0.3 / 0.7) * (1 / 3), r: 1 / 3 } };
    const r = run({
      clientLink: { delay: 10, ...burst },
      sessions: 50,
      sessionInterval: 20,
      transport: { handshakeTimeout: 60_000 },
      workload: { requests: { count: 1, size: 1000 } },
      timeLimit: 300_000,
    });
    assert.equal(r.clients.length, 50);
    const { sent, drops } = r.sim.stats;
    const lost = drops['burst-loss'] ?? 0;
    assert.ok(lost > 0.15 * sent && lost < 0.45 * sent, `${lost} of ${sent} datagrams lost`);
    const recovered = r.clients.some((d) => d.conn.stats.packetsLost > 0);
    assert.ok(recovered, 'some sessions had to recover lost packets');
  });

  test('transferloss: 2% random loss each way, bulk both ways', () => {
    const r = run({
      clientLink: { delay: 10, bandwidth: 20e6, queue: 256, loss: 0.02 },
      serverLink: { loss: 0.02 },
      workload: { bulk: { streams: 2, bytes: MiB, direction: 'both' }, requests: { count: 20, size: 3000 } },
    });
    assert.ok((r.sim.stats.drops.loss ?? 0) > 20);
    assert.ok(r.clients[0].conn.stats.packetsLost > 0);
  });

  // A corrupted Handshake packet fails Noise's readMessage on a copy of the state: the packet
  // is dropped and counted, and the peer's retransmission completes the handshake.
  test('handshakecorruption: bit flips during handshakes; corrupted packets are dropped, sessions complete', () => {
    const r = run({
      clientLink: { delay: 10, corrupt: 0.1 },
      serverLink: { corrupt: 0.1 },
      sessions: 20,
      sessionInterval: 50,
      transport: { handshakeTimeout: 60_000 },
      workload: { requests: { count: 2, size: 1000 } },
      timeLimit: 300_000,
    });
    assert.ok(r.sim.stats.corrupted > 5, `${r.sim.stats.corrupted} packets corrupted`);
    const handshakeDrops = [...r.clients, ...r.servers].reduce(
      (sum, d) => sum + (d.conn.stats.drops['handshake-decrypt'] ?? 0),
      0,
    );
    assert.ok(handshakeDrops > 0, 'some corrupted handshake messages were dropped and counted');
  });

  test('transfercorruption: bit flips during a transfer are dropped by AEAD; bytes intact', () => {
    const r = run({
      clientLink: { delay: 10, bandwidth: 20e6, queue: 256 },
      // Corruption starts once the handshake is done.
      faults: [
        { at: 200, set: 'client.eth', params: { corrupt: 0.03 } },
        { at: 200, set: 'server.eth', params: { corrupt: 0.03 } },
      ],
      workload: { bulk: { streams: 2, bytes: MiB, direction: 'both' } },
    });
    assert.ok(r.sim.stats.corrupted > 20, `${r.sim.stats.corrupted} packets corrupted`);
    const drops = { ...r.clients[0].conn.stats.drops, ...r.servers[0].conn.stats.drops };
    assert.ok((drops.undecryptable ?? 0) + (drops.malformed ?? 0) > 0, `dropped: ${JSON.stringify(drops)}`);
  });

  test('ipv6: a session entirely over IPv6', () => {
    const r = run({
      ipv6: true,
      trace: true,
      clientLink: { delay: 10, bandwidth: 50e6, queue: 256 },
      workload: {
        bulk: { streams: 1, bytes: 256 * 1024, direction: 'both' },
        requests: { count: 5, size: 500 },
      },
    });
    const lines = r.sim.trace?.lines() ?? [];
    assert.ok(lines.length > 0 && lines.every((l) => l.includes('2001:db8:') || l.includes(' fault ')));
  });

  // The client sits behind a NAT that moves its public port (and address) after 1 s, then
  // every 5 s, while a bulk transfer runs both ways: the server sees authenticated packets
  // from a new address, validates it, moves there, and the client follows to the new path id.
  for (const address of [false, true]) {
    const name = address ? 'rebind-addr' : 'rebind-port';
    test(`${name}: NAT rebinding every 5 s during a bulk transfer; nothing lost or duplicated`, () => {
      const faults: FaultSpec[] = [];
      for (let at = 1000; at < 40_000; at += 5000) faults.push({ at, rebind: 'nat', port: true, address });
      const sim = scenario({
        seed: 5,
        trace: true,
        hosts: {
          client: { interfaces: { eth: ['10.0.0.10'] } },
          server: { interfaces: { eth: ['203.0.113.5'] } },
        },
        links: { 'client.eth': { delay: 15, bandwidth: 4e6, queue: 128 }, 'server.eth': { delay: 5 } },
        nats: { nat: { covers: 'client.eth', public: ['192.0.2.10', '192.0.2.11', '192.0.2.12'] } },
        faults,
      });
      const r = runEngineSessions({
        sim,
        rng: new Rng(5),
        client: { host: 'client', address: '10.0.0.10' },
        server: { host: 'server', address: '203.0.113.5' },
        workload: {
          bulk: { streams: 2, bytes: 3 * MiB, direction: 'both' },
          requests: { count: 10, size: 1000 },
        },
        timeLimit: 120_000,
      });
      assert.deepEqual(r.violations, [], 'properties hold: every byte once, in order');
      assert.ok(r.complete, 'the transfer completed');
      assert.ok(r.endTime > 6000, `the transfer spanned at least two rebindings (ended at ${r.endTime})`);
      const server = r.servers[0].conn;
      const active = server.paths.find((p) => p.state === 'active');
      assert.ok(active && active.id > 0, `the server moved to a new path (id ${active?.id})`);
      const publicSources = new Set(
        (sim.trace?.lines() ?? [])
          .map((l) => l.split(' '))
          .filter((p) => p[1] === 'deliver' && p[3].split('>')[1].startsWith('203.0.113.5:'))
          .map((p) => p[3].split('>')[0]),
      );
      assert.ok(publicSources.size >= 3, `the server saw ${publicSources.size} client addresses`);
    });
  }

  // quic-interop-runner's "resumption": there a new connection resumes a TLS session; Braid's
  // equivalent is a session that outlives every path. A total outage suspends it, the client
  // comes back from an address the session never used, and the session resumes (IKpsk2 on the
  // session's secret, fresh CIDs) with every stream's bytes exactly once.
  test('resumption: suspended by a total outage, resumed from a new client address, hashes equal', () => {
    const faults: FaultSpec[] = [
      { at: 1000, down: 'client.eth', duration: 40_000 },
      { at: 20_000, removeAddress: 'client.eth', address: PAIR_CLIENT.address },
      { at: 20_000, addAddress: 'client.eth', address: '192.0.2.77' },
    ];
    const r = run({
      clientLink: { delay: 15, bandwidth: 10e6, queue: 128 },
      serverLink: { delay: 5 },
      faults,
      transport: { idleTimeout: 5000 },
      workload: { bulk: { streams: 2, bytes: MiB, direction: 'both' }, requests: { count: 4, size: 2000 } },
      timeLimit: 120_000,
    });
    const client = r.clients[0].conn as Connection;
    const server = r.servers[0].conn as Connection;
    for (const conn of [client, server]) {
      assert.equal(conn.stats.suspensions, 1, `${conn.role} suspended once`);
      assert.equal(conn.stats.resumptions, 1, `${conn.role} resumed once`);
    }
    assert.ok(r.endTime > 41_000, `the outage hit mid-transfer (done at ${r.endTime} ms)`);
    assert.deepEqual(
      server.paths.map((p) => p.remote.address),
      ['192.0.2.77'],
      'the server talks to the new address only',
    );
    // `run` already checked every stream: same length and SHA-256 at both ends.
    assert.equal(r.servers[0].received.size, 2 + 4);
  });

  // quic-interop-runner's "zerortt": a client holding a ticket from an earlier session sends
  // its request in its first flight; the server has it one one-way delay after the client
  // started, before the client's own handshake completes.
  const ONE_WAY = 20;
  const SECOND_AT = 1000;
  const zeroRtt = (faults: FaultSpec[] = []) => {
    const { sim, client, server } = pairScenario({ seed: 11, clientLink: { delay: ONE_WAY }, faults });
    const firstFlights = sim.capture(
      (d) => d.host === 'client' && d.at >= SECOND_AT && (d.data[0]! & 0xf0) === 0xc0,
    );
    const r = runEngineSessions({
      sim,
      rng: new Rng(11),
      client,
      server,
      sessions: 2,
      sessionInterval: SECOND_AT,
      earlyData: true,
      workload: { requests: { count: 1, size: 500 } },
      timeLimit: 60_000,
    });
    return { sim, firstFlights, r };
  };

  test('zerortt: a ticket from an earlier session; the request is delivered in the first flight', () => {
    const { r, firstFlights } = zeroRtt();
    assert.deepEqual(r.violations, []);
    assert.ok(r.complete);
    const [first, second] = r.clients as [SessionDriver, SessionDriver];
    const [firstServer, secondServer] = r.servers as [SessionDriver, SessionDriver];
    assert.equal(first.conn.earlyData, 'none');
    assert.equal(second.conn.earlyData, 'accepted');
    assert.deepEqual(secondServer.earlyStreams, [0], 'the request stream was opened by 0-RTT data');
    assert.deepEqual(firstServer.earlyStreams, []);
    assert.equal(firstFlights.length, 1, 'one first-flight datagram');
    // The server read the request when the first flight arrived: one one-way delay after the
    // client started, before the client had the server's handshake reply.
    const readAt = (secondServer.firstReadAt ?? Infinity) - SECOND_AT;
    const clientDoneAt = (second.handshakeCompletedAt ?? Infinity) - SECOND_AT;
    assert.equal(readAt, ONE_WAY, `server read the request ${readAt} ms after the client started`);
    assert.ok(readAt < clientDoneAt, `before the client's handshake completed (${clientDoneAt} ms)`);
    // The 1-RTT session of the same pair read its request a full round trip later.
    const oneRttReadAt = firstServer.firstReadAt ?? Infinity;
    assert.ok(oneRttReadAt >= 3 * ONE_WAY, `1-RTT request read at ${oneRttReadAt} ms`);
    console.log(
      `zerortt: request read ${readAt} ms after the client started (1-RTT session: ${oneRttReadAt} ms); client handshake done at ${clientDoneAt} ms`,
    );
  });

  test('zerortt: a lost first flight is retransmitted; the request arrives exactly once', () => {
    // The client's uplink is dark for the instant the first flight leaves.
    const { r, sim, firstFlights } = zeroRtt([
      { at: SECOND_AT, blackhole: 'client.eth', direction: 'out', duration: 1 },
    ]);
    assert.deepEqual(r.violations, [], 'the echo matched: every byte once, in order');
    assert.ok(r.complete);
    assert.equal(sim.stats.drops.blackhole, 1, 'exactly the first flight was lost');
    assert.ok(firstFlights.length >= 2, `${firstFlights.length} first-flight datagrams sent`);
    const secondServer = r.servers[1]!;
    assert.equal(secondServer.received.get(0)?.bytes, 500, 'the request, once');
    assert.ok(secondServer.earlyStreams.length <= 1, 'stream opened once');
    const readAt = (secondServer.firstReadAt ?? Infinity) - SECOND_AT;
    assert.ok(readAt > ONE_WAY, `read after the retransmission (${readAt} ms)`);
    console.log(
      `zerortt with the first flight lost: early data ${r.clients[1]!.conn.earlyData}, request read ${readAt} ms after the client started`,
    );
  });

  test('zerortt: a replayed first flight is refused as a replay; the request is not delivered again', () => {
    const { r, sim, firstFlights } = zeroRtt();
    assert.deepEqual(r.violations, []);
    assert.ok(r.complete);
    // After both sessions completed, an on-path attacker re-injects the captured first flight
    // from the client's address; the run goes on until that attempt has ended (idle timeout).
    const replayAt = r.endTime + 1000;
    sim.at(replayAt, () => sim.inject('client.eth', firstFlights[0]!));
    sim.run({ until: replayAt + 40_000 });
    // Its timestamp is not newer than the one the server accepted from the client's key: it is
    // dropped before any handshake (docs/protocol.md §7.2.1).
    assert.equal(r.servers.length, 2, 'the replayed first flight started no server handshake');
    assert.equal(r.serverNode.endpoint.stats.drops['initial-replayed'], 1);
    assert.equal(sim.stats.injected, 1);
    assert.equal(r.servers[1]!.received.get(0)?.bytes, 500, 'the genuine request was delivered, once');
  });

  test('zerortt: with its key evicted from the freshness table, a replay is refused by the strike register', () => {
    const { r, sim, firstFlights } = zeroRtt();
    assert.ok(r.complete);
    const replayAt = r.endTime + 1000;
    sim.at(replayAt, () => {
      const table = r.serverNode.endpoint.freshness;
      for (let i = 0; i < table.capacity; i++) table.accept(`other key ${i}`, new Uint8Array(12).fill(1));
      sim.inject('client.eth', firstFlights[0]!);
    });
    sim.run({ until: replayAt + 40_000 });
    const replayed = r.servers[2];
    assert.ok(replayed, 'the replayed first flight started a third server handshake');
    const conn = replayed.conn as Connection;
    assert.equal(conn.earlyData, 'rejected');
    assert.equal(conn.earlyVerdict, 'replayed');
    assert.deepEqual(replayed.earlyStreams, [], 'no stream opened from the replay');
    assert.equal(replayed.received.size, 0, 'no byte of the replayed request delivered');
    assert.equal(
      (conn as unknown as { wasConfirmed: boolean }).wasConfirmed,
      false,
      'the replay is never confirmed: only the client could',
    );
    // An unconfirmed server session may not suspend (docs/persistence.md §2): it is released at
    // the handshake timeout (never confirmed), the only outcome besides the two complete sessions.
    const after = checkRun({
      clients: r.clients,
      servers: r.servers,
      monitor: r.monitor,
      requireCompletion: true,
    });
    assert.deepEqual(
      after.filter((v) => !(v.startsWith(`server#${conn.handle}:`) && v.includes('handshake-timeout'))),
      [],
    );
    assert.equal(replayed.closeInfo?.source, 'handshake-timeout');
    assert.equal(sim.stats.injected, 1);
    assert.equal(r.servers[1]!.received.get(0)?.bytes, 500, 'the genuine request was delivered, once');
  });
});
