// The link model's WAN features (issue 14): jitter that reorders, Gilbert–Elliott loss in time,
// queues bounded in bytes and ms, per-packet overhead, asymmetric rates, capacity on a schedule,
// and the named path profiles as scenario links. Each is deterministic per seed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PATH_PROFILES } from '../../src/cli/demo/path-profiles.js';
import { A, B, twoHosts } from '../../testing/harness/sim-hosts.js';
import { ScenarioError } from '../../testing/sim/errors.js';
import { DEFAULT_LINK } from '../../testing/sim/link.js';
import type { LinkSpec, Simulator } from '../../testing/sim/network.js';
import { Recorder, SequenceSender } from '../../testing/sim/nodes.js';
import { simLinkOf } from '../../testing/sim/profiles.js';
import { scenario } from '../../testing/sim/scenario.js';

/** `count` packets of `size` bytes, one every `interval` ms, from A to B (or B to A). */
function flow(sim: Simulator, count: number, size: number, interval: number, from: 'A' | 'B' = 'A') {
  const [local, remote, to] = from === 'A' ? [A, B, 'B'] : [B, A, 'A'];
  const recorder = new Recorder();
  sim.attach(from, new SequenceSender({ local, remote, count, size, interval }));
  sim.attach(to, recorder);
  return recorder;
}

function inversions(seqs: number[]): number {
  let count = 0;
  let highest = -1;
  for (const seq of seqs) {
    if (seq < highest) count++;
    highest = Math.max(highest, seq);
  }
  return count;
}

describe('jitter', () => {
  test('with jitterReorder, packets overtake each other, each within [delay, delay + jitter]', () => {
    const sim = twoHosts({ delay: 20, jitter: 30, jitterReorder: true }, {}, 5);
    const recorder = flow(sim, 2000, 100, 1);
    sim.run({ until: 5000 });
    assert.equal(recorder.arrivals.length, 2000);
    for (const a of recorder.arrivals) {
      const latency = a.time - a.seq;
      assert.ok(latency >= 20 && latency <= 50, `latency ${latency}`);
    }
    const swapped = inversions(recorder.arrivals.map((a) => a.seq));
    // Packets 1 ms apart with 30 ms of independent jitter: most are overtaken by something.
    assert.ok(swapped > 1000, `inversions ${swapped}`);
    // Counted at the link: packets that arrive before one sent ahead of them.
    assert.ok(sim.stats.reordered > 1000, `reordered ${sim.stats.reordered}`);
    // The same jitter without reordering keeps FIFO order (test/sim/link.test.ts checks the bounds).
    const fifo = twoHosts({ delay: 20, jitter: 30 }, {}, 5);
    const inOrder = flow(fifo, 2000, 100, 1);
    fifo.run({ until: 5000 });
    assert.equal(inversions(inOrder.arrivals.map((a) => a.seq)), 0);
  });
});

describe('Gilbert–Elliott loss in time', () => {
  /** Lengths in ms of the runs of lost packets (first to last lost, plus one interval). */
  function outages(received: Set<number>, count: number, interval: number): number[] {
    const runs: number[] = [];
    let run = 0;
    for (let seq = 0; seq <= count; seq++) {
      if (seq < count && !received.has(seq)) run++;
      else if (run > 0) {
        runs.push(run * interval);
        run = 0;
      }
    }
    return runs;
  }

  test('bursts last a time, not a packet count: the same outages at 1 and at 10 packets per ms', () => {
    const burstLoss = { goodMs: 450, badMs: 50 };
    const results = [1, 0.1].map((interval) => {
      const count = Math.round(200_000 / interval);
      const sim = twoHosts({ burstLoss }, {}, 9);
      const recorder = flow(sim, count, 20, interval);
      sim.run({ until: 200_001 });
      const lost = count - recorder.arrivals.length;
      const runs = outages(new Set(recorder.arrivals.map((a) => a.seq)), count, interval);
      return { share: lost / count, meanOutage: runs.reduce((x, y) => x + y, 0) / runs.length };
    });
    for (const { share, meanOutage } of results) {
      // Stationary share of the bad state: 50 / (450 + 50) = 10 %; ~400 bursts in 200 s.
      assert.ok(share > 0.08 && share < 0.12, `loss share ${share}`);
      assert.ok(meanOutage > 40 && meanOutage < 60, `mean outage ${meanOutage} ms`);
    }
    // Counted per packet, the faster flow would see bursts 10× shorter in time.
    assert.ok(Math.abs(results[0].meanOutage - results[1].meanOutage) < 10);
  });

  test('lossGood and lossBad apply in their states; the drops are counted as burst-loss', () => {
    const sim = twoHosts({ burstLoss: { goodMs: 100, badMs: 100, lossBad: 0.5, lossGood: 0.1 } }, {}, 2);
    const recorder = flow(sim, 100_000, 20, 1);
    sim.run({ until: 100_001 });
    const lost = 100_000 - recorder.arrivals.length;
    // Half the time each: (0.5 + 0.1) / 2 = 30 %.
    assert.ok(Math.abs(lost / 100_000 - 0.3) < 0.03, `lost ${lost}`);
    assert.equal(sim.stats.drops['burst-loss'], lost);
  });
});

describe('queues in bytes and ms, overhead, asymmetric rates', () => {
  test('queueMs tail-drops a packet that would wait longer than the bound', () => {
    // 1250-byte packets take 10 ms at 1 Mbit/s: those starting at 0, 10, …, 50 ms are accepted.
    const sim = twoHosts({ bandwidth: 1e6, queueMs: 50 });
    const recorder = flow(sim, 10, 1250, 0);
    sim.run({ until: 1000 });
    assert.deepEqual(
      recorder.arrivals.map((a) => a.time),
      [10, 20, 30, 40, 50, 60],
    );
    assert.equal(sim.stats.drops['queue-full'], 4);
  });

  test('queueBytes bounds the bytes held, including the packet being sent', () => {
    const sim = twoHosts({ bandwidth: 1e6, queueBytes: 3000 });
    const recorder = flow(sim, 10, 1250, 0);
    sim.run({ until: 1000 });
    assert.equal(recorder.arrivals.length, 2);
    // Paced at the link rate, the queue holds one packet at a time and drops nothing.
    const paced = twoHosts({ bandwidth: 1e6, queueBytes: 1300 });
    const all = flow(paced, 10, 1250, 10);
    paced.run({ until: 1000 });
    assert.equal(all.arrivals.length, 10);
  });

  test('overhead counts in serialization: 1222 payload bytes + 28 take 10 ms at 1 Mbit/s', () => {
    const sim = twoHosts({ bandwidth: 1e6, overhead: 28 });
    const recorder = flow(sim, 3, 1222, 0);
    sim.run({ until: 1000 });
    assert.deepEqual(
      recorder.arrivals.map((a) => a.time),
      [10, 20, 30],
    );
  });

  test('asymmetric rates: 1 Mbit/s up and 10 Mbit/s down on the same interface', () => {
    const link: LinkSpec = { out: { bandwidth: 1e6 }, in: { bandwidth: 10e6 } };
    const up = twoHosts(link);
    const upArrivals = flow(up, 5, 1250, 0, 'A');
    up.run({ until: 1000 });
    assert.deepEqual(
      upArrivals.arrivals.map((a) => a.time),
      [10, 20, 30, 40, 50],
    );
    const down = twoHosts(link);
    const downArrivals = flow(down, 5, 1250, 0, 'B');
    down.run({ until: 1000 });
    assert.deepEqual(
      downArrivals.arrivals.map((a) => a.time),
      [1, 2, 3, 4, 5],
    );
  });
});

describe('capacity over time', () => {
  test('a schedule changes the rate at its steps; each packet runs at the rate where it starts', () => {
    const sim = twoHosts({
      bandwidth: 1e6,
      rateSchedule: {
        steps: [
          { at: 40, bandwidth: 0.1e6 },
          { at: 240, bandwidth: 1e6 },
        ],
      },
    });
    const recorder = flow(sim, 8, 1250, 0);
    sim.run({ until: 1000 });
    // 10 ms each until 40 ms, 100 ms each from then, 10 ms again from 240 ms.
    assert.deepEqual(
      recorder.arrivals.map((a) => a.time),
      [10, 20, 30, 40, 140, 240, 250, 260],
    );
  });

  test('a repeating schedule cycles, and a packet flow sees the average rate', () => {
    const sim = twoHosts({
      rateSchedule: {
        steps: [
          { at: 0, bandwidth: 2e6 },
          { at: 500, bandwidth: 1e6 },
        ],
        repeat: 1000,
      },
      queue: 100_000,
    });
    const recorder = flow(sim, 20_000, 1250, 0);
    sim.run({ until: 10_000 });
    // Half of each second at 200 packets/s, half at 100: 150 per second.
    assert.equal(recorder.arrivals.length, 1500);
  });

  test('schedules are validated', () => {
    assert.throws(() => twoHosts({ rateSchedule: { steps: [] } }), /rateSchedule.steps must be a non-empty/);
    assert.throws(
      () =>
        twoHosts({
          rateSchedule: {
            steps: [
              { at: 10, bandwidth: 1e6 },
              { at: 5, bandwidth: 1e6 },
            ],
          },
        }),
      /steps\[1\].at must be a time/,
    );
    assert.throws(
      () => twoHosts({ rateSchedule: { steps: [{ at: 10, bandwidth: 1e6 }], repeat: 100 } }),
      /steps\[0\].at must be 0 when the schedule repeats/,
    );
    assert.throws(() => twoHosts({ queueMs: 0 }), /queueMs must be > 0/);
    assert.throws(
      () => twoHosts({ burstLoss: { goodMs: 100, badMs: 0 } }),
      /badMs must be a finite time > 0/,
    );
    assert.throws(() => twoHosts({ burstLoss: { goodMs: 100, badMs: 5, p: 0.1 } }), /p is not a burst-loss/);
  });
});

describe('determinism', () => {
  test('the same seed gives the same deliveries with every new feature on', () => {
    const link: LinkSpec = {
      delay: 5,
      jitter: 20,
      jitterReorder: true,
      burstLoss: { goodMs: 200, badMs: 20, lossBad: 0.8 },
      rateSchedule: {
        steps: [
          { at: 0, bandwidth: 5e6 },
          { at: 300, bandwidth: 1e6 },
        ],
        repeat: 700,
      },
      overhead: 28,
      queueMs: 40,
      queueBytes: 20_000,
    };
    const runOnce = (seed: number) => {
      const sim = twoHosts(link, {}, seed);
      const recorder = flow(sim, 5000, 1000, 0.5);
      sim.run({ until: 10_000 });
      return recorder.arrivals.map((a) => `${a.seq}@${a.time}`).join(',');
    };
    assert.equal(runOnce(3), runOnce(3));
    assert.notEqual(runOnce(3), runOnce(4));
  });
});

describe('named path profiles in scenarios', () => {
  const hosts = {
    client: { interfaces: { wifi: ['192.0.2.10'], lte: ['198.51.100.10'] } },
    server: { interfaces: { eth: ['203.0.113.5'] } },
  };

  test('profile: a name sets both directions through simLinkOf', () => {
    const sim = scenario({ seed: 1, hosts, links: { 'client.lte': { profile: 'lte' } } });
    const link = sim.interface('client.lte').link;
    assert.deepEqual(link.out.params, { ...DEFAULT_LINK, ...simLinkOf(PATH_PROFILES.lte.up) });
    assert.deepEqual(link.in.params, { ...DEFAULT_LINK, ...simLinkOf(PATH_PROFILES.lte.down) });
    assert.equal(link.out.params.jitter, 15);
    assert.equal(link.out.params.bandwidth, 20e6);
    assert.equal(link.out.params.queueMs, 300);
    assert.equal(link.out.params.mtu, 1472);
  });

  test('profile per direction, with explicit parameters over the profile', () => {
    const sim = scenario({
      seed: 1,
      hosts,
      links: {
        'client.wifi': { profile: { up: 'lte', down: 'fiber' }, mtu: 1252, in: { delay: 1 } },
      },
    });
    const link = sim.interface('client.wifi').link;
    assert.equal(link.out.params.bandwidth, 20e6);
    assert.equal(link.in.params.bandwidth, 200e6);
    assert.equal(link.out.params.delay, 22.5);
    assert.equal(link.in.params.delay, 1);
    assert.equal(link.out.params.mtu, 1252);
    assert.equal(link.in.params.mtu, 1252);
  });

  test('wifi-bad jitter reorders; fiber is clean at its rate', () => {
    assert.equal(simLinkOf(PATH_PROFILES['wifi-bad'].up).jitterReorder, true);
    assert.equal(simLinkOf(PATH_PROFILES.lte.up).jitterReorder, false);
    const fiber = simLinkOf(PATH_PROFILES.fiber.down);
    assert.deepEqual(
      { loss: fiber.loss, burstLoss: fiber.burstLoss, jitter: fiber.jitter },
      { loss: 0, burstLoss: null, jitter: 0 },
    );
  });

  test('an unknown profile is a ScenarioError naming the field and the known profiles', () => {
    const bad = (profile: unknown) => () =>
      scenario({ seed: 1, hosts, links: { 'client.lte': { profile: profile as string } } });
    assert.throws(bad('5g'), (error: unknown) => {
      assert.ok(error instanceof ScenarioError);
      assert.match(
        error.message,
        /^links\["client.lte"\].profile: unknown path profile '5g' \(known: lan, fiber/,
      );
      return true;
    });
    assert.throws(bad({ up: 'lte' }), /links\["client.lte"\].profile.down must be a profile name/);
    assert.throws(bad({ up: 'lte', down: 'lte', side: 1 }), /profile.side is not a profile field/);
  });
});
