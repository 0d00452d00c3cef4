/**
 * The path lifecycle of one session (sans-I/O): which address pairs exist, which one the
 * session sends on, validation (PATH_CHALLENGE / PATH_RESPONSE), standby paths kept warm,
 * failure detection and failover, abandonment, and the address set of both ends.
 *
 * Connection owns packets (protection, framing, loss recovery of stream data); it asks this
 * module which path to send on, feeds it what arrives, and builds the probe packets it asks
 * for. The narrow interface back to Connection is `PathHost`.
 */
import { ReplayWindow } from '../crypto/replay-window.js';
import { addressKey, type SocketAddress } from '../net/address.js';
import type { SentPacket } from '../paths/loss-detection.js';
import { PathState } from '../paths/path.js';
import type { Frame } from '../wire/frames.js';
import type { ConnectionEvent, PathInfo, SessionRole, TransportConfig } from './types.js';

/** What the path lifecycle needs from its connection. */
export interface PathHost<T> {
  readonly role: SessionRole;
  readonly config: TransportConfig;
  random(length: number): Uint8Array;
  /** The handshake is confirmed: CIDs for further path ids exist, addresses may be advertised. */
  readonly confirmed: boolean;
  /** The session is established (not handshaking, closing or closed). */
  readonly established: boolean;
  /** The peer's max_ack_delay, once its transport parameters are known. */
  readonly peerMaxAckDelay: number | undefined;
  /** The CID the peer issued for `pathId` with the lowest sequence number still held. */
  peerCidFor(pathId: number): Uint8Array | undefined;
  /** Retires every CID the peer issued for `pathId` (RETIRE_CONNECTION_ID) and forgets their reset tokens. */
  retirePeerCids(pathId: number): void;
  /** Keeps our CIDs issued for path ids up to `pathId` + the window. */
  ensurePathIdWindow(pathId: number): void;
  queueControl(frame: Frame): void;
  /** What the packets carried goes back in line for retransmission (on whatever path sends next). */
  requeue(packets: SentPacket<T>[]): void;
  emit(event: ConnectionEvent): void;
  /** The active path changed (timers that depend on its PTO move). */
  onActiveChanged(now: number): void;
  wake(): void;
}

/** Per-path validation and lifecycle bookkeeping that PathState does not hold. */
export interface PathMeta {
  /** PATH_CHALLENGE payload outstanding, to (re)send on this path. */
  challenge: Uint8Array | undefined;
  challengeDue: boolean;
  challengeResendAt: number | undefined;
  /** Validation fails if no PATH_RESPONSE arrives by then. */
  challengeFailAt: number | undefined;
  /** PATH_RESPONSE payloads owed on this address pair. */
  responses: Uint8Array[];
  validatedAt: number | undefined;
  /** The peer moved here (non-probing packet with its largest packet number): switch on validation. */
  migrateOnValidation: boolean;
  /** Last authenticated packet in this path's number space or from its address pair. */
  lastReceivedAt: number;
  standbySince: number | undefined;
  /** A standby we opened for failover: kept warm by re-challenging it every keepalive interval. */
  backup: boolean;
  /** When a warm standby is next re-challenged. */
  warmAt: number | undefined;
  /** Last PATH_CHALLENGE the peer sent on this pair: the peer keeps it warm as its standby. */
  challengedAt: number | undefined;
  /** Last non-probing packet with a new largest packet number from this pair: the peer sends its data here. */
  peerDataAt: number | undefined;
}

/** Bytes of a PATH_CHALLENGE datagram when the amplification credit allows (RFC 9000 §8.2.1). */
export const PATH_PROBE_SIZE = 1200;
/** Consecutive PTOs on the active path after which it is declared failed (when a warm standby exists). */
const FAILOVER_PTO_COUNT = 2;
/** Peer addresses remembered at most (memory bound against a chatty peer). */
const MAX_PEER_ADDRESSES = 16;

interface AdvertisedAddress {
  address: SocketAddress;
  /** Sequence number of the last update applied for this address. */
  sequence: number;
  present: boolean;
}

/** Per received packet: compare fields rather than build address-key strings. */
export function sameAddresses(
  path: PathState<unknown>,
  local: SocketAddress,
  remote: SocketAddress,
): boolean {
  return (
    path.remote.port === remote.port &&
    path.local.port === local.port &&
    path.remote.address === remote.address &&
    path.local.address === local.address
  );
}

const PROBING_FRAMES = new Set<Frame['type']>([
  'padding',
  'path_challenge',
  'path_response',
  'new_connection_id',
]);

/** RFC 9000 §9.1: a packet of only these frames probes a path without moving to it. */
export function isProbingOnly(frames: Frame[]): boolean {
  for (const f of frames) if (!PROBING_FRAMES.has(f.type)) return false;
  return true;
}

export class PathManager<T> {
  private readonly host: PathHost<T>;
  private readonly config: TransportConfig;
  private readonly pathList: PathState<T>[] = [];
  private readonly metas = new Map<number, PathMeta>();
  private readonly replays = new Map<number, ReplayWindow>();
  private activePath: PathState<T>;
  /** Path ids abandoned for good: their packets are dropped, never reopened. */
  private readonly removedIds = new Set<number>();
  /** Path ids this side opens: clients odd, servers even, so both ends never pick the same id. */
  private nextOwnPathId: number;

  // --- addresses (multihoming) ---
  /** Our usable local addresses; empty means "only the one we started on". */
  private localAddresses: SocketAddress[] = [];
  /** What we told the peer about our addresses, by addressKey. */
  private readonly advertised = new Map<string, AdvertisedAddress>();
  private nextAddressSequence = 0;
  /** The peer's advertised addresses: candidates, unverified until a path to them validates. */
  private readonly peerAddresses = new Map<string, AdvertisedAddress>();
  /** Client: when to try opening a standby path again after none could be opened or one failed. */
  private standbyRetryAt: number | undefined;

  constructor(host: PathHost<T>, local: SocketAddress, remote: SocketAddress, now: number) {
    this.host = host;
    this.config = host.config;
    this.nextOwnPathId = host.role === 'client' ? 1 : 2;
    this.activePath = this.addPath(0, local, remote, now);
    this.activePath.state = 'active';
  }

  /** The path the session sends on. */
  get active(): PathState<T> {
    return this.activePath;
  }

  /** Live paths (validating, active, standby), oldest first. */
  get list(): readonly PathState<T>[] {
    return this.pathList;
  }

  meta(path: PathState<T>): PathMeta {
    return this.metas.get(path.id)!;
  }

  byId(id: number): PathState<T> | undefined {
    for (const p of this.pathList) if (p.id === id) return p;
    return undefined;
  }

  byAddresses(local: SocketAddress, remote: SocketAddress): PathState<T> | undefined {
    for (const p of this.pathList) if (sameAddresses(p, local, remote)) return p;
    return undefined;
  }

  /** The path id was abandoned: its packets are dropped. */
  isRemoved(id: number): boolean {
    return this.removedIds.has(id);
  }

  /** The replay window of a path id's number space (a fresh one for a path not opened yet). */
  replayFor(id: number): ReplayWindow {
    return this.replays.get(id) ?? new ReplayWindow(1 << 14);
  }

  /** The handshake completed on the first path: its pair is validated now. */
  onHandshakeComplete(now: number): void {
    this.meta(this.activePath).validatedAt = now;
  }

  private addPath(
    id: number,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
    validated = false,
  ): PathState<T> {
    const config = this.config;
    const path = new PathState<T>({
      id,
      local,
      remote,
      now,
      validated,
      maxDatagramSize: config.maxUdpPayloadSize,
      congestionControl: config.congestionControl,
      maxAckDelay: config.maxAckDelay,
      peerMaxAckDelay: this.host.peerMaxAckDelay,
      ackElicitingThreshold: config.ackFrequency,
      // At least ~8 probes fit in an idle period, so a loss burst alone rarely kills a session.
      maxProbeInterval: config.idleTimeout > 0 ? config.idleTimeout / 8 : undefined,
    });
    this.pathList.push(path);
    this.replays.set(id, new ReplayWindow(1 << 14));
    this.metas.set(id, {
      challenge: undefined,
      challengeDue: false,
      challengeResendAt: undefined,
      challengeFailAt: undefined,
      responses: [],
      validatedAt: validated ? now : undefined,
      migrateOnValidation: false,
      lastReceivedAt: now,
      standbySince: undefined,
      backup: false,
      warmAt: undefined,
      challengedAt: undefined,
      peerDataAt: undefined,
    });
    if (this.host.confirmed) this.host.ensurePathIdWindow(id);
    return path;
  }

  private setPathState(path: PathState<T>, state: PathInfo['state']): void {
    if (path.state === state) return;
    path.state = state;
    this.host.emit({ type: 'path-updated', path: path.info() });
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
  ): PathState<T> {
    const twin = this.byAddresses(local, remote);
    const inherit = twin?.validated === true;
    const path = this.addPath(id, local, remote, now, inherit);
    this.replays.set(id, replay);
    path.remoteCid = this.host.peerCidFor(id) ?? new Uint8Array(0);
    if (inherit) {
      path.state = 'standby';
      this.meta(path).standbySince = now;
    }
    this.host.emit({ type: 'path-updated', path: path.info() });
    if (!inherit) this.startChallenge(path, now);
    return path;
  }

  /** Packets arrive from an address pair we have no path for: a new path of our own, validated before use. */
  private openOwnPath(local: SocketAddress, remote: SocketAddress, now: number): PathState<T> | undefined {
    const id = this.nextOwnPathId;
    const peerCid = this.host.peerCidFor(id);
    if (!peerCid) return undefined;
    this.nextOwnPathId += 2;
    const path = this.addPath(id, local, remote, now);
    path.remoteCid = peerCid;
    this.host.emit({ type: 'path-updated', path: path.info() });
    this.startChallenge(path, now);
    return path;
  }

  /** Validation timeout, RFC 9000 §8.2.4: three PTOs, the larger of the current and the new path's. */
  private validationTimeout(path: PathState<T>): number {
    return 3 * Math.max(this.activePath.pto(), path.pto());
  }

  private startChallenge(path: PathState<T>, now: number): void {
    const m = this.meta(path);
    m.challenge = this.host.random(8);
    m.challengeDue = true;
    m.challengeResendAt = undefined;
    m.challengeFailAt = now + this.validationTimeout(path);
    path.startValidation(m.challenge, now);
    this.host.wake();
  }

  /** A PATH_CHALLENGE arrived on the address pair of `via`: answer there (RFC 9000 §8.2.2). */
  onPathChallenge(data: Uint8Array, via: PathState<T> | undefined, now: number): void {
    if (!via) return;
    const m = this.meta(via);
    m.challengedAt = now;
    if (via.remoteCid.length > 0 && m.responses.length < 4)
      m.responses.push(Uint8Array.prototype.slice.call(data));
  }

  onPathResponse(data: Uint8Array, now: number): void {
    for (const path of this.pathList) {
      const m = this.meta(path);
      if (!m.challenge || !path.onPathResponse(data)) continue;
      const wasActive = path === this.activePath;
      m.challenge = undefined;
      m.challengeDue = false;
      m.challengeResendAt = undefined;
      m.challengeFailAt = undefined;
      m.validatedAt = now;
      if (wasActive) {
        path.state = 'active';
      } else if (m.migrateOnValidation && path.remoteCid.length > 0) {
        const old = this.activePath;
        this.switchActive(path, now);
        if (m.backup && !this.isLocal(old.local)) this.removePath(old, 'removed');
      } else if (path.state !== 'standby') {
        path.state = 'validating'; // reported as standby below
        this.setPathState(path, 'standby');
        m.standbySince = now;
      }
      if (m.backup && path !== this.activePath && this.config.keepaliveInterval > 0)
        m.warmAt = now + this.config.keepaliveInterval;
      if (path === this.activePath) m.backup = false;
      return;
    }
  }

  /** A NEW_CONNECTION_ID arrived: a path waiting for a CID of its id can use it now. */
  onPeerCid(pathId: number, cid: Uint8Array): void {
    const waiting = this.byId(pathId);
    if (waiting && waiting.remoteCid.length === 0) waiting.remoteCid = cid;
  }

  /**
   * Moves sending to `path`. The old path keeps its number spaces (late packets and ACKs
   * still count) but its packets in flight are handed back for retransmission on the new
   * one: after a rebinding they went to an address that no longer reaches the peer.
   */
  private switchActive(path: PathState<T>, now: number): void {
    const old = this.activePath;
    if (old === path) return;
    this.activePath = path;
    this.meta(path).migrateOnValidation = false;
    this.meta(path).standbySince = undefined;
    this.host.requeue(old.loss.drainAll());
    this.meta(old).standbySince = now;
    this.setPathState(old, 'standby');
    if (path.state === 'active') this.host.emit({ type: 'path-updated', path: path.info() });
    else this.setPathState(path, 'active');
    this.host.onActiveChanged(now);
  }

  /** Forgets a path: retires the peer's CIDs for it, so nothing links it to the next path. */
  private removePath(path: PathState<T>, state: 'failed' | 'removed'): void {
    if (path === this.activePath) return;
    this.setPathState(path, state);
    if (state === 'failed')
      this.host.emit({ type: 'path-updated', path: { ...path.info(), state: 'removed' } });
    path.state = 'removed';
    this.host.retirePeerCids(path.id);
    this.host.requeue(path.loss.drainAll());
    this.pathList.splice(this.pathList.indexOf(path), 1);
    this.metas.delete(path.id);
    this.replays.delete(path.id);
    this.removedIds.add(path.id);
    this.host.wake();
  }

  /**
   * The path whose address pair the packet came from (for anti-amplification and
   * PATH_RESPONSE): the number space's own path, another path with that pair, or a new
   * path, challenged before it carries data (RFC 9000 §9.3, NAT rebinding or migration).
   * `undefined` when the packet must not be answered on its pair. Counts the packet.
   */
  receivingPath(
    space: PathState<T>,
    local: SocketAddress,
    remote: SocketAddress,
    frames: Frame[],
    largest: boolean,
    now: number,
  ): PathState<T> | undefined {
    const via = this.locate(space, local, remote, frames, largest, now);
    if (via && largest && !isProbingOnly(frames)) this.meta(via).peerDataAt = now;
    return via;
  }

  private locate(
    space: PathState<T>,
    local: SocketAddress,
    remote: SocketAddress,
    frames: Frame[],
    largest: boolean,
    now: number,
  ): PathState<T> | undefined {
    if (sameAddresses(space, local, remote)) return space;
    let via = this.byAddresses(local, remote);
    if (!via) {
      via = this.openOwnPath(local, remote, now);
      if (!via) {
        // No CID for a new path id yet (early in the session): move this path in place,
        // RFC 9000 style, and validate the new address before trusting it.
        if (!largest || isProbingOnly(frames)) return undefined;
        this.rebindInPlace(space, local, remote, now);
        return space;
      }
    }
    const m = this.meta(via);
    m.lastReceivedAt = now;
    if (largest && !isProbingOnly(frames) && !via.validated) m.migrateOnValidation = true;
    return via;
  }

  private rebindInPlace(path: PathState<T>, local: SocketAddress, remote: SocketAddress, now: number): void {
    path.local = local;
    path.remote = remote;
    path.validated = false;
    // Anti-amplification restarts for the new address: what the old one sent and received
    // says nothing about it.
    path.bytesSent = 0;
    path.bytesReceived = 0;
    const wasActive = path === this.activePath;
    this.startChallenge(path, now);
    if (wasActive) path.state = 'active';
    this.host.emit({ type: 'path-updated', path: path.info() });
  }

  /**
   * After the frames of a packet were handled: the peer sends its data on a newer validated
   * path, so it has moved there; follow it.
   */
  afterPacket(via: PathState<T> | undefined, frames: Frame[], largest: boolean, now: number): void {
    if (
      via !== undefined &&
      via !== this.activePath &&
      via.validated &&
      via.id > this.activePath.id &&
      via.remoteCid.length > 0 &&
      largest &&
      !isProbingOnly(frames)
    ) {
      this.switchActive(via, now);
    }
  }

  // ───────────────────────────── timers ─────────────────────────────

  /** Earliest validation / lifetime / standby timer of any path. */
  deadline(): number {
    let at = this.standbyRetryAt ?? Infinity;
    for (const path of this.pathList) at = Math.min(at, this.pathTimer(path));
    return at;
  }

  private pathTimer(path: PathState<T>): number {
    const m = this.meta(path);
    let at = Math.min(m.challengeFailAt ?? Infinity, m.challengeResendAt ?? Infinity);
    if (m.challenge === undefined && m.validatedAt !== undefined)
      at = Math.min(at, m.validatedAt + this.config.pathValidationLifetime);
    if (m.standbySince !== undefined && path.state === 'standby')
      at = Math.min(at, this.standbyExpiry(path, m));
    if (m.warmAt !== undefined && m.challenge === undefined && path.state === 'standby')
      at = Math.min(at, m.warmAt);
    return at;
  }

  /**
   * A standby path that hears nothing for 3 PTOs (or 3 keepalive intervals, over which its
   * opener re-challenges it) is given up. Our own warm standby never expires this way:
   * its re-challenge fails instead.
   */
  private standbyExpiry(path: PathState<T>, m: PathMeta): number {
    if (m.backup) return Infinity;
    return (
      Math.max(m.lastReceivedAt, m.standbySince ?? -Infinity) +
      3 * Math.max(this.activePath.pto(), path.pto(), this.config.keepaliveInterval)
    );
  }

  onTimeout(now: number): void {
    for (const path of [...this.pathList]) {
      const m = this.meta(path);
      if (m.challengeFailAt !== undefined && now >= m.challengeFailAt) {
        if (path !== this.activePath) {
          this.removePath(path, 'failed');
          if (m.backup) this.standbyRetryAt = now + this.retryInterval();
          continue;
        }
        // The active path stopped answering: it is no longer trusted with more than 3× what
        // it delivers (there is nowhere else to go yet), and is challenged again.
        path.validated = false;
        this.startChallenge(path, now);
        path.state = 'active';
        continue;
      }
      if (m.challengeResendAt !== undefined && now >= m.challengeResendAt) {
        m.challengeResendAt = undefined;
        if (m.challenge) m.challengeDue = true;
      }
      if (
        m.challenge === undefined &&
        m.validatedAt !== undefined &&
        now >= m.validatedAt + this.config.pathValidationLifetime
      ) {
        // Validation expired: prove the peer still receives there (the path stays usable meanwhile).
        m.validatedAt = undefined;
        this.startChallenge(path, now);
      }
      if (m.standbySince !== undefined && path.state === 'standby' && now >= this.standbyExpiry(path, m)) {
        this.removePath(path, 'removed');
        continue;
      }
      if (
        m.warmAt !== undefined &&
        m.challenge === undefined &&
        path.state === 'standby' &&
        now >= m.warmAt
      ) {
        m.warmAt = undefined;
        this.startChallenge(path, now);
      }
    }
    if (this.standbyRetryAt !== undefined && now >= this.standbyRetryAt) this.ensureStandby(now);
  }

  /** After loss detection ran: the active path may have failed. */
  afterLossDetection(now: number): void {
    this.maybeFailover(now);
  }

  // ───────────────────────────── addresses, standby, failover ─────────────────────────────

  private isLocal(address: SocketAddress): boolean {
    if (this.localAddresses.length === 0) return true; // no set given: whatever we use is ours
    const key = addressKey(address);
    return this.localAddresses.some((a) => addressKey(a) === key);
  }

  /** The endpoint's current local addresses (see Endpoint.setLocalAddresses). */
  setLocalAddresses(addresses: readonly SocketAddress[], now: number): void {
    this.localAddresses = [...addresses];
    this.onLocalAddressesChanged(now);
  }

  /**
   * Our address set changed (or the handshake was just confirmed): tell the peer (ADD_ADDRESS /
   * REMOVE_ADDRESS), leave paths whose local address vanished, and look for a standby.
   */
  onLocalAddressesChanged(now: number): void {
    if (!this.host.established || !this.host.confirmed) return;
    const current = new Map(this.localAddresses.map((a) => [addressKey(a), a]));
    for (const [key, address] of current) {
      if (this.advertised.get(key)?.present) continue;
      const sequence = this.nextAddressSequence++;
      this.advertised.set(key, { address, sequence, present: true });
      this.host.queueControl({ type: 'add_address', sequence, address });
    }
    for (const [key, entry] of this.advertised) {
      if (!entry.present || current.has(key)) continue;
      entry.present = false;
      entry.sequence = this.nextAddressSequence++;
      this.host.queueControl({ type: 'remove_address', sequence: entry.sequence, address: entry.address });
    }
    for (const path of [...this.pathList]) if (!this.isLocal(path.local)) this.abandonPath(path, now);
    this.ensureStandby(now);
    this.host.wake();
  }

  /** The peer announced (or withdrew) an address; stale or reordered updates are ignored. */
  onAddressFrame(frame: Extract<Frame, { type: 'add_address' | 'remove_address' }>, now: number): void {
    const key = addressKey(frame.address);
    const known = this.peerAddresses.get(key);
    if (known && frame.sequence <= known.sequence) return;
    const present = frame.type === 'add_address';
    if (!known && this.peerAddresses.size >= MAX_PEER_ADDRESSES) return;
    this.peerAddresses.set(key, { address: frame.address, sequence: frame.sequence, present });
    if (!present) {
      for (const path of [...this.pathList]) if (addressKey(path.remote) === key) this.abandonPath(path, now);
    }
    this.ensureStandby(now);
  }

  /** Stops using a path whose address is gone: the active one fails over first, if it can. */
  private abandonPath(path: PathState<T>, now: number): void {
    if (path === this.activePath) {
      const standby = this.bestStandby(now);
      if (!standby) return; // nowhere to go yet; ensureStandby opens a path and moves on validation
      this.switchActive(standby, now);
    }
    this.removePath(path, 'removed');
  }

  /**
   * A validated, warm standby to fail over to, the one whose addresses differ most from the
   * active path's. Warm means kept alive on purpose: our own backup (re-challenged every
   * keepalive interval), or a path the peer has been challenging lately. A leftover standby
   * (the pair before a NAT rebinding) is not: it may lead nowhere.
   */
  private bestStandby(now: number): PathState<T> | undefined {
    let best: PathState<T> | undefined;
    let bestScore = -1;
    const warmWindow = 2 * this.config.keepaliveInterval;
    for (const p of this.pathList) {
      if (p === this.activePath || p.state !== 'standby' || !p.validated || p.remoteCid.length === 0)
        continue;
      const m = this.meta(p);
      const peerWarm = m.challengedAt !== undefined && now - m.challengedAt <= warmWindow + p.pto();
      // The peer sends its data there, and has since the active path last heard from it: the
      // peer moved (e.g. a NAT rebinding on a path id lower than ours, which the follow rule
      // ignores; seed 949). A leftover pair from before a rebinding heard nothing since.
      const peerMoved =
        m.peerDataAt !== undefined &&
        m.peerDataAt > this.meta(this.activePath).lastReceivedAt &&
        now - m.peerDataAt <= warmWindow + p.pto();
      if (!m.backup && !peerWarm && !peerMoved) continue;
      if (!this.isLocal(p.local) || sameAddresses(p, this.activePath.local, this.activePath.remote)) continue;
      const score = this.pairDistance(p.local, p.remote);
      if (score > bestScore) {
        best = p;
        bestScore = score;
      }
    }
    return best;
  }

  /** How different a pair is from the active one: a different local address counts most (our side fails more often). */
  private pairDistance(local: SocketAddress, remote: SocketAddress): number {
    const a = this.activePath;
    return (
      (addressKey(local) !== addressKey(a.local) ? 2 : 0) +
      (addressKey(remote) !== addressKey(a.remote) ? 1 : 0)
    );
  }

  /**
   * Client: keeps one standby path (validated, then re-challenged every keepalive interval)
   * on the candidate pair most different from the active path: another local address,
   * another advertised server address, or both. The server only answers (it cannot reach a
   * client behind a NAT on its own) but fails over to a client-opened standby too.
   */
  private ensureStandby(now: number): void {
    if (this.host.role !== 'client' || !this.host.confirmed || !this.host.established) {
      this.standbyRetryAt = undefined;
      return;
    }
    if (this.standbyRetryAt !== undefined && now < this.standbyRetryAt) return;
    this.standbyRetryAt = undefined;
    const active = this.activePath;
    for (const p of this.pathList)
      if (p !== active && this.meta(p).backup && (p.state === 'standby' || p.state === 'validating')) return;
    const locals = this.localAddresses.length > 0 ? this.localAddresses : [active.local];
    const remotes = new Map<string, SocketAddress>([[addressKey(active.remote), active.remote]]);
    for (const [key, entry] of this.peerAddresses) if (entry.present) remotes.set(key, entry.address);
    let best: [SocketAddress, SocketAddress] | undefined;
    let bestScore = 0;
    for (const local of locals) {
      for (const remote of remotes.values()) {
        if (local.family !== remote.family || this.byAddresses(local, remote)) continue;
        const score = this.pairDistance(local, remote);
        if (score > bestScore) {
          best = [local, remote];
          bestScore = score;
        }
      }
    }
    if (!best) return;
    const id = this.nextOwnPathId;
    const peerCid = this.host.peerCidFor(id);
    if (!peerCid) {
      this.standbyRetryAt = now + Math.max(1, active.pto());
      return;
    }
    this.nextOwnPathId += 2;
    const path = this.addPath(id, best[0], best[1], now);
    path.remoteCid = peerCid;
    // Nothing has arrived from this pair yet: credit it one padded challenge's worth, so an
    // advertised address (perhaps a victim's) gets at most 3 × 1200 bytes before validation.
    path.bytesReceived = PATH_PROBE_SIZE;
    const m = this.meta(path);
    m.backup = true;
    // The active path cannot be used any more (its local address vanished): move on validation.
    if (!this.isLocal(active.local)) m.migrateOnValidation = true;
    this.host.emit({ type: 'path-updated', path: path.info() });
    this.startChallenge(path, now);
  }

  /**
   * The active path stopped answering (FAILOVER_PTO_COUNT PTOs in a row): move to the best
   * warm standby. Its packets in flight are resent there (switchActive); the failed path is
   * given up and a new standby is sought (possibly the same pair again, on a fresh path id).
   */
  private maybeFailover(now: number): void {
    if (this.activePath.loss.ptoCount < FAILOVER_PTO_COUNT) return;
    const standby = this.bestStandby(now);
    if (!standby) return;
    const failed = this.activePath;
    this.switchActive(standby, now);
    this.removePath(failed, 'failed');
    this.standbyRetryAt = now + this.retryInterval();
  }

  private retryInterval(): number {
    return Math.max(this.config.keepaliveInterval, 2 * this.activePath.pto());
  }

  /** For logs and tests. */
  describeActive(): string {
    return `${addressKey(this.activePath.local)}→${addressKey(this.activePath.remote)}`;
  }
}
