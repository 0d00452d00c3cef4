/**
 * How much handshake work a server is doing, counted from the work itself: the half-open
 * sessions it holds (created, not yet confirmed by the client) and the X25519 operations it
 * spent in about the last second. A datagram the server rejects never lowers either figure,
 * so junk mixed into a flood cannot switch Retry off (docs/security.md).
 */

/** X25519 operations a server spends on each first flight it answers (docs/security.md). */
export const DH_COST = {
  /** IK message 0 read (es, ss) and message 1 written (a new ephemeral, ee, se). */
  ik: 5,
  /** XX message 1 written (a new ephemeral, ee, es) and message 2 read (se). */
  xx: 4,
  /** IKpsk2 RESUME: as IK. */
  resume: 5,
} as const;

export interface HandshakeLoadLimits {
  /** Half-open sessions at or above which the server is loaded. */
  halfOpen: number;
  /** X25519 operations per second at or above which the server is loaded. */
  dhPerSecond: number;
}

const WINDOW_MS = 1000;

export class HandshakeLoad {
  private readonly open = new Set<object>();
  private windowStart = Number.NEGATIVE_INFINITY;
  private inWindow = 0;
  private previousWindow = 0;

  constructor(readonly limits: HandshakeLoadLimits) {}

  /** A server session now exists and waits for the client to confirm it. */
  opened(session: object): void {
    this.open.add(session);
  }

  /** The session was confirmed or released: it no longer counts (a no-op for one never opened). */
  settled(session: object): void {
    this.open.delete(session);
  }

  get halfOpen(): number {
    return this.open.size;
  }

  /** `operations` X25519 operations were just spent (or are about to be, once decided). */
  spentDh(operations: number, now: number): void {
    this.roll(now);
    this.inWindow += operations;
  }

  /**
   * Operations per second over the last second: the current window plus the part of the
   * previous one still inside the last 1000 ms (a sliding estimate, no per-event state).
   */
  dhRate(now: number): number {
    this.roll(now);
    const elapsed = Math.min(1, Math.max(0, (now - this.windowStart) / WINDOW_MS));
    return this.inWindow + this.previousWindow * (1 - elapsed);
  }

  overloaded(now: number): boolean {
    return this.open.size >= this.limits.halfOpen || this.dhRate(now) >= this.limits.dhPerSecond;
  }

  private roll(now: number): void {
    if (now - this.windowStart < WINDOW_MS) return;
    // One window later the current count becomes the previous one; any later, both are stale.
    this.previousWindow = now - this.windowStart < 2 * WINDOW_MS ? this.inWindow : 0;
    this.inWindow = 0;
    this.windowStart =
      this.windowStart === Number.NEGATIVE_INFINITY ? now : now - ((now - this.windowStart) % WINDOW_MS);
  }
}
