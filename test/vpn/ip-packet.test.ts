// MSS clamping and checksums of `braid vpn` (src/vpn/ip-packet.ts) on hand-built IPv4 and IPv6
// TCP segments: the clamped option, and a checksum equal to a full recomputation done here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  clampTcpMss,
  internetChecksum,
  ipVersion,
  mssFor,
  tcpChecksum,
  tcpOffset,
} from '../../src/vpn/ip-packet.js';

/** The TCP checksum recomputed from scratch: pseudo-header + segment, 16-bit words, folded. */
function referenceTcpChecksum(packet: Uint8Array, version: 4 | 6): number {
  const words: number[] = [];
  const push = (bytes: Uint8Array): void => {
    for (let i = 0; i < bytes.length; i += 2) words.push((bytes[i]! << 8) | (bytes[i + 1] ?? 0));
  };
  const header = version === 4 ? (packet[0]! & 0x0f) * 4 : 40;
  const end = version === 4 ? (packet[2]! << 8) | packet[3]! : 40 + ((packet[4]! << 8) | packet[5]!);
  const segment = Uint8Array.from(packet.subarray(header, end));
  segment[16] = 0;
  segment[17] = 0;
  if (version === 4) push(packet.subarray(12, 20));
  else push(packet.subarray(8, 40));
  words.push(6, segment.length >> 16, segment.length & 0xffff);
  push(segment);
  let sum = words.reduce((a, b) => a + b, 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A TCP segment with `options` (padded to 4 bytes) and `payload`, with correct lengths and checksums. */
function segment(version: 4 | 6, flags: number, options: number[], payload = new Uint8Array(0)): Uint8Array {
  const padded = [...options];
  while (padded.length % 4 !== 0) padded.push(0);
  const tcpLength = 20 + padded.length + payload.length;
  const ipHeader = version === 4 ? 20 : 40;
  const packet = new Uint8Array(ipHeader + tcpLength);
  if (version === 4) {
    packet[0] = 0x45;
    packet[2] = packet.length >> 8;
    packet[3] = packet.length & 0xff;
    packet[6] = 0x40; // DF
    packet[8] = 64;
    packet[9] = 6;
    packet.set([10, 77, 0, 2], 12);
    packet.set([10, 77, 0, 1], 16);
    const check = internetChecksum(packet, 0, 20);
    packet[10] = check >> 8;
    packet[11] = check & 0xff;
  } else {
    packet[0] = 0x60;
    packet[4] = tcpLength >> 8;
    packet[5] = tcpLength & 0xff;
    packet[6] = 6;
    packet[7] = 64;
    packet.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 8);
    packet.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 24);
  }
  const tcp = ipHeader;
  packet.set([0xc3, 0x50, 0x13, 0x89, 1, 2, 3, 4, 0, 0, 0, 0], tcp);
  packet[tcp + 12] = ((20 + padded.length) / 4) << 4;
  packet[tcp + 13] = flags;
  packet[tcp + 14] = 0xfa;
  packet.set(padded, tcp + 20);
  packet.set(payload, tcp + 20 + padded.length);
  const check = referenceTcpChecksum(packet, version);
  packet[tcp + 16] = check >> 8;
  packet[tcp + 17] = check & 0xff;
  return packet;
}

const SYN = 0x02;
const SYN_ACK = 0x12;
const ACK = 0x10;
const mssOption = (mss: number): number[] => [2, 4, mss >> 8, mss & 0xff];
/** What Linux sends: MSS, SACK permitted, timestamps, NOP, window scale. */
const linuxOptions = (mss: number): number[] => [
  ...mssOption(mss),
  4,
  2,
  8,
  10,
  1,
  2,
  3,
  4,
  0,
  0,
  0,
  0,
  1,
  3,
  3,
  7,
];

function mssOf(packet: Uint8Array, version: 4 | 6): number {
  const tcp = tcpOffset(packet, version);
  const at = packet.indexOf(2, tcp + 20);
  return (packet[at + 2]! << 8) | packet[at + 3]!;
}

for (const version of [4, 6] as const) {
  test(`IPv${version}: a SYN's MSS is lowered to fit one datagram, and its checksum stays right`, () => {
    for (const [flags, options] of [
      [SYN, mssOption(1460)],
      [SYN_ACK, linuxOptions(1460)],
      [SYN, [1, 1, ...linuxOptions(65495)]],
    ] as const) {
      const packet = segment(version, flags, [...options]);
      assert.equal(ipVersion(packet), version);
      assert.equal(
        tcpChecksum(packet, version),
        referenceTcpChecksum(packet, version),
        'the builder is right',
      );
      const max = mssFor(version, 1156);
      assert.equal(max, version === 4 ? 1116 : 1096);
      assert.equal(clampTcpMss(packet, version, max), true);
      assert.equal(mssOf(packet, version), max);
      const carried =
        (packet[tcpOffset(packet, version) + 16]! << 8) | packet[tcpOffset(packet, version) + 17]!;
      assert.equal(carried, referenceTcpChecksum(packet, version), 'incremental update = full recomputation');
      assert.equal(carried, tcpChecksum(packet, version));
    }
  });

  test(`IPv${version}: segments that need no clamping are left byte for byte`, () => {
    const cases = [
      segment(version, SYN, mssOption(1000)), // already small enough
      segment(version, ACK, mssOption(1460)), // not a SYN
      segment(version, SYN, [1, 3, 3, 7]), // no MSS option (its default fits)
      segment(version, SYN, [2, 9, 5, 180]), // option length runs past the header: malformed
      segment(version, SYN, [0, 0, 2, 4, 5, 180]), // MSS after the end-of-options
    ];
    for (const packet of cases) {
      const before = Uint8Array.from(packet);
      assert.equal(clampTcpMss(packet, version, mssFor(version, 1156)), false);
      assert.deepEqual(packet, before);
    }
  });
}

test('a checksum that folds through 0xffff (RFC 1624 corner) matches the full recomputation', () => {
  // Search a payload whose checksum makes the incremental update wrap; check every candidate.
  for (let fill = 0; fill < 256; fill++) {
    const packet = segment(4, SYN, mssOption(0xffff), new Uint8Array([fill, 0xff - fill]));
    clampTcpMss(packet, 4, 1116);
    const carried = (packet[36]! << 8) | packet[37]!;
    assert.equal(carried, referenceTcpChecksum(packet, 4), `payload ${fill}`);
  }
});

test('ipVersion refuses truncated and inconsistent headers; IPv4 fragments after the first are not parsed as TCP', () => {
  const packet = segment(4, SYN, mssOption(1460));
  assert.equal(ipVersion(packet.subarray(0, 19)), 0);
  assert.equal(ipVersion(packet.subarray(0, packet.length - 1)), 0, 'total length beyond the bytes');
  const v6 = segment(6, SYN, mssOption(1460));
  assert.equal(ipVersion(v6.subarray(0, 39)), 0);
  assert.equal(ipVersion(Uint8Array.of(0x55, ...new Array(40).fill(0))), 0);
  packet[7] = 8; // fragment offset 64
  assert.equal(tcpOffset(packet, 4), -1);
  assert.equal(clampTcpMss(packet, 4, 1116), false);
});

test('internetChecksum is RFC 1071: a header with its checksum sums to zero', () => {
  const packet = segment(4, SYN, mssOption(1460));
  assert.equal(internetChecksum(packet, 0, 20), 0);
  // The RFC 1071 example bytes: 00 01 f2 03 f4 f5 f6 f7 → sum ddf2, checksum 220d.
  assert.equal(internetChecksum(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7)), 0x220d);
});
