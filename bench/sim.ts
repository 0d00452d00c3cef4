// Simulator speed: a bulk flow of the fixed-window test sender (cumulative acks, go-back-N)
// over a 10-simulated-minute run on one bottleneck link, reported as datagrams per wall
// second and simulated seconds per wall second. Baseline, measured in the same run: the bare
// event queue's pop+push rate at a similar queue size (the simulator's ceiling).
// `npm run bench -- sim [--sim-seconds N] [--bandwidth BPS] [--delay MS] [--window N] [--size B]`
// or `node --import tsx bench/sim.ts`. Prints JSON.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { socketAddress } from '../src/net/address.js';
import { EventQueue } from '../src/sim/event-queue.js';
import { Simulator } from '../src/sim/network.js';
import { WindowReceiver, WindowSender } from '../src/sim/nodes.js';
import { Rng } from '../src/sim/rng.js';
import { result } from './lib/result.js';
import { round } from './lib/stats.js';
import { progress, systemInfo } from './lib/system.js';

export interface SimBenchOptions {
  simSeconds: number;
  /** Bottleneck bits per second (the sender's uplink). */
  bandwidth: number;
  /** One-way delay of each access link, ms. */
  delay: number;
  window: number;
  size: number;
  loss: number;
}

const DEFAULTS: SimBenchOptions = {
  simSeconds: 600,
  bandwidth: 20e6,
  delay: 10,
  window: 128,
  size: 1200,
  loss: 0,
};

function parse(args: string[]): SimBenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      'sim-seconds': { type: 'string' },
      bandwidth: { type: 'string' },
      delay: { type: 'string' },
      window: { type: 'string' },
      size: { type: 'string' },
      loss: { type: 'string' },
    },
    strict: true,
  });
  const num = (value: string | undefined, fallback: number, name: string): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0)
      throw new RangeError(`--${name} must be a non-negative number, got ${value}`);
    return n;
  };
  return {
    simSeconds: num(values['sim-seconds'], DEFAULTS.simSeconds, 'sim-seconds'),
    bandwidth: num(values.bandwidth, DEFAULTS.bandwidth, 'bandwidth'),
    delay: num(values.delay, DEFAULTS.delay, 'delay'),
    window: num(values.window, DEFAULTS.window, 'window'),
    size: num(values.size, DEFAULTS.size, 'size'),
    loss: num(values.loss, DEFAULTS.loss, 'loss'),
  };
}

/** Bare queue: `cycles` pop+push pairs at a steady `pending` size. Returns cycles per second. */
export function measureQueue(cycles: number, pending: number): number {
  const queue = new EventQueue<{ time: number; seq: number }>();
  const rng = new Rng(1);
  for (let i = 0; i < pending; i++) queue.push({ time: rng.float() * 10, seq: 0 });
  const start = performance.now();
  for (let i = 0; i < cycles; i++) {
    const ev = queue.pop() as { time: number; seq: number };
    ev.time += rng.float() * 10;
    queue.push(ev);
  }
  return cycles / ((performance.now() - start) / 1000);
}

export interface SimFlowResult {
  wallSeconds: number;
  simSeconds: number;
  datagrams: number;
  events: number;
  deliveredPackets: number;
  goodputBitsPerSec: number;
}

/** Runs the bulk flow for `simSeconds` of virtual time. */
export function measureFlow(options: SimBenchOptions): SimFlowResult {
  const sim = new Simulator({ seed: 1 });
  sim.addHost('A');
  sim.addHost('B');
  // Queue deeper than the window: the flow saturates the bottleneck without tail drops.
  sim.addInterface('A', 'eth', ['192.0.2.10'], {
    delay: options.delay,
    bandwidth: options.bandwidth,
    queue: Math.max(16, options.window * 2),
    loss: options.loss,
  });
  sim.addInterface('B', 'eth', ['203.0.113.5'], { delay: options.delay });
  const sender = new WindowSender({
    local: socketAddress('192.0.2.10', 4000),
    remote: socketAddress('203.0.113.5', 443),
    total: Number.POSITIVE_INFINITY,
    window: options.window,
    size: options.size,
    rto: 4 * options.delay + 200,
  });
  const receiver = new WindowReceiver({ verify: false });
  sim.attach('A', sender);
  sim.attach('B', receiver);
  const start = performance.now();
  sim.run({ until: options.simSeconds * 1000 });
  const wallSeconds = (performance.now() - start) / 1000;
  return {
    wallSeconds,
    simSeconds: options.simSeconds,
    datagrams: sim.stats.delivered,
    events: sim.stats.events,
    deliveredPackets: receiver.expected,
    goodputBitsPerSec: (receiver.expected * options.size * 8) / options.simSeconds,
  };
}

export async function run(args: string[]): Promise<object> {
  const options = parse(args);
  progress(`sim: bulk flow for ${options.simSeconds} simulated s`);
  measureFlow({ ...options, simSeconds: Math.min(5, options.simSeconds) }); // warm-up (JIT)
  const flow = measureFlow(options);
  // Roughly the simulator's pending-event count for this flow: two windows in flight plus timers.
  measureQueue(200_000, options.window * 2);
  const queueRate = measureQueue(Math.max(1_000_000, flow.events), options.window * 2);
  const datagramsPerSec = flow.datagrams / flow.wallSeconds;
  const eventsPerSec = flow.events / flow.wallSeconds;
  return {
    ...result({
      name: 'sim-datagrams-per-wall-second',
      value: Math.round(datagramsPerSec),
      unit: 'datagrams/s',
      baseline: { name: 'bare-event-queue-pop-push', value: Math.round(queueRate), unit: 'cycles/s' },
    }),
    simSecondsPerWallSecond: round(flow.simSeconds / flow.wallSeconds, 2),
    eventsPerWallSecond: Math.round(eventsPerSec),
    eventsPerDatagram: round(flow.events / Math.max(1, flow.datagrams), 3),
    eventsVsQueueRatio: round(eventsPerSec / queueRate, 3),
    wallSeconds: round(flow.wallSeconds, 3),
    datagrams: flow.datagrams,
    goodputBitsPerSec: Math.round(flow.goodputBitsPerSec),
    options,
    system: systemInfo(),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await run(process.argv.slice(2)), null, 2));
}
