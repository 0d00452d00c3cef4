/**
 * A server's limits on sessions: how many in total (`maxSessions`), per client key
 * (`maxSessionsPerKey`), and a memory budget for what all sessions cost together (each its
 * fixed cost, SESSION_FIXED_COST, plus what it buffers), so the budget alone bounds idle sessions. A
 * session is counted from the moment its client key is admitted until the endpoint forgets
 * it; a refused one never is. Over the budget, new sessions are refused and every session's
 * receive windows fall back to their initial size (`pressure`), so the peers get less credit.
 */

import { TransportError } from '../wire/errors.js';
import { cidKey } from './connection/cid-state.js';
import type { ConnectionState } from './types.js';

const MiB = 1024 * 1024;
/** Default memory budget: what all sessions of one server may cost in the engine together. */
export const DEFAULT_MEMORY_BUDGET = 1024 * MiB;
/**
 * What one admitted session costs before it buffers anything: an estimate, not a bound. Measured
 * as the growth of V8 heap and array buffers after a full GC over 2 000 established idle server
 * sessions in one process, divided by their number: 41.9 KiB each, rounded up with a margin
 * for V8's variance (test/security/idle-sessions.test.ts asserts this figure as its bound). With
 * the default budget, about 21 800 idle sessions fit before new ones are refused.
 */
export const SESSION_FIXED_COST = 48 * 1024;
/** How often (ms) the sum over sessions is recomputed outside admissions (it costs O(sessions)). */
const PRESSURE_RECHECK = 100;

export interface SessionLimitOptions {
  /** Sessions at once (every state from admission to release). Default: no limit. */
  maxSessions?: number;
  /** Sessions at once with one client key. Default: no limit. */
  maxSessionsPerKey?: number;
  /**
   * Bytes all sessions may cost together: SESSION_FIXED_COST per admitted session plus what each
   * buffers (streams, reassembly, datagram queues). Default 1 GiB.
   */
  memoryBudget?: number;
}

/** What the limits read of a session (Connection has both). */
export interface LimitedSession {
  readonly state: ConnectionState;
  /** Bytes the session buffers now (streams, reassembly, datagram queue). */
  readonly bufferedBytes: number;
}

export interface SessionRefusal {
  code: number;
  reason: string;
}

/** Shared with every session's streams: whether the endpoint is over its memory budget. */
export interface MemoryPressure {
  readonly high: boolean;
}

export class SessionLimits implements MemoryPressure {
  readonly maxSessions: number;
  readonly maxSessionsPerKey: number;
  readonly memoryBudget: number;
  private readonly keyOf = new Map<LimitedSession, string>();
  private readonly perKey = new Map<string, number>();
  private overBudget = false;
  private checkedAt = -Infinity;
  /** Refusals by limit, for stats and tests. */
  readonly refused = { sessions: 0, perKey: 0, memory: 0 };

  constructor(
    options: SessionLimitOptions,
    /** The live sessions (each reports what it buffers: Connection.bufferedBytes). */
    private readonly sessions: () => Iterable<LimitedSession>,
  ) {
    this.maxSessions = options.maxSessions ?? Number.POSITIVE_INFINITY;
    this.maxSessionsPerKey = options.maxSessionsPerKey ?? Number.POSITIVE_INFINITY;
    this.memoryBudget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  }

  get high(): boolean {
    return this.overBudget;
  }

  /** Sessions admitted and not yet released. */
  get admitted(): number {
    return this.keyOf.size;
  }

  /** What all sessions cost now: fixed costs and buffered bytes (O(sessions)); updates `high`. */
  measure(now: number): number {
    let total = this.keyOf.size * SESSION_FIXED_COST;
    for (const conn of this.sessions()) total += conn.bufferedBytes;
    this.overBudget = total > this.memoryBudget;
    this.checkedAt = now;
    return total;
  }

  /** Re-measures at most every PRESSURE_RECHECK ms (called as time passes). */
  recheck(now: number): void {
    if (now - this.checkedAt >= PRESSURE_RECHECK) this.measure(now);
  }

  /** The session `conn` of client `key` may go on (then it is counted), or the refusal to send. */
  admit(conn: LimitedSession, key: Uint8Array, now: number): SessionRefusal | undefined {
    if (this.keyOf.has(conn)) return undefined;
    const k = cidKey(key);
    if (this.keyOf.size >= this.maxSessions || (this.perKey.get(k) ?? 0) >= this.maxSessionsPerKey)
      this.releaseClosing();
    if (this.keyOf.size >= this.maxSessions) {
      this.refused.sessions++;
      return {
        code: TransportError.SESSION_LIMIT,
        reason: `server session limit (${this.maxSessions}) reached`,
      };
    }
    const sameKey = this.perKey.get(k) ?? 0;
    if (sameKey >= this.maxSessionsPerKey) {
      this.refused.perKey++;
      return {
        code: TransportError.SESSION_LIMIT,
        reason: `session limit per client key (${this.maxSessionsPerKey}) reached`,
      };
    }
    if (this.measure(now) > this.memoryBudget) {
      this.refused.memory++;
      return { code: TransportError.SESSION_LIMIT, reason: 'server memory budget exhausted' };
    }
    this.keyOf.set(conn, k);
    this.perKey.set(k, sameKey + 1);
    return undefined;
  }

  /**
   * Sessions closing or draining wait a few PTOs before the endpoint forgets them; they can no
   * longer carry anything, so at a limit their places go to newcomers (O(sessions), only there).
   */
  private releaseClosing(): void {
    for (const conn of this.keyOf.keys()) {
      if (conn.state === 'closing' || conn.state === 'draining' || conn.state === 'closed')
        this.release(conn);
    }
  }

  /** The endpoint forgot `conn` (or it is closing): its place is free. */
  release(conn: LimitedSession): void {
    const k = this.keyOf.get(conn);
    if (k === undefined) return;
    this.keyOf.delete(conn);
    const left = (this.perKey.get(k) ?? 1) - 1;
    if (left > 0) this.perKey.set(k, left);
    else this.perKey.delete(k);
  }
}
