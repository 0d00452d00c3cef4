import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import { test } from 'node:test';
import { dh, generateKeyPair, NoiseError, publicKeyFromPrivate } from '../../src/crypto/noise/index.js';

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

function nodeX25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(
    diffieHellman({
      privateKey: createPrivateKey({
        key: Buffer.concat([PKCS8_X25519_PREFIX, privateKey]),
        format: 'der',
        type: 'pkcs8',
      }),
      publicKey: createPublicKey({
        key: Buffer.concat([SPKI_X25519_PREFIX, publicKey]),
        format: 'der',
        type: 'spki',
      }),
    }),
  );
}

test('X25519 agrees with node:crypto for random keys, and both sides agree', () => {
  for (let i = 0; i < 5; i++) {
    const a = generateKeyPair();
    const b = generateKeyPair();
    const shared = dh(a, b.publicKey);
    assert.deepEqual(dh(b, a.publicKey), shared);
    assert.deepEqual(nodeX25519(a.privateKey, b.publicKey), shared);
    const nodePublic = createPublicKey(
      createPrivateKey({
        key: Buffer.concat([PKCS8_X25519_PREFIX, a.privateKey]),
        format: 'der',
        type: 'pkcs8',
      }),
    )
      .export({ format: 'der', type: 'spki' })
      .subarray(12);
    assert.deepEqual(publicKeyFromPrivate(a.privateKey), new Uint8Array(nodePublic));
  }
});

test('RFC 7748 §6.1 test vector', () => {
  const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
  const alicePrivate = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const bobPublic = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  assert.equal(
    Buffer.from(publicKeyFromPrivate(alicePrivate)).toString('hex'),
    '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  );
  assert.equal(
    Buffer.from(dh({ privateKey: alicePrivate, publicKey: new Uint8Array(32) }, bobPublic)).toString('hex'),
    '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
  );
});

test('a low-order public key (all zeros) is rejected with BRAID_ERR_NOISE_DH', () => {
  assert.throws(
    () => dh(generateKeyPair(), new Uint8Array(32)),
    (err: unknown) => err instanceof NoiseError && err.code === 'BRAID_ERR_NOISE_DH',
  );
  assert.throws(() => dh(generateKeyPair(), new Uint8Array(31)), NoiseError);
});
