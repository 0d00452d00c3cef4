/**
 * A locator: where packets go this second. Braid never names a session by it.
 */
export interface SocketAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

export function socketAddress(address: string, port: number): SocketAddress {
  return { address, port, family: address.includes(':') ? 'IPv6' : 'IPv4' };
}

/** Stable string key for maps: `192.0.2.1:443` or `[2001:db8::1]:443`. */
export function addressKey(a: SocketAddress): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export function sameAddress(a: SocketAddress, b: SocketAddress): boolean {
  return a.port === b.port && a.address === b.address;
}

/** A datagram the engine wants sent: payload plus the address pair it must use. */
export interface Transmit {
  readonly local: SocketAddress;
  readonly remote: SocketAddress;
  readonly data: Uint8Array;
}
