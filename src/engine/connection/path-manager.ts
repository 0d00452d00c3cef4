/**
 * The path lifecycle of one session (sans-I/O): which address pairs exist, which one the
 * session sends on, validation (PATH_CHALLENGE / PATH_RESPONSE), standby paths kept warm,
 * failure detection, exploration of other pairs, failover, abandonment (PATH_ABANDON), and
 * the address sets of both ends. docs/multihoming.md explains the design; protocol.md §11
 * has the wire rules.
 *
 * Each side chooses the path it sends on from evidence about its own sending direction:
 * ACKs for packets it sent on that path, or PATH_RESPONSEs to challenges it sent there,
 * whichever path they come back on. So the two directions of a session may use different
 * pairs (only A1→B1 works one way and only B2→A2 the other).
 *
 * Connection owns packets (protection, framing, loss recovery of stream data); it asks this
 * module which path to send on, feeds it what arrives, and builds the probe packets it asks
 * for. `PathHost` hands it the session's owners it works with (CIDs, outbox, sent records)
 * and the few connection facts it reads.
 */
import { ReplayWindow } from '../../crypto/replay-window.js';
import { addressKey, canonicalIp, type SocketAddress, sameAddress } from '../../net/address.js';
import { sameScope } from '../../net/address-scope.js';
import type { CongestionController } from '../../paths/congestion/index.js';
import { Path } from '../../paths/path.js';
import { BASE_UDP_PAYLOAD } from '../../paths/pmtu.js';
import { type Frame, PathAbandonCode, type PathAbandonFrame } from '../../wire/frames.js';
import type { PathHealth } from '../path-health.js';
import type { FailoverReason, PathInfo, SessionRole, TransportConfig } from '../types.js';
import type { CidState } from './cid-state.js';
import type { Outbox } from './outbox.js';
import type { Sent, SentInfo, SentRecords } from './sent-records.js';
import type { SessionView } from './session-view.js';

/**
 * What the session's multipath policy (multipath.ts, docs/multihoming.md#multipath-policies)
 * changes in the path lifecycle. Under 'failover' (spreads and coversAddresses false, no lazy
 * thresholds) none of it changes anything.
 */
export interface PathPolicy {
  /**
   * Packets go on several paths at once ('aggregate', 'redundant'): the peer sending data on
   * another path is no move, and a standby that stops answering is marked failed (it carries
   * only probes until an ACK comes back).
   */
  readonly spreads: boolean;
  /** 'aggregate': the client also keeps a path over every local and remote address no path uses yet. */
  readonly coversAddresses: boolean;
  /** Lazy paths: whether paths beyond the first may be opened yet (`trouble`: the active path is failing or going away). */
  mayOpenPaths(now: number, trouble: boolean): boolean;
  /** A new path's congestion controller (undefined: the configured kind). */
  congestionController(): CongestionController | undefined;
}

/** What the path lifecycle needs from its connection. */
export interface PathHost {
  readonly role: SessionRole;
  readonly config: TransportConfig;
  random(length: number): Uint8Array;
  /** Handshake confirmed, established, the peer's transport parameters (its max_ack_delay). */
  readonly session: SessionView;
  /** Health of address pairs shared by the sessions of the endpoint (optional). */
  readonly health: PathHealth | undefined;
  readonly policy: PathPolicy;
  /** Which CID a path uses, the path-id window, retirement of the peer's CIDs. */
  readonly cids: CidState;
  /** Control frames, events and wake-ups. */
  readonly outbox: Outbox;
  /** What the packets of a path given up carried goes back in line (on whatever path sends next). */
  readonly sent: SentRecords;
  /** The active path changed (timers that depend on its PTO move). */
  onActiveChanged(now: number): void;
  /** Probes on the active path (default one): ack-eliciting packets that go out whatever the congestion window. */
  probeActive(count?: number): void;
}

/**
 * Everything the path lifecycle keeps per path id: the path, the replay window of its number
 * space, and the validation and lifecycle bookkeeping the path itself does not hold.
 */
class PathRecord {
  challengeDue = false;
  challengeResendAt: number | undefined;
  /** The challenge fails if no PATH_RESPONSE arrives by then. */
  challengeFailAt: number | undefined;
  /** First transmission of the outstanding challenge, and how often it went out (RTT sample). */
  challengeSentAt: number | undefined;
  challengeSends = 0;
  /** The pair was validated under an earlier path id within the validation lifetime: probes need no padding. */
  knownPair = false;
  /** Re-checks of this failed path so far without an answer (the retry interval doubles). */
  retries = 0;
  /** A warm-standby check: one transmission per keepalive interval, no retransmission. */
  keepaliveChallenge = false;
  /** Consecutive unanswered warm-standby checks. */
  misses = 0;
  /** PATH_RESPONSE payloads owed on this address pair. */
  responses: Uint8Array[] = [];
  validatedAt: number | undefined;
  /** Switch to this path once it validates, and why (the peer moved here, our address vanished). */
  migrateOnValidation: FailoverReason | undefined;
  /** Last authenticated packet in this path's number space or from its address pair. */
  lastReceivedAt: number;
  /** Last non-probing packet with a new largest packet number in this path id's number space. */
  spaceDataAt: number | undefined;
  /** Last non-probing packet with a new largest packet number from this pair: the peer sends its data here. */
  peerDataAt: number | undefined;
  /**
   * Last packet from this pair carrying stream data. Under a policy that spreads packets the peer
   * keeps sending data on a pair only while our ACKs come back to it there, so it shows that our
   * direction works too.
   */
  peerStreamAt: number | undefined;
  /**
   * Last packet from this pair carrying stream bytes beyond any received before: the peer's
   * window let it send more, so our ACKs reached it lately (a PTO probe resends old data).
   */
  peerNewDataAt: number | undefined;
  /** That packet started a stretch of peer data on this pair (the peer moved here). */
  peerDataStarted = false;
  /** Last authenticated packet from this very address pair, whatever its number space. */
  pairHeardAt: number | undefined;
  /** Last PATH_CHALLENGE the peer sent on this pair: the peer keeps it warm as its standby. */
  challengedAt: number | undefined;
  standbySince: number | undefined;
  /** Client: the standby we keep warm for failover (re-challenged every keepalive interval). */
  warm = false;
  /** When the warm standby is next re-challenged. */
  warmAt: number | undefined;
  /** Last proof that what we send on this pair arrives (an ACK of a packet sent here, or a PATH_RESPONSE). */
  provenAt: number | undefined;
  /** When what that proof covers was sent (the acknowledged packet, the answered challenge). */
  provenSentAt: number | undefined;
  /** When our sending here was last declared failed. */
  failedAt: number | undefined;
  /** Since when every check of this path (not the active one) was answered; undefined after a miss or failure. */
  healthySince: number | undefined;
  /** When to confirm this path for a move back to it (see moveBackReason). */
  moveBackAt: number | undefined;
  /** The outstanding challenge confirms a move back: move on its answer. */
  moveBackCheck = false;
  /** Last success reported to the endpoint's health table (rate limit). */
  healthAt = -Infinity;

  constructor(
    readonly path: Path<SentInfo>,
    /** Packet numbers seen in this path id's number space. */
    public replay: ReplayWindow,
    validatedAt: number | undefined,
    now: number,
  ) {
    this.validatedAt = validatedAt;
    this.lastReceivedAt = now;
  }

  /** The PATH_CHALLENGE payload outstanding on this path, to (re)send (the path holds it). */
  get challenge(): Uint8Array | undefined {
    return this.path.outstandingChallenge;
  }
}

/** Bytes of a PATH_CHALLENGE datagram when the amplification credit allows (RFC 9000 §8.2.1). */
export const PATH_PROBE_SIZE = 1200;
/** Consecutive PTOs on the active path after which it is declared failed. */
const FAILOVER_PTO_COUNT = 2;
/**
 * Under 'aggregate' and 'redundant': PTOs in a row on the active path before it counts as dead
 * while the peer's stream data keeps arriving on it (spreadDeadPtoCount). With PTO backoff,
 * three are seven PTOs: room for a queue that fills within a round trip to several times its RTT.
 */
const HEARD_PATH_PTO_COUNT = 3;
/**
 * Silence (ms) of the active path after which it is left for a standby that has not proven
 * itself since (FAILOVER_PTO_COUNT PTOs are needed too). On a LAN two PTOs are ~15 ms, shorter
 * than a peer's GC pause or a loaded host's scheduling stall; a standby that answers moves the
 * session long before this (one PTO and the standby's round trip).
 */
const UNPROVEN_FAILOVER_SILENCE = 100;
/**
 * Packets sent on a suspected active path (its PTO fired) since it went silent that must all go
 * unanswered for the path to count as dead. One lost packet, or a short burst of them, is what
 * a lossy radio link does every few seconds; a dead path is silent to every one. Under bursty
 * loss that persists from packet to packet (the lte profile's Gilbert–Elliott model: a lost
 * packet's successor is lost too with probability 2/3) ten in a row are lost in about one burst
 * in 40; with 6 it was one in 8, and idle lte+wifi-bad sessions changed path.
 */
const SUSPICION_PROBES = 10;
/**
 * Times the verdict on a suspected active path is put off, one PTO each, while new stream data
 * from the peer keeps arriving on its pair since the suspicion (declareDead), and the probes
 * sent each time. The simulator's lte bursts are counted in packets (Gilbert–Elliott), and each
 * deferral lets more of ours through (its probes, and our ACKs of the peer's data meanwhile);
 * a path dead one way only, whose peer hears us over another path and keeps sending, costs at
 * most 2 PTOs more (test/sim/failover.test.ts, one-way pairs: within its 1 s bound).
 */
const MAX_VERDICT_DEFERRALS = 2;
const DEFERRAL_PROBES = 3;
/**
 * Without preferences, the session moves back to a path a failure left only if its smoothed RTT
 * is at most this share of the active path's, and at least MOVE_BACK_RTT_GAIN ms lower: two
 * healthy paths of similar RTT never trade places on jitter.
 */
const MOVE_BACK_RTT_SHARE = 0.75;
const MOVE_BACK_RTT_GAIN = 5;
/** A timer that fires later than this (ms, or a quarter of its period) shows a host that was not running. */
const LATE_TIMER_SLACK = 3;
/** Peer addresses remembered at most (memory bound against a chatty peer). */
const MAX_PEER_ADDRESSES = 16;
/** Unanswered warm-standby checks in a row after which the standby counts as failed. */
const STANDBY_MISSES = 2;
/** New address pairs a client probes per exploration (besides re-checking existing paths). */
const MAX_EXPLORED_PAIRS = 3;
/** Challenge payloads remembered to recognise a retransmitted challenge (our answer got lost). */
const ANSWERED_MEMORY = 16;
/**
 * An address no path to which ever validated gets at most this many bytes (3 × one padded
 * challenge) per UNVERIFIED_REFRESH: the peer may have advertised a victim's address.
 */
const UNVERIFIED_BUDGET = 3 * PATH_PROBE_SIZE;
const UNVERIFIED_REFRESH = 60_000;
/**
 * Addresses that never validated given a budget per UNVERIFIED_REFRESH at most: a peer naming
 * ever new victims (advertised, or as the spoofed source of a packet) reaches no more of them.
 */
const MAX_UNVERIFIED = 64;
/** Credit below which a new path is not worth opening (a challenge fits, padding does not). */
const MIN_PROBE_CREDIT = PATH_PROBE_SIZE / 4;
/** Transmissions of a challenge re-checking a pair validated before. */
const RECHECK_SENDS = 2;
/**
 * A path the session would move back to (see mayMoveBack) is re-checked with this many doublings
 * of the retry interval and no more: every ~2.5 s by default (two transmissions of a small
 * challenge, fewer than one packet a second), so its heal is seen within one such period.
 */
const MOVE_BACK_RETRY_DOUBLINGS = 1;
/** Doublings of the retry interval for a failed path or a standby that could not be validated. */
const MAX_BACKOFF_DOUBLINGS = 3;
/** Validated pairs remembered across path ids (memory bound). */
const MAX_VALIDATED_PAIRS = 64;
/** Paths a client keeps open at most under 'aggregate' (the active one included). */
const MAX_AGGREGATE_PATHS = 8;
/**
 * Paths being validated at once, and paths held in all, beyond which a packet from yet another
 * address pair opens no path (it is processed, not answered there): an on-path attacker
 * rewriting source addresses would otherwise make the session hold a path per address.
 */
const MAX_PENDING_VALIDATIONS = 4;
const MAX_PATHS = 16;

interface AdvertisedAddress {
  address: SocketAddress;
  /** Sequence number of the last update applied for this address. */
  sequence: number;
  present: boolean;
  /** A backup address (ADD_ADDRESS flag, protocol.md §11.2). */
  backup: boolean;
}

type Pair = [local: SocketAddress, remote: SocketAddress];

interface Exploration {
  /** New pairs still to probe (client), best first, and when the next one is due. */
  queue: Pair[];
  nextAt: number | undefined;
  /** The active path's PTO count when the other paths were last re-checked. */
  ptoCount: number;
}

/** Per received packet: compare fields rather than build address-key strings. */
function sameAddresses(path: Path<unknown>, local: SocketAddress, remote: SocketAddress): boolean {
  return (
    path.remote.port === remote.port &&
    path.local.port === local.port &&
    path.remote.address === remote.address &&
    path.local.address === local.address
  );
}

/** What a pair adds to `paths`: 2 for a local address none of them uses, 1 for such a remote one. */
function coverageGain(paths: readonly Path<unknown>[], local: SocketAddress, remote: SocketAddress): number {
  let gain = 3;
  for (const p of paths) {
    if (sameAddress(p.local, local)) gain &= ~2;
    if (sameAddress(p.remote, remote)) gain &= ~1;
  }
  return gain;
}

function pairKey(local: SocketAddress, remote: SocketAddress): string {
  return `${addressKey(local)}|${addressKey(remote)}`;
}

const PROBING_FRAMES = new Set<Frame['type']>([
  'padding',
  'path_challenge',
  'path_response',
  'new_connection_id',
]);

/**
 * A probe does not move the peer (RFC 9000 §9.1): only PADDING, PATH_CHALLENGE,
 * PATH_RESPONSE and NEW_CONNECTION_ID frames, plus ACK frames when it carries a challenge
 * or response (Braid's probes report what their sender received, protocol.md §11.4).
 */
export function isProbingOnly(frames: Frame[]): boolean {
  let path = false;
  let ack = false;
  for (const f of frames) {
    if (f.type === 'path_challenge' || f.type === 'path_response') path = true;
    else if (f.type === 'ack') ack = true;
    else if (!PROBING_FRAMES.has(f.type)) return false;
  }
  return path || !ack;
}

/**
 * A path probe as its sender builds it (Packetizer.probePacket): PATH_CHALLENGE or
 * PATH_RESPONSE, not in flight, so no ACK deadline is owed for it. A packet of other probing
 * frames only (NEW_CONNECTION_ID) is in flight at its sender, whose PTO waits for the ACK.
 */
export function isPathProbe(frames: Frame[]): boolean {
  let path = false;
  for (const f of frames) {
    if (f.type === 'path_challenge' || f.type === 'path_response') path = true;
    else if (f.type !== 'ack' && f.type !== 'padding') return false;
  }
  return path;
}

export class PathManager {
  private readonly host: PathHost;
  private readonly config: TransportConfig;
  private readonly pathList: Path<SentInfo>[] = [];
  /** One record per live path id. */
  private readonly records = new Map<number, PathRecord>();
  private activePath: Path<SentInfo>;
  /** Path ids abandoned for good: their packets are dropped, never reopened. */
  private readonly removedIds = new Set<number>();
  /** Path ids this side opens: clients odd, servers even, so both ends never pick the same id. */
  private nextOwnPathId: number;
  /** The active path stopped answering and nothing proven was there to move to: take the first path proven. */
  private activeFailedAt: number | undefined;
  private exploring: Exploration | undefined;
  /**
   * The active path is suspected (its PTO fired at `suspectedAt`, nothing acknowledged of what
   * was sent since `since`): see suspect(). `nextProbeAt` is the next probe, `deadAt` the verdict.
   */
  private suspicion:
    | {
        suspectedAt: number;
        since: number;
        nextProbeAt: number | undefined;
        deadAt: number | undefined;
        dead: boolean;
        /**
         * Once the evidence is counted: by then the counted packets had reached the peer if the
         * active path worked, so only a receipt over another path asked for since may move us.
         */
        receiptsFrom: number;
        /** Verdicts put off because new stream data still arrived on the active pair. */
        deferrals: number;
        /**
         * The active path's PTO and ACK delay when it went silent. ACKs of its packets that arrive
         * over another path during the silence add that path's delay to its RTT samples.
         */
        pto: number;
        ackDelay: number;
      }
    | undefined;
  /** A late proof of another path: move there at `at` unless the active path answers first. */
  private pendingMove: { path: Path<SentInfo>; sentAt: number; at: number } | undefined;
  /** Challenge payloads answered recently (hex), to recognise retransmissions. */
  private readonly answered = new Map<string, number>();
  /** Bytes spent on unvalidated paths to each remote address that never validated (victim bound). */
  private readonly unverified = new Map<string, { spent: number; since: number }>();
  private readonly verifiedRemotes = new Set<string>();
  /** When each address pair (by pairKey) last validated, whatever path id it had. */
  private readonly validatedPairs = new Map<string, number>();
  /** Consecutive warm standbys that never validated (the next attempt waits longer). */
  private standbyFailures = 0;
  /** The peer abandoned the path we send on while we had nowhere to go: retried when a CID arrives. */
  private abandonPending: PathAbandonFrame | undefined;
  /** When the earliest spent unvalidated-traffic budget refreshes (set by candidatePairs). */
  private budgetRefreshAt: number | undefined;

  // --- addresses (multihoming) ---
  /** Our usable local addresses; undefined until the endpoint names them ("only the one we started on"). */
  private localAddresses: SocketAddress[] | undefined;
  /** What we told the peer about our addresses, by addressKey. */
  private readonly advertised = new Map<string, AdvertisedAddress>();
  private nextAddressSequence = 0;
  /** The peer's advertised addresses: candidates, unverified until a path to them validates. */
  private readonly peerAddresses = new Map<string, AdvertisedAddress>();
  /** Client: when to try opening a standby path again after none could be opened or one failed. */
  private standbyRetryAt: number | undefined;
  /**
   * The address pair a failure moved the session off (pairKey): without preferences, the session
   * moves back to it once it is healthy again, if its RTT is clearly lower (mayMoveBack). By pair,
   * not path id: the failed path may be abandoned and the pair reopened under a new id.
   */
  private leftPair: { key: string; srtt: number | undefined } | undefined;
  /** Address pairs (pairKey) our sending failed on lately, and when: a move back to one waits for its hold. */
  private readonly failedPairs = new Map<string, number>();
  /** Peer addresses advertised as backups so far (0: no path of the peer's side is a backup). */
  private peerBackups = 0;
  /** Our local IP addresses marked backup (transport.backupAddresses, canonical text). */
  private readonly ownBackups: ReadonlySet<string>;

  constructor(host: PathHost, local: SocketAddress, remote: SocketAddress, now: number) {
    this.host = host;
    this.config = host.config;
    this.nextOwnPathId = host.role === 'client' ? 1 : 2;
    this.ownBackups = new Set(
      this.config.backupAddresses.map((a) => canonicalIp(a)).filter((a) => a !== undefined),
    );
    this.activePath = this.addPath(0, local, remote, now);
    this.activePath.state = 'active';
  }

  /** The path the session sends on. */
  get active(): Path<SentInfo> {
    return this.activePath;
  }

  /** Live paths (validating, active, standby, failed), oldest first. */
  get list(): readonly Path<SentInfo>[] {
    return this.pathList;
  }

  private record(path: Path<SentInfo>): PathRecord {
    return this.records.get(path.id)!;
  }

  byId(id: number): Path<SentInfo> | undefined {
    for (const p of this.pathList) if (p.id === id) return p;
    return undefined;
  }

  byAddresses(local: SocketAddress, remote: SocketAddress): Path<SentInfo> | undefined {
    for (const p of this.pathList) if (sameAddresses(p, local, remote)) return p;
    return undefined;
  }

  /** An authenticated packet arrived in `path`'s number space. */
  onPacketReceived(path: Path<SentInfo>, now: number): void {
    this.record(path).lastReceivedAt = now;
  }

  /** Last proof that what we send on `path` arrives (an ACK of a packet sent there, a PATH_RESPONSE). */
  provenAt(path: Path<SentInfo>): number | undefined {
    return this.record(path).provenAt;
  }

  /** The PATH_CHALLENGE payload to send on `path` now, if one is due. */
  dueChallenge(path: Path<SentInfo>): Uint8Array | undefined {
    const m = this.record(path);
    return m.challengeDue ? m.challenge : undefined;
  }

  /** PATH_RESPONSEs are owed on `path`'s address pair. */
  owesResponses(path: Path<SentInfo>): boolean {
    return this.record(path).responses.length > 0;
  }

  /** The next PATH_RESPONSE payload owed on `path`, taken off the list (a probe carries it). */
  takeResponse(path: Path<SentInfo>): Uint8Array | undefined {
    return this.record(path).responses.shift();
  }

  /** The pair was validated under an earlier path id within the validation lifetime: probes need no padding. */
  isKnownPair(path: Path<SentInfo>): boolean {
    return this.record(path).knownPair;
  }

  /** The path id was abandoned: its packets are dropped. */
  isRemoved(id: number): boolean {
    return this.removedIds.has(id);
  }

  /** The replay window of a path id's number space (a fresh one for a path not opened yet). */
  replayFor(id: number): ReplayWindow {
    return this.records.get(id)?.replay ?? new ReplayWindow(1 << 14);
  }

  /** The handshake completed on the first path: its pair is validated now. */
  onHandshakeComplete(now: number): void {
    const m = this.record(this.activePath);
    m.validatedAt = now;
    m.provenAt = now;
    m.provenSentAt = now;
    this.noteValidated(this.activePath, now);
  }

  private addPath(
    id: number,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
    validated = false,
  ): Path<SentInfo> {
    const config = this.config;
    const path = new Path<SentInfo>({
      id,
      local,
      remote,
      now,
      validated,
      maxDatagramSize: BASE_UDP_PAYLOAD,
      // PMTU discovery raises the path from 1200 up to what both ends accept.
      maxUdpPayloadSize: Math.min(
        config.maxUdpPayloadSize,
        this.host.session.peerParams?.maxUdpPayloadSize ?? config.maxUdpPayloadSize,
      ),
      congestionControl: config.congestionControl,
      congestion: this.host.policy.congestionController(),
      maxAckDelay: config.maxAckDelay,
      peerMaxAckDelay: this.host.session.peerParams?.maxAckDelay,
      ackElicitingThreshold: config.ackFrequency,
      // At least ~8 probes fit in an idle period, so a loss burst alone rarely kills a session.
      maxProbeInterval: config.idleTimeout > 0 ? config.idleTimeout / 8 : undefined,
    });
    this.pathList.push(path);
    this.records.set(id, new PathRecord(path, new ReplayWindow(1 << 14), validated ? now : undefined, now));
    if (this.host.session.handshakeConfirmed) this.host.cids.ensurePathIdWindow(id);
    return path;
  }

  private setPathState(path: Path<SentInfo>, state: PathInfo['state']): void {
    if (path.state === state) return;
    path.state = state;
    this.host.outbox.emit({ type: 'path-updated', path: path.info() });
  }

  /**
   * An authenticated packet arrived in the number space of a path id we have not seen: the
   * peer opened a path (e.g. after it noticed our address change). Its address pair inherits
   * validation from a validated path with the same pair (from our side nothing moved);
   * otherwise it is challenged.
   */
  openPeerPath(
    id: number,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
    replay: ReplayWindow,
  ): Path<SentInfo> {
    const twin = this.byAddresses(local, remote);
    const inherit = twin?.validated === true;
    const path = this.addPath(id, local, remote, now, inherit);
    this.record(path).replay = replay;
    path.remoteCid = this.host.cids.peerCidFor(id)?.cid ?? new Uint8Array(0);
    if (inherit) {
      path.state = 'standby';
      const m = this.record(path);
      m.standbySince = now;
      if (twin) {
        m.provenAt = this.record(twin).provenAt;
        m.provenSentAt = this.record(twin).provenSentAt;
      }
    }
    this.host.outbox.emit({ type: 'path-updated', path: path.info() });
    if (!inherit) this.startChallenge(path, now);
    return path;
  }

  /**
   * A path of our own (odd ids for clients, even for servers) to a pair, challenged before it
   * carries data. `undefined` when the peer has issued no CID for the next id yet, or when the
   * remote address exhausted its budget for unvalidated traffic.
   */
  private openOwnPath(
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
    credit?: number,
  ): Path<SentInfo> | undefined {
    const id = this.nextOwnPathId;
    const peerCid = this.host.cids.peerCidFor(id)?.cid;
    if (!peerCid) return undefined;
    if (credit !== undefined && credit < MIN_PROBE_CREDIT) return undefined;
    this.nextOwnPathId += 2;
    const path = this.addPath(id, local, remote, now);
    path.remoteCid = peerCid;
    // Nothing has arrived from this pair yet: the credit is what we may send before it validates.
    if (credit !== undefined) path.bytesReceived = credit / 3;
    const validatedAt = this.validatedPairs.get(pairKey(local, remote));
    if (validatedAt !== undefined && now - validatedAt < this.config.pathValidationLifetime) {
      this.record(path).knownPair = true;
      // The pair a failure left, reopened: its RTT from before times the checks, not the
      // initial 333 ms (whose 3 s validation timeout would delay the move back).
      const left = this.leftPair;
      if (left?.key === pairKey(local, remote) && left.srtt !== undefined)
        path.rtt.update(left.srtt, 0, 0, true);
    }
    this.host.outbox.emit({ type: 'path-updated', path: path.info() });
    this.startChallenge(path, now);
    return path;
  }

  /**
   * What a path we open towards `remote` may send before it validates: 3 × one padded
   * challenge, except towards an address that never validated, whose total over all paths
   * is capped (UNVERIFIED_BUDGET per UNVERIFIED_REFRESH), so an advertised victim address
   * gets a bounded number of bytes however often we retry.
   */
  private unvalidatedCredit(remote: SocketAddress, now: number): number {
    const key = addressKey(remote);
    if (this.verifiedRemotes.has(key)) return UNVERIFIED_BUDGET;
    let entry = this.unverified.get(key);
    if (!entry || now - entry.since >= UNVERIFIED_REFRESH) {
      if (!entry && this.unverified.size >= MAX_UNVERIFIED) {
        // An entry whose period ended is as good as none: room for this address if one did.
        for (const [k, e] of this.unverified)
          if (now - e.since >= UNVERIFIED_REFRESH) this.unverified.delete(k);
        if (this.unverified.size >= MAX_UNVERIFIED) return 0;
      }
      entry = { spent: 0, since: now };
      this.unverified.set(key, entry);
    }
    let spent = entry.spent;
    for (const p of this.pathList) if (!p.validated && sameAddress(p.remote, remote)) spent += p.bytesOnWire;
    return Math.max(0, UNVERIFIED_BUDGET - spent);
  }

  /** Whether a path to `remote` ever validated (it answered a challenge or the handshake). */
  isVerified(remote: SocketAddress): boolean {
    return this.verifiedRemotes.has(addressKey(remote));
  }

  /**
   * Whether a datagram of `bytes` that belongs to no path (a suspended client's RESUME) may go
   * to `remote`: always to an address a path validated to; to any other only within the budget
   * of an address that never validated, which it then spends (protocol.md §11.2).
   */
  spendUnverified(remote: SocketAddress, bytes: number, now: number): boolean {
    if (this.isVerified(remote)) return true;
    if (this.unvalidatedCredit(remote, now) < bytes) return false;
    const entry = this.unverified.get(addressKey(remote));
    if (entry) entry.spent += bytes;
    return true;
  }

  /** How long to wait before retransmitting a challenge: the path's PTO, or (no RTT sample yet) at most twice the active path's. */
  private probeInterval(path: Path<SentInfo>): number {
    if (path.rtt.hasSample || path === this.activePath) return Math.max(path.pto(), 1);
    return Math.max(1, Math.min(path.pto(), Math.max(2 * this.activePath.pto(), 50)));
  }

  /** Validation timeout, RFC 9000 §8.2.4: three PTOs, the larger of the current and the new path's. */
  private validationTimeout(path: Path<SentInfo>): number {
    return 3 * Math.max(this.activePath.pto(), path.pto());
  }

  private startChallenge(path: Path<SentInfo>, now: number, keepalive = false): void {
    const m = this.record(path);
    const challenge = this.host.random(8);
    m.challengeDue = true;
    m.challengeResendAt = undefined;
    m.challengeSentAt = undefined;
    m.challengeSends = 0;
    m.keepaliveChallenge = keepalive;
    m.challengeFailAt = now + (keepalive ? this.config.keepaliveInterval : this.validationTimeout(path));
    path.startValidation(challenge, now);
    this.host.outbox.wake();
  }

  private noteValidated(path: Path<SentInfo>, now: number): void {
    this.verifiedRemotes.add(addressKey(path.remote));
    const key = pairKey(path.local, path.remote);
    this.validatedPairs.delete(key);
    this.validatedPairs.set(key, now);
    if (this.validatedPairs.size > MAX_VALIDATED_PAIRS)
      this.validatedPairs.delete(this.validatedPairs.keys().next().value as string);
  }

  /** Connection sent the outstanding challenge of `path` in a probe packet. */
  onChallengeSent(path: Path<SentInfo>, now: number): void {
    const m = this.record(path);
    m.challengeDue = false;
    m.challengeSends++;
    m.challengeSentAt ??= now;
    // A warm-standby check goes out once per keepalive interval: its answer is due by the next.
    // A re-check of a pair validated before goes out twice (the repeat tells the peer its first
    // answer got lost, so it answers over every path); a new pair's challenge until it times out.
    const limit = path.validated || m.knownPair ? RECHECK_SENDS : Number.POSITIVE_INFINITY;
    m.challengeResendAt =
      m.keepaliveChallenge || m.challengeSends >= limit ? undefined : now + this.probeInterval(path);
  }

  /**
   * A PATH_CHALLENGE arrived on the address pair of `via`: answer there (RFC 9000 §8.2.2).
   * A challenge we answered before was retransmitted, so our answer did not get through:
   * answer on every validated path as well (whichever direction works carries it), and if it
   * came on the pair we send on, suspect our sending there.
   */
  onPathChallenge(data: Uint8Array, via: Path<SentInfo> | undefined, now: number): void {
    if (!via) return;
    this.record(via).challengedAt = now;
    const key = Buffer.from(data).toString('hex');
    const repeat = this.answered.has(key);
    this.answered.delete(key);
    this.answered.set(key, now);
    if (this.answered.size > ANSWERED_MEMORY)
      this.answered.delete(this.answered.keys().next().value as string);
    this.owe(via, data);
    if (!repeat) return;
    for (const p of this.pathList) if (p !== via && p.validated && this.isLocal(p.local)) this.owe(p, data);
    if (sameAddresses(via, this.activePath.local, this.activePath.remote) && !this.exploring)
      this.explore(now);
  }

  /**
   * A PATH_RESPONSE goes on `path`'s pair: on its path id, or, while we hold no CID for that id
   * yet (a path id the peer just opened), on another path id with the very same addresses.
   */
  private owe(path: Path<SentInfo>, data: Uint8Array): void {
    const carrier =
      path.remoteCid.length > 0
        ? path
        : this.pathList.find((p) => p.remoteCid.length > 0 && sameAddresses(p, path.local, path.remote));
    if (!carrier) return;
    const responses = this.record(carrier).responses;
    if (responses.length < 4) responses.push(Uint8Array.prototype.slice.call(data));
    this.host.outbox.wake();
  }

  /** A PATH_RESPONSE arrived (on any path): it proves the pair its challenge was sent on. */
  onPathResponse(data: Uint8Array, now: number): void {
    for (const path of this.pathList) {
      const m = this.record(path);
      if (!path.onPathResponse(data)) continue;
      // A challenge sent once gives an RTT sample: a path validated this way starts with a
      // realistic PTO instead of the 333 ms initial RTT's ~1 s.
      if (!path.rtt.hasSample && m.challengeSends === 1 && m.challengeSentAt !== undefined)
        path.rtt.update(now - m.challengeSentAt, 0, 0, true);
      const sentAt = m.challengeSentAt ?? now;
      m.challengeDue = false;
      m.challengeResendAt = undefined;
      m.challengeFailAt = undefined;
      m.misses = 0;
      m.validatedAt = now;
      this.noteValidated(path, now);
      if (m.warm) this.standbyFailures = 0;
      if (path === this.activePath) {
        path.state = 'active';
      } else if (m.migrateOnValidation !== undefined && path.remoteCid.length > 0) {
        const old = this.activePath;
        this.switchActive(path, m.migrateOnValidation, now);
        if (!this.isLocal(old.local))
          this.removePath(old, PathAbandonCode.ADDRESS_GONE, 'address removed', now);
      } else if (path.state !== 'standby') {
        path.state = 'validating'; // reported as standby below
        this.setPathState(path, 'standby');
        m.standbySince = now;
      }
      if (path === this.activePath) m.warm = false;
      else if (m.warm) m.warmAt = now + this.standbyCheckInterval();
      this.onProven(path, now, sentAt, true);
      return;
    }
  }

  /**
   * An ACK newly acknowledged packets sent on `path` (the latest of them at `sentAt`): its
   * sending direction works.
   */
  onAcked(path: Path<SentInfo>, sentAt: number, now: number): void {
    this.onProven(path, now, sentAt, false);
  }

  private onProven(path: Path<SentInfo>, now: number, sentAt: number, response: boolean): void {
    const m = this.record(path);
    m.provenAt = now;
    m.provenSentAt = Math.max(m.provenSentAt ?? -Infinity, sentAt);
    m.retries = 0;
    if (response || now - m.healthAt >= 1000) {
      m.healthAt = now;
      this.host.health?.reportSuccess(path.local, path.remote, now);
    }
    if (path === this.activePath) {
      const s = this.suspicion;
      if (s && sentAt < s.suspectedAt) {
        // Only packets sent before the suspicion arrived (a receipt over another path, late
        // ACKs): the silence starts later than thought, and the packets sent since still count.
        s.since = this.silentSince();
        s.dead = false;
        this.judgeSuspicion(now);
        return;
      }
      this.activeFailedAt = undefined;
      this.exploring = undefined;
      this.pendingMove = undefined;
      this.suspicion = undefined;
      return;
    }
    if (!path.validated || path.remoteCid.length === 0) return;
    if (path.state === 'failed') {
      this.setPathState(path, 'standby');
      m.standbySince = now;
    }
    if (m.healthySince === undefined) {
      m.healthySince = now;
      m.moveBackAt = now + this.moveBackHold(path);
    }
    // The proof that confirms a move back (or a preferred path that never failed: no hold).
    if ((m.moveBackCheck || this.moveBackHold(path) === 0) && this.mayMoveBack(path, now)) {
      this.switchActive(path, 'preferred', now);
      return;
    }
    // The active path is silent for a PTO (suspected) or failed, and this path just proved it
    // carries what we sent after the active one went silent: move now. Waiting for the second,
    // backed-off PTO would triple the outage on a path whose RTT a full queue has inflated.
    // Likewise when the active path lost its validation (its re-check went unanswered): under
    // the 3× limit it may be unable to send even its challenge, and no PTO will ever fire.
    if (!this.mayMoveTo(path, sentAt, now)) return;
    // A late answer (slower than this path's PTO) may come from a peer that was itself stalled
    // (GC, a long batch, a busy CPU): that explains the active path's silence just as well, and
    // its ACKs there are then on their way. Give them the active path's round trip (plus the
    // peer's ACK delay) before moving; a late answer because the first one got lost (a one-way
    // path) moves only that much later.
    if (this.activePath.validated && now - sentAt > path.pto()) {
      const active = this.activePath;
      const grace = active.rtt.smoothedRtt + active.loss.maxAckDelay;
      if (this.pendingMove === undefined || this.pendingMove.path !== path)
        this.pendingMove = { path, sentAt, at: now + grace };
      return;
    }
    this.failover(path, 'unresponsive', now);
  }

  /** Whether proof that `path` carried what we sent at `sentAt` is reason to leave the active path. */
  private mayMoveTo(path: Path<SentInfo>, sentAt: number, now: number): boolean {
    const unproven = !this.activePath.validated;
    return (
      (this.activeFailedAt !== undefined || this.activeDead(now) || unproven) &&
      (unproven || sentAt >= this.moveEvidenceSince()) &&
      path !== this.activePath &&
      this.records.has(path.id) &&
      path.validated &&
      path.remoteCid.length > 0 &&
      path.state !== 'validating' &&
      path.state !== 'removed' &&
      this.isLocal(path.local) &&
      !sameAddresses(path, this.activePath.local, this.activePath.remote) &&
      !(this.isBackup(path) && this.preferredAvailable(now))
    );
  }

  /**
   * The kernel refused `datagrams` of ours from `local` to `remote` (no route yet, neighbour
   * unreachable): they reached nobody, so an unvalidated path there gets their anti-amplification
   * credit back, and its challenge goes on being resent until it times out. (A new address often
   * appears a few ms before its routes: three padded challenges refused in those ms spent the
   * whole credit, and the path failed 2.7 s later; lab roaming under load.) The shell does not
   * say which datagrams: each counts as one padded probe, the largest an unvalidated path sends.
   * True if some path got credit back.
   */
  onSendRefused(local: SocketAddress, remote: SocketAddress, datagrams: number): boolean {
    let refunded = false;
    for (const path of this.pathList) {
      if (path.validated || !sameAddresses(path, local, remote) || path.bytesOnWire === 0) continue;
      path.bytesRefused += Math.min(path.bytesOnWire, datagrams * PATH_PROBE_SIZE);
      refunded = true;
    }
    if (refunded) this.host.outbox.wake();
    return refunded;
  }

  /** A NEW_CONNECTION_ID arrived: a path waiting for a CID of its id can use it now. */
  onPeerCid(pathId: number, cid: Uint8Array, now: number): void {
    const waiting = this.byId(pathId);
    if (waiting && waiting.remoteCid.length === 0) waiting.remoteCid = cid;
    const pending = this.abandonPending;
    if (pending && this.byId(pending.pathId) === this.activePath) this.onPathAbandon(pending, now);
  }

  /** retire_prior_to retired peer CIDs of `pathId`: its path moves to the lowest one still held. */
  onPeerCidsRetired(pathId: number): void {
    const path = this.byId(pathId);
    if (!path || path.remoteCid.length === 0 || this.host.cids.holdsPeerCid(pathId, path.remoteCid)) return;
    path.remoteCid = this.host.cids.peerCidFor(pathId)?.cid ?? new Uint8Array(0);
  }

  /**
   * Moves sending to `path`. The old path keeps its number spaces (late packets and ACKs
   * still count) but its packets in flight are handed back for retransmission on the new
   * one: after a rebinding they went to an address that no longer reaches the peer.
   */
  private switchActive(
    path: Path<SentInfo>,
    reason: FailoverReason,
    now: number,
    oldState: 'standby' | 'failed' = 'standby',
  ): void {
    const old = this.activePath;
    if (old === path) return;
    this.activePath = path;
    const m = this.record(path);
    m.migrateOnValidation = undefined;
    m.standbySince = undefined;
    m.warm = false;
    m.warmAt = undefined;
    m.healthySince = undefined;
    m.moveBackAt = undefined;
    m.moveBackCheck = false;
    if (pairKey(path.local, path.remote) === this.leftPair?.key) this.leftPair = undefined;
    this.activeFailedAt = undefined;
    this.exploring = undefined;
    this.pendingMove = undefined;
    this.suspicion = undefined;
    // What the old path had in flight is resent on the new one, but remembered: the peer's ACKs
    // for the old path's number space, repeated on the new path, cancel the resending of what
    // did arrive, so only what was lost with the path goes again.
    for (const packet of old.loss.declareAllLost(now)) this.host.sent.onLost(packet.info.records);
    // ACKs sent on the old path may be lost with it: repeat them on the new one, at once (the
    // peer learns from them what it need not resend).
    for (const p of this.pathList) p.acks.repeatAck(now);
    const om = this.record(old);
    if (oldState === 'failed') {
      om.failedAt = now;
      this.noteFailedPair(old, now);
      om.healthySince = undefined;
      om.moveBackAt = undefined;
      this.setPathState(old, 'failed');
    } else {
      om.standbySince = now;
      // It worked until now; any move back to it still waits a full hold (no alternation).
      om.healthySince = now;
      om.moveBackAt = now + this.config.moveBackDelay;
      this.setPathState(old, 'standby');
    }
    if (this.isBackup(path)) {
      // Now on a backup: healthy preferred paths are candidates to move back to after a hold.
      for (const p of this.pathList) {
        const pm = this.record(p);
        if (p !== path && pm.healthySince !== undefined && pm.moveBackAt === undefined && !this.isBackup(p))
          pm.moveBackAt = now + this.config.moveBackDelay;
      }
    }
    if (path.state === 'active') this.host.outbox.emit({ type: 'path-updated', path: path.info() });
    else this.setPathState(path, 'active');
    this.host.outbox.emit({ type: 'failover', from: old.info(), to: path.info(), reason });
    this.host.onActiveChanged(now);
    this.ensureStandby(now);
  }

  /** The active path failed: move to `target`; the old path is `failed` (kept: the peer may still send on it). */
  private failover(target: Path<SentInfo>, reason: FailoverReason, now: number): void {
    const failed = this.activePath;
    // Dated from when it went silent: a success elsewhere since then shows which end broke.
    this.host.health?.reportFailure(failed.local, failed.remote, this.silentSince());
    this.leftPair = {
      key: pairKey(failed.local, failed.remote),
      srtt: failed.rtt.hasSample ? failed.rtt.smoothedRtt : undefined,
    };
    this.switchActive(target, reason, now, 'failed');
    this.retryLater(failed, now);
  }

  /**
   * Gives up a path id for good: tells the peer (PATH_ABANDON, unless the peer abandoned it),
   * retires the peer's CIDs for it so nothing links it to the next path, and resends what it
   * had in flight elsewhere.
   */
  private removePath(path: Path<SentInfo>, code: number, reason: string, now: number, notify = true): void {
    if (path === this.activePath) return;
    if (code !== PathAbandonCode.UNUSED && path.state !== 'failed') this.setPathState(path, 'failed');
    this.setPathState(path, 'removed');
    this.host.cids.retirePeerCids(path.id);
    for (const packet of path.loss.drainAll()) this.host.sent.onLost(packet.info.records);
    if (!path.validated) {
      const entry = this.unverified.get(addressKey(path.remote));
      if (entry) entry.spent += path.bytesOnWire;
    }
    this.pathList.splice(this.pathList.indexOf(path), 1);
    this.records.delete(path.id);
    this.removedIds.add(path.id);
    if (notify)
      this.host.outbox.queueControl({ type: 'path_abandon', pathId: path.id, errorCode: code, reason });
    this.host.outbox.wake();
    this.ensureStandby(now);
  }

  /**
   * The peer gave up a path id. If we were sending on it we move first: to the best proven
   * path, else to where the peer sends, else to any validated path, else to the same pair
   * under a fresh path id (the peer may have dropped only the id).
   */
  onPathAbandon(frame: PathAbandonFrame, now: number): void {
    // The peer used this path id, even if none of its packets reached us (it opened the path
    // over a dead link): keep CIDs issued ahead of it, or the peer runs out of path ids.
    this.host.cids.ensurePathIdWindow(frame.pathId);
    const path = this.byId(frame.pathId);
    if (!path) {
      if (!this.removedIds.has(frame.pathId)) {
        this.removedIds.add(frame.pathId);
        this.host.cids.retirePeerCids(frame.pathId);
      }
      return;
    }
    if (this.record(path).warm) this.standbyRetryAt = now + this.retryInterval();
    if (path === this.activePath) {
      const target = this.bestCandidate(now, 0) ?? this.peerPath(now) ?? this.reopen(path, now);
      if (!target) {
        // No CID for any other path id yet: keep going, and move as soon as one arrives.
        this.abandonPending = frame;
        return;
      }
      this.abandonPending = undefined;
      this.switchActive(target, 'abandoned', now);
    }
    this.removePath(path, frame.errorCode, frame.reason, now, false);
  }

  /** The validated path the peer sent its data on most recently (not the active one). */
  private peerPath(now: number): Path<SentInfo> | undefined {
    let best: Path<SentInfo> | undefined;
    for (const p of this.pathList) {
      const at = this.record(p).peerDataAt;
      if (p === this.activePath || at === undefined || p.remoteCid.length === 0 || !this.isLocal(p.local))
        continue;
      if (!best || at > (this.record(best).peerDataAt ?? -Infinity)) best = p;
    }
    return best &&
      (best.validated || now - (this.record(best).peerDataAt ?? -Infinity) < this.freshWindow(best))
      ? best
      : undefined;
  }

  /** The same address pair under a fresh path id of ours (validation carries over: nothing moved). */
  private reopen(path: Path<SentInfo>, now: number): Path<SentInfo> | undefined {
    const id = this.nextOwnPathId;
    const peerCid = this.host.cids.peerCidFor(id)?.cid;
    if (!peerCid || !this.isLocal(path.local)) return undefined;
    this.nextOwnPathId += 2;
    const fresh = this.addPath(id, path.local, path.remote, now, path.validated);
    fresh.remoteCid = peerCid;
    fresh.bytesReceived = path.bytesReceived;
    this.record(fresh).provenAt = this.record(path).provenAt;
    this.record(fresh).provenSentAt = this.record(path).provenSentAt;
    fresh.state = 'standby';
    this.host.outbox.emit({ type: 'path-updated', path: fresh.info() });
    return fresh;
  }

  /**
   * The path whose address pair the packet came from (for anti-amplification and
   * PATH_RESPONSE): the number space's own path, another path with that pair, or a new
   * path, challenged before it carries data (RFC 9000 §9.3, NAT rebinding or migration).
   * `undefined` when the packet must not be answered on its pair. Counts the packet.
   */
  receivingPath(
    space: Path<SentInfo>,
    local: SocketAddress,
    remote: SocketAddress,
    frames: Frame[],
    largest: boolean,
    now: number,
  ): Path<SentInfo> | undefined {
    const data = largest && !isProbingOnly(frames);
    if (data) this.record(space).spaceDataAt = now;
    const via = this.locate(space, local, remote, data, now);
    if (via) this.record(via).pairHeardAt = now;
    if (via && data) {
      const m = this.record(via);
      // A stretch of data after a quiet spell: the peer started sending here. The tail of
      // a path the peer just left (slower, so its last packets arrive after the first ones
      // on the new path) is not a start.
      m.peerDataStarted = m.peerDataAt === undefined || now - m.peerDataAt > via.pto();
      m.peerDataAt = now;
    }
    return via;
  }

  private locate(
    space: Path<SentInfo>,
    local: SocketAddress,
    remote: SocketAddress,
    data: boolean,
    now: number,
  ): Path<SentInfo> | undefined {
    if (sameAddresses(space, local, remote)) return space;
    let via = this.byAddresses(local, remote);
    if (!via) {
      if (this.atPathCaps()) {
        this.host.outbox.drop('path-cap');
        return undefined;
      }
      via = this.openOwnPath(local, remote, now);
      if (!via) {
        // No CID for a new path id yet (early in the session): move this path in place,
        // RFC 9000 style, and validate the new address before trusting it. Not onto another of
        // a client's own addresses: which local address it sends from is the client's choice
        // (after a resumption whose RESUME reached the server on two pairs, the server may
        // answer on the one the client did not pick); its packets lead the server to its pair.
        if (!data || (this.host.role === 'client' && !sameAddress(local, space.local))) return undefined;
        this.rebindInPlace(space, local, remote, now);
        return space;
      }
    }
    const m = this.record(via);
    m.lastReceivedAt = now;
    // A new pair for the number space of the path we send on: the peer's address changed.
    // When packets go on several paths, another path's new pair is just one more path.
    if (data && !via.validated && (!this.host.policy.spreads || space === this.activePath))
      m.migrateOnValidation = 'migration';
    return via;
  }

  /** MAX_PENDING_VALIDATIONS paths are being validated, or MAX_PATHS are held. */
  private atPathCaps(): boolean {
    if (this.pathList.length >= MAX_PATHS) return true;
    let pending = 0;
    for (const path of this.pathList) if (!path.validated && path.state !== 'failed') pending++;
    return pending >= MAX_PENDING_VALIDATIONS;
  }

  private rebindInPlace(
    path: Path<SentInfo>,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
  ): void {
    path.local = local;
    path.remote = remote;
    path.validated = false;
    // Anti-amplification restarts for the new address: what the old one sent and received
    // says nothing about it.
    path.bytesSent = 0;
    path.bytesRefused = 0;
    path.bytesReceived = 0;
    const wasActive = path === this.activePath;
    this.startChallenge(path, now);
    if (wasActive) path.state = 'active';
    this.host.outbox.emit({ type: 'path-updated', path: path.info() });
  }

  /**
   * After the frames of a packet were handled: the peer started sending its data on another
   * validated path, so it has moved there (its path failed, its address changed, it followed
   * a NAT rebinding); follow it — unless our own sending there failed lately: then the
   * directions differ (a one-way path) and each side keeps the one that works for it.
   */
  afterPacket(
    via: Path<SentInfo> | undefined,
    frames: Frame[],
    largest: boolean,
    now: number,
    newData = false,
  ): void {
    if (via !== undefined && frames.some((f) => f.type === 'stream')) {
      const r = this.records.get(via.id);
      if (r !== undefined) r.peerStreamAt = now;
      if (r !== undefined && newData) r.peerNewDataAt = now;
    }
    if (via === undefined || via === this.activePath || !largest || isProbingOnly(frames)) return;
    const m = this.records.get(via.id);
    if (m === undefined) return; // the packet itself abandoned the path it came on
    if (!m.peerDataStarted) return;
    m.peerDataStarted = false;
    if (via.remoteCid.length === 0 || !this.isLocal(via.local) || via.state === 'failed') return;
    // When packets go on several paths the peer sending on another one is no move, unless it
    // has the active path's very addresses (the peer renumbered it, e.g. after a PATH_ABANDON).
    if (this.host.policy.spreads && !sameAddresses(via, this.activePath.local, this.activePath.remote))
      return;
    // Not validated from our side yet (a pair the peer just opened): move once it is.
    if (!via.validated) {
      if (m.challenge !== undefined) m.migrateOnValidation ??= 'peer-moved';
      return;
    }
    // Not onto a backup while our preferred path works: the peer's data there may be the tail of
    // what it sent before it moved too (both ends move back on their own), and if the peer's
    // side failed our own detector will tell.
    if (this.isBackup(via) && !this.isBackup(this.activePath) && this.activeWorks()) return;
    // A server opens a path id only for a client address pair it has not seen (locate): one on
    // our very pair means it saw our address change (our NAT rebound). The same provider under a
    // new 4-tuple at the server's end, not a move to another path.
    const rebound =
      this.host.role === 'client' &&
      via.id > 0 &&
      via.id % 2 === 0 &&
      sameAddresses(via, this.activePath.local, this.activePath.remote);
    this.switchActive(via, rebound ? 'migration' : 'peer-moved', now);
  }

  // ───────────────────────────── timers ─────────────────────────────

  /** Earliest validation / lifetime / standby / exploration timer of any path. */
  deadline(): number {
    let at = Math.min(
      this.standbyRetryAt ?? Infinity,
      this.exploring?.nextAt ?? Infinity,
      this.pendingMove?.at ?? Infinity,
      this.suspicion?.nextProbeAt ?? Infinity,
      this.suspicion?.deadAt ?? Infinity,
    );
    for (const path of this.pathList) at = Math.min(at, this.pathTimer(path));
    return at;
  }

  private pathTimer(path: Path<SentInfo>): number {
    const m = this.record(path);
    let at = Math.min(m.challengeFailAt ?? Infinity, m.challengeResendAt ?? Infinity);
    if (m.challenge === undefined && m.validatedAt !== undefined)
      at = Math.min(at, m.validatedAt + this.config.pathValidationLifetime);
    if (path !== this.activePath) {
      at = Math.min(at, this.expiry(path, m));
      if (m.warmAt !== undefined && m.challenge === undefined) at = Math.min(at, m.warmAt);
      if (m.moveBackAt !== undefined) at = Math.min(at, m.moveBackAt);
    }
    return at;
  }

  /**
   * When a path we do not send on is given up. A standby: after 3 PTOs (or 3 of its check
   * intervals, over which its opener re-challenges it) in which nothing arrived in its number
   * space or from its pair; our own warm standby is kept. A failed path, the warm standby
   * included: `failedPathLifetime` after it failed, or after the peer last sent its data (ACKs,
   * PINGs, stream data) on its pair or in its number space, whichever is later — the peer
   * still using it (its working direction of a one-way path) keeps it; probes do not (after a
   * NAT rebinding the peer's re-checks would keep the dead 4-tuple listed forever).
   */
  private expiry(path: Path<SentInfo>, m: PathRecord): number {
    if (path.state === 'failed')
      return (
        Math.max(m.failedAt ?? m.lastReceivedAt, m.peerDataAt ?? -Infinity, m.spaceDataAt ?? -Infinity) +
        this.failedPathLifetime(path)
      );
    if (m.warm || path.state !== 'standby') return Infinity;
    return (
      Math.max(m.lastReceivedAt, m.standbySince ?? -Infinity) +
      3 * Math.max(this.activePath.pto(), path.pto(), this.standbyCheckInterval())
    );
  }

  /**
   * How long a failed path is kept for its re-checks to find it working again: 3 × max(keepalive
   * interval, PTO) — 3 s with the defaults, 3 minutes with LOW_POWER_TRANSPORT. A failed warm standby
   * then makes way for a new one (the same pair again, under a new path id, if it is still the
   * best), so the list of paths stays bounded however many 4-tuples a NAT burns.
   */
  private failedPathLifetime(path: Path<SentInfo>): number {
    return 3 * Math.max(this.activePath.pto(), path.pto(), this.config.keepaliveInterval);
  }

  /** Proof older than this no longer counts (ms): two keepalive intervals (one missed check) and a PTO. */
  private freshWindow(path: Path<SentInfo>): number {
    return Math.max(2 * this.config.keepaliveInterval, 3 * path.pto()) + path.pto();
  }

  onTimeout(now: number): void {
    for (const path of [...this.pathList]) {
      if (!this.records.has(path.id)) continue; // removed while handling an earlier path
      const m = this.record(path);
      if (m.challengeFailAt !== undefined && now >= m.challengeFailAt) {
        this.onChallengeTimeout(path, now);
        continue;
      }
      if (m.challengeResendAt !== undefined && now >= m.challengeResendAt) {
        m.challengeResendAt = undefined;
        if (m.challenge) {
          m.challengeDue = true;
          this.host.outbox.wake();
        }
      }
      if (
        m.challenge === undefined &&
        m.validatedAt !== undefined &&
        now >= m.validatedAt + this.config.pathValidationLifetime
      ) {
        if (path.validated && (m.provenAt ?? -Infinity) > m.validatedAt) {
          // An ACK of a packet sent there since proves it as well as a challenge would: an idle
          // session's keepalives renew it without a challenge and response of their own.
          m.validatedAt = m.provenAt;
        } else {
          // Validation expired: prove the peer still receives there (the path stays usable meanwhile).
          m.validatedAt = undefined;
          this.startChallenge(path, now);
        }
      }
      if (path === this.activePath) continue;
      if (now >= this.expiry(path, m)) {
        const unresponsive = path.state === 'failed';
        this.removePath(
          path,
          unresponsive ? PathAbandonCode.UNRESPONSIVE : PathAbandonCode.UNUSED,
          unresponsive ? 'unresponsive' : 'unused',
          now,
        );
        continue;
      }
      if (m.moveBackAt !== undefined && now >= m.moveBackAt) this.onMoveBackTimeout(path, now);
      if (m.challenge === undefined && m.warmAt !== undefined && now >= m.warmAt) {
        m.warmAt = undefined;
        // The warm standby's check, or a failed path's retry: one small probe per interval until it answers.
        // A healthy standby gets one check per interval; a failed path a retransmitted
        // challenge, so that the peer sees the repetition and answers over every path.
        const keepalive = m.warm && path.state !== 'failed' && this.config.keepaliveInterval > 0;
        this.startChallenge(path, now, keepalive);
      }
    }
    this.onSuspicionTimeout(now);
    const pending = this.pendingMove;
    if (pending !== undefined && now >= pending.at) {
      this.pendingMove = undefined;
      if (this.mayMoveTo(pending.path, pending.sentAt, now)) this.failover(pending.path, 'unresponsive', now);
    }
    const exploring = this.exploring;
    if (exploring?.nextAt !== undefined && now >= exploring.nextAt) this.exploreNext(now);
    if (this.standbyRetryAt !== undefined && now >= this.standbyRetryAt) this.ensureStandby(now);
  }

  private onChallengeTimeout(path: Path<SentInfo>, now: number): void {
    const m = this.record(path);
    const keepalive = m.keepaliveChallenge;
    path.cancelValidation();
    m.challengeDue = false;
    m.challengeResendAt = undefined;
    m.challengeFailAt = undefined;
    // An ACK of a packet sent after the challenge proves the pair as well (it was validated
    // before): the answer alone got lost, e.g. on a path that works one way only.
    if (path.validated && (m.provenAt ?? -Infinity) > (m.challengeSentAt ?? Infinity)) {
      m.misses = 0;
      if (m.warm) m.warmAt = now;
      return;
    }
    if (path === this.activePath) {
      // The active path stopped answering revalidation: it is no longer trusted with more than
      // 3× what it delivers (there is nowhere else to go yet), and is challenged again.
      path.validated = false;
      this.startChallenge(path, now);
      path.state = 'active';
      return;
    }
    if (keepalive) {
      this.noteUnhealthy(m);
      // One check per keepalive interval; after STANDBY_MISSES in a row the standby is failed
      // (no failover target) until a check is answered again.
      if (++m.misses >= STANDBY_MISSES) this.markFailed(path, now);
      else m.warmAt = now;
      return;
    }
    if (m.validatedAt === undefined && !path.validated) {
      // Never validated. If the peer sends in its number space, keep it (we only cannot send there).
      if (m.spaceDataAt !== undefined && now - m.spaceDataAt < this.freshWindow(path)) {
        this.markFailed(path, now);
        return;
      }
      if (m.warm) {
        // Towards a pair the session would move back to, a fixed MOVE_BACK_RETRY_DOUBLINGS.
        const doublings = this.ranksAboveActive(path)
          ? MOVE_BACK_RETRY_DOUBLINGS
          : Math.min(this.standbyFailures++, MAX_BACKOFF_DOUBLINGS);
        this.standbyRetryAt = now + this.retryInterval() * 2 ** doublings;
      }
      this.removePath(path, PathAbandonCode.VALIDATION_FAILED, 'no PATH_RESPONSE', now);
      return;
    }
    this.markFailed(path, now);
    this.retryLater(path, now);
  }

  private markFailed(path: Path<SentInfo>, now: number): void {
    const m = this.record(path);
    if (path.state === 'failed') return;
    m.failedAt = now;
    m.standbySince = undefined;
    this.noteUnhealthy(m);
    this.noteFailedPair(path, now);
    if (m.validatedAt !== undefined)
      this.host.health?.reportFailure(path.local, path.remote, Math.min(now, m.challengeSentAt ?? now));
    this.setPathState(path, 'failed');
    this.retryLater(path, now);
  }

  /**
   * A failed path we may send on again is re-checked later, each retry twice as late as the
   * last (up to 2^MAX_BACKOFF_DOUBLINGS retry intervals): a dead pair costs a few small packets
   * a minute, and exploration re-checks it at once anyway when the active path falters.
   */
  private retryLater(path: Path<SentInfo>, now: number): void {
    const m = this.record(path);
    if (!path.validated || m.challenge !== undefined || m.warmAt !== undefined) return;
    const doublings = this.ranksAboveActive(path)
      ? MOVE_BACK_RETRY_DOUBLINGS
      : Math.min(m.retries, MAX_BACKOFF_DOUBLINGS);
    m.warmAt = now + this.retryInterval() * 2 ** doublings;
    m.retries++;
  }

  /**
   * After loss detection ran. The first PTO on the active path makes us suspect it: other
   * pairs are probed (exploration). After FAILOVER_PTO_COUNT the active path has failed: we
   * move to the best path proven lately, or, if there is none, to the first one proven next.
   */
  afterLossDetection(now: number): void {
    if (this.host.policy.spreads) this.failSilentStandbys(now);
    const ptos = this.activePath.loss.ptoCount;
    if (!this.host.session.handshakeConfirmed) return;
    if (ptos > 0 && !this.suspicion && !this.host.policy.spreads) this.suspect(now);
    if (ptos === 0 && !this.suspicion) return;
    // Another path carried our packets since the active one last did: it works, this one is
    // silent — and dead, not just lossy, once its probes went unanswered too.
    const since = this.silentSince();
    const proven = this.activeDead(now) ? this.bestCandidate(now, 4, this.moveEvidenceSince()) : undefined;
    if (proven) {
      this.failover(proven, 'unresponsive', now);
      return;
    }
    if (!this.exploring) this.explore(now);
    else if (ptos > this.exploring.ptoCount) {
      // Still silent: re-check the other paths whose last check ended unanswered.
      this.exploring.ptoCount = ptos;
      this.recheckOthers(now);
    }
    if (ptos < FAILOVER_PTO_COUNT || this.activeFailedAt !== undefined || !this.activeDead(now)) return;
    if (now - since < UNPROVEN_FAILOVER_SILENCE) return;
    this.activeFailedAt = now;
    const target = this.bestCandidate(now, 1);
    if (target) this.failover(target, 'unresponsive', now);
  }

  /**
   * The active path's PTO fired: suspect it. It is dead once SUSPICION_PROBES ack-eliciting
   * packets sent on it since it went silent have each had a probe timeout to be answered, and
   * none was. Under load those are the packets already in flight, so the verdict comes at the
   * PTO; when idle, small probes (the PTO's own first) go out one every eighth of its smoothed
   * RTT, so a burst of random loss that swallowed a few packets is told apart from a dead path
   * within about two round trips. An ACK of any packet sent since the suspicion began, on any
   * path, clears it; an ACK of older ones only moves the start of the silence.
   */
  private suspect(now: number): void {
    this.suspicion = {
      suspectedAt: now,
      since: this.silentSince(),
      nextProbeAt: undefined,
      deadAt: undefined,
      dead: false,
      receiptsFrom: Infinity,
      deferrals: 0,
      pto: this.activePath.pto(),
      ackDelay: this.activePath.loss.maxAckDelay,
    };
    this.repeatAcks(now);
    this.judgeSuspicion(now, 1);
    // Ask for a receipt over the other paths too, proven lately or not: the answer to a
    // challenge repeats the peer's ACK ranges of every path, so when only the active path's
    // ACKs are being lost its packets are seen to arrive, and it is not left.
    for (const p of this.pathList) {
      if (p === this.activePath || !p.validated || p.remoteCid.length === 0 || !this.isLocal(p.local))
        continue;
      if (p.state === 'failed' || this.record(p).challenge !== undefined) continue;
      this.startChallenge(p, now);
    }
  }

  /**
   * Our probes on a suspected path repeat the ACK ranges of every space: the peer's silence may
   * be its own suspicion of us, because the ACKs we sent were lost in the same burst, and an ACK
   * frame goes out only when something new arrived. Without the repeat the peer's data, which
   * did arrive, looks lost to it, and it leaves a working path.
   */
  private repeatAcks(now: number): void {
    for (const p of this.pathList) p.acks.repeatAck(now);
  }

  private suspicionSpacing(): number {
    return Math.max(2, this.activePath.rtt.smoothedRtt / 8);
  }

  /**
   * Counts the evidence: the ack-eliciting packets sent on the active path since it went silent
   * (`owed` more are about to go out now). Enough of them: the verdict is due when the last one
   * needed has had its probe timeout. Too few: one more probe after a spacing.
   */
  private judgeSuspicion(now: number, owed = 0): void {
    const s = this.suspicion;
    if (!s) return;
    const active = this.activePath;
    const sent = active.loss.oldestUnacked(SUSPICION_PROBES, (p) => p.timeSent >= s.since);
    if (sent.length + owed >= SUSPICION_PROBES) {
      s.nextProbeAt = undefined;
      const last = sent.length >= SUSPICION_PROBES ? sent[SUSPICION_PROBES - 1].timeSent : now;
      // Its round trip and variation, without the peer's ACK delay: the last counted packet has
      // reached a peer that is there by then, however late the ACK would come.
      s.receiptsFrom = last + s.pto - s.ackDelay;
      // Already past (a loaded path at its PTO, which fired on time): dead now.
      if (last + s.pto <= now) this.declareDead(now);
      else s.deadAt = last + s.pto;
      return;
    }
    s.deadAt = undefined;
    s.nextProbeAt = now + this.suspicionSpacing();
  }

  private onSuspicionTimeout(now: number): void {
    const s = this.suspicion;
    if (!s || s.dead) return;
    if (s.nextProbeAt !== undefined && now >= s.nextProbeAt) {
      // However late this fires, the probe counts only once its own answer time has passed.
      this.repeatAcks(now);
      this.host.probeActive();
      this.judgeSuspicion(now, 1);
    } else if (s.deadAt !== undefined && now >= s.deadAt) {
      if (now - s.deadAt > Math.max(LATE_TIMER_SLACK, this.activePath.pto() / 4)) {
        // A verdict this late shows the host ran nothing meanwhile (answers may wait unread in
        // the socket): one more probe, and one more probe timeout to read the answers.
        s.deadAt = now + this.activePath.pto();
        this.repeatAcks(now);
        this.host.probeActive();
        return;
      }
      s.deadAt = undefined;
      this.declareDead(now);
    }
  }

  /**
   * The active path's evidence is complete. A receipt asked for over another path before our last
   * counted packets could reach the peer may have left the peer before they did (the active path
   * is the slower one, or its ACKs are what was lost): ask again, so the answer's ACK ranges show
   * whether they arrived. Only a receipt asked for once they had arrived may move the session
   * (see moveEvidenceSince); one already under way that was asked late enough is awaited, not
   * replaced: under load the suspicion's own challenges qualify, so a blackhole costs the verdict
   * and one standby round trip from the suspicion, not a second round trip from the verdict.
   */
  private declareDead(now: number): void {
    const s = this.suspicion;
    if (!s) return;
    if (
      (this.record(this.activePath).peerNewDataAt ?? -Infinity) > s.suspectedAt &&
      s.deferrals < MAX_VERDICT_DEFERRALS
    ) {
      // New stream data from the peer still arrives on the active pair: its window let it send
      // more, so it hears from us, and a loss burst that swallowed our probes (or their ACKs)
      // is likelier than a dead path. More probes and one more probe timeout. A peer that hears
      // nothing from us soon sends only its PTO probes (old data) and ACKs, which defer nothing;
      // one that hears us over another path keeps sending, so the deferrals are bounded.
      s.deferrals++;
      s.deadAt = now + s.pto;
      this.repeatAcks(now);
      this.host.probeActive(DEFERRAL_PROBES);
      return;
    }
    s.dead = true;
    // A deferral may have set a verdict time still ahead; the verdict is given, so no timer waits
    // for it (onSuspicionTimeout ignores a dead suspicion, and a stale deadline would never move).
    s.deadAt = undefined;
    s.receiptsFrom = Math.min(s.receiptsFrom, now);
    for (const p of this.pathList) {
      if (p === this.activePath || !p.validated || p.remoteCid.length === 0 || !this.isLocal(p.local))
        continue;
      const m = this.record(p);
      // A challenge not sent yet, or sent late enough, asks late enough.
      if (p.state === 'failed' || (m.challenge !== undefined && (m.challengeSentAt ?? now) >= s.receiptsFrom))
        continue;
      this.startChallenge(p, now);
    }
  }

  /**
   * The send time from which proof of another path may move the session: after the active path
   * went silent, and, once it is judged dead, after its counted packets had reached the peer
   * (declareDead).
   */
  private moveEvidenceSince(): number {
    const since = this.silentSince();
    const s = this.suspicion;
    return s?.dead ? Math.max(since, s.receiptsFrom) : since;
  }

  /** The active path is validated, not under suspicion, and nothing failed it. */
  private activeWorks(): boolean {
    return this.activePath.validated && this.suspicion === undefined && this.activeFailedAt === undefined;
  }

  /** The suspected active path's probes all went unanswered (see suspect). */
  private activeDead(now: number): boolean {
    const s = this.suspicion;
    if (s && !s.dead && s.deadAt !== undefined && now >= s.deadAt) this.onSuspicionTimeout(now);
    if (this.host.policy.spreads) return this.activePath.loss.ptoCount >= this.spreadDeadPtoCount();
    return this.suspicion?.dead === true;
  }

  /**
   * Under a policy that spreads packets, the PTOs in a row after which the active path counts as
   * dead: one, or HEARD_PATH_PTO_COUNT while the peer's stream data keeps arriving on its pair
   * since ours went unanswered. Each path carries its own ACKs, so the ACKs of a receiver's few
   * packets wait behind the sender's data in the same queue: when the sender's start-up fills a
   * bloated queue, that wait outgrows a PTO computed from the RTT before, while the data flows.
   * The peer keeps sending data there only while our ACKs reach it, so our direction works too;
   * a peer that hears nothing from us there stops (it sends ACKs and probes at most).
   */
  private spreadDeadPtoCount(): number {
    const heard = (this.record(this.activePath).peerStreamAt ?? -Infinity) > this.silentSince();
    return heard ? HEARD_PATH_PTO_COUNT : 1;
  }

  /**
   * Several paths carry data: a standby with FAILOVER_PTO_COUNT PTOs in a row is failed (it
   * carries only its probes until an ACK comes back, see onProven). It is not abandoned on that
   * alone: the peer may still send on it, and the expiry rules apply as to any failed path.
   */
  private failSilentStandbys(now: number): void {
    for (const p of this.pathList)
      if (p !== this.activePath && p.state === 'standby' && p.loss.ptoCount >= FAILOVER_PTO_COUNT)
        this.markFailed(p, now);
  }

  /**
   * Suspicion: re-check every other validated path (one small challenge each, answered over
   * whatever works), and (client) probe new address pairs, best first, one every half PTO.
   */
  private explore(now: number): void {
    const exploring: Exploration = { queue: [], nextAt: undefined, ptoCount: this.activePath.loss.ptoCount };
    this.exploring = exploring;
    this.recheckOthers(now);
    if (this.host.role !== 'client') return;
    exploring.queue = this.candidatePairs(now).slice(0, MAX_EXPLORED_PAIRS);
    this.exploreNext(now);
  }

  /**
   * Since when (a send time) the active path has been silent: the oldest of our packets on it
   * still unacknowledged left then; anything sent before the last acknowledged one was heard.
   */
  private silentSince(): number {
    const active = this.activePath;
    const [oldest] = active.loss.oldestUnacked(1);
    return Math.max(oldest?.timeSent ?? -Infinity, this.record(active).provenSentAt ?? -Infinity);
  }

  /** One challenge on every other validated path not proven since the active one went silent. */
  private recheckOthers(now: number): void {
    // Proof from before the active path went silent says nothing about now.
    const silentSince = this.silentSince();
    for (const p of this.pathList) {
      const m = this.record(p);
      if (p === this.activePath || !p.validated || p.remoteCid.length === 0 || m.challenge !== undefined)
        continue;
      if (!this.isLocal(p.local) || (m.provenSentAt ?? -Infinity) >= silentSince) continue;
      this.startChallenge(p, now);
    }
  }

  private exploreNext(now: number): void {
    const exploring = this.exploring;
    if (!exploring) return;
    exploring.nextAt = undefined;
    // A pair that works was found (the move waits only for the verdict on the active path).
    if (!this.host.policy.spreads && this.bestCandidate(now, 4, this.silentSince())) return;
    while (exploring.queue.length > 0) {
      const [local, remote] = exploring.queue.shift()!;
      if (this.byAddresses(local, remote)) continue;
      if (!this.openOwnPath(local, remote, now, this.unvalidatedCredit(remote, now))) continue;
      if (exploring.queue.length === 0) return;
      // A pair with an end other sessions saw fail waits a whole PTO: the better pair just
      // probed has answered by then, and the session moves without touching the blamed end.
      const [nextLocal, nextRemote] = exploring.queue[0];
      const pause = this.pairBlamed(nextLocal, nextRemote, now) ? 1 : 0.5;
      exploring.nextAt = now + Math.max(this.activePath.pto() * pause, 10);
      return;
    }
  }

  /**
   * A failover target: a validated path (not the active one) we may send on. Tiers: 4 = our
   * sending there was proven lately (ACK or PATH_RESPONSE), 3 = the peer moved its data there
   * since the active path last heard from it, 2 = the peer keeps it warm (challenges it),
   * 1 = our warm standby, validated and not failed. Within a tier the pair most different from the
   * active one wins (health-aware, see pairRank).
   */
  private bestCandidate(now: number, minTier: number, provenAfter = -Infinity): Path<SentInfo> | undefined {
    let best: Path<SentInfo> | undefined;
    let bestScore = -Infinity;
    const active = this.activePath;
    const backupsWait = this.preferredAvailable(now);
    for (const p of this.pathList) {
      if (!this.isFailoverCandidate(p, now) || (backupsWait && this.isBackup(p))) continue;
      const m = this.record(p);
      const window = this.freshWindow(p);
      let tier = 0;
      if (m.provenAt !== undefined && now - m.provenAt <= window && m.provenAt > (m.failedAt ?? -Infinity))
        tier = 4;
      else if (
        m.peerDataAt !== undefined &&
        m.peerDataAt > this.record(active).lastReceivedAt &&
        now - m.peerDataAt <= window
      )
        tier = 3;
      else if (m.challengedAt !== undefined && now - m.challengedAt <= window) tier = 2;
      else if (m.warm) tier = 1;
      if (tier < minTier || (tier === 4 && (m.provenSentAt ?? -Infinity) < provenAfter)) continue;
      const score = tier * 100 + this.pairRank(p.local, p.remote, now);
      if (score > bestScore) {
        best = p;
        bestScore = score;
      }
    }
    return best;
  }

  /**
   * A path the session could move to now: validated, not the active one or its pair, with a CID
   * and a local address we still have, and not re-checked in vain since the active path went silent.
   */
  private isFailoverCandidate(p: Path<SentInfo>, now: number): boolean {
    const active = this.activePath;
    if (p === active || !p.validated || p.remoteCid.length === 0 || !this.isLocal(p.local)) return false;
    if (p.state !== 'standby' && p.state !== 'validating') return false;
    if (sameAddresses(p, active.local, active.remote)) return false;
    const m = this.record(p);
    // Re-checked since the active path went silent and no answer by now: as dead as the active one.
    return !(
      m.challenge !== undefined &&
      m.challengeSentAt !== undefined &&
      now - m.challengeSentAt > this.probeInterval(p)
    );
  }

  // ───────────────────────────── preference and move-back ─────────────────────────────

  /**
   * A backup path (MPTCP's backup flag): our local address on it is in transport.backupAddresses,
   * or the peer advertised its remote address as a backup (ADD_ADDRESS flag, protocol.md §11.2).
   */
  isBackup(path: Path<SentInfo>): boolean {
    return this.isBackupPair(path.local, path.remote);
  }

  private isBackupPair(local: SocketAddress, remote: SocketAddress): boolean {
    if (this.ownBackups.size === 0 && this.peerBackups === 0) return false;
    if (this.ownBackups.has(local.address)) return true;
    const entry = this.peerAddresses.get(addressKey(remote));
    return entry?.present === true && entry.backup;
  }

  /** Another path than the active one that is not a backup could carry the traffic: backups wait. */
  private preferredAvailable(now: number): boolean {
    if (this.ownBackups.size === 0 && this.peerBackups === 0) return true;
    for (const p of this.pathList) if (!this.isBackup(p) && this.isFailoverCandidate(p, now)) return true;
    return false;
  }

  /** The session would move back to `path` once it is healthy long enough (see mayMoveBack). */
  private ranksAboveActive(path: Path<SentInfo>): boolean {
    if (this.isBackup(path)) return false;
    return this.isBackup(this.activePath) || pairKey(path.local, path.remote) === this.leftPair?.key;
  }

  /**
   * How long a path must have answered every check before a move back to it: none if neither it
   * nor an earlier path on its pair ever failed.
   */
  private moveBackHold(path: Path<SentInfo>): number {
    const m = this.record(path);
    return m.failedAt === undefined && !this.failedPairs.has(pairKey(path.local, path.remote))
      ? 0
      : this.config.moveBackDelay;
  }

  private noteFailedPair(path: Path<SentInfo>, now: number): void {
    const key = pairKey(path.local, path.remote);
    this.failedPairs.delete(key);
    this.failedPairs.set(key, now);
    if (this.failedPairs.size > MAX_VALIDATED_PAIRS)
      this.failedPairs.delete(this.failedPairs.keys().next().value as string);
  }

  /**
   * Whether to move back to `path` now (under 'failover'; under the other policies only off a
   * backup): it is a failover candidate, answered every check for its hold, is no backup, and
   * ranks above the active path — the active path is a backup, or (no preference between them)
   * a failure left `path` and its smoothed RTT is clearly lower (MOVE_BACK_RTT_SHARE,
   * MOVE_BACK_RTT_GAIN).
   */
  private mayMoveBack(path: Path<SentInfo>, now: number): boolean {
    const active = this.activePath;
    // Paths that carry data side by side never trade places, except to leave a backup.
    if ((this.host.policy.spreads && !this.isBackup(active)) || !this.host.session.handshakeConfirmed)
      return false;
    const m = this.record(path);
    if (path.state !== 'standby' || !this.isFailoverCandidate(path, now) || this.isBackup(path)) return false;
    if (m.healthySince === undefined || now - m.healthySince < this.moveBackHold(path)) return false;
    if (this.isBackup(active)) return true;
    const left = this.leftPair;
    if (left === undefined || pairKey(path.local, path.remote) !== left.key) return false;
    // The pair reopened under a new path id may have no RTT sample yet: its RTT before the failure.
    const rtt = path.rtt.hasSample ? path.rtt.smoothedRtt : left.srtt;
    if (rtt === undefined || !active.rtt.hasSample) return false;
    const activeRtt = active.rtt.smoothedRtt;
    return rtt <= MOVE_BACK_RTT_SHARE * activeRtt && activeRtt - rtt >= MOVE_BACK_RTT_GAIN;
  }

  /**
   * `path`'s hold ended: if the session should move back to it, one more challenge confirms it
   * right before the move (onProven moves on its answer). If it does not rank above the active
   * path, the session stays where it is and does not try again (no alternation).
   */
  private onMoveBackTimeout(path: Path<SentInfo>, now: number): void {
    const m = this.record(path);
    m.moveBackAt = undefined;
    if (this.mayMoveBack(path, now)) {
      m.moveBackCheck = true;
      if (m.challenge === undefined) this.startChallenge(path, now);
    } else if (!this.isBackup(this.activePath) && pairKey(path.local, path.remote) === this.leftPair?.key) {
      this.leftPair = undefined;
    }
  }

  /** A check of the path went unanswered, or it failed: its health (for a move back) starts again. */
  private noteUnhealthy(m: PathRecord): void {
    m.healthySince = undefined;
    m.moveBackAt = undefined;
    m.moveBackCheck = false;
  }

  /**
   * How promising a pair is as the next one to try, relative to the active (failing) pair:
   * the pair most different from it first; a different local address counts most (our side
   * fails more often), unless other sessions of this endpoint show the remote address failed.
   * Pairs with an end that other sessions saw fail come last.
   */
  private pairRank(local: SocketAddress, remote: SocketAddress, now: number): number {
    const a = this.activePath;
    const health = this.host.health;
    const remoteDown = health?.remoteSuspect(a.remote, now) === true;
    // Another address of the same family is most likely another interface; one of the other
    // family is often the same dual-stack link (it dies with it), so it counts less.
    const localDiff =
      addressKey(local) === addressKey(a.local) ? 0 : local.family === a.local.family ? 1 : 0.5;
    const remoteDiff = addressKey(remote) !== addressKey(a.remote) ? 1 : 0;
    let rank = remoteDown ? 2 * remoteDiff + localDiff : 2 * localDiff + remoteDiff;
    // A backup pair comes after every preferred one (a blamed pair still comes last).
    if (this.isBackupPair(local, remote)) rank -= 3;
    if (this.pairBlamed(local, remote, now)) rank -= 4;
    return rank;
  }

  /** Other sessions of the endpoint saw an end of this pair fail. */
  private pairBlamed(local: SocketAddress, remote: SocketAddress, now: number): boolean {
    const health = this.host.health;
    return health !== undefined && (health.remoteSuspect(remote, now) || health.localSuspect(local, now));
  }

  /**
   * Address pairs (same family) with no path yet, best first. Remote addresses that spent
   * their budget for unvalidated traffic are left out until it refreshes (`budgetRefreshAt`).
   */
  private candidatePairs(now: number): Pair[] {
    const active = this.activePath;
    const locals = this.localAddresses ?? [active.local];
    const remotes = new Map<string, SocketAddress>([[addressKey(active.remote), active.remote]]);
    for (const [key, entry] of this.peerAddresses) if (entry.present) remotes.set(key, entry.address);
    this.budgetRefreshAt = undefined;
    for (const [key, remote] of remotes) {
      if (this.unvalidatedCredit(remote, now) >= MIN_PROBE_CREDIT) continue;
      remotes.delete(key);
      const refresh = (this.unverified.get(key)?.since ?? now) + UNVERIFIED_REFRESH;
      this.budgetRefreshAt = Math.min(this.budgetRefreshAt ?? Infinity, refresh);
    }
    const pairs: Array<{ pair: Pair; rank: number }> = [];
    for (const local of locals) {
      for (const remote of remotes.values()) {
        if (local.family !== remote.family || this.byAddresses(local, remote)) continue;
        if (sameAddress(local, active.local) && sameAddress(remote, active.remote)) continue;
        pairs.push({ pair: [local, remote], rank: this.pairRank(local, remote, now) });
      }
    }
    pairs.sort((x, y) => y.rank - x.rank);
    return pairs.map((p) => p.pair);
  }

  // ───────────────────────────── addresses and the standby ─────────────────────────────

  private isLocal(address: SocketAddress): boolean {
    if (this.localAddresses === undefined) return true; // no set given: whatever we use is ours
    for (const a of this.localAddresses) if (sameAddress(a, address)) return true;
    return false;
  }

  /**
   * The endpoint's current local addresses (see Endpoint.setLocalAddresses). `act` false only
   * records them (a suspended session leaves its paths alone; docs/persistence.md).
   */
  setLocalAddresses(addresses: readonly SocketAddress[], now: number, act = true): void {
    // Only addresses of the peer's scope: loopback ones for a loopback peer, never towards another host.
    const peer = this.activePath.remote.address;
    this.localAddresses = addresses.filter((a) => sameScope(a.address, peer));
    if (act) this.onLocalAddressesChanged(now);
  }

  /** Our usable local addresses (the active path's when the endpoint named none). */
  get usableLocalAddresses(): SocketAddress[] {
    return this.localAddresses && this.localAddresses.length > 0
      ? [...this.localAddresses]
      : [this.activePath.local];
  }

  /** Every address the peer is known at: the paths' remotes and its advertised addresses. */
  get knownPeerAddresses(): SocketAddress[] {
    const out = new Map<string, SocketAddress>();
    for (const p of [this.activePath, ...this.pathList]) out.set(addressKey(p.remote), p.remote);
    for (const [key, entry] of this.peerAddresses) if (entry.present) out.set(key, entry.address);
    return [...out.values()];
  }

  /**
   * Resumption (docs/persistence.md, protocol.md §15.4): every path, number space, replay window
   * and path-id record goes; one new path 0 at (local, remote) becomes active (validated when
   * the client heard the reply from an address validated before, else challenged at once).
   * Returns what was in flight, for the caller to requeue. Our addresses are advertised again
   * once the session runs (onLocalAddressesChanged).
   */
  resetForResumption(
    local: SocketAddress,
    remote: SocketAddress,
    validation: 'proven' | 'challenge' | 'confirmation',
    bytesReceived: number,
    now: number,
  ): Sent[] {
    const inFlight: Sent[] = [];
    for (const path of this.pathList) inFlight.push(...path.loss.drainAll());
    this.pathList.length = 0;
    this.records.clear();
    this.removedIds.clear();
    this.nextOwnPathId = this.host.role === 'client' ? 1 : 2;
    this.activeFailedAt = undefined;
    this.exploring = undefined;
    this.suspicion = undefined;
    this.answered.clear();
    this.validatedPairs.clear();
    this.standbyFailures = 0;
    this.abandonPending = undefined;
    this.budgetRefreshAt = undefined;
    this.leftPair = undefined;
    this.failedPairs.clear();
    this.advertised.clear();
    this.standbyRetryAt = undefined;
    const path = this.addPath(0, local, remote, now, validation === 'proven');
    path.bytesReceived = bytesReceived;
    this.activePath = path;
    if (validation === 'proven') this.onHandshakeComplete(now);
    // A reply from an address never validated may have a spoofed source: challenged at once,
    // and within 3× what came from there until the answer (protocol.md §15.3).
    if (validation === 'challenge') this.startChallenge(path, now);
    path.state = 'active';
    this.host.outbox.emit({ type: 'path-updated', path: path.info() });
    return inFlight;
  }

  /**
   * Our address set changed (or the handshake was just confirmed): tell the peer (ADD_ADDRESS /
   * REMOVE_ADDRESS), leave paths whose local address vanished, and look for a standby.
   */
  onLocalAddressesChanged(now: number): void {
    if (!this.host.session.established || !this.host.session.handshakeConfirmed) return;
    const current = new Map((this.localAddresses ?? []).map((a) => [addressKey(a), a]));
    for (const [key, address] of current) {
      if (this.advertised.get(key)?.present) continue;
      const sequence = this.nextAddressSequence++;
      const backup = this.ownBackups.has(address.address);
      this.advertised.set(key, { address, sequence, present: true, backup });
      this.host.outbox.queueControl({ type: 'add_address', sequence, address, ...(backup && { backup }) });
    }
    for (const [key, entry] of this.advertised) {
      if (!entry.present || current.has(key)) continue;
      entry.present = false;
      entry.sequence = this.nextAddressSequence++;
      this.host.outbox.queueControl({
        type: 'remove_address',
        sequence: entry.sequence,
        address: entry.address,
      });
    }
    for (const path of [...this.pathList])
      if (!this.isLocal(path.local)) this.leavePath(path, 'address-removed', now);
    // A new address is a new chance: do not sit out a retry delay set while none worked.
    this.standbyRetryAt = undefined;
    this.ensureStandby(now);
    this.host.outbox.wake();
  }

  /** The peer announced (or withdrew) an address; stale or reordered updates are ignored. */
  onAddressFrame(frame: Extract<Frame, { type: 'add_address' | 'remove_address' }>, now: number): void {
    // A loopback (or link-local, multicast...) address from a peer elsewhere leads nowhere or into our own host.
    if (!sameScope(frame.address.address, this.activePath.remote.address)) return;
    const key = addressKey(frame.address);
    const known = this.peerAddresses.get(key);
    if (known && frame.sequence <= known.sequence) return;
    const present = frame.type === 'add_address';
    if (!known && this.peerAddresses.size >= MAX_PEER_ADDRESSES) return;
    const backup = present && frame.backup === true;
    if (backup) this.peerBackups++;
    this.peerAddresses.set(key, { address: frame.address, sequence: frame.sequence, present, backup });
    if (!present) {
      for (const path of [...this.pathList])
        if (addressKey(path.remote) === key) this.leavePath(path, 'peer-address-removed', now);
    }
    this.ensureStandby(now);
  }

  /** Stops using a path whose address is gone: the active one moves first, if it can. */
  private leavePath(path: Path<SentInfo>, reason: FailoverReason, now: number): void {
    if (!this.records.has(path.id)) return;
    if (path === this.activePath) {
      const target = this.bestCandidate(now, 1) ?? this.bestCandidate(now, 0);
      if (!target) return; // nowhere to go yet; ensureStandby opens a path and moves on validation
      this.switchActive(target, reason, now);
    }
    this.removePath(path, PathAbandonCode.ADDRESS_GONE, 'address removed', now);
  }

  /**
   * Client: keeps one warm standby path (keepWarmStandby), and under 'aggregate' a path over every address
   * (coverAddresses), once the lazy threshold, if any, is reached. The server only answers (it
   * cannot reach a client behind a NAT on its own) but fails over to a client-opened standby
   * too. Public for the lazy threshold, which the connection watches.
   */
  ensureStandby(now: number): void {
    if (
      this.host.role !== 'client' ||
      !this.host.session.handshakeConfirmed ||
      !this.host.session.established
    ) {
      this.standbyRetryAt = undefined;
      return;
    }
    if (this.standbyRetryAt !== undefined && now < this.standbyRetryAt) return;
    this.standbyRetryAt = undefined;
    const active = this.activePath;
    // Lazy paths: none beyond the first until the threshold, or until the active path is in trouble.
    if (!this.host.policy.mayOpenPaths(now, active.loss.ptoCount > 0 || !this.isLocal(active.local))) return;
    this.keepWarmStandby(now);
    if (this.host.policy.coversAddresses && this.standbyRetryAt === undefined) this.coverAddresses(now);
  }

  /**
   * One warm standby (validated, then re-checked every keepalive interval) on the pair most
   * different from the active path: another local address, another advertised server address,
   * or both. An existing path on that pair (the old active path after a failover or after
   * following the peer) is adopted rather than duplicated.
   */
  private keepWarmStandby(now: number): void {
    const active = this.activePath;
    for (const p of this.pathList)
      if (p !== active && this.record(p).warm && !sameAddresses(p, active.local, active.remote)) return;
    let adopt: Path<SentInfo> | undefined;
    let adoptRank = -Infinity;
    for (const p of this.pathList) {
      if (p === active || p.remoteCid.length === 0 || !this.isLocal(p.local)) continue;
      if (sameAddresses(p, active.local, active.remote)) continue;
      const rank = this.pairRank(p.local, p.remote, now);
      if (rank > adoptRank) {
        adopt = p;
        adoptRank = rank;
      }
    }
    const fresh = this.candidatePairs(now)[0];
    const freshRank = fresh ? this.pairRank(fresh[0], fresh[1], now) : -Infinity;
    // Health penalties reorder the pairs, they never leave the session without a standby.
    if (adopt && adoptRank >= freshRank) {
      const m = this.record(adopt);
      m.warm = true;
      if (adopt.state === 'failed') this.retryLater(adopt, now);
      else if (m.challenge === undefined) m.warmAt = now + this.standbyCheckInterval();
      this.host.outbox.wake();
      return;
    }
    if (!fresh) {
      // An advertised address whose budget is spent: try again once it refreshes.
      if (this.budgetRefreshAt !== undefined) this.standbyRetryAt = this.budgetRefreshAt;
      return;
    }
    const path = this.openOwnPath(fresh[0], fresh[1], now, this.unvalidatedCredit(fresh[1], now));
    if (!path) {
      this.standbyRetryAt = now + Math.max(1, active.pto());
      return;
    }
    const m = this.record(path);
    m.warm = true;
    // The active path cannot be used any more (its local address vanished): move on validation.
    if (!this.isLocal(active.local)) m.migrateOnValidation = 'address-removed';
  }

  /**
   * 'aggregate' (client): besides the warm standby, a path over every local and every remote address
   * that no live path uses yet, up to MAX_AGGREGATE_PATHS paths, each kept warm like the standby.
   * A path of ours not kept (the old active path after a failover) whose addresses no kept path
   * covers is kept again, so a link that comes back carries data again.
   */
  private coverAddresses(now: number): void {
    const active = this.activePath;
    const kept = () => this.pathList.filter((p) => p === active || this.record(p).warm);
    for (const p of this.pathList) {
      const m = this.record(p);
      if (p === active || m.warm || p.remoteCid.length === 0 || !this.isLocal(p.local)) continue;
      if (coverageGain(kept(), p.local, p.remote) === 0) continue;
      m.warm = true;
      if (p.state === 'failed') this.retryLater(p, now);
      else if (m.challenge === undefined) m.warmAt = now + this.standbyCheckInterval();
    }
    while (this.pathList.length < MAX_AGGREGATE_PATHS) {
      const live = this.pathList.filter(
        (p) => p.state === 'active' || p.state === 'standby' || p.state === 'validating',
      );
      let best: Pair | undefined;
      let bestGain = 0;
      for (const pair of this.candidatePairs(now)) {
        const gain = coverageGain(live, pair[0], pair[1]);
        if (gain > bestGain) {
          best = pair;
          bestGain = gain;
        }
      }
      if (!best) return;
      const path = this.openOwnPath(best[0], best[1], now, this.unvalidatedCredit(best[1], now));
      if (!path) {
        this.standbyRetryAt = now + Math.max(1, active.pto());
        return;
      }
      this.record(path).warm = true;
    }
  }

  /**
   * Under a policy that spreads packets ('aggregate', 'redundant'): the paths that may carry
   * data now, the active one first. Besides it, every validated standby (a failed one carries
   * only probes) with a CID, on a local address we still have and not on the active path's
   * pair, that answers (fewer than FAILOVER_PTO_COUNT PTOs in a row) and that the client keeps:
   * the client's warm paths, and at the server the pairs the client sends on or keeps warm
   * (heard from lately; from this very pair, since a path id's number space may be fed from
   * another pair after the client's NAT rebound, and then this pair leads nowhere). Pairs the
   * client probed on suspicion are failover candidates, not data paths. A backup path carries
   * data only while the active path is a backup too, that is while no preferred path works (and
   * then only until the session moves back to a preferred one, see mayMoveBack).
   */
  dataPaths(now: number): Path<SentInfo>[] {
    const active = this.activePath;
    const out = [active];
    const client = this.host.role === 'client';
    const recent = 2 * Math.max(this.config.keepaliveInterval, 1);
    const backupsWait = !this.isBackup(active);
    for (const p of this.pathList) {
      if (p === active || p.state !== 'standby' || !p.validated || p.remoteCid.length === 0) continue;
      if (backupsWait && this.isBackup(p)) continue;
      if (p.loss.ptoCount >= FAILOVER_PTO_COUNT) continue;
      if (!this.isLocal(p.local) || sameAddresses(p, active.local, active.remote)) continue;
      const m = this.record(p);
      if (client) {
        if (m.warm) out.push(p);
        continue;
      }
      const heard = Math.max(m.pairHeardAt ?? -Infinity, m.challengedAt ?? -Infinity);
      if (now - heard <= recent + p.pto()) out.push(p);
    }
    return out;
  }

  /**
   * How often the client re-checks its warm standby while nothing else proves it (a small challenge
   * and its answer). Under 'failover' the warm standby is checked again anyway when the active path
   * falls under suspicion, so this only keeps it from going stale; a policy that spreads
   * packets checks its data paths every keepalive interval.
   */
  private standbyCheckInterval(): number {
    const keepalive = this.config.keepaliveInterval;
    return this.host.policy.spreads ? keepalive : Math.max(keepalive, this.config.standbyCheckInterval);
  }

  private retryInterval(): number {
    return Math.max(this.config.keepaliveInterval, 2 * this.activePath.pto());
  }

  /** For logs and tests. */
  describeActive(): string {
    return `${addressKey(this.activePath.local)}→${addressKey(this.activePath.remote)}`;
  }
}
