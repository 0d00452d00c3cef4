/**
 * Access links: each interface is joined to the core by one link with two independent
 * directions, `out` (host → core) and `in` (core → host). Each direction is a FIFO
 * transmitter (bandwidth, possibly on a schedule; a tail-drop queue bounded in packets,
 * bytes and ms) followed by a wire (delay, jitter with or without reordering, loss, bursty
 * loss per packet or in time, duplication, reordering, corruption) and an MTU check.
 */
import { ScenarioError } from './errors.js';

/** Gilbert–Elliott two-state loss: the state changes per packet, then loss is drawn in that state. */
export interface PacketBurstLoss {
  /** Probability of moving good → bad for each packet. */
  p: number;
  /** Probability of moving bad → good for each packet (mean burst length 1/r packets). */
  r: number;
  /** Loss probability in the bad state (default 1). */
  lossBad?: number;
  /** Loss probability in the good state (default 0). */
  lossGood?: number;
}

/**
 * Gilbert–Elliott loss in time: the state lasts an exponentially distributed time (mean
 * `goodMs` in the good state, `badMs` in the bad one) whatever the packet rate, so a burst
 * is an outage of a duration, not of a packet count (a fade, a handover).
 */
export interface TimedBurstLoss {
  /** Mean time in the good state, ms. */
  goodMs: number;
  /** Mean time in the bad state, ms. */
  badMs: number;
  /** Loss probability in the bad state (default 1). */
  lossBad?: number;
  /** Loss probability in the good state (default 0). */
  lossGood?: number;
}

export type BurstLoss = PacketBurstLoss | TimedBurstLoss;

/**
 * Capacity that varies over time: from each step's `at` (ms of simulated time) the link runs
 * at its `bandwidth`; before the first step, at the link's `bandwidth`. With `repeat` the
 * schedule restarts every `repeat` ms (its first step must then be at 0).
 */
export interface RateSchedule {
  steps: { at: number; bandwidth: number }[];
  repeat?: number;
}

export interface LinkParams {
  /** One-way propagation delay, ms. */
  delay: number;
  /** Extra delay drawn uniformly from [0, jitter] ms; in FIFO order unless `jitterReorder`. */
  jitter: number;
  /** Jitter is drawn per packet independently, so a later packet may overtake an earlier one. */
  jitterReorder: boolean;
  /** Bits per second of UDP payload plus `overhead`; Infinity = no serialization delay. */
  bandwidth: number;
  /** Capacity over time (overrides `bandwidth` from its first step on), or null. */
  rateSchedule: RateSchedule | null;
  /** Bytes each datagram costs on the link beyond its UDP payload (e.g. 28 for IPv4 + UDP headers). */
  overhead: number;
  /** Packets the transmitter holds, including the one being sent; arrivals beyond are tail-dropped. */
  queue: number;
  /** Bytes (payload + overhead) the transmitter holds, including the packet being sent; Infinity = no limit. */
  queueBytes: number;
  /** Longest wait before a packet's transmission starts, ms; a packet that would wait longer is tail-dropped. */
  queueMs: number;
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
  jitterReorder: false,
  bandwidth: Number.POSITIVE_INFINITY,
  rateSchedule: null,
  overhead: 0,
  queue: 1000,
  queueBytes: Number.POSITIVE_INFINITY,
  queueMs: Number.POSITIVE_INFINITY,
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

/** Finish times and sizes of the packets held by a transmitter, oldest first (a growable ring). */
class FinishTimes {
  private buf = new Float64Array(16);
  private sizes = new Float64Array(16);
  private head = 0;
  length = 0;
  /** Sum of the held packets' sizes. */
  bytes = 0;

  /** Forgets packets whose transmission ended at or before `now`. */
  expire(now: number): void {
    while (this.length > 0 && this.buf[this.head] <= now) {
      this.bytes -= this.sizes[this.head];
      this.head = (this.head + 1) & (this.buf.length - 1);
      this.length--;
    }
    if (this.length === 0) this.bytes = 0;
  }

  push(time: number, size = 0): void {
    if (this.length === this.buf.length) {
      const mask = this.buf.length - 1;
      const bigger = new Float64Array(this.buf.length * 2);
      const biggerSizes = new Float64Array(this.buf.length * 2);
      for (let i = 0; i < this.length; i++) {
        bigger[i] = this.buf[(this.head + i) & mask];
        biggerSizes[i] = this.sizes[(this.head + i) & mask];
      }
      this.buf = bigger;
      this.sizes = biggerSizes;
      this.head = 0;
    }
    const at = (this.head + this.length) & (this.buf.length - 1);
    this.buf[at] = time;
    this.sizes[at] = size;
    this.bytes += size;
    this.length++;
  }
}

/** The bandwidth in force at `time`: the schedule's latest step at or before it, else `bandwidth`. */
export function rateAt(params: LinkParams, time: number): number {
  const schedule = params.rateSchedule;
  if (schedule === null) return params.bandwidth;
  const t = schedule.repeat === undefined ? time : time % schedule.repeat;
  let rate = params.bandwidth;
  for (const step of schedule.steps) {
    if (step.at > t) break;
    rate = step.bandwidth;
  }
  return rate;
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
  /** Timed Gilbert–Elliott: when the current state ends (NaN: not started since the parameters were set). */
  burstStateEnds = Number.NaN;
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
const NON_NEGATIVE = ['delay', 'jitter', 'reorderDelay', 'overhead'] as const;

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

function checkRateSchedule(value: unknown, path: string): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ScenarioError(`${path} must be an object { steps, repeat? } or null, got ${describe(value)}`);
  }
  const schedule = value as Record<string, unknown>;
  for (const key of Object.keys(schedule)) {
    if (key !== 'steps' && key !== 'repeat')
      throw new ScenarioError(`${path}.${key} is not a schedule field (known: steps, repeat)`);
  }
  const steps = schedule.steps;
  if (!Array.isArray(steps) || steps.length === 0) {
    throw new ScenarioError(`${path}.steps must be a non-empty array of { at, bandwidth }`);
  }
  let previous = -1;
  steps.forEach((step: unknown, i) => {
    const stepPath = `${path}.steps[${i}]`;
    if (typeof step !== 'object' || step === null || Array.isArray(step)) {
      throw new ScenarioError(`${stepPath} must be an object { at, bandwidth }, got ${describe(step)}`);
    }
    const { at, bandwidth, ...rest } = step as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined)
      throw new ScenarioError(`${stepPath}.${extra} is not a step field (known: at, bandwidth)`);
    if (typeof at !== 'number' || !Number.isFinite(at) || at < 0 || at <= previous) {
      throw new ScenarioError(
        `${stepPath}.at must be a time ≥ 0 ms, after the previous step's, got ${describe(at)}`,
      );
    }
    if (typeof bandwidth !== 'number' || !(bandwidth > 0)) {
      throw new ScenarioError(
        `${stepPath}.bandwidth must be > 0 bits/s (Infinity for unlimited), got ${describe(bandwidth)}`,
      );
    }
    previous = at;
  });
  if (schedule.repeat !== undefined) {
    const repeat = schedule.repeat;
    if (typeof repeat !== 'number' || !Number.isFinite(repeat) || !(repeat > previous)) {
      throw new ScenarioError(
        `${path}.repeat must be a period in ms after the last step, got ${describe(repeat)}`,
      );
    }
    if ((steps[0] as { at: number }).at !== 0) {
      throw new ScenarioError(`${path}.steps[0].at must be 0 when the schedule repeats`);
    }
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
  if ('jitterReorder' in record && typeof record.jitterReorder !== 'boolean') {
    throw new ScenarioError(`${path}.jitterReorder must be a boolean, got ${describe(record.jitterReorder)}`);
  }
  for (const key of ['queueBytes', 'queueMs'] as const) {
    if (key in record) {
      const v = record[key];
      if (typeof v !== 'number' || !(v > 0)) {
        throw new ScenarioError(
          `${path}.${key} must be > 0 (${key === 'queueMs' ? 'ms' : 'bytes'}; Infinity for unlimited), got ${describe(v)}`,
        );
      }
    }
  }
  if ('rateSchedule' in record && record.rateSchedule !== null) {
    checkRateSchedule(record.rateSchedule, `${path}.rateSchedule`);
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
    const timed = 'goodMs' in b || 'badMs' in b;
    const known = timed ? ['goodMs', 'badMs', 'lossBad', 'lossGood'] : ['p', 'r', 'lossBad', 'lossGood'];
    for (const key of Object.keys(b)) {
      if (!known.includes(key)) {
        throw new ScenarioError(
          `${burstPath}.${key} is not a burst-loss parameter (per packet: p, r; in time: goodMs, badMs; both: lossBad, lossGood)`,
        );
      }
    }
    if (timed) {
      for (const key of ['goodMs', 'badMs'] as const) {
        const v = b[key];
        if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0)) {
          throw new ScenarioError(`${burstPath}.${key} must be a finite time > 0 (ms), got ${describe(v)}`);
        }
      }
    } else {
      checkProbability(b.p, `${burstPath}.p`);
      checkProbability(b.r, `${burstPath}.r`);
    }
    if (b.lossBad !== undefined) checkProbability(b.lossBad, `${burstPath}.lossBad`);
    if (b.lossGood !== undefined) checkProbability(b.lossGood, `${burstPath}.lossGood`);
  }
  const params: Partial<LinkParams> = {};
  for (const key of LINK_KEYS) {
    if (key in record) (params as Record<string, unknown>)[key] = record[key];
  }
  return params;
}
