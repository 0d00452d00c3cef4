// Negotiation of the multipath policy (transport parameters 0x48 / 0x49, docs/protocol.md §11.5)
// and the receiver's rule for SEQUENCED_DATAGRAM frames, with the real engine in the simulator.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MultipathPolicy } from '../../src/engine/types.js';
import { TransportError } from '../../src/wire/errors.js';
import type { Frame } from '../../src/wire/frames.js';
import { pairScenario, runEngineSessions } from '../../testing/sim/engine-run.js';
import { Rng } from '../../testing/sim/rng.js';

function run(options: {
  clientPolicy?: MultipathPolicy;
  serverPolicy?: MultipathPolicy;
  mutateServerFrames?: (frames: Frame[]) => Frame[];
}) {
  const { sim, client, server } = pairScenario({ seed: 2, clientLink: { delay: 10 } });
  return runEngineSessions({
    sim,
    rng: new Rng(2),
    client,
    server,
    workload: { datagrams: { count: 20, size: 50, interval: 5 }, requests: { count: 2, size: 500 } },
    clientTransport: options.clientPolicy && { multipath: { policy: options.clientPolicy } },
    serverTransport: options.serverPolicy && { multipath: { policy: options.serverPolicy } },
    testHooks: options.mutateServerFrames && {
      server: { mutateFramesBeforeProcessing: options.mutateServerFrames },
    },
    timeLimit: 20_000,
    requireCompletion: false,
  });
}

test('the client asks, the server follows; without a request both run failover', () => {
  for (const policy of ['failover', 'aggregate', 'redundant'] as const) {
    const r = run({ clientPolicy: policy });
    assert.deepEqual(r.violations, []);
    assert.equal(r.clients[0].conn.multipathPolicy, policy);
    assert.equal(r.servers[0].conn.multipathPolicy, policy);
  }
  // A server's own `multipath.policy` does not impose anything on its clients.
  const r = run({ serverPolicy: 'aggregate' });
  assert.equal(r.clients[0].conn.multipathPolicy, 'failover');
  assert.equal(r.servers[0].conn.multipathPolicy, 'failover');
});

test('a SEQUENCED_DATAGRAM outside the redundant policy is a PROTOCOL_VIOLATION', () => {
  const sequenced = (frames: Frame[]) =>
    frames.map((f, i): Frame => (f.type === 'datagram' ? { ...f, sequence: i } : f));
  const r = run({ mutateServerFrames: sequenced });
  const close = r.servers[0].closeInfo;
  assert.equal(close?.code, TransportError.PROTOCOL_VIOLATION, JSON.stringify(close));
  assert.match(close?.reason ?? '', /SEQUENCED_DATAGRAM/);
  // Under 'redundant' the same frames are fine, and a repeated sequence number is dropped.
  const twice = (frames: Frame[]) =>
    frames.map((f): Frame => (f.type === 'datagram' ? { ...f, sequence: 7 } : f));
  const ok = run({ clientPolicy: 'redundant', mutateServerFrames: twice });
  assert.equal(ok.servers[0].closeInfo, undefined);
  assert.equal(ok.servers[0].datagrams.received, 1, 'one sequence number, one delivery');
  assert.ok(
    (ok.servers[0].conn.stats.drops['duplicate-datagram'] ?? 0) >= 10,
    'the other copies counted as dropped',
  );
});
