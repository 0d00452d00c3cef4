/**
 * `npm run bench -- resume [--runs N] [--outage MS] [--idle MS] [--bytes N] [--rate BYTES_PER_S]`:
 * in the real-network lab (lab/lab.sh, root only), how long after the first usable path returns
 * data flows again. Both client provider links go down mid-way through a paced client→server
 * upload for longer than the failure timeout, so the Braid session suspends; then both come
 * back. The figure is the time from the end of the link-up command to the first new in-order
 * byte at the receiving application (and from its start, bracketing it).
 *
 * Baseline, same lab, same outage, same run: a plain Linux TCP connection (it does not die in
 * 10 s; it resumes at its next retransmission timeout, backed off exponentially during the
 * outage). Runs alternate Braid / TCP so machine load falls on both alike.
 */
import { Lab } from '../src/cli/demo/lab.js';
import type { LabProcess } from '../src/cli/demo/lab-process.js';
import { round, summarize } from '../testing/harness/stats.js';
import { type LabRunRecord, labRun, type StartHelper, startBraidTransfer } from './lib/lab-run.js';
import { result } from './lib/result.js';
import { progress, systemInfo } from './lib/system.js';

const START_TIMEOUT_MS = 15_000;
const BRAID_CLIENT = 'testing/agents/resume-client.ts';
const TCP_RECEIVER = 'bench/lab-mptcp/tcp-receiver.ts';
const TCP_SENDER = 'bench/lab-mptcp/tcp-sender.ts';

export interface Options {
  runs: number;
  outage: number;
  idle: number;
  bytes: number;
  rate: number;
}

export interface RunRecord extends LabRunRecord {
  /** Link-up command end → first new byte at the receiver. */
  dataFlowsAfterMs?: number;
  /** Link-up command start → first new byte (the upper bracket). */
  dataFlowsAfterCommandStartMs?: number;
  linkUpCommandMs?: number;
  /** Braid only: link-up command end → the client's 'resumed' event. */
  resumedAfterMs?: number;
  suspended?: boolean;
  intact?: boolean;
}

const wallNow = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parseOptions(args: string[]): Options {
  const options: Options = {
    runs: 5,
    outage: 10_000,
    idle: 3000,
    bytes: 8 * 1024 * 1024,
    rate: 2 * 1024 * 1024,
  };
  const names: Record<string, keyof Options> = {
    '--runs': 'runs',
    '--outage': 'outage',
    '--idle': 'idle',
    '--bytes': 'bytes',
    '--rate': 'rate',
  };
  for (let i = 0; i < args.length; i += 2) {
    const key = names[args[i]!];
    const value = Number(args[i + 1]);
    if (!key) throw new Error(`unknown option ${args[i]} (${Object.keys(names).join(', ')})`);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`bad value for ${args[i]}: ${args[i + 1]}`);
    options[key] = value;
  }
  if (options.outage <= options.idle + 1000)
    throw new Error('--outage must exceed --idle by more than a second, or the session never suspends');
  return options;
}

/** Both client links down at the sender's 'midway', up `outage` ms later; the receiver measures. */
async function outage(
  lab: Lab,
  options: Options,
  sender: LabProcess,
  receiver: LabProcess,
  record: RunRecord,
  whileDown?: () => Promise<void>,
): Promise<{ healEnd: number }> {
  await sender.next('midway', START_TIMEOUT_MS);
  await Promise.all([lab.linkDown('a'), lab.linkDown('b')]);
  const downAt = wallNow();
  await whileDown?.();
  await sleep(Math.max(0, options.outage - (wallNow() - downAt)));
  const healStart = wallNow();
  await Promise.all([lab.linkUp('a'), lab.linkUp('b')]);
  const healEnd = wallNow();
  receiver.send({ faultStart: healStart, faultEnd: healEnd });
  const timeout = options.outage + 60_000;
  const [sent, received] = await Promise.all([
    sender.next('done', timeout),
    receiver.next('received', timeout),
  ]);
  record.dataFlowsAfterMs = round(Number(received.firstAfterMs));
  record.dataFlowsAfterCommandStartMs = round(Number(received.firstAfterFromStartMs));
  record.linkUpCommandMs = round(healEnd - healStart);
  record.intact = received.bytes === sent.bytes && received.sha256 === sent.sha256;
  if (!record.intact) throw new Error(`data mismatch: sent ${sent.bytes} B, received ${received.bytes} B`);
  return { healEnd };
}

export async function braidRun(
  lab: Lab,
  options: Options,
  start: StartHelper,
  record: RunRecord,
): Promise<void> {
  const { server, client } = await startBraidTransfer(lab, start, BRAID_CLIENT, options, [
    String(options.idle),
  ]);
  await client.next('ready', START_TIMEOUT_MS);
  const { healEnd } = await outage(lab, options, client, server, record, async () => {
    await client.next('suspended', options.outage);
    record.suspended = true;
  });
  const resumed = client.messages.find((m) => m.event === 'resumed');
  record.resumedAfterMs = resumed ? round(Number(resumed.at) - healEnd) : undefined;
}

export async function tcpRun(
  lab: Lab,
  options: Options,
  start: StartHelper,
  record: RunRecord,
): Promise<void> {
  const node = [process.execPath, '--import', 'tsx'];
  const receiver = start('tcp receiver', 'server', [...node, TCP_RECEIVER, 'gap']);
  const listening = await receiver.next('listening', START_TIMEOUT_MS);
  const sender = start('tcp sender', 'client', [
    ...node,
    TCP_SENDER,
    lab.addresses.server1.v4,
    String(listening.port),
    'paced',
    String(options.bytes),
    String(options.rate),
  ]);
  await sender.next('connected', START_TIMEOUT_MS);
  sender.send({ event: 'go' });
  await outage(lab, options, sender, receiver, record);
}

function measure(
  lab: Lab,
  label: string,
  body: (start: StartHelper, record: RunRecord) => Promise<void>,
  run: number,
): Promise<RunRecord> {
  return labRun(lab, label, { run } as RunRecord, body, {
    describe: (r) => `data flows ${r.dataFlowsAfterMs} ms after the links came back`,
    restore: () => Promise.all([lab.linkUp('a'), lab.linkUp('b')]).then(() => undefined),
  });
}

const samples = (records: RunRecord[]) =>
  records
    .filter((r) => r.error === undefined && r.dataFlowsAfterMs !== undefined)
    .map((r) => r.dataFlowsAfterMs!);

export async function run(args: string[]): Promise<object> {
  const options = parseOptions(args);
  const availability = Lab.available();
  if (!availability.ok) throw new Error(`resume bench needs the lab: ${availability.reason}`);
  progress(
    `lab up; ${options.runs} runs each of Braid and TCP; both links down ${options.outage} ms mid-way through ${options.bytes} B at ${options.rate} B/s`,
  );
  const lab = await Lab.up();
  const braid: RunRecord[] = [];
  const tcp: RunRecord[] = [];
  try {
    for (let i = 1; i <= options.runs; i++) {
      braid.push(await measure(lab, 'braid', (s, r) => braidRun(lab, options, s, r), i));
      tcp.push(await measure(lab, 'tcp', (s, r) => tcpRun(lab, options, s, r), i));
    }
  } finally {
    await lab.down();
  }
  const b = summarize(samples(braid));
  const t = summarize(samples(tcp));
  if (b.count === 0) throw new Error(`no successful Braid run: ${braid.map((r) => r.error).join('; ')}`);
  const spread = (s: typeof b) => ({
    medianMs: round(s.median),
    minMs: round(s.min),
    maxMs: round(s.max),
    p90Ms: round(s.p90),
    successfulRuns: s.count,
  });
  return result({
    name: 'time from the first usable path returning to data flowing again after a total outage (median)',
    value: round(b.median),
    unit: 'ms',
    baseline: { name: 'Linux TCP, same outage (median)', value: round(t.median), unit: 'ms' },
    braid: { ...spread(b), runs: braid },
    tcp: { ...spread(t), runs: tcp },
    method: {
      outageMs: options.outage,
      braidFailureTimeoutMs: options.idle,
      transferBytes: options.bytes,
      rateBytesPerSecond: options.rate,
      fault: 'both client provider links down (lab.sh link a/b down), mid-way through the upload',
      measured:
        'at the receiving application: from the end of the link-up command to the first new in-order byte (from its start: dataFlowsAfterCommandStartMs)',
      braidCadence: 'a suspended client retries every 250 ms, doubling to transport.resumeInterval (1000 ms)',
    },
    system: systemInfo(),
  });
}
