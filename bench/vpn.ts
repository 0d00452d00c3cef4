/**
 * `npm run bench -- vpn [--seconds S] [--udp-rate MBIT] [--ping-count N] [--blackhole-seconds S]
 * [--keepalive S] [--runs N]`: in the real-network lab (lab/lab.sh, root only; the LAN profile:
 * the lab's veths unimpaired), `braid vpn` against wireguard-go (userspace WireGuard, configured
 * with wireguard-tools) on the same provider links in the same run
 * (testing/harness/vpn-lab.ts), both tunnels up side by side:
 * - iperf3 TCP goodput (client to server, first second omitted) through each;
 * - iperf3 UDP goodput at `--udp-rate` offered, datagrams sized to each tunnel's MTU;
 * - ping RTT through each, against the bare link between the same namespaces;
 * - the silent blackhole: a download (iperf3 -R, 0.1 s intervals) through each tunnel while the
 *   provider that carries it is blackholed both ways for `--blackhole-seconds`, then healed; the
 *   gap is the longest run of intervals in which nothing arrived. Braid fails over to the other
 *   provider; WireGuard has nothing to fail over to and stalls until the heal (its keepalive and
 *   handshake retries only notice the silence).
 * Runs alternate the two tunnels so machine load falls on both alike; headlines are medians.
 */
import { Lab, type LabLink } from '../src/cli/demo/lab.js';
import { LabProcess } from '../src/cli/demo/lab-process.js';
import { round, summarize } from '../testing/harness/stats.js';
import {
  activeProvider,
  braidVpnUnavailable,
  iperfClient,
  type LabTunnel,
  longestGapMs,
  pingFromClient,
  startBraidVpn,
  startWireGuard,
  WIREGUARD_KEEPALIVE_SECONDS,
  wireguardUnavailable,
} from '../testing/harness/vpn-lab.js';
import { positiveOption } from './lib/options.js';
import { result } from './lib/result.js';
import { progress, systemInfo } from './lib/system.js';

export interface Options {
  seconds: number;
  udpRateMbps: number;
  pingCount: number;
  blackholeSeconds: number;
  keepaliveSeconds: number;
  runs: number;
}

const IPERF_PORT = 5201;
/** Seconds of the download before the blackhole, and after the heal. */
const BEFORE_FAULT_SECONDS = 2;
const AFTER_HEAL_SECONDS = 5;
const INTERVAL_SECONDS = 0.1;
/** IPv4 (20) and UDP (8) headers: an iperf3 datagram this much under the MTU is not fragmented. */
const IP_UDP_HEADERS = 28;
const TARGET_TCP_RATIO = 0.8;
const TARGET_GAP_MS = 300;

export function parseOptions(args: string[]): Options {
  const flags: Record<string, string | undefined> = {};
  const known = ['--seconds', '--udp-rate', '--ping-count', '--blackhole-seconds', '--keepalive', '--runs'];
  for (let i = 0; i < args.length; i += 2) {
    if (!known.includes(args[i]!)) throw new Error(`unknown option ${args[i]} (${known.join(', ')})`);
    flags[args[i]!] = args[i + 1];
  }
  const integer = (value: number, name: string) => {
    if (!Number.isInteger(value)) throw new RangeError(`--${name} must be a whole number, got ${value}`);
    return value;
  };
  return {
    seconds: positiveOption(flags['--seconds'], 10, 'seconds'),
    udpRateMbps: positiveOption(flags['--udp-rate'], 1000, 'udp-rate'),
    pingCount: integer(positiveOption(flags['--ping-count'], 100, 'ping-count'), 'ping-count'),
    blackholeSeconds: positiveOption(flags['--blackhole-seconds'], 10, 'blackhole-seconds'),
    keepaliveSeconds: integer(
      positiveOption(flags['--keepalive'], WIREGUARD_KEEPALIVE_SECONDS, 'keepalive'),
      'keepalive',
    ),
    runs: integer(positiveOption(flags['--runs'], 1, 'runs'), 'runs'),
  };
}

interface RunRecord {
  run: number;
  tcpMbps?: number;
  udpMbps?: number;
  udpLostPercent?: number;
  pingAvgMs?: number;
  blackhole?: {
    link: string;
    gapMs: number;
    /** Whether the flow stalled for (nearly) the whole blackhole: no failover. */
    stalledUntilHeal: boolean;
    /** The provider that carried the tunnel's pings during the blackhole, or none. */
    carrierDuringBlackhole: LabLink | 'none';
  };
  error?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function measureTcp(lab: Lab, tunnel: LabTunnel, options: Options): Promise<number> {
  const report = await iperfClient(lab, [
    '--client',
    tunnel.serverInner4,
    '--port',
    String(IPERF_PORT),
    '--time',
    String(options.seconds),
    '--omit',
    '1',
  ]);
  const received = report.end.sum_received?.bits_per_second;
  if (received === undefined) throw new Error('iperf3 reported no received rate');
  return round(received / 1e6);
}

async function measureUdp(
  lab: Lab,
  tunnel: LabTunnel,
  options: Options,
): Promise<{ mbps: number; lostPercent: number }> {
  const report = await iperfClient(lab, [
    '--client',
    tunnel.serverInner4,
    '--port',
    String(IPERF_PORT),
    '--udp',
    '--bitrate',
    `${options.udpRateMbps}M`,
    '--length',
    String(tunnel.mtu - IP_UDP_HEADERS),
    '--time',
    String(options.seconds),
  ]);
  const sum = report.end.sum;
  if (sum?.lost_percent === undefined) throw new Error('iperf3 reported no UDP loss figures');
  // The sender's rate less what the receiver lost: the rate that arrived.
  return {
    mbps: round((sum.bits_per_second * (1 - sum.lost_percent / 100)) / 1e6),
    lostPercent: round(sum.lost_percent),
  };
}

async function measureBlackhole(
  lab: Lab,
  tunnel: LabTunnel,
  options: Options,
): Promise<NonNullable<RunRecord['blackhole']>> {
  const link = await activeProvider(lab, tunnel);
  const total = BEFORE_FAULT_SECONDS + options.blackholeSeconds + AFTER_HEAL_SECONDS;
  const download = iperfClient(lab, [
    '--client',
    tunnel.serverInner4,
    '--port',
    String(IPERF_PORT),
    '--reverse',
    '--time',
    String(total),
    '--interval',
    String(INTERVAL_SECONDS),
  ]);
  let report: Awaited<typeof download>;
  let carrier: LabLink | 'none' = 'none';
  try {
    await sleep(BEFORE_FAULT_SECONDS * 1000);
    await lab.blackhole(link, 'both');
    const blackholedAt = Date.now();
    // Which provider carries the tunnel a second into the blackhole: none for a stalled tunnel.
    await sleep(Math.min(1000, options.blackholeSeconds * 500));
    carrier = await activeProvider(lab, tunnel).catch(() => 'none' as const);
    await sleep(Math.max(0, options.blackholeSeconds * 1000 - (Date.now() - blackholedAt)));
  } finally {
    await lab.heal();
    report = await download;
  }
  // iperf3's clock starts at its connection, a little after ours: count from just before.
  const faultAt = BEFORE_FAULT_SECONDS - 0.5;
  const gapMs = longestGapMs(report, faultAt);
  return {
    link,
    gapMs,
    stalledUntilHeal: gapMs >= options.blackholeSeconds * 1000 - 500,
    carrierDuringBlackhole: carrier,
  };
}

export async function measureRun(
  lab: Lab,
  tunnel: LabTunnel,
  options: Options,
  run: number,
): Promise<RunRecord> {
  const record: RunRecord = { run };
  try {
    record.tcpMbps = await measureTcp(lab, tunnel, options);
    const udp = await measureUdp(lab, tunnel, options);
    record.udpMbps = udp.mbps;
    record.udpLostPercent = udp.lostPercent;
    record.pingAvgMs = (await pingFromClient(lab, tunnel.serverInner4, options.pingCount)).avgMs;
    record.blackhole = await measureBlackhole(lab, tunnel, options);
    progress(
      `${tunnel.kind} run ${run}: TCP ${record.tcpMbps} Mbit/s, UDP ${record.udpMbps} Mbit/s ` +
        `(${record.udpLostPercent}% lost), ping ${record.pingAvgMs} ms, blackhole of ${record.blackhole.link}: ` +
        `gap ${record.blackhole.gapMs} ms`,
    );
  } catch (error) {
    record.error = error instanceof Error ? error.message : String(error);
    progress(`${tunnel.kind} run ${run} failed: ${record.error}`);
    await lab.heal();
  }
  // Let the tunnel settle (standby path back, TCP state gone) before the next measurement.
  await sleep(2000);
  return record;
}

function median(records: RunRecord[], pick: (r: RunRecord) => number | undefined): number {
  const values = records.map(pick).filter((v): v is number => v !== undefined);
  return values.length > 0 ? round(summarize(values).median) : Number.NaN;
}

function summary(records: RunRecord[]) {
  return {
    tcpMbps: median(records, (r) => r.tcpMbps),
    udpMbps: median(records, (r) => r.udpMbps),
    udpLostPercent: median(records, (r) => r.udpLostPercent),
    pingAvgMs: median(records, (r) => r.pingAvgMs),
    blackholeGapMs: median(records, (r) => r.blackhole?.gapMs),
    runs: records,
  };
}

export async function run(args: string[]): Promise<object> {
  const options = parseOptions(args);
  const availability = Lab.available({ conntrack: false });
  const unavailable = !availability.ok
    ? `needs the lab: ${availability.reason}`
    : (wireguardUnavailable() ?? (await braidVpnUnavailable()));
  if (unavailable !== undefined) {
    progress(`skipped: the vpn bench ${unavailable}`);
    return { name: 'vpn', skipped: true, reason: unavailable };
  }
  progress(
    `lab up (LAN profile); ${options.runs} run(s) each of wireguard-go and braid vpn: ${options.seconds} s ` +
      `TCP, ${options.seconds} s UDP at ${options.udpRateMbps} Mbit/s, ${options.pingCount} pings, ` +
      `${options.blackholeSeconds} s blackhole`,
  );
  const lab = await Lab.up();
  const tunnels: LabTunnel[] = [];
  const iperfServer = new LabProcess(
    'iperf3 server',
    lab.spawnIn('server', ['iperf3', '--server', '--port', String(IPERF_PORT)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const wireguard: RunRecord[] = [];
  const braid: RunRecord[] = [];
  let bare: Awaited<ReturnType<typeof pingFromClient>>;
  let braidMtu = 0;
  try {
    const wg = await startWireGuard(lab, { keepaliveSeconds: options.keepaliveSeconds });
    tunnels.push(wg);
    const vpn = await startBraidVpn(lab);
    tunnels.push(vpn);
    braidMtu = vpn.mtu;
    bare = await pingFromClient(lab, lab.addresses.server1.v4, options.pingCount);
    for (let i = 1; i <= options.runs; i++) {
      wireguard.push(await measureRun(lab, wg, options, i));
      braid.push(await measureRun(lab, vpn, options, i));
    }
  } finally {
    iperfServer.child.kill('SIGTERM');
    for (const tunnel of tunnels) await tunnel.stop();
    await lab.down();
  }
  const w = summary(wireguard);
  const b = summary(braid);
  if (Number.isNaN(w.tcpMbps) || Number.isNaN(b.tcpMbps)) {
    const errors = [...wireguard, ...braid].map((r) => r.error).filter(Boolean);
    throw new Error(
      `no successful ${Number.isNaN(b.tcpMbps) ? 'braid vpn' : 'wireguard-go'} run: ${errors.join('; ')}`,
    );
  }
  return result({
    name: 'braid vpn TCP goodput through the tunnel (iperf3, median)',
    value: b.tcpMbps,
    unit: 'Mbit/s',
    baseline: {
      name: 'wireguard-go TCP goodput, same links, same run (median)',
      value: w.tcpMbps,
      unit: 'Mbit/s',
    },
    udp: result({
      name: 'braid vpn UDP goodput (iperf3 -u, median)',
      value: b.udpMbps,
      unit: 'Mbit/s',
      baseline: { name: 'wireguard-go UDP goodput (median)', value: w.udpMbps, unit: 'Mbit/s' },
    }),
    rtt: {
      bareLink: result({
        name: 'ping RTT over the bare link, client to server link s1 (avg)',
        value: bare.avgMs,
        unit: 'ms',
        baseline: { name: 'the same', value: bare.avgMs, unit: 'ms' },
      }),
      braid: result({
        name: 'ping RTT through braid vpn (median of avg)',
        value: b.pingAvgMs,
        unit: 'ms',
        baseline: { name: 'bare link', value: bare.avgMs, unit: 'ms' },
        overheadMs: round(b.pingAvgMs - bare.avgMs, 3),
      }),
      wireguard: result({
        name: 'ping RTT through wireguard-go (median of avg)',
        value: w.pingAvgMs,
        unit: 'ms',
        baseline: { name: 'bare link', value: bare.avgMs, unit: 'ms' },
        overheadMs: round(w.pingAvgMs - bare.avgMs, 3),
      }),
    },
    blackhole: result({
      name: `braid vpn: longest gap of an inner TCP download while its provider is blackholed (median)`,
      value: b.blackholeGapMs,
      unit: 'ms',
      baseline: {
        name: `wireguard-go (PersistentKeepalive ${options.keepaliveSeconds} s): the same (median)`,
        value: w.blackholeGapMs,
        unit: 'ms',
      },
      blackholeSeconds: options.blackholeSeconds,
      resolutionMs: INTERVAL_SECONDS * 1000,
    }),
    braidVpn: { ...b, mtu: braidMtu },
    wireguardGo: {
      ...w,
      mtu: tunnels[0]?.mtu,
      persistentKeepaliveSeconds: options.keepaliveSeconds,
      note: 'wireguard-go sends from whatever source the routing table picks (provider a); it has no second path to fail over to, so a blackhole of it stalls inner traffic until the heal',
    },
    targets: {
      tcpRatioAtLeast: TARGET_TCP_RATIO,
      tcpMet: b.tcpMbps / w.tcpMbps >= TARGET_TCP_RATIO,
      blackholeGapAtMostMs: TARGET_GAP_MS,
      blackholeMet: b.blackholeGapMs <= TARGET_GAP_MS,
    },
    method: {
      profile: 'lan: the lab veths unimpaired, no rate limit',
      tcp: `iperf3 -c INNER -t ${options.seconds} -O 1 (client to server), receiver's rate`,
      udp: `iperf3 -u -b ${options.udpRateMbps}M -l MTU-28 -t ${options.seconds}; the sender's rate times (1 - the receiver's loss)`,
      ping: `ping -c ${options.pingCount} -i 0.02, average`,
      blackhole: `iperf3 -R -i ${INTERVAL_SECONDS} (server to client) through the tunnel; after ${BEFORE_FAULT_SECONDS} s the client's provider that carries the tunnel (found from its veth counters) is blackholed both ways (lab.sh blackhole, nft drop, no ICMP) for ${options.blackholeSeconds} s, then healed; gap = the longest run of intervals with no byte received`,
      order: 'per run: wireguard-go, then braid vpn',
    },
    system: systemInfo(),
  });
}
