// Resume after a total outage on lte (issue 14, docs/multihoming.md "Resume and handover"): both
// client links down for 30 s mid-upload, so the session suspends (failure timeout 3 s, as in
// `npm run bench -- wan --cases resume`); then both return. With the OS's notification of the
// return (a link-up, an address or route added) the first RESUME goes out at once and data flows
// within one lte round trip plus 50 ms; without it, within the retry backoff's cap
// (resumeInterval) plus the same. A storm of notifications stays a bounded number of datagrams.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { meanRttMs, pathProfile } from '../../src/cli/demo/path-profiles.js';
import { DEFAULT_TRANSPORT_CONFIG } from '../../src/engine/config.js';
import { NETWORK_CHANGE_BURST, NETWORK_CHANGE_REFILL } from '../../src/engine/network-change-budget.js';
import type { EngineNode } from '../../testing/sim/engine-node.js';
import { runEngineSessions } from '../../testing/sim/engine-run.js';
import { Rng } from '../../testing/sim/rng.js';
import { type FaultSpec, scenario } from '../../testing/sim/scenario.js';

const CLIENT_A = '192.0.2.10';
const CLIENT_B = '198.51.100.10';
const SERVER = '203.0.113.5';
const OUTAGE_AT = 1500;
const OUTAGE = 30_000;
const BACK = OUTAGE_AT + OUTAGE;
const FAILURE_TIMEOUT = 3000;
const LTE_RTT = meanRttMs(pathProfile('lte'));

interface Outcome {
  /** Simulated ms from the links' return to the first new stream byte the server's application reads. */
  dataFlowsAfter: number;
  /** Datagrams the client sent in the window asked for. */
  clientSends: number;
  suspensions: number;
  resumptions: number;
}

/** lte as the profile has it, or without its random and bursty loss (the mechanism alone). */
type Lte = 'lte' | 'lte-lossless';

function run(
  seed: number,
  lte: Lte,
  extraFaults: FaultSpec[],
  countWindow: [number, number] = [0, 0],
): Outcome {
  const link = lte === 'lte' ? { profile: 'lte' } : { profile: 'lte', loss: 0, burstLoss: null };
  const sim = scenario({
    seed,
    trace: true,
    hosts: {
      client: { interfaces: { a: [CLIENT_A], b: [CLIENT_B] } },
      server: { interfaces: { eth: [SERVER] } },
    },
    // Both providers lte, the server on a clean link: the path's RTT is lte's.
    links: { 'client.a': link, 'client.b': link, 'server.eth': {} },
    faults: [
      { at: OUTAGE_AT, down: 'client.a', duration: OUTAGE },
      { at: OUTAGE_AT, down: 'client.b', duration: OUTAGE },
      ...extraFaults,
    ],
  });
  // The server application's received byte count, sampled every simulated millisecond after
  // the return: the first increase is data flowing again.
  let dataFlowsAfter = Number.POSITIVE_INFINITY;
  let before = 0;
  const receivedBytes = (): number => {
    const node = sim.host('server').node as EngineNode | null;
    let total = 0;
    for (const driver of node?.drivers ?? []) total += driver.bytesRead;
    return total;
  };
  const sample = (): void => {
    if (receivedBytes() > before) {
      dataFlowsAfter = sim.now - BACK;
      return;
    }
    if (sim.now < BACK + 5000) sim.at(sim.now + 1, sample);
  };
  sim.at(BACK, () => {
    before = receivedBytes();
    sample();
  });
  const r = runEngineSessions({
    sim,
    rng: new Rng(seed),
    client: { host: 'client', address: CLIENT_A },
    server: { host: 'server', address: SERVER },
    workload: { bulk: { streams: 1, bytes: 8 << 20, direction: 'up' } },
    transport: { idleTimeout: FAILURE_TIMEOUT },
    timeLimit: BACK + 60_000,
  });
  assert.deepEqual(r.violations, [], 'every byte once, in order, SHA-256 equal; memory bounded; no hang');
  assert.ok(r.complete, 'the upload completed');
  let clientSends = 0;
  for (const line of sim.trace!.lines()) {
    const [at, kind, , pair] = line.split(' ');
    const t = Number(at);
    if (kind !== 'send' || t < countWindow[0] || t >= countWindow[1]) continue;
    if (pair!.startsWith(`${CLIENT_A}:`) || pair!.startsWith(`${CLIENT_B}:`)) clientSends++;
  }
  const client = r.clients[0]!.conn.stats;
  return { dataFlowsAfter, clientSends, suspensions: client.suspensions, resumptions: client.resumptions };
}

const SEEDS = [1, 2, 3, 4, 5];

describe('resume after a 30 s total outage on lte', () => {
  test('notified of the return: data flows within 1 RTT(lte) + 50 ms', () => {
    const bound = LTE_RTT + 50;
    const figures: number[] = [];
    for (const seed of SEEDS) {
      const o = run(seed, 'lte-lossless', [{ at: BACK, notify: 'client' }]);
      assert.equal(o.suspensions, 1, `seed ${seed}: the outage suspended the session`);
      assert.equal(o.resumptions, 1, `seed ${seed}: and it resumed`);
      figures.push(o.dataFlowsAfter);
      assert.ok(
        o.dataFlowsAfter <= bound,
        `seed ${seed}: data ${o.dataFlowsAfter} ms after the return (≤ ${bound})`,
      );
    }
    console.log(`notified: data flows ${figures.join(', ')} ms after the return (bound ${bound} ms)`);
  });

  test('not notified: data flows within resumeInterval + 1 RTT(lte) + 50 ms', () => {
    const bound = DEFAULT_TRANSPORT_CONFIG.resumeInterval + LTE_RTT + 50;
    const figures: number[] = [];
    for (const seed of SEEDS) {
      const o = run(seed, 'lte-lossless', []);
      assert.equal(o.resumptions, 1, `seed ${seed}: resumed`);
      figures.push(o.dataFlowsAfter);
      assert.ok(
        o.dataFlowsAfter <= bound,
        `seed ${seed}: data ${o.dataFlowsAfter} ms after the return (≤ ${bound})`,
      );
    }
    console.log(`not notified: data flows ${figures.join(', ')} ms after the return (bound ${bound} ms)`);
  });

  test('a storm of notifications while the links are still down costs a bounded number of datagrams', () => {
    // 1000 notifications in the last second of the outage (a flapping interface), one a ms.
    const window: [number, number] = [BACK - 1000, BACK];
    const storm: FaultSpec[] = [];
    for (let i = 0; i < 1000; i++) storm.push({ at: window[0] + i, notify: 'client' });
    const quiet = run(7, 'lte', [], window);
    const stormy = run(7, 'lte', storm, window);
    // Each round sends the attempt to every candidate pair: 2 local addresses × 1 server address.
    // Rounds the notifications may trigger in a second: the burst, then one per refill; and the
    // backoff each restarts (250 ms, then 500 ms) adds at most 3 regular rounds to the second.
    const pairs = 2;
    const rounds = NETWORK_CHANGE_BURST + 1000 / NETWORK_CHANGE_REFILL + 3;
    console.log(
      `notification storm: ${stormy.clientSends} datagrams in its second (${quiet.clientSends} without)`,
    );
    assert.ok(
      stormy.clientSends <= rounds * pairs,
      `${stormy.clientSends} datagrams ≤ ${rounds} rounds × ${pairs} pairs`,
    );
    assert.ok(stormy.clientSends > quiet.clientSends, 'the notifications were acted on');
    assert.equal(stormy.resumptions, 1, 'the session still resumed');
  });
});
