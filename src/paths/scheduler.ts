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
 *
 * Head-of-line aware (after BLEST and ECF): a packet on a slow path holds the receiver's
 * in-order delivery, and the sender's buffer, until it is acknowledged, about one of that
 * path's round trips, while the faster paths keep sending. A path is fed only while what all
 * paths at least as fast send in one of its round trips (rate × srtt, with the rate estimated as
 * cwnd / srtt) fits in half the session's send window; the other half absorbs a loss on the
 * slow path (its retransmission costs another round trip). A slower path that does not fit is
 * left idle, so it never drags the session below what the faster paths carry alone.
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

/** Bytes a path delivers per ms, estimated from its congestion window (cwnd / srtt). */
export function deliveryRate(path: Path<unknown>): number {
  return path.cc.window / Math.max(path.rtt.smoothedRtt, 1);
}

/** How long a packet sent now on `path` holds the send window: one round trip, with its variation. */
function holdTime(path: Path<unknown>): number {
  return path.rtt.smoothedRtt + path.rtt.rttVar;
}

/**
 * The paths worth sending on, fastest first: `paths` ordered by RTT (compareByRtt), cut before
 * the first one whose round trip the faster paths would fill more than half of `sendWindow`
 * bytes in (see above). The fastest path always stays; without a window, every path does.
 */
export function pathsInUse<P extends Path<unknown>>(paths: readonly P[], sendWindow?: number): P[] {
  const ordered = [...paths].sort(compareByRtt);
  if (sendWindow === undefined || ordered.length < 2) return ordered;
  let rate = 0;
  for (let i = 0; i < ordered.length; i++) {
    const path = ordered[i];
    // An unsampled path's RTT is a guess: its data might stall the faster ones for any time
    // (the session measures it with a PING first).
    if (i > 0 && !path.rtt.hasSample) return ordered.slice(0, i);
    rate += deliveryRate(path);
    if (i > 0 && rate * holdTime(path) > sendWindow / 2) return ordered.slice(0, i);
  }
  return ordered;
}

/**
 * The bandwidth-delay product of `paths` (those in use) for in-order delivery: their summed
 * rate over the longest round trip among them, which is how long the oldest byte in flight
 * may keep everything sent after it in the send buffer.
 */
export function bandwidthDelayProduct(paths: readonly Path<unknown>[]): number {
  let rate = 0;
  let longest = 0;
  for (const path of paths) {
    if (!path.rtt.hasSample) continue;
    rate += deliveryRate(path);
    longest = Math.max(longest, holdTime(path));
  }
  return rate * longest;
}

/**
 * Picks the path for a packet of `bytes` among `paths` (any order); with `sendWindow`, only
 * among the paths in use (pathsInUse). Paths tried before the chosen one are recorded as
 * limited by their own canSend, so their windows may grow; paths after it are not asked.
 */
export function pickPath<P extends Path<unknown>>(
  paths: readonly P[],
  bytes: number,
  now: number,
  sendWindow?: number,
): Pick<P> {
  const ordered = paths.length > 1 ? pathsInUse(paths, sendWindow) : paths;
  let wakeAt: number | undefined;
  for (const path of ordered) {
    const verdict = path.canSend(bytes, now);
    if (verdict.ok) return { path, wakeAt: undefined };
    if (verdict.until !== undefined && (wakeAt === undefined || verdict.until < wakeAt))
      wakeAt = verdict.until;
  }
  return { path: undefined, wakeAt };
}
