// Address scopes, interface filtering and the per-address sockets of a server listening on
// every interface (this host's real interfaces; address changes are tested in the lab).
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { test } from 'node:test';
import { createServer } from '../../src/api/server.js';
import { parseIPv6Flags, usableInterfaceAddresses } from '../../src/endpoint/interfaces.js';
import { addressScope, sameScope } from '../../src/net/address-scope.js';

test('address scopes: loopback pairs only with loopback; link-local and non-unicast never', () => {
  const cases: Array<[string, string]> = [
    ['127.0.0.1', 'loopback'],
    ['127.3.2.1', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['0.0.0.0', 'invalid'],
    ['::', 'invalid'],
    ['224.0.0.1', 'invalid'],
    ['255.255.255.255', 'invalid'],
    ['ff02::1', 'invalid'],
    ['nonsense', 'invalid'],
    ['192.0.2.1', 'global'],
    ['10.1.2.3', 'global'],
    ['2001:db8::1', 'global'],
    ['fd00::2', 'global'],
  ];
  for (const [address, scope] of cases) assert.equal(addressScope(address), scope, address);
  assert.ok(sameScope('127.0.0.1', '::1'));
  assert.ok(sameScope('192.0.2.1', '2001:db8::5'));
  assert.ok(!sameScope('127.0.0.1', '192.0.2.1'));
  assert.ok(!sameScope('192.0.2.1', '127.0.0.1'));
  assert.ok(!sameScope('fe80::1', 'fe80::2'));
});

const info = (address: string, family: 'IPv4' | 'IPv6'): NetworkInterfaceInfo =>
  ({
    address,
    family,
    netmask: '',
    mac: '',
    internal: false,
    cidr: null,
    scopeid: 0,
  }) as NetworkInterfaceInfo;

test('usable interface addresses: no link-local, no tentative or dad-failed IPv6; deprecated kept and marked', () => {
  // /proc/net/if_inet6 lines: address, ifindex, prefix length, scope, flags, name.
  const flags = parseIPv6Flags(
    [
      '20010db8000a00000000000000000010 02 40 00 80 pa', // permanent
      '20010db8000b00000000000000000010 03 40 00 c0 pb', // tentative
      '20010db8000c00000000000000000010 03 40 00 a0 pb', // deprecated
      '20010db8000d00000000000000000010 03 40 00 88 pb', // dad failed
      'garbage',
    ].join('\n'),
  );
  assert.equal(flags.get('2001:db8:a::10'), 0x80);
  const usable = usableInterfaceAddresses(
    {
      lo: [info('127.0.0.1', 'IPv4'), info('::1', 'IPv6')],
      pa: [info('192.0.2.10', 'IPv4'), info('2001:db8:a::10', 'IPv6'), info('fe80::1', 'IPv6')],
      pb: [info('2001:db8:b::10', 'IPv6'), info('2001:db8:c::10', 'IPv6'), info('2001:db8:d::10', 'IPv6')],
      dup: [info('192.0.2.10', 'IPv4'), info('169.254.0.5', 'IPv4')],
    },
    flags,
  );
  assert.deepEqual(
    usable.map((a) => `${a.interface} ${a.address} ${a.scope}${a.deprecated ? ' deprecated' : ''}`),
    [
      'lo 127.0.0.1 loopback',
      'lo ::1 loopback',
      'pa 192.0.2.10 global',
      'pa 2001:db8:a::10 global',
      'pb 2001:db8:c::10 global deprecated',
    ],
  );
});

test("a braid vpn interface's addresses are identifiers, never usable as locators", () => {
  const table = {
    pa: [info('192.0.2.10', 'IPv4')],
    braid0: [info('10.77.0.1', 'IPv4'), info('fd12:3456:789a::1', 'IPv6')],
  };
  const all = usableInterfaceAddresses(table, new Map(), () => false).map((a) => a.address);
  assert.deepEqual(all, ['192.0.2.10', '10.77.0.1', 'fd12:3456:789a::1'], 'an unmarked interface counts');
  const usable = usableInterfaceAddresses(table, new Map(), (name) => name === 'braid0').map(
    (a) => a.address,
  );
  assert.deepEqual(usable, ['192.0.2.10']);
});

test('a server listening on every interface binds one socket per usable address on one port', async () => {
  const expected = usableInterfaceAddresses().map((a) => a.address);
  const server = createServer();
  await server.listen({ port: 0 });
  try {
    const bound = server.addresses();
    assert.deepEqual(bound.map((a) => a.address).sort(), [...expected].sort());
    assert.ok(
      bound.every((a) => a.port === bound[0]!.port),
      'one port for all',
    );
    assert.ok(bound.some((a) => a.address === '127.0.0.1'));
  } finally {
    await server.close(0, '', 100);
  }
  const wildcard = createServer();
  await wildcard.listen({ port: 0, addressDiscovery: false });
  assert.deepEqual(
    wildcard.addresses().map((a) => a.address),
    ['::'],
  );
  await wildcard.close(0, '', 100);
});
