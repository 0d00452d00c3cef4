import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type SocketAddress, socketAddress } from '../../src/net/address.js';
import { type ExploreCase, ExploreFailure, explore, randomScenario } from '../../testing/sim/explore.js';
import { WindowReceiver, WindowSender } from '../../testing/sim/nodes.js';
import { Rng } from '../../testing/sim/rng.js';
import { scenario, validateScenario } from '../../testing/sim/scenario.js';

const scratch = mkdtempSync(join(tmpdir(), 'braid-sim-explore-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs `fn` with BRAID_SEED set to `value` (or unset), restoring it afterwards. */
async function withSeedEnv<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.BRAID_SEED;
  if (value === undefined) delete process.env.BRAID_SEED;
  else process.env.BRAID_SEED = value;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.BRAID_SEED;
    else process.env.BRAID_SEED = saved;
  }
}

/** A window sender that moves to a remaining address when its own is removed (a toy roaming client). */
class RoamingSender extends WindowSender {
  private readonly addresses: Set<string>;
  constructor(local: SocketAddress, remote: SocketAddress, initial: string[]) {
    super({ local, remote, total: 200, window: 16, size: 1000, rto: 400 });
    this.addresses = new Set(initial);
  }
  onAddressChange(added: readonly string[], removed: readonly string[]): void {
    for (const a of added) this.addresses.add(a);
    for (const r of removed) this.addresses.delete(r);
    if (!this.addresses.has(this.local.address)) {
      const next = [...this.addresses][0];
      if (next !== undefined) this.local = socketAddress(next, this.local.port);
    }
  }
}

/** The toy workload: a reliable transfer that must finish within three scenario durations. */
function transfer({ scenario: drawn, sim }: ExploreCase): void {
  const sender = new RoamingSender(
    socketAddress(drawn.client.addresses[0], 4000),
    socketAddress(drawn.server.address, 443),
    drawn.client.addresses,
  );
  const receiver = new WindowReceiver();
  sim.attach(drawn.client.host, sender);
  sim.attach(drawn.server.host, receiver);
  const finished = sim.runUntil(() => sender.done, drawn.duration * 3);
  assert.ok(finished, `transfer stalled at ${receiver.expected}/200`);
  assert.equal(receiver.expected, 200);
}

describe('randomScenario', () => {
  test('draws valid, buildable, bounded scenarios; same seed, same scenario', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const drawn = randomScenario(new Rng(seed), { maxDuration: 10_000 });
      validateScenario(drawn.spec);
      assert.doesNotThrow(() => scenario(drawn.spec));
      assert.ok(drawn.duration >= 3000 && drawn.duration <= 10_000);
      for (const fault of drawn.spec.faults ?? []) {
        const end = fault.at + ('duration' in fault && fault.duration !== undefined ? fault.duration : 0);
        assert.ok(end <= drawn.duration * 0.8, `seed ${seed}: fault ends at ${end} of ${drawn.duration}`);
      }
      assert.deepEqual(randomScenario(new Rng(seed), { maxDuration: 10_000 }), drawn);
    }
  });

  test('covers the fault kinds and middleboxes across seeds', () => {
    const kinds = new Set<string>();
    let nats = 0;
    let firewalls = 0;
    for (let seed = 1; seed <= 100; seed++) {
      const { spec } = randomScenario(new Rng(seed));
      for (const fault of spec.faults ?? []) kinds.add(Object.keys(fault).find((k) => k !== 'at') as string);
      if (spec.nats) nats++;
      if (spec.firewalls) firewalls++;
    }
    assert.deepEqual([...kinds].sort(), [
      'addAddress',
      'blackhole',
      'down',
      'rebind',
      'removeAddress',
      'set',
    ]);
    assert.ok(nats > 10 && firewalls > 10);
  });
});

describe('explore', () => {
  test('a reliable toy transfer survives random scenarios', async () => {
    const result = await withSeedEnv(undefined, () =>
      explore({ seeds: 12, run: transfer, artifactsDir: scratch }),
    );
    assert.deepEqual(
      result.seeds,
      [...Array(12).keys()].map((i) => i + 1),
    );
  });

  test('a failing seed reports the seed, a replay command and writes the trace', async () => {
    const failure = await withSeedEnv(undefined, () =>
      explore({
        seeds: [5, 6, 7],
        artifactsDir: scratch,
        replayFile: 'test/sim/explore.test.ts',
        run: (c) => {
          transfer(c);
          if (c.seed === 6) throw new Error('invariant broken');
        },
      }).then(
        () => assert.fail('explore should have failed'),
        (error: unknown) => error,
      ),
    );
    assert.ok(failure instanceof ExploreFailure);
    assert.equal(failure.seed, 6);
    assert.equal(failure.replay, 'BRAID_SEED=6 node scripts/run-tests.mjs test/sim/explore.test.ts');
    assert.match(failure.message, /seed 6 failed: invariant broken/);
    assert.match(
      failure.message,
      /replay: BRAID_SEED=6 node scripts\/run-tests\.mjs test\/sim\/explore\.test\.ts/,
    );
    assert.equal(failure.tracePath, join(scratch, 'sim-6.trace'));
    assert.ok(existsSync(failure.tracePath));
    assert.match(readFileSync(failure.tracePath, 'utf8'), /^0\.000 send #1 /);
    assert.ok(!existsSync(join(scratch, 'sim-7.trace')), 'stops at the first failure');
  });

  test('BRAID_SEED replays exactly one seed, with the same trace', async () => {
    const digests: string[] = [];
    const record = (c: ExploreCase) => {
      transfer(c);
      digests.push(c.sim.trace?.digest() as string);
    };
    const replayed = await withSeedEnv('9', () => explore({ seeds: 100, run: record }));
    assert.deepEqual(replayed.seeds, [9]);
    await withSeedEnv(undefined, () => explore({ seeds: [9], run: record }));
    assert.equal(digests.length, 2);
    assert.equal(digests[0], digests[1]);
  });
});
