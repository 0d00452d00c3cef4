/**
 * Linked Increases (LIA, RFC 6356): the coupled congestion control MPTCP uses, for a session
 * that sends on several paths at once (`multipath.policy: 'aggregate'`). Each path keeps its
 * own window, slow start and loss response (NewReno: halve once per recovery period); only
 * the congestion-avoidance increase is coupled. Per acknowledged byte on path i:
 *
 *   cwnd_i += min(alpha · acked · mds / cwnd_total, acked · mds / cwnd_i)
 *   alpha   = cwnd_total · max_p(cwnd_p / rtt_p²) / (Σ_p cwnd_p / rtt_p)²
 *
 * The second term caps each path at what a single-path Reno flow would do there (goal 2 of the
 * RFC: do no harm on any one path); the first makes the paths together grow like one Reno flow
 * on the best path (goal 1 and 3: no more than one flow's share on a shared bottleneck, traffic
 * moved away from the more congested paths). With a single path alpha = 1 and LIA is Reno.
 *
 * Why LIA rather than OLIA or BALIA: it is the IETF-specified algorithm with the fairness goal
 * the issue names, the one Linux MPTCP ships as `lia`, and it has a closed form that needs
 * nothing but each path's window and smoothed RTT. OLIA's better responsiveness matters most
 * with many paths of very different quality; Braid sessions have two or three.
 */
import type { RttEstimator } from '../rtt-estimator.js';
import type { CongestionController } from './controller.js';
import { DEFAULT_MAX_DATAGRAM_SIZE } from './controller.js';
import { NewReno } from './new-reno.js';

/** One path of the coupled set, as the coupling sees it. */
export interface CoupledPath {
  readonly cc: CongestionController;
  /** Smoothed RTT of the path (ms). */
  readonly srtt: number;
}

/** RTTs below this (ms) are treated as this, so a loopback path cannot divide by ~0. */
const MIN_RTT = 1e-3;

/**
 * The controller of one path in a coupled set. `coupled()` lists the session's paths that
 * currently carry data (this one may or may not be among them; it always counts).
 */
export class LiaController extends NewReno {
  private readonly coupled: () => Iterable<CoupledPath>;

  constructor(coupled: () => Iterable<CoupledPath>, maxDatagramSize: number = DEFAULT_MAX_DATAGRAM_SIZE) {
    super(maxDatagramSize);
    this.coupled = coupled;
  }

  /** RFC 6356 §3, in bytes: the smaller of the linked increase and Reno's increase on this path. */
  protected override avoidanceIncrease(bytes: number, rtt: RttEstimator): number {
    const { alpha, total } = this.linked(rtt.smoothedRtt);
    const mds = this.maxDatagramSize;
    return Math.min((alpha * bytes * mds) / total, (bytes * mds) / this.cwnd);
  }

  /** RFC 6356 alpha and cwnd_total over this path (smoothed RTT `srtt`) and the coupled ones. */
  linked(srtt: number): { alpha: number; total: number } {
    const ownRtt = Math.max(srtt, MIN_RTT);
    let total = this.cwnd;
    let best = this.cwnd / (ownRtt * ownRtt);
    let sum = this.cwnd / ownRtt;
    for (const p of this.coupled()) {
      if (p.cc === this) continue;
      const w = p.cc.window;
      const r = Math.max(p.srtt, MIN_RTT);
      total += w;
      best = Math.max(best, w / (r * r));
      sum += w / r;
    }
    return { alpha: (total * best) / (sum * sum), total };
  }
}
