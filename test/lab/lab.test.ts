import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Lab, type LabFamily } from '../../src/cli/demo/lab.js';
import { UdpAgent } from './udp-agent.js';

const availability = Lab.available();
const skip = availability.ok ? false : availability.reason;

const PORT = 4433;
/** Long enough for a datagram across three namespaces; short enough to keep negative checks cheap. */
const DELIVERY_MS = 400;
let tokenCounter = 0;

interface Endpoint {
  agent: UdpAgent;
  socket: number;
  address: string;
}

/** Sends a fresh token from one endpoint to another (3 tries) and reports whether it arrived. */
async function delivers(from: Endpoint, to: Endpoint, sourceAddress = from.address): Promise<boolean> {
  const token = `t${tokenCounter++}`;
  const arrived = to.agent.waitFor((m) => m.data === token && m.local === to.address, DELIVERY_MS);
  for (let attempt = 0; attempt < 3; attempt++) {
    // A refused send (no route, address gone) is a non-delivery, which is what the caller asks about.
    await from.agent.send(from.socket, to.address, PORT, token).catch(() => {});
  }
  const seen = await arrived;
  if (seen) assert.equal(seen.from, sourceAddress, 'datagram arrived from an unexpected source');
  return seen !== undefined;
}

function labNamespaces(prefix: string): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => name.startsWith(`${prefix}-`));
}

describe('real-network lab without NAT', { skip }, () => {
  let lab: Lab;
  let clientAgent: UdpAgent;
  let serverAgent: UdpAgent;
  const client = new Map<string, Endpoint>();
  const server = new Map<string, Endpoint>();
  const c = (link: 'a' | 'b', family: LabFamily) => client.get(`${link}${family}`)!;
  const s = (link: 's1' | 's2', family: LabFamily) => server.get(`${link}${family}`)!;

  before(async () => {
    lab = await Lab.up();
    [clientAgent, serverAgent] = await Promise.all([
      UdpAgent.start(lab, 'client'),
      UdpAgent.start(lab, 'server'),
    ]);
    const { clientA, clientB, server1, server2 } = lab.addresses;
    for (const family of ['v4', 'v6'] as const) {
      for (const [key, address] of [
        [`a${family}`, clientA[family]],
        [`b${family}`, clientB[family]],
      ] as const) {
        client.set(key, {
          agent: clientAgent,
          address,
          socket: (await clientAgent.bind(address, PORT)).socket,
        });
      }
      for (const [key, address] of [
        [`s1${family}`, server1[family]],
        [`s2${family}`, server2[family]],
      ] as const) {
        server.set(key, {
          agent: serverAgent,
          address,
          socket: (await serverAgent.bind(address, PORT)).socket,
        });
      }
    }
  });

  after(async () => {
    clientAgent?.close();
    serverAgent?.close();
    await lab?.down();
  });

  test('every client/server address pair carries UDP both ways, IPv4 and IPv6', async () => {
    const checks: Promise<string | undefined>[] = [];
    for (const family of ['v4', 'v6'] as const) {
      for (const clientLink of ['a', 'b'] as const) {
        for (const serverLink of ['s1', 's2'] as const) {
          const from = c(clientLink, family);
          const to = s(serverLink, family);
          checks.push(delivers(from, to).then((ok) => (ok ? undefined : `${from.address} -> ${to.address}`)));
          checks.push(delivers(to, from).then((ok) => (ok ? undefined : `${to.address} -> ${from.address}`)));
        }
      }
    }
    assert.deepEqual((await Promise.all(checks)).filter(Boolean), []);
  });

  test('a one-way blackhole on provider a stops exactly that direction; heal restores it', async () => {
    await lab.blackhole('a', 'c2s');
    assert.equal(await delivers(c('a', 'v4'), s('s1', 'v4')), false, 'a c2s should be dropped');
    assert.equal(await delivers(c('a', 'v6'), s('s2', 'v6')), false, 'a c2s v6 should be dropped');
    assert.equal(await delivers(s('s1', 'v4'), c('a', 'v4')), true, 'a s2c should still pass');
    assert.equal(await delivers(c('b', 'v4'), s('s1', 'v4')), true, 'provider b untouched');
    await lab.heal();
    assert.equal(await delivers(c('a', 'v4'), s('s1', 'v4')), true, 'healed');

    await lab.blackhole('s1', 's2c');
    assert.equal(await delivers(s('s1', 'v6'), c('a', 'v6')), false, 's1 s2c should be dropped');
    assert.equal(await delivers(c('a', 'v6'), s('s1', 'v6')), true, 's1 c2s should still pass');
    assert.equal(await delivers(s('s2', 'v6'), c('a', 'v6')), true, 'server link s2 untouched');
    await lab.blackhole('b', 'both');
    assert.equal(await delivers(c('b', 'v4'), s('s2', 'v4')), false);
    assert.equal(await delivers(s('s2', 'v4'), c('b', 'v4')), false);
    await lab.heal('s1');
    assert.equal(await delivers(s('s1', 'v6'), c('a', 'v6')), true, 'heal s1 lifts only s1');
    assert.equal(await delivers(c('b', 'v4'), s('s2', 'v4')), false, 'b still blackholed');
    await lab.heal('b');
    assert.equal(await delivers(c('b', 'v4'), s('s2', 'v4')), true);
    assert.equal(await delivers(s('s2', 'v4'), c('b', 'v4')), true);
  });

  test('link down cuts a provider in both directions; link up restores it with its routes', async () => {
    await lab.linkDown('a');
    for (const family of ['v4', 'v6'] as const) {
      assert.equal(await delivers(c('a', family), s('s1', family)), false, `a ${family} c2s while down`);
      assert.equal(await delivers(s('s1', family), c('a', family)), false, `a ${family} s2c while down`);
      assert.equal(await delivers(c('b', family), s('s1', family)), true, `b ${family} while a is down`);
    }
    await lab.linkUp('a');
    for (const family of ['v4', 'v6'] as const) {
      assert.equal(await delivers(c('a', family), s('s1', family)), true, `a ${family} c2s after up`);
      assert.equal(await delivers(s('s1', family), c('a', family)), true, `a ${family} s2c after up`);
    }
  });

  test('removing an address cuts it off; re-adding it and adding a new one work', async () => {
    await lab.removeAddress('a', 'v4');
    assert.equal(await delivers(c('a', 'v4'), s('s1', 'v4')), false, 'removed address cannot send');
    assert.equal(await delivers(s('s1', 'v4'), c('a', 'v4')), false, 'removed address cannot receive');
    assert.equal(await delivers(c('a', 'v6'), s('s1', 'v6')), true, 'the v6 address on a is unaffected');
    await lab.addAddress('a', 'v4');
    assert.equal(await delivers(c('a', 'v4'), s('s1', 'v4')), true, 're-added address sends again');
    assert.equal(await delivers(s('s1', 'v4'), c('a', 'v4')), true, 're-added address receives again');

    const fresh = '192.0.2.20';
    await lab.addAddress('a', 'v4', fresh);
    const moved: Endpoint = {
      agent: clientAgent,
      address: fresh,
      socket: (await clientAgent.bind(fresh, PORT)).socket,
    };
    assert.equal(await delivers(moved, s('s2', 'v4')), true, 'new address reaches the server');
    assert.equal(await delivers(s('s2', 'v4'), moved), true, 'server reaches the new address');
    // The new address routes over provider a: blackholing a cuts it.
    await lab.blackhole('a', 'c2s');
    assert.equal(await delivers(moved, s('s2', 'v4')), false, 'new address uses provider a');
    await lab.heal();
    await clientAgent.closeSocket(moved.socket);
    await lab.removeAddress('a', 'v4', fresh);
  });

  test('down() removes every namespace, process and state file of the lab', async () => {
    const { prefix } = lab;
    assert.equal(labNamespaces(prefix).length, 3);
    await lab.down();
    assert.deepEqual(labNamespaces(prefix), []);
    assert.equal(existsSync(`/run/braid-lab/${prefix}`), false);
    // No lab veth ever lived in the host namespace; make sure none leaked there either.
    const hostLinks = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
    assert.doesNotMatch(hostLinks, /^\d+: (pa|pb|s1|s2)[@:]/m);
    await lab.down(); // idempotent
  });
});

describe('real-network lab with NAT', { skip }, () => {
  let lab: Lab;
  let clientAgent: UdpAgent;
  let serverAgent: UdpAgent;

  before(async () => {
    lab = await Lab.up({ nat: true });
    [clientAgent, serverAgent] = await Promise.all([
      UdpAgent.start(lab, 'client'),
      UdpAgent.start(lab, 'server'),
    ]);
  });

  after(async () => {
    clientAgent?.close();
    serverAgent?.close();
    await lab?.down();
  });

  for (const family of ['v4', 'v6'] as const) {
    test(`the server sees the provider's public address, and nat-rebind changes the port (${family})`, async () => {
      const { clientA, routerA, server1 } = lab.addresses;
      await serverAgent.bind(server1[family], PORT, true);
      const { socket } = await clientAgent.bind(clientA[family], 0);

      /** One echo round trip; returns the public address and port the server saw. */
      const roundTrip = async (): Promise<{ address: string; port: number }> => {
        const token = `n${tokenCounter++}`;
        const echoed = clientAgent.waitFor((m) => m.data.endsWith(` ${token}`), 1000);
        await clientAgent.send(socket, server1[family], PORT, token);
        const reply = await echoed;
        assert.ok(reply, 'echo came back through the NAT');
        const [, address, port] = reply.data.split(' ');
        return { address, port: Number(port) };
      };

      const first = await roundTrip();
      assert.equal(first.address, routerA[family], 'masqueraded behind provider a');
      assert.equal((await roundTrip()).port, first.port, 'the mapping is stable without a rebind');
      await lab.natRebind();
      const second = await roundTrip();
      assert.equal(second.address, routerA[family]);
      assert.notEqual(second.port, first.port, 'rebinding gave the flow a new public port');
      await clientAgent.closeSocket(socket);
    });
  }
});
