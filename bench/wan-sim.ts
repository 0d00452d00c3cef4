// Multihoming on WAN profiles, in the simulator (testing/harness/wan.ts): the engine on a virtual
// clock, a client with one or two providers (named profiles), a server with one address, N seeds
// per case. Deterministic: the same seeds print the same figures on any machine; only
// `cpuSeconds` depends on it. One record per case:
// - path-changes: failover events (both sides) per run with no fault, for idle, interactive
//   (100 B every 50 ms) and bulk traffic; target 0. Idle records carry the keepalive cost
//   (packets and bytes per hour per side).
// - blackhole: the active provider silently blackholed mid-bulk; time to the first new in-order
//   byte against 3 × srtt(active) + rtt(standby) + 50 ms.
// - goodput: one provider, bulk, against the profile's link rate, once per congestion controller
//   (`--congestion-control`, default cubic,bbr), with the queue it built (mean srtt against the
//   profile's base round trip), the loss the sender saw and the packets queues dropped.
// - aggregate: two providers under the `aggregate` policy against the faster one alone.
// `npm run bench -- wan-sim [--seeds N] [--seconds S] [--bulk-seconds S] [--only KIND]
//   [--congestion-control cubic,bbr]`
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { pathProfile } from '../src/cli/demo/path-profiles.js';
import { CONGESTION_CONTROL_KINDS, type CongestionControlKind } from '../src/paths/congestion/index.js';
import { round, summarize } from '../testing/harness/stats.js';
import {
  runWanCase,
  type WanCaseOptions,
  type WanCaseResult,
  type WanTraffic,
} from '../testing/harness/wan.js';
import { positiveOption } from './lib/options.js';
import { type BenchResult, result } from './lib/result.js';
import { progress, systemInfo } from './lib/system.js';

export const KINDS = ['path-changes', 'blackhole', 'goodput', 'aggregate'] as const;
type Kind = (typeof KINDS)[number];

export interface WanSimOptions {
  seeds: number;
  /** Simulated seconds of the idle and interactive runs. */
  seconds: number;
  /** Simulated seconds of the bulk runs (bulk costs CPU in proportion to the rate). */
  bulkSeconds: number;
  only: Kind | undefined;
  /** Controllers the goodput cases run under, each its own record. */
  congestionControls: CongestionControlKind[];
}

const DEFAULTS: WanSimOptions = {
  seeds: 5,
  seconds: 600,
  bulkSeconds: 10,
  only: undefined,
  congestionControls: ['cubic', 'bbr'],
};

/** Provider sets of the no-fault runs (issue 14). */
export const CHANGE_PAIRS: readonly (readonly string[])[] = [
  ['fiber', 'lte'],
  ['lte', 'wifi-bad'],
  ['cable', 'satellite-geo'],
  ['wifi-bad'],
];
/** Active, then standby, provider of the blackhole runs. */
export const BLACKHOLE_PAIRS: readonly (readonly string[])[] = [
  ['fiber', 'lte'],
  ['lte', 'fiber'],
  ['lte', 'wifi-bad'],
  ['cable', 'satellite-geo'],
  ['satellite-geo', 'fiber'],
];
export const SINGLE_PROFILES = ['fiber', 'cable', 'lte', 'wifi-bad', 'satellite-geo', 'intercontinental'];
export const AGGREGATE_PAIRS: readonly (readonly string[])[] = [
  ['fiber', 'lte'],
  ['cable', 'lte'],
  ['fiber', 'satellite-geo'],
];
const BLACKHOLE_AT = 3000;
const AFTER_BLACKHOLE_MS = 7000;

export function parse(args: string[]): WanSimOptions {
  const { values } = parseArgs({
    args,
    options: {
      seeds: { type: 'string' },
      seconds: { type: 'string' },
      'bulk-seconds': { type: 'string' },
      only: { type: 'string' },
      'congestion-control': { type: 'string' },
    },
    strict: true,
  });
  const only = values.only;
  if (only !== undefined && !(KINDS as readonly string[]).includes(only))
    throw new RangeError(`--only must be one of ${KINDS.join(', ')}, got ${only}`);
  const controls = values['congestion-control']?.split(',') ?? DEFAULTS.congestionControls;
  for (const name of controls)
    if (!(CONGESTION_CONTROL_KINDS as readonly string[]).includes(name))
      throw new RangeError(
        `--congestion-control must list ${CONGESTION_CONTROL_KINDS.join(', ')}, got ${name}`,
      );
  return {
    seeds: Math.round(positiveOption(values.seeds, DEFAULTS.seeds, 'seeds')),
    seconds: positiveOption(values.seconds, DEFAULTS.seconds, 'seconds'),
    bulkSeconds: positiveOption(values['bulk-seconds'], DEFAULTS.bulkSeconds, 'bulk-seconds'),
    only: only as Kind | undefined,
    congestionControls: controls as CongestionControlKind[],
  };
}

/** Runs a case once per seed (1..seeds); returns the results and the CPU seconds they took. */
function overSeeds(
  options: WanSimOptions,
  base: Omit<WanCaseOptions, 'seed'>,
): { runs: WanCaseResult[]; cpuSeconds: number } {
  const started = process.cpuUsage();
  const runs: WanCaseResult[] = [];
  for (let seed = 1; seed <= options.seeds; seed++) runs.push(runWanCase({ ...base, seed }));
  const used = process.cpuUsage(started);
  return { runs, cpuSeconds: round((used.user + used.system) / 1e6, 3) };
}

function reasons(runs: WanCaseResult[]): Record<string, number> {
  const tally: Record<string, number> = {};
  for (const run of runs)
    for (const change of run.pathChanges) {
      const key = `${change.side}:${change.reason}`;
      tally[key] = (tally[key] ?? 0) + 1;
    }
  return tally;
}

function violations(runs: WanCaseResult[]): string[] {
  return runs.flatMap((run) => run.violations.map((v) => `seed ${run.options.seed}: ${v}`));
}

function pathChangeRecords(options: WanSimOptions): BenchResult[] {
  const records: BenchResult[] = [];
  for (const providers of CHANGE_PAIRS) {
    for (const traffic of ['idle', 'interactive', 'bulk'] as WanTraffic[]) {
      const seconds = traffic === 'bulk' ? options.bulkSeconds : options.seconds;
      progress(
        `wan-sim: path changes, ${providers.join('+')} ${traffic}, ${seconds} s × ${options.seeds} seeds`,
      );
      const { runs, cpuSeconds } = overSeeds(options, { providers, traffic, durationMs: seconds * 1000 });
      const counts = runs.map((r) => r.pathChanges.length);
      const firstChange = runs.map((r) => r.pathChanges[0]?.at).filter((t): t is number => t !== undefined);
      const record = result({
        name: 'wan-sim-path-changes',
        value: summarize(counts).median,
        unit: 'failover events per run (median)',
        baseline: { name: 'target-no-change-without-fault', value: 0, unit: 'failover events per run' },
        profiles: providers,
        traffic,
        simSeconds: seconds,
        perSeed: counts,
        runsWithChanges: counts.filter((c) => c > 0).length,
        reasons: reasons(runs),
        firstChangeMs: firstChange.length > 0 ? round(summarize(firstChange).median, 4) : null,
        violations: violations(runs),
        cpuSeconds,
      });
      if (traffic === 'idle') {
        const per = (side: 'client' | 'server') => ({
          packetsPerHour: summarize(runs.map((r) => r.sent[side].packetsPerHour)).median,
          bytesPerHour: summarize(runs.map((r) => r.sent[side].bytesPerHour)).median,
        });
        record.idleCost = {
          client: per('client'),
          server: per('server'),
          // The references issue 14 names, computed from their intervals: one packet per side each time.
          references: { wireguardKeepalive25s: 3600 / 25, moshHeartbeat3s: 3600 / 3 },
        };
      }
      records.push(record);
    }
  }
  return records;
}

function blackholeRecords(options: WanSimOptions): BenchResult[] {
  const records: BenchResult[] = [];
  for (const providers of BLACKHOLE_PAIRS) {
    for (const direction of ['down', 'up'] as const) {
      progress(`wan-sim: blackhole ${providers.join(' → ')} (${direction}) × ${options.seeds} seeds`);
      const { runs, cpuSeconds } = overSeeds(options, {
        providers,
        traffic: 'bulk',
        direction,
        blackholeAt: BLACKHOLE_AT,
        durationMs: BLACKHOLE_AT + AFTER_BLACKHOLE_MS,
      });
      const gaps = runs.map((r) => r.blackhole?.firstNewByteMs ?? Number.POSITIVE_INFINITY);
      const bounds = runs.map((r) => r.blackhole?.boundMs ?? Number.NaN);
      records.push(
        result({
          name: 'wan-sim-blackhole-first-new-byte',
          value: round(summarize(gaps).median, 4),
          unit: 'ms (median)',
          baseline: {
            name: '3*srtt(active)+rtt(standby)+50ms',
            value: round(summarize(bounds).median, 4),
            unit: 'ms (median)',
          },
          profiles: providers,
          direction,
          perSeed: runs.map((r) => ({
            firstNewByteMs: r.blackhole?.firstNewByteMs ?? null,
            boundMs: r.blackhole === undefined ? null : round(r.blackhole.boundMs, 4),
            blackholed: r.blackhole?.provider ?? null,
            changes: r.pathChanges.map((c) => `${round(c.at, 5)} ${c.side} ${c.reason} ${c.from}>${c.to}`),
          })),
          withinBound: runs.filter(
            (r) =>
              r.blackhole?.firstNewByteMs !== undefined && r.blackhole.firstNewByteMs <= r.blackhole.boundMs,
          ).length,
          violations: violations(runs),
          cpuSeconds,
        }),
      );
    }
  }
  return records;
}

function goodputOf(
  options: WanSimOptions,
  providers: readonly string[],
  policy: 'failover' | 'aggregate',
  congestionControl?: CongestionControlKind,
) {
  const { runs, cpuSeconds } = overSeeds(options, {
    providers,
    traffic: 'bulk',
    policy,
    durationMs: options.bulkSeconds * 1000,
    ...(congestionControl && { transport: { congestionControl } }),
  });
  return { median: summarize(runs.map((r) => r.goodputBps)).median, runs, cpuSeconds };
}

function goodputRecords(options: WanSimOptions, singles: Map<string, number>): BenchResult[] {
  return SINGLE_PROFILES.flatMap((name) =>
    options.congestionControls.map((congestionControl) =>
      goodputRecord(options, singles, name, congestionControl),
    ),
  );
}

function goodputRecord(
  options: WanSimOptions,
  singles: Map<string, number>,
  name: string,
  congestionControl: CongestionControlKind,
): BenchResult {
  progress(
    `wan-sim: goodput, ${name} alone, ${congestionControl}, ${options.bulkSeconds} s × ${options.seeds} seeds`,
  );
  const { median, runs, cpuSeconds } = goodputOf(options, [name], 'failover', congestionControl);
  // The aggregate's baseline is the best a single path of the pair does.
  singles.set(name, Math.max(singles.get(name) ?? 0, median));
  const { up, down } = pathProfile(name);
  const baseRttMs = up.delayMs + down.delayMs + (up.jitterMs + down.jitterMs) / 2;
  const srtts = runs.map((r) => r.sender.meanSrttMs).filter((v): v is number => v !== undefined);
  return result({
    name: 'wan-sim-goodput-single-path',
    value: Math.round(median),
    unit: 'bit/s (median, server → client)',
    baseline: {
      name: 'profile-link-rate',
      value: pathProfile(name).down.rateBps,
      unit: 'bit/s of IP packets',
    },
    profiles: [name],
    congestionControl,
    shareOfLinkRate: round(median / down.rateBps, 3),
    perSeed: runs.map((r) => Math.round(r.goodputBps)),
    // The queue the sender built: its mean smoothed RTT over the profile's mean round trip.
    meanSrttMs: srtts.length > 0 ? round(summarize(srtts).median, 4) : null,
    baseRttMs,
    senderLossRate: runs.map((r) => round(r.sender.packetsLost / Math.max(1, r.sender.packetsSent), 3)),
    queueDrops: runs.map((r) => r.queueDrops),
    violations: violations(runs),
    cpuSeconds,
  });
}

function aggregateRecords(options: WanSimOptions, singles: Map<string, number>): BenchResult[] {
  return AGGREGATE_PAIRS.map((providers) => {
    for (const name of providers)
      if (!singles.has(name)) singles.set(name, goodputOf(options, [name], 'failover').median);
    progress(`wan-sim: aggregate, ${providers.join('+')}, ${options.bulkSeconds} s × ${options.seeds} seeds`);
    const { median, runs, cpuSeconds } = goodputOf(options, providers, 'aggregate');
    const faster = Math.max(...providers.map((name) => singles.get(name) as number));
    return result({
      name: 'wan-sim-aggregate-goodput',
      value: Math.round(median),
      unit: 'bit/s (median, server → client)',
      baseline: { name: 'faster-single-path-goodput', value: Math.round(faster), unit: 'bit/s' },
      profiles: providers,
      shareOfLinkRates: round(
        median / providers.reduce((sum, name) => sum + pathProfile(name).down.rateBps, 0),
        3,
      ),
      perSeed: runs.map((r) => Math.round(r.goodputBps)),
      // How the scheduler spread the load (UDP payload bytes the sender put on each provider).
      senderBytesByProvider: runs.map((r) => r.senderBytesByProvider),
      // Against maxSessionBuffer: what one session buffered at most, in any sample.
      peakSessionBufferedBytes: Math.max(...runs.map((r) => r.peakSessionBuffered)),
      violations: violations(runs),
      cpuSeconds,
    });
  });
}

export async function run(args: string[]): Promise<object> {
  const options = parse(args);
  const wanted = (kind: Kind) => options.only === undefined || options.only === kind;
  const started = process.cpuUsage();
  const singles = new Map<string, number>();
  const records: BenchResult[] = [];
  if (wanted('path-changes')) records.push(...pathChangeRecords(options));
  if (wanted('blackhole')) records.push(...blackholeRecords(options));
  if (wanted('goodput')) records.push(...goodputRecords(options, singles));
  if (wanted('aggregate')) records.push(...aggregateRecords(options, singles));
  return {
    name: 'wan-sim',
    records,
    options,
    cpuSeconds: round((process.cpuUsage(started).user + process.cpuUsage(started).system) / 1e6, 3),
    system: systemInfo(),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await run(process.argv.slice(2)), null, 2));
}
