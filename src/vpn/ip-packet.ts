/**
 * The few facts `braid vpn` reads from an inner IP packet (version, where its addresses are)
 * and the one change it makes: clamping the MSS option of TCP SYN and SYN-ACK segments, so
 * inner TCP sends segments that fit one Braid datagram and never relies on fragmentation.
 * Everything works in place on the packet's bytes; nothing here allocates per packet.
 */

export const IPV4_HEADER = 20;
export const IPV6_HEADER = 40;
export const TCP_HEADER = 20;
const PROTOCOL_TCP = 6;
const TCP_SYN = 0x02;
const TCP_OPTION_END = 0;
const TCP_OPTION_NOP = 1;
const TCP_OPTION_MSS = 2;

/** 4 or 6 for a packet whose fixed header is complete and consistent; 0 for anything else. */
export function ipVersion(packet: Uint8Array): 0 | 4 | 6 {
  if (packet.length < IPV4_HEADER) return 0;
  const version = packet[0]! >> 4;
  if (version === 4) {
    const headerLength = (packet[0]! & 0x0f) * 4;
    const totalLength = (packet[2]! << 8) | packet[3]!;
    return headerLength >= IPV4_HEADER && totalLength >= headerLength && totalLength <= packet.length ? 4 : 0;
  }
  if (version === 6) {
    if (packet.length < IPV6_HEADER) return 0;
    const payloadLength = (packet[4]! << 8) | packet[5]!;
    return IPV6_HEADER + payloadLength <= packet.length ? 6 : 0;
  }
  return 0;
}

/** Offset of the source address in a packet of `version`. */
export function sourceOffset(version: 4 | 6): number {
  return version === 4 ? 12 : 8;
}

/** Offset of the destination address in a packet of `version`. */
export function destinationOffset(version: 4 | 6): number {
  return version === 4 ? 16 : 24;
}

/** The largest TCP MSS whose segments (with a 20-byte TCP header and no options) fit a packet of `packetSize`. */
export function mssFor(version: 4 | 6, packetSize: number): number {
  return packetSize - (version === 4 ? IPV4_HEADER : IPV6_HEADER) - TCP_HEADER;
}

/** The 16-bit one's complement sum of `data[start .. end)` added to `sum` (not yet folded or inverted). */
export function onesComplementSum(data: Uint8Array, start: number, end: number, sum = 0): number {
  let total = sum;
  let i = start;
  for (; i + 1 < end; i += 2) total += (data[i]! << 8) | data[i + 1]!;
  if (i < end) total += data[i]! << 8;
  return total;
}

function fold(sum: number): number {
  let total = sum;
  while (total > 0xffff) total = (total & 0xffff) + Math.floor(total / 0x10000);
  return total;
}

/** The Internet checksum (RFC 1071) of `data[start .. end)` with `initial` folded in. */
export function internetChecksum(data: Uint8Array, start = 0, end = data.length, initial = 0): number {
  return ~fold(onesComplementSum(data, start, end, initial)) & 0xffff;
}

/**
 * Where a packet's TCP header starts, or -1 when it is not TCP, is a non-first IPv4 fragment, or
 * is IPv6 with extension headers before TCP (left alone: SYNs are not sent that way in practice).
 */
export function tcpOffset(packet: Uint8Array, version: 4 | 6): number {
  let offset: number;
  if (version === 4) {
    if (packet[9] !== PROTOCOL_TCP) return -1;
    if ((((packet[6]! << 8) | packet[7]!) & 0x1fff) !== 0) return -1;
    offset = (packet[0]! & 0x0f) * 4;
  } else {
    if (packet[6] !== PROTOCOL_TCP) return -1;
    offset = IPV6_HEADER;
  }
  return offset + TCP_HEADER <= ipEnd(packet, version) ? offset : -1;
}

/** Where the packet's IP datagram ends (a TUN read may not be longer, but a received datagram could be). */
function ipEnd(packet: Uint8Array, version: 4 | 6): number {
  return version === 4 ? (packet[2]! << 8) | packet[3]! : IPV6_HEADER + ((packet[4]! << 8) | packet[5]!);
}

/** The TCP checksum a segment should carry: over the pseudo-header and the segment, its own checksum field as zero. */
export function tcpChecksum(packet: Uint8Array, version: 4 | 6): number {
  const tcp = tcpOffset(packet, version);
  if (tcp < 0) throw new RangeError('not a TCP segment');
  const end = ipEnd(packet, version);
  const length = end - tcp;
  let sum =
    version === 4
      ? onesComplementSum(packet, 12, 20) + PROTOCOL_TCP + length
      : onesComplementSum(packet, 8, 40) + PROTOCOL_TCP + length;
  sum = onesComplementSum(packet, tcp, tcp + 16, sum);
  sum = onesComplementSum(packet, tcp + 18, end, sum);
  return ~fold(sum) & 0xffff;
}

/**
 * Lowers the MSS option of a TCP SYN (or SYN-ACK) to `maxMss` if it is larger, fixing the TCP
 * checksum incrementally (RFC 1624, eqn. 3). Returns true when it rewrote the option. A SYN
 * without an MSS option is left alone: its default (536 for IPv4, 1220 for IPv6) already fits.
 */
export function clampTcpMss(packet: Uint8Array, version: 4 | 6, maxMss: number): boolean {
  const tcp = tcpOffset(packet, version);
  if (tcp < 0 || (packet[tcp + 13]! & TCP_SYN) === 0) return false;
  const headerEnd = Math.min(tcp + (packet[tcp + 12]! >> 4) * 4, ipEnd(packet, version));
  let i = tcp + TCP_HEADER;
  while (i < headerEnd) {
    const kind = packet[i]!;
    if (kind === TCP_OPTION_END) return false;
    if (kind === TCP_OPTION_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= headerEnd) return false;
    const length = packet[i + 1]!;
    if (length < 2 || i + length > headerEnd) return false;
    if (kind === TCP_OPTION_MSS && length === 4) {
      const mss = (packet[i + 2]! << 8) | packet[i + 3]!;
      if (mss <= maxMss) return false;
      const checksum = (packet[tcp + 16]! << 8) | packet[tcp + 17]!;
      // HC' = ~(~HC + ~m + m')
      const updated = ~fold((~checksum & 0xffff) + (~mss & 0xffff) + maxMss) & 0xffff;
      packet[i + 2] = maxMss >> 8;
      packet[i + 3] = maxMss & 0xff;
      packet[tcp + 16] = updated >> 8;
      packet[tcp + 17] = updated & 0xff;
      return true;
    }
    i += length;
  }
  return false;
}
