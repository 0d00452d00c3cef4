/**
 * `npm run bench -- wan [--quick] [--runs N] [--spurious-seconds S] [--idle-seconds S]
 * [--outage-ms MS] [--cases a,b,...] [--congestion-control cubic,bbr]`: Braid's headline figures on WAN path profiles
 * (src/cli/demo/path-profiles.ts) in the netns lab with its impairment element (docs/lab.md),
 * each case beside a baseline measured in the same run on the same impaired links. One JSON
 * record per case, profile names in it:
 * - `failover`: silent blackhole (both directions) of the active provider mid-transfer, for
 *   fiber+lte, lte+wifi-bad and cable+satellite-geo, each profile order (which one carries the
 *   session first) and each transfer direction; median gap against the bound
 *   3 × srtt(active) + rtt(standby) + 50 ms (profile RTTs, queueing aside) and against Linux
 *   MPTCP with two subflows in the same direction (for downloads the MPTCP server end sends);
 * - `spurious`: no fault, bulk and interactive (100 B every 50 ms) on lte+wifi-bad and on
 *   wifi-bad alone; active-path changes counted (target zero); no baseline, nothing failed;
 * - `goodput`: single path per profile, Braid against Linux TCP (CUBIC) on the same link, one
 *   record per Braid congestion controller of `--congestion-control` (default cubic and bbr);
 * - `aggregate`: fiber+lte and cable+lte, share of the sum of the link rates, MPTCP beside it,
 *   and the faster link's single-path goodput of the same run (per controller, as goodput);
 * - `resume`: both links (lte) down for the outage, time from link-up to data, TCP beside it;
 * - `handover`: the client's Wi-Fi (wifi-bad, link a) address disappears and an LTE (link b)
 *   address appears 1 s later; gap from the last byte over Wi-Fi to the first over LTE;
 * - `keepalive`: an idle session with one open stream, packets and bytes per hour on the
 *   client's provider links, beside Mosh (3 s heartbeat) and WireGuard (25 s keepalive) computed
 *   from their documented intervals; one record with the default settings and one with
 *   LOW_POWER_TRANSPORT at both ends (its figure needs an idle window of at least one 6-minute
 *   standby-check cycle, `--idle-seconds 360`).
 * Defaults are the issue's (10-minute spurious runs, 30 s outage, an idle hour measured over 5
 * minutes); `--quick` shortens every case to a smoke test (one run, seconds). Figures need a
 * quiet machine: the load average is in every record.
 */
import { spawnSync } from 'node:child_process';
import { Lab, type LabLink } from '../src/cli/demo/lab.js';
import type { LabProcess } from '../src/cli/demo/lab-process.js';
import { meanRttMs, type PathProfile, pathProfile } from '../src/cli/demo/path-profiles.js';
import { CONGESTION_CONTROL_KINDS } from '../src/paths/congestion/index.js';
import { round, summarize } from '../testing/harness/stats.js';
import {
  type Options as AggregateOptions,
  braidRun as aggregateBraidRun,
  mptcpRun as aggregateMptcpRun,
  type RunRecord as GoodputRecord,
} from './aggregate.js';
import { type RunRecord as FailoverRecord, faultAndMeasure } from './failover.js';
import { type LabRunRecord, labRun, type StartHelper } from './lib/lab-run.js';
import { configureMptcp, hasCommand, labBenchUnavailable, linkOf, waitForSubflows } from './lib/mptcp-lab.js';
import { progress, systemInfo } from './lib/system.js';
import {
  type Options as ResumeOptions,
  type RunRecord as ResumeRecord,
  braidRun as resumeBraidRun,
  tcpRun as resumeTcpRun,
} from './resume.js';

const NODE = [process.execPath, '--import', 'tsx'];
const BRAID_SERVER = 'testing/agents/failover-server.ts';
const BRAID_CLIENT = 'testing/agents/failover-client.ts';
const SESSION_CLIENT = 'bench/lab-wan/session-client.ts';
const TCP_RECEIVER = 'bench/lab-mptcp/tcp-receiver.ts';
const TCP_SENDER = 'bench/lab-mptcp/tcp-sender.ts';
const START_TIMEOUT_MS = 20_000;
const SUBFLOW_WAIT_MS = 5000;
const FAILOVER_SLACK_MS = 50;
/** A lossy standby can make the rest of a failover transfer slow: the gap is what counts. */
const TRANSFER_TIMEOUT_MS = 120_000;
const INTERACTIVE_PACKETS_PER_HOUR = 3600 / 0.05;

const FAILOVER_PAIRS: [string, string][] = [
  ['fiber', 'lte'],
  ['lte', 'wifi-bad'],
  ['cable', 'satellite-geo'],
];
const GOODPUT_PROFILES = ['fiber', 'cable', 'lte', 'wifi-bad', 'satellite-geo', 'intercontinental'];
const AGGREGATE_PAIRS: [string, string][] = [
  ['fiber', 'lte'],
  ['cable', 'lte'],
];
const CASES = ['failover', 'spurious', 'goodput', 'aggregate', 'resume', 'handover', 'keepalive'] as const;
type CaseName = (typeof CASES)[number];

interface Options {
  quick: boolean;
  runs: number;
  spuriousSeconds: number;
  idleSeconds: number;
  outageMs: number;
  goodputSeconds: number;
  cases: CaseName[];
  /** Braid's congestion controllers measured by goodput and aggregate, one record each. */
  congestionControls: string[];
}

function parseOptions(args: string[]): Options {
  const quick = args.includes('--quick');
  const options: Options = {
    quick,
    runs: quick ? 1 : 5,
    spuriousSeconds: quick ? 10 : 600,
    idleSeconds: quick ? 20 : 300,
    outageMs: quick ? 6000 : 30_000,
    goodputSeconds: quick ? 5 : 12,
    cases: [...CASES],
    congestionControls: ['cubic', 'bbr'],
  };
  const numbers: Record<string, 'runs' | 'spuriousSeconds' | 'idleSeconds' | 'outageMs'> = {
    '--runs': 'runs',
    '--spurious-seconds': 'spuriousSeconds',
    '--idle-seconds': 'idleSeconds',
    '--outage-ms': 'outageMs',
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--quick') continue;
    if (arg === '--cases') {
      const names = (args[++i] ?? '').split(',');
      for (const name of names)
        if (!CASES.includes(name as CaseName))
          throw new Error(`unknown case '${name}' (${CASES.join(', ')})`);
      options.cases = names as CaseName[];
      continue;
    }
    if (arg === '--congestion-control') {
      const names = (args[++i] ?? '').split(',');
      for (const name of names)
        if (!(CONGESTION_CONTROL_KINDS as readonly string[]).includes(name))
          throw new Error(`unknown congestion controller '${name}' (${CONGESTION_CONTROL_KINDS.join(', ')})`);
      options.congestionControls = names;
      continue;
    }
    const key = numbers[arg];
    const value = Number(args[++i]);
    if (!key)
      throw new Error(
        `unknown option ${arg} (--quick, --cases, --congestion-control, ${Object.keys(numbers).join(', ')})`,
      );
    if (!Number.isInteger(value) || value <= 0) throw new Error(`bad value for ${arg}: ${args[i]}`);
    options[key] = value;
  }
  if (options.outageMs <= 4000)
    throw new Error('--outage-ms must exceed 4000 (idle 3 s + 1 s), or the session never suspends');
  return options;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const medianOf = (values: number[]) => (values.length > 0 ? round(summarize(values).median) : null);
const ok = <R extends LabRunRecord>(records: R[]) => records.filter((r) => r.error === undefined);

/** One record per case, with what every record carries. */
function record(name: CaseName, profiles: Record<string, string>, body: object): object {
  return { case: name, profiles, ...body, system: systemInfo() };
}

async function withProfiles(lab: Lab, a: string, b: string | null): Promise<void> {
  await lab.clearImpairment();
  await lab.heal();
  await lab.applyProfile('a', a);
  // A link without a profile of its own is taken out of the way, so the session uses `a` alone.
  if (b) await lab.applyProfile('b', b);
  else await lab.impair('b', 'both', { loss: 1 });
}

/** The failover bound of the issue, from the profiles' mean round trips (queueing aside). */
const failoverBoundMs = (active: PathProfile, standby: PathProfile) =>
  round(3 * meanRttMs(active) + meanRttMs(standby) + FAILOVER_SLACK_MS);

// --- failover -------------------------------------------------------------------------------------

async function braidFailover(
  lab: Lab,
  start: StartHelper,
  record: FailoverRecord,
  direction: 'up' | 'down',
  transfer: { bytes: number; rate: number },
): Promise<void> {
  const { clientA, clientB, server1 } = lab.addresses;
  const server = start('braid server', 'server', [
    ...NODE,
    BRAID_SERVER,
    '--bytes',
    String(transfer.bytes),
    '--rate',
    String(transfer.rate),
    'all',
  ]);
  const listening = await server.next('listening', START_TIMEOUT_MS);
  const client = start('braid client', 'client', [
    ...NODE,
    BRAID_CLIENT,
    server1.v4,
    String(listening.port),
    String(listening.key),
    `${clientA.v4},${clientB.v4}`,
    String(transfer.bytes),
    String(transfer.rate),
    direction,
  ]);
  const ready = await client.next('ready', START_TIMEOUT_MS);
  const active = ready.active as { local: string } | undefined;
  const link = linkOf(lab, active?.local);
  if (!link) throw new Error(`no active path on a client provider: ${JSON.stringify(ready)}`);
  record.link = link;
  const [sender, receiver] = direction === 'up' ? [client, server] : [server, client];
  await faultAndMeasure(lab, link, sender, receiver, record, TRANSFER_TIMEOUT_MS);
}

async function mptcpFailover(
  lab: Lab,
  start: StartHelper,
  record: FailoverRecord,
  direction: 'up' | 'down',
  transfer: { bytes: number; rate: number },
): Promise<void> {
  const mptcpize = ['mptcpize', 'run', ...NODE];
  const paced = ['paced', String(transfer.bytes), String(transfer.rate)];
  // The client always dials (its second address joins as a subflow); for a download the server
  // end listens and sends, the client end receives.
  let sender: LabProcess;
  let receiver: LabProcess;
  let dialler: LabProcess;
  let port: number;
  if (direction === 'up') {
    receiver = start('mptcp receiver', 'server', [...mptcpize, TCP_RECEIVER, 'gap']);
    port = Number((await receiver.next('listening', START_TIMEOUT_MS)).port);
    sender = start('mptcp sender', 'client', [
      ...mptcpize,
      TCP_SENDER,
      lab.addresses.server1.v4,
      String(port),
      ...paced,
    ]);
    dialler = sender;
  } else {
    sender = start('mptcp sender', 'server', [...mptcpize, TCP_SENDER, 'listen', ...paced]);
    port = Number((await sender.next('listening', START_TIMEOUT_MS)).port);
    receiver = start('mptcp receiver', 'client', [
      ...mptcpize,
      TCP_RECEIVER,
      'connect',
      lab.addresses.server1.v4,
      String(port),
      'gap',
    ]);
    dialler = receiver;
  }
  const connected = await dialler.next('connected', START_TIMEOUT_MS);
  await sender.next('connected', START_TIMEOUT_MS);
  const subflows = await waitForSubflows(lab, port, SUBFLOW_WAIT_MS);
  record.subflowsBeforeFault = subflows.length;
  if (subflows.length < 2) throw new Error(`MPTCP has ${subflows.length} subflow(s), not 2`);
  sender.send({ event: 'go' });
  const link = linkOf(lab, String(connected.local));
  if (!link) throw new Error(`first subflow not on a client provider: ${String(connected.local)}`);
  record.link = link;
  await faultAndMeasure(lab, link, sender, receiver, record, TRANSFER_TIMEOUT_MS);
}

async function failoverCases(lab: Lab, options: Options): Promise<object[]> {
  const records: object[] = [];
  for (const [first, second] of FAILOVER_PAIRS) {
    // Each order: the profile on link a usually carries the session first.
    for (const [a, b] of [
      [first, second],
      [second, first],
    ] as const) {
      const slowest = Math.min(pathProfile(a).up.rateBps, pathProfile(b).up.rateBps);
      // A quarter of the slower link's rate, for four seconds: the fault lands after one.
      const rate = Math.round(Math.min(slowest / 8 / 4, 2 * 1024 * 1024));
      const transfer = { bytes: rate * 4, rate };
      for (const direction of ['up', 'down'] as const) {
        const braid: FailoverRecord[] = [];
        const mptcp: FailoverRecord[] = [];
        for (let run = 1; run <= options.runs; run++) {
          await withProfiles(lab, a, b);
          braid.push(
            await labRun(
              lab,
              `failover ${a}+${b} ${direction} braid`,
              { run } as FailoverRecord,
              (s, r) => braidFailover(lab, s, r, direction, transfer),
              { describe: (r) => `gap ${r.gapMs} ms on ${r.link}`, restore: () => lab.heal() },
            ),
          );
          mptcp.push(
            await labRun(
              lab,
              `failover ${a}+${b} ${direction} mptcp`,
              { run } as FailoverRecord,
              (s, r) => mptcpFailover(lab, s, r, direction, transfer),
              { describe: (r) => `gap ${r.gapMs} ms on ${r.link}`, restore: () => lab.heal() },
            ),
          );
        }
        const profileOf = (link: unknown) => (link === 'a' ? a : link === 'b' ? b : undefined);
        const activeProfile = profileOf(ok(braid)[0]?.link);
        const standbyProfile = activeProfile === a ? b : a;
        const boundMs = activeProfile
          ? failoverBoundMs(pathProfile(activeProfile), pathProfile(standbyProfile))
          : null;
        const braidMedian = medianOf(ok(braid).map((r) => r.gapMs!));
        const mptcpMedian = medianOf(ok(mptcp).map((r) => r.gapMs!));
        records.push(
          record(
            'failover',
            { a, b },
            {
              name: `failover gap after a silent blackhole of the active path, ${a}+${b}, ${direction}load (median)`,
              direction,
              activeProfile: activeProfile ?? null,
              standbyProfile: activeProfile ? standbyProfile : null,
              value: braidMedian,
              unit: 'ms',
              boundMs,
              withinBound: braidMedian !== null && boundMs !== null ? braidMedian <= boundMs : null,
              baseline: {
                name: 'Linux MPTCP, two subflows, same fault and direction (median)',
                value: mptcpMedian,
                unit: 'ms',
              },
              ratio: braidMedian !== null && mptcpMedian ? round(braidMedian / mptcpMedian) : null,
              transfer,
              braid,
              mptcp,
            },
          ),
        );
      }
    }
  }
  return records;
}

// --- spurious failovers ----------------------------------------------------------------------------

async function sessionRun(
  lab: Lab,
  start: StartHelper,
  locals: string[],
  mode: 'bulk' | 'interactive' | 'idle',
  seconds: number,
  rate = 0,
): Promise<{ client: LabProcess; done: Record<string, unknown> }> {
  const server = start('braid server', 'server', [...NODE, BRAID_SERVER, 'all']);
  const listening = await server.next('listening', START_TIMEOUT_MS);
  const client = start('braid client', 'client', [
    ...NODE,
    SESSION_CLIENT,
    lab.addresses.server1.v4,
    String(listening.port),
    String(listening.key),
    locals.join(','),
    mode,
    String(seconds),
    ...(rate > 0 ? [String(rate)] : []),
  ]);
  await client.next('ready', START_TIMEOUT_MS);
  const done = await client.next('done', (seconds + 60) * 1000);
  const received = await server.next('received', 30_000);
  if (received.sha256 !== done.sha256)
    throw new Error(`data mismatch: ${done.bytes} B sent, ${received.bytes} B received`);
  return { client, done };
}

async function spuriousCases(lab: Lab, options: Options): Promise<object[]> {
  const records: object[] = [];
  const { clientA, clientB } = lab.addresses;
  for (const [a, b] of [
    ['lte', 'wifi-bad'],
    ['wifi-bad', null],
  ] as const) {
    for (const mode of ['bulk', 'interactive'] as const) {
      await withProfiles(lab, a, b);
      const locals = b ? [clientA.v4, clientB.v4] : [clientA.v4];
      // Bulk at a quarter of the slower link: loaded, not saturated, so queues stay short.
      const rate = Math.round(Math.min(pathProfile(a).up.rateBps, pathProfile(b ?? a).up.rateBps) / 8 / 4);
      const run = await labRun(
        lab,
        `spurious ${a}${b ? `+${b}` : ''} ${mode}`,
        { run: 1 } as LabRunRecord,
        async (start, r) => {
          const { client, done } = await sessionRun(lab, start, locals, mode, options.spuriousSeconds, rate);
          r.switches = done.switches;
          r.pathEvents = client.messages.filter((m) => m.event === 'path').length;
          r.bytes = done.bytes;
        },
        { describe: (r) => `${r.switches} active-path changes`, restore: () => sleep(300) },
      );
      records.push(
        record('spurious', b ? { a, b } : { a }, {
          name: `spurious failovers, no fault, ${mode}, ${options.spuriousSeconds} s`,
          traffic: mode === 'bulk' ? `${rate} B/s` : '100 B every 50 ms',
          value: run.switches ?? null,
          unit: 'active-path changes',
          target: 0,
          baseline: { name: 'none: nothing failed, so any failover is spurious', value: 0, unit: 'changes' },
          seconds: options.spuriousSeconds,
          run,
        }),
      );
    }
  }
  return records;
}

// --- goodput and aggregate -----------------------------------------------------------------------

async function tcpGoodput(lab: Lab, options: AggregateOptions, start: StartHelper, record: GoodputRecord) {
  const measuredSeconds = options.seconds - options.warmup - 0.5;
  const receiver = start('tcp receiver', 'server', [
    ...NODE,
    TCP_RECEIVER,
    'goodput',
    String(options.warmup),
    String(measuredSeconds),
  ]);
  const port = Number((await receiver.next('listening', START_TIMEOUT_MS)).port);
  // No local address: the client's main table sends it over link a (metric 100).
  const sender = start('tcp sender', 'client', [
    ...NODE,
    TCP_SENDER,
    lab.addresses.server1.v4,
    String(port),
    'timed',
    String(options.seconds),
  ]);
  const connected = await sender.next('connected', START_TIMEOUT_MS);
  if (linkOf(lab, String(connected.local)) !== 'a')
    throw new Error(`TCP left over ${String(connected.local)}`);
  sender.send({ event: 'go' });
  const timeout = (options.seconds + 30) * 1000;
  const [sent, received] = await Promise.all([
    sender.next('done', timeout),
    receiver.next('received', timeout),
  ]);
  if (received.sha256 !== sent.sha256) throw new Error('TCP data mismatch');
  record.goodputMbps = round(Number(received.goodputMbps));
}

const goodputOptions = (options: Options, profile: PathProfile): AggregateOptions => ({
  runs: options.runs,
  // A long round trip needs longer to leave slow start behind.
  seconds: options.goodputSeconds + Math.ceil(meanRttMs(profile) / 100),
  warmup: 2 + Math.ceil(meanRttMs(profile) / 200),
  rateA: 0,
  rateB: 0,
  // A lossy or long path can take a while to deliver the sender's buffer once it stops.
  drainSeconds: 120,
});

async function goodputCases(lab: Lab, options: Options, singlePath: Map<string, number>): Promise<object[]> {
  const records: object[] = [];
  const tcpCongestionControl = (
    await lab.exec('client', ['sysctl', '-n', 'net.ipv4.tcp_congestion_control'])
  ).stdout.trim();
  for (const name of GOODPUT_PROFILES) {
    const profile = pathProfile(name);
    const aggregateOptions = goodputOptions(options, profile);
    const braid = new Map<string, GoodputRecord[]>(options.congestionControls.map((cc) => [cc, []]));
    const tcp: GoodputRecord[] = [];
    for (let run = 1; run <= options.runs; run++) {
      await withProfiles(lab, name, null);
      const describe = (r: GoodputRecord) => `${r.goodputMbps} Mbit/s`;
      for (const [cc, runs] of braid)
        runs.push(
          await labRun(
            lab,
            `goodput ${name} braid (${cc})`,
            { run } as GoodputRecord,
            (s, r) =>
              aggregateBraidRun(lab, aggregateOptions, s, r, [lab.addresses.clientA.v4], 'failover', cc),
            { describe, restore: () => sleep(300) },
          ),
        );
      tcp.push(
        await labRun(
          lab,
          `goodput ${name} tcp`,
          { run } as GoodputRecord,
          (s, r) => tcpGoodput(lab, aggregateOptions, s, r),
          { describe, restore: () => sleep(300) },
        ),
      );
    }
    const tcpMedian = medianOf(ok(tcp).map((r) => r.goodputMbps!));
    const linkMbps = profile.up.rateBps / 1e6;
    for (const [cc, runs] of braid) {
      const braidMedian = medianOf(ok(runs).map((r) => r.goodputMbps!));
      if (braidMedian !== null) singlePath.set(`${name}/${cc}`, braidMedian);
      records.push(
        record(
          'goodput',
          { a: name },
          {
            name: `single-path goodput on ${name}, Braid with ${cc} (median)`,
            congestionControl: cc,
            value: braidMedian,
            unit: 'Mbit/s',
            shareOfLinkRate: braidMedian !== null ? round(braidMedian / linkMbps) : null,
            linkRateMbps: linkMbps,
            baseline: {
              name: `Linux TCP (${tcpCongestionControl}) on the same impaired link (median)`,
              value: tcpMedian,
              unit: 'Mbit/s',
            },
            ratio: braidMedian !== null && tcpMedian ? round(braidMedian / tcpMedian) : null,
            targetRatio: ['lte', 'wifi-bad'].includes(name) ? 1.0 : 0.9,
            seconds: aggregateOptions.seconds,
            warmupSeconds: aggregateOptions.warmup,
            braid: runs,
            tcp,
          },
        ),
      );
    }
  }
  return records;
}

async function aggregateCases(
  lab: Lab,
  options: Options,
  singlePath: Map<string, number>,
): Promise<object[]> {
  const records: object[] = [];
  for (const [a, b] of AGGREGATE_PAIRS) {
    const profileA = pathProfile(a);
    const profileB = pathProfile(b);
    const sumMbps = (profileA.up.rateBps + profileB.up.rateBps) / 1e6;
    const aggregateOptions = goodputOptions(
      options,
      meanRttMs(profileA) > meanRttMs(profileB) ? profileA : profileB,
    );
    const braid = new Map<string, GoodputRecord[]>(options.congestionControls.map((cc) => [cc, []]));
    const mptcp: GoodputRecord[] = [];
    for (let run = 1; run <= options.runs; run++) {
      await withProfiles(lab, a, b);
      const describe = (r: GoodputRecord) => `${r.goodputMbps} Mbit/s of ${sumMbps}`;
      for (const [cc, runs] of braid)
        runs.push(
          await labRun(
            lab,
            `aggregate ${a}+${b} braid (${cc})`,
            { run } as GoodputRecord,
            (s, r) =>
              aggregateBraidRun(
                lab,
                aggregateOptions,
                s,
                r,
                [lab.addresses.clientA.v4, lab.addresses.clientB.v4],
                'aggregate',
                cc,
              ),
            { describe, restore: () => sleep(300) },
          ),
        );
      mptcp.push(
        await labRun(
          lab,
          `aggregate ${a}+${b} mptcp`,
          { run } as GoodputRecord,
          (s, r) => aggregateMptcpRun(lab, aggregateOptions, s, r),
          { describe, restore: () => sleep(300) },
        ),
      );
    }
    const mptcpMedian = medianOf(ok(mptcp).map((r) => r.goodputMbps!));
    const faster = profileA.up.rateBps >= profileB.up.rateBps ? a : b;
    for (const [cc, runs] of braid) {
      const braidMedian = medianOf(ok(runs).map((r) => r.goodputMbps!));
      const fasterSinglePath = singlePath.get(`${faster}/${cc}`) ?? null;
      records.push(
        record(
          'aggregate',
          { a, b },
          {
            name: `aggregate goodput on ${a}+${b} as a share of the link-rate sum, Braid with ${cc} (median)`,
            congestionControl: cc,
            value: braidMedian !== null ? round(braidMedian / sumMbps) : null,
            unit: 'share of link-rate sum',
            goodputMbps: braidMedian,
            linkRateSumMbps: sumMbps,
            baseline: {
              name: 'Linux MPTCP, two subflows, same links (median share)',
              value: mptcpMedian !== null ? round(mptcpMedian / sumMbps) : null,
              unit: 'share of link-rate sum',
            },
            ratio: braidMedian !== null && mptcpMedian ? round(braidMedian / mptcpMedian) : null,
            fasterSinglePath: { profile: faster, congestionControl: cc, goodputMbps: fasterSinglePath },
            notBelowFasterSinglePath:
              braidMedian !== null && fasterSinglePath !== null ? braidMedian >= fasterSinglePath : null,
            targetShare: 0.85,
            braid: runs,
            mptcp,
          },
        ),
      );
    }
  }
  return records;
}

// --- resume, handover, keepalive ------------------------------------------------------------------

async function resumeCase(lab: Lab, options: Options): Promise<object> {
  const resumeOptions: ResumeOptions = {
    runs: options.runs,
    outage: options.outageMs,
    idle: 3000,
    bytes: 4 * 1024 * 1024,
    rate: 512 * 1024,
  };
  const braid: ResumeRecord[] = [];
  const tcp: ResumeRecord[] = [];
  const describe = (r: ResumeRecord) => `data ${r.dataFlowsAfterMs} ms after the links came back`;
  const restore = () => Promise.all([lab.linkUp('a'), lab.linkUp('b')]).then(() => undefined);
  for (let run = 1; run <= options.runs; run++) {
    await withProfiles(lab, 'lte', 'lte');
    braid.push(
      await labRun(
        lab,
        'resume lte braid',
        { run } as ResumeRecord,
        (s, r) => resumeBraidRun(lab, resumeOptions, s, r),
        {
          describe,
          restore,
        },
      ),
    );
    tcp.push(
      await labRun(
        lab,
        'resume lte tcp',
        { run } as ResumeRecord,
        (s, r) => resumeTcpRun(lab, resumeOptions, s, r),
        {
          describe,
          restore,
        },
      ),
    );
  }
  const braidMedian = medianOf(ok(braid).map((r) => r.dataFlowsAfterMs!));
  const tcpMedian = medianOf(ok(tcp).map((r) => r.dataFlowsAfterMs!));
  const lte = pathProfile('lte');
  return record(
    'resume',
    { a: 'lte', b: 'lte' },
    {
      name: `resume after a ${options.outageMs / 1000} s outage of both links on lte: link up → data (median)`,
      value: braidMedian,
      unit: 'ms',
      targetMs: round(meanRttMs(lte) + 50),
      baseline: { name: 'Linux TCP, same outage (median)', value: tcpMedian, unit: 'ms' },
      ratio: braidMedian !== null && tcpMedian ? round(braidMedian / tcpMedian) : null,
      outageMs: options.outageMs,
      braid,
      tcp,
    },
  );
}

async function handoverCase(lab: Lab, options: Options): Promise<object> {
  const runs: FailoverRecord[] = [];
  const transfer = { bytes: 2 * 1024 * 1024, rate: 512 * 1024 };
  for (let run = 1; run <= options.runs; run++) {
    await withProfiles(lab, 'wifi-bad', 'lte');
    // Only the Wi-Fi address exists when the session starts.
    await lab.removeAddress('b', 'v4');
    runs.push(
      await labRun(
        lab,
        'handover wifi-bad → lte',
        { run } as FailoverRecord,
        async (start, record) => {
          const { server1 } = lab.addresses;
          const server = start('braid server', 'server', [...NODE, BRAID_SERVER, 'all']);
          const listening = await server.next('listening', START_TIMEOUT_MS);
          const client = start('braid client', 'client', [
            ...NODE,
            BRAID_CLIENT,
            server1.v4,
            String(listening.port),
            String(listening.key),
            'all:v4',
            String(transfer.bytes),
            String(transfer.rate),
            'up',
          ]);
          await client.next('ready', START_TIMEOUT_MS);
          await client.next('midway', 30_000);
          const faultStart = performance.timeOrigin + performance.now();
          await lab.removeAddress('a', 'v4');
          const faultEnd = performance.timeOrigin + performance.now();
          server.send({ faultStart, faultEnd });
          await sleep(1000);
          await lab.addAddress('b', 'v4');
          const [sent, received] = await Promise.all([
            client.next('done', 60_000),
            server.next('received', 60_000),
          ]);
          record.gapMs = round(Number(received.gapMs));
          record.intact = received.sha256 === sent.sha256;
          if (!record.intact) throw new Error('data mismatch');
        },
        {
          describe: (r) => `gap ${r.gapMs} ms`,
          restore: async () => {
            // Back to both addresses, whatever state the run left.
            for (const link of ['a', 'b'] as LabLink[])
              await lab.addAddress(link, 'v4').catch(() => undefined);
          },
        },
      ),
    );
  }
  const median = medianOf(ok(runs).map((r) => r.gapMs!));
  return record(
    'handover',
    { a: 'wifi-bad', b: 'lte' },
    {
      name: 'Wi-Fi → LTE handover: the Wi-Fi address disappears, LTE appears 1 s later; gap to the first byte over LTE (median)',
      value: median,
      unit: 'ms',
      note: 'includes the 1 s before the LTE address exists',
      baseline: {
        name: 'none: a TCP connection does not survive its address going away',
        value: null,
        unit: 'ms',
      },
      ratio: null,
      transfer,
      runs,
    },
  );
}

async function keepaliveCase(lab: Lab, options: Options): Promise<object[]> {
  await withProfiles(lab, 'lte', 'lte');
  // Two counts. The link counters see every frame on the client's provider links, including the
  // kernel's own ARP and neighbour-discovery traffic, which a packet once a minute wakes up; the
  // nftables counters see only UDP, that is what Braid sends and receives. The baselines below
  // are UDP packets too, so the UDP count is the one compared.
  const table = await lab.exec('client', [
    'sh',
    '-c',
    [
      // A second run in the same lab starts from a fresh table, not a second set of rules.
      '{ nft delete table inet braid_idle_count 2>/dev/null || true; }',
      'nft add table inet braid_idle_count',
      'nft add counter inet braid_idle_count datagrams',
      "nft 'add chain inet braid_idle_count in { type filter hook input priority 0; policy accept; }'",
      "nft 'add chain inet braid_idle_count out { type filter hook output priority 0; policy accept; }'",
      'nft add rule inet braid_idle_count in iifname { pa, pb } meta l4proto udp counter name datagrams',
      'nft add rule inet braid_idle_count out oifname { pa, pb } meta l4proto udp counter name datagrams',
    ].join(' && '),
  ]);
  if (table.code !== 0) throw new Error(`keepalive: nft counters: ${table.stderr.trim()}`);
  const counters = async () => {
    const links = await lab.exec('client', [
      'sh',
      '-c',
      'for d in pa pb; do for c in tx_packets rx_packets tx_bytes rx_bytes; do cat /sys/class/net/$d/statistics/$c; done; done',
    ]);
    const v = links.stdout.trim().split('\n').map(Number);
    const udp = await lab.exec('client', [
      'nft',
      '-j',
      'list',
      'counter',
      'inet',
      'braid_idle_count',
      'datagrams',
    ]);
    let udpPackets = 0;
    let udpBytes = 0;
    for (const item of (
      JSON.parse(udp.stdout) as { nftables: { counter?: { packets: number; bytes: number } }[] }
    ).nftables) {
      udpPackets += item.counter?.packets ?? 0;
      udpBytes += item.counter?.bytes ?? 0;
    }
    return {
      packets: v[0]! + v[1]! + v[4]! + v[5]!,
      bytes: v[2]! + v[3]! + v[6]! + v[7]!,
      udpPackets,
      udpBytes,
    };
  };
  // Both ends on the same settings: LOW_POWER_TRANSPORT is meant for both (src/engine/config.ts).
  const idleRun = (lowPower: boolean) =>
    labRun(
      lab,
      lowPower ? 'keepalive idle, LOW_POWER_TRANSPORT' : 'keepalive idle',
      { run: 1 } as LabRunRecord,
      async (start, r) => {
        const flag = lowPower ? ['--low-power'] : [];
        const server = start('braid server', 'server', [...NODE, BRAID_SERVER, ...flag, 'all']);
        const listening = await server.next('listening', START_TIMEOUT_MS);
        const { clientA, clientB, server1 } = lab.addresses;
        const client = start('braid client', 'client', [
          ...NODE,
          SESSION_CLIENT,
          server1.v4,
          String(listening.port),
          String(listening.key),
          `${clientA.v4},${clientB.v4}`,
          'idle',
          String(options.idleSeconds + 1),
          ...flag,
        ]);
        await client.next('idle-start', START_TIMEOUT_MS);
        const before = await counters();
        const started = performance.now();
        await client.next('idle-end', (options.idleSeconds + 30) * 1000);
        const after = await counters();
        const hours = (performance.now() - started) / 3_600_000;
        r.packetsPerHour = round((after.udpPackets - before.udpPackets) / hours);
        // nftables counts IP bytes, like the baselines'.
        r.bytesPerHour = round((after.udpBytes - before.udpBytes) / hours);
        // Every frame on the links, the kernel's ARP and neighbour discovery included.
        r.linkFramesPerHour = round((after.packets - before.packets) / hours);
        r.measuredSeconds = round(hours * 3600);
        await client.next('done', 30_000);
      },
      { describe: (r) => `${r.packetsPerHour} packets/h`, restore: () => sleep(300) },
    );
  // Both directions, IPv4 + UDP headers: Mosh heartbeats each way every 3 s; WireGuard one
  // 32-byte keepalive message every 25 s (the peer sends nothing back to a keepalive).
  const mosh = { packetsPerHour: 2 * (3600 / 3), bytesPerHour: 2 * (3600 / 3) * (28 + 52) };
  const wireguard = { packetsPerHour: 3600 / 25, bytesPerHour: (3600 / 25) * (28 + 32) };
  const idleRecord = (settings: string, name: string, run: LabRunRecord, extra: object) =>
    record(
      'keepalive',
      { a: 'lte', b: 'lte' },
      {
        name,
        settings,
        value: (run.packetsPerHour as number | undefined) ?? null,
        unit: 'packets/h',
        bytesPerHour: run.bytesPerHour ?? null,
        baseline: {
          name: 'WireGuard, 25 s persistent keepalive (computed from the interval, not measured)',
          value: wireguard.packetsPerHour,
          unit: 'packets/h',
        },
        ratio:
          typeof run.packetsPerHour === 'number'
            ? round(run.packetsPerHour / wireguard.packetsPerHour)
            : null,
        wireguard,
        mosh: {
          ...mosh,
          note: 'Mosh 3 s heartbeat each way, about 52 bytes of payload (computed, not measured)',
        },
        ...extra,
        run,
      },
    );
  const defaults = await idleRun(false);
  const lowPower = await idleRun(true);
  return [
    idleRecord(
      'defaults',
      'idle cost of a session with one open stream and two paths, both directions, client links (per hour)',
      defaults,
      {
        interactiveForScale: { packetsPerHour: INTERACTIVE_PACKETS_PER_HOUR, note: 'one write every 50 ms' },
      },
    ),
    idleRecord(
      'LOW_POWER_TRANSPORT',
      'idle cost with LOW_POWER_TRANSPORT at both ends, one open stream and two paths, both directions, client links (per hour)',
      lowPower,
      {
        // A 60 s keepalive and a 6-minute standby check: a window under 6 minutes shows only part
        // of the cycle, so a short run (--quick) is a smoke test of the case, not its figure.
        note:
          options.idleSeconds < 360
            ? `measured over ${options.idleSeconds} s, under one 6-minute standby-check cycle: not a figure`
            : undefined,
        target: "at most WireGuard's 144 packets/h",
      },
    ),
  ];
}

export async function run(args: string[]): Promise<object> {
  const options = parseOptions(args);
  const unavailable = labBenchUnavailable();
  if (unavailable !== undefined) {
    progress(`skipped: the wan bench ${unavailable}`);
    return { name: 'wan', skipped: true, reason: unavailable };
  }
  if (!hasCommand('cc') && spawnSync('test', ['-x', 'build/impair']).status !== 0)
    return {
      name: 'wan',
      skipped: true,
      reason: 'no build/impair and no C compiler: run npm run build:native',
    };
  progress(
    `lab up with the impairment element; cases ${options.cases.join(', ')}${options.quick ? ' (quick)' : ''}`,
  );
  const lab = await Lab.up({ impair: true });
  const records: object[] = [];
  const singlePath = new Map<string, number>();
  try {
    const mptcp = await configureMptcp(lab);
    progress(`MPTCP path manager: ${JSON.stringify(mptcp)}`);
    for (const name of options.cases) {
      if (name === 'failover') records.push(...(await failoverCases(lab, options)));
      else if (name === 'spurious') records.push(...(await spuriousCases(lab, options)));
      else if (name === 'goodput') records.push(...(await goodputCases(lab, options, singlePath)));
      else if (name === 'aggregate') records.push(...(await aggregateCases(lab, options, singlePath)));
      else if (name === 'resume') records.push(await resumeCase(lab, options));
      else if (name === 'handover') records.push(await handoverCase(lab, options));
      else records.push(...(await keepaliveCase(lab, options)));
    }
  } finally {
    await lab.down();
  }
  return {
    name: 'wan',
    quick: options.quick,
    note: options.quick ? 'quick mode: a smoke test, not figures' : undefined,
    options,
    records,
  };
}
