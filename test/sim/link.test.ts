import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SocketAddress, Transmit } from '../../src/net/address.js';
import { A, B, twoHosts } from '../../testing/harness/sim-hosts.js';
import type { SimNode } from '../../testing/sim/network.js';
import { EchoNode, makePacket, packetIntact, Recorder, SequenceSender } from '../../testing/sim/nodes.js';

/** Sends `count` packets of `size` bytes from A to B every `interval` ms and records them at B. */
function flow(sim: ReturnType<typeof twoHosts>, count: number, size: number, interval: number, start = 0) {
  const sender = new SequenceSender({ local: A, remote: B, count, size, interval, start });
  const recorder = new Recorder();
  sim.attach('A', sender);
  sim.attach('B', recorder);
  return { sender, recorder };
}

/** Holds fixed buffers and sends each once, so tests can check they were not modified. */
class BufferSender implements SimNode {
  private next = 0;
  constructor(
    readonly buffers: Uint8Array[],
    private readonly local: SocketAddress,
    private readonly remote: SocketAddress,
  ) {}
  receive(): void {}
  pollTransmit(): Transmit | undefined {
    if (this.next >= this.buffers.length) return undefined;
    return { local: this.local, remote: this.remote, data: this.buffers[this.next++] };
  }
  nextDeadline(): number | undefined {
    return undefined;
  }
  onTimeout(): void {}
}

describe('delay, bandwidth and queue', () => {
  test('a 1 Mbit/s link delivers 1250-byte packets one per 10 ms', () => {
    const sim = twoHosts({ bandwidth: 1e6 });
    const { recorder } = flow(sim, 10, 1250, 0);
    sim.run({ until: 1000 });
    assert.deepEqual(
      recorder.arrivals.map((a) => a.time),
      [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    );
    assert.deepEqual(
      recorder.arrivals.map((a) => a.seq),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });

  test('propagation delay adds on both links after serialization', () => {
    const sim = twoHosts({ bandwidth: 1e6, delay: 25 }, { delay: 5 });
    const { recorder } = flow(sim, 3, 1250, 0);
    sim.run({ until: 1000 });
    assert.deepEqual(
      recorder.arrivals.map((a) => a.time),
      [40, 50, 60],
    );
  });

  test('a full queue tail-drops; it drains at link rate', () => {
    const sim = twoHosts({ bandwidth: 1e6, queue: 3 });
    const { recorder } = flow(sim, 10, 1250, 0);
    sim.run({ until: 1000 });
    assert.deepEqual(
      recorder.arrivals.map((a) => a.seq),
      [0, 1, 2],
    );
    assert.equal(sim.stats.drops['queue-full'], 7);
    // Paced at the link rate, the same queue never overflows.
    const paced = twoHosts({ bandwidth: 1e6, queue: 1 });
    const result = flow(paced, 10, 1250, 10);
    paced.run({ until: 1000 });
    assert.equal(result.recorder.arrivals.length, 10);
  });

  test('jitter without reordering keeps FIFO order within [delay, delay + jitter]', () => {
    const sim = twoHosts({ delay: 20, jitter: 30 }, {}, 5);
    const { recorder } = flow(sim, 2000, 100, 1);
    sim.run({ until: 5000 });
    assert.equal(recorder.arrivals.length, 2000);
    let spread = 0;
    recorder.arrivals.forEach((a, i) => {
      assert.equal(a.seq, i);
      const latency = a.time - a.seq;
      assert.ok(latency >= 20 && latency <= 50, `latency ${latency}`);
      spread = Math.max(spread, latency - 20);
    });
    assert.ok(spread > 20, 'jitter visible');
  });
});

describe('loss', () => {
  test('random loss rate is within statistical bounds', () => {
    const sim = twoHosts({ loss: 0.1 }, {}, 3);
    const { recorder } = flow(sim, 20_000, 50, 0);
    sim.run({ until: 10 });
    const lost = 20_000 - recorder.arrivals.length;
    // Binomial(20000, 0.1): mean 2000, sd ≈ 42.
    assert.ok(Math.abs(lost - 2000) < 250, `lost ${lost}`);
    assert.equal(sim.stats.drops.loss, lost);
  });

  function lossRuns(received: Set<number>, count: number): number[] {
    const runs: number[] = [];
    let run = 0;
    for (let seq = 0; seq < count; seq++) {
      if (!received.has(seq)) run++;
      else if (run > 0) {
        runs.push(run);
        run = 0;
      }
    }
    if (run > 0) runs.push(run);
    return runs;
  }

  test('Gilbert–Elliott loss comes in bursts; independent loss of the same rate does not', () => {
    const count = 20_000;
    const bursty = twoHosts({ burstLoss: { p: 0.01, r: 0.2 } }, {}, 4);
    const b = flow(bursty, count, 50, 0);
    bursty.run({ until: 10 });
    const burstRuns = lossRuns(new Set(b.recorder.arrivals.map((a) => a.seq)), count);
    const burstLost = burstRuns.reduce((x, y) => x + y, 0);
    // Stationary loss p / (p + r) ≈ 4.8%, mean burst 1/r = 5 packets.
    assert.ok(burstLost > 0.03 * count && burstLost < 0.07 * count, `lost ${burstLost}`);
    const meanBurst = burstLost / burstRuns.length;
    assert.ok(meanBurst > 3.5 && meanBurst < 7, `mean burst ${meanBurst}`);

    const independent = twoHosts({ loss: burstLost / count }, {}, 4);
    const i = flow(independent, count, 50, 0);
    independent.run({ until: 10 });
    const runs = lossRuns(new Set(i.recorder.arrivals.map((a) => a.seq)), count);
    const meanRun = runs.reduce((x, y) => x + y, 0) / runs.length;
    assert.ok(meanRun < 1.2, `independent mean run ${meanRun}`);
  });
});

describe('duplication, reordering, corruption, MTU', () => {
  test('reordering happens, and no packet is held longer than reorderDelay', () => {
    const sim = twoHosts({ delay: 10, reorder: 0.1, reorderDelay: 20 }, {}, 6);
    const { recorder } = flow(sim, 2000, 100, 1);
    sim.run({ until: 5000 });
    assert.equal(recorder.arrivals.length, 2000);
    let inversions = 0;
    let maxSeq = -1;
    for (const a of recorder.arrivals) {
      const latency = a.time - a.seq;
      assert.ok(latency >= 10 && latency <= 30, `latency ${latency}`);
      if (a.seq < maxSeq) inversions++;
      maxSeq = Math.max(maxSeq, a.seq);
    }
    assert.ok(inversions > 50, `inversions ${inversions}`);
    assert.ok(sim.stats.reordered > 150 && sim.stats.reordered < 250);
    // Reordering only where asked: the same flow without it stays in order.
    const plain = twoHosts({ delay: 10 }, {}, 6);
    const p = flow(plain, 200, 100, 1);
    plain.run({ until: 5000 });
    assert.deepEqual(
      p.recorder.arrivals.map((a) => a.seq),
      [...Array(200).keys()],
    );
  });

  test('duplication delivers a second, separate copy', () => {
    const sim = twoHosts({ duplicate: 1 });
    const buffers = [makePacket(0, 1, 100), makePacket(0, 2, 100)];
    sim.attach('A', new BufferSender(buffers, A, B));
    const recorder = new Recorder();
    sim.attach('B', recorder);
    sim.run({ until: 10 });
    assert.deepEqual(
      recorder.arrivals.map((a) => a.seq),
      [1, 1, 2, 2],
    );
    assert.notEqual(recorder.arrivals[0].data, recorder.arrivals[1].data);
    assert.deepEqual(recorder.arrivals[0].data, recorder.arrivals[1].data);
    assert.equal(sim.stats.duplicated, 2);
  });

  test('corruption flips bits in a copy, never in the sender buffer', () => {
    const sim = twoHosts({ corrupt: 1 });
    const buffers = Array.from({ length: 50 }, (_, i) => makePacket(0, i, 200));
    const originals = buffers.map((b) => b.slice());
    sim.attach('A', new BufferSender(buffers, A, B));
    const recorder = new Recorder();
    sim.attach('B', recorder);
    sim.run({ until: 10 });
    assert.equal(recorder.arrivals.length, 50);
    assert.deepEqual(buffers, originals);
    for (const [i, a] of recorder.arrivals.entries()) {
      assert.notDeepEqual(a.data, originals[i]);
      let flipped = 0;
      for (let j = 0; j < a.data.length; j++) {
        let x = a.data[j] ^ originals[i][j];
        while (x) {
          flipped += x & 1;
          x >>>= 1;
        }
      }
      assert.ok(flipped >= 1 && flipped <= 3, `flipped ${flipped}`);
    }
    assert.ok(recorder.arrivals.some((a) => !packetIntact(a.data)));
  });

  test('datagrams larger than the MTU are dropped', () => {
    const sim = twoHosts({ mtu: 1000 });
    sim.attach('A', new BufferSender([new Uint8Array(1000), new Uint8Array(1001)], A, B));
    const recorder = new Recorder();
    sim.attach('B', recorder);
    sim.run({ until: 10 });
    assert.deepEqual(
      recorder.arrivals.map((a) => a.size),
      [1000],
    );
    assert.equal(sim.stats.drops.mtu, 1);
  });

  test('the default MTU is 1472 bytes of UDP payload', () => {
    const sim = twoHosts();
    sim.attach('A', new BufferSender([new Uint8Array(1472), new Uint8Array(1473)], A, B));
    const recorder = new Recorder();
    sim.attach('B', recorder);
    sim.run({ until: 10 });
    assert.equal(recorder.arrivals.length, 1);
  });
});

describe('link faults', () => {
  /** A sends to an echo at B every 10 ms from t=0 to t=990; returns the sender (it records echoes). */
  function echoFlow(sim: ReturnType<typeof twoHosts>) {
    const sender = new SequenceSender({ local: A, remote: B, count: 100, size: 100, interval: 10 });
    const echo = new EchoNode();
    sim.attach('A', sender);
    sim.attach('B', echo);
    return { sender, echo };
  }

  test('a blackhole drops silently in both directions until healed', () => {
    const sim = twoHosts({ delay: 1 }, { delay: 1 });
    const { sender, echo } = echoFlow(sim);
    sim.at(300, () => sim.blackhole('A.eth'));
    sim.at(600, () => sim.blackhole('A.eth', 'both', false));
    sim.run({ until: 2000 });
    const reachedB = echo.arrivals.map((a) => a.seq);
    assert.ok(!reachedB.some((s) => s >= 30 && s < 60));
    assert.ok(reachedB.includes(29) && reachedB.includes(60) && reachedB.includes(99));
    assert.equal(sender.arrivals.length, 70);
    assert.equal(sim.stats.drops.blackhole, 30);
  });

  test('a one-way blackhole drops only that direction', () => {
    const sim = twoHosts({ delay: 1 }, { delay: 1 });
    const { sender, echo } = echoFlow(sim);
    sim.at(300, () => sim.blackhole('A.eth', 'in'));
    sim.at(600, () => sim.blackhole('A.eth', 'in', false));
    sim.run({ until: 2000 });
    assert.equal(echo.arrivals.length, 100, 'A → B unaffected');
    const echoed = sender.arrivals.map((a) => a.seq);
    assert.equal(echoed.length, 70);
    assert.ok(!echoed.some((s) => s >= 30 && s < 60));
  });

  test('link down loses packets already on the link; up restores it', () => {
    const sim = twoHosts({ delay: 50 });
    const { recorder } = flow(sim, 20, 100, 10);
    sim.at(95, () => sim.linkDown('A.eth'));
    sim.at(150, () => sim.linkUp('A.eth'));
    sim.run({ until: 1000 });
    // Sent at 0..90 would arrive at 50..140: those arriving before 95 made it, the rest were on the wire.
    assert.deepEqual(
      recorder.arrivals.map((a) => a.seq),
      [0, 1, 2, 3, 4, 15, 16, 17, 18, 19],
    );
    assert.equal(sim.stats.drops['link-down'], 10);
  });

  test('link parameters can change at a time', () => {
    const sim = twoHosts({}, {}, 8);
    const { recorder } = flow(sim, 10_000, 50, 0.1);
    sim.at(500, () => sim.setLink('A.eth', { loss: 0.3 }, 'out'));
    sim.run({ until: 2000 });
    const before = recorder.arrivals.filter((a) => a.seq < 5000).length;
    const after = recorder.arrivals.filter((a) => a.seq >= 5000).length;
    assert.equal(before, 5000);
    assert.ok(Math.abs(after - 3500) < 200, `after ${after}`);
  });
});
