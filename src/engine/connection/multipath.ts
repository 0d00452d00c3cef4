/**
 * A session's multipath policy at work (docs/multihoming.md#multipath-policies; wire rules in
 * protocol.md §11.5): which policy the handshake agreed on and, when packets may go on several
 * paths at once ('aggregate', 'redundant'), what the next packet is and which path it takes —
 * PTO probes on the path that timed out, redundant copies on another path, data on the path the
 * scheduler picks (src/paths/scheduler.ts), ACKs on the path whose packets they acknowledge —
 * plus PTO reinjection, redundant copies (src/paths/redundancy.ts), datagram deduplication and
 * LIA coupling (src/paths/congestion/lia.ts). Sans-I/O like the rest of the engine.
 *
 * Connection owns packets and the path lifecycle; it tells this module which paths may carry
 * data (`MultipathHost.dataPaths`) and builds the packets it asks for (`buildPacket` with a
 * `PacketPlan`). Under 'failover' none of this runs: Connection keeps its single-path transmit.
 */
import type { Transmit } from '../../net/address.js';
import { LiaController } from '../../paths/congestion/lia.js';
import { LazyPaths } from '../../paths/lazy-paths.js';
import type { Path } from '../../paths/path.js';
import { DatagramDeduplicator, RedundantCopies } from '../../paths/redundancy.js';
import { bandwidthDelayProduct, pathsInUse, pickPath } from '../../paths/scheduler.js';
import { TransportError, WireError } from '../../wire/errors.js';
import { MultipathPolicyCode, type TransportParameters } from '../../wire/transport-params.js';
import type { Writer } from '../../wire/varint.js';
import { type ResolvedMultipath, resolveMultipath } from '../config.js';
import type { MultipathOptions, MultipathPolicy, SessionRole } from '../types.js';

/** Policies a server runs when its client asks (multipath_policies, 0x49): all three. */
const SERVER_POLICIES =
  (1 << MultipathPolicyCode.failover) |
  (1 << MultipathPolicyCode.aggregate) |
  (1 << MultipathPolicyCode.redundant);
const POLICY_BY_CODE: readonly MultipathPolicy[] = ['failover', 'aggregate', 'redundant'];
/** Most bytes a sequence number adds to a DATAGRAM frame: 8-byte varint, 2-byte frame type. */
const MAX_SEQUENCE_OVERHEAD = 9;

/** How buildPacket fills a packet when packets may go on several paths. */
export interface PacketPlan {
  /** A PTO probe: not held back by the congestion window or pacer (the amplification limit still applies). */
  probe: boolean;
  /**
   * 'all': whatever is queued; 'acks': ACKs only; 'ping': ACKs and a PING (the data of a path
   * that timed out goes elsewhere, or a path's first RTT sample); 'copies': ACKs and redundant
   * copies only.
   */
  content: 'all' | 'acks' | 'ping' | 'copies';
}

/** The session's paths, as the path lifecycle (PathManager) keeps them. */
export interface SessionPaths<P extends Path<unknown>> {
  readonly active: P;
  readonly list: readonly P[];
  /** Paths that may carry data now, the active one first (validated, warm, answering, local). */
  dataPaths(now: number): P[];
}

/** What the policy needs from its connection. */
export interface MultipathHost<P extends Path<unknown>> {
  /** The time of the latest input (the coupling looks at the paths between inputs). */
  readonly now: number;
  readonly paths: SessionPaths<P>;
  /**
   * Bytes the session may have sent and not yet had acknowledged in order: the most its send
   * buffers may hold (a slow path is fed only while its round trip fits in it).
   */
  readonly sendWindow: number;
  hasPendingData(): boolean;
  buildPacket(path: P, now: number, plan: PacketPlan): Transmit | undefined;
}

/**
 * A data path carries the ACKs of its own number space (so one dead path loses only its own
 * ACKs) while our sending there is answered. Once its PTO fired, that direction may be dead
 * while the peer's data still arrives over it (a one-way path): its ACKs go on the active path,
 * or the peer, getting none, stops sending on the one pair that works its way.
 */
function carriesOwnAcks<P extends Path<unknown>>(space: P, usable: readonly P[]): boolean {
  return usable.includes(space) && space.loss.ptoCount === 0;
}

/**
 * Where the ACKs of a space that does not carry its own go: the active path, unless its own PTO
 * fired too (while the peer is still heard there, it stays active for a while, see
 * PathManager.spreadDeadPtoCount), then the first data path whose sending is answered.
 */
function answeringPath<P extends Path<unknown>>(usable: readonly P[], active: P): P {
  if (active.loss.ptoCount === 0) return active;
  return usable.find((p) => p.loss.ptoCount === 0) ?? active;
}

export class MultipathSession<P extends Path<unknown>, R> {
  readonly options: ResolvedMultipath;
  readonly lazy: LazyPaths;
  private agreed: MultipathPolicy = 'failover';
  private readonly copies = new RedundantCopies<R>();
  private readonly dedup = new DatagramDeduplicator();
  private nextSequence = 0;
  /** PTO probes owed per path id. */
  private readonly probes = new Map<number, number>();
  /**
   * When the last transmit found no path with room: the earliest pacer release among the paths
   * it asked (a path the scheduler did not ask may hold a stale pacing deadline).
   */
  private wakeAt: number | undefined;
  /** While a packet whose small frames are also to go on another path is being written. */
  private copyContext: { origin: number; expires: number } | undefined;

  constructor(
    options: MultipathOptions,
    private readonly host: MultipathHost<P>,
    private readonly maxDatagramSize: number,
    /**
     * Whether 'aggregate' couples the paths' congestion control (LIA). False with BBR: each path
     * keeps its own model-based controller (LIA's linked increase is Reno's; see
     * docs/multihoming.md).
     */
    private readonly coupling = true,
  ) {
    this.options = resolveMultipath(options);
    this.lazy = new LazyPaths(this.options.lazy);
  }

  /** The policy both ends run ('failover' until the transport parameters agreed on another). */
  get policy(): MultipathPolicy {
    return this.agreed;
  }

  /** Packets may go on several paths at once. */
  get spreads(): boolean {
    return this.agreed !== 'failover';
  }

  /** Paths that may carry data now: under failover the active path only. */
  private dataPaths(now: number): P[] {
    const paths = this.host.paths;
    return this.spreads ? paths.dataPaths(now) : [paths.active];
  }

  /**
   * Every path was replaced (a resumption, docs/persistence.md): probes owed, copies waiting and
   * the pacer release refer to paths that are gone. The agreed policy and the datagram sequence
   * numbers (and the receiver's window) carry on.
   */
  onPathsReset(): void {
    this.probes.clear();
    this.copies.clear();
    this.wakeAt = undefined;
    this.copyContext = undefined;
  }

  // ---- negotiation ----

  /** Our multipath transport parameter: the client's request, or the server's policy set. */
  ownParameters(role: SessionRole): Partial<TransportParameters> {
    return role === 'client'
      ? { multipathPolicy: MultipathPolicyCode[this.options.policy] }
      : { multipathPolicies: SERVER_POLICIES };
  }

  /**
   * The session's policy: what the client asked for (multipath_policy), if the server runs it
   * (multipath_policies); failover otherwise. Both ends compute the same answer.
   */
  adopt(role: SessionRole, peer: TransportParameters): void {
    const requested = role === 'client' ? MultipathPolicyCode[this.options.policy] : peer.multipathPolicy;
    const accepted = role === 'client' ? peer.multipathPolicies : SERVER_POLICIES;
    const policy = POLICY_BY_CODE[requested];
    this.agreed = policy !== undefined && (accepted & (1 << requested)) !== 0 ? policy : 'failover';
    if (this.agreed === 'aggregate' && this.coupling)
      for (const path of this.host.paths.list) path.useCongestionController(this.coupledController());
  }

  /** A new path's congestion controller under 'aggregate' (undefined: the configured one). */
  controllerForNewPath(): LiaController | undefined {
    return this.agreed === 'aggregate' && this.coupling ? this.coupledController() : undefined;
  }

  private coupledController(): LiaController {
    return new LiaController(
      () => this.dataPaths(this.host.now).map((p) => ({ cc: p.cc, srtt: p.rtt.smoothedRtt })),
      this.maxDatagramSize,
    );
  }

  // ---- transmit ----

  /**
   * The next packet, in order: PTO probes on the path that timed out, redundant copies on
   * another path, data on the path the scheduler picks (under 'redundant' bulk stays on the
   * active path), then ACKs on the path whose packets they acknowledge.
   */
  poll(now: number): Transmit | undefined {
    const host = this.host;
    const mtu = this.maxDatagramSize;
    for (const [id, owed] of this.probes) {
      const path = host.paths.list.find((p) => p.id === id);
      if (!path || owed <= 0) {
        this.probes.delete(id);
        continue;
      }
      const content = this.hasHealthyAlternative(path, now) ? 'ping' : 'all';
      const t = host.buildPacket(path, now, { probe: true, content });
      if (t) return t;
    }
    const usable = this.dataPaths(now);
    this.wakeAt = undefined;
    if (this.copies.size > 0) {
      const origins = this.copies.origins(now);
      const targets = usable.filter((p) => origins.size > 1 || !origins.has(p.id));
      const { path, wakeAt } = pickPath(targets, mtu, now);
      this.paced(wakeAt);
      const t = path && host.buildPacket(path, now, { probe: false, content: 'copies' });
      if (t) return t;
      if (targets.length === 0) this.copies.clear();
    }
    if (host.hasPendingData()) {
      // The scheduler feeds a second path only once its RTT is known: a PING measures it
      // (stream data on it could hold the faster paths up for as long as the guess is wrong).
      if (this.agreed === 'aggregate')
        for (const path of usable) {
          if (path.rtt.hasSample || path.loss.bytesInFlight > 0) continue;
          const t = host.buildPacket(path, now, { probe: false, content: 'ping' });
          if (t) return t;
        }
      const candidates = this.agreed === 'aggregate' ? usable : [host.paths.active];
      const { path, wakeAt } = pickPath(candidates, mtu, now, host.sendWindow);
      this.paced(wakeAt);
      const t = path && host.buildPacket(path, now, { probe: false, content: 'all' });
      if (t) return t;
      // What is left may be for the active path only: a PING that checks it.
      const onActive =
        path !== undefined && path !== host.paths.active
          ? host.buildPacket(host.paths.active, now, { probe: false, content: 'all' })
          : undefined;
      if (onActive) return onActive;
    }
    for (const space of host.paths.list) {
      if (!space.acks.ackNow && (space.acks.ackDeadline() ?? Number.POSITIVE_INFINITY) > now) continue;
      const on = carriesOwnAcks(space, usable) ? space : answeringPath(usable, host.paths.active);
      const t = host.buildPacket(on, now, { probe: false, content: 'acks' });
      if (t) return t;
    }
    return undefined;
  }

  private paced(at: number | undefined): void {
    if (at !== undefined && (this.wakeAt === undefined || at < this.wakeAt)) this.wakeAt = at;
  }

  /** When a pacer lets the next packet go (the connection's deadline includes it). */
  get pacingDeadline(): number | undefined {
    return this.wakeAt;
  }

  /**
   * Spaces whose ACKs a packet on `path` carries: its own, and those of paths that do not carry
   * their own (see carriesOwnAcks).
   */
  ackSpaces(path: P, now: number): P[] {
    const usable = this.dataPaths(now);
    return this.host.paths.list.filter((space) => space === path || !carriesOwnAcks(space, usable));
  }

  // ---- loss recovery ----

  /**
   * A PTO fired on `path`: its probes go on that path. Returns whether all of its unacknowledged
   * data should be resent elsewhere now (another path could take it: MPTCP's reinjection on
   * RTO); the probe is then a PING.
   */
  onProbeTimeout(path: P, probes: number, now: number): boolean {
    this.probes.set(path.id, Math.max(this.probes.get(path.id) ?? 0, probes));
    return this.hasHealthyAlternative(path, now);
  }

  /** A probe went out on `path`. */
  onProbeSent(path: P): void {
    this.probes.set(path.id, (this.probes.get(path.id) ?? 1) - 1);
  }

  /** Another path could take `path`'s data now: it carries data and has not timed out. */
  private hasHealthyAlternative(path: P, now: number): boolean {
    const candidates = this.agreed === 'aggregate' ? this.dataPaths(now) : [this.host.paths.active];
    return candidates.some((p) => p !== path && p.loss.ptoCount === 0);
  }

  // ---- redundant copies ----

  /** A packet with data is being written on `path`: under 'redundant', its small frames get copied. */
  beginPacket(path: P, now: number): void {
    if (this.agreed !== 'redundant' || this.dataPaths(now).length < 2) return;
    // Not sent within about one RTT of the original, a copy no longer wins anything.
    this.copyContext = { origin: path.id, expires: now + Math.max(path.rtt.smoothedRtt, 1) };
  }

  endPacket(): void {
    this.copyContext = undefined;
  }

  /**
   * The sequence number a datagram of `length` bytes is to be sent with (it goes on two paths),
   * or undefined (a plain DATAGRAM: no copying now, too large, or no room for the number). The
   * number is taken by copyDatagram once the frame is written.
   */
  datagramSequence(length: number, maxDatagramSize: number): number | undefined {
    if (this.copyContext === undefined || length > this.options.redundantMaxBytes) return undefined;
    if (length + MAX_SEQUENCE_OVERHEAD > maxDatagramSize) return undefined;
    return this.nextSequence;
  }

  /** A SEQUENCED_DATAGRAM frame was written: its number is used, and a copy waits for another path. */
  copyDatagram(frame: Uint8Array, record: R): void {
    this.nextSequence++;
    this.copyFrame(frame, record);
  }

  /**
   * Whether a stream frame of `length` bytes is copied: a small message, i.e. the frame reaches
   * the end of what the application has written, not a slice of a bulk transfer.
   */
  copiesStreamFrame(length: number, reachesEnd: boolean): boolean {
    return this.copyContext !== undefined && length <= this.options.redundantMaxBytes && reachesEnd;
  }

  /** Keeps a copy of a frame just written (copied out: the packet buffer is encrypted in place). */
  copyFrame(frame: Uint8Array, record: R): void {
    const context = this.copyContext!;
    this.copies.add({
      bytes: Uint8Array.prototype.slice.call(frame),
      record,
      origin: context.origin,
      expires: context.expires,
    });
  }

  /** Writes the copies waiting for `path` that fit; true if any (the packet is then ack-eliciting). */
  writeCopies(path: P, w: Writer, limit: number, records: R[], now: number): boolean {
    const taken = this.copies.take(path.id, limit - w.offset, now);
    for (const copy of taken) {
      w.bytes(copy.bytes);
      records.push(copy.record);
    }
    return taken.length > 0;
  }

  /** Copies are waiting for a path. */
  get copying(): boolean {
    return this.copies.size > 0;
  }

  // ---- receive ----

  /**
   * A DATAGRAM arrived, with a sequence number if it was a SEQUENCED_DATAGRAM: false for a copy
   * already delivered. Throws WireError (PROTOCOL_VIOLATION) for a sequence number outside the
   * redundant policy.
   */
  acceptDatagram(sequence: number | undefined): boolean {
    if (sequence === undefined) return true;
    if (this.agreed !== 'redundant')
      throw new WireError(
        'SEQUENCED_DATAGRAM outside the redundant policy',
        TransportError.PROTOCOL_VIOLATION,
      );
    return this.dedup.accept(sequence);
  }

  /**
   * The bandwidth-delay product of the paths carrying data (under 'failover' the active one; under
   * 'aggregate' those the scheduler feeds): what send-buffer auto-tuning sizes from.
   */
  bandwidthDelayProduct(now: number): number {
    const paths = this.dataPaths(now);
    return bandwidthDelayProduct(
      this.agreed === 'aggregate' ? pathsInUse(paths, this.host.sendWindow) : paths.slice(0, 1),
    );
  }

  /**
   * The RTT receive-window auto-tuning measures against: the longest of the data-carrying
   * paths', so the window covers the sum of their bandwidth-delay products plus the reordering
   * between them.
   */
  windowRtt(now: number): number | undefined {
    let srtt: number | undefined;
    for (const p of this.dataPaths(now)) if (p.rtt.hasSample) srtt = Math.max(srtt ?? 0, p.rtt.smoothedRtt);
    return srtt;
  }
}
