/**
 * `npm run bench -- aggregate [--runs N] [--seconds S] [--warmup S] [--rate-a R] [--rate-b R]`:
 * in the real-network lab (lab/lab.sh, root only), each client provider link rate-limited with
 * tbf (a = 20 mbit, b = 30 mbit by default), the goodput of one upload as a share of the sum of
 * the two link rates:
 * - Braid with `multipath: { policy: 'aggregate' }` from both client addresses
 *   (bench/lab-aggregate/braid-sender.ts / braid-receiver.ts);
 * - Linux MPTCP on the same links in the same run: a plain Node TCP pair under `mptcpize run`,
 *   the in-kernel path manager set up as bench/lib/mptcp-lab.ts does, and at least two subflows
 *   checked with `ss -tin` before the measured transfer starts;
 * - as a sanity baseline, single-path Braid (failover policy) from provider a alone, as a
 *   share of link a's rate.
 * Goodput is stream bytes read by the receiving application after a warm-up (slow start, second
 * path coming up) until half a second before the sender stops; SHA-256 is compared end to end. Runs alternate the three so
 * machine load falls on all alike; the headline is the median.
 */
import { Lab } from '../src/cli/demo/lab.js';
import { round, summarize } from '../testing/harness/stats.js';
import { type LabRunRecord, labRun, type StartHelper } from './lib/lab-run.js';
import { configureMptcp, labBenchUnavailable, linkOf, subflowsTo, waitForSubflows } from './lib/mptcp-lab.js';
import { result } from './lib/result.js';
import { progress, systemInfo } from './lib/system.js';

const DEFAULT_RUNS = 5;
const DEFAULT_SECONDS = 8;
const DEFAULT_WARMUP = 2;
const START_TIMEOUT_MS = 15_000;
const SUBFLOW_WAIT_MS = 3000;
const TARGET_SHARE = 0.9;

const BRAID_RECEIVER = 'bench/lab-aggregate/braid-receiver.ts';
const BRAID_SENDER = 'bench/lab-aggregate/braid-sender.ts';
const TCP_RECEIVER = 'bench/lab-mptcp/tcp-receiver.ts';
const TCP_SENDER = 'bench/lab-mptcp/tcp-sender.ts';

export interface Options {
  runs: number;
  seconds: number;
  warmup: number;
  rateA: number;
  rateB: number;
  /** How long after the sender stops it may take to deliver what it holds (20 s by default). */
  drainSeconds?: number;
}

export interface RunRecord extends LabRunRecord {
  goodputMbps?: number;
  /** Goodput over the capacity it is measured against (the sum of both links, or link a). */
  share?: number;
  intact?: boolean;
  senderCpu?: number;
  receiverCpu?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The measured window: from the warm-up to half a second before the sender stops. */
function measuredSeconds(options: Options): number {
  return options.seconds - options.warmup - 0.5;
}

function parseOptions(args: string[]): Options {
  const options: Options = {
    runs: DEFAULT_RUNS,
    seconds: DEFAULT_SECONDS,
    warmup: DEFAULT_WARMUP,
    rateA: 20,
    rateB: 30,
  };
  const keys: Record<string, keyof Options> = {
    '--runs': 'runs',
    '--seconds': 'seconds',
    '--warmup': 'warmup',
    '--rate-a': 'rateA',
    '--rate-b': 'rateB',
  };
  for (let i = 0; i < args.length; i += 2) {
    const key = keys[args[i]];
    const value = Number(args[i + 1]);
    if (key === undefined) throw new Error(`unknown option ${args[i]} (${Object.keys(keys).join(', ')})`);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`bad value for ${args[i]}: ${args[i + 1]}`);
    options[key] = value;
  }
  if (options.warmup + 1 > options.seconds) throw new Error('--seconds must exceed --warmup by 1 or more');
  return options;
}

const NODE = [process.execPath, '--import', 'tsx'];

/**
 * One Braid upload from `locals` with `policy` (and the sender's `congestionControl`, default the
 * engine's); fills goodput, integrity and the per-path split.
 */
export async function braidRun(
  lab: Lab,
  options: Options,
  start: StartHelper,
  record: RunRecord,
  locals: string[],
  policy: 'aggregate' | 'failover',
  congestionControl?: string,
): Promise<void> {
  const { server1, server2 } = lab.addresses;
  const receiver = start('braid receiver', 'server', [
    ...NODE,
    BRAID_RECEIVER,
    String(options.warmup),
    String(measuredSeconds(options)),
    server1.v4,
    server2.v4,
  ]);
  const listening = await receiver.next('listening', START_TIMEOUT_MS);
  const sender = start('braid sender', 'client', [
    ...NODE,
    BRAID_SENDER,
    server1.v4,
    String(listening.port),
    String(listening.key),
    locals.join(','),
    policy,
    policy === 'aggregate' ? '2' : '1',
    String(options.seconds),
    ...(congestionControl ? [congestionControl] : []),
  ]);
  const ready = await sender.next('ready', START_TIMEOUT_MS);
  record.policy = ready.policy;
  record.pathsAtStart = ready.paths;
  const timeout = (options.seconds + (options.drainSeconds ?? 20)) * 1000;
  const [sent, received] = await Promise.all([
    sender.next('done', timeout),
    receiver.next('received', timeout),
  ]);
  fill(record, sent, received);
  record.paths = sent.paths;
}

export async function mptcpRun(
  lab: Lab,
  options: Options,
  start: StartHelper,
  record: RunRecord,
): Promise<void> {
  const mptcpize = ['mptcpize', 'run', ...NODE];
  const receiver = start('mptcp receiver', 'server', [
    ...mptcpize,
    TCP_RECEIVER,
    'goodput',
    String(options.warmup),
    String(measuredSeconds(options)),
  ]);
  const listening = await receiver.next('listening', START_TIMEOUT_MS);
  const port = Number(listening.port);
  const sender = start('mptcp sender', 'client', [
    ...mptcpize,
    TCP_SENDER,
    lab.addresses.server1.v4,
    String(port),
    'timed',
    String(options.seconds),
  ]);
  const connected = await sender.next('connected', START_TIMEOUT_MS);
  record.firstSubflowLink = linkOf(lab, String(connected.local));
  const subflows = await waitForSubflows(lab, port, SUBFLOW_WAIT_MS);
  record.subflowsBeforeStart = subflows.map((s) => `${s.local}->${s.remote}`);
  if (subflows.length < 2)
    throw new Error(`MPTCP has ${subflows.length} subflow(s) before the transfer, not 2 or more`);
  sender.send({ event: 'go' });
  // Mid-transfer: which subflows carry the bytes.
  await sleep((options.warmup + (options.seconds - options.warmup) / 2) * 1000);
  record.subflowsMidTransfer = (await subflowsTo(lab, port)).map(
    (s) => `${s.local}->${s.remote} bytes_acked ${s.bytesAcked ?? '?'}`,
  );
  const timeout = (options.seconds + (options.drainSeconds ?? 20)) * 1000;
  const [sent, received] = await Promise.all([
    sender.next('done', timeout),
    receiver.next('received', timeout),
  ]);
  fill(record, sent, received);
}

function fill(record: RunRecord, sent: Record<string, unknown>, received: Record<string, unknown>): void {
  record.intact = received.bytes === sent.bytes && received.sha256 === sent.sha256;
  if (!record.intact) throw new Error(`data mismatch: sent ${sent.bytes} B, received ${received.bytes} B`);
  if (typeof received.goodputMbps !== 'number') throw new Error('no goodput measured (transfer too short?)');
  record.goodputMbps = round(received.goodputMbps);
  record.bytes = sent.bytes;
  record.windowSeconds = round(Number(received.windowSeconds));
  record.senderCpu = round(Number(sent.cpu), 3);
  record.receiverCpu = round(Number(received.cpu), 3);
}

function measure(
  lab: Lab,
  label: string,
  capacityMbps: number,
  body: (start: StartHelper, record: RunRecord) => Promise<void>,
  run: number,
): Promise<RunRecord> {
  const measured = async (start: StartHelper, record: RunRecord) => {
    await body(start, record);
    record.share = round(record.goodputMbps! / capacityMbps);
  };
  return labRun(lab, label, { run } as RunRecord, measured, {
    describe: (record) => `${record.goodputMbps} Mbit/s = ${record.share} of ${capacityMbps} Mbit/s`,
    // Let the sockets of this run go before the next one starts.
    restore: () => sleep(300),
  });
}

function summary(records: RunRecord[]) {
  const ok = records.filter((r) => r.error === undefined && r.share !== undefined);
  const shares = summarize(ok.map((r) => r.share!));
  const goodputs = summarize(ok.map((r) => r.goodputMbps!));
  return {
    medianShare: round(shares.median),
    medianGoodputMbps: round(goodputs.median),
    minShare: round(shares.min),
    maxShare: round(shares.max),
    successfulRuns: ok.length,
    runs: records,
  };
}

export async function run(args: string[]): Promise<object> {
  const options = parseOptions(args);
  const unavailable = labBenchUnavailable();
  if (unavailable !== undefined) {
    progress(`skipped: the aggregate bench ${unavailable}`);
    return { name: 'aggregate', skipped: true, reason: unavailable };
  }
  const sum = options.rateA + options.rateB;
  progress(
    `lab up; link a ${options.rateA} mbit, b ${options.rateB} mbit; ${options.runs} runs each of ` +
      `Braid aggregate, MPTCP and single-path Braid, ${options.seconds} s each (${options.warmup} s warm-up)`,
  );
  const lab = await Lab.up();
  const braid: RunRecord[] = [];
  const mptcp: RunRecord[] = [];
  const single: RunRecord[] = [];
  let mptcpConfig: Record<string, string>;
  try {
    await lab.setRate('a', `${options.rateA}mbit`);
    await lab.setRate('b', `${options.rateB}mbit`);
    mptcpConfig = await configureMptcp(lab);
    const { clientA, clientB } = lab.addresses;
    for (let i = 1; i <= options.runs; i++) {
      braid.push(
        await measure(
          lab,
          'braid aggregate',
          sum,
          (s, r) => braidRun(lab, options, s, r, [clientA.v4, clientB.v4], 'aggregate'),
          i,
        ),
      );
      mptcp.push(await measure(lab, 'mptcp', sum, (s, r) => mptcpRun(lab, options, s, r), i));
      single.push(
        await measure(
          lab,
          'braid single path (a)',
          options.rateA,
          (s, r) => braidRun(lab, options, s, r, [clientA.v4], 'failover'),
          i,
        ),
      );
    }
  } finally {
    await lab.down();
  }

  const b = summary(braid);
  const m = summary(mptcp);
  const s = summary(single);
  if (b.successfulRuns === 0 || m.successfulRuns === 0) {
    const errors = [...braid, ...mptcp].map((r) => r.error).filter(Boolean);
    throw new Error(`no successful ${b.successfulRuns === 0 ? 'Braid' : 'MPTCP'} run: ${errors.join('; ')}`);
  }
  return result({
    name: 'aggregate goodput, share of the sum of both provider link rates (median)',
    value: b.medianShare,
    unit: 'share',
    baseline: {
      name: 'Linux MPTCP (two or more subflows, LAB-NOTES configuration), same links (median)',
      value: m.medianShare,
      unit: 'share',
    },
    braidAggregate: b,
    mptcp: { ...m, pathManager: mptcpConfig },
    braidSinglePathOnLinkA: { ...s, note: 'share of link a alone' },
    targets: { braidShareAtLeast: TARGET_SHARE, met: b.medianShare >= TARGET_SHARE },
    method: {
      links: {
        a: `${options.rateA} mbit`,
        b: `${options.rateB} mbit`,
        sumMbps: sum,
        qdisc: 'tbf burst 64kb latency 50ms, both ends',
      },
      direction: 'client to server (upload)',
      seconds: options.seconds,
      warmupSeconds: options.warmup,
      goodput: `stream bytes the receiving application read from ${options.warmup} s to ${options.warmup + measuredSeconds(options)} s after the first byte, over that time; SHA-256 of the whole transfer equal end to end`,
      ceiling:
        'tbf counts whole frames: a 1200-byte Braid datagram is 1242 bytes on the link and carries ~1165 bytes of stream data (93.8%); a TCP segment 1514 bytes for 1448 (95.6%)',
    },
    system: systemInfo(),
  });
}
