/**
 * Which back-end this process runs on: the batched UDP addon or node:dgram for sockets, the
 * OpenSSL addon or sodium-native for packet protection. Both pairs are correct; the portable
 * one moves about half the bytes per core, so a fallback is said once per process (a warning
 * with code BRAID_PORTABLE_BACKEND) and shown by `braid --version`, `session.stats.backend`
 * and `braid status`.
 */
import { nativeCrypto } from '../crypto/native-crypto.js';
import { loadAddon } from '../native/addons.js';
import type { SocketBackend, SocketBackendChoice } from './datagram-socket.js';
import { resolveSocketBackend } from './open-socket.js';

export interface BackendInfo {
  /** Sockets: 'native' (batched recvmmsg/sendmmsg with GSO) or 'dgram' (node:dgram). */
  udp: SocketBackend;
  /** Packet protection: 'openssl' (the native addon) or 'sodium' (sodium-native). */
  crypto: 'openssl' | 'sodium';
  /** Why a part is not native, e.g. "braid_udp addon not built (npm run build:native)". */
  reasons: string[];
}

/** The back-end a socket opened with `choice` would use now. */
export function describeBackend(choice: SocketBackendChoice = 'auto'): BackendInfo {
  const reasons: string[] = [];
  const udp = resolveSocketBackend(choice);
  if (udp.reason) reasons.push(`udp: ${udp.reason}`);
  const cryptoAddon = nativeCrypto() !== undefined;
  if (!cryptoAddon) {
    const why =
      process.env.BRAID_NATIVE_CRYPTO === '0' ? 'BRAID_NATIVE_CRYPTO=0' : loadAddon('braid_crypto').error;
    reasons.push(`crypto: ${why ?? 'unavailable'}`);
  }
  return { udp: udp.backend, crypto: cryptoAddon ? 'openssl' : 'sodium', reasons };
}

/** One line for people: "native (batched UDP, OpenSSL AEAD)" or the portable one and why. */
export function formatBackend(info: BackendInfo): string {
  const native = info.udp === 'native' && info.crypto === 'openssl';
  const parts = `${info.udp === 'native' ? 'batched UDP' : 'node:dgram'}, ${info.crypto === 'openssl' ? 'OpenSSL AEAD' : 'sodium-native AEAD'}`;
  if (native) return `native (${parts})`;
  return `${info.udp === 'native' || info.crypto === 'openssl' ? 'partly native' : 'portable'} (${parts}; ${info.reasons.join('; ')})`;
}

let fallbackStated = false;

/**
 * Says once per process that an automatic choice fell back to the portable back-end. An
 * explicit choice (socketBackend 'dgram', BRAID_NATIVE_UDP=0, BRAID_NATIVE_CRYPTO=0) is not a
 * fallback and says nothing.
 */
export function stateFallbackOnce(choice: SocketBackendChoice | undefined, info: BackendInfo): void {
  if (fallbackStated || (choice !== undefined && choice !== 'auto')) return;
  const unasked = info.reasons.filter((reason) => !reason.includes('=0') && !reason.endsWith('requested'));
  if (unasked.length === 0) return;
  fallbackStated = true;
  process.emitWarning(
    `Braid runs on the ${formatBackend(info)}: about half the throughput of the native ` +
      'back-end. Install a C++ toolchain and run `npm rebuild braid` (or `npm run build:native`).',
    { code: 'BRAID_PORTABLE_BACKEND' },
  );
}
