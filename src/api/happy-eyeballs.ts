/**
 * Happy Eyeballs (RFC 8305) as a small sans-I/O state machine: which address to try when.
 * connect() feeds it resolver answers and attempt outcomes with `now`, arms one timer for
 * `nextDeadline()`, and acts on what `poll()` returns. No clock, timer or socket in here, so the
 * schedule is unit-tested deterministically (test/api/happy-eyeballs.test.ts).
 *
 * The rules (RFC 8305 section numbers):
 * - §3 an AAAA answer starts the race at once; an A answer first waits `resolutionDelay`
 *   (50 ms) for the AAAA answer, then starts with what it has.
 * - §4 addresses are interleaved by family, IPv6 first: `firstAddressFamilyCount` of the
 *   first family, then alternating; within a family the resolver's order is kept.
 *   Addresses arriving later join the untried rest, interleaved again.
 * - §5 one attempt at a time, the next one `connectionAttemptDelay` (250 ms) after the
 *   previous start, or at once when an attempt fails (never within 10 ms of the previous
 *   start); earlier attempts keep running. The first attempt to succeed wins; every other
 *   attempt in flight is cancelled and untried addresses are ignored.
 * - When every address was tried and failed and no answer is pending, the race fails with
 *   every attempt's own error.
 */

export type AddressFamily = 4 | 6;

export interface HappyEyeballsConfig {
  /** Time between attempt starts (RFC 8305 "Connection Attempt Delay"). Default 250 ms. */
  connectionAttemptDelay: number;
  /** How long an A answer waits for the AAAA answer (RFC 8305 "Resolution Delay"). Default 50 ms. */
  resolutionDelay: number;
  /** Addresses of the first family tried before alternating (RFC 8305 "First Address Family Count"). Default 1. */
  firstAddressFamilyCount: number;
}

export const HAPPY_EYEBALLS_DEFAULTS: Readonly<HappyEyeballsConfig> = {
  connectionAttemptDelay: 250,
  resolutionDelay: 50,
  firstAddressFamilyCount: 1,
};

/** RFC 8305 §5: a subsequent attempt MUST NOT start within 10 ms of the previous one. */
export const MIN_CONNECTION_ATTEMPT_DELAY = 10;
/** RFC 8305 §5/§8: the Maximum Connection Attempt Delay, 2 seconds. */
export const MAX_CONNECTION_ATTEMPT_DELAY = 2000;

export interface AttemptRecord {
  address: string;
  /** Undefined while the attempt runs or after it won. */
  error?: string;
}

export type HappyEyeballsAction =
  | { type: 'start'; address: string }
  | { type: 'cancel'; address: string }
  | { type: 'won'; address: string }
  | { type: 'failed'; attempts: AttemptRecord[] };

export function familyOf(address: string): AddressFamily {
  return address.includes(':') ? 6 : 4;
}

/**
 * RFC 8305 §4 ordering: `firstCount` addresses of the preferred family (IPv6 when present,
 * else whatever there is), then one of each family in turn; duplicates dropped.
 */
export function interleaveFamilies(
  addresses: readonly string[],
  firstCount = 1,
  firstFamily: AddressFamily = 6,
): string[] {
  const seen = new Set<string>();
  const v6: string[] = [];
  const v4: string[] = [];
  for (const address of addresses) {
    if (seen.has(address)) continue;
    seen.add(address);
    (familyOf(address) === 6 ? v6 : v4).push(address);
  }
  let [first, second] = firstFamily === 6 ? [v6, v4] : [v4, v6];
  if (first.length === 0) [first, second] = [second, first];
  const out = first.splice(0, Math.max(1, firstCount));
  while (first.length > 0 || second.length > 0) {
    if (second.length > 0) out.push(second.shift()!);
    if (first.length > 0) out.push(first.shift()!);
  }
  return out;
}

type Phase = 'resolving' | 'racing' | 'won' | 'failed';

export class HappyEyeballs {
  private readonly config: HappyEyeballsConfig;
  private phase: Phase = 'resolving';
  /** Families whose resolver answer (possibly empty, possibly an error) is still awaited. */
  private readonly pendingFamilies: Set<AddressFamily>;
  /** Set when an A answer arrived first: the race starts at this time even without AAAA. */
  private resolutionDeadline: number | undefined;
  private untried: string[] = [];
  private readonly known = new Set<string>();
  private readonly attempts: AttemptRecord[] = [];
  private readonly running = new Set<string>();
  private lastStartAt = -Infinity;
  private lastFamily: AddressFamily | undefined;
  /** When the next attempt may start (a failure brings it forward). */
  private nextStartAt: number | undefined;
  private readonly actions: HappyEyeballsAction[] = [];
  private readonly resolutionErrors: string[] = [];

  /**
   * `awaiting` lists the families whose resolver answers are still to come (none for literal
   * addresses: pass them to `addAddresses` right away).
   */
  constructor(config: Partial<HappyEyeballsConfig>, awaiting: readonly AddressFamily[]) {
    this.config = { ...HAPPY_EYEBALLS_DEFAULTS, ...config };
    this.pendingFamilies = new Set(awaiting);
  }

  get finished(): boolean {
    return this.phase === 'won' || this.phase === 'failed';
  }

  /** Every attempt started so far, with its error once it failed. */
  get attemptRecords(): readonly AttemptRecord[] {
    return this.attempts;
  }

  /** Why resolution failed, per family (for an error when no address was found at all). */
  get resolutionFailures(): readonly string[] {
    return this.resolutionErrors;
  }

  /**
   * Addresses known up front (literals) or answered by the resolver for `family` (then that
   * family is no longer pending). An empty answer counts as an answer.
   */
  addAddresses(addresses: readonly string[], now: number, family?: AddressFamily): void {
    if (this.finished) return;
    if (family !== undefined) this.pendingFamilies.delete(family);
    const fresh = addresses.filter((a) => !this.known.has(a));
    for (const address of fresh) this.known.add(address);
    if (fresh.length > 0) {
      // Untried addresses are reordered with the newcomers, continuing the alternation.
      const preferred: AddressFamily = this.lastFamily === undefined ? 6 : this.lastFamily === 6 ? 4 : 6;
      const count = this.lastFamily === undefined ? this.config.firstAddressFamilyCount : 1;
      this.untried = interleaveFamilies([...this.untried, ...fresh], count, preferred);
    }
    if (this.phase === 'resolving') {
      const aaaaPending = this.pendingFamilies.has(6);
      if (this.untried.length > 0 && !aaaaPending) this.beginRace(now);
      else if (this.untried.length > 0 && this.resolutionDeadline === undefined) {
        // §3: A (or literal IPv4) before AAAA: give AAAA a short head start.
        this.resolutionDeadline = now + this.config.resolutionDelay;
      }
    }
    this.advance(now);
  }

  /** The resolver failed for `family` (e.g. ENOTFOUND, ENODATA). */
  resolutionFailed(family: AddressFamily, error: string, now: number): void {
    this.resolutionErrors.push(`${family === 6 ? 'AAAA' : 'A'}: ${error}`);
    this.addAddresses([], now, family);
  }

  /** An attempt failed (handshake refused, timed out, unroutable...). */
  attemptFailed(address: string, error: string, now: number): void {
    if (!this.running.delete(address)) return;
    const record = this.attempts.find((a) => a.address === address && a.error === undefined);
    if (record) record.error = error;
    if (this.finished) return;
    // §5: a failure need not wait out the attempt delay (but keeps the 10 ms floor).
    this.nextStartAt = Math.max(now, this.lastStartAt + MIN_CONNECTION_ATTEMPT_DELAY);
    this.advance(now);
  }

  /** An attempt completed its handshake: it wins, the others are cancelled. */
  attemptSucceeded(address: string): void {
    if (!this.running.has(address) || this.finished) return;
    this.running.delete(address);
    this.phase = 'won';
    for (const other of this.running) {
      const record = this.attempts.find((a) => a.address === other && a.error === undefined);
      if (record) record.error = 'cancelled: another address connected first';
      this.actions.push({ type: 'cancel', address: other });
    }
    this.running.clear();
    this.untried = [];
    this.actions.push({ type: 'won', address });
  }

  /**
   * Gives up (overall timeout or abort): every running attempt fails with `error`, and the
   * race fails with all attempts.
   */
  abort(error: string): void {
    if (this.finished) return;
    for (const address of this.running) {
      const record = this.attempts.find((a) => a.address === address && a.error === undefined);
      if (record) record.error = error;
      this.actions.push({ type: 'cancel', address });
    }
    this.running.clear();
    this.fail();
  }

  nextDeadline(): number | undefined {
    if (this.finished) return undefined;
    if (this.phase === 'resolving') return this.resolutionDeadline;
    return this.untried.length > 0 ? this.nextStartAt : undefined;
  }

  onTimeout(now: number): void {
    if (
      this.phase === 'resolving' &&
      this.resolutionDeadline !== undefined &&
      now >= this.resolutionDeadline
    ) {
      this.beginRace(now);
    }
    this.advance(now);
  }

  poll(): HappyEyeballsAction | undefined {
    return this.actions.shift();
  }

  private beginRace(now: number): void {
    this.phase = 'racing';
    this.resolutionDeadline = undefined;
    this.nextStartAt = now;
  }

  private advance(now: number): void {
    if (this.phase === 'resolving' && this.pendingFamilies.size === 0 && this.untried.length === 0) {
      this.fail(); // every answer came back empty: nothing to try
      return;
    }
    if (this.phase !== 'racing') return;
    if (this.untried.length > 0 && this.nextStartAt !== undefined && now >= this.nextStartAt) {
      const address = this.untried.shift()!;
      this.running.add(address);
      this.attempts.push({ address });
      this.lastStartAt = now;
      this.lastFamily = familyOf(address);
      this.nextStartAt = now + this.config.connectionAttemptDelay;
      this.actions.push({ type: 'start', address });
    }
    if (this.running.size === 0 && this.untried.length === 0 && this.pendingFamilies.size === 0) this.fail();
  }

  private fail(): void {
    this.phase = 'failed';
    this.actions.push({ type: 'failed', attempts: this.attempts.map((a) => ({ ...a })) });
  }
}
