/**
 * ChaCha20-Poly1305 and ChaCha20 header protection on OpenSSL through Braid's own addon
 * (native/braid_crypto.cc): a cipher context per key, reused for every packet. Used by
 * packet-protection.ts where the addon is built; elsewhere, or with BRAID_NATIVE_CRYPTO=0,
 * packet protection stays on sodium-native. Both compute the same RFC 8439 AEAD and
 * RFC 9001 §5.4.4 mask (test/crypto/native-crypto.test.ts checks them against each other).
 */
import { loadAddon } from '../native/addons.js';

export interface NativeChaChaPolyKey {
  /** In place; returns headerLen + payloadLen + 16, or -1 on bad arguments. */
  seal(buf: Uint8Array, headerLen: number, payloadLen: number, nonce: Uint8Array): number;
  /** Into `out`; returns the plaintext length, or -1 if the packet does not authenticate. */
  open(packet: Uint8Array, headerLen: number, nonce: Uint8Array, out: Uint8Array): number;
  /** seal(), then header protection with `headerKey` (RFC 9001 §5.4.1), in one call; -1 on bad arguments. */
  sealProtect(
    buf: Uint8Array,
    headerLen: number,
    payloadLen: number,
    nonce: Uint8Array,
    headerKey: NativeChaChaHeaderKey,
    pnOffset: number,
    pnLength: number,
  ): number;
}

export interface NativeChaChaHeaderKey {
  /** Writes the 5-byte mask for packet[sampleOffset, +16) into out; 0, or -1 on bad arguments. */
  mask(packet: Uint8Array, sampleOffset: number, out: Uint8Array): number;
}

interface NativeCryptoModule {
  ChaChaPolyKey: new (key: Uint8Array) => NativeChaChaPolyKey;
  ChaChaHeaderKey: new (key: Uint8Array) => NativeChaChaHeaderKey;
}

/** The addon, or undefined where it is not built or BRAID_NATIVE_CRYPTO=0. */
export function nativeCrypto(): NativeCryptoModule | undefined {
  if (process.env.BRAID_NATIVE_CRYPTO === '0') return undefined;
  return loadAddon<NativeCryptoModule>('braid_crypto').module;
}
