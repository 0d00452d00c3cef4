/**
 * The simulator's only source of randomness: xoshiro128** seeded through splitmix32.
 * Every random choice a simulation makes comes from one instance, so a seed fixes the
 * whole packet trace bit for bit. Tests and workloads use the same class.
 */

const TWO_POW_32 = 4_294_967_296;

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** One splitmix32 step: returns [next state, output]. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [next, z >>> 0];
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** The seed this generator started from (for replay messages). */
  readonly seed: number;

  /** `seed`: any safe integer (negative and fractional values are folded into 53 bits). */
  constructor(seed: number) {
    this.seed = seed;
    const whole = Math.trunc(Math.abs(seed)) % 2 ** 53;
    const low = (whole % TWO_POW_32) | 0;
    const high = Math.floor(whole / TWO_POW_32) | 0;
    // Mix both halves so seeds differing only above bit 32 still diverge.
    let state = low ^ Math.imul(high, 0x27d4eb2d) ^ (seed < 0 ? 0x5bd1e995 : 0);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(state);
      state = next;
      words.push(out);
    }
    [this.s0, this.s1, this.s2, this.s3] = words;
    // xoshiro must not start from the all-zero state.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n) for 1 ≤ n ≤ 2^32 (rejection sampling, no modulo bias). */
  int(n: number): number {
    if (!(n >= 1)) return 0;
    if (n > TWO_POW_32) return Math.floor(this.float() * n);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Uniform integer in [min, max] inclusive. */
  intBetween(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** Uniform real in [min, max). */
  between(min: number, max: number): number {
    return min + this.float() * (max - min);
  }

  /** true with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let x = this.nextU32();
      for (let j = i; j < i + 4 && j < n; j++) {
        out[j] = x & 0xff;
        x >>>= 8;
      }
    }
    return out;
  }

  /** An independent generator derived from this one (e.g. one stream per workload). */
  fork(): Rng {
    return new Rng(this.nextU32() * 2 ** 21 + (this.nextU32() >>> 11));
  }
}

/**
 * The seed to use: `BRAID_SEED` from the environment when set (to replay a failure),
 * else `fallback`. A malformed variable is ignored rather than thrown on.
 */
export function seedFromEnv(fallback: number): number {
  const raw = process.env.BRAID_SEED;
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  return Number.isSafeInteger(value) ? value : fallback;
}
