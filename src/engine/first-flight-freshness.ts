/**
 * Freshness of IK first flights (docs/protocol.md §7.2.1), after WireGuard's TAI64N timestamp:
 * the client puts a timestamp inside the encrypted IK message 0 (transport parameter
 * initial_timestamp), strictly increasing for each static key; the server accepts each
 * timestamp of a key once, and none older than a window behind the newest. A captured INITIAL
 * replayed later therefore fails before the server answers it.
 */

export const TIMESTAMP_LENGTH = 12;
/** TAI64 labels second s of the Unix epoch as 2^62 + s (leap seconds ignored, as WireGuard does). */
const TAI64_EPOCH = 2n ** 62n;

/** TAI64N of `unixMs` (fractional milliseconds keep their microseconds): seconds u64 || nanoseconds u32, big-endian. */
export function tai64n(unixMs: number): Uint8Array {
  const ms = Math.max(0, unixMs);
  const seconds = Math.floor(ms / 1000);
  const nanoseconds = Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6));
  const out = new Uint8Array(TIMESTAMP_LENGTH);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, TAI64_EPOCH + BigInt(seconds));
  view.setUint32(8, nanoseconds);
  return out;
}

/**
 * A client's timestamps: strictly increasing even when the clock stalls or steps back within
 * the process (each is at least one microsecond after the last).
 */
export class TimestampSource {
  private last = Number.NEGATIVE_INFINITY;

  next(unixMs: number): Uint8Array {
    this.last = Math.max(unixMs, this.last + 0.001);
    return tai64n(this.last);
  }
}

/**
 * How far behind the newest timestamp of a key a first flight may be and still be accepted once:
 * a client opening several sessions at once sends several first flights, and under loss an
 * older one's retransmission can arrive after a newer one (the client retransmits for its
 * handshake timeout, 10 s by default).
 */
export const FRESHNESS_WINDOW_NS = 30_000_000_000n;
/** Timestamps remembered inside the window per key; beyond that the oldest becomes the floor. */
export const FRESHNESS_SEEN_PER_KEY = 1024;

function nanoseconds(timestamp: Uint8Array): bigint {
  const view = new DataView(timestamp.buffer, timestamp.byteOffset, TIMESTAMP_LENGTH);
  return view.getBigUint64(0) * 1_000_000_000n + BigInt(view.getUint32(8));
}

interface KeyFreshness {
  /** Nothing at or below this is accepted. */
  floor: bigint;
  newest: bigint;
  /** Accepted timestamps above the floor, each accepted once. */
  seen: bigint[];
}

/**
 * Server: per client key, which first-flight timestamps were accepted. A timestamp is accepted
 * once, and only if it is above the key's floor: the newest accepted minus the window, or the
 * oldest of the remembered ones once more than FRESHNESS_SEEN_PER_KEY fall inside the window.
 * At most `capacity` keys; when full, the key accepted longest ago is evicted, and a replay of
 * that key's recent first flights would then be answered again — at the cost of a handshake no
 * one can confirm, so it surfaces no session (docs/security.md).
 */
export class FreshnessTable {
  private readonly keys = new Map<string, KeyFreshness>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.keys.size;
  }

  /** Records `timestamp` for `key`; false when it is a replay or too old. */
  accept(key: string, timestamp: Uint8Array): boolean {
    if (timestamp.length !== TIMESTAMP_LENGTH) return false;
    const at = nanoseconds(timestamp);
    let entry = this.keys.get(key);
    if (entry !== undefined) {
      if (at <= entry.floor || entry.seen.includes(at)) return false;
      this.keys.delete(key);
    } else {
      entry = { floor: -1n, newest: at, seen: [] };
    }
    entry.seen.push(at);
    if (at > entry.newest) entry.newest = at;
    let floor = entry.newest - FRESHNESS_WINDOW_NS;
    entry.seen.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    while (entry.seen.length > FRESHNESS_SEEN_PER_KEY) floor = entry.seen.shift()!;
    if (floor > entry.floor) entry.floor = floor;
    entry.seen = entry.seen.filter((t) => t > entry.floor);
    // Re-inserted at the end: the Map's order is the order of acceptance, oldest first.
    this.keys.set(key, entry);
    if (this.keys.size > this.capacity) {
      const oldest = this.keys.keys().next().value as string;
      this.keys.delete(oldest);
    }
    return true;
  }
}
