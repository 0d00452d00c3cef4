import { randomBytes } from 'node:crypto';
import sodium from 'sodium-native';
import { NoiseError } from './errors.js';

/** Raw X25519 keys: both 32 bytes. */
export interface KeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

export const DHLEN = 32;

// X25519 (RFC 7748) through libsodium's crypto_scalarmult. node:crypto computes the same function
// (test/crypto/dh.test.ts cross-checks them), but it only takes keys as KeyObjects and importing a
// raw private key from DER costs ~1.5 ms, so a DH cost 15-20x more than here (docs/crypto.md).

export function generateKeyPair(): KeyPair {
  const privateKey = new Uint8Array(randomBytes(DHLEN));
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

export function publicKeyFromPrivate(privateKey: Uint8Array): Uint8Array {
  if (privateKey.length !== DHLEN)
    throw new NoiseError('X25519 private key must be 32 bytes', 'BRAID_ERR_NOISE_CONFIG');
  const publicKey = new Uint8Array(DHLEN);
  sodium.crypto_scalarmult_base(publicKey, privateKey);
  return publicKey;
}

/**
 * X25519(privateKey, publicKey). libsodium refuses an all-zero result (a low-order peer key);
 * Noise allows rejecting such keys, so that surfaces as BRAID_ERR_NOISE_DH.
 */
export function dh(keyPair: KeyPair, publicKey: Uint8Array): Uint8Array {
  if (keyPair.privateKey.length !== DHLEN) {
    throw new NoiseError('X25519 private key must be 32 bytes', 'BRAID_ERR_NOISE_CONFIG');
  }
  if (publicKey.length !== DHLEN)
    throw new NoiseError('X25519 public key must be 32 bytes', 'BRAID_ERR_NOISE_DH');
  const shared = new Uint8Array(DHLEN);
  try {
    sodium.crypto_scalarmult(shared, keyPair.privateKey, publicKey);
  } catch (cause) {
    throw new NoiseError('X25519 failed (low-order remote public key)', 'BRAID_ERR_NOISE_DH', { cause });
  }
  return shared;
}
