/**
 * Inner packets larger than one Braid datagram. IPv6 needs links of at least 1280 bytes
 * (RFC 8200 §5: a smaller link fragments and reassembles below IP), and a Braid datagram holds
 * about 1150 bytes, so the TUN's MTU is 1280 and a larger packet rides as pieces:
 *
 *   whole packet = the IP packet itself (first nibble 4 or 6)
 *   piece        = 0xF0 | id:u16be | index:u4 count:u4 | bytes
 *
 * Pieces are unreliable like the packet: a lost piece loses the packet. Inner TCP never
 * needs this (its MSS is clamped to one datagram); UDP and ICMP of 1150–1280 bytes do.
 */

export const FRAGMENT_TYPE = 0xf0;
export const FRAGMENT_HEADER = 4;
const MAX_PIECES = 15;

/** Splits packets too large for one datagram. */
export class Fragmenter {
  #nextId = 0;

  /** `packet` as datagrams of at most `maxDatagram` bytes: itself when it fits, else pieces. */
  split(packet: Uint8Array, maxDatagram: number): Uint8Array[] {
    if (packet.length <= maxDatagram) return [packet];
    const room = maxDatagram - FRAGMENT_HEADER;
    const count = Math.ceil(packet.length / room);
    if (room <= 0 || count > MAX_PIECES) return [];
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) & 0xffff;
    const pieces: Uint8Array[] = [];
    for (let index = 0; index < count; index++) {
      const bytes = packet.subarray(index * room, Math.min(packet.length, (index + 1) * room));
      const piece = new Uint8Array(FRAGMENT_HEADER + bytes.length);
      piece[0] = FRAGMENT_TYPE;
      piece[1] = id >> 8;
      piece[2] = id & 0xff;
      piece[3] = (index << 4) | count;
      piece.set(bytes, FRAGMENT_HEADER);
      pieces.push(piece);
    }
    return pieces;
  }
}

interface Pending {
  pieces: Array<Uint8Array | undefined>;
  received: number;
  started: number;
}

/** Reassembles pieces; incomplete packets are dropped after `timeoutMs` or when too many are pending. */
export class Reassembler {
  readonly #pending = new Map<number, Pending>();
  readonly #timeoutMs: number;
  readonly #maxPending: number;
  /** Pieces that were malformed or duplicates. */
  malformed = 0;
  /** Packets given up incomplete (a piece lost, or pushed out by newer ones). */
  expired = 0;

  constructor(timeoutMs = 1000, maxPending = 64) {
    this.#timeoutMs = timeoutMs;
    this.#maxPending = maxPending;
  }

  /** The whole packet once `piece` completes one, else undefined. */
  accept(piece: Uint8Array, now: number): Uint8Array | undefined {
    const index = piece[3]! >> 4;
    const count = piece[3]! & 0x0f;
    if (piece.length <= FRAGMENT_HEADER || piece[0] !== FRAGMENT_TYPE || count < 2 || index >= count) {
      this.malformed++;
      return undefined;
    }
    this.#expire(now);
    const id = (piece[1]! << 8) | piece[2]!;
    let entry = this.#pending.get(id);
    if (entry && entry.pieces.length !== count) {
      this.#pending.delete(id);
      this.expired++;
      entry = undefined;
    }
    if (!entry) {
      if (this.#pending.size >= this.#maxPending) {
        const oldest = this.#pending.keys().next().value as number;
        this.#pending.delete(oldest);
        this.expired++;
      }
      entry = { pieces: new Array(count).fill(undefined), received: 0, started: now };
      this.#pending.set(id, entry);
    }
    if (entry.pieces[index]) {
      this.malformed++;
      return undefined;
    }
    entry.pieces[index] = piece.subarray(FRAGMENT_HEADER);
    entry.received++;
    if (entry.received < count) return undefined;
    this.#pending.delete(id);
    const parts = entry.pieces as Uint8Array[];
    const whole = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
    let at = 0;
    for (const part of parts) {
      whole.set(part, at);
      at += part.length;
    }
    return whole;
  }

  get pending(): number {
    return this.#pending.size;
  }

  #expire(now: number): void {
    for (const [id, entry] of this.#pending) {
      if (now - entry.started < this.#timeoutMs) break; // insertion order is age order
      this.#pending.delete(id);
      this.expired++;
    }
  }
}
