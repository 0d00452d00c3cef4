/**
 * Key phases for one connection (docs/crypto.md §Key updates), after RFC 9001 §6:
 * the sender switches phase at once; the receiver always holds the next phase's keys
 * ready, so an update never stalls, and keeps the previous phase's keys until the engine
 * calls discardPrevious() (three PTOs after the update) for reordered packets.
 */
import {
  DEFAULT_PACKET_AEAD,
  type HeaderProtection,
  type PacketAead,
  PacketKeys,
} from './packet-protection.js';

export interface OpenedPacket {
  plaintext: Uint8Array;
  /** The peer started a key update: we switched too (our next packets carry the new phase). */
  peerUpdated: boolean;
  /** First packet in the current phase after we initiated an update: the peer has followed. */
  peerFollowed: boolean;
  /** Which receive keys opened it. */
  keys: 'current' | 'next' | 'previous';
  /**
   * The peer started a key update before we had acknowledged any packet of its current phase:
   * it cannot have seen the confirmation an update needs, so this is a KEY_UPDATE_ERROR. The
   * schedule did not advance.
   */
  prematureUpdate: boolean;
}

export class KeySchedule {
  private send: PacketKeys;
  private receiveCurrent: PacketKeys;
  private receiveNext: PacketKeys;
  private receivePrevious: PacketKeys | undefined;
  private phase: 0 | 1 = 0;
  private currentPhaseConfirmed = false;
  private awaitingPeer = false;
  /** A packet of the current receive phase was opened (the peer has sent in this phase). */
  private receivedInPhase = false;
  /** We sent an ACK after receivedInPhase: the peer may now see its current phase confirmed. */
  private acknowledgedPeerPhase = false;

  constructor(sendSecret: Uint8Array, receiveSecret: Uint8Array, aead: PacketAead = DEFAULT_PACKET_AEAD) {
    this.send = PacketKeys.fromSecret(sendSecret, aead);
    this.receiveCurrent = PacketKeys.fromSecret(receiveSecret, aead);
    this.receiveNext = this.receiveCurrent.next();
  }

  /** Key phase bit of the packets we send now. */
  get keyPhase(): 0 | 1 {
    return this.phase;
  }

  /** True once a packet we sent in the current phase has been acknowledged. */
  get canInitiateUpdate(): boolean {
    return this.currentPhaseConfirmed;
  }

  /** True while previous-phase receive keys are still held. */
  get hasPreviousKeys(): boolean {
    return this.receivePrevious !== undefined;
  }

  sendKeys(): PacketKeys {
    return this.send;
  }

  sealPacket(buf: Uint8Array, headerLen: number, payloadLen: number, pathId: number, pn: number): number {
    return this.send.seal(buf, headerLen, payloadLen, pathId, pn);
  }

  /** sealPacket() plus header protection with `hp` (one native call where the addon is built). */
  sealAndProtectPacket(
    buf: Uint8Array,
    headerLen: number,
    payloadLen: number,
    pathId: number,
    pn: number,
    hp: HeaderProtection,
    pnOffset: number,
    pnLength: number,
  ): number {
    return this.send.sealAndProtect(buf, headerLen, payloadLen, pathId, pn, hp, pnOffset, pnLength);
  }

  /** The engine calls this when an ACK arrives for a packet sent under the current phase. */
  confirmCurrentPhase(): void {
    this.currentPhaseConfirmed = true;
  }

  /**
   * The engine sealed a packet carrying an ACK frame. Once a packet of the peer's current phase
   * has arrived, such an ACK may confirm that phase to the peer, which may then update again.
   */
  onAckSent(): void {
    if (this.receivedInPhase) this.acknowledgedPeerPhase = true;
  }

  /** False until onAckSent() could have confirmed the peer's current phase (cheap to test per packet). */
  get peerPhaseAcknowledged(): boolean {
    return this.acknowledgedPeerPhase;
  }

  /** Switches to the next phase now. Throws if the current phase is not yet confirmed (RFC 9001 §6.1). */
  initiateUpdate(): void {
    if (!this.currentPhaseConfirmed) {
      throw new Error('key update not allowed before a packet of the current phase is acknowledged');
    }
    this.advance();
    this.awaitingPeer = true;
  }

  /** Drops the previous phase's receive keys: packets still using them are then rejected. */
  discardPrevious(): void {
    this.receivePrevious = undefined;
  }

  /**
   * Opens a packet whose header protection is already removed. The key phase bit picks the
   * current keys, or else the next keys (peer-initiated update: we promote and switch our send
   * keys too) and the previous keys (a reordered packet from before the update). Null if no
   * key opens it: the caller drops the packet.
   */
  openPacket(
    packet: Uint8Array,
    headerLen: number,
    pathId: number,
    pn: number,
    keyPhaseBit: number,
  ): OpenedPacket | null {
    if ((keyPhaseBit & 1) === this.phase) {
      const plaintext = this.receiveCurrent.open(packet, headerLen, pathId, pn);
      if (!plaintext) return null;
      const peerFollowed = this.awaitingPeer;
      this.awaitingPeer = false;
      this.receivedInPhase = true;
      return { plaintext, peerUpdated: false, peerFollowed, keys: 'current', prematureUpdate: false };
    }
    if (this.receivePrevious) {
      const plaintext = this.receivePrevious.open(packet, headerLen, pathId, pn);
      if (plaintext)
        return {
          plaintext,
          peerUpdated: false,
          peerFollowed: false,
          keys: 'previous',
          prematureUpdate: false,
        };
    }
    const plaintext = this.receiveNext.open(packet, headerLen, pathId, pn);
    if (!plaintext) return null;
    // RFC 9001 §6.1: a peer updates only once a packet of its current phase was acknowledged,
    // and only we can have acknowledged it. Back-to-back updates would otherwise go unchecked.
    if (!this.acknowledgedPeerPhase)
      return { plaintext, peerUpdated: false, peerFollowed: false, keys: 'next', prematureUpdate: true };
    this.advance();
    this.receivedInPhase = true;
    return { plaintext, peerUpdated: true, peerFollowed: false, keys: 'next', prematureUpdate: false };
  }

  private advance(): void {
    this.send = this.send.next();
    this.receivePrevious = this.receiveCurrent;
    this.receiveCurrent = this.receiveNext;
    this.receiveNext = this.receiveCurrent.next();
    this.phase ^= 1;
    this.currentPhaseConfirmed = false;
    this.awaitingPeer = false;
    this.receivedInPhase = false;
    this.acknowledgedPeerPhase = false;
  }
}
