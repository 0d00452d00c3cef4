// Inner addresses of `braid vpn` (src/vpn/inner-addresses.ts): derived from the keys, so a
// client gets the same identifier on every connection, and different clients different ones.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { clientInnerIPv6, IPv4Pool, serverInnerIPv6, ulaPrefix } from '../../src/vpn/inner-addresses.js';
import { formatPrefix, ipText, parsePrefix, prefixContains } from '../../src/vpn/ip-prefix.js';

const serverKey = Uint8Array.from(randomBytes(32));
const otherServer = Uint8Array.from(randomBytes(32));

test('the ULA /64 is fd00::/8 with 40 bits of the server key; the server is ::1 in it', () => {
  const prefix = ulaPrefix(serverKey);
  assert.equal(prefix.length, 64);
  assert.equal(prefix.bytes[0], 0xfd);
  assert.deepEqual(prefix.bytes.subarray(6), new Uint8Array(10), 'subnet 0, no host bits');
  assert.deepEqual(ulaPrefix(serverKey), prefix, 'the same key, the same prefix');
  assert.notDeepEqual(ulaPrefix(otherServer).bytes, prefix.bytes);
  assert.match(ipText(serverInnerIPv6(prefix)), /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::1$/);
});

test('a client’s inner IPv6 address: stable per (server, client) pair, inside the prefix, never ::0 or ::1', () => {
  const prefix = ulaPrefix(serverKey);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const client = Uint8Array.from(randomBytes(32));
    const address = clientInnerIPv6(prefix, serverKey, client);
    assert.deepEqual(clientInnerIPv6(prefix, serverKey, client), address, 'same on every connection');
    assert.equal(prefixContains(prefix, address), true);
    assert.notDeepEqual(address, serverInnerIPv6(prefix));
    assert.equal(address[8]! & 0x02, 0, 'universal/local bit cleared');
    assert.notDeepEqual(
      clientInnerIPv6(prefix, otherServer, client),
      address,
      'another server, another address',
    );
    seen.add(ipText(address));
  }
  assert.equal(seen.size, 200, 'different clients, different addresses');
  const configured = parsePrefix('fd00:aaaa:bbbb:cc00::/56');
  const client = Uint8Array.from(randomBytes(32));
  const address = clientInnerIPv6(configured, serverKey, client);
  assert.equal(prefixContains(configured, address), true);
  assert.throws(() => clientInnerIPv6(parsePrefix('fd00::/96'), serverKey, client), /\/64 or shorter/);
});

test('IPv4: the server is the first host; a key keeps its host; a taken host moves the next key on', () => {
  const pool = new IPv4Pool(parsePrefix('10.77.0.0/24'));
  assert.equal(ipText(pool.server), '10.77.0.1');
  const client = Uint8Array.from(randomBytes(32));
  const first = pool.assign(serverKey, client, () => false)!;
  assert.deepEqual(
    pool.assign(serverKey, client, () => false),
    first,
    'stable',
  );
  assert.equal(pool.isClientAddress(first), true);
  const moved = pool.assign(serverKey, client, (a) => a === ipText(first))!;
  assert.notEqual(ipText(moved), ipText(first));
  assert.equal(pool.isClientAddress(moved), true);
  // Every client host of a /29: .2 to .6 (not the network, the server or the broadcast).
  const small = new IPv4Pool(parsePrefix('192.168.9.0/29'));
  const taken = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const address = small.assign(serverKey, Uint8Array.from(randomBytes(32)), (a) => taken.has(a));
    assert.ok(address);
    taken.add(ipText(address));
  }
  assert.deepEqual([...taken].sort(), [
    '192.168.9.2',
    '192.168.9.3',
    '192.168.9.4',
    '192.168.9.5',
    '192.168.9.6',
  ]);
  assert.equal(
    small.assign(serverKey, client, (a) => taken.has(a)),
    undefined,
    'full',
  );
  assert.throws(() => new IPv4Pool(parsePrefix('10.0.0.0/30')), /\/29 or shorter/);
  assert.throws(() => new IPv4Pool(parsePrefix('fd00::/64')), /IPv4 prefix/);
  assert.equal(formatPrefix(pool.range), '10.77.0.0/24');
});
