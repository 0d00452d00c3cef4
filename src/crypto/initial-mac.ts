/**
 * The MAC that ends an IK INITIAL (pattern 3, docs/protocol.md §4.2), after WireGuard's mac1:
 * keyed by a hash of the server's static public key, so only a sender who knows that key can
 * make the server spend a Diffie–Hellman operation. It proves knowledge of the key, nothing
 * more (the key is not secret); the server checks it before any DH and drops what fails.
 *
 *   mac_key = SHA-256("braid initial mac" || server_static_public)
 *   mac     = HMAC-SHA-256(mac_key, the INITIAL's bytes before the mac)[0..16]
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const INITIAL_MAC_LENGTH = 16;
const LABEL = 'braid initial mac';

export function initialMacKey(serverStaticPublic: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(LABEL).update(serverStaticPublic).digest());
}

function mac(key: Uint8Array, covered: Uint8Array): Buffer {
  return createHmac('sha256', key).update(covered).digest().subarray(0, INITIAL_MAC_LENGTH);
}

/** Writes the mac over `datagram[0, macOffset)` into `datagram[macOffset, macOffset + 16)`. */
export function sealInitialMac(datagram: Uint8Array, macOffset: number, key: Uint8Array): void {
  datagram.set(mac(key, datagram.subarray(0, macOffset)), macOffset);
}

/**
 * Whether the INITIAL in `datagram` ends its payload (a view into `datagram`) with a valid mac.
 * Constant time in the mac; false for a payload too short to hold one.
 */
export function checkInitialMac(datagram: Uint8Array, payload: Uint8Array, key: Uint8Array): boolean {
  if (payload.length < INITIAL_MAC_LENGTH || payload.buffer !== datagram.buffer) return false;
  const macOffset = payload.byteOffset - datagram.byteOffset + payload.length - INITIAL_MAC_LENGTH;
  if (macOffset < 0 || macOffset + INITIAL_MAC_LENGTH > datagram.length) return false;
  const expected = mac(key, datagram.subarray(0, macOffset));
  return timingSafeEqual(expected, datagram.subarray(macOffset, macOffset + INITIAL_MAC_LENGTH));
}
