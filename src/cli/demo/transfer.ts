/**
 * The two ends of `braid demo`'s transfer, shared by both of its variants: in one process
 * over loopback addresses, and in network-namespace agents (agent.ts). The client
 * streams random bytes at a set rate and hashes them; the server hashes what arrives,
 * keeps the arrival times (to measure the failover gap) and answers with its digest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { BraidStream, PathInfo, Session } from '../../index.js';
import { formatAddress } from '../observe/tracker.js';

/** Wall-clock ms with sub-ms precision: comparable between processes on one host. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

/** One row of the demo's status table: a path as the client's session sees it. */
export interface PathRow {
  id: number;
  local: string;
  remote: string;
  /** IP addresses only (the fault is applied per address pair or per provider link). */
  localIp: string;
  remoteIp: string;
  state: string;
  srtt: number | undefined;
  bytesSent: number;
  bytesReceived: number;
}

export function pathRow(path: PathInfo): PathRow {
  return {
    id: path.id,
    local: formatAddress(path.local),
    remote: formatAddress(path.remote),
    localIp: path.local.address,
    remoteIp: path.remote.address,
    state: path.state,
    srtt: path.srtt,
    bytesSent: path.bytesSent,
    bytesReceived: path.bytesReceived,
  };
}

export function describePath(path: PathRow): string {
  return `path ${path.id} ${path.local} → ${path.remote}`;
}

const CHUNK = 16 * 1024;
export const STANDBY_WAIT_MS = 5000;

/**
 * The receiving end of one demo stream: hashes and counts every byte and keeps the
 * arrival times, so the gap after a fault can be measured once the fault time is known.
 */
export class DeliveryMonitor {
  received = 0;
  readonly #hash = createHash('sha256');
  readonly #arrivals: number[] = [];
  readonly done: Promise<{ bytes: number; digest: string }>;

  constructor(stream: BraidStream, onProgress: (received: number) => void) {
    let finish: (result: { bytes: number; digest: string }) => void = () => undefined;
    this.done = new Promise((resolve) => {
      finish = resolve;
    });
    stream.on('data', (chunk: Buffer) => {
      this.#arrivals.push(wallNow());
      this.#hash.update(chunk);
      this.received += chunk.length;
      onProgress(this.received);
    });
    stream.on('end', () => {
      const digest = this.#hash.digest('hex');
      stream.end(digest);
      finish({ bytes: this.received, digest });
    });
    stream.on('error', () => undefined);
  }

  /**
   * The failover gap: the longest stretch after `faultAt` without newly delivered bytes,
   * the first stretch counted from the fault itself. Also when it ended.
   */
  gapAfter(faultAt: number): { gapMs: number; endedAt: number } | undefined {
    let gap: { gapMs: number; endedAt: number } | undefined;
    let previous = faultAt;
    for (const at of this.#arrivals) {
      if (at <= faultAt) continue;
      if (!gap || at - previous > gap.gapMs) gap = { gapMs: at - previous, endedAt: at };
      previous = at;
    }
    return gap;
  }
}

/**
 * Streams `total` random bytes at `rateMbit` (0: as fast as flow control allows), hashing
 * them; resolves once the server has answered with its digest and ended the stream.
 */
export async function pacedSend(
  session: Session,
  total: number,
  rateMbit: number,
): Promise<{ digest: string; reply: string }> {
  const stream = await session.openStream();
  const hash = createHash('sha256');
  const reply: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => reply.push(chunk));
  const ended = once(stream, 'end');
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const chunk = randomBytes(Math.min(CHUNK, total - sent));
    hash.update(chunk);
    sent += chunk.length;
    if (!stream.write(chunk)) await once(stream, 'drain');
    if (rateMbit > 0) {
      const wait = started + (sent * 8) / (rateMbit * 1000) - performance.now();
      if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
    }
  }
  stream.end();
  await ended;
  return { digest: hash.digest('hex'), reply: Buffer.concat(reply).toString() };
}

/** Resolves true once the session has a validated standby path, false after `timeoutMs`. */
export function waitForStandby(session: Session, timeoutMs = STANDBY_WAIT_MS): Promise<boolean> {
  const hasStandby = (): boolean => session.paths.some((p) => p.state === 'standby');
  if (hasStandby()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const check = (): void => {
      if (!hasStandby()) return;
      finish(true);
    };
    const finish = (value: boolean): void => {
      clearTimeout(timer);
      session.off('path', check);
      resolve(value);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    session.on('path', check);
  });
}
