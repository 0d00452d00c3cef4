import { createHash, createHmac } from 'node:crypto';

/** A Noise hash function (Noise §4.3) with the HMAC and HKDF built on it. */
export interface HashFunction {
  readonly name: 'SHA256' | 'SHA512' | 'BLAKE2s' | 'BLAKE2b';
  readonly hashLen: 32 | 64;
  readonly blockLen: 64 | 128;
  hash(...parts: Uint8Array[]): Uint8Array;
  hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
}

function nodeHash(
  name: HashFunction['name'],
  algorithm: string,
  hashLen: 32 | 64,
  blockLen: 64 | 128,
): HashFunction {
  return {
    name,
    hashLen,
    blockLen,
    hash(...parts) {
      const h = createHash(algorithm);
      for (const p of parts) h.update(p);
      return new Uint8Array(h.digest());
    },
    // OpenSSL's HMAC pads keys to the digest's block size (64 for BLAKE2s, 128 for BLAKE2b),
    // which is RFC 2104 HMAC exactly as Noise defines it (not BLAKE2's keyed mode);
    // the cacophony vectors for every hash confirm it.
    hmac(key, ...parts) {
      const h = createHmac(algorithm, key);
      for (const p of parts) h.update(p);
      return new Uint8Array(h.digest());
    },
  };
}

export const SHA256 = nodeHash('SHA256', 'sha256', 32, 64);
export const SHA512 = nodeHash('SHA512', 'sha512', 64, 128);
export const BLAKE2s = nodeHash('BLAKE2s', 'blake2s256', 32, 64);
export const BLAKE2b = nodeHash('BLAKE2b', 'blake2b512', 64, 128);

export const HASHES: Record<string, HashFunction> = { SHA256, SHA512, BLAKE2s, BLAKE2b };

const BYTE_1 = Uint8Array.of(1);
const BYTE_2 = Uint8Array.of(2);
const BYTE_3 = Uint8Array.of(3);

/** Noise HKDF (§4.3): chaining key as salt, empty info, 2 or 3 outputs of HASHLEN bytes. */
export function hkdf(
  hash: HashFunction,
  chainingKey: Uint8Array,
  inputKeyMaterial: Uint8Array,
  outputs: 2 | 3,
): Uint8Array[] {
  const tempKey = hash.hmac(chainingKey, inputKeyMaterial);
  const output1 = hash.hmac(tempKey, BYTE_1);
  const output2 = hash.hmac(tempKey, output1, BYTE_2);
  if (outputs === 2) return [output1, output2];
  return [output1, output2, hash.hmac(tempKey, output2, BYTE_3)];
}
