import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressKey, sameAddress, socketAddress } from '../../src/net/address.js';

test('addressKey brackets IPv6 and keeps IPv4 plain', () => {
  assert.equal(addressKey(socketAddress('192.0.2.1', 443)), '192.0.2.1:443');
  assert.equal(addressKey(socketAddress('2001:db8::1', 443)), '[2001:db8::1]:443');
  assert.equal(socketAddress('2001:db8::1', 1).family, 'IPv6');
});

test('sameAddress compares address and port', () => {
  assert.ok(sameAddress(socketAddress('192.0.2.1', 1), socketAddress('192.0.2.1', 1)));
  assert.ok(!sameAddress(socketAddress('192.0.2.1', 1), socketAddress('192.0.2.1', 2)));
});
