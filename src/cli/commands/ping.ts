/**
 * `braid ping SERVER`: times round trips to a braid server over one stream (reliable,
 * in order) and as datagrams (unreliable), and shows each path's RTT as the session
 * measures it (smoothed, minimum, variation).
 */
import { once } from 'node:events';
import type { PathInfo } from '../../index.js';
import type { Command } from '../command.js';
import { formatAddress } from '../observe/tracker.js';
import { booleanFlag, type FlagSpec, parseArgs, positiveIntFlag } from '../shared/args.js';
import { connectToServer, openForward, parseServerTarget } from '../shared/client.js';
import { CLIENT_OPTIONS_HELP, CLIENT_SPECS, clientOptionsFrom } from '../shared/client-options.js';
import { ExitCode, UsageError } from '../shared/errors.js';
import { formatMs } from '../shared/format.js';
import { PING_DATAGRAM_PREFIX, RequestKind } from '../shared/forward-protocol.js';

const PING_USAGE = `usage: braid ping SERVER [-c COUNT] [-i MS] [options]

Measures the round-trip time to a braid server: each probe goes once over a stream
and once as a datagram; at the end each path's RTT estimate is listed.

  -c, --count COUNT         probes to send (default 4)
  -i, --interval MS         time between probes (default 1000)
  --wait MS                 how long to wait for a reply (default 2000)
  --json                    JSON Lines on stdout instead of text: one object per event, each
                            with a "type": "session" (connected), "probe" (one per probe),
                            "failover", then "summary" last (see docs/operations.md)
${CLIENT_OPTIONS_HELP}

exit status 0 when at least one reply came back, 1 otherwise.`;

const PROBE_BYTES = 16;

interface RttSummary {
  replies: number;
  minMs: number | null;
  avgMs: number | null;
  maxMs: number | null;
  mdevMs: number | null;
}

function summarize(samples: number[]): RttSummary {
  if (samples.length === 0) return { replies: 0, minMs: null, avgMs: null, maxMs: null, mdevMs: null };
  const avg = samples.reduce((a, b) => a + b, 0) / samples.length;
  return {
    replies: samples.length,
    minMs: Math.min(...samples),
    avgMs: avg,
    maxMs: Math.max(...samples),
    mdevMs: Math.sqrt(samples.reduce((a, b) => a + (b - avg) ** 2, 0) / samples.length),
  };
}

function stats(summary: RttSummary): string {
  if (summary.replies === 0) return 'no replies';
  const ms = [summary.minMs, summary.avgMs, summary.maxMs, summary.mdevMs].map((v) => v!.toFixed(3));
  return `min/avg/max/mdev = ${ms.join('/')} ms`;
}

/** A path as --json shows it: times in ms, null where not measured yet. */
function pathRecord(path: PathInfo): Record<string, unknown> {
  return {
    id: path.id,
    local: formatAddress(path.local),
    remote: formatAddress(path.remote),
    state: path.state,
    srttMs: path.srtt ?? null,
    minRttMs: path.minRtt ?? null,
    rttvarMs: path.rttvar ?? null,
    packetsLost: path.packetsLost,
    packetsSent: path.packetsSent,
  };
}

const PING_FLAGS: Record<string, FlagSpec> = {
  ...CLIENT_SPECS,
  count: { type: 'string', short: 'c' },
  interval: { type: 'string', short: 'i' },
  wait: { type: 'string' },
  json: { type: 'boolean' },
};

async function runPing(argv: string[], log: (line: string) => void): Promise<number> {
  const args = parseArgs(argv, PING_FLAGS, PING_USAGE);
  if (args.help) {
    console.log(PING_USAGE);
    return ExitCode.OK;
  }
  if (args.positionals.length !== 1) throw new UsageError('give exactly one SERVER', PING_USAGE);
  const count = positiveIntFlag(args, 'count', 4, PING_USAGE);
  const interval = positiveIntFlag(args, 'interval', 1000, PING_USAGE);
  const wait = positiveIntFlag(args, 'wait', 2000, PING_USAGE);
  const target = parseServerTarget(args.positionals[0]!);
  const started = performance.now();
  const session = await connectToServer(target, clientOptionsFrom(args, PING_USAGE, log));
  const json = booleanFlag(args, 'json');
  const out = (line: string): void => {
    if (!json) process.stdout.write(`${line}\n`);
  };
  // --json: one object per line, written as it happens, so a script can follow a long ping.
  const emit = (record: Record<string, unknown>): void => {
    if (json) process.stdout.write(`${JSON.stringify(record)}\n`);
  };
  try {
    const setupMs = performance.now() - started;
    out(`PING ${target.label}: session up in ${setupMs.toFixed(1)} ms`);
    emit({ type: 'session', target: target.label, setupMs });
    const { stream, reader } = await openForward(session, { kind: RequestKind.PING, target: '' });
    const streamSamples: number[] = [];
    const datagramSamples: number[] = [];
    const datagramWaiters = new Map<number, (at: number) => void>();
    // Path moves show up as they happen, like a route change in mtr.
    session.on('failover', (from, to, reason) => {
      out(
        `failover: path ${from.id} ${formatAddress(from.local)} → ${formatAddress(from.remote)} to path ${to.id} ` +
          `${formatAddress(to.local)} → ${formatAddress(to.remote)} (${reason})`,
      );
      emit({ type: 'failover', from: pathRecord(from), to: pathRecord(to), reason });
    });
    session.on('datagram', (data) => {
      if (data.length !== PING_DATAGRAM_PREFIX.length + 4) return;
      if (!data.subarray(0, PING_DATAGRAM_PREFIX.length).equals(PING_DATAGRAM_PREFIX)) return;
      datagramWaiters.get(data.readUInt32BE(PING_DATAGRAM_PREFIX.length))?.(performance.now());
    });
    for (let seq = 1; seq <= count; seq++) {
      const probe = Buffer.alloc(PROBE_BYTES);
      probe.writeUInt32BE(seq, 0);
      const datagram = Buffer.concat([PING_DATAGRAM_PREFIX, probe.subarray(0, 4)]);
      const sentAt = performance.now();
      const datagramReply = new Promise<number | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), wait);
        datagramWaiters.set(seq, (at) => {
          clearTimeout(timer);
          resolve(at - sentAt);
        });
      });
      let datagramSent = false;
      try {
        datagramSent = session.sendDatagram(datagram);
      } catch {
        // The server does not take datagrams: the stream probe still runs.
      }
      stream.write(probe);
      const streamReply = Promise.race([
        reader
          .read(PROBE_BYTES)
          .then((echo) => (echo.readUInt32BE(0) === seq ? performance.now() - sentAt : undefined)),
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), wait)),
      ]);
      const [streamRtt, datagramRtt] = await Promise.all([
        streamReply,
        datagramSent ? datagramReply : Promise.resolve(undefined),
      ]);
      datagramWaiters.delete(seq);
      if (streamRtt !== undefined) streamSamples.push(streamRtt);
      if (datagramRtt !== undefined) datagramSamples.push(datagramRtt);
      const active = session.paths.find((p) => p.state === 'active') ?? session.paths[0];
      out(
        `seq=${seq}  stream ${streamRtt === undefined ? 'timeout' : formatMs(streamRtt)}  ` +
          `datagram ${datagramRtt === undefined ? (datagramSent ? 'lost' : 'not sent') : formatMs(datagramRtt)}  ` +
          `path ${active ? `${active.id} srtt ${formatMs(active.srtt)}` : '-'}`,
      );
      emit({
        type: 'probe',
        seq,
        streamRttMs: streamRtt ?? null,
        datagramRttMs: datagramRtt ?? null,
        datagram: datagramRtt !== undefined ? 'replied' : datagramSent ? 'lost' : 'not-sent',
        pathId: active?.id ?? null,
        srttMs: active?.srtt ?? null,
      });
      if (streamRtt === undefined && stream.destroyed) break;
      if (seq < count) await new Promise((r) => setTimeout(r, interval));
    }
    stream.end();
    const streamSummary = summarize(streamSamples);
    const datagramSummary = summarize(datagramSamples);
    out(`--- ${target.label} braid ping statistics ---`);
    out(`${count} probes; stream ${streamSamples.length} replies, ${stats(streamSummary)}`);
    out(`${count} probes; datagram ${datagramSamples.length} replies, ${stats(datagramSummary)}`);
    for (const path of session.paths) {
      out(
        `path ${path.id}  ${formatAddress(path.local)} → ${formatAddress(path.remote)}  ${path.state}  ` +
          `srtt ${formatMs(path.srtt)}  min ${formatMs(path.minRtt)}  rttvar ${formatMs(path.rttvar)}  ` +
          `lost ${path.packetsLost}/${path.packetsSent}`,
      );
    }
    emit({
      type: 'summary',
      target: target.label,
      probes: count,
      stream: streamSummary,
      datagram: datagramSummary,
      paths: session.paths.map(pathRecord),
    });
    if (!stream.destroyed)
      await Promise.race([once(stream, 'close'), new Promise((r) => setTimeout(r, 200))]);
    return streamSamples.length + datagramSamples.length > 0 ? ExitCode.OK : ExitCode.FAILURE;
  } finally {
    await session.close(0, 'ping done');
  }
}

export const command: Command = {
  usage: PING_USAGE,
  flags: PING_FLAGS,
  synopsis: 'SERVER',
  summary: 'round-trip times over a stream and datagrams, per-path RTT',
  run: runPing,
};
