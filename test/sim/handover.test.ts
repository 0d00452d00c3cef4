// Wi-Fi → LTE handover (issue 14, docs/multihoming.md "Resume and handover"), as in `npm run bench
// -- wan --cases handover`: mid-upload the client's Wi-Fi address disappears and an LTE address
// appears 1 s later (RTT 15 → 60 ms). The new address is announced at once (onAddressChange, as the
// shell's interface watcher reports it) and the first challenge from it leaves at once. The gap
// the server's application sees should be the second without an address plus about one LTE round
// trip: bound 1 s + 1 RTT(lte) + 50 ms, not met yet (todo below): after the move the client first
// resends what it had in flight over Wi-Fi when the address vanished, including packets the server
// had already received (their ACKs went to the vanished address), before the bytes the server lacks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meanRttMs, pathProfile } from '../../src/cli/demo/path-profiles.js';
import type { EngineNode } from '../../testing/sim/engine-node.js';
import { runEngineSessions } from '../../testing/sim/engine-run.js';
import { Rng } from '../../testing/sim/rng.js';
import { scenario } from '../../testing/sim/scenario.js';

const WIFI = '192.0.2.10';
const LTE = '198.51.100.10';
const SERVER = '203.0.113.5';
const WIFI_GONE = 2000;
const ADDRESS_GAP = 1000;
const LTE_RTT = meanRttMs(pathProfile('lte'));

/** The longest stretch without new bytes at the server's application around the handover, in ms. */
function handoverGap(seed: number): {
  gap: number;
  firstProbeAfter: number;
  activeAfter: string | undefined;
} {
  const sim = scenario({
    seed,
    trace: true,
    hosts: {
      client: { interfaces: { wifi: [WIFI], lte: [] } },
      server: { interfaces: { eth: [SERVER] } },
    },
    links: { 'client.wifi': { profile: 'wifi-bad' }, 'client.lte': { profile: 'lte' }, 'server.eth': {} },
    faults: [
      { at: WIFI_GONE, removeAddress: 'client.wifi', address: WIFI },
      { at: WIFI_GONE + ADDRESS_GAP, addAddress: 'client.lte', address: LTE },
    ],
  });
  // The server application's bytes, sampled every simulated millisecond around the handover.
  let last = 0;
  let lastIncreaseAt = Number.NaN;
  let gap = 0;
  const read = (): number => {
    let total = 0;
    for (const driver of (sim.host('server').node as EngineNode | null)?.drivers ?? [])
      total += driver.bytesRead;
    return total;
  };
  const sample = (): void => {
    const now = read();
    if (now > last) {
      if (!Number.isNaN(lastIncreaseAt)) gap = Math.max(gap, sim.now - lastIncreaseAt);
      lastIncreaseAt = sim.now;
      last = now;
    }
    if (sim.now < WIFI_GONE + ADDRESS_GAP + 3000) sim.at(sim.now + 1, sample);
  };
  sim.at(WIFI_GONE - 500, sample);
  const r = runEngineSessions({
    sim,
    rng: new Rng(seed),
    client: { host: 'client', address: WIFI },
    server: { host: 'server', address: SERVER },
    workload: { bulk: { streams: 1, bytes: 16 << 20, direction: 'up' } },
    timeLimit: 120_000,
  });
  assert.deepEqual(r.violations, [], 'every byte once, in order, SHA-256 equal; memory bounded; no hang');
  assert.ok(r.complete, 'the upload completed');
  assert.ok(r.endTime > WIFI_GONE + ADDRESS_GAP + 1000, 'the handover hit mid-transfer');
  const active = r.clients[0]!.conn.paths.find((p) => p.state === 'active');
  let firstProbeAfter = Number.POSITIVE_INFINITY;
  for (const line of sim.trace!.lines()) {
    const [at, kind, , pair] = line.split(' ');
    if (kind === 'send' && pair!.startsWith(`${LTE}:`)) {
      firstProbeAfter = Number(at) - (WIFI_GONE + ADDRESS_GAP);
      break;
    }
  }
  return { gap, firstProbeAfter, activeAfter: active?.local.address };
}

const SEEDS = [1, 2, 3, 4, 5];

test('Wi-Fi → LTE handover: the new address is probed at once and the session moves to it', () => {
  for (const seed of SEEDS) {
    const { firstProbeAfter, activeAfter } = handoverGap(seed);
    assert.equal(
      firstProbeAfter,
      0,
      `seed ${seed}: the first datagram from LTE left as the address appeared`,
    );
    assert.equal(activeAfter, LTE, `seed ${seed}: the session ends on LTE`);
  }
});

test('Wi-Fi → LTE handover: the gap is within 1 s + 1 RTT(lte) + 50 ms', {
  todo: 'gaps 1104-1171 ms (bound 1110): data the server already had is resent first after the move',
}, () => {
  const bound = ADDRESS_GAP + LTE_RTT + 50;
  const gaps: number[] = [];
  for (const seed of SEEDS) gaps.push(handoverGap(seed).gap);
  console.log(`handover gaps ${gaps.join(', ')} ms (bound ${bound} ms)`);
  for (const [i, gap] of gaps.entries())
    assert.ok(gap <= bound, `seed ${SEEDS[i]}: gap ${gap} ms (≤ ${bound})`);
});
