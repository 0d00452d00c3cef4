/**
 * Random exploration with the real engine: each seed draws a topology, link parameters
 * (mostly named path profiles), a fault schedule (blackholes, link down, loss and delay
 * spikes; NAT rebinding once every session's handshake is confirmed — no roaming) and a
 * workload, runs it and judges it by the properties. Used by the default suite
 * (test/sim/engine-explore.test.ts) and the soak (test/sim/explore.soak.ts).
 */
import type { Connection } from '../../src/engine/connection/connection.js';
import type { TransportConfig } from '../../src/engine/types.js';
import type { EngineNode } from './engine-node.js';
import { runEngineSessions } from './engine-run.js';
import type { ExploreCase, RandomScenario } from './explore.js';
import { randomScenario } from './explore.js';
import type { Simulator } from './network.js';
import type { Rng } from './rng.js';
import type { WorkloadSpec } from './workload.js';

/** Scenarios short in simulated time, so hundreds run in a test. */
export function randomEngineScenario(rng: Rng, maxDuration = 6000): RandomScenario {
  const drawn = randomScenario(rng, {
    maxDuration,
    maxFaults: 4,
    faultKinds: ['blackhole', 'down', 'loss', 'delay'],
    natRebinding: false,
    // Most client links are WAN profiles, so every run exercises jitter (reordering or not),
    // bursty loss, deep queues and long RTTs (issue 14).
    profiles: 0.7,
  });
  // A NAT mapping that expires during a stall rebinds the client's port, possibly in the
  // middle of a handshake, which no session survives (migration needs a confirmed
  // handshake, as in RFC 9000): keep mappings longer than any run. Rebinding is drawn by
  // runEngineCase instead, once every handshake is confirmed.
  const nat = drawn.spec.nats?.nat;
  if (nat) nat.timeout = 300_000;
  // Gilbert–Elliott bursts are counted in packets: once a session is down to one probe per
  // (backed-off) PTO, a 10-packet burst is a minute-long outage that no idle timeout
  // survives (seed 447). Keep mean bursts at 3 packets or less, as in handshakeloss.
  for (const link of Object.values(drawn.spec.links ?? {}))
    if (link.burstLoss && 'r' in link.burstLoss && link.burstLoss.r < 1 / 3)
      link.burstLoss = { ...link.burstLoss, r: 1 / 3 };
  return drawn;
}

/**
 * A random engine scenario (topology, links, NAT, workload) whose only fault is a total outage of
 * every client interface, longer than `failureTimeout`, somewhere in the run: persistence
 * exploration (test/sim/persistence.test.ts, persistence.soak.ts). The drawn blackholes and loss
 * spikes are left out: with the short failure timeouts used here they make the stall watchdog and
 * failover (the default exploration's subject, at the default 30 s timeout) the story instead of
 * suspension (soak seed 3051).
 */
export function randomOutageScenario(rng: Rng, failureTimeout: number): RandomScenario {
  const drawn = randomEngineScenario(rng);
  const at = rng.intBetween(200, Math.max(300, Math.floor(0.6 * drawn.duration)));
  const length = rng.intBetween(failureTimeout + 1000, 4 * failureTimeout + 5000);
  drawn.spec.faults = drawn.client.interfaces.map((iface) => ({ at, down: iface, duration: length }));
  drawn.duration = Math.max(drawn.duration, at + length + 2000);
  return drawn;
}

export function randomWorkload(rng: Rng): WorkloadSpec {
  const workload: WorkloadSpec = {};
  if (rng.chance(0.7))
    workload.bulk = {
      streams: rng.intBetween(1, 3),
      bytes: rng.pick([1000, 20_000, 100_000]),
      direction: rng.pick(['up', 'down', 'both'] as const),
    };
  if (rng.chance(0.6) || workload.bulk === undefined)
    workload.requests = {
      count: rng.intBetween(1, 30),
      size: rng.intBetween(1, 4000),
      concurrency: rng.intBetween(1, 10),
    };
  if (rng.chance(0.4))
    workload.datagrams = {
      count: rng.intBetween(1, 40),
      size: rng.intBetween(8, 1100),
      interval: rng.pick([0, 5, 20]),
    };
  return workload;
}

interface RebindingPlan {
  /** First rebinding this long after every session's handshake is confirmed, then every `every` ms. */
  delay: number;
  every: number;
  address: boolean;
  /** No rebinding after this (faults heal by 0.8 × duration). */
  until: number;
}

/** NAT rebinding for natted clients (30%), drawn after everything else so other draws keep their values. */
function drawRebinding(rng: Rng, drawn: RandomScenario): RebindingPlan | undefined {
  if (!drawn.spec.nats?.nat || !rng.chance(0.3)) return undefined;
  return {
    delay: rng.intBetween(0, 1000),
    every: rng.intBetween(500, drawn.duration),
    address: rng.chance(0.3),
    until: 0.8 * drawn.duration,
  };
}

/**
 * A rebinding during a handshake (long-header packets in flight, no CIDs for new path ids
 * yet) ends that session (seed 139 before this rule), so rebinding waits until every
 * session has started and is either confirmed or closed. Polls every 10 ms until then.
 */
function scheduleRebinding(sim: Simulator, client: EngineNode, sessions: number, plan: RebindingPlan): void {
  const ready = () =>
    client.drivers.length === sessions &&
    client.drivers.every((d) => d.closed || (d.conn as Connection).wasConfirmed);
  const rebind = (): void => {
    if (sim.now > plan.until) return;
    sim.rebind('nat', { port: true, address: plan.address });
    sim.at(sim.now + plan.every, rebind);
  };
  const poll = (): void => {
    if (sim.now > plan.until) return;
    if (ready()) sim.at(sim.now + plan.delay, rebind);
    else sim.at(sim.now + 10, poll);
  };
  sim.at(sim.now, poll);
}

export interface EngineCaseSummary {
  complete: boolean;
  /** Close sources of sessions that did not complete (legitimate network outcomes only). */
  closes: string[];
  endTime: number;
  packets: number;
  /** Sessions (client side) that were suspended and resumed at least once. */
  resumed: number;
}

/**
 * The exploration workload hook: runs one random case (`transport` overrides the config of
 * both sides, e.g. a multipath policy), throws (with every violation)
 * when a property fails. A client whose handshake never completed may end by handshake
 * or idle timeout; once a handshake completed, every fault drawn is survivable, so the
 * workload must complete.
 */
export function runEngineCase(
  c: ExploreCase,
  /**
   * Transport overrides of both sides, over an idle timeout of 30 s (test/sim/persistence.test.ts
   * shortens the failure timeout so outages suspend; the policy exploration sets a multipath policy).
   */
  transport: Partial<TransportConfig> = {},
): EngineCaseSummary {
  const { scenario: drawn, sim, rng } = c;
  const workload = randomWorkload(rng);
  const sessions = rng.chance(0.2) ? rng.intBetween(2, 4) : 1;
  const rebinding = drawRebinding(rng, drawn);
  const result = runEngineSessions({
    sim,
    rng,
    client: { host: drawn.client.host, address: drawn.client.addresses[0] },
    server: { host: drawn.server.host, address: drawn.server.address },
    workload,
    sessions,
    sessionInterval: 50,
    transport: { idleTimeout: 30_000, ...transport },
    // Faults heal by 0.8 × duration; then allow for PTO backoff, and for idle timeouts of
    // sessions whose handshake failed.
    timeLimit: drawn.duration + 60_000,
    requireCompletion: false,
    onNodes: rebinding && (({ client }) => scheduleRebinding(sim, client, sessions, rebinding)),
  });
  if (result.violations.length > 0)
    throw new Error(
      `${result.violations.length} violation(s):\n  ${result.violations.join('\n  ')}\n  workload: ${JSON.stringify(workload)}`,
    );
  const closes: string[] = [];
  for (const d of [...result.clients, ...result.servers])
    if (!d.complete && d.closeInfo) closes.push(`${d.role}:${d.closeInfo.source}`);
  const resumed = result.clients.filter((d) => d.conn.stats.resumptions > 0).length;
  return { complete: result.complete, closes, endTime: result.endTime, packets: sim.stats.sent, resumed };
}
