/**
 * Lazy backup paths (shim6's idea, RFC 5533 §1.4: set up the multihoming context only once a
 * session has shown it is worth it). Until a session has lasted `afterMs` or moved `afterBytes`,
 * it opens no path beyond its first: short exchanges never pay for standby validation and
 * keepalives. A path in trouble ends the wait at once. Clock-free.
 */
export class LazyPaths {
  private readonly afterMs: number;
  private readonly afterBytes: number;
  private startedAt: number | undefined;
  private released: boolean;

  /** Without thresholds (`undefined`) the gate is open from the start. */
  constructor(thresholds: { afterMs: number; afterBytes: number } | undefined) {
    this.afterMs = thresholds?.afterMs ?? 0;
    this.afterBytes = thresholds?.afterBytes ?? 0;
    this.released = thresholds === undefined;
  }

  /** The session is established: the time threshold counts from here. */
  start(now: number): void {
    this.startedAt ??= now;
  }

  /** Still holding back further paths. */
  get waiting(): boolean {
    return !this.released;
  }

  /**
   * Whether further paths may be opened now: the session lasted long enough, moved enough
   * bytes, or `trouble` (its only path is failing or going away). Once open, it stays open.
   */
  open(now: number, bytesMoved: number, trouble: boolean): boolean {
    if (this.released) return true;
    if (
      trouble ||
      bytesMoved >= this.afterBytes ||
      (this.startedAt !== undefined && now >= this.startedAt + this.afterMs)
    ) {
      this.released = true;
    }
    return this.released;
  }

  /** When the time threshold opens the gate (for a timer), while it is closed. */
  get deadline(): number | undefined {
    if (this.released || this.startedAt === undefined || !Number.isFinite(this.afterMs)) return undefined;
    return this.startedAt + this.afterMs;
  }
}
