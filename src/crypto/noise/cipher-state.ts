import { createCipheriv, createDecipheriv } from 'node:crypto';
import { NoiseError } from './errors.js';

export const TAG_LENGTH = 16;
const KEY_LENGTH = 32;
const EMPTY = new Uint8Array(0);
const ZEROS_32 = new Uint8Array(32);
/** 2^53 - 1: the counter is a JS number; the spec's 2^64 - 1 limit is unreachable long before this. */
const MAX_NONCE = Number.MAX_SAFE_INTEGER;

/** A Noise cipher (Noise §4.2, §12.3, §12.4): an AEAD plus its 96-bit nonce encoding of the counter. */
export interface CipherFunction {
  readonly name: 'ChaChaPoly' | 'AESGCM';
  readonly algorithm: 'chacha20-poly1305' | 'aes-256-gcm';
  /** Writes the 64-bit counter n into a 12-byte nonce. */
  encodeNonce(n: number, out: Uint8Array): void;
}

export const ChaChaPoly: CipherFunction = {
  name: 'ChaChaPoly',
  algorithm: 'chacha20-poly1305',
  // 32 bits of zeros followed by the little-endian 64-bit counter.
  encodeNonce(n, out) {
    out.fill(0, 0, 4);
    writeUint32LE(out, 4, n >>> 0);
    writeUint32LE(out, 8, Math.floor(n / 0x1_0000_0000));
  },
};

export const AESGCM: CipherFunction = {
  name: 'AESGCM',
  algorithm: 'aes-256-gcm',
  // 32 bits of zeros followed by the big-endian 64-bit counter.
  encodeNonce(n, out) {
    out.fill(0, 0, 4);
    writeUint32BE(out, 4, Math.floor(n / 0x1_0000_0000));
    writeUint32BE(out, 8, n >>> 0);
  },
};

export const CIPHERS: Record<string, CipherFunction> = { ChaChaPoly, AESGCM };

function writeUint32LE(out: Uint8Array, offset: number, v: number): void {
  out[offset] = v & 0xff;
  out[offset + 1] = (v >>> 8) & 0xff;
  out[offset + 2] = (v >>> 16) & 0xff;
  out[offset + 3] = v >>> 24;
}

function writeUint32BE(out: Uint8Array, offset: number, v: number): void {
  out[offset] = v >>> 24;
  out[offset + 1] = (v >>> 16) & 0xff;
  out[offset + 2] = (v >>> 8) & 0xff;
  out[offset + 3] = v & 0xff;
}

export function aeadEncrypt(
  algorithm: CipherFunction['algorithm'],
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  // Both AEADs share the GCM-shaped API (setAAD/getAuthTag); the cast only picks that overload.
  const cipher = createCipheriv(algorithm as 'aes-256-gcm', key, nonce, { authTagLength: TAG_LENGTH });
  cipher.setAAD(ad);
  const body = cipher.update(plaintext);
  cipher.final();
  const out = new Uint8Array(body.length + TAG_LENGTH);
  out.set(body, 0);
  out.set(cipher.getAuthTag(), body.length);
  return out;
}

/** Returns null when the tag does not verify. */
export function aeadDecrypt(
  algorithm: CipherFunction['algorithm'],
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array | null {
  if (ciphertext.length < TAG_LENGTH) return null;
  const bodyLength = ciphertext.length - TAG_LENGTH;
  const decipher = createDecipheriv(algorithm as 'aes-256-gcm', key, nonce, { authTagLength: TAG_LENGTH });
  decipher.setAAD(ad);
  decipher.setAuthTag(ciphertext.subarray(bodyLength));
  const body = decipher.update(ciphertext.subarray(0, bodyLength));
  try {
    decipher.final();
  } catch {
    return null;
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.length);
}

/** Noise CipherState (§5.1): a key k (possibly empty) and a counter nonce n. */
export class CipherState {
  readonly cipher: CipherFunction;
  private key: Uint8Array | undefined;
  private n = 0;
  private readonly nonce = new Uint8Array(12);

  constructor(cipher: CipherFunction, key?: Uint8Array) {
    this.cipher = cipher;
    if (key) this.initializeKey(key);
  }

  initializeKey(key: Uint8Array | undefined): void {
    if (key && key.length !== KEY_LENGTH)
      throw new NoiseError('cipher key must be 32 bytes', 'BRAID_ERR_NOISE_CONFIG');
    this.key = key ? new Uint8Array(key) : undefined;
    this.n = 0;
  }

  hasKey(): boolean {
    return this.key !== undefined;
  }

  /** An independent copy (key and nonce), so a trial decryption cannot disturb this state. */
  clone(): CipherState {
    const copy = new CipherState(this.cipher, this.key);
    copy.n = this.n;
    return copy;
  }

  /** For test vectors and for protocols that carry explicit nonces. */
  setNonce(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('nonce must be a non-negative safe integer');
    this.n = n;
  }

  get nonceValue(): number {
    return this.n;
  }

  /** Without a key the plaintext passes through unchanged (Noise §5.1). */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (!this.key) return new Uint8Array(plaintext);
    this.checkNonce();
    this.cipher.encodeNonce(this.n, this.nonce);
    const out = aeadEncrypt(this.cipher.algorithm, this.key, this.nonce, ad, plaintext);
    this.n++;
    return out;
  }

  /** Throws BRAID_ERR_NOISE_DECRYPT on a bad tag; the nonce only advances on success. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (!this.key) return new Uint8Array(ciphertext);
    this.checkNonce();
    this.cipher.encodeNonce(this.n, this.nonce);
    const out = aeadDecrypt(this.cipher.algorithm, this.key, this.nonce, ad, ciphertext);
    if (!out) throw new NoiseError('decryption failed', 'BRAID_ERR_NOISE_DECRYPT');
    this.n++;
    return out;
  }

  /** REKEY (§4.2): k = first 32 bytes of ENCRYPT(k, 2^64-1, empty, zeros[32]). The nonce is unchanged. */
  rekey(): void {
    if (!this.key) return;
    const maxNonce = new Uint8Array(12).fill(0xff, 4);
    this.key = aeadEncrypt(this.cipher.algorithm, this.key, maxNonce, EMPTY, ZEROS_32).subarray(
      0,
      KEY_LENGTH,
    );
  }

  private checkNonce(): void {
    if (this.n >= MAX_NONCE) throw new NoiseError('nonce space exhausted', 'BRAID_ERR_NOISE_NONCE_EXHAUSTED');
  }
}
