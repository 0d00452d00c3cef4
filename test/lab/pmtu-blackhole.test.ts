/**
 * The lab's PMTU black hole (docs/lab.md, the impairment element's `mtu`): lowered mid-session on
 * one provider link and direction, datagrams above it vanish with no ICMP and no route MTU
 * learned by the sender, smaller ones still pass, other links and the other direction are
 * untouched, and lifting it restores the path. This is the fault a DPLPMTUD test builds on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Lab, type LabNamespace } from '../../src/cli/demo/lab.js';
import { LabProcess } from '../../src/cli/demo/lab-process.js';

const availability = Lab.available({ conntrack: false });
const skip = availability.ok ? false : availability.reason;

const PROBE = 'test/lab/udp-probe.ts';
const PORT = 7010;
const COUNT = 200;
/** UDP payloads of 1300- and 1200-byte IPv4 packets. */
const LARGE = 1300 - 28;
const SMALL = 1200 - 28;

describe('PMTU black hole in the lab', { skip, timeout: 120_000 }, () => {
  let lab: Lab;
  const helpers: LabProcess[] = [];

  const probe = (ns: LabNamespace, args: string[]): LabProcess => {
    const helper = new LabProcess(
      `probe ${args[0]}`,
      lab.spawnIn(ns, [process.execPath, '--import', 'tsx', PROBE, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    helpers.push(helper);
    return helper;
  };

  const snmp = async (ns: LabNamespace, protocol: 'Udp' | 'Icmp', field: string): Promise<number> => {
    const lines = (await lab.exec(ns, ['cat', '/proc/net/snmp'])).stdout
      .split('\n')
      .filter((line) => line.startsWith(`${protocol}:`));
    const names = lines[0]!.split(/\s+/);
    return Number(lines[1]!.split(/\s+/)[names.indexOf(field)]);
  };

  /** Sends COUNT datagrams of `payload` bytes between the A-side and s1 and counts arrivals. */
  const delivered = async (from: 'client' | 'server', payload: number) => {
    const to: LabNamespace = from === 'client' ? 'server' : 'client';
    const source = from === 'client' ? lab.addresses.clientA.v4 : lab.addresses.server1.v4;
    const target = from === 'client' ? lab.addresses.server1.v4 : lab.addresses.clientA.v4;
    const icmpBefore = await snmp(from, 'Icmp', 'InDestUnreachs');
    const before = await snmp(to, 'Udp', 'InDatagrams');
    const sender = probe(from, [
      'send',
      source,
      target,
      String(PORT),
      String(COUNT),
      '2000',
      String(payload),
    ]);
    await sender.next('done', 30_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const route = await lab.exec(from, ['ip', 'route', 'get', target, 'from', source]);
    return {
      arrived: (await snmp(to, 'Udp', 'InDatagrams')) - before,
      icmp: (await snmp(from, 'Icmp', 'InDestUnreachs')) - icmpBefore,
      route: route.stdout,
    };
  };

  before(async () => {
    lab = await Lab.up({ impair: true });
    const clientSink = probe('client', ['sink', lab.addresses.clientA.v4, String(PORT)]);
    const serverSink = probe('server', ['sink', lab.addresses.server1.v4, String(PORT)]);
    await Promise.all([clientSink.next('ready', 15_000), serverSink.next('ready', 15_000)]);
  });

  after(async () => {
    for (const helper of helpers) helper.stop();
    await lab?.down();
  });

  test('large datagrams pass before the black hole', async () => {
    assert.equal((await delivered('client', LARGE)).arrived, COUNT);
    assert.equal((await delivered('server', LARGE)).arrived, COUNT);
  });

  test('client → server over a: large datagrams vanish silently, small ones and s2c pass', async () => {
    await lab.impair('a', 'c2s', { mtu: 1280 });
    const large = await delivered('client', LARGE);
    assert.equal(large.arrived, 0, 'datagrams above the clamp arrived');
    assert.equal(large.icmp, 0, 'the black hole sent ICMP');
    assert.doesNotMatch(large.route, /mtu/, `the sender learned a path MTU: ${large.route}`);
    assert.equal((await delivered('client', SMALL)).arrived, COUNT);
    assert.equal((await delivered('server', LARGE)).arrived, COUNT, 'the other direction was clamped');
    const counters = (await lab.impairmentStats())['a:c2s'];
    assert.ok(counters.dropMtu >= COUNT, `element counted ${counters.dropMtu} MTU drops`);
  });

  test('server → client over a is clamped on its own, and lifting the clamp heals both', async () => {
    await lab.impair('a', 'c2s', { mtu: 0 });
    await lab.impair('a', 's2c', { mtu: 1280 });
    const large = await delivered('server', LARGE);
    assert.equal(large.arrived, 0);
    assert.equal(large.icmp, 0);
    assert.equal((await delivered('server', SMALL)).arrived, COUNT);
    assert.equal((await delivered('client', LARGE)).arrived, COUNT);
    await lab.clearImpairment('a');
    assert.equal((await delivered('server', LARGE)).arrived, COUNT);
  });
});
