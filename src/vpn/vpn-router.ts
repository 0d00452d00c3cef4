/**
 * Moves inner IP packets between the TUN device and Braid sessions, enforcing each peer's
 * allowed inner prefixes (as WireGuard's AllowedIPs) on every packet in both directions:
 *
 *  - TUN → peer: the packet goes to the peer whose allowed prefixes hold its destination
 *    (longest match); no such peer, and it is dropped (counted `noRoute`).
 *  - peer → TUN: the packet's source must lie in that peer's allowed prefixes, else it is
 *    dropped (counted `sourceNotAllowed`): an inner source address proves which key sent it.
 *
 * TCP SYN and SYN-ACK segments get their MSS clamped in both directions to what one datagram
 * carries. Every packet dropped is counted by reason; nothing throws on a bad packet.
 */
import { FRAGMENT_TYPE, Fragmenter, Reassembler } from './fragments.js';
import { clampTcpMss, destinationOffset, ipVersion, mssFor, sourceOffset } from './ip-packet.js';
import type { PrefixSet } from './ip-prefix.js';

/** What the router needs of a session: structurally a Braid Session. */
export interface PeerLink {
  /** False when the datagram was dropped (queue full, session suspended). */
  sendDatagram(data: Uint8Array): boolean;
  readonly maxDatagramSize: number;
}

export interface VpnPeer {
  readonly link: PeerLink;
  readonly allowed: PrefixSet;
  /** For logs: the key's fingerprint. */
  readonly label: string;
}

export interface VpnCounters {
  /** Packets read from the TUN, and sent to peers (whole, however many datagrams). */
  fromTun: number;
  toPeers: number;
  /** Packets received from peers, and written to the TUN. */
  fromPeers: number;
  toTun: number;
  /** TCP SYNs whose MSS was lowered. */
  mssClamped: number;
  drops: {
    /** Not an IP packet, or its header is inconsistent. */
    malformed: number;
    /** TUN → peer: no peer's allowed prefixes hold the destination. */
    noRoute: number;
    /** peer → TUN: the source is not in the sending peer's allowed prefixes. */
    sourceNotAllowed: number;
    /** The session refused the datagram (queue full, suspended, too large). */
    sendRefused: number;
    /** The TUN refused the packet. */
    tunWrite: number;
    /** Pieces of too-large packets that were malformed, or packets never completed. */
    fragments: number;
  };
}

export class VpnRouter {
  readonly #peers = new Set<VpnPeer>();
  readonly #reassembly = new Map<VpnPeer, Reassembler>();
  readonly #fragmenter = new Fragmenter();
  readonly #writeTun: (packet: Uint8Array) => boolean;
  readonly #now: () => number;
  readonly counters: VpnCounters = {
    fromTun: 0,
    toPeers: 0,
    fromPeers: 0,
    toTun: 0,
    mssClamped: 0,
    drops: { malformed: 0, noRoute: 0, sourceNotAllowed: 0, sendRefused: 0, tunWrite: 0, fragments: 0 },
  };

  constructor(writeTun: (packet: Uint8Array) => boolean, now: () => number = () => performance.now()) {
    this.#writeTun = writeTun;
    this.#now = now;
  }

  addPeer(peer: VpnPeer): void {
    this.#peers.add(peer);
    this.#reassembly.set(peer, new Reassembler());
  }

  removePeer(peer: VpnPeer): void {
    const reassembler = this.#reassembly.get(peer);
    if (reassembler) this.counters.drops.fragments += reassembler.pending;
    this.#peers.delete(peer);
    this.#reassembly.delete(peer);
  }

  get peers(): ReadonlySet<VpnPeer> {
    return this.#peers;
  }

  /** A packet the TUN gave us (a view the caller reuses: it is copied before it is queued). */
  fromTun(view: Uint8Array): void {
    this.counters.fromTun++;
    const version = ipVersion(view);
    if (version === 0) {
      this.counters.drops.malformed++;
      return;
    }
    const destination = destinationOffset(version);
    let best: VpnPeer | undefined;
    let bestLength = -1;
    for (const peer of this.#peers) {
      const length = peer.allowed.longestMatch(version, view, destination);
      if (length > bestLength) {
        best = peer;
        bestLength = length;
      }
    }
    if (!best) {
      this.counters.drops.noRoute++;
      return;
    }
    // The session keeps a reference to what it queues: give it a copy of the TUN's arena slot.
    const packet = Uint8Array.from(view.subarray(0, ipLength(view, version)));
    const max = best.link.maxDatagramSize;
    if (clampTcpMss(packet, version, mssFor(version, max))) this.counters.mssClamped++;
    const datagrams = this.#fragmenter.split(packet, max);
    let sent = datagrams.length > 0;
    for (const datagram of datagrams) {
      try {
        if (!best.link.sendDatagram(datagram)) sent = false;
      } catch {
        sent = false; // the peer refuses datagrams of that size: the same drop
      }
    }
    if (sent) this.counters.toPeers++;
    else this.counters.drops.sendRefused++;
  }

  /** A datagram `peer` sent: a whole inner packet or a piece of one. */
  fromPeer(peer: VpnPeer, datagram: Uint8Array): void {
    let packet: Uint8Array | undefined = datagram;
    if (datagram.length > 0 && datagram[0] === FRAGMENT_TYPE) {
      const reassembler = this.#reassembly.get(peer);
      if (!reassembler) return;
      const before = reassembler.malformed + reassembler.expired;
      packet = reassembler.accept(datagram, this.#now());
      this.counters.drops.fragments += reassembler.malformed + reassembler.expired - before;
      if (!packet) return;
    }
    this.counters.fromPeers++;
    const version = ipVersion(packet);
    if (version === 0) {
      this.counters.drops.malformed++;
      return;
    }
    if (!peer.allowed.has(version, packet, sourceOffset(version))) {
      this.counters.drops.sourceNotAllowed++;
      return;
    }
    const whole = packet.subarray(0, ipLength(packet, version));
    if (clampTcpMss(whole, version, mssFor(version, peer.link.maxDatagramSize))) this.counters.mssClamped++;
    if (this.#writeTun(whole)) this.counters.toTun++;
    else this.counters.drops.tunWrite++;
  }
}

/** The IP datagram's own length (a buffer may be longer). */
function ipLength(packet: Uint8Array, version: 4 | 6): number {
  return version === 4 ? (packet[2]! << 8) | packet[3]! : 40 + ((packet[4]! << 8) | packet[5]!);
}
