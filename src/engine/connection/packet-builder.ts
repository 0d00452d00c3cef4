/**
 * The envelope of every short-header packet a session sends: `begin` on a path (packet
 * number, header, a writer over the buffer), the caller writes frames, `finish` seals and
 * protects it, advances the number space and records the packet. Packet numbers advance
 * here and nowhere else. The builder also owns the send keys and their updates.
 */
import { KeySchedule } from '../../crypto/key-schedule.js';
import { HeaderProtection } from '../../crypto/packet-protection.js';
import type { SocketAddress, Transmit } from '../../net/address.js';
import type { Path } from '../../paths/path.js';
import { encodePacketNumber, writeShortHeader } from '../../wire/packet-codec.js';
import { Writer } from '../../wire/varint.js';
import type { Outbox } from './outbox.js';
import type { SentInfo, SentRecord } from './sent-records.js';

export const AEAD_TAG = 16;

/** A packet-number space: one per path id. */
interface NumberSpace {
  nextPacketNumber: number;
}

/** A packet between begin and finish. */
export interface OpenPacket {
  readonly buf: Uint8Array;
  readonly w: Writer;
  readonly headerLength: number;
  readonly pn: number;
  readonly pnLength: number;
  /** The path id (number space) whose nonce the packet is sealed with. */
  readonly pathId: number;
  readonly space: NumberSpace;
  /** The path it goes on (undefined on a path id that has no path). */
  readonly path: Path<SentInfo> | undefined;
  readonly local: SocketAddress;
  readonly remote: SocketAddress;
  /** The shell's buffer as offered when the packet began (given back if it is abandoned). */
  readonly offered: Uint8Array | undefined;
}

/** How a finished packet is accounted for. */
export type PacketAccounting =
  /** Recorded on its path (loss detection, congestion control) with what it carried. */
  | { records: SentRecord[]; ackEliciting: boolean; inFlight: boolean }
  /** Counted in the stats only: a suspended server's probe, on a path id that is never opened. */
  | 'untracked'
  /** Neither recorded nor counted: CLOSE, sent when the session's accounting is over. */
  | 'close';

export class PacketBuilder {
  private _keys: KeySchedule | undefined;
  private sendHp: HeaderProtection | undefined;
  private _recvHp: HeaderProtection | undefined;
  /** Key updates so far (ours and the peer's): old packets must not confirm a new phase. */
  private _keyGeneration = 0;
  private packetsInPhase = 0;
  /** The shell's buffer for the packet being built in this poll (see offerBuffer). */
  private offered: Uint8Array | undefined;
  /**
   * A suspended server's probes go on a path id neither side has used, never opened under
   * these keys: a number space of their own keeps nonces unique.
   */
  private readonly unopenedSpace: NumberSpace = { nextPacketNumber: 0 };

  constructor(
    private readonly outbox: Outbox,
    private readonly keyUpdateInterval: number,
  ) {}

  get keys(): KeySchedule | undefined {
    return this._keys;
  }

  get recvHp(): HeaderProtection | undefined {
    return this._recvHp;
  }

  get keyGeneration(): number {
    return this._keyGeneration;
  }

  /**
   * Keys from a completed handshake, or a resumption's (`newEpoch`: packets sent before
   * belong to another generation).
   */
  installKeys(sendSecret: Uint8Array, recvSecret: Uint8Array, newEpoch: boolean): void {
    this._keys = new KeySchedule(sendSecret, recvSecret);
    this.sendHp = HeaderProtection.fromSecret(sendSecret);
    this._recvHp = HeaderProtection.fromSecret(recvSecret);
    if (newEpoch) {
      this.packetsInPhase = 0;
      this._keyGeneration++;
    }
  }

  /** The peer moved to a new key phase. */
  onPeerKeyUpdate(phase: 0 | 1): void {
    this._keyGeneration++;
    this.outbox.stats.keyUpdates++;
    this.outbox.emit({ type: 'key-update', phase });
    this.packetsInPhase = 0;
  }

  /** Our key update after `keyUpdateInterval` packets in one phase. */
  maybeInitiateKeyUpdate(): void {
    const keys = this._keys!;
    if (this.packetsInPhase >= this.keyUpdateInterval && keys.canInitiateUpdate) {
      keys.initiateUpdate();
      this._keyGeneration++;
      this.packetsInPhase = 0;
      this.outbox.stats.keyUpdates++;
      this.outbox.emit({ type: 'key-update', phase: keys.keyPhase });
    }
  }

  /** The shell's buffer for this poll's packet, used if large enough. */
  offerBuffer(buffer: Uint8Array | undefined): void {
    this.offered = buffer;
  }

  /** A packet of up to `size` bytes on `path` (its DCID, number space and addresses). */
  begin(path: Path<SentInfo>, size: number): OpenPacket {
    return this.open(
      path,
      path,
      path.id,
      path.remoteCid,
      path.loss.largestAcked ?? -1,
      path.local,
      path.remote,
      size,
    );
  }

  /**
   * A packet of exactly `size` bytes to `dcid` on a path id that has no path, in a buffer of
   * its own (it may wait in a queue beyond this poll).
   */
  beginUnopened(
    pathId: number,
    dcid: Uint8Array,
    local: SocketAddress,
    remote: SocketAddress,
    size: number,
  ): OpenPacket {
    const own = Buffer.alloc(size);
    return this.open(this.unopenedSpace, undefined, pathId, dcid, undefined, local, remote, size, own);
  }

  private open(
    space: NumberSpace,
    path: Path<SentInfo> | undefined,
    pathId: number,
    dcid: Uint8Array,
    largestAcked: number | undefined,
    local: SocketAddress,
    remote: SocketAddress,
    size: number,
    own?: Uint8Array,
  ): OpenPacket {
    const keys = this._keys!;
    const pn = space.nextPacketNumber;
    const { truncated, length: pnLength } = encodePacketNumber(pn, largestAcked);
    const offered = this.offered;
    const buf = own ?? this.takeBuffer(size);
    const headerLength = writeShortHeader(buf, dcid, keys.keyPhase as 0 | 1, pnLength, truncated);
    const w = new Writer(buf, headerLength);
    return { buf, w, headerLength, pn, pnLength, pathId, space, path, local, remote, offered };
  }

  private takeBuffer(size: number): Uint8Array {
    const offered = this.offered;
    this.offered = undefined;
    return offered !== undefined && offered.length >= size ? offered : Buffer.allocUnsafe(size);
  }

  /** Nothing to send after all: the shell's buffer stays free for the next try (a multipath plan may try several paths in one poll). */
  abandon(packet: OpenPacket): void {
    this.offered = packet.offered;
  }

  /** Seals and protects the packet, advances its number space, accounts for it. */
  finish(packet: OpenPacket, now: number, accounting: PacketAccounting): Transmit {
    const { buf, headerLength, pn, pnLength } = packet;
    const length = this._keys!.sealAndProtectPacket(
      buf,
      headerLength,
      packet.w.offset - headerLength,
      packet.pathId,
      pn,
      this.sendHp!,
      headerLength - pnLength,
      pnLength,
    );
    packet.space.nextPacketNumber = pn + 1;
    if (typeof accounting === 'object') {
      packet.path!.onPacketSent(
        {
          pn,
          timeSent: now,
          size: length,
          ackEliciting: accounting.ackEliciting,
          inFlight: accounting.inFlight,
          info: { records: accounting.records, keyGeneration: this._keyGeneration },
        },
        now,
      );
      this.packetsInPhase++;
      const keys = this._keys!;
      if (!keys.peerPhaseAcknowledged && accounting.records.some((r) => r.kind === 'ack')) keys.onAckSent();
    }
    if (accounting !== 'close') this.outbox.countSent(length);
    return { local: packet.local, remote: packet.remote, data: buf.subarray(0, length) };
  }
}
