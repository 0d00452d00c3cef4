/**
 * Data-packet protection after the handshake (docs/crypto.md §Packet protection):
 * per-direction secrets expand with HKDF-SHA256 into an AEAD key, an IV, a header
 * protection key and the next key-phase secret, much as in QUIC (RFC 9001 §5).
 */
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import sodium from 'sodium-native';
import { type NativeChaChaHeaderKey, type NativeChaChaPolyKey, nativeCrypto } from './native-crypto.js';

export type PacketAead = 'aes-256-gcm' | 'chacha20-poly1305';
export type HeaderProtectionAlgorithm = 'chacha20' | 'aes-128-ecb';

/**
 * Chosen by bench/aead.ts: sodium-native's ChaCha20-Poly1305 encrypts in place with one native
 * call per packet, while node:crypto pays for a cipher object per packet (see docs/crypto.md).
 */
export const DEFAULT_PACKET_AEAD: PacketAead = 'chacha20-poly1305';
export const DEFAULT_HEADER_PROTECTION: HeaderProtectionAlgorithm = 'chacha20';

export const AEAD_TAG_LENGTH = 16;
export const SECRET_LENGTH = 32;
const KEY_LENGTH = 32;
const IV_LENGTH = 12;
export const HP_SAMPLE_LENGTH = 16;
/** The sample starts this many bytes after the start of the packet number (RFC 9001 §5.4.2). */
export const HP_SAMPLE_OFFSET = 4;
const EMPTY_SALT = new Uint8Array(0);

function expand(secret: Uint8Array, label: string, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, EMPTY_SALT, label, length));
}

/** A plain Uint8Array view, so callers never depend on Buffer semantics. */
function asUint8Array(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

function checkSecret(secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.length !== SECRET_LENGTH) {
    throw new RangeError(`packet secret must be ${SECRET_LENGTH} bytes`);
  }
}

/** AEAD keys for one direction and one key phase. */
/**
 * The plaintext of the last open() (ChaCha20-Poly1305), shared by every key of the process: the
 * engine opens one packet at a time and applies its frames at once, copying any bytes it keeps,
 * so one buffer serves all sessions. One per key cost every idle session three 2 KiB buffers,
 * and each pinned a slab of Buffer's pool.
 */
let sharedPlaintext = Buffer.allocUnsafeSlow(2048);
/**
 * Per-packet scratch every key shares, like the plaintext above: each is filled and consumed
 * within one synchronous call, so one per process serves every session (one per key cost each
 * idle session about 1.4 KiB of small typed arrays).
 */
const sharedNonce = new Uint8Array(IV_LENGTH);
const sharedMask = new Uint8Array(5);
/** The ChaCha20 keystream input for a mask: never written. */
const FIVE_ZEROS = new Uint8Array(5);

function plaintextScratch(length: number): Buffer {
  if (sharedPlaintext.length < length) sharedPlaintext = Buffer.allocUnsafeSlow(length);
  return sharedPlaintext;
}

export class PacketKeys {
  readonly aead: PacketAead;
  private readonly secret: Uint8Array;
  private readonly key: Uint8Array;
  private readonly iv: Uint8Array;
  /** The nonce of the packet being sealed or opened: built in the shared buffer, used at once. */
  private readonly nonce = sharedNonce;
  /** OpenSSL context for this key where Braid's crypto addon is built (3x faster than libsodium here). */
  private readonly native: NativeChaChaPolyKey | undefined;

  private constructor(secret: Uint8Array, aead: PacketAead) {
    this.aead = aead;
    this.secret = new Uint8Array(secret);
    this.key = expand(secret, 'braid key', KEY_LENGTH);
    this.iv = expand(secret, 'braid iv', IV_LENGTH);
    const addon = aead === 'chacha20-poly1305' ? nativeCrypto() : undefined;
    this.native = addon ? new addon.ChaChaPolyKey(this.key) : undefined;
  }

  static fromSecret(secret: Uint8Array, aead: PacketAead = DEFAULT_PACKET_AEAD): PacketKeys {
    checkSecret(secret);
    if (aead !== 'aes-256-gcm' && aead !== 'chacha20-poly1305')
      throw new RangeError(`unknown AEAD ${String(aead)}`);
    return new PacketKeys(secret, aead);
  }

  /** Keys of the next key phase: secret' = HKDF-SHA256(secret, empty salt, "braid ku") (protocol.md §6.4). */
  next(): PacketKeys {
    return new PacketKeys(expand(this.secret, 'braid ku', SECRET_LENGTH), this.aead);
  }

  /**
   * Encrypts in place: buf[0, headerLen) is the header (associated data), buf[headerLen, headerLen+payloadLen)
   * the plaintext. Writes ciphertext and the 16-byte tag from headerLen; returns headerLen+payloadLen+16.
   * Throws RangeError if buf is too small or pathId/pn are out of range (caller bugs, not peer input).
   */
  seal(buf: Uint8Array, headerLen: number, payloadLen: number, pathId: number, pn: number): number {
    const end = headerLen + payloadLen + AEAD_TAG_LENGTH;
    if (!Number.isInteger(headerLen) || !Number.isInteger(payloadLen) || headerLen < 0 || payloadLen < 0) {
      throw new RangeError('headerLen and payloadLen must be non-negative integers');
    }
    if (end > buf.length) throw new RangeError(`seal needs ${end} bytes, buffer has ${buf.length}`);
    if (!this.makeNonce(pathId, pn))
      throw new RangeError('pathId must be a u32 and pn a safe non-negative integer');
    if (this.native) {
      if (this.native.seal(buf, headerLen, payloadLen, this.nonce) !== end)
        throw new Error('AEAD seal failed');
      return end;
    }
    const header = buf.subarray(0, headerLen);
    const plaintext = buf.subarray(headerLen, headerLen + payloadLen);
    if (this.aead === 'chacha20-poly1305') {
      // libsodium supports in-place encryption (ciphertext and message at the same address).
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
        buf.subarray(headerLen, end),
        plaintext,
        header,
        null,
        this.nonce,
        this.key,
      );
    } else {
      const cipher = createCipheriv('aes-256-gcm', this.key, this.nonce, { authTagLength: AEAD_TAG_LENGTH });
      cipher.setAAD(header);
      buf.set(cipher.update(plaintext), headerLen);
      cipher.final();
      buf.set(cipher.getAuthTag(), headerLen + payloadLen);
    }
    return end;
  }

  /**
   * seal() and then protectHeader() with `hp`, in one native call where the addon serves
   * both keys (the sender's per-packet crypto then crosses from JS once). Same result and
   * the same RangeErrors as the two calls.
   */
  sealAndProtect(
    buf: Uint8Array,
    headerLen: number,
    payloadLen: number,
    pathId: number,
    pn: number,
    hp: HeaderProtection,
    pnOffset: number,
    pnLength: number,
  ): number {
    const headerKey = hp.native;
    if (this.native && headerKey) {
      const end = headerLen + payloadLen + AEAD_TAG_LENGTH;
      if (
        Number.isInteger(headerLen) &&
        Number.isInteger(payloadLen) &&
        end <= buf.length &&
        pnOffset + HP_SAMPLE_OFFSET + HP_SAMPLE_LENGTH <= end &&
        this.makeNonce(pathId, pn) &&
        this.native.sealProtect(buf, headerLen, payloadLen, this.nonce, headerKey, pnOffset, pnLength) === end
      ) {
        return end;
      }
    }
    // Portable path, and the source of the precise RangeError for a caller's bad arguments.
    const length = this.seal(buf, headerLen, payloadLen, pathId, pn);
    protectHeader(hp, buf, pnOffset, pnLength);
    return length;
  }

  /**
   * Decrypts packet[headerLen..] with packet[0, headerLen) as associated data. Returns the
   * plaintext, valid until the next open() on any keys (copy what must outlive it), or null
   * if authentication fails or the input is malformed. Never modifies packet.
   */
  open(packet: Uint8Array, headerLen: number, pathId: number, pn: number): Uint8Array | null {
    if (!Number.isInteger(headerLen) || headerLen < 0 || packet.length - headerLen < AEAD_TAG_LENGTH)
      return null;
    if (!this.makeNonce(pathId, pn)) return null;
    if (this.native) {
      const length = packet.length - headerLen - AEAD_TAG_LENGTH;
      const out = plaintextScratch(length);
      if (this.native.open(packet, headerLen, this.nonce, out) !== length) return null;
      return new Uint8Array(out.buffer, out.byteOffset, length);
    }
    const header = packet.subarray(0, headerLen);
    const ciphertext = packet.subarray(headerLen);
    if (this.aead === 'chacha20-poly1305') {
      // Not in place: libsodium wipes the output on failure, and the caller may retry with
      // other keys. Into the shared scratch buffer instead of a fresh one per packet.
      const length = ciphertext.length - AEAD_TAG_LENGTH;
      const out = plaintextScratch(length).subarray(0, length);
      try {
        sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, ciphertext, header, this.nonce, this.key);
      } catch {
        return null;
      }
      return asUint8Array(out);
    }
    const bodyLength = ciphertext.length - AEAD_TAG_LENGTH;
    const decipher = createDecipheriv('aes-256-gcm', this.key, this.nonce, {
      authTagLength: AEAD_TAG_LENGTH,
    });
    decipher.setAAD(header);
    decipher.setAuthTag(ciphertext.subarray(bodyLength));
    const out = decipher.update(ciphertext.subarray(0, bodyLength));
    try {
      decipher.final();
    } catch {
      return null;
    }
    return asUint8Array(out);
  }

  /** nonce = iv XOR (pathId as u32 BE || pn as u64 BE). Returns false for out-of-range inputs. */
  private makeNonce(pathId: number, pn: number): boolean {
    if (!Number.isInteger(pathId) || pathId < 0 || pathId > 0xffff_ffff) return false;
    if (!Number.isSafeInteger(pn) || pn < 0) return false;
    const nonce = this.nonce;
    const iv = this.iv;
    const pnHigh = Math.floor(pn / 0x1_0000_0000);
    const pnLow = pn >>> 0;
    nonce[0] = iv[0] ^ (pathId >>> 24);
    nonce[1] = iv[1] ^ ((pathId >>> 16) & 0xff);
    nonce[2] = iv[2] ^ ((pathId >>> 8) & 0xff);
    nonce[3] = iv[3] ^ (pathId & 0xff);
    nonce[4] = iv[4] ^ (pnHigh >>> 24);
    nonce[5] = iv[5] ^ ((pnHigh >>> 16) & 0xff);
    nonce[6] = iv[6] ^ ((pnHigh >>> 8) & 0xff);
    nonce[7] = iv[7] ^ (pnHigh & 0xff);
    nonce[8] = iv[8] ^ (pnLow >>> 24);
    nonce[9] = iv[9] ^ ((pnLow >>> 16) & 0xff);
    nonce[10] = iv[10] ^ ((pnLow >>> 8) & 0xff);
    nonce[11] = iv[11] ^ (pnLow & 0xff);
    return true;
  }
}

/**
 * Header protection (RFC 9001 §5.4). The key comes from the first secret of a direction and
 * does not change on key updates, as in QUIC.
 */
export class HeaderProtection {
  readonly algorithm: HeaderProtectionAlgorithm;
  private readonly key: Uint8Array;
  private readonly ecb: ReturnType<typeof createCipheriv> | undefined;
  /** The mask of the last call, in the buffer every header key shares (valid until the next call). */
  private readonly maskBytes = sharedMask;
  /** @internal The addon's key, for PacketKeys.sealAndProtect. */
  readonly native: NativeChaChaHeaderKey | undefined;

  private constructor(key: Uint8Array, algorithm: HeaderProtectionAlgorithm) {
    this.algorithm = algorithm;
    this.key = key;
    const addon = algorithm === 'chacha20' ? nativeCrypto() : undefined;
    this.native = addon ? new addon.ChaChaHeaderKey(key) : undefined;
    if (algorithm === 'aes-128-ecb') {
      // One ECB cipher object for the life of the key: with padding off, every update() of a
      // 16-byte block is one independent AES block encryption.
      this.ecb = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
    }
  }

  static fromSecret(
    secret: Uint8Array,
    algorithm: HeaderProtectionAlgorithm = DEFAULT_HEADER_PROTECTION,
  ): HeaderProtection {
    checkSecret(secret);
    const length = algorithm === 'aes-128-ecb' ? 16 : 32;
    if (algorithm !== 'aes-128-ecb' && algorithm !== 'chacha20')
      throw new RangeError(`unknown algorithm ${String(algorithm)}`);
    return new HeaderProtection(expand(secret, 'braid hp', length), algorithm);
  }

  /** For test vectors: a raw 16-byte (AES) or 32-byte (ChaCha20) header-protection key. */
  static fromKey(key: Uint8Array, algorithm: HeaderProtectionAlgorithm): HeaderProtection {
    if (key.length !== (algorithm === 'aes-128-ecb' ? 16 : 32))
      throw new RangeError('wrong header protection key length');
    return new HeaderProtection(new Uint8Array(key), algorithm);
  }

  /**
   * The 5-byte mask for the 16-byte sample at packet[offset..]: no subarray per packet.
   * The returned view is reused by the next call on any key. Throws RangeError if the sample does not fit.
   */
  maskAt(packet: Uint8Array, offset: number): Uint8Array {
    if (this.native) {
      if (this.native.mask(packet, offset, this.maskBytes) !== 0)
        throw new RangeError('header protection sample must be 16 bytes');
      return this.maskBytes;
    }
    return this.mask(packet.subarray(offset, offset + HP_SAMPLE_LENGTH));
  }

  /** The 5-byte mask for a 16-byte sample. The returned view is reused by the next call on any key. */
  mask(sample: Uint8Array): Uint8Array {
    if (this.native && sample.length >= HP_SAMPLE_LENGTH) return this.maskAt(sample, 0);
    if (sample.length < HP_SAMPLE_LENGTH) throw new RangeError('header protection sample must be 16 bytes');
    if (this.ecb) {
      this.maskBytes.set(this.ecb.update(sample.subarray(0, HP_SAMPLE_LENGTH)).subarray(0, 5));
    } else {
      // RFC 9001 §5.4.4: counter = sample[0..4) little-endian, nonce = sample[4..16).
      const counter = (sample[0] | (sample[1] << 8) | (sample[2] << 16) | (sample[3] << 24)) >>> 0;
      sodium.crypto_stream_chacha20_ietf_xor_ic(
        this.maskBytes,
        FIVE_ZEROS,
        sample.subarray(4, 16),
        counter,
        this.key,
      );
    }
    return this.maskBytes;
  }
}

function firstByteMaskBits(firstByte: number): number {
  // Long headers protect the low 4 bits, short headers the low 5 (including the key phase).
  return firstByte & 0x80 ? 0x0f : 0x1f;
}

/**
 * Applies header protection in place after seal(): masks the low bits of byte 0 and the
 * packet-number bytes. Throws RangeError if the packet is too short to sample (a sender bug:
 * pad the payload so that pnOffset + 4 + 16 <= packet length).
 */
export function protectHeader(
  hp: HeaderProtection,
  packet: Uint8Array,
  pnOffset: number,
  pnLength: number,
): void {
  const sampleStart = pnOffset + HP_SAMPLE_OFFSET;
  if (sampleStart + HP_SAMPLE_LENGTH > packet.length)
    throw new RangeError('packet too short for header protection');
  if (pnLength < 1 || pnLength > 4) throw new RangeError('packet number length must be 1..4');
  const mask = hp.maskAt(packet, sampleStart);
  packet[0] ^= mask[0] & firstByteMaskBits(packet[0]);
  for (let i = 0; i < pnLength; i++) packet[pnOffset + i] ^= mask[1 + i];
}

/**
 * Removes header protection in place. Afterwards byte 0 carries the real packet-number length
 * (low 2 bits) and key phase (bit 0x04). Returns null if the packet is too short for the sample.
 */
export function unprotectHeader(
  hp: HeaderProtection,
  packet: Uint8Array,
  pnOffset: number,
): { pnLength: number; truncatedPn: number } | null {
  const sampleStart = pnOffset + HP_SAMPLE_OFFSET;
  if (!Number.isInteger(pnOffset) || pnOffset < 1 || sampleStart + HP_SAMPLE_LENGTH > packet.length)
    return null;
  const mask = hp.maskAt(packet, sampleStart);
  packet[0] ^= mask[0] & firstByteMaskBits(packet[0]);
  const pnLength = (packet[0] & 0x03) + 1;
  let truncatedPn = 0;
  for (let i = 0; i < pnLength; i++) {
    packet[pnOffset + i] ^= mask[1 + i];
    truncatedPn = truncatedPn * 256 + packet[pnOffset + i];
  }
  return { pnLength, truncatedPn };
}
