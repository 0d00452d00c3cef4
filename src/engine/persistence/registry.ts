/**
 * The server endpoint's map from resumption identifiers to sessions (docs/persistence.md §3).
 * An identifier is live (issued, unused), spent (presented once, or retired), or tombstoned
 * (its session expired). Spent and tombstoned identifiers are remembered in bounded FIFO sets:
 * a spent one is dropped silently (a replayed RESUME costs one map lookup), a tombstoned one
 * is refused with the 'expired' token. Anything else is unknown and refused with 'lost'.
 */

export type ResumptionLookup<C> =
  | { kind: 'live'; owner: C }
  | { kind: 'spent' }
  | { kind: 'expired' }
  | { kind: 'unknown' };

/** Identifiers remembered after use / expiry (each entry ~60 bytes: a few hundred KiB at most). */
const MEMORY = 4096;

function key(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');
}

class BoundedSet {
  readonly #entries = new Set<string>();
  constructor(readonly capacity: number) {}
  add(k: string): void {
    this.#entries.delete(k);
    this.#entries.add(k);
    if (this.#entries.size > this.capacity) {
      const oldest = this.#entries.values().next().value as string;
      this.#entries.delete(oldest);
    }
  }
  has(k: string): boolean {
    return this.#entries.has(k);
  }
  get size(): number {
    return this.#entries.size;
  }
}

export class ResumptionRegistry<C> {
  readonly #live = new Map<string, C>();
  readonly #spent = new BoundedSet(MEMORY);
  readonly #expired = new BoundedSet(MEMORY);

  register(id: Uint8Array, owner: C): void {
    this.#live.set(key(id), owner);
  }

  lookup(id: Uint8Array): ResumptionLookup<C> {
    const k = key(id);
    const owner = this.#live.get(k);
    if (owner !== undefined) return { kind: 'live', owner };
    if (this.#spent.has(k)) return { kind: 'spent' };
    if (this.#expired.has(k)) return { kind: 'expired' };
    return { kind: 'unknown' };
  }

  /** The identifier was presented (or retired unused): it never resumes anything again. */
  spend(id: Uint8Array): void {
    const k = key(id);
    this.#live.delete(k);
    this.#spent.add(k);
  }

  /** Its session expired: later RESUMEs with it are refused as 'expired'. */
  expire(id: Uint8Array): void {
    const k = key(id);
    this.#live.delete(k);
    if (!this.#spent.has(k)) this.#expired.add(k);
  }

  /** The session ended otherwise (closed, reset): its identifiers become unknown ('lost'). */
  forget(id: Uint8Array): void {
    this.#live.delete(key(id));
  }

  get liveCount(): number {
    return this.#live.size;
  }
}
