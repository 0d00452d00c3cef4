// The properties can fail: a deliberately broken engine is caught. And a seed replays the
// real engine bit for bit (identical trace digests).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConnectionTestHooks } from '../../src/engine/connection/connection.js';
import type { Frame } from '../../src/wire/frames.js';
import { pairScenario, runEngineSessions } from '../../testing/sim/engine-run.js';
import { Rng } from '../../testing/sim/rng.js';

const workload = {
  bulk: { streams: 2, bytes: 200_000, direction: 'up' as const },
  requests: { count: 5, size: 500 },
};

function runWith(server: ConnectionTestHooks | undefined, seed = 5) {
  const {
    sim,
    client,
    server: srv,
  } = pairScenario({ seed, trace: true, clientLink: { delay: 10, bandwidth: 20e6, queue: 128, loss: 0.01 } });
  const result = runEngineSessions({
    sim,
    rng: new Rng(seed),
    client,
    server: srv,
    workload,
    testHooks: server ? { server } : undefined,
    transport: { idleTimeout: 5000 },
    timeLimit: 30_000,
  });
  return { sim, result };
}

describe('properties catch a broken engine', () => {
  test('the healthy engine passes (control)', () => {
    const { result } = runWith(undefined);
    assert.deepEqual(result.violations, []);
    assert.ok(result.complete);
  });

  test('a receiver that flips a byte of one STREAM frame after decryption: hash mismatch reported', () => {
    let corrupted = false;
    const hooks: ConnectionTestHooks = {
      mutateFramesBeforeProcessing(frames: Frame[]) {
        return frames.map((f) => {
          if (corrupted || f.type !== 'stream' || f.data.length < 100 || (f.streamId & 2) === 0) return f;
          corrupted = true;
          const data = Uint8Array.prototype.slice.call(f.data);
          data[50] ^= 0xff;
          return { ...f, data };
        });
      },
    };
    const { result } = runWith(hooks);
    assert.ok(corrupted);
    assert.ok(
      result.violations.some((v) => /stream \d+ client→server: sent .* read /.test(v)),
      result.violations.join('\n'),
    );
  });

  test('a receiver that silently loses one STREAM frame (yet acks it): the session hangs and is reported', () => {
    let dropped = false;
    const hooks: ConnectionTestHooks = {
      mutateFramesBeforeProcessing(frames: Frame[]) {
        return frames.map((f) => {
          if (dropped || f.type !== 'stream' || (f.streamId & 2) === 0 || f.offset === 0) return f;
          dropped = true;
          return { type: 'padding', length: 1 } as Frame;
        });
      },
    };
    const { result } = runWith(hooks);
    assert.ok(dropped);
    assert.equal(result.complete, false);
    assert.ok(
      result.violations.some((v) => /closed before completing|a hang/.test(v)),
      result.violations.join('\n'),
    );
  });
});

describe('determinism with the real engine', () => {
  test('the same seed twice gives identical trace digests; another seed differs', () => {
    const a = runWith(undefined, 11);
    const b = runWith(undefined, 11);
    const c = runWith(undefined, 12);
    assert.ok((a.sim.trace?.count ?? 0) > 100);
    assert.equal(a.sim.trace?.digest(), b.sim.trace?.digest());
    assert.notEqual(a.sim.trace?.digest(), c.sim.trace?.digest());
  });
});
