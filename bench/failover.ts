/**
 * `npm run bench -- failover [--runs N] [--bytes N] [--rate BYTES_PER_S]`: in the real-network lab
 * (lab/lab.sh, root only), the failover gap when the active provider is silently blackholed
 * (nft drop, both directions) mid-way through a paced client→server upload: the longest stretch
 * from the fault without newly delivered in-order bytes at the receiving application. Braid with
 * default settings (test/lab/failover-client.ts / failover-server.ts) against Linux MPTCP in the
 * same lab and the same run: a plain Node TCP pair under `mptcpize run`, with the in-kernel path
 * manager set up per /work/shared/LAB-NOTES.md so the connection has two subflows before the fault.
 * Runs alternate Braid / MPTCP so machine load falls on both alike.
 * Braid runs with defaults: server and client bind every interface (discovered, both
 * families). BRAID_BENCH_LOCALS overrides the client's local set (e.g. `all:v4`, or
 * `192.0.2.10,198.51.100.10` for the fixed set used before interface discovery).
 */
import { spawnSync } from 'node:child_process';
import { Lab, type LabLink } from '../test/lab/lab.js';
import type { LabProcess, Message } from '../test/lab/lab-process.js';
import { labRun, type StartHelper } from './lib/lab-run.js';
import { result } from './lib/result.js';
import { round, summarize } from './lib/stats.js';
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

const BRAID_SERVER = 'test/lab/failover-server.ts';
const BRAID_CLIENT = 'test/lab/failover-client.ts';
const TCP_RECEIVER = 'bench/lab-failover/tcp-receiver.ts';
const TCP_SENDER = 'bench/lab-failover/tcp-sender.ts';

interface Options {
  runs: number;
  bytes: number;
  rate: number;
}

interface RunRecord {
  run: number;
  /** The provider link blackholed: the one the active path (Braid) / first subflow (MPTCP) used. */
  link?: LabLink;
  gapMs?: number;
  /** The same gap counted from the start of the lab command that applied the fault. */
  gapFromFaultCommandStartMs?: number;
  faultCommandMs?: number;
  transferSeconds?: number;
  intact?: boolean;
  error?: string;
  [detail: string]: unknown;
}

interface Subflow {
  local: string;
  remote: string;
}

const wallNow = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

async function mustExec(lab: Lab, ns: 'client' | 'server', command: string[]): Promise<string> {
  const out = await lab.exec(ns, command);
  if (out.code !== 0) throw new Error(`${ns}: ${command.join(' ')} failed: ${out.stderr.trim()}`);
  return out.stdout;
}

/** The in-kernel path manager set up per LAB-NOTES: server signals s2, client adds b as fullmesh. */
async function configureMptcp(lab: Lab): Promise<Record<string, string>> {
  const { clientB, server2 } = lab.addresses;
  for (const ns of ['client', 'server'] as const) {
    await mustExec(lab, ns, ['sysctl', '-q', '-w', 'net.mptcp.enabled=1']);
    await mustExec(lab, ns, ['ip', 'mptcp', 'limits', 'set', 'subflow', '4', 'add_addr_accepted', '4']);
  }
  await mustExec(lab, 'server', ['ip', 'mptcp', 'endpoint', 'add', server2.v4, 'dev', 's2', 'signal']);
  await mustExec(lab, 'client', [
    'ip',
    'mptcp',
    'endpoint',
    'add',
    clientB.v4,
    'dev',
    'pb',
    'subflow',
    'fullmesh',
  ]);
  const show = async (ns: 'client' | 'server') =>
    `${(await mustExec(lab, ns, ['ip', 'mptcp', 'limits', 'show'])).trim()}; ${(
      await mustExec(lab, ns, ['ip', 'mptcp', 'endpoint', 'show'])
    ).trim()}`;
  return { client: await show('client'), server: await show('server') };
}

/** Established MPTCP subflows (TCP sockets with the mptcp ULP) from the client to the port. */
async function subflowsTo(lab: Lab, port: number): Promise<Subflow[]> {
  const out = await lab.exec('client', ['ss', '-tniH', 'state', 'established', `dport = :${port}`]);
  const subflows: Subflow[] = [];
  let current: Subflow | undefined;
  for (const line of out.stdout.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      // Socket line (state column omitted by the filter): Recv-Q Send-Q Local Peer.
      const fields = line.trim().split(/\s+/);
      current = { local: fields[2] ?? '?', remote: fields[3] ?? '?' };
    } else if (current && line.includes('tcp-ulp-mptcp')) {
      subflows.push(current);
      current = undefined;
    }
  }
  return subflows;
}

function linkOf(lab: Lab, local: string | undefined): LabLink | undefined {
  const address = local?.replace(/^::ffff:/, '');
  if (address === lab.addresses.clientA.v4 || address === lab.addresses.clientA.v6) return 'a';
  if (address === lab.addresses.clientB.v4 || address === lab.addresses.clientB.v6) return 'b';
  return undefined;
}

/**
 * Applies the blackhole once the sender says a quarter is written, tells the receiver when,
 * and collects the receiver's gap and the integrity check.
 */
async function faultAndMeasure(
  lab: Lab,
  link: LabLink,
  sender: LabProcess,
  receiver: LabProcess,
  record: RunRecord,
): Promise<void> {
  await sender.next('midway', TRANSFER_TIMEOUT_MS);
  const faultStart = wallNow();
  await lab.blackhole(link, 'both');
  // The fault takes effect somewhere inside the lab command; its end is the conservative instant.
  const faultEnd = wallNow();
  receiver.send({ faultStart, faultEnd });
  const [sent, received] = await Promise.all([
    sender.next('done', TRANSFER_TIMEOUT_MS),
    receiver.next('received', TRANSFER_TIMEOUT_MS),
  ]);
  record.gapMs = round(Number(received.gapMs));
  record.gapFromFaultCommandStartMs = round(Number(received.gapFromStartMs));
  record.faultCommandMs = round(faultEnd - faultStart);
  record.transferSeconds = round(Number(sent.seconds));
  record.intact = received.bytes === sent.bytes && received.sha256 === sent.sha256;
  if (!record.intact) throw new Error(`data mismatch: sent ${sent.bytes} B, received ${received.bytes} B`);
}

type Start = StartHelper;

async function braidRun(lab: Lab, options: Options, start: Start, record: RunRecord): Promise<void> {
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

async function mptcpRun(lab: Lab, options: Options, start: Start, record: RunRecord): Promise<void> {
  const node = ['mptcpize', 'run', process.execPath, '--import', 'tsx'];
  const receiver = start('mptcp receiver', 'server', [...node, TCP_RECEIVER]);
  const listening = await receiver.next('listening', START_TIMEOUT_MS);
  const port = Number(listening.port);
  const sender = start('mptcp sender', 'client', [
    ...node,
    TCP_SENDER,
    lab.addresses.server1.v4,
    String(port),
    String(options.bytes),
    String(options.rate),
  ]);
  const connected = await sender.next('connected', START_TIMEOUT_MS);
  let subflows = await subflowsTo(lab, port);
  const deadline = Date.now() + SUBFLOW_WAIT_MS;
  while (subflows.length < 2 && Date.now() < deadline) {
    await sleep(50);
    subflows = await subflowsTo(lab, port);
  }
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
  body: (start: Start, record: RunRecord) => Promise<void>,
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
  const availability = Lab.available();
  if (!availability.ok) throw new Error(`failover bench needs the lab: ${availability.reason}`);
  if (!hasCommand('mptcpize')) {
    throw new Error('mptcpize not found (Debian package mptcpize): run scripts/setup-system.sh as root');
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
