/** Helpers for static-key identities: text form, fingerprints, channel binding. */
import { createHash, hkdfSync, timingSafeEqual } from 'node:crypto';

export const KEY_LENGTH = 32;
/** base64url of 32 bytes without padding. */
export const ENCODED_KEY_LENGTH = 43;
const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** Thrown by decodeKey for text that is not a canonical 43-character base64url 32-byte key. */
export class KeyFormatError extends Error {
  readonly code = 'BRAID_ERR_INVALID_KEY';
  constructor(message: string) {
    super(message);
    this.name = 'KeyFormatError';
  }
}

export function encodeKey(key: Uint8Array): string {
  if (key.length !== KEY_LENGTH) throw new RangeError(`a key is ${KEY_LENGTH} bytes, got ${key.length}`);
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('base64url');
}

/** Parses encodeKey's output (surrounding whitespace allowed). Throws KeyFormatError otherwise. */
export function decodeKey(text: string): Uint8Array {
  if (typeof text !== 'string') throw new KeyFormatError('key must be a string');
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9_-]{43}$/.test(trimmed)) {
    throw new KeyFormatError(
      `key must be ${ENCODED_KEY_LENGTH} base64url characters (A-Z a-z 0-9 - _), got ${trimmed.length} characters`,
    );
  }
  const bytes = new Uint8Array(Buffer.from(trimmed, 'base64url'));
  // The last character carries 2 spare bits; only one spelling per key is accepted.
  if (bytes.length !== KEY_LENGTH || encodeKey(bytes) !== trimmed) {
    throw new KeyFormatError('key is not canonical base64url');
  }
  return bytes;
}

/**
 * A short human-comparable fingerprint: the first 10 bytes of SHA-256(key) in base32,
 * four groups of four (e.g. `k7qd-3mzn-a2xe-wq5j`), 80 bits.
 */
export function fingerprint(publicKey: Uint8Array): string {
  const digest = createHash('sha256').update(publicKey).digest();
  let bits = 0;
  let value = 0;
  let out = '';
  for (let i = 0; i < 10; i++) {
    value = (value << 8) | digest[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(value >>> bits) & 31];
    }
    value &= (1 << bits) - 1;
  }
  return out.match(/.{4}/g)!.join('-');
}

/**
 * A 32-byte value unique to this session and known only to its two ends, for binding
 * application-level authentication to the session (RFC 5056 style).
 */
export function channelBindingFrom(handshakeHash: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', handshakeHash, new Uint8Array(0), 'braid channel binding', 32));
}

/** Constant-time equality for secrets and MACs; unequal lengths return false (length is not secret). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}
