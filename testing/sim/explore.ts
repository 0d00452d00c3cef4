/**
 * Random exploration: draw a topology, link parameters and a fault schedule from a seed,
 * run a workload on it, and on failure report the seed, a one-line replay command and
 * the packet trace (`artifacts/sim-<seed>.trace`).
 *
 * Generated scenarios are bounded (seconds of simulated time, a handful of faults) and
 * every fault heals by 80% of the duration, so a correct workload can finish.
 */
import { isAbsolute, join, relative } from 'node:path';
import { PATH_PROFILES } from '../../src/cli/demo/path-profiles.js';
import type { LinkParams } from './link.js';
import { type LinkSpec, resolveLinkSpec, type Simulator } from './network.js';
import { Rng, seedFromEnv } from './rng.js';
import { type FaultSpec, type NatSpec, type ScenarioSpec, scenario } from './scenario.js';

export interface RandomScenario {
  spec: ScenarioSpec;
  /** Simulated ms the workload should run for (all faults have healed by 0.8 × duration). */
  duration: number;
  /** The multihomed, possibly NATed, roaming side. */
  client: { host: string; interfaces: string[]; addresses: string[] };
  /** The stable side: its first address never changes. */
  server: { host: string; address: string };
}

export interface RandomScenarioOptions {
  /** Upper bound on `duration`, ms (default 20000). */
  maxDuration?: number;
  /** Upper bound on the number of faults (default 6). */
  maxFaults?: number;
  /**
   * Fault kinds to draw from (default all). Sessions that cannot migrate yet leave out
   * 'roam' and 'rebind' (and set `natRebinding: false`).
   */
  faultKinds?: readonly FaultKind[];
  /** Allow periodic NAT rebinding (default true). */
  natRebinding?: boolean;
  /**
   * Probability that a client interface's link is a named path profile (one for both
   * directions, or one per direction, sometimes with loss in time or a varying capacity)
   * instead of random parameters. Default 0: no profile draws, so seeds keep their scenarios.
   */
  profiles?: number;
}

export type FaultKind = 'blackhole' | 'down' | 'loss' | 'delay' | 'roam' | 'rebind';
const FAULT_KINDS: readonly FaultKind[] = ['blackhole', 'down', 'loss', 'delay', 'roam', 'rebind'];

const CLIENT = 'client';
const SERVER = 'server';
const SERVER_ADDRESS = '203.0.113.5';
const CLIENT_INTERFACES = ['wifi', 'lte', 'eth'] as const;
const PUBLIC_PREFIXES = ['192.0.2.', '198.51.100.', '100.64.0.'] as const;

function randomLink(rng: Rng, rough: boolean): Partial<LinkParams> {
  const link: Partial<LinkParams> = {
    delay: rng.intBetween(1, rough ? 150 : 30),
    jitter: rng.chance(0.5) ? rng.intBetween(0, 20) : 0,
    bandwidth: rng.pick([1e6, 5e6, 20e6, 100e6]),
    queue: rng.intBetween(8, 256),
  };
  if (!rough) return link;
  if (rng.chance(0.6)) link.loss = rng.pick([0.001, 0.01, 0.03, 0.08]);
  if (rng.chance(0.2)) link.burstLoss = { p: rng.between(0.001, 0.02), r: rng.between(0.1, 0.6) };
  if (rng.chance(0.2)) link.duplicate = rng.pick([0.001, 0.01, 0.05]);
  if (rng.chance(0.3)) {
    link.reorder = rng.pick([0.01, 0.05, 0.1]);
    link.reorderDelay = rng.intBetween(1, 50);
  }
  if (rng.chance(0.15)) link.corrupt = rng.pick([0.001, 0.01]);
  return link;
}

/** The profiles exploration draws from: every named one but the unimpaired `lan`. */
const EXPLORED_PROFILES = Object.keys(PATH_PROFILES).filter((name) => name !== 'lan');

/**
 * A link from the named profiles (jitter with and without reordering, bursty loss, queues in
 * ms, rates from 20 to 200 Mbit/s, RTTs up to 600 ms), sometimes with what no profile has yet:
 * loss in time (a fade of 5–100 ms) or a capacity that drops to a fifth half of the time.
 */
function profileLink(rng: Rng): LinkSpec {
  const up = rng.pick(EXPLORED_PROFILES);
  const down = rng.chance(0.7) ? up : rng.pick(EXPLORED_PROFILES);
  const link: LinkSpec = { profile: up === down ? up : { up, down } };
  if (rng.chance(0.2)) link.burstLoss = { goodMs: rng.intBetween(500, 5000), badMs: rng.intBetween(5, 100) };
  if (rng.chance(0.2)) {
    const high = rng.pick([5e6, 20e6, 50e6]);
    const period = rng.intBetween(200, 4000);
    link.rateSchedule = {
      steps: [
        { at: 0, bandwidth: high },
        { at: Math.round(period / 2), bandwidth: high / 5 },
      ],
      repeat: period,
    };
  }
  return link;
}

/** Draws a bounded random scenario: a client with 1–3 interfaces, a server, faults. */
export function randomScenario(rng: Rng, options: RandomScenarioOptions = {}): RandomScenario {
  const maxDuration = options.maxDuration ?? 20_000;
  const maxFaults = options.maxFaults ?? 6;
  const duration = rng.intBetween(Math.min(3000, maxDuration), maxDuration);
  const natted = rng.chance(0.4);
  const firewalled = rng.chance(0.3);
  const ifaceCount = rng.intBetween(1, 3);

  const clientIfaces: Record<string, string[]> = {};
  const links: Record<string, LinkSpec> = {};
  const names: string[] = [];
  const addresses: string[] = [];
  for (let i = 0; i < ifaceCount; i++) {
    const name = CLIENT_INTERFACES[i];
    const address = natted ? `10.0.${i}.2` : `${PUBLIC_PREFIXES[i]}10`;
    clientIfaces[name] = [address];
    names.push(`${CLIENT}.${name}`);
    addresses.push(address);
    links[`${CLIENT}.${name}`] =
      options.profiles !== undefined && rng.chance(options.profiles)
        ? profileLink(rng)
        : randomLink(rng, true);
  }
  const serverAddresses = rng.chance(0.3) ? [SERVER_ADDRESS, '2001:db8::5'] : [SERVER_ADDRESS];
  links[`${SERVER}.eth`] = randomLink(rng, false);

  const nats: Record<string, NatSpec> = {};
  if (natted) {
    nats.nat = {
      covers: CLIENT,
      public: ['198.18.0.1', '198.18.0.2'],
      timeout: rng.pick([5000, 30_000, 120_000]),
      ...(options.natRebinding !== false &&
        rng.chance(0.3) && { rebindEvery: rng.intBetween(1000, duration), rebindAddress: rng.chance(0.3) }),
    };
  }

  const faults: FaultSpec[] = [];
  const faultCount = rng.intBetween(0, maxFaults);
  // In time order, so a roam knows which address the interface holds by then.
  const times = Array.from({ length: faultCount }, () => Math.round(rng.between(0.05, 0.6) * duration)).sort(
    (a, b) => a - b,
  );
  const current = new Map(names.map((name, i) => [name, addresses[i]]));
  let nextFreshAddress = 100;
  for (const at of times) {
    const heal = Math.round(rng.between(0.05, 0.2) * duration);
    const index = rng.int(names.length);
    const iface = names[index];
    const allowed = (options.faultKinds ?? FAULT_KINDS).filter((k) => natted || k !== 'rebind');
    // Without a restriction this draws exactly as before, so existing seeds keep their scenarios.
    const kind = options.faultKinds ? FAULT_KINDS.indexOf(rng.pick(allowed)) : rng.int(natted ? 6 : 5);
    if (kind === 0) {
      faults.push({
        at,
        blackhole: iface,
        direction: rng.pick(['in', 'out', 'both'] as const),
        duration: heal,
      });
    } else if (kind === 1) {
      faults.push({ at, down: iface, duration: heal });
    } else if (kind === 2) {
      faults.push({ at, set: iface, params: { loss: rng.pick([0.1, 0.3, 0.6]) } });
      faults.push(...restore(at + heal, iface, links[iface], 'loss'));
    } else if (kind === 3) {
      faults.push({ at, set: iface, params: { delay: rng.intBetween(200, 1000) } });
      faults.push(...restore(at + heal, iface, links[iface], 'delay'));
    } else if (kind === 4) {
      // Roam: the interface gains a fresh address, and the old one vanishes shortly after.
      const fresh = natted
        ? `10.0.${index}.${nextFreshAddress++}`
        : `${PUBLIC_PREFIXES[index]}${nextFreshAddress++}`;
      faults.push({ at, addAddress: iface, address: fresh });
      faults.push({
        at: at + Math.round(heal / 4),
        removeAddress: iface,
        address: current.get(iface) as string,
      });
      current.set(iface, fresh);
    } else {
      faults.push({ at, rebind: 'nat', port: true, address: rng.chance(0.3) });
    }
  }

  const spec: ScenarioSpec = {
    seed: rng.nextU32(),
    hosts: {
      [CLIENT]: { interfaces: clientIfaces },
      [SERVER]: { interfaces: { eth: serverAddresses } },
    },
    links,
    ...(natted && { nats }),
    ...(firewalled && { firewalls: { fw: { covers: CLIENT, timeout: rng.pick([10_000, 30_000]) } } }),
    faults,
  };
  return {
    spec,
    duration,
    client: { host: CLIENT, interfaces: names, addresses },
    server: { host: SERVER, address: SERVER_ADDRESS },
  };
}

/** Faults that set `key` back to the link's own value, per direction where the two differ (profiles). */
function restore(at: number, iface: string, link: LinkSpec, key: 'loss' | 'delay'): FaultSpec[] {
  const own = resolveLinkSpec(link, iface);
  if (own.out[key] === own.in[key]) return [{ at, set: iface, params: { [key]: own.out[key] } }];
  return [
    { at, set: iface, params: { [key]: own.out[key] }, direction: 'out' },
    { at, set: iface, params: { [key]: own.in[key] }, direction: 'in' },
  ];
}

export interface ExploreCase {
  seed: number;
  scenario: RandomScenario;
  /** Built from `scenario.spec` with tracing on; nodes are not attached yet. */
  sim: Simulator;
  /** Randomness for the workload, independent of the network's. */
  rng: Rng;
}

export interface ExploreOptions {
  /** A count (seeds 1..n) or explicit seeds. `BRAID_SEED` in the environment overrides both. */
  seeds: number | readonly number[];
  /** The workload: attach nodes, run, assert. Throwing (or rejecting) marks the seed failed. */
  run: (c: ExploreCase) => void | Promise<void>;
  /** Scenario generator (default randomScenario). */
  generate?: (rng: Rng) => RandomScenario;
  /** File named in the replay command (default: the running script, e.g. the test file). */
  replayFile?: string;
  /** Where failing traces go (default `artifacts`). */
  artifactsDir?: string;
  /** Trace lines kept for the artifact (the latest ones; default 200000). */
  traceLines?: number;
}

/** A failing seed: the message carries the seed, the replay command and the trace path. */
export class ExploreFailure extends Error {
  readonly code = 'BRAID_ERR_SIM_EXPLORE';
  override name = 'ExploreFailure';

  constructor(
    readonly seed: number,
    readonly replay: string,
    readonly tracePath: string,
    override readonly cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`simulation seed ${seed} failed: ${reason}\n  replay: ${replay}\n  trace:  ${tracePath}`);
  }
}

function replayTarget(options: ExploreOptions): string {
  const file = options.replayFile ?? process.argv[1] ?? '<test-file>';
  return isAbsolute(file) ? relative(process.cwd(), file) : file;
}

/** Runs the workload over one random scenario per seed; the first failure throws ExploreFailure. */
export async function explore(options: ExploreOptions): Promise<{ seeds: number[] }> {
  const fromEnv = seedFromEnv(Number.NaN);
  const seeds = !Number.isNaN(fromEnv)
    ? [fromEnv]
    : typeof options.seeds === 'number'
      ? Array.from({ length: options.seeds }, (_, i) => i + 1)
      : [...options.seeds];
  const generate = options.generate ?? ((rng: Rng) => randomScenario(rng));
  for (const seed of seeds) {
    const rng = new Rng(seed);
    const drawn = generate(rng);
    const sim = scenario({ ...drawn.spec, trace: { maxLines: options.traceLines ?? 200_000 } });
    try {
      await options.run({ seed, scenario: drawn, sim, rng: rng.fork() });
    } catch (error) {
      const tracePath = join(options.artifactsDir ?? 'artifacts', `sim-${seed}.trace`);
      sim.trace?.writeTo(tracePath);
      throw new ExploreFailure(
        seed,
        `BRAID_SEED=${seed} node scripts/run-tests.mjs ${replayTarget(options)}`,
        tracePath,
        error,
      );
    }
  }
  return { seeds };
}
