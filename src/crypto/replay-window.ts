/** Bits the bitmap starts with (one cache line). */
const INITIAL_BITS = 512;

/**
 * Sliding-window replay protection for one packet-number space (one path): remembers which of
 * the last `size` packet numbers below the largest seen have been accepted (like IPsec's
 * anti-replay window, RFC 4303 §3.4.3). Call check() before processing and mark() after the
 * packet authenticated and was accepted.
 *
 * The bitmap grows with the largest packet number, up to `size` bits: until it wraps, the bit of
 * packet number pn is bit pn, so a longer copy keeps every mark. An idle session that has
 * received a few dozen packets holds a few words, not the whole window (2 KiB a path).
 */
export class ReplayWindow {
  readonly size: number;
  private bits: Uint32Array;
  private largest = -1;

  constructor(size = 4096) {
    if (!Number.isInteger(size) || size < 32 || size % 32 !== 0) {
      throw new RangeError('replay window size must be a positive multiple of 32');
    }
    this.size = size;
    this.bits = new Uint32Array(Math.min(size, INITIAL_BITS) / 32);
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
      if (pn >= this.bits.length * 32 && this.bits.length * 32 < this.size) this.grow(pn);
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

  /** Widens the bitmap to hold bit pn (or the whole window): doubling, so growth costs O(size). */
  private grow(pn: number): void {
    let bits = this.bits.length * 32;
    while (bits <= pn && bits < this.size) bits *= 2;
    const wider = new Uint32Array(Math.min(bits, this.size) / 32);
    wider.set(this.bits);
    this.bits = wider;
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
