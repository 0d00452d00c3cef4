/**
 * Named path profiles: what a real access network does to packets, as numbers. One definition
 * with two back-ends: the simulator's link model (testing/sim, via `simLinkOf`) and the netns
 * lab's impairment element (lab/, docs/lab.md). Scenarios name a profile per provider and, when
 * the two directions differ, per direction.
 *
 * Every figure is per direction: a profile's round trip is twice `delayMs` plus the jitter of
 * both directions. Jitter is an extra delay drawn uniformly from [0, jitterMs] for each packet;
 * with `reorder` packets are released when their own delay ends (later packets may overtake),
 * without it they keep their order (a packet never leaves before the one ahead of it).
 */

/** Gilbert–Elliott bursty loss, per packet: good → bad with probability p, bad → good with r. */
export interface BurstLossProfile {
  /** Probability, per packet in the good state, of moving to the bad state. */
  p: number;
  /** Probability, per packet in the bad state, of moving back (mean burst length 1/r packets). */
  r: number;
  /** Loss probability in the bad state. */
  lossBad: number;
}

/** One direction of one provider link. */
export interface DirectionProfile {
  /** One-way propagation delay, ms. */
  delayMs: number;
  /** Extra per-packet delay drawn uniformly from [0, jitterMs], ms. */
  jitterMs: number;
  /** Whether jitter may reorder packets (true) or keeps them in order (false). */
  reorder: boolean;
  /** Independent random loss probability per packet. */
  loss: number;
  /** Bursty loss in addition to `loss`, or null. */
  burstLoss: BurstLossProfile | null;
  /** Bottleneck rate, bits per second of IP packets; Infinity = unlimited. */
  rateBps: number;
  /** Bottleneck queue, in ms of the rate (bufferbloat); packets arriving to a full queue are dropped. */
  queueMs: number;
  /** Largest IP packet (bytes) the link carries; larger ones vanish with no ICMP. */
  mtu: number;
}

export interface PathProfile {
  name: string;
  /** What the profile stands for, for tables and docs. */
  summary: string;
  /** Client → server direction (uplink). */
  up: DirectionProfile;
  /** Server → client direction (downlink). */
  down: DirectionProfile;
}

/**
 * Bursty loss whose long-run loss rate is `rate` with mean bursts of `meanBurst` packets: the
 * stationary share of the bad state is p / (p + r) = rate, with r = 1 / meanBurst.
 */
export function burstLoss(rate: number, meanBurst: number): BurstLossProfile {
  const r = 1 / meanBurst;
  return { p: (rate * r) / (1 - rate), r, lossBad: 1 };
}

function symmetric(name: string, summary: string, direction: DirectionProfile): PathProfile {
  return Object.freeze({
    name,
    summary,
    up: Object.freeze({ ...direction }),
    down: Object.freeze({ ...direction }),
  });
}

const CLEAN: DirectionProfile = {
  delayMs: 0,
  jitterMs: 0,
  reorder: false,
  loss: 0,
  burstLoss: null,
  rateBps: Number.POSITIVE_INFINITY,
  queueMs: 100,
  mtu: 1500,
};

export const PATH_PROFILES: Readonly<Record<string, PathProfile>> = Object.freeze({
  lan: symmetric('lan', 'the lab veth as it is: no impairment', { ...CLEAN }),
  fiber: symmetric('fiber', '10 ms RTT, no loss, 200 Mbit/s', {
    ...CLEAN,
    delayMs: 5,
    rateBps: 200e6,
    queueMs: 50,
  }),
  cable: symmetric('cable', '25 ms RTT, 0.1 % loss, 50 Mbit/s, 200 ms queue', {
    ...CLEAN,
    delayMs: 12.5,
    loss: 0.001,
    rateBps: 50e6,
    queueMs: 200,
  }),
  lte: symmetric('lte', '60 ms ± 15 ms RTT, 1 % bursty loss, 20 Mbit/s, 300 ms queue', {
    ...CLEAN,
    delayMs: 22.5,
    jitterMs: 15,
    burstLoss: burstLoss(0.01, 3),
    rateBps: 20e6,
    queueMs: 300,
  }),
  'wifi-bad': symmetric(
    'wifi-bad',
    '15 ms RTT + up to 40 ms jitter with reordering, 3 % bursty loss, 30 Mbit/s',
    {
      ...CLEAN,
      delayMs: 7.5,
      jitterMs: 20,
      reorder: true,
      burstLoss: burstLoss(0.03, 3),
      rateBps: 30e6,
      queueMs: 100,
    },
  ),
  'satellite-geo': symmetric('satellite-geo', '600 ms RTT, 0.5 % loss, 50 Mbit/s', {
    ...CLEAN,
    delayMs: 300,
    loss: 0.005,
    rateBps: 50e6,
    queueMs: 200,
  }),
  intercontinental: symmetric('intercontinental', '150 ms RTT, no loss, 100 Mbit/s', {
    ...CLEAN,
    delayMs: 75,
    rateBps: 100e6,
    queueMs: 100,
  }),
});

export type PathProfileName = keyof typeof PATH_PROFILES;

/** The profile called `name`, or a clear error naming the ones there are. */
export function pathProfile(name: string): PathProfile {
  const profile = PATH_PROFILES[name];
  if (!profile)
    throw new RangeError(`unknown path profile '${name}' (known: ${Object.keys(PATH_PROFILES).join(', ')})`);
  return profile;
}

/** Mean round-trip time of a profile in ms, queueing aside: both delays plus both mean jitters. */
export function meanRttMs(profile: PathProfile): number {
  return profile.up.delayMs + profile.down.delayMs + (profile.up.jitterMs + profile.down.jitterMs) / 2;
}
