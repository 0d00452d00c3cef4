/**
 * How often a session acts on the host's network-change reports (Endpoint.networkChanged): a
 * token bucket, so a flapping link or a renumbering storm cannot become a packet storm. A burst
 * of NETWORK_CHANGE_BURST acts at once (a link-up, its address and its route arrive together),
 * then one per NETWORK_CHANGE_REFILL ms.
 */
export const NETWORK_CHANGE_BURST = 3;
export const NETWORK_CHANGE_REFILL = 1000;

export class NetworkChangeBudget {
  private tokens = NETWORK_CHANGE_BURST;
  private refilledAt: number | undefined;

  /** Spends one report's worth if there is one; otherwise false (see nextAt). */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  /** When the next report could be acted on (now, if one could be now). */
  nextAt(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? now : now + (1 - this.tokens) * NETWORK_CHANGE_REFILL;
  }

  private refill(now: number): void {
    const elapsed = this.refilledAt === undefined ? 0 : now - this.refilledAt;
    this.tokens = Math.min(NETWORK_CHANGE_BURST, this.tokens + elapsed / NETWORK_CHANGE_REFILL);
    this.refilledAt = now;
  }
}
