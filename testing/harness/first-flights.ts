/**
 * First flights as a flood sends them: real INITIALs built by a client engine that is then
 * thrown away (it never answers), and junk shaped like them. Shared by test/security/ and
 * `npm run bench -- flood`.
 */
import sodium from 'sodium-native';
import { generateKeyPair, type KeyPair } from '../../src/crypto/noise/index.js';
import { Endpoint } from '../../src/engine/endpoint.js';
import type { SocketAddress } from '../../src/net/address.js';
import { BRAID_VERSION_1 } from '../../src/wire/packet.js';
import { encodeInitial } from '../../src/wire/packet-codec.js';

/** The first datagram a fresh client sends: IK when `serverKey` is given, XX otherwise. */
export function firstFlight(
  server: SocketAddress,
  local: SocketAddress,
  options: { serverKey?: Uint8Array; clientKey?: KeyPair; now?: number } = {},
): Uint8Array {
  const client = new Endpoint({ staticKey: options.clientKey ?? generateKeyPair() });
  const now = options.now ?? 0;
  client.connect(server, local, { serverKey: options.serverKey }, now);
  const transmit = client.pollTransmit(now);
  if (!transmit) throw new Error('the client sent no INITIAL');
  return transmit.data;
}

/**
 * An INITIAL shaped like an IK first flight whose Noise message is random bytes: what a
 * sender who does not know (or does not care about) the server's key can make for free.
 */
export function junkIkInitial(random: (n: number) => Uint8Array, pattern = 0): Uint8Array {
  return encodeInitial({
    kind: 'initial',
    version: BRAID_VERSION_1,
    dcid: random(8),
    scid: random(8),
    token: new Uint8Array(0),
    pattern,
    payload: random(96 + 160),
  });
}

/** The first byte of a RETRY packet. */
export function isRetry(datagram: Uint8Array): boolean {
  return (datagram[0] & 0xf0) === 0xf0;
}

/**
 * Runs `work` and returns how many X25519 operations (scalar multiplications, base or not) it
 * made, by counting calls into libsodium: the cost a flood makes a server pay.
 */
export function countX25519<T>(work: () => T): { result: T; operations: number } {
  const lib = sodium as unknown as Record<
    'crypto_scalarmult' | 'crypto_scalarmult_base',
    (...a: unknown[]) => void
  >;
  const scalarmult = lib.crypto_scalarmult;
  const scalarmultBase = lib.crypto_scalarmult_base;
  let operations = 0;
  lib.crypto_scalarmult = (...a) => {
    operations++;
    scalarmult(...a);
  };
  lib.crypto_scalarmult_base = (...a) => {
    operations++;
    scalarmultBase(...a);
  };
  try {
    return { result: work(), operations };
  } finally {
    lib.crypto_scalarmult = scalarmult;
    lib.crypto_scalarmult_base = scalarmultBase;
  }
}
