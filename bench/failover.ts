/**
 * `npm run bench -- failover [--runs N] [--bytes N] [--rate BYTES_PER_S]`: in the real-network lab
 * (lab/lab.sh, root only), the failover gap when the active provider is silently blackholed
 * (nft drop, both directions) mid-way through a paced client→server upload: the longest stretch
 * from the fault without newly delivered in-order bytes at the receiving application. Braid with
 * default settings (testing/agents/failover-client.ts / failover-server.ts) against Linux MPTCP in the
 * same lab and the same run: a plain Node TCP pair under `mptcpize run`, with the in-kernel path
 * manager set up as bench/lib/mptcp-lab.ts does, so the connection has two subflows before the fault.
 * Runs alternate Braid / MPTCP so machine load falls on both alike.
 * Braid runs with defaults: server and client bind every interface (discovered, both
 * families). BRAID_BENCH_LOCALS overrides the client's local set (e.g. `all:v4`, or
 * `192.0.2.10,198.51.100.10` for the fixed set used before interface discovery).
 */
import { Lab, type LabLink } from '../src/cli/demo/lab.js';
import type { LabProcess, Message } from '../src/cli/demo/lab-process.js';
import { round, summarize } from '../testing/harness/stats.js';
import { type LabRunRecord, labRun, type StartHelper } from './lib/lab-run.js';
import { configureMptcp, labBenchUnavailable, linkOf, subflowsTo, waitForSubflows } from './lib/mptcp-lab.js';
import { result } from './lib/result.js';
import { progress, systemInfo } from './lib/system.js';

const DEFAULT_RUNS = 5;
/** 8 MiB at 4 MiB/s: a 2 s transfer whose fault (at a quarter) leaves 1.5 s of data after it. */
const DEFAULT_BYTES = 8 * 1024 * 1024;
const DEFAULT_RATE = 4 * 1024 * 1024;
const START_TIMEOUT_MS = 15_000;
const TRANSFER_TIMEOUT_MS = 20_000;
const SUBFLOW_WAIT_MS = 3000;
const TARGET_RATIO = 0.25;
const TARGET_BRAID_MEDIAN_MS = 300;

const BRAID_SERVER = 'testing/agents/failover-server.ts';
const BRAID_CLIENT = 'testing/agents/failover-client.ts';
const TCP_RECEIVER = 'bench/lab-mptcp/tcp-receiver.ts';
const TCP_SENDER = 'bench/lab-mptcp/tcp-sender.ts';

interface Options {
  runs: number;
  bytes: number;
  rate: number;
}

export interface RunRecord extends LabRunRecord {
  /** The provider link blackholed: the one the active path (Braid) / first subflow (MPTCP) used. */
  link?: LabLink;
  gapMs?: number;
  /** The same gap counted from the start of the lab command that applied the fault. */
  gapFromFaultCommandStartMs?: number;
  faultCommandMs?: number;
  transferSeconds?: number;
  intact?: boolean;
}

const wallNow = (): number => performance.timeOrigin + performance.now();
function parseOptions(args: string[]): Options {
  const options: Options = { runs: DEFAULT_RUNS, bytes: DEFAULT_BYTES, rate: DEFAULT_RATE };
  for (let i = 0; i < args.length; i += 2) {
    const value = Number(args[i + 1]);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`bad value for ${args[i]}: ${args[i + 1]}`);
    if (args[i] === '--runs') options.runs = value;
    else if (args[i] === '--bytes') options.bytes = value;
    else if (args[i] === '--rate') options.rate = value;
    else throw new Error(`unknown option ${args[i]} (--runs, --bytes, --rate)`);
  }
  return options;
}

/**
 * Applies the blackhole once the sender says a quarter is written, tells the receiver when,
 * and collects the receiver's gap and the integrity check.
 */
export async function faultAndMeasure(
  lab: Lab,
  link: LabLink,
  sender: LabProcess,
  receiver: LabProcess,
  record: RunRecord,
  timeoutMs = TRANSFER_TIMEOUT_MS,
): Promise<void> {
  await sender.next('midway', timeoutMs);
  const faultStart = wallNow();
  await lab.blackhole(link, 'both');
  // The fault takes effect somewhere inside the lab command; its end is the conservative instant.
  const faultEnd = wallNow();
  receiver.send({ faultStart, faultEnd });
  const [sent, received] = await Promise.all([
    sender.next('done', timeoutMs),
    receiver.next('received', timeoutMs),
  ]);
  record.gapMs = round(Number(received.gapMs));
  record.gapFromFaultCommandStartMs = round(Number(received.gapFromStartMs));
  record.faultCommandMs = round(faultEnd - faultStart);
  record.transferSeconds = round(Number(sent.seconds));
  record.intact = received.bytes === sent.bytes && received.sha256 === sent.sha256;
  if (!record.intact) throw new Error(`data mismatch: sent ${sent.bytes} B, received ${received.bytes} B`);
}

async function braidRun(lab: Lab, options: Options, start: StartHelper, record: RunRecord): Promise<void> {
  const { server1 } = lab.addresses;
  const node = [process.execPath, '--import', 'tsx'];
  // Defaults throughout: the server on every interface, the client on every interface (both
  // families, discovered and watched), default transport settings.
  const server = start('braid server', 'server', [...node, BRAID_SERVER, 'all']);
  const listening = await server.next('listening', START_TIMEOUT_MS);
  const client = start('braid client', 'client', [
    ...node,
    BRAID_CLIENT,
    server1.v4,
    String(listening.port),
    String(listening.key),
    process.env.BRAID_BENCH_LOCALS ?? 'all',
    String(options.bytes),
    String(options.rate),
    'up',
  ]);
  const ready = await client.next('ready', START_TIMEOUT_MS);
  const active = ready.active as { local: string; remote: string } | undefined;
  const standby = ready.standby as { local: string; remote: string } | undefined;
  record.activePath = active && `${active.local}->${active.remote}`;
  record.standbyPath = standby ? `${standby.local}->${standby.remote}` : null;
  const link = linkOf(lab, active?.local);
  if (!link) throw new Error(`no active path on a client provider: ${JSON.stringify(ready)}`);
  record.link = link;
  await faultAndMeasure(lab, link, client, server, record);
  const moved = client.messages.find(
    (m: Message) => m.event === 'path' && m.state === 'active' && m.local !== active?.local,
  );
  record.movedTo = moved ? String(moved.local) : null;
}

async function mptcpRun(lab: Lab, options: Options, start: StartHelper, record: RunRecord): Promise<void> {
  const node = ['mptcpize', 'run', process.execPath, '--import', 'tsx'];
  const receiver = start('mptcp receiver', 'server', [...node, TCP_RECEIVER, 'gap']);
  const listening = await receiver.next('listening', START_TIMEOUT_MS);
  const port = Number(listening.port);
  const sender = start('mptcp sender', 'client', [
    ...node,
    TCP_SENDER,
    lab.addresses.server1.v4,
    String(port),
    'paced',
    String(options.bytes),
    String(options.rate),
  ]);
  const connected = await sender.next('connected', START_TIMEOUT_MS);
  await waitForSubflows(lab, port, SUBFLOW_WAIT_MS);
  sender.send({ event: 'go' });
  // Checked again at the cue, just before the fault: these are the subflows the fault meets.
  await sender.next('midway', TRANSFER_TIMEOUT_MS);
  const beforeFault = await subflowsTo(lab, port);
  record.subflowsBeforeFault = beforeFault.length;
  record.subflows = beforeFault.map((s) => `${s.local}->${s.remote}`);
  if (beforeFault.length === 0) throw new Error('the sender socket is not MPTCP (no tcp-ulp-mptcp subflow)');
  const link = linkOf(lab, String(connected.local));
  if (!link) throw new Error(`first subflow not on a client provider: ${String(connected.local)}`);
  record.link = link;
  await faultAndMeasure(lab, link, sender, receiver, record);
}

function measure(
  lab: Lab,
  label: string,
  body: (start: StartHelper, record: RunRecord) => Promise<void>,
  run: number,
): Promise<RunRecord> {
  return labRun(lab, label, { run } as RunRecord, body, {
    describe: (r) => `gap ${r.gapMs} ms (provider ${r.link})`,
    restore: () => lab.heal(),
  });
}

function gaps(records: RunRecord[]): number[] {
  return records.filter((r) => r.error === undefined && r.gapMs !== undefined).map((r) => r.gapMs!);
}

export async function run(args: string[]): Promise<object> {
  const options = parseOptions(args);
  const unavailable = labBenchUnavailable();
  if (unavailable !== undefined) {
    progress(`skipped: the failover bench ${unavailable}`);
    return { name: 'failover', skipped: true, reason: unavailable };
  }

  progress(`lab up; ${options.runs} runs each of Braid and MPTCP, ${options.bytes} B at ${options.rate} B/s`);
  const lab = await Lab.up();
  const braid: RunRecord[] = [];
  const mptcp: RunRecord[] = [];
  let mptcpConfig: Record<string, string>;
  try {
    mptcpConfig = await configureMptcp(lab);
    for (let i = 1; i <= options.runs; i++) {
      braid.push(await measure(lab, 'braid', (s, r) => braidRun(lab, options, s, r), i));
      mptcp.push(await measure(lab, 'mptcp', (s, r) => mptcpRun(lab, options, s, r), i));
    }
  } finally {
    await lab.down();
  }

  const braidGaps = summarize(gaps(braid));
  const mptcpGaps = summarize(gaps(mptcp));
  if (braidGaps.count === 0 || mptcpGaps.count === 0) {
    const errors = [...braid, ...mptcp].map((r) => r.error).filter(Boolean);
    throw new Error(`no successful ${braidGaps.count === 0 ? 'Braid' : 'MPTCP'} run: ${errors.join('; ')}`);
  }
  const ratio = round(braidGaps.median / mptcpGaps.median);
  const twoSubflowRuns = mptcp.filter((r) => Number(r.subflowsBeforeFault) >= 2).length;
  return result({
    name: 'failover gap, active provider silently blackholed (median)',
    value: round(braidGaps.median),
    unit: 'ms',
    baseline: {
      name: 'Linux MPTCP, two subflows, same fault (median)',
      value: round(mptcpGaps.median),
      unit: 'ms',
    },
    ratio,
    braid: {
      medianMs: round(braidGaps.median),
      worstMs: round(braidGaps.max),
      successfulRuns: braidGaps.count,
      runs: braid,
    },
    mptcp: {
      medianMs: round(mptcpGaps.median),
      worstMs: round(mptcpGaps.max),
      successfulRuns: mptcpGaps.count,
      runsWithTwoOrMoreSubflowsBeforeFault: twoSubflowRuns,
      pathManager: mptcpConfig,
      runs: mptcp,
    },
    targets: {
      ratioAtMost: TARGET_RATIO,
      ratioMet: ratio <= TARGET_RATIO,
      braidMedianBelowMs: TARGET_BRAID_MEDIAN_MS,
      braidMedianMet: braidGaps.median < TARGET_BRAID_MEDIAN_MS,
    },
    method: {
      transferBytes: options.bytes,
      rateBytesPerSecond: options.rate,
      fault: 'nft drop both directions on the active client provider link, at a quarter of the transfer',
      gap: 'longest stretch after the fault without new in-order bytes delivered to the receiving application, the first one counted from the end of the lab command that applied the fault',
    },
    system: systemInfo(),
  });
}
