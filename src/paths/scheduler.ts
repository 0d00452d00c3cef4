/**
 * Which path the next packet goes on when a session sends on several paths at once
 * (`multipath.policy: 'aggregate'`, and the second copy under `'redundant'`). Clock-free.
 *
 * Lowest RTT first, among paths with room (Linux MPTCP's default scheduler does the same):
 * the path with the smallest smoothed RTT whose congestion window and pacer both admit a
 * full packet now. A faster path that is full (or paced) lets the next packet fall through to
 * the next one, so under load every path runs at its own congestion-controlled rate and the
 * session gets their sum, while a light load stays on the path that delivers soonest.
 * Paths without an RTT sample come last (their RTT is only the 333 ms guess).
 */
import type { Path } from './path.js';

/** The order in which paths are tried: ascending smoothed RTT, unsampled paths last, then path id. */
export function compareByRtt(a: Path<unknown>, b: Path<unknown>): number {
  const ra = a.rtt.hasSample ? a.rtt.smoothedRtt : Number.POSITIVE_INFINITY;
  const rb = b.rtt.hasSample ? b.rtt.smoothedRtt : Number.POSITIVE_INFINITY;
  if (ra !== rb) return ra < rb ? -1 : 1;
  return a.id - b.id;
}

export interface Pick<P> {
  /** The path to send on now, if any has room. */
  path: P | undefined;
  /**
   * When none has room: the earliest time a pacer lets one of them send (paths short of
   * congestion window wait for ACKs instead). Undefined when a path was picked.
   */
  wakeAt: number | undefined;
}

/**
 * Picks the path for a packet of `bytes` among `paths` (any order). Paths tried before the
 * chosen one are recorded as limited by their own canSend, so their windows may grow; paths
 * after it are not asked.
 */
export function pickPath<P extends Path<unknown>>(paths: readonly P[], bytes: number, now: number): Pick<P> {
  const ordered = paths.length > 1 ? [...paths].sort(compareByRtt) : paths;
  let wakeAt: number | undefined;
  for (const path of ordered) {
    const verdict = path.canSend(bytes, now);
    if (verdict.ok) return { path, wakeAt: undefined };
    if (verdict.until !== undefined && (wakeAt === undefined || verdict.until < wakeAt))
      wakeAt = verdict.until;
  }
  return { path: undefined, wakeAt };
}
