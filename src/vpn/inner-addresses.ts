/**
 * Inner addresses of `braid vpn`: stable identifiers, never locators (docs/vpn.md).
 *
 * IPv6: a ULA /64 (RFC 4193) whose 40-bit global ID is a hash of the server's key, so every
 * server has its own; the server is ::1 in it, and each client the interface identifier hashed
 * from the server's and the client's keys: the same client gets the same address on every
 * connection, whatever its locators, without the server keeping any state.
 * IPv4: the server is the first host of the configured range; each client the host its key
 * hashes to, or the next free one when another connected key holds that (the range is small).
 */
import { createHash } from 'node:crypto';
import { type IpPrefix, ipText, maskBytes } from './ip-prefix.js';

export const DEFAULT_INNER_IPV4 = '10.77.0.0/16';

function hash(label: string, ...keys: Uint8Array[]): Buffer {
  const h = createHash('sha256').update(`braid vpn ${label}\0`);
  for (const key of keys) h.update(key);
  return h.digest();
}

/** The server's ULA /64: fd00::/8, 40 bits hashed from its key, subnet 0. */
export function ulaPrefix(serverKey: Uint8Array): IpPrefix {
  const bytes = new Uint8Array(16);
  bytes[0] = 0xfd;
  bytes.set(hash('ula', serverKey).subarray(0, 5), 1);
  return { version: 6, bytes, length: 64 };
}

/** The server's inner IPv6 address: ::1 in `prefix`. */
export function serverInnerIPv6(prefix: IpPrefix): Uint8Array {
  const bytes = maskBytes(prefix.bytes, prefix.length);
  bytes[15]! |= 1;
  return bytes;
}

/**
 * A client's inner IPv6 address in `prefix` (at most /64): the prefix, then the low 64 bits
 * hashed from both keys. Interface identifiers 0 and 1 (the server) are never given.
 */
export function clientInnerIPv6(prefix: IpPrefix, serverKey: Uint8Array, clientKey: Uint8Array): Uint8Array {
  if (prefix.version !== 6 || prefix.length > 64)
    throw new RangeError('the inner IPv6 prefix must be /64 or shorter');
  const bytes = maskBytes(prefix.bytes, prefix.length);
  const iid = hash('iid', serverKey, clientKey).subarray(0, 8);
  // The universal/local bit cleared (RFC 4291 appendix A: a locally made identifier).
  iid[0]! &= 0xfd;
  if (iid.every((b, i) => (i < 7 ? b === 0 : b <= 1))) iid[6] = 1;
  bytes.set(iid, 8);
  return bytes;
}

function toNumber(bytes: Uint8Array): number {
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

function fromNumber(value: number): Uint8Array {
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** The IPv4 addresses of one range: the server's, and one per client key. */
export class IPv4Pool {
  readonly range: IpPrefix;
  readonly #network: number;
  /** Client hosts: from network + 2 to the last before broadcast. */
  readonly #hosts: number;

  constructor(range: IpPrefix) {
    if (range.version !== 4 || range.length > 29) {
      throw new RangeError('the inner IPv4 range must be an IPv4 prefix of /29 or shorter');
    }
    this.range = range;
    this.#network = toNumber(range.bytes);
    this.#hosts = 2 ** (32 - range.length) - 3;
  }

  get server(): Uint8Array {
    return fromNumber(this.#network + 1);
  }

  /** Whether `address` is a client address of this range. */
  isClientAddress(address: Uint8Array): boolean {
    const offset = toNumber(address) - this.#network;
    return address.length === 4 && offset >= 2 && offset < 2 + this.#hosts;
  }

  /**
   * The address `clientKey` hashes to, or the next one `taken` does not refuse; undefined
   * when every host is taken.
   */
  assign(
    serverKey: Uint8Array,
    clientKey: Uint8Array,
    taken: (address: string) => boolean,
  ): Uint8Array | undefined {
    const start = hash('ipv4', serverKey, clientKey).readUInt32BE(0) % this.#hosts;
    for (let i = 0; i < this.#hosts; i++) {
      const address = fromNumber(this.#network + 2 + ((start + i) % this.#hosts));
      if (!taken(ipText(address))) return address;
    }
    return undefined;
  }
}
