/**
 * The WAN yardstick: the real engine in the simulator on named path profiles. A client with one
 * to three providers (each a profile from src/cli/demo/path-profiles.ts, its link built by
 * `simLinkOf`), a server with one address on a clean link, one session, one kind of traffic, an
 * optional fault on the active provider, on a virtual clock: deterministic per seed, and fast
 * (an idle or interactive 10 simulated minutes takes about a second of CPU).
 *
 * Reports what issue 14 asks of multihoming: path changes (failover events) with their reasons
 * on both sides, goodput, the time from a blackhole of the active provider to the first new
 * in-order byte against `3 × srtt(active) + rtt(standby) + 50 ms`, and what the session sends
 * while idle. `bench/wan-sim.ts` runs the table; test/sim/wan.test.ts asserts on it.
 */
import { pathProfile } from '../../src/cli/demo/path-profiles.js';
import type { MultipathPolicy, TransportConfig } from '../../src/engine/types.js';
import { runEngineSessions } from '../sim/engine-run.js';
import type { LinkSpec } from '../sim/network.js';
import { Rng } from '../sim/rng.js';
import { scenario } from '../sim/scenario.js';
import type { SessionDriver, WorkloadSpec } from '../sim/workload.js';

export type WanTraffic = 'idle' | 'interactive' | 'bulk';

/** Client provider addresses, in provider order, and the server's one address. */
export const WAN_CLIENT_ADDRESSES = ['192.0.2.10', '198.51.100.10', '100.64.0.10'] as const;
export const WAN_SERVER_ADDRESS = '203.0.113.5';

/** Interactive traffic: one 100-byte write every 50 ms. */
export const INTERACTIVE = { size: 100, interval: 50 } as const;

export interface WanCaseOptions {
  /** Profile names of the client's providers, in order; the session starts on the first. */
  providers: readonly string[];
  traffic: WanTraffic;
  /** Direction of bulk and interactive data (default 'down': server → client). */
  direction?: 'up' | 'down';
  seed: number;
  /** Simulated ms the run lasts, handshake included (a finite `bulkBytes` may end it sooner). */
  durationMs: number;
  /** Goodput and idle cost are counted from this time on (default 1000 ms, or a fifth of a shorter run). */
  warmupMs?: number;
  /** Default 'failover'. */
  policy?: MultipathPolicy;
  /** Silently blackholes (both directions) the client's active provider at this time. */
  blackholeAt?: number;
  /** Silently blackholes (both directions, for good) every provider but the client's active one at this time. */
  blackholeStandbyAt?: number;
  /**
   * Silently blackholes one direction of the client's active provider at `at` (`up`: client →
   * server, `down`: server → client) and heals it at `healAt`.
   */
  oneWayBlackhole?: { at: number; direction: 'up' | 'down'; healAt: number };
  /**
   * Every provider sits behind its own NAT; from `from` (default `every`) on, every `every` ms
   * until `until` (default: the end of the run), the NAT of the client's active provider
   * rebinds its mappings to new public ports.
   */
  natRebind?: { every: number; from?: number; until?: number };
  /** Lowers the active provider's MTU (largest UDP payload, both directions) at `at`, with no ICMP. */
  mtuDrop?: { at: number; mtu: number };
  /**
   * Sets the active provider's downlink rate (bit/s of IP packets) at `at`: a real change of
   * capacity, which congestion control must follow.
   */
  rateChange?: { at: number; rateBps: number };
  /** Bulk bytes (default: more than the run can carry, so the transfer never finishes). */
  bulkBytes?: number;
  /** Transport settings of both sides over the defaults. */
  transport?: Partial<TransportConfig>;
}

export interface WanPathChange {
  at: number;
  side: 'client' | 'server';
  reason: string;
  /** Providers (profile names, with their index) the session moved between. */
  from: string;
  to: string;
}

export interface WanBlackhole {
  at: number;
  /** The provider that was active at `at` (client view) and was blackholed. */
  provider: string;
  srttActive: number;
  rttStandby: number;
  /** 3 × srtt(active) + rtt(standby) + 50 ms. */
  boundMs: number;
  /** From the blackhole to the first in-order stream byte read after the stall; undefined if none came. */
  firstNewByteMs: number | undefined;
}

export interface WanCaseResult {
  options: WanCaseOptions;
  pathChanges: WanPathChange[];
  /** Every session completed (a finite workload) and no property failed. */
  complete: boolean;
  /** Suspensions (no path worked for the failure timeout), both sides together. */
  suspensions: number;
  /** Sides whose session closed before the end (a single path's failure shows here, not as a path change). */
  closed: string[];
  /** Property violations other than "not finished by the time limit" (these runs stop on time). */
  violations: string[];
  endTime: number;
  handshakeAt: number | undefined;
  /** Stream bytes the receiving side read from `warmupMs` to the end, and their rate. */
  receivedBytes: number;
  goodputBps: number;
  /** UDP payload packets and bytes each side sent from `warmupMs` to the end, and per hour. */
  sent: Record<
    'client' | 'server',
    { packets: number; bytes: number; packetsPerHour: number; bytesPerHour: number }
  >;
  blackhole: WanBlackhole | undefined;
  /**
   * UDP payload bytes the sending side (of bulk and interactive data) put on each provider over
   * the whole run, by `name#index` (how 'aggregate' spread the load).
   */
  senderBytesByProvider: Record<string, number>;
  /** The most one session buffered (send, receive, datagrams) and its send buffers, in any sample (both sides). */
  peakSessionBuffered: number;
  peakSendBuffered: number;
  /** With `mtuDrop`: the largest datagram either side sent before the drop (bytes of UDP payload). */
  largestDatagramBeforeMtuDrop: number | undefined;
  /**
   * What the sending side's congestion control did to the queue, from `warmupMs` on: its active
   * path's smoothed RTT sampled every 100 ms (mean; against the profile's base round trip it is
   * the self-inflicted queue), and its packets sent and declared lost.
   */
  sender: { meanSrttMs: number | undefined; packetsSent: number; packetsLost: number };
  /** Packets the simulated links dropped because their queue was full (both directions, whole run). */
  queueDrops: number;
  /** Times the NATs rebound (with `natRebind`). */
  natRebindings: number;
  /**
   * Paths each side held (PathInfo states, every 100 ms): the most at once, the most `failed`
   * at once, the states at the end of the run, and the longest time one path id stayed
   * `failed` (from its path-updated events; one still failed at the end counts to the end).
   */
  paths: Record<
    'client' | 'server',
    { most: number; mostFailed: number; atEnd: string[]; longestFailedMs: number }
  >;
}

/** The public address of provider `index`'s NAT (with `natRebind`). */
export function natPublicAddress(index: number): string {
  return `198.18.0.${10 + index}`;
}

/** Which provider a client address belongs to, as `name#index`. */
function providerOf(providers: readonly string[], address: string): string {
  const index = WAN_CLIENT_ADDRESSES.indexOf(address as (typeof WAN_CLIENT_ADDRESSES)[number]);
  return index >= 0 && index < providers.length ? `${providers[index]}#${index}` : address;
}

function workloadOf(options: WanCaseOptions): WorkloadSpec {
  const direction = options.direction ?? 'down';
  if (options.traffic === 'bulk') {
    // Enough for the fastest profile for the whole run: the transfer stays in steady state.
    const bytes = options.bulkBytes ?? Math.ceil((400e6 / 8) * (options.durationMs / 1000)) + 1;
    return { bulk: { streams: 1, bytes, direction } };
  }
  if (options.traffic === 'interactive') {
    const count = Math.ceil(options.durationMs / INTERACTIVE.interval) + 1;
    return { interactive: { ...INTERACTIVE, count, direction } };
  }
  // Idle: one open stream that carried 100 bytes at the start; its next write would come after the run.
  return { interactive: { size: INTERACTIVE.size, interval: options.durationMs + 1, count: 2, direction } };
}

/** Runs one case. Deterministic: the same options give the same result. */
export function runWanCase(options: WanCaseOptions): WanCaseResult {
  const { providers, seed } = options;
  if (providers.length < 1 || providers.length > WAN_CLIENT_ADDRESSES.length)
    throw new RangeError(
      `providers must name 1 to ${WAN_CLIENT_ADDRESSES.length} profiles, got ${providers.length}`,
    );
  for (const name of providers) pathProfile(name);
  const warmupMs = options.warmupMs ?? Math.min(1000, options.durationMs / 5);
  const interfaces: Record<string, string[]> = {};
  const links: Record<string, LinkSpec> = {};
  providers.forEach((name, i) => {
    interfaces[`p${i}`] = [WAN_CLIENT_ADDRESSES[i]];
    links[`client.p${i}`] = { profile: name };
  });
  const sim = scenario({
    seed,
    hosts: { client: { interfaces }, server: { interfaces: { eth: [WAN_SERVER_ADDRESS] } } },
    links,
  });
  if (options.natRebind !== undefined)
    providers.forEach((_, i) => {
      sim.addNat(`nat${i}`, { publicAddresses: [natPublicAddress(i)] }, [`client.p${i}`]);
    });
  const receiving = (options.direction ?? 'down') === 'down' ? 'client' : 'server';
  const sending = receiving === 'client' ? 'server' : 'client';
  const activeProvider = (clientDriver: SessionDriver): number => {
    const active = clientDriver.conn.paths.find((p) => p.state === 'active');
    const index = WAN_CLIENT_ADDRESSES.indexOf(
      (active?.local.address ?? WAN_CLIENT_ADDRESSES[0]) as (typeof WAN_CLIENT_ADDRESSES)[number],
    );
    return Math.max(0, index);
  };

  let warmSent: Record<'client' | 'server', { packets: number; bytes: number }> | undefined;
  let warmRead = 0;
  let blackhole: WanBlackhole | undefined;
  let largestBeforeDrop: number | undefined;
  const srttSamples: number[] = [];
  let warmLost = 0;
  /** Times the receiver's in-order read offset grew after the blackhole (1 ms sampling). */
  const progress: number[] = [];
  let natRebindings = 0;
  const paths = {
    client: { most: 0, mostFailed: 0, atEnd: [] as string[], longestFailedMs: 0 },
    server: { most: 0, mostFailed: 0, atEnd: [] as string[], longestFailedMs: 0 },
  };

  const result = runEngineSessions({
    sim,
    rng: new Rng(seed),
    client: { host: 'client', address: WAN_CLIENT_ADDRESSES[0] },
    server: { host: 'server', address: WAN_SERVER_ADDRESS },
    workload: workloadOf(options),
    transport: { multipath: { policy: options.policy ?? 'failover' }, ...options.transport },
    timeLimit: options.durationMs,
    requireCompletion: false,
    onNodes: ({ client, server }) => {
      const side = (role: 'client' | 'server') => (role === 'client' ? client : server).drivers[0];
      sim.at(warmupMs, () => {
        const count = (d: SessionDriver | undefined) => ({
          packets: d?.conn.stats.packetsSent ?? 0,
          bytes: d?.conn.stats.bytesSent ?? 0,
        });
        warmSent = { client: count(side('client')), server: count(side('server')) };
        warmRead = side(receiving)?.bytesRead ?? 0;
        warmLost = side(sending)?.conn.stats.packetsLost ?? 0;
        const sampleSrtt = (): void => {
          const srtt = side(sending)?.conn.paths.find((p) => p.state === 'active')?.srtt;
          if (srtt !== undefined) srttSamples.push(srtt);
          if (sim.now + 100 < options.durationMs) sim.at(sim.now + 100, sampleSrtt);
        };
        sampleSrtt();
      });
      if (options.blackholeAt !== undefined) {
        const at = options.blackholeAt;
        sim.at(at, () => {
          const driver = side('client');
          if (driver === undefined) return;
          const index = activeProvider(driver);
          const paths = driver.conn.paths;
          const address = WAN_CLIENT_ADDRESSES[index];
          const active = paths.find((p) => p.local.address === address && p.state === 'active');
          const standby = paths.filter((p) => p.local.address !== address && p.srtt !== undefined);
          const srttActive = active?.srtt ?? 0;
          const rttStandby = standby.length > 0 ? Math.min(...standby.map((p) => p.srtt as number)) : 0;
          blackhole = {
            at,
            provider: `${providers[index]}#${index}`,
            srttActive,
            rttStandby,
            boundMs: 3 * srttActive + rttStandby + 50,
            firstNewByteMs: undefined,
          };
          sim.blackhole(`client.p${index}`, 'both', true);
          let last = side(receiving)?.bytesRead ?? 0;
          const sample = (): void => {
            const now = side(receiving)?.bytesRead ?? 0;
            if (now > last) progress.push(sim.now);
            last = now;
            if (sim.now < options.durationMs) sim.at(sim.now + 1, sample);
          };
          sim.at(at + 1, sample);
        });
      }
      if (options.rateChange !== undefined) {
        const { at, rateBps } = options.rateChange;
        sim.at(at, () => {
          const driver = side('client');
          const index = driver === undefined ? 0 : activeProvider(driver);
          sim.setLink(`client.p${index}`, { bandwidth: rateBps }, 'in');
        });
      }
      const samplePaths = (): void => {
        for (const role of ['client', 'server'] as const) {
          const list = side(role)?.conn.paths ?? [];
          const record = paths[role];
          record.most = Math.max(record.most, list.length);
          record.mostFailed = Math.max(record.mostFailed, list.filter((p) => p.state === 'failed').length);
          record.atEnd = list.map((p) => p.state);
        }
        if (sim.now + 100 < options.durationMs) sim.at(sim.now + 100, samplePaths);
      };
      sim.at(100, samplePaths);
      if (options.blackholeStandbyAt !== undefined) {
        sim.at(options.blackholeStandbyAt, () => {
          const driver = side('client');
          const active = driver === undefined ? 0 : activeProvider(driver);
          providers.forEach((_, i) => {
            if (i !== active) sim.blackhole(`client.p${i}`, 'both', true);
          });
        });
      }
      if (options.oneWayBlackhole !== undefined) {
        const { at, direction, healAt } = options.oneWayBlackhole;
        let iface: string | undefined;
        sim.at(at, () => {
          const driver = side('client');
          iface = `client.p${driver === undefined ? 0 : activeProvider(driver)}`;
          sim.blackhole(iface, direction === 'up' ? 'out' : 'in', true);
        });
        sim.at(healAt, () => {
          if (iface !== undefined) sim.blackhole(iface, direction === 'up' ? 'out' : 'in', false);
        });
      }
      if (options.natRebind !== undefined) {
        const { every } = options.natRebind;
        const until = Math.min(options.natRebind.until ?? Infinity, options.durationMs);
        const rebind = (): void => {
          const driver = side('client');
          sim.rebind(`nat${driver === undefined ? 0 : activeProvider(driver)}`);
          natRebindings++;
          if (sim.now + every < until) sim.at(sim.now + every, rebind);
        };
        sim.at(options.natRebind.from ?? every, rebind);
      }
      if (options.mtuDrop !== undefined) {
        const { at, mtu } = options.mtuDrop;
        largestBeforeDrop = 0;
        // Sizes only: the filter keeps nothing.
        sim.capture((d) => {
          if (d.at < at) largestBeforeDrop = Math.max(largestBeforeDrop ?? 0, d.data.length);
          return false;
        });
        sim.at(at, () => {
          const driver = side('client');
          const index = driver === undefined ? 0 : activeProvider(driver);
          sim.setLink(`client.p${index}`, { mtu }, 'both');
        });
      }
    },
  });

  const client = result.clients[0];
  const server = result.servers[0];
  const pathChanges: WanPathChange[] = [];
  for (const [side, driver] of [
    ['client', client],
    ['server', server],
  ] as const) {
    for (const { at, event } of driver?.pathLog ?? []) {
      if (event.type !== 'failover') continue;
      // Behind NATs the server sees a provider as its NAT's public address.
      const address = (p: typeof event.from) => {
        if (side === 'client') return p.local.address;
        const nat = providers.findIndex((_, i) => natPublicAddress(i) === p.remote.address);
        return nat >= 0 ? WAN_CLIENT_ADDRESSES[nat] : p.remote.address;
      };
      pathChanges.push({
        at,
        side,
        reason: event.reason,
        from: providerOf(providers, address(event.from)),
        to: providerOf(providers, address(event.to)),
      });
    }
  }
  pathChanges.sort((a, b) => a.at - b.at);
  for (const [side, driver] of [
    ['client', client],
    ['server', server],
  ] as const) {
    const failedSince = new Map<number, number>();
    let longest = 0;
    for (const { at, event } of driver?.pathLog ?? []) {
      if (event.type !== 'path-updated') continue;
      const { id, state } = event.path;
      if (state === 'failed') {
        if (!failedSince.has(id)) failedSince.set(id, at);
      } else if (failedSince.has(id)) {
        longest = Math.max(longest, at - (failedSince.get(id) as number));
        failedSince.delete(id);
      }
    }
    for (const since of failedSince.values()) longest = Math.max(longest, result.endTime - since);
    paths[side].longestFailedMs = longest;
  }

  if (blackhole !== undefined) {
    // The first read after the longest stall: data still on the wire at the blackhole arrives
    // within a one-way delay; what follows the stall came by recovery on another path.
    let stallEnd: number | undefined;
    let longest = -1;
    let previous = (blackhole as WanBlackhole).at;
    for (const t of progress) {
      if (t - previous > longest) {
        longest = t - previous;
        stallEnd = t;
      }
      previous = t;
    }
    (blackhole as WanBlackhole).firstNewByteMs =
      stallEnd === undefined ? undefined : stallEnd - (blackhole as WanBlackhole).at;
  }

  const window = Math.max(1, result.endTime - warmupMs);
  const perHour = 3_600_000 / window;
  const sentSince = (d: SessionDriver | undefined, role: 'client' | 'server') => {
    const packets = (d?.conn.stats.packetsSent ?? 0) - (warmSent?.[role].packets ?? 0);
    const bytes = (d?.conn.stats.bytesSent ?? 0) - (warmSent?.[role].bytes ?? 0);
    return {
      packets,
      bytes,
      packetsPerHour: Math.round(packets * perHour),
      bytesPerHour: Math.round(bytes * perHour),
    };
  };
  const sender = receiving === 'client' ? server : client;
  const senderBytesByProvider: Record<string, number> = {};
  for (const path of sender?.conn.paths ?? []) {
    const address = sender === client ? path.local.address : path.remote.address;
    const provider = providerOf(providers, address);
    senderBytesByProvider[provider] = (senderBytesByProvider[provider] ?? 0) + path.bytesSent;
  }
  const receivedBytes = ((receiving === 'client' ? client : server)?.bytesRead ?? 0) - warmRead;
  return {
    options,
    pathChanges,
    complete: result.complete && result.violations.length === 0,
    violations: result.violations.filter((v) => !v.endsWith('a hang')),
    suspensions: (client?.conn.stats.suspensions ?? 0) + (server?.conn.stats.suspensions ?? 0),
    closed: [client, server].flatMap((d) => (d?.closeInfo ? [`${d.role}: ${d.closeInfo.source}`] : [])),
    endTime: result.endTime,
    handshakeAt: client?.handshakeCompletedAt,
    receivedBytes,
    goodputBps: (receivedBytes * 8000) / window,
    sent: { client: sentSince(client, 'client'), server: sentSince(server, 'server') },
    blackhole,
    largestDatagramBeforeMtuDrop: largestBeforeDrop,
    senderBytesByProvider,
    peakSessionBuffered: result.monitor.peaks.sessionBuffered,
    peakSendBuffered: result.monitor.peaks.sendBuffered,
    sender: {
      meanSrttMs:
        srttSamples.length === 0 ? undefined : srttSamples.reduce((a, b) => a + b, 0) / srttSamples.length,
      packetsSent: sentSince(sending === 'client' ? client : server, sending).packets,
      packetsLost: ((sending === 'client' ? client : server)?.conn.stats.packetsLost ?? 0) - warmLost,
    },
    queueDrops: sim.stats.drops['queue-full'] ?? 0,
    natRebindings,
    paths,
  };
}
