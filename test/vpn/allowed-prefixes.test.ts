// The allowed-inner-prefixes rule of `braid vpn` (src/vpn/ip-prefix.ts, src/vpn/vpn-router.ts):
// prefix arithmetic, and the router enforcing it on every packet in both directions with a
// counted drop for each refusal.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FRAGMENT_TYPE } from '../../src/vpn/fragments.js';
import { formatPrefix, ipBytes, PrefixSet, parsePrefix, prefixContains } from '../../src/vpn/ip-prefix.js';
import { type PeerLink, type VpnPeer, VpnRouter } from '../../src/vpn/vpn-router.js';

test('prefixes: parsing, host bits, lengths that are not a multiple of 8', () => {
  assert.equal(formatPrefix(parsePrefix('10.77.0.0/16')), '10.77.0.0/16');
  assert.equal(formatPrefix(parsePrefix('10.77.3.4')), '10.77.3.4/32');
  assert.equal(formatPrefix(parsePrefix('fd00:1::/64')), 'fd00:1::/64');
  assert.throws(() => parsePrefix('10.77.0.1/16'), /host bits set; the network is 10\.77\.0\.0\/16/);
  assert.equal(formatPrefix(parsePrefix('10.77.0.1/16', { host: true })), '10.77.0.1/16');
  assert.throws(() => parsePrefix('10.77.0.0/33'), /invalid prefix length/);
  assert.throws(() => parsePrefix('fd00::/129'), /invalid prefix length/);
  assert.throws(() => parsePrefix('example.com/8'), /not a prefix/);
  const p = parsePrefix('192.0.2.128/25');
  assert.equal(prefixContains(p, ipBytes('192.0.2.128')), true);
  assert.equal(prefixContains(p, ipBytes('192.0.2.255')), true);
  assert.equal(prefixContains(p, ipBytes('192.0.2.127')), false);
  const q = parsePrefix('fd12:3456:7800::/37');
  assert.equal(prefixContains(q, ipBytes('fd12:3456:7fff::1')), true);
  assert.equal(prefixContains(q, ipBytes('fd12:3456:8000::1')), false);
  assert.equal(prefixContains(parsePrefix('0.0.0.0/0'), ipBytes('203.0.113.9')), true);
  const set = new PrefixSet([parsePrefix('10.0.0.0/8'), parsePrefix('10.1.0.0/16'), parsePrefix('fd00::/8')]);
  assert.equal(set.longestMatch(4, ipBytes('10.1.2.3'), 0), 16);
  assert.equal(set.longestMatch(4, ipBytes('10.2.2.3'), 0), 8);
  assert.equal(set.longestMatch(4, ipBytes('11.2.2.3'), 0), -1);
  assert.equal(set.has(6, ipBytes('fd99::1'), 0), true);
  assert.equal(set.has(6, ipBytes('fe80::1'), 0), false);
});

/** A minimal IPv4 or IPv6 packet (UDP, no payload) from `source` to `destination`. */
function packet(source: string, destination: string, size = 0): Uint8Array {
  const s = ipBytes(source);
  const d = ipBytes(destination);
  if (s.length === 4) {
    const p = new Uint8Array(Math.max(28, size));
    p[0] = 0x45;
    p[2] = p.length >> 8;
    p[3] = p.length & 0xff;
    p[9] = 17;
    p.set(s, 12);
    p.set(d, 16);
    return p;
  }
  const p = new Uint8Array(Math.max(48, size));
  p[0] = 0x60;
  p[4] = (p.length - 40) >> 8;
  p[5] = (p.length - 40) & 0xff;
  p[6] = 17;
  p.set(s, 8);
  p.set(d, 24);
  return p;
}

/** A session stand-in that records what it was asked to send (the router's only use of it). */
class RecordingLink implements PeerLink {
  readonly sent: Uint8Array[] = [];
  refuse = false;
  constructor(readonly maxDatagramSize = 1156) {}
  sendDatagram(data: Uint8Array): boolean {
    if (this.refuse) return false;
    this.sent.push(data);
    return true;
  }
}

function peer(label: string, ...prefixes: string[]): VpnPeer & { link: RecordingLink } {
  return { label, link: new RecordingLink(), allowed: new PrefixSet(prefixes.map((p) => parsePrefix(p))) };
}

test('TUN → peer: the longest allowed prefix holding the destination picks the peer; none: counted noRoute', () => {
  const written: Uint8Array[] = [];
  const router = new VpnRouter((p) => written.push(p) > 0);
  const alice = peer('alice', '10.77.0.2/32', 'fd00::2/128');
  const bob = peer('bob', '10.77.0.3/32', '192.168.50.0/24');
  const gateway = peer('gateway', '192.168.0.0/16');
  for (const p of [alice, bob, gateway]) router.addPeer(p);
  router.fromTun(packet('10.77.0.1', '10.77.0.2'));
  router.fromTun(packet('fd00::1', 'fd00::2'));
  router.fromTun(packet('10.77.0.1', '192.168.50.9'));
  router.fromTun(packet('10.77.0.1', '192.168.60.9'));
  router.fromTun(packet('10.77.0.1', '10.77.0.4')); // nobody's
  router.fromTun(packet('fd00::1', 'fd00::3')); // nobody's
  assert.equal(alice.link.sent.length, 2);
  assert.equal(bob.link.sent.length, 1, 'bob holds the longer prefix of 192.168.50.9');
  assert.equal(gateway.link.sent.length, 1);
  assert.equal(router.counters.drops.noRoute, 2);
  assert.equal(router.counters.toPeers, 4);
  router.removePeer(bob);
  router.fromTun(packet('10.77.0.1', '192.168.50.9'));
  assert.equal(gateway.link.sent.length, 2, 'with bob gone, the shorter prefix takes it');
});

test('peer → TUN: a source outside the sending peer’s allowed prefixes is dropped and counted', () => {
  const written: Uint8Array[] = [];
  const router = new VpnRouter((p) => written.push(p) > 0);
  const alice = peer('alice', '10.77.0.2/32', 'fd00::2/128');
  const bob = peer('bob', '10.77.0.3/32');
  router.addPeer(alice);
  router.addPeer(bob);
  router.fromPeer(alice, packet('10.77.0.2', '10.77.0.1'));
  router.fromPeer(alice, packet('fd00::2', 'fd00::1'));
  router.fromPeer(alice, packet('10.77.0.3', '10.77.0.1')); // bob's address, from alice: spoofed
  router.fromPeer(alice, packet('fd00::3', 'fd00::1'));
  router.fromPeer(bob, packet('10.77.0.2', '10.77.0.1'));
  router.fromPeer(alice, Uint8Array.of(0x45, 1, 2)); // not a packet
  assert.equal(written.length, 2);
  assert.equal(router.counters.drops.sourceNotAllowed, 3);
  assert.equal(router.counters.drops.malformed, 1);
});

test('a packet larger than a datagram rides in pieces and is whole again at the far router', () => {
  const tunA: Uint8Array[] = [];
  const tunB: Uint8Array[] = [];
  const a = new VpnRouter((p) => tunA.push(p) > 0);
  const b = new VpnRouter((p) => tunB.push(p) > 0);
  const toB = peer('b', 'fd00::/64');
  const toA = peer('a', 'fd00::2/128');
  a.addPeer(toB);
  b.addPeer(toA);
  const big = packet('fd00::2', 'fd00::1', 1280);
  big.fill(0x5a, 48);
  a.fromTun(big);
  assert.equal(toB.link.sent.length, 2);
  assert.ok(toB.link.sent.every((d) => d.length <= 1156 && d[0] === FRAGMENT_TYPE));
  for (const datagram of toB.link.sent.reverse()) b.fromPeer(toA, datagram);
  assert.equal(tunB.length, 1);
  assert.deepEqual(tunB[0], big);
  toB.link.refuse = true;
  a.fromTun(big);
  assert.equal(a.counters.drops.sendRefused, 1, 'a session that refuses datagrams: counted');
});
