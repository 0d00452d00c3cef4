/**
 * 0-RTT tickets (docs/persistence.md §5): the server seals what it needs to accept a later
 * session's early data into an opaque ticket only it can open, and remembers every ticket it
 * accepted until the ticket expires (a strike register), so a replayed first flight carrying
 * the same ticket is refused.
 *
 * Sealed ticket = nonce (12) || ChaCha20-Poly1305(key, nonce, plaintext, aad = "braid ticket v1")
 * plaintext     = version (8) = 1 || ticket id (128) || expiry (48, server ms) || client key (256)
 *                 || max early data (32)
 *
 * The key is random per endpoint (per process): a restarted server cannot open old tickets, so
 * its strike register never needs to outlive it. The expiry is on the endpoint's monotonic clock
 * for the same reason.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export const TICKET_ID_LENGTH = 16;
const VERSION = 1;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const KEY_LENGTH = 32;
const PLAINTEXT_LENGTH = 1 + TICKET_ID_LENGTH + 6 + 32 + 4;
export const SEALED_TICKET_LENGTH = NONCE_LENGTH + PLAINTEXT_LENGTH + TAG_LENGTH;
const AAD = new TextEncoder().encode('braid ticket v1');

export interface TicketContents {
  id: Uint8Array;
  /** Endpoint clock, ms. */
  expiresAt: number;
  clientKey: Uint8Array;
  maxEarlyData: number;
}

export class TicketSealer {
  readonly #key: Uint8Array;
  readonly #random: (n: number) => Uint8Array;

  constructor(random: (n: number) => Uint8Array) {
    this.#random = random;
    this.#key = random(KEY_LENGTH);
  }

  /** A fresh ticket for `clientKey`, valid until `expiresAt`. */
  seal(clientKey: Uint8Array, expiresAt: number, maxEarlyData: number): Uint8Array {
    if (clientKey.length !== 32) throw new RangeError('client key must be 32 bytes');
    if (!Number.isInteger(maxEarlyData) || maxEarlyData < 0 || maxEarlyData > 0xffff_ffff)
      throw new RangeError('maxEarlyData must fit 32 bits');
    const plain = Buffer.alloc(PLAINTEXT_LENGTH);
    plain[0] = VERSION;
    plain.set(this.#random(TICKET_ID_LENGTH), 1);
    plain.writeUIntBE(Math.max(0, Math.floor(expiresAt)), 1 + TICKET_ID_LENGTH, 6);
    plain.set(clientKey, 1 + TICKET_ID_LENGTH + 6);
    plain.writeUInt32BE(maxEarlyData, 1 + TICKET_ID_LENGTH + 6 + 32);
    const nonce = this.#random(NONCE_LENGTH);
    const cipher = createCipheriv('chacha20-poly1305', this.#key, nonce, { authTagLength: TAG_LENGTH });
    cipher.setAAD(AAD, { plaintextLength: plain.length });
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return new Uint8Array(Buffer.concat([nonce, body, cipher.getAuthTag()]));
  }

  /** The ticket's contents, or undefined if it is not one of ours (forged, corrupted, other key). */
  open(ticket: Uint8Array): TicketContents | undefined {
    if (ticket.length !== SEALED_TICKET_LENGTH) return undefined;
    const nonce = ticket.subarray(0, NONCE_LENGTH);
    const body = ticket.subarray(NONCE_LENGTH, NONCE_LENGTH + PLAINTEXT_LENGTH);
    const tag = ticket.subarray(NONCE_LENGTH + PLAINTEXT_LENGTH);
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('chacha20-poly1305', this.#key, nonce, { authTagLength: TAG_LENGTH });
      decipher.setAAD(AAD, { plaintextLength: body.length });
      decipher.setAuthTag(tag);
      plain = Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      return undefined;
    }
    if (plain[0] !== VERSION) return undefined;
    return {
      id: new Uint8Array(plain.subarray(1, 1 + TICKET_ID_LENGTH)),
      expiresAt: plain.readUIntBE(1 + TICKET_ID_LENGTH, 6),
      clientKey: new Uint8Array(plain.subarray(1 + TICKET_ID_LENGTH + 6, 1 + TICKET_ID_LENGTH + 6 + 32)),
      maxEarlyData: plain.readUInt32BE(1 + TICKET_ID_LENGTH + 6 + 32),
    };
  }
}

/**
 * Ticket ids already used, each kept until its ticket expires. Bounded: when full (and nothing
 * has expired yet) it refuses every new ticket, so 0-RTT degrades to 1-RTT instead of accepting
 * a first flight it could not recognise as a replay.
 */
export class StrikeRegister {
  readonly #seen = new Map<string, number>();
  readonly capacity: number;

  constructor(capacity = 65_536) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** True the first time `id` is presented before `expiresAt`; false for a replay, an expired ticket, or a full register. */
  use(id: Uint8Array, expiresAt: number, now: number): boolean {
    if (expiresAt <= now) return false;
    this.#purge(now);
    const key = Buffer.from(id).toString('latin1');
    if (this.#seen.has(key)) return false;
    if (this.#seen.size >= this.capacity) return false;
    this.#seen.set(key, expiresAt);
    return true;
  }

  #purge(now: number): void {
    // Tickets share one lifetime per endpoint, so insertion order is (nearly) expiry order;
    // an out-of-order entry is only kept a little longer than needed.
    for (const [key, expiresAt] of this.#seen) {
      if (expiresAt > now) break;
      this.#seen.delete(key);
    }
  }
}
