/**
 * IP prefixes (CIDR) for `braid vpn`: the inner ranges, and the allowed-inner-prefixes rule of
 * each key (as WireGuard's AllowedIPs), checked against addresses read in place from packets.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ipv4Bytes, ipv6Bytes, ipv6Text } from '../net/address.js';

export interface IpPrefix {
  readonly version: 4 | 6;
  /** The network's bytes (4 or 16), host bits zero. */
  readonly bytes: Uint8Array;
  readonly length: number;
}

/** The bytes of an IPv4 or IPv6 address in text form; throws RangeError on anything else. */
export function ipBytes(text: string): Uint8Array {
  if (isIPv4(text)) return ipv4Bytes(text);
  if (isIPv6(text)) return ipv6Bytes(text);
  throw new RangeError(`'${text}' is not an IP address`);
}

export function ipText(bytes: Uint8Array): string {
  return bytes.length === 4 ? bytes.join('.') : ipv6Text(bytes);
}

/** `A.B.C.D/len` or `v6/len`; a bare address is a host prefix (/32, /128). Host bits must be zero unless `host` allows them. */
export function parsePrefix(text: string, options: { host?: boolean } = {}): IpPrefix {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  let bytes: Uint8Array;
  try {
    bytes = ipBytes(address);
  } catch {
    throw new RangeError(`'${text}' is not a prefix (A.B.C.D/LEN or IPv6/LEN)`);
  }
  const max = bytes.length * 8;
  const lengthText = slash < 0 ? String(max) : text.slice(slash + 1);
  const length = Number(lengthText);
  if (!/^\d{1,3}$/.test(lengthText) || length > max) {
    throw new RangeError(`'${text}' has an invalid prefix length (0–${max})`);
  }
  const network = maskBytes(bytes, length);
  if (!options.host && !network.every((b, i) => b === bytes[i])) {
    throw new RangeError(`'${text}' has host bits set; the network is ${ipText(network)}/${length}`);
  }
  return { version: bytes.length === 4 ? 4 : 6, bytes: options.host ? bytes : network, length };
}

export function formatPrefix(prefix: IpPrefix): string {
  return `${ipText(prefix.bytes)}/${prefix.length}`;
}

/** `bytes` with every bit after the first `length` cleared. */
export function maskBytes(bytes: Uint8Array, length: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.min(8, Math.max(0, length - i * 8));
    out[i]! &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

/** Whether the address at `data[offset ..]` (4 or 16 bytes, by the prefix's version) lies in `prefix`. */
export function prefixContains(prefix: IpPrefix, data: Uint8Array, offset = 0): boolean {
  const whole = prefix.length >> 3;
  for (let i = 0; i < whole; i++) if (data[offset + i] !== prefix.bytes[i]) return false;
  const rest = prefix.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((data[offset + whole]! ^ prefix.bytes[whole]!) & mask) === 0;
}

/** A set of prefixes of both versions: does an address fall in any of them. */
export class PrefixSet {
  readonly prefixes: readonly IpPrefix[];
  constructor(prefixes: readonly IpPrefix[]) {
    // Longest first, so `longestMatch` is the first hit.
    this.prefixes = [...prefixes].sort((a, b) => b.length - a.length);
  }

  /** The longest prefix of `version` holding the address at `data[offset ..]`, or -1. */
  longestMatch(version: 4 | 6, data: Uint8Array, offset: number): number {
    for (const prefix of this.prefixes) {
      if (prefix.version === version && prefixContains(prefix, data, offset)) return prefix.length;
    }
    return -1;
  }

  has(version: 4 | 6, data: Uint8Array, offset: number): boolean {
    return this.longestMatch(version, data, offset) >= 0;
  }

  toString(): string {
    return this.prefixes.map(formatPrefix).join(',');
  }
}
