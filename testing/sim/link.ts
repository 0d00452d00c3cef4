/**
 * Access links: each interface is joined to the core by one link with two independent
 * directions, `out` (host → core) and `in` (core → host). Each direction is a FIFO
 * transmitter (bandwidth, bounded tail-drop queue) followed by a wire (delay, jitter,
 * loss, bursty loss, duplication, reordering, corruption) and an MTU check.
 */
import { ScenarioError } from './errors.js';

/** Gilbert–Elliott two-state loss: the state changes per packet, then loss is drawn in that state. */
export interface BurstLoss {
  /** Probability of moving good → bad for each packet. */
  p: number;
  /** Probability of moving bad → good for each packet (mean burst length 1/r packets). */
  r: number;
  /** Loss probability in the bad state (default 1). */
  lossBad?: number;
  /** Loss probability in the good state (default 0). */
  lossGood?: number;
}

export interface LinkParams {
  /** One-way propagation delay, ms. */
  delay: number;
  /** Extra delay drawn uniformly from [0, jitter] ms; packets still leave in FIFO order. */
  jitter: number;
  /** Bits per second of UDP payload (headers are not counted); Infinity = no serialization delay. */
  bandwidth: number;
  /** Packets the transmitter holds, including the one being sent; arrivals beyond are tail-dropped. */
  queue: number;
  /** Independent random loss probability per packet. */
  loss: number;
  /** Bursty loss, applied in addition to `loss`; null = none. */
  burstLoss: BurstLoss | null;
  /** Probability a packet is delivered twice. */
  duplicate: number;
  /** Probability a packet is held back by up to `reorderDelay` ms, letting later packets overtake it. */
  reorder: number;
  reorderDelay: number;
  /** Probability 1–3 random bits of the payload are flipped (on a copy). */
  corrupt: number;
  /** Largest UDP payload (bytes) the link carries; larger datagrams are dropped. */
  mtu: number;
}

export const DEFAULT_LINK: Readonly<LinkParams> = Object.freeze({
  delay: 0,
  jitter: 0,
  bandwidth: Number.POSITIVE_INFINITY,
  queue: 1000,
  loss: 0,
  burstLoss: null,
  duplicate: 0,
  reorder: 0,
  reorderDelay: 10,
  corrupt: 0,
  // Ethernet's 1500-byte IP MTU minus IPv4 and UDP headers.
  mtu: 1472,
});

export type Direction = 'out' | 'in';
export type DirectionSelector = Direction | 'both';

/** Finish times of the packets held by a transmitter, oldest first (a growable ring). */
class FinishTimes {
  private buf = new Float64Array(16);
  private head = 0;
  length = 0;

  /** Forgets packets whose transmission ended at or before `now`. */
  expire(now: number): void {
    while (this.length > 0 && this.buf[this.head] <= now) {
      this.head = (this.head + 1) & (this.buf.length - 1);
      this.length--;
    }
  }

  push(time: number): void {
    if (this.length === this.buf.length) {
      const bigger = new Float64Array(this.buf.length * 2);
      for (let i = 0; i < this.length; i++) bigger[i] = this.buf[(this.head + i) & (this.buf.length - 1)];
      this.buf = bigger;
      this.head = 0;
    }
    this.buf[(this.head + this.length) & (this.buf.length - 1)] = time;
    this.length++;
  }
}

export class LinkDirection {
  params: LinkParams;
  blackholed = false;
  /** When the transmitter finishes the last packet it accepted. */
  busyUntil = 0;
  /** Latest scheduled arrival of a non-reordered packet (keeps jitter FIFO). */
  lastArrival = 0;
  /** Gilbert–Elliott state. */
  inBurst = false;
  readonly held = new FinishTimes();
  sent = 0;
  dropped = 0;

  constructor(
    readonly name: string,
    params: LinkParams,
  ) {
    this.params = params;
  }
}

export class Link {
  up = true;
  /** Bumped when the link goes down, so packets already on it are lost. */
  epoch = 0;
  readonly out: LinkDirection;
  readonly in: LinkDirection;

  constructor(
    readonly name: string,
    out: LinkParams,
    inbound: LinkParams,
  ) {
    this.out = new LinkDirection(`${name}/out`, out);
    this.in = new LinkDirection(`${name}/in`, inbound);
  }

  directions(selector: DirectionSelector): LinkDirection[] {
    if (selector === 'out') return [this.out];
    if (selector === 'in') return [this.in];
    return [this.out, this.in];
  }
}

const LINK_KEYS = new Set(Object.keys(DEFAULT_LINK));
const PROBABILITIES = ['loss', 'duplicate', 'reorder', 'corrupt'] as const;
const NON_NEGATIVE = ['delay', 'jitter', 'reorderDelay'] as const;

function describe(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return JSON.stringify(value) ?? typeof value;
}

function checkProbability(value: unknown, path: string): void {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new ScenarioError(`${path} must be in [0, 1], got ${describe(value)}`);
  }
}

/**
 * Checks a partial set of link parameters (`path` names it in messages, e.g.
 * `links["A.wifi"]`); returns it typed. Unknown keys are errors, so typos surface.
 */
export function validateLinkParams(
  value: unknown,
  path: string,
  extraKeys: readonly string[] = [],
): Partial<LinkParams> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ScenarioError(`${path} must be an object, got ${describe(value)}`);
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!LINK_KEYS.has(key) && !extraKeys.includes(key)) {
      throw new ScenarioError(`${path}.${key} is not a link parameter (known: ${[...LINK_KEYS].join(', ')})`);
    }
  }
  for (const key of PROBABILITIES) if (key in record) checkProbability(record[key], `${path}.${key}`);
  for (const key of NON_NEGATIVE) {
    if (key in record) {
      const v = record[key];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        throw new ScenarioError(`${path}.${key} must be a finite number ≥ 0 (ms), got ${describe(v)}`);
      }
    }
  }
  if ('bandwidth' in record) {
    const v = record.bandwidth;
    if (typeof v !== 'number' || !(v > 0)) {
      throw new ScenarioError(
        `${path}.bandwidth must be > 0 bits/s (Infinity for unlimited), got ${describe(v)}`,
      );
    }
  }
  if ('queue' in record) {
    const v = record.queue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new ScenarioError(`${path}.queue must be an integer ≥ 1 (packets), got ${describe(v)}`);
    }
  }
  if ('mtu' in record) {
    const v = record.mtu;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
      throw new ScenarioError(`${path}.mtu must be an integer in [1, 65535] (bytes), got ${describe(v)}`);
    }
  }
  if ('burstLoss' in record && record.burstLoss !== null) {
    const burst = record.burstLoss;
    const burstPath = `${path}.burstLoss`;
    if (typeof burst !== 'object' || burst === null || Array.isArray(burst)) {
      throw new ScenarioError(`${burstPath} must be an object { p, r, lossBad?, lossGood? } or null`);
    }
    const b = burst as Record<string, unknown>;
    for (const key of Object.keys(b)) {
      if (!['p', 'r', 'lossBad', 'lossGood'].includes(key)) {
        throw new ScenarioError(
          `${burstPath}.${key} is not a burst-loss parameter (known: p, r, lossBad, lossGood)`,
        );
      }
    }
    checkProbability(b.p, `${burstPath}.p`);
    checkProbability(b.r, `${burstPath}.r`);
    if (b.lossBad !== undefined) checkProbability(b.lossBad, `${burstPath}.lossBad`);
    if (b.lossGood !== undefined) checkProbability(b.lossGood, `${burstPath}.lossGood`);
  }
  const params: Partial<LinkParams> = {};
  for (const key of LINK_KEYS) {
    if (key in record) (params as Record<string, unknown>)[key] = record[key];
  }
  return params;
}
