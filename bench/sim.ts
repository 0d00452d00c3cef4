// Simulator speed with the real engine: one steady bulk session (client → server, never
// finishing) over a bottleneck link for 10 simulated minutes, reported as simulated seconds
// per wall second and datagrams per wall second. Baseline, measured in the same run: the
// bare event queue's pop+push rate at a similar queue size (the simulator's ceiling).
// `npm run bench -- sim [--sim-seconds N] [--bandwidth BPS] [--delay MS] [--loss P]`
// or `node --import tsx bench/sim.ts`. Prints JSON.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Connection } from '../src/engine/connection/connection.js';
import { socketAddress } from '../src/net/address.js';
import { round } from '../testing/harness/stats.js';
import { EngineNode } from '../testing/sim/engine-node.js';
import { keyPairFromRng, pairScenario } from '../testing/sim/engine-run.js';
import { EventQueue } from '../testing/sim/event-queue.js';
import { Rng } from '../testing/sim/rng.js';
import { Pattern, type WorkloadSpec } from '../testing/sim/workload.js';
import { result } from './lib/result.js';
import { progress, systemInfo } from './lib/system.js';

export interface SimBenchOptions {
  simSeconds: number;
  /** Bottleneck bits per second (the sender's uplink). */
  bandwidth: number;
  /** One-way delay of each access link, ms. */
  delay: number;
  loss: number;
}

const DEFAULTS: SimBenchOptions = {
  simSeconds: 600,
  bandwidth: 2e6,
  delay: 10,
  loss: 0,
};
/** Pending events the engine flow keeps: roughly a window of datagrams on the links plus timers. */
const QUEUE_SIZE = 64;

function parse(args: string[]): SimBenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      'sim-seconds': { type: 'string' },
      bandwidth: { type: 'string' },
      delay: { type: 'string' },
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
  /** Stream bytes the server acknowledged (written by the client and no longer buffered). */
  deliveredBytes: number;
  goodputBitsPerSec: number;
  /** The session was still open (no close) when the run ended. */
  sessionOpen: boolean;
}

/** Runs one real-engine bulk session for `simSeconds` of virtual time. */
export function measureFlow(options: SimBenchOptions): SimFlowResult {
  const seed = 1;
  const { sim, client, server } = pairScenario({
    seed,
    clientLink: {
      delay: options.delay,
      bandwidth: options.bandwidth,
      // About one bandwidth-delay product of queue (at least 32 datagrams).
      queue: Math.max(32, Math.ceil((options.bandwidth * 4 * options.delay) / 8 / 1200)),
      loss: options.loss,
    },
    serverLink: { delay: options.delay },
  });
  // More bytes than the link can carry in the run: the session stays in steady state.
  const bytes = Math.ceil((options.bandwidth / 8) * options.simSeconds * 2) + 1;
  const workload: WorkloadSpec = { bulk: { streams: 1, bytes, direction: 'up' } };
  const rng = new Rng(seed);
  const pattern = new Pattern(rng);
  const serverKey = keyPairFromRng(rng);
  const clientNode = new EngineNode({
    role: 'client',
    staticKey: keyPairFromRng(rng),
    rng: rng.fork(),
    workload,
    pattern,
  });
  const serverNode = new EngineNode({
    role: 'server',
    staticKey: serverKey,
    rng: rng.fork(),
    workload,
    pattern,
  });
  sim.attach(client.host, clientNode);
  sim.attach(server.host, serverNode);
  const start = performance.now();
  const driver = clientNode.connect(
    socketAddress(server.address, 4433),
    socketAddress(client.address, 40000),
    serverKey.publicKey,
    sim.now,
  );
  sim.wake(client.host);
  sim.run({ until: options.simSeconds * 1000 });
  const wallSeconds = (performance.now() - start) / 1000;
  let written = 0;
  for (const record of driver.sent.values()) written += record.bytes;
  const deliveredBytes = written - (driver.conn as Connection).memoryUsage().sendBuffered;
  return {
    wallSeconds,
    simSeconds: options.simSeconds,
    datagrams: sim.stats.delivered,
    events: sim.stats.events,
    deliveredBytes,
    goodputBitsPerSec: (deliveredBytes * 8) / options.simSeconds,
    sessionOpen: !driver.closed,
  };
}

export async function run(args: string[]): Promise<object> {
  const options = parse(args);
  progress(`sim: real-engine bulk session for ${options.simSeconds} simulated s`);
  measureFlow({ ...options, simSeconds: Math.min(5, options.simSeconds) }); // warm-up (JIT)
  const flow = measureFlow(options);
  measureQueue(200_000, QUEUE_SIZE);
  const queueRate = measureQueue(Math.max(1_000_000, flow.events), QUEUE_SIZE);
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
    sessionOpen: flow.sessionOpen,
    options,
    system: systemInfo(),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await run(process.argv.slice(2)), null, 2));
}
