/**
 * What the aggregate bench's transfer agents share, whatever carries the bytes (a Braid stream
 * or, for the MPTCP baseline, a TCP socket): a sender that writes random bytes as fast as
 * backpressure allows for a fixed time, hashing them, and a receiver that hashes what arrives
 * and measures goodput over the transfer after a warm-up (slow start, second path coming up).
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { emit, wallNow } from '../../testing/agents/transfer-agent.js';

const CHUNK = 64 * 1024;

/** CPU time this process used between two points, as a share of one core over the wall time. */
export function cpuShare(start: NodeJS.CpuUsage, startedAt: number): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / (wallNow() - startedAt);
}

/** Writes random bytes for `seconds`, then ends and waits for the peer to end its side. */
export async function timedSend(
  stream: Duplex,
  seconds: number,
): Promise<{ bytes: number; sha256: string; seconds: number; cpu: number }> {
  const hash = createHash('sha256');
  const startedAt = wallNow();
  const cpu = process.cpuUsage();
  const stopAt = startedAt + seconds * 1000;
  let bytes = 0;
  while (wallNow() < stopAt) {
    const chunk = randomBytes(CHUNK);
    hash.update(chunk);
    bytes += chunk.length;
    if (!stream.write(chunk)) await once(stream, 'drain');
  }
  stream.end();
  stream.resume();
  await once(stream, 'end');
  return {
    bytes,
    sha256: hash.digest('hex'),
    seconds: (wallNow() - startedAt) / 1000,
    cpu: cpuShare(cpu, startedAt),
  };
}

/**
 * Hashes everything arriving on `stream`; at its end emits {event:'received', bytes, sha256,
 * goodputMbps, windowSeconds, cpu}: goodput between `warmupSeconds` and `warmupSeconds +
 * windowSeconds` after the first byte, so the figure is the steady rate, neither the ramp nor
 * the drain after the sender stopped.
 */
export function goodputReceiver(stream: Duplex, warmupSeconds: number, windowSeconds: number): void {
  const hash = createHash('sha256');
  const cpu = process.cpuUsage();
  let bytes = 0;
  let first: number | undefined;
  let from: { at: number; bytes: number } | undefined;
  let to: { at: number; bytes: number } | undefined;
  stream.on('data', (chunk: Buffer) => {
    const now = wallNow();
    first ??= now;
    const elapsed = (now - first) / 1000;
    if (from === undefined && elapsed >= warmupSeconds) from = { at: now, bytes };
    if (from !== undefined && elapsed <= warmupSeconds + windowSeconds) to = { at: now, bytes };
    hash.update(chunk);
    bytes += chunk.length;
  });
  stream.on('end', () => {
    const window = from && to ? (to.at - from.at) / 1000 : 0;
    emit({
      event: 'received',
      bytes,
      sha256: hash.digest('hex'),
      goodputMbps: from && to && window > 0 ? ((to.bytes - from.bytes) * 8) / 1e6 / window : undefined,
      windowSeconds: window,
      cpu: first === undefined ? 0 : cpuShare(cpu, first),
    });
    stream.end();
  });
  stream.on('error', (error: Error) => emit({ event: 'error', message: error.message }));
}
