import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  channelBindingFrom,
  constantTimeEqual,
  decodeKey,
  encodeKey,
  fingerprint,
  KeyFormatError,
} from '../../src/crypto/identity.js';
import { generateKeyPair } from '../../src/crypto/noise/index.js';

test('encodeKey/decodeKey round trip in 43 base64url characters', () => {
  for (let i = 0; i < 20; i++) {
    const { publicKey } = generateKeyPair();
    const text = encodeKey(publicKey);
    assert.match(text, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(decodeKey(text), publicKey);
    assert.deepEqual(decodeKey(`  ${text}\n`), publicKey);
  }
});

test('decodeKey rejects bad input with KeyFormatError', () => {
  const good = encodeKey(new Uint8Array(32).fill(7));
  const bad = [
    '',
    'abc',
    `${good}A`,
    good.slice(1),
    `${good.slice(0, 42)}+`,
    `${good.slice(0, 42)}=`,
    good.replace(/.$/, 'h'),
  ];
  for (const text of bad) {
    assert.throws(
      () => decodeKey(text),
      (err: unknown) => err instanceof KeyFormatError && err.code === 'BRAID_ERR_INVALID_KEY',
      JSON.stringify(text),
    );
  }
  assert.throws(() => decodeKey(42 as unknown as string), KeyFormatError);
  assert.throws(() => encodeKey(new Uint8Array(31)), RangeError);
});

test('fingerprint is short, stable and key-specific', () => {
  const key = new Uint8Array(32).fill(1);
  const fp = fingerprint(key);
  assert.match(fp, /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
  assert.equal(fingerprint(new Uint8Array(32).fill(1)), fp);
  assert.notEqual(fingerprint(new Uint8Array(32).fill(2)), fp);
});

test('channel binding is 32 bytes, deterministic, and differs from the handshake hash', () => {
  const hash = new Uint8Array(32).fill(9);
  const binding = channelBindingFrom(hash);
  assert.equal(binding.length, 32);
  assert.deepEqual(channelBindingFrom(hash), binding);
  assert.notDeepEqual(binding, hash);
  assert.notDeepEqual(channelBindingFrom(new Uint8Array(32).fill(8)), binding);
});

test('constantTimeEqual', () => {
  assert.equal(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2)), true);
  assert.equal(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3)), false);
  assert.equal(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1)), false);
  assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
});
