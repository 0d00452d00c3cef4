// The multipath policy modules of src/paths on their own: LIA coupling (RFC 6356), the
// lowest-RTT-first scheduler, redundant copies and datagram deduplication, lazy backup paths.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { socketAddress } from '../../src/net/address.js';
import { type CoupledPath, LiaController, NewReno } from '../../src/paths/congestion/index.js';
import { LazyPaths } from '../../src/paths/lazy-paths.js';
import { Path } from '../../src/paths/path.js';
import { DATAGRAM_DEDUP_WINDOW, DatagramDeduplicator, RedundantCopies } from '../../src/paths/redundancy.js';
import { RttEstimator } from '../../src/paths/rtt-estimator.js';
import { bandwidthDelayProduct, compareByRtt, pathsInUse, pickPath } from '../../src/paths/scheduler.js';

const MDS = 1200;

function rttOf(ms: number): RttEstimator {
  const rtt = new RttEstimator();
  rtt.update(ms, 0, 0, true);
  return rtt;
}

/** A controller in congestion avoidance at `window` bytes (one loss from twice that). */
function inAvoidance<T extends NewReno>(cc: T, window: number): T {
  const rtt = rttOf(50);
  while (cc.window < 2 * window) cc.onPacketAcked(MDS, 1, 2, rtt, false);
  cc.onCongestionEvent(2, 3);
  // The halved window is now ~window; nudge it to exactly `window` through the protected field.
  (cc as unknown as { cwnd: number }).cwnd = window;
  return cc;
}

/** Bytes of window growth from acknowledging one full window (one RTT of ACKs) on `cc`. */
function growthPerRtt(cc: NewReno, rtt: RttEstimator): number {
  const before = cc.window;
  const acks = Math.round(before / MDS);
  for (let i = 0; i < acks; i++) cc.onPacketAcked(MDS, 10, 11, rtt, false);
  return cc.window - before;
}

describe('LIA (RFC 6356)', () => {
  test('alone, it is NewReno: one datagram per RTT in congestion avoidance', () => {
    const lia = inAvoidance(new LiaController(() => [], MDS), 60_000);
    const reno = inAvoidance(new NewReno(MDS), 60_000);
    const rtt = rttOf(50);
    assert.equal(lia.linked(50).alpha, 1);
    const a = growthPerRtt(lia, rtt);
    const b = growthPerRtt(reno, rtt);
    assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);
    assert.ok(Math.abs(a - MDS) < 30, `≈ one datagram per RTT, got ${a}`);
  });

  test('two equal paths on one bottleneck grow together like one Reno flow, not two', () => {
    const paths: CoupledPath[] = [];
    const a = inAvoidance(new LiaController(() => paths, MDS), 60_000);
    const b = inAvoidance(new LiaController(() => paths, MDS), 60_000);
    const rtt = rttOf(50);
    paths.push({ cc: a, srtt: 50 }, { cc: b, srtt: 50 });
    // alpha = total · max(w/rtt²) / (Σ w/rtt)² = w / 2w = 1/2 for two equal windows.
    assert.ok(Math.abs(a.linked(50).alpha - 0.5) < 1e-9);
    const total = growthPerRtt(a, rtt) + growthPerRtt(b, rtt);
    // Each path's ACKs raise it by alpha·mds·w/total = mds/4: half a datagram per RTT together
    // (RFC 6356's equilibrium then matches one Reno flow's window, split over both paths).
    assert.ok(total < 0.6 * MDS && total > 0.4 * MDS, `together ${total} bytes per RTT`);
  });

  test('never more than Reno on any one path (the min term), whatever the coupling', () => {
    const paths: CoupledPath[] = [];
    const small = inAvoidance(new LiaController(() => paths, MDS), 12_000);
    const big = inAvoidance(new LiaController(() => paths, MDS), 120_000);
    paths.push({ cc: small, srtt: 10 }, { cc: big, srtt: 200 });
    const rtt = rttOf(10);
    const reno = inAvoidance(new NewReno(MDS), 12_000);
    assert.ok(growthPerRtt(small, rtt) <= growthPerRtt(reno, rtt) + 1e-6);
  });

  test('a loss halves only the path it happened on; slow start is per path', () => {
    const paths: CoupledPath[] = [];
    const a = new LiaController(() => paths, MDS);
    const b = new LiaController(() => paths, MDS);
    paths.push({ cc: a, srtt: 50 }, { cc: b, srtt: 50 });
    const rtt = rttOf(50);
    a.onPacketAcked(MDS, 0, 1, rtt, false);
    assert.equal(a.window, 13_200, 'slow start: + bytes acked');
    a.onCongestionEvent(1, 2);
    assert.equal(a.window, 6600);
    assert.equal(b.window, 12_000);
  });
});

describe('scheduler: lowest RTT with room first', () => {
  function path(id: number, srtt: number | undefined): Path<undefined> {
    const p = new Path<undefined>({
      id,
      local: socketAddress('192.0.2.10', 1),
      remote: socketAddress('203.0.113.5', 2),
      now: 0,
      maxAckDelay: 3,
      validated: true,
    });
    if (srtt !== undefined) p.rtt.update(srtt, 0, 0, true);
    return p;
  }
  function fill(p: Path<undefined>, now: number): void {
    // Puts a window's worth in flight.
    let pn = p.nextPacketNumber;
    while (p.loss.bytesInFlight + MDS <= p.cc.window) {
      p.onPacketSent(
        { pn: pn++, timeSent: now, size: MDS, ackEliciting: true, inFlight: true, info: undefined },
        now,
      );
    }
  }

  test('order: sampled paths by smoothed RTT, unsampled last, ties by id', () => {
    const paths = [path(4, undefined), path(3, 40), path(1, 10), path(2, 10)];
    assert.deepEqual(
      [...paths].sort(compareByRtt).map((p) => p.id),
      [1, 2, 3, 4],
    );
  });

  test('picks the fastest path; when it is full, the next; when all are full, none', () => {
    const fast = path(1, 10);
    const slow = path(3, 40);
    assert.equal(pickPath([slow, fast], MDS, 0).path, fast);
    fill(fast, 0);
    assert.equal(pickPath([slow, fast], MDS, 0).path, slow);
    fill(slow, 0);
    const none = pickPath([slow, fast], MDS, 0);
    assert.equal(none.path, undefined);
    assert.equal(none.wakeAt, undefined, 'window-limited paths wait for ACKs, not a timer');
  });

  test('a paced path yields to the next one and reports when it may send again', () => {
    const fast = path(1, 10);
    // Drain the pacer's bucket (10 datagrams) without filling the window.
    for (let i = 0; i < 10; i++) {
      assert.equal(pickPath([fast], MDS, 0).path, fast);
      fast.onPacketSent(
        {
          pn: fast.nextPacketNumber,
          timeSent: 0,
          size: MDS,
          ackEliciting: true,
          inFlight: true,
          info: undefined,
        },
        0,
      );
    }
    // The window (12 000 bytes) is full after 10 datagrams; grow it so only pacing limits.
    for (let i = 0; i < 20; i++) fast.cc.onPacketAcked(MDS, 0, 1, fast.rtt, false);
    const paced = pickPath([fast], MDS, 0);
    assert.equal(paced.path, undefined);
    assert.ok(paced.wakeAt !== undefined && paced.wakeAt > 0, `wake at ${paced.wakeAt}`);
    const slow = path(3, 40);
    assert.equal(pickPath([fast, slow], MDS, 0).path, slow);
  });
});

describe('scheduler: head-of-line aware', () => {
  const MiB = 1 << 20;
  // The session's send window at the defaults: maxSessionBuffer − maxConnectionWindow − 256 KiB.
  const WINDOW = 16 * MiB - 8 * MiB - 256 * 1024;

  /** A validated path with one RTT sample and a NewReno window grown to `window` bytes in slow start. */
  function path(id: number, srtt: number | undefined, window = 12_000): Path<undefined> {
    const p = new Path<undefined>({
      id,
      local: socketAddress('192.0.2.10', id),
      remote: socketAddress('203.0.113.5', 2),
      now: 0,
      maxAckDelay: 3,
      validated: true,
      congestion: new NewReno(MDS),
    });
    if (srtt !== undefined) p.rtt.update(srtt, 0, 0, true);
    while (p.cc.window < window) p.cc.onPacketAcked(MDS, 0, 1, p.rtt, false);
    return p;
  }

  test('a slow path whose round trip the fast one would fill past half the window is left idle', () => {
    // fiber (10 ms, ~250 KB window: 25 MB/s) beside a geostationary satellite (600 ms): one
    // satellite round trip (srtt + rttvar = 900 ms after one sample) is ~23 MB of fiber data.
    const fiber = path(1, 10, 250_000);
    const satellite = path(2, 600, 3_000_000);
    assert.deepEqual(
      pathsInUse([satellite, fiber], WINDOW).map((p) => p.id),
      [1],
    );
    // Full fiber does not push packets onto the satellite: the session waits for fiber.
    let pn = 0;
    while (fiber.loss.bytesInFlight + MDS <= fiber.cc.window)
      fiber.onPacketSent(
        { pn: pn++, timeSent: 0, size: MDS, ackEliciting: true, inFlight: true, info: undefined },
        0,
      );
    assert.equal(pickPath([satellite, fiber], MDS, 0, WINDOW).path, undefined);
    // Without a window (or with one large enough for the satellite's round trip) it is used.
    assert.equal(pickPath([satellite, fiber], MDS, 0).path, satellite);
    assert.equal(pickPath([satellite, fiber], MDS, 0, 64 * MiB).path, satellite);
  });

  test('a slower path whose round trip fits in the window carries data beside the fast one', () => {
    const fiber = path(1, 10, 250_000);
    const lte = path(2, 60, 150_000);
    assert.deepEqual(
      pathsInUse([lte, fiber], WINDOW).map((p) => p.id),
      [1, 2],
    );
    // A bloated queue (srtt 400 ms) on the slow path takes it out until it drains.
    for (let i = 0; i < 40; i++) lte.rtt.update(400, 0, 0, true);
    assert.deepEqual(
      pathsInUse([lte, fiber], WINDOW).map((p) => p.id),
      [1],
    );
  });

  test('an unsampled path carries no data beside a sampled one (the session measures it first)', () => {
    const fiber = path(1, 10, 250_000);
    const fresh = path(2, undefined);
    assert.deepEqual(
      pathsInUse([fresh, fiber], WINDOW).map((p) => p.id),
      [1],
    );
    fresh.rtt.update(30, 0, 0, true);
    assert.deepEqual(
      pathsInUse([fresh, fiber], WINDOW).map((p) => p.id),
      [1, 2],
    );
    // Alone, it is the session's only path and carries data at once.
    assert.deepEqual(
      pathsInUse([path(3, undefined)], WINDOW).map((p) => p.id),
      [3],
    );
  });

  test('the bandwidth-delay product: the summed rate over the longest round trip in use', () => {
    const fiber = path(1, 10, 240_000);
    // One sample: rttvar = srtt / 2, so a round trip is held for 15 ms.
    assert.equal(bandwidthDelayProduct([fiber]), fiber.cc.window * 1.5);
    const cable = path(2, 25, 150_000);
    const rate = fiber.cc.window / 10 + cable.cc.window / 25;
    assert.ok(Math.abs(bandwidthDelayProduct([fiber, cable]) - rate * 37.5) < 1e-6);
    assert.equal(bandwidthDelayProduct([path(3, undefined)]), 0, 'an unsampled path adds nothing');
  });
});

describe('redundant copies', () => {
  const copy = (origin: number, expires: number, size = 10) => ({
    bytes: new Uint8Array(size),
    record: origin,
    origin,
    expires,
  });

  test('a copy goes on any path but its origin, within the room, in order', () => {
    const copies = new RedundantCopies<number>();
    copies.add(copy(1, 100, 10));
    copies.add(copy(1, 100, 20));
    copies.add(copy(3, 100, 10));
    assert.deepEqual(copies.origins(0), new Set([1, 3]));
    assert.deepEqual(
      copies.take(3, 100, 0).map((c) => c.bytes.length),
      [10, 20],
      'path 3 takes the copies from path 1',
    );
    assert.equal(copies.take(3, 100, 0).length, 0, 'not its own');
    assert.equal(copies.take(1, 5, 0).length, 0, 'too big for the room: stays');
    assert.equal(copies.take(1, 10, 0).length, 1);
    assert.equal(copies.size, 0);
  });

  test('copies that waited past their deadline are dropped, never sent late', () => {
    const copies = new RedundantCopies<number>();
    copies.add(copy(1, 50));
    copies.add(copy(1, 150));
    assert.equal(copies.nextExpiry, 50);
    assert.equal(copies.take(2, 1000, 100).length, 1);
    assert.equal(copies.dropped, 1);
  });

  test('the queue is bounded', () => {
    const copies = new RedundantCopies<number>();
    for (let i = 0; i < 300; i++) copies.add(copy(1, 100));
    assert.equal(copies.size, 256);
    assert.equal(copies.dropped, 44);
  });

  test('datagram sequence numbers are delivered once; very late ones are dropped too', () => {
    const dedup = new DatagramDeduplicator();
    assert.equal(dedup.accept(5), true);
    assert.equal(dedup.accept(5), false);
    assert.equal(dedup.accept(3), true, 'reordered, first copy');
    assert.equal(dedup.accept(3), false);
    assert.equal(dedup.duplicates, 2);
    assert.equal(dedup.accept(5 + DATAGRAM_DEDUP_WINDOW), true);
    assert.equal(dedup.accept(4), false, 'fell out of the window');
    assert.equal(dedup.tooOld, 1);
  });
});

describe('lazy backup paths', () => {
  test('without thresholds the gate is open from the start', () => {
    const lazy = new LazyPaths(undefined);
    assert.equal(lazy.waiting, false);
    assert.equal(lazy.open(0, 0, false), true);
    assert.equal(lazy.deadline, undefined);
  });

  test('opens at the time threshold, counted from the start, and stays open', () => {
    const lazy = new LazyPaths({ afterMs: 5000, afterBytes: Number.POSITIVE_INFINITY });
    assert.equal(lazy.open(1000, 0, false), false, 'not started: no time counted');
    lazy.start(1000);
    assert.equal(lazy.deadline, 6000);
    assert.equal(lazy.open(5999, 1e9, false), false);
    assert.equal(lazy.open(6000, 0, false), true);
    assert.equal(lazy.waiting, false);
    assert.equal(lazy.open(6001, 0, false), true);
    assert.equal(lazy.deadline, undefined);
  });

  test('opens at the byte threshold, or at once when the path is in trouble', () => {
    const bytes = new LazyPaths({ afterMs: Number.POSITIVE_INFINITY, afterBytes: 1000 });
    bytes.start(0);
    assert.equal(bytes.deadline, undefined, 'no time threshold: no timer');
    assert.equal(bytes.open(10, 999, false), false);
    assert.equal(bytes.open(10, 1000, false), true);
    const trouble = new LazyPaths({ afterMs: 60_000, afterBytes: 1e9 });
    trouble.start(0);
    assert.equal(trouble.open(10, 0, true), true);
  });
});
