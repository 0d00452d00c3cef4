import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { socketAddress } from '../../src/net/address.js';
import { ScenarioError } from '../../testing/sim/errors.js';
import { Recorder, SequenceSender, WindowReceiver, WindowSender } from '../../testing/sim/nodes.js';
import { type ScenarioSpec, scenario, validateScenario } from '../../testing/sim/scenario.js';

const scratch = mkdtempSync(join(tmpdir(), 'braid-sim-scenario-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const base = (): ScenarioSpec => ({
  seed: 7,
  hosts: {
    A: { interfaces: { wifi: ['192.0.2.10'], lte: ['198.51.100.10'] } },
    B: { interfaces: { eth: ['203.0.113.5', '2001:db8::5'] } },
  },
  links: {
    'A.wifi': { delay: 20, bandwidth: 50e6, queue: 100, loss: 0.01 },
    'A.lte': { delay: 60, jitter: 10, out: { loss: 0.02 } },
  },
});

// biome-ignore lint/suspicious/noExplicitAny: the tests deliberately build invalid specs
type Loose = Record<string, any>;

function rejects(mutate: (spec: Loose) => void, message: RegExp | string): void {
  const spec = base() as Loose;
  mutate(spec);
  assert.throws(
    () => scenario(spec as ScenarioSpec),
    (error: unknown) => {
      assert.ok(error instanceof ScenarioError, `expected ScenarioError, got ${error}`);
      if (typeof message === 'string') assert.equal(error.message, message);
      else assert.match(error.message, message);
      return true;
    },
  );
}

describe('scenario validation names the offending field', () => {
  test('a valid scenario builds', () => {
    assert.doesNotThrow(() => validateScenario(base()));
    const sim = scenario(base());
    assert.deepEqual(sim.interfaceNames(), ['A.wifi', 'A.lte', 'B.eth']);
  });

  test('link parameters', () => {
    rejects((s) => {
      s.links['A.wifi'].loss = 1.5;
    }, 'links["A.wifi"].loss must be in [0, 1], got 1.5');
    rejects((s) => {
      s.links['A.wifi'].dealy = 5;
    }, /^links\["A.wifi"\]\.dealy is not a link parameter/);
    rejects((s) => {
      s.links['A.lte'].out.delay = -1;
    }, /^links\["A.lte"\]\.out\.delay must be a finite number ≥ 0/);
    rejects((s) => {
      s.links['A.wifi'].queue = 2.5;
    }, /^links\["A.wifi"\]\.queue must be an integer ≥ 1/);
    rejects((s) => {
      s.links['A.wifi'].bandwidth = 0;
    }, /^links\["A.wifi"\]\.bandwidth must be > 0/);
    rejects((s) => {
      s.links['A.wifi'].burstLoss = { p: 0.1, r: 2 };
    }, /^links\["A.wifi"\]\.burstLoss\.r must be in \[0, 1\]/);
    rejects((s) => {
      s.links['A.wifi'].mtu = 70000;
    }, /^links\["A.wifi"\]\.mtu must be an integer in \[1, 65535\]/);
    rejects((s) => {
      s.links['A.nope'] = {};
    }, /^links\["A.nope"\]: no interface A.nope/);
  });

  test('hosts and addresses', () => {
    rejects((s) => {
      s.seed = 1.5;
    }, /^seed must be a safe integer/);
    rejects((s) => {
      s.hosts.B.interfaces.eth[1] = '2001:db8::zz';
    }, /^hosts\.B\.interfaces\.eth\[1\] must be an IPv4 or IPv6 address/);
    rejects((s) => {
      s.hosts.B.interfaces.eth[0] = '192.0.2.10';
    }, /^hosts\.B\.interfaces\.eth\[0\]: 192\.0\.2\.10 is already used at hosts\.A\.interfaces\.wifi\[0\]/);
    rejects((s) => {
      s.hosts['A.x'] = { interfaces: { eth: [] } };
    }, /^hosts\.A\.x: host names must match/);
    rejects((s) => {
      s.hosts.C = { interfaces: {} };
    }, /^hosts\.C\.interfaces must name at least one interface/);
    rejects((s) => {
      s.extra = 1;
    }, /^scenario\.extra is not a known field/);
  });

  test('NATs and firewalls', () => {
    rejects((s) => {
      s.nats = { nat1: { covers: 'A.wifi', public: '198.18.0.1', timeout: 0 } };
    }, /^nats\.nat1\.timeout must be a time in ms ≥ 1/);
    rejects((s) => {
      s.nats = { nat1: { covers: ['A.wifi', 'Q'], public: '198.18.0.1' } };
    }, /^nats\.nat1\.covers\[1\] must name a host or a host\.interface/);
    rejects((s) => {
      s.nats = { nat1: { covers: 'A', public: '203.0.113.5' } };
    }, /^hosts\.B\.interfaces\.eth\[0\]: 203\.0\.113\.5 is already a NAT public address/);
    rejects((s) => {
      s.nats = { nat1: { covers: 'A', public: '198.18.0.1', filtering: 'cone' } };
    }, /^nats\.nat1\.filtering must be/);
    rejects((s) => {
      s.firewalls = { fw: { covers: 'A', timeout: 'soon' } };
    }, /^firewalls\.fw\.timeout must be a time in ms/);
    // Hosts behind different NATs may reuse private addresses.
    const spec = base();
    spec.hosts.C = { interfaces: { eth: ['10.0.0.2'] } };
    spec.hosts.D = { interfaces: { eth: ['10.0.0.2'] } };
    spec.nats = { n1: { covers: 'C', public: '198.18.0.1' }, n2: { covers: 'D', public: '198.18.0.2' } };
    assert.doesNotThrow(() => scenario(spec));
  });

  test('faults', () => {
    rejects((s) => {
      s.faults = [{ at: 3000, blackhole: 'A.wifi', direction: 'up' }];
    }, `faults[0].direction must be 'in', 'out' or 'both', got "up"`);
    rejects((s) => {
      s.faults = [
        { at: 10, down: 'A.wifi' },
        { at: -1, up: 'A.wifi' },
      ];
    }, /^faults\[1\]\.at must be a time in ms ≥ 0/);
    rejects((s) => {
      s.faults = [{ at: 10, down: 'A.eth' }];
    }, /^faults\[0\]\.down must name an interface/);
    rejects((s) => {
      s.faults = [{ at: 10, rebind: 'nat9' }];
    }, /^faults\[0\]\.rebind must name a NAT/);
    rejects((s) => {
      s.faults = [{ at: 10, set: 'A.wifi', params: { loss: 3 } }];
    }, 'faults[0].params.loss must be in [0, 1], got 3');
    rejects((s) => {
      s.faults = [{ at: 10, down: 'A.wifi', up: 'A.wifi' }];
    }, /^faults\[0\] must have exactly one of/);
    rejects((s) => {
      s.faults = [{ at: 10, addAddress: 'A.wifi', adress: '192.0.2.11' }];
    }, /^faults\[0\]\.adress is not a known field/);
  });
});

describe('scenario faults run at their times', () => {
  test('blackhole out, heal, set loss, address change and rebind', () => {
    const spec: ScenarioSpec = {
      seed: 3,
      hosts: { A: { interfaces: { wifi: ['10.0.0.2'] } }, B: { interfaces: { eth: ['203.0.113.5'] } } },
      links: { 'A.wifi': { delay: 5 } },
      nats: { nat1: { covers: 'A', public: '198.18.0.1' } },
      faults: [
        { at: 300, blackhole: 'A.wifi', direction: 'out', duration: 200 },
        { at: 700, rebind: 'nat1' },
        { at: 800, set: 'A.wifi', params: { loss: 1 }, direction: 'out' },
        { at: 900, set: 'A.wifi', params: { loss: 0 } },
        { at: 950, addAddress: 'A.wifi', address: '10.0.0.3' },
      ],
      trace: true,
    };
    const sim = scenario(spec);
    const sender = new SequenceSender({
      local: socketAddress('10.0.0.2', 4000),
      remote: socketAddress('203.0.113.5', 443),
      count: 100,
      size: 50,
      interval: 10,
    });
    const server = new Recorder();
    sim.attach('A', sender);
    sim.attach('B', server);
    sim.run({ until: 2000 });
    const got = new Set(server.arrivals.map((a) => a.seq));
    for (let seq = 0; seq < 100; seq++) {
      const t = seq * 10;
      const expected = !(t >= 300 && t < 500) && !(t >= 800 && t < 900);
      assert.equal(got.has(seq), expected, `seq ${seq} at ${t}`);
    }
    const ports = new Set(server.arrivals.map((a) => a.remote.port));
    assert.equal(ports.size, 2, 'rebinding changed the public port once');
    assert.deepEqual(sender.addressChanges, [{ added: ['10.0.0.3'], removed: [], time: 950 }]);
    const faults = sim.trace?.lines().filter((l) => l.includes(' fault ')) ?? [];
    assert.deepEqual(
      faults.map((l) => l.split(' ').slice(0, 4).join(' ')),
      [
        '300.000 fault blackhole A.wifi',
        '500.000 fault heal A.wifi',
        '700.000 fault rebind nat1',
        '800.000 fault set A.wifi',
        '900.000 fault set A.wifi',
        '950.000 fault add-address A.wifi',
      ],
    );
  });
});

describe('determinism and tracing', () => {
  const rough = (seed: number): ScenarioSpec => ({
    seed,
    hosts: { A: { interfaces: { wifi: ['192.0.2.10'] } }, B: { interfaces: { eth: ['203.0.113.5'] } } },
    links: {
      'A.wifi': {
        delay: 15,
        jitter: 5,
        bandwidth: 20e6,
        queue: 40,
        loss: 0.02,
        reorder: 0.05,
        duplicate: 0.01,
        corrupt: 0.01,
      },
      'B.eth': { delay: 5, burstLoss: { p: 0.01, r: 0.3 } },
    },
    faults: [{ at: 200, blackhole: 'A.wifi', duration: 100 }],
    trace: true,
  });

  function runTransfer(seed: number) {
    const sim = scenario(rough(seed));
    const sender = new WindowSender({
      local: socketAddress('192.0.2.10', 1000),
      remote: socketAddress('203.0.113.5', 443),
      total: 500,
      window: 24,
      size: 1000,
      rto: 80,
    });
    sim.attach('A', sender);
    sim.attach('B', new WindowReceiver());
    assert.ok(sim.runUntil(() => sender.done, 30_000));
    return { sim, digest: sim.trace?.digest() as string };
  }

  test('the same seed gives an identical trace; another seed does not', () => {
    const first = runTransfer(11);
    const second = runTransfer(11);
    const other = runTransfer(12);
    assert.equal(first.digest, second.digest);
    assert.deepEqual(first.sim.stats, second.sim.stats);
    assert.deepEqual(first.sim.trace?.lines(), second.sim.trace?.lines());
    assert.notEqual(first.digest, other.digest);
    assert.match(first.digest, /^[0-9a-f]{64}$/);
  });

  test('trace lines are compact and name the drop reason; writeTo saves them with the digest', () => {
    const { sim, digest } = runTransfer(11);
    const lines = sim.trace?.lines() ?? [];
    assert.match(
      lines[0],
      /^0\.000 send #1 192\.0\.2\.10:1000>203\.0\.113\.5:443 1000 h=[0-9a-f]{8} A\.wifi$/,
    );
    assert.ok(lines.some((l) => / drop #\d+ .* blackhole A\.wifi\/out$/.test(l)));
    assert.ok(lines.some((l) => / deliver #\d+ .* B\.eth$/.test(l)));
    const path = join(scratch, 'nested', 'run.trace');
    sim.trace?.writeTo(path);
    const text = readFileSync(path, 'utf8');
    assert.ok(text.endsWith(`# digest ${digest} lines ${lines.length}\n`));
    assert.equal(text.split('\n').length, lines.length + 2);
  });

  test('a bounded trace keeps the newest lines but digests all of them', () => {
    const full = scenario({ ...rough(5), trace: true });
    const bounded = scenario({ ...rough(5), trace: { maxLines: 10 } });
    for (const sim of [full, bounded]) {
      sim.attach(
        'A',
        new SequenceSender({
          local: socketAddress('192.0.2.10', 1),
          remote: socketAddress('203.0.113.5', 2),
          count: 50,
          size: 100,
          interval: 5,
        }),
      );
      sim.attach('B', new Recorder());
      sim.run({ until: 1000 });
    }
    assert.equal(full.trace?.digest(), bounded.trace?.digest());
    assert.deepEqual(bounded.trace?.lines(), full.trace?.lines().slice(-10));
    assert.match(bounded.trace?.text() ?? '', /^# \d+ earlier lines omitted\n/);
  });
});
