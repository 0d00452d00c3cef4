/**
 * Sliding-window replay protection for one packet-number space (one path): remembers which of
 * the last `size` packet numbers below the largest seen have been accepted (like IPsec's
 * anti-replay window, RFC 4303 §3.4.3). Call check() before processing and mark() after the
 * packet authenticated and was accepted.
 */
export class ReplayWindow {
  readonly size: number;
  private readonly bits: Uint32Array;
  private largest = -1;

  constructor(size = 4096) {
    if (!Number.isInteger(size) || size < 32 || size % 32 !== 0) {
      throw new RangeError('replay window size must be a positive multiple of 32');
    }
    this.size = size;
    this.bits = new Uint32Array(size / 32);
  }

  /** Largest packet number marked so far (-1 before any). */
  get largestSeen(): number {
    return this.largest;
  }

  /** True if pn has not been marked and is not older than the window. */
  check(pn: number): boolean {
    if (!Number.isSafeInteger(pn) || pn < 0) return false;
    if (pn > this.largest) return true;
    if (this.largest - pn >= this.size) return false;
    return !this.isSet(pn);
  }

  /** Records pn as received, sliding the window forward if pn is the new largest. */
  mark(pn: number): void {
    if (!Number.isSafeInteger(pn) || pn < 0) return;
    if (pn > this.largest) {
      const advance = pn - this.largest;
      if (advance >= this.size) {
        this.bits.fill(0);
      } else {
        // Clear the slots that now stand for the new packet numbers (largest+1 .. pn).
        for (let p = this.largest + 1; p <= pn; p++) this.clear(p);
      }
      this.largest = pn;
    } else if (this.largest - pn >= this.size) {
      return;
    }
    const slot = pn % this.size;
    this.bits[slot >>> 5] |= 1 << (slot & 31);
  }

  private isSet(pn: number): boolean {
    const slot = pn % this.size;
    return (this.bits[slot >>> 5] & (1 << (slot & 31))) !== 0;
  }

  private clear(pn: number): void {
    const slot = pn % this.size;
    this.bits[slot >>> 5] &= ~(1 << (slot & 31));
  }
}
