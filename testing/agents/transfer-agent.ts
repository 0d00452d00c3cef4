/**
 * What every lab transfer agent shares, whatever carries the bytes (a Braid stream or, for the
 * MPTCP baseline in bench/failover.ts, a TCP socket): JSON lines on stdout, the fault instant
 * read from stdin, a paced hashing sender, and a receiver that measures the failover gap from
 * its own arrival times.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Duplex } from 'node:stream';

/** Wall-clock milliseconds with sub-ms precision, comparable across processes on this host. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

export const emit = (message: object): void => {
  process.stdout.write(`${JSON.stringify(message)}\n`);
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CHUNK = 16 * 1024;

/**
 * The failover gap: the longest stretch after the fault without newly delivered bytes,
 * counted from the fault itself for the first stretch (bytes already in flight before the
 * fault may arrive just after it without meaning the new path works).
 */
export function gapAfter(faultAt: number, arrivals: readonly number[]): number {
  let gap = 0;
  let previous = faultAt;
  for (const at of arrivals) {
    if (at <= faultAt) continue;
    gap = Math.max(gap, at - previous);
    previous = at;
  }
  return gap;
}

/** Milliseconds from `at` to the first arrival after it (how long until data flows again). */
export function firstAfter(at: number, arrivals: readonly number[]): number | undefined {
  for (const t of arrivals) if (t > at) return t - at;
  return undefined;
}

/** Reads stdin lines {faultStart, faultEnd} (epoch ms bracketing the lab command); returns the latest. */
export function watchFault(): () => { start: number; end: number } | undefined {
  let fault: { start: number; end: number } | undefined;
  createInterface({ input: process.stdin }).on('line', (line) => {
    try {
      const message = JSON.parse(line) as { faultStart?: number; faultEnd?: number };
      if (typeof message.faultStart === 'number' && typeof message.faultEnd === 'number') {
        fault = { start: message.faultStart, end: message.faultEnd };
      }
    } catch {
      // Not ours: ignore.
    }
  });
  return () => fault;
}

/**
 * Hashes everything arriving on `stream`; at its end emits {event:'received', bytes, sha256,
 * gapMs, gapFromStartMs} (the gaps once a fault is known; plus `paths` if given), ends our
 * side and calls `onEnd`.
 */
export function receiveAndReport(
  stream: Duplex,
  fault: () => { start: number; end: number } | undefined,
  extra: { paths?: () => unknown; onEnd?: () => void } = {},
): void {
  const hash = createHash('sha256');
  const arrivals: number[] = [];
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => {
    arrivals.push(wallNow());
    hash.update(chunk);
    bytes += chunk.length;
  });
  stream.on('end', () => {
    const known = fault();
    emit({
      event: 'received',
      bytes,
      sha256: hash.digest('hex'),
      ...(known && {
        gapMs: gapAfter(known.end, arrivals),
        gapFromStartMs: gapAfter(known.start, arrivals),
        // After a heal (the "fault" instant is when the path came back): time to the next new byte.
        firstAfterMs: firstAfter(known.end, arrivals),
        firstAfterFromStartMs: firstAfter(known.start, arrivals),
      }),
      ...(extra.paths && { paths: extra.paths() }),
    });
    stream.end();
    extra.onEnd?.();
  });
  stream.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
}

/**
 * Sends `total` random bytes at `bytesPerSecond`, hashing what it writes, emits {event:'midway'}
 * at a quarter (the cue for the fault), then ends and waits for the peer to end its side.
 */
export async function pacedSend(
  stream: Duplex,
  total: number,
  bytesPerSecond: number,
): Promise<{ bytes: number; sha256: string; seconds: number }> {
  const hash = createHash('sha256');
  const started = Date.now();
  let written = 0;
  let announcedMidway = false;
  while (written < total) {
    // Pace to the rate so the fault lands mid-transfer rather than after the buffers filled.
    const ahead = written / bytesPerSecond - (Date.now() - started) / 1000;
    if (ahead > 0) await sleep(ahead * 1000);
    const chunk = randomBytes(Math.min(CHUNK, total - written));
    hash.update(chunk);
    written += chunk.length;
    if (!stream.write(chunk)) await once(stream, 'drain');
    if (!announcedMidway && written >= total / 4) {
      announcedMidway = true;
      emit({ event: 'midway', at: wallNow(), written });
    }
  }
  stream.end();
  stream.resume();
  await once(stream, 'end');
  return { bytes: written, sha256: hash.digest('hex'), seconds: (Date.now() - started) / 1000 };
}
