import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { socketAddress } from '../../src/net/address.js';
import { A, A_IP, B, B_IP, twoHosts } from '../../testing/harness/sim-hosts.js';
import { SimError } from '../../testing/sim/errors.js';
import { Simulator } from '../../testing/sim/network.js';
import {
  EchoNode,
  makePacket,
  Recorder,
  ScriptedNode,
  SequenceSender,
  WindowReceiver,
  WindowSender,
} from '../../testing/sim/nodes.js';

const PRIVATE = socketAddress('10.0.0.2', 5000);
const PUBLIC_IP = '198.18.0.1';
const C = socketAddress('198.51.100.7', 7000);

/** A behind a NAT (10.0.0.2), B and C public. */
function natted(config: Parameters<Simulator['addNat']>[1] = { publicAddresses: [PUBLIC_IP] }): Simulator {
  const sim = new Simulator({ seed: 2 });
  for (const name of ['A', 'B', 'C']) sim.addHost(name);
  sim.addInterface('A', 'wifi', ['10.0.0.2'], { delay: 5 });
  sim.addInterface('B', 'eth', [B_IP], { delay: 5 });
  sim.addInterface('C', 'eth', [C.address], { delay: 5 });
  sim.addNat('nat1', config, ['A']);
  return sim;
}

describe('routing and addresses', () => {
  test('a source address the host does not have is dropped', () => {
    const sim = twoHosts();
    const sender = new ScriptedNode();
    sim.attach('A', sender);
    const recorder = new Recorder();
    sim.attach('B', recorder);
    sender.send(socketAddress('192.0.2.99', 1), B, makePacket(0, 1, 10));
    sender.send(A, B, makePacket(0, 2, 10));
    sim.run({ until: 10 });
    assert.deepEqual(
      recorder.arrivals.map((a) => a.seq),
      [2],
    );
    assert.equal(sim.stats.drops['no-such-source'], 1);
  });

  test('a destination nobody holds is dropped as no-route', () => {
    const sim = twoHosts();
    const sender = new ScriptedNode();
    sim.attach('A', sender);
    sender.send(A, socketAddress('203.0.113.77', 1), makePacket(0, 1, 10));
    sim.run({ until: 10 });
    assert.equal(sim.stats.drops['no-route'], 1);
  });

  test('the receiver sees the local and remote addresses of the path, on the right interface', () => {
    const sim = new Simulator({ seed: 1 });
    sim.addHost('A');
    sim.addHost('B');
    sim.addInterface('A', 'wifi', ['192.0.2.10'], { delay: 10 });
    sim.addInterface('A', 'lte', ['198.51.100.10'], { delay: 40 });
    sim.addInterface('B', 'eth', [B_IP, '2001:db8::5']);
    const sender = new ScriptedNode();
    sim.attach('A', sender);
    const echo = new EchoNode();
    sim.attach('B', echo);
    sender.send(socketAddress('192.0.2.10', 1), B, makePacket(0, 1, 10));
    sender.send(socketAddress('198.51.100.10', 2), socketAddress('2001:db8::5', 443), makePacket(0, 2, 10));
    sim.run({ until: 200 });
    assert.deepEqual(
      echo.arrivals.map((a) => [a.time, a.remote.address, a.local.address]),
      [
        [10, '192.0.2.10', B_IP],
        [40, '198.51.100.10', '2001:db8::5'],
      ],
    );
    assert.deepEqual(
      sender.arrivals.map((a) => [a.time, a.local.address]),
      [
        [20, '192.0.2.10'],
        [80, '198.51.100.10'],
      ],
    );
  });

  test('removing an address drops datagrams in flight to it and later ones; the node is told', () => {
    const sim = twoHosts({}, { delay: 50 });
    const sender = new SequenceSender({ local: A, remote: B, count: 10, size: 20, interval: 10 });
    sim.attach('A', sender);
    const recorder = new Recorder();
    sim.attach('B', recorder);
    sim.at(55, () => sim.removeAddress('B.eth', B_IP));
    sim.run({ until: 500 });
    assert.deepEqual(
      recorder.arrivals.map((a) => a.seq),
      [0],
    );
    assert.deepEqual(recorder.addressChanges, [{ added: [], removed: [B_IP], time: 55 }]);
    assert.equal(sim.stats.drops['no-such-destination'], 5); // sent at 10..50, on the wire at 55
    assert.equal(sim.stats.drops['no-route'], 4); // sent at 60..90
  });

  test('an added address can send and receive at once; the old one cannot send', () => {
    const sim = twoHosts();
    const sender = new SequenceSender({ local: A, remote: B, count: 10, size: 20, interval: 10 });
    sim.attach('A', sender);
    const echo = new EchoNode();
    sim.attach('B', echo);
    sim.at(45, () => {
      sim.addAddress('A.eth', '192.0.2.11');
      sim.removeAddress('A.eth', A_IP);
    });
    sim.at(65, () => {
      sender.local = socketAddress('192.0.2.11', 5000);
    });
    sim.run({ until: 500 });
    assert.deepEqual(
      echo.arrivals.map((a) => `${a.seq}@${a.remote.address}`),
      [
        '0@192.0.2.10',
        '1@192.0.2.10',
        '2@192.0.2.10',
        '3@192.0.2.10',
        '4@192.0.2.10',
        '7@192.0.2.11',
        '8@192.0.2.11',
        '9@192.0.2.11',
      ],
    );
    assert.deepEqual(
      sender.addressChanges.map((c) => [c.added, c.removed]),
      [
        [['192.0.2.11'], []],
        [[], [A_IP]],
      ],
    );
    assert.equal(sim.stats.drops['no-such-source'], 2);
    assert.equal(sender.arrivals.length, 8);
  });

  test('misuse throws SimError', () => {
    const sim = twoHosts();
    assert.throws(() => sim.addInterface('B', 'eth2', [A_IP]), SimError);
    assert.throws(() => sim.addInterface('Z', 'eth'), SimError);
    assert.throws(() => sim.removeAddress('A.eth', '192.0.2.99'), SimError);
    assert.throws(() => sim.interface('A'), SimError);
    sim.run({ until: 100 });
    assert.throws(() => sim.at(50, () => {}), SimError);
    sim.attach('A', new Recorder());
    assert.throws(() => sim.attach('A', new Recorder()), SimError);
  });
});

describe('NAT', () => {
  test('outbound creates a mapping; replies reach the private address', () => {
    const sim = natted();
    const sender = new SequenceSender({ local: PRIVATE, remote: B, count: 3, size: 20, interval: 10 });
    sim.attach('A', sender);
    const echo = new EchoNode();
    sim.attach('B', echo);
    sim.run({ until: 500 });
    const remotes = new Set(echo.arrivals.map((a) => `${a.remote.address}:${a.remote.port}`));
    assert.equal(remotes.size, 1, 'endpoint-independent: one mapping');
    assert.equal(echo.arrivals[0].remote.address, PUBLIC_IP);
    assert.ok(echo.arrivals[0].remote.port >= 1024);
    assert.deepEqual(
      sender.arrivals.map((a) => [a.seq, a.local.address, a.local.port, a.remote.address]),
      [
        [0, '10.0.0.2', 5000, B_IP],
        [1, '10.0.0.2', 5000, B_IP],
        [2, '10.0.0.2', 5000, B_IP],
      ],
    );
    assert.equal(sim.nat('nat1').mappings(sim.now).length, 1);
  });

  test('private addresses are not routable from outside; unsolicited inbound finds no mapping', () => {
    const sim = natted();
    const outsider = new ScriptedNode();
    sim.attach('C', outsider);
    sim.attach('A', new Recorder());
    outsider.send(C, PRIVATE, makePacket(0, 1, 10));
    outsider.send(C, socketAddress(PUBLIC_IP, 40000), makePacket(0, 2, 10));
    sim.run({ until: 100 });
    assert.equal(sim.stats.drops['no-route'], 1);
    assert.equal(sim.stats.drops['nat-no-mapping'], 1);
  });

  test('an idle mapping expires: inbound to it is dropped; the next outbound gets a new port', () => {
    const sim = natted({ publicAddresses: [PUBLIC_IP], mappingTimeout: 1000 });
    const client = new ScriptedNode();
    const server = new ScriptedNode();
    sim.attach('A', client);
    sim.attach('B', server);
    client.send(PRIVATE, B, makePacket(0, 1, 10));
    let mapped = socketAddress('0.0.0.0', 0);
    sim.at(500, () => {
      mapped = server.arrivals[0].remote;
      server.send(B, mapped, makePacket(0, 2, 10));
      sim.wake('B');
    });
    sim.at(1500, () => {
      server.send(B, mapped, makePacket(0, 3, 10));
      sim.wake('B');
    });
    sim.at(2000, () => {
      client.send(PRIVATE, B, makePacket(0, 4, 10));
      sim.wake('A');
    });
    sim.run({ until: 3000 });
    assert.deepEqual(
      client.arrivals.map((a) => a.seq),
      [2],
    );
    assert.equal(sim.stats.drops['nat-no-mapping'], 1);
    assert.equal(server.arrivals.length, 2);
    assert.notEqual(server.arrivals[1].remote.port, mapped.port);
  });

  test('forced rebinding: the receiver sees the new public port; the old one is dead', () => {
    const sim = natted();
    const sender = new SequenceSender({ local: PRIVATE, remote: B, count: 10, size: 20, interval: 100 });
    sim.attach('A', sender);
    const server = new ScriptedNode();
    sim.attach('B', server);
    sim.at(450, () => sim.rebind('nat1', { port: true }));
    sim.at(700, () => {
      server.send(B, server.arrivals[0].remote, makePacket(0, 100, 10)); // old mapping
      server.send(B, server.arrivals[9 - 3].remote, makePacket(0, 101, 10)); // new mapping (seq 6)
      sim.wake('B');
    });
    sim.run({ until: 2000 });
    const ports = server.arrivals.map((a) => a.remote.port);
    assert.equal(new Set(ports.slice(0, 5)).size, 1);
    assert.equal(new Set(ports.slice(5)).size, 1);
    assert.notEqual(ports[0], ports[5]);
    assert.ok(server.arrivals.every((a) => a.remote.address === PUBLIC_IP));
    assert.deepEqual(
      sender.arrivals.map((a) => a.seq),
      [101],
    );
    assert.equal(sim.stats.drops['nat-no-mapping'], 1);
  });

  test('address rebinding moves to the next public address; periodic rebinding repeats', () => {
    const sim = natted({
      publicAddresses: [PUBLIC_IP, '198.18.0.2'],
      rebindEvery: 1000,
      rebindPort: true,
      rebindAddress: true,
    });
    const sender = new SequenceSender({
      local: PRIVATE,
      remote: B,
      count: 35,
      size: 20,
      interval: 100,
      start: 50,
    });
    sim.attach('A', sender);
    const echo = new EchoNode();
    sim.attach('B', echo);
    sim.run({ until: 4000 });
    const seen = echo.arrivals.map((a) => `${a.remote.address}:${a.remote.port}`);
    const distinct = [...new Set(seen)];
    assert.equal(distinct.length, 4); // t<1000, <2000, <3000, <4000
    assert.deepEqual(
      distinct.map((d) => d.split(':')[0]),
      [PUBLIC_IP, '198.18.0.2', PUBLIC_IP, '198.18.0.2'],
    );
    assert.equal(sender.arrivals.length, 35, 'echoes follow the new mapping');
  });

  test('address-dependent filtering admits only contacted hosts', () => {
    const sim = natted({ publicAddresses: [PUBLIC_IP], filtering: 'address-dependent' });
    const client = new ScriptedNode();
    const server = new ScriptedNode();
    const outsider = new ScriptedNode();
    sim.attach('A', client);
    sim.attach('B', server);
    sim.attach('C', outsider);
    client.send(PRIVATE, B, makePacket(0, 1, 10));
    sim.at(100, () => {
      const mapped = server.arrivals[0].remote;
      server.send(socketAddress(B_IP, 9999), mapped, makePacket(0, 2, 10)); // same host, other port: allowed
      outsider.send(C, mapped, makePacket(0, 3, 10));
      sim.wake('B');
      sim.wake('C');
    });
    sim.run({ until: 500 });
    assert.deepEqual(
      client.arrivals.map((a) => a.seq),
      [2],
    );
    assert.equal(sim.stats.drops['nat-filtered'], 1);
  });
});

describe('stateful firewall', () => {
  test('inbound passes only on a 5-tuple with recent outbound', () => {
    const sim = new Simulator({ seed: 1 });
    for (const name of ['A', 'B', 'C']) sim.addHost(name);
    sim.addInterface('A', 'eth', [A_IP]);
    sim.addInterface('B', 'eth', [B_IP]);
    sim.addInterface('C', 'eth', [C.address]);
    sim.addFirewall('fw', { timeout: 1000 }, ['A.eth']);
    const a = new ScriptedNode();
    const b = new ScriptedNode();
    const c = new ScriptedNode();
    sim.attach('A', a);
    sim.attach('B', b);
    sim.attach('C', c);
    c.send(C, A, makePacket(0, 1, 10)); // unsolicited: dropped
    sim.at(10, () => {
      a.send(A, B, makePacket(0, 2, 10));
      sim.wake('A');
    });
    sim.at(20, () => {
      b.send(B, A, makePacket(0, 3, 10)); // reply on the same 5-tuple: passes
      b.send(socketAddress(B_IP, 444), A, makePacket(0, 4, 10)); // other port: dropped
      c.send(C, A, makePacket(0, 5, 10)); // still unsolicited
      sim.wake('B');
      sim.wake('C');
    });
    sim.at(2000, () => {
      b.send(B, A, makePacket(0, 6, 10)); // flow idle > timeout: dropped
      sim.wake('B');
    });
    sim.run({ until: 3000 });
    assert.deepEqual(
      a.arrivals.map((x) => x.seq),
      [3],
    );
    assert.equal(sim.stats.drops.firewall, 4);
  });
});

describe('node driving', () => {
  test('timers fire at the node deadline', () => {
    const sim = twoHosts();
    const sender = new SequenceSender({ local: A, remote: B, count: 5, size: 20, interval: 10, start: 100 });
    sim.attach('A', sender);
    const recorder = new Recorder();
    sim.attach('B', recorder);
    sim.run({ until: 1000 });
    assert.deepEqual(
      recorder.arrivals.map((a) => a.time),
      [100, 110, 120, 130, 140],
    );
  });

  test('a node whose deadline never advances is reported, not spun on forever', () => {
    const sim = twoHosts();
    sim.attach('A', { receive() {}, pollTransmit: () => undefined, nextDeadline: () => 5, onTimeout() {} });
    assert.throws(() => sim.run({ until: 100 }), /livelock/);
  });

  test('runUntil stops when the predicate holds; a windowed transfer survives a rough link', () => {
    const sim = twoHosts(
      { delay: 10, bandwidth: 10e6, queue: 50, loss: 0.03, reorder: 0.05, reorderDelay: 15, duplicate: 0.02 },
      { delay: 10, loss: 0.03 },
      9,
    );
    const sender = new WindowSender({ local: A, remote: B, total: 3000, window: 32, size: 1200, rto: 100 });
    const receiver = new WindowReceiver();
    sim.attach('A', sender);
    sim.attach('B', receiver);
    assert.ok(sim.runUntil(() => sender.done, 60_000));
    assert.equal(receiver.expected, 3000);
    assert.ok(sender.retransmissions > 0);
    assert.equal(sim.now, sender.completedAt);
  });
});
