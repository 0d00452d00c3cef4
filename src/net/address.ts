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

/** 16 bytes of an IPv6 address in text form (any valid form, including an embedded IPv4 tail). */
export function ipv6Bytes(text: string): Uint8Array {
  let host = text;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  if (tail) {
    const v4 = ipv4Bytes(tail[1]);
    host = `${host.slice(0, -tail[1].length)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const halves = host.split('::');
  if (halves.length > 2) throw new RangeError(`invalid IPv6 address ${text}`);
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const rest = halves.length === 2 && halves[1] !== '' ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length;
  if ((halves.length === 2 && missing < 1) || (halves.length === 1 && missing !== 0))
    throw new RangeError(`invalid IPv6 address ${text}`);
  const groups = [...head, ...new Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new RangeError(`invalid IPv6 address ${text}`);
    const v = Number.parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

export function ipv4Bytes(text: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255))
    throw new RangeError(`invalid IPv4 address ${text}`);
  return Uint8Array.from(parts.map(Number));
}

/** RFC 5952 text (lower case, longest run of ≥ 2 zero groups compressed), as `socketAddress` callers write it. */
export function ipv6Text(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * The canonical text of an IP address (IPv4 dotted quad, IPv6 per RFC 5952, as the wire decoder
 * and Node's sockets write it), or undefined if `text` is not one. Lets user-given addresses be
 * compared with the ones sockets report.
 */
export function canonicalIp(text: string): string | undefined {
  try {
    return text.includes(':') ? ipv6Text(ipv6Bytes(text)) : ipv4Bytes(text).join('.');
  } catch {
    return undefined;
  }
}
