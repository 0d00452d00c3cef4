/**
 * The connection IDs of one session: ours (issued per path id, each path id its own sequence
 * space) and the peer's, with the peer's stateless-reset tokens. Ours are routed to the
 * session by the endpoint; the DCID of every received packet names its path id through
 * `pathIdOf` (one Map lookup).
 */

import { TransportError, WireError } from '../../wire/errors.js';
import type { NewConnectionIdFrame, RetireConnectionIdFrame } from '../../wire/frames.js';
import { statelessResetToken } from '../../wire/packet-codec.js';
import { bytesEqual, type EndpointSecrets, type RandomSource } from '../secrets.js';
import type { Outbox } from './outbox.js';

/** CIDs we keep issued beyond the one in use on path id 0, when the peer's limit allows. */
export const SPARE_CID_COUNT = 3;
/**
 * The active_connection_id_limit we advertise: CIDs of the peer we hold per path id. A peer
 * that issues more (after the retirements its retire_prior_to asks for) is closed.
 */
export const ACTIVE_CONNECTION_ID_LIMIT = SPARE_CID_COUNT + 1;
/**
 * How far beyond the highest path id in use we keep CIDs issued, per parity (clients open odd
 * ids, servers even ones), so either side can open a new path at once. Per parity: a client
 * that opens path after path must not leave the server holding CIDs for ever more even ids it
 * never opens (the peer's limit of 64 path ids would close the session).
 */
const PATH_ID_WINDOW = 4;
/** Distinct path ids the peer may hold CIDs for at once (memory bound). */
const MAX_PEER_PATH_IDS = 64;

export interface LocalCid {
  pathId: number;
  sequence: number;
  cid: Uint8Array;
  resetToken: Uint8Array;
}

export interface PeerCid {
  pathId: number;
  sequence: number;
  cid: Uint8Array;
  resetToken: Uint8Array | undefined;
}

/** The endpoint's routing tables for this session (by our CIDs, and by the peer's reset tokens). */
export interface CidRouting {
  register(cid: Uint8Array): void;
  unregister(cid: Uint8Array): void;
  registerResetToken?(token: Uint8Array): void;
  unregisterResetToken?(token: Uint8Array): void;
}

export interface CidStateOptions {
  cidLength: number;
  random: RandomSource;
  secrets: EndpointSecrets;
  routing: CidRouting;
  outbox: Outbox;
}

/** A CID as a Map key (latin1: one character per byte); the endpoint's routing table uses it too. */
export function cidKey(cid: Uint8Array): string {
  return Buffer.from(cid.buffer, cid.byteOffset, cid.byteLength).toString('latin1');
}

function entryKey(pathId: number, sequence: number): string {
  return `${pathId}/${sequence}`;
}

export class CidState {
  /** Length of our CIDs (those a resumption draws too). */
  readonly cidLength: number;
  private readonly random: RandomSource;
  private readonly secrets: EndpointSecrets;
  private readonly routing: CidRouting;
  private readonly outbox: Outbox;
  /** Ours by (path id, sequence), in the order issued. */
  private readonly local = new Map<string, LocalCid>();
  /** Ours by the CID itself: which path id a received packet's DCID names. */
  private readonly localByCid = new Map<string, LocalCid>();
  /** Next sequence number per path id. */
  private readonly nextLocalSequence = new Map<number, number>();
  /** Highest path id issued so far, and highest in use, by parity (index 0 even, 1 odd). */
  private readonly maxIssuedPathId = [0, -1];
  private readonly maxUsedPathId = [0, -1];
  /** The peer's, by (path id, sequence), in the order received. */
  private readonly peer = new Map<string, PeerCid>();
  /** Per path id, the highest retire_prior_to the peer sent: lower sequences are retired for good. */
  private readonly peerRetiredBelow = new Map<number, number>();
  private peerResetTokens: Uint8Array[] = [];
  /**
   * The peer's active_connection_id_limit (≥ 2, from its transport parameters): how many of
   * ours may be unretired per path id. Path id 0 gets at most that many; every other path id
   * needs only one, so multipath works at any limit.
   */
  peerActiveLimit = ACTIVE_CONNECTION_ID_LIMIT;

  constructor(options: CidStateOptions) {
    this.cidLength = options.cidLength;
    this.random = options.random;
    this.secrets = options.secrets;
    this.routing = options.routing;
    this.outbox = options.outbox;
    this.issue(0);
  }

  /** Our first CID (the handshake's source CID; its reset token is the server's transport parameter). */
  get first(): LocalCid {
    return this.local.values().next().value!;
  }

  /** Every CID of ours, so the endpoint can forget them when the session goes away. */
  get localConnectionIds(): Uint8Array[] {
    return [...this.local.values()].map((c) => c.cid);
  }

  /** The path id a DCID of ours names (0 for one routed here otherwise, e.g. a resumption alias). */
  pathIdOf(dcid: Uint8Array): number {
    return this.localByCid.get(cidKey(dcid))?.pathId ?? 0;
  }

  /** Whether our CID (path id, sequence) is still issued (not retired by the peer). */
  isLive(pathId: number, sequence: number): boolean {
    return this.local.has(entryKey(pathId, sequence));
  }

  private issue(pathId: number): LocalCid {
    const cid = this.random(this.cidLength);
    const sequence = this.nextLocalSequence.get(pathId) ?? 0;
    this.nextLocalSequence.set(pathId, sequence + 1);
    const entry: LocalCid = { pathId, sequence, cid, resetToken: this.secrets.statelessResetToken(cid) };
    this.add(entry);
    this.routing.register(cid);
    return entry;
  }

  private add(entry: LocalCid): void {
    this.local.set(entryKey(entry.pathId, entry.sequence), entry);
    this.localByCid.set(cidKey(entry.cid), entry);
  }

  /** Issues a CID for `pathId` and announces it (NEW_CONNECTION_ID). */
  private issueAnnounced(pathId: number): void {
    const entry = this.issue(pathId);
    this.outbox.queueControl({
      type: 'new_connection_id',
      pathId: entry.pathId,
      sequence: entry.sequence,
      retirePriorTo: 0,
      connectionId: entry.cid,
      statelessResetToken: entry.resetToken,
    });
  }

  /** The spare CIDs for path id 0 (as many as the peer's limit allows), announced once the session has keys. */
  issueSpares(): void {
    const spares = Math.min(SPARE_CID_COUNT, this.peerActiveLimit - 1);
    for (let i = 0; i < spares; i++) this.issueAnnounced(0);
  }

  /**
   * `seenPathId` is in use: keeps CIDs issued for every path id up to the highest one in use of
   * the same parity + PATH_ID_WINDOW (odd ones up to 3 while none is in use), in id order.
   */
  ensurePathIdWindow(seenPathId: number): void {
    const parity = seenPathId & 1;
    this.maxUsedPathId[parity] = Math.max(this.maxUsedPathId[parity], seenPathId);
    for (;;) {
      const [nextEven, nextOdd] = [this.maxIssuedPathId[0] + 2, this.maxIssuedPathId[1] + 2];
      const evenDue = nextEven <= this.maxUsedPathId[0] + PATH_ID_WINDOW;
      const oddDue = nextOdd <= this.maxUsedPathId[1] + PATH_ID_WINDOW;
      if (!evenDue && !oddDue) return;
      const id = evenDue && (!oddDue || nextEven < nextOdd) ? nextEven : nextOdd;
      this.maxIssuedPathId[id & 1] = id;
      this.issueAnnounced(id);
    }
  }

  /**
   * RETIRE_CONNECTION_ID, carried by a packet sent to `carrierDcid`: path id 0 always keeps a
   * CID (replaced at once); a retired path id needs none.
   */
  onRetire(frame: RetireConnectionIdFrame, carrierDcid?: Uint8Array): void {
    if (frame.sequence >= (this.nextLocalSequence.get(frame.pathId) ?? 0)) {
      throw new WireError('retired an unissued connection ID', TransportError.PROTOCOL_VIOLATION);
    }
    const key = entryKey(frame.pathId, frame.sequence);
    const retired = this.local.get(key);
    if (!retired) return;
    // The peer is still sending to it: retiring it now would leave that packet's path without a CID.
    if (carrierDcid && bytesEqual(retired.cid, carrierDcid)) {
      throw new WireError('retired the connection ID carrying the frame', TransportError.PROTOCOL_VIOLATION);
    }
    const onPath0 = frame.pathId === 0;
    if (onPath0 && ![...this.local.values()].some((c) => c !== retired && c.pathId === 0)) return;
    this.local.delete(key);
    this.localByCid.delete(cidKey(retired.cid));
    this.routing.unregister(retired.cid);
    if (onPath0) this.issueAnnounced(0);
  }

  /** The CID the peer issued for `pathId` with the lowest sequence number still held. */
  peerCidFor(pathId: number): PeerCid | undefined {
    let best: PeerCid | undefined;
    for (const c of this.peer.values())
      if (c.pathId === pathId && (!best || c.sequence < best.sequence)) best = c;
    return best;
  }

  /** The peer's CID of the highest path id for which `unused` holds (a suspended server's probe target). */
  peerCidOfUnusedPathId(unused: (pathId: number) => boolean): PeerCid | undefined {
    let found: PeerCid | undefined;
    for (const c of this.peer.values())
      if (unused(c.pathId) && (!found || c.pathId > found.pathId)) found = c;
    return found;
  }

  /** The handshake's CID of the peer (path id 0, sequence 0) and its reset token, if any. */
  addHandshakePeerCid(cid: Uint8Array, resetToken: Uint8Array | undefined): void {
    if (resetToken) this.addPeerResetToken(resetToken);
    this.peer.set(entryKey(0, 0), { pathId: 0, sequence: 0, cid, resetToken });
  }

  /** Whether the peer's CID `cid` for `pathId` is still held (not retired). */
  holdsPeerCid(pathId: number, cid: Uint8Array): boolean {
    for (const c of this.peer.values()) if (c.pathId === pathId && bytesEqual(c.cid, cid)) return true;
    return false;
  }

  /**
   * NEW_CONNECTION_ID (for a path id not abandoned): true when it adds a CID, false for a
   * repeat or one already retired. Its retire_prior_to retires older CIDs of that path id
   * first (RETIRE_CONNECTION_ID for each). Throws PROTOCOL_VIOLATION when a sequence number
   * changes its CID or token, or one CID comes under two sequence numbers, and
   * CONNECTION_ID_LIMIT_ERROR when the peer issues more than we hold.
   */
  onNewConnectionId(frame: NewConnectionIdFrame): boolean {
    const key = entryKey(frame.pathId, frame.sequence);
    for (const c of this.peer.values()) {
      const sameCid = bytesEqual(c.cid, frame.connectionId);
      if (c.pathId === frame.pathId && c.sequence === frame.sequence) {
        if (!sameCid || !c.resetToken || !bytesEqual(c.resetToken, frame.statelessResetToken))
          throw new WireError(
            'a sequence number changed its connection ID',
            TransportError.PROTOCOL_VIOLATION,
          );
      } else if (sameCid) {
        throw new WireError(
          'one connection ID under two sequence numbers',
          TransportError.PROTOCOL_VIOLATION,
        );
      }
    }
    this.retirePeerCidsBelow(frame.pathId, frame.retirePriorTo);
    if (this.peer.has(key)) return false;
    if (frame.sequence < (this.peerRetiredBelow.get(frame.pathId) ?? 0)) {
      // Arrived after a retire_prior_to covering it (reordered or resent): retire it unheld.
      // A repeated RETIRE_CONNECTION_ID is harmless (the issuer ignores one already retired).
      this.outbox.queueControl({
        type: 'retire_connection_id',
        pathId: frame.pathId,
        sequence: frame.sequence,
      });
      return false;
    }
    this.peer.set(key, {
      pathId: frame.pathId,
      sequence: frame.sequence,
      cid: frame.connectionId,
      resetToken: frame.statelessResetToken,
    });
    this.addPeerResetToken(frame.statelessResetToken);
    const pathIds = new Set<number>();
    let onPath = 0;
    for (const c of this.peer.values()) {
      pathIds.add(c.pathId);
      if (c.pathId === frame.pathId) onPath++;
    }
    if (onPath > ACTIVE_CONNECTION_ID_LIMIT || pathIds.size > MAX_PEER_PATH_IDS) {
      throw new WireError('too many connection IDs', TransportError.CONNECTION_ID_LIMIT_ERROR);
    }
    return true;
  }

  /** retire_prior_to: the peer's CIDs of `pathId` below `sequence` go, each with RETIRE_CONNECTION_ID. */
  private retirePeerCidsBelow(pathId: number, sequence: number): void {
    if (sequence <= (this.peerRetiredBelow.get(pathId) ?? 0)) return;
    this.peerRetiredBelow.set(pathId, sequence);
    for (const [key, c] of this.peer) {
      if (c.pathId !== pathId || c.sequence >= sequence) continue;
      this.peer.delete(key);
      if (c.resetToken) this.forgetPeerResetToken(c.resetToken);
      this.outbox.queueControl({ type: 'retire_connection_id', pathId: c.pathId, sequence: c.sequence });
    }
  }

  /** Retires every CID the peer issued for a path id we give up, so nothing links it to the next path. */
  retirePeerCids(pathId: number): void {
    this.peerRetiredBelow.delete(pathId);
    // Newest first, as the RETIRE_CONNECTION_ID frames always went out.
    for (const [key, c] of [...this.peer].reverse()) {
      if (c.pathId !== pathId) continue;
      this.peer.delete(key);
      if (c.resetToken) this.forgetPeerResetToken(c.resetToken);
      this.outbox.queueControl({ type: 'retire_connection_id', pathId: c.pathId, sequence: c.sequence });
    }
  }

  private addPeerResetToken(token: Uint8Array): void {
    this.peerResetTokens.push(token);
    this.routing.registerResetToken?.(token);
  }

  /**
   * RFC 9000 §10.3.1: no reset check for retired CIDs. The peer forgets a CID once we retire
   * it, so our packets still in flight with it (late on a slow path) draw a stateless reset
   * that must not end a session that lives on elsewhere (seed 507).
   */
  private forgetPeerResetToken(token: Uint8Array): void {
    for (const c of this.peer.values()) if (c.resetToken && bytesEqual(c.resetToken, token)) return;
    const index = this.peerResetTokens.findIndex((t) => bytesEqual(t, token));
    if (index < 0) return;
    this.peerResetTokens.splice(index, 1);
    this.routing.unregisterResetToken?.(token);
  }

  /** Suspended: the reset tokens of the suspended paths' CIDs must no longer close us. */
  forgetPeerResetTokens(): void {
    for (const token of this.peerResetTokens) this.routing.unregisterResetToken?.(token);
    this.peerResetTokens = [];
  }

  /** Tokens to forget when the session is released. */
  get resetTokens(): readonly Uint8Array[] {
    return this.peerResetTokens;
  }

  /** Whether an undecryptable datagram ends in one of the peer's reset tokens. */
  isStatelessReset(datagram: Uint8Array): boolean {
    const token = statelessResetToken(datagram);
    if (!token) return false;
    for (const t of this.peerResetTokens) if (bytesEqual(t, token)) return true;
    return false;
  }

  /**
   * Resumption: every CID of the suspended paths goes; the new path's pair (`localCid`, which
   * the endpoint already routes here, and `peerCid`) becomes sequence 0 of path id 0.
   */
  resetForResumption(
    localCid: Uint8Array,
    peerCid: Uint8Array,
    peerResetToken: Uint8Array | undefined,
  ): void {
    for (const c of this.local.values()) if (!bytesEqual(c.cid, localCid)) this.routing.unregister(c.cid);
    this.local.clear();
    this.localByCid.clear();
    this.nextLocalSequence.clear();
    this.maxIssuedPathId.splice(0, 2, 0, -1);
    this.maxUsedPathId.splice(0, 2, 0, -1);
    this.forgetPeerResetTokens();
    this.peer.clear();
    this.peerRetiredBelow.clear();
    this.add({
      pathId: 0,
      sequence: 0,
      cid: localCid,
      resetToken: this.secrets.statelessResetToken(localCid),
    });
    this.nextLocalSequence.set(0, 1);
    this.peer.set(entryKey(0, 0), { pathId: 0, sequence: 0, cid: peerCid, resetToken: peerResetToken });
    if (peerResetToken) this.addPeerResetToken(peerResetToken);
  }

  /** Routes a further CID to this session that names no path id (a resumption attempt's, a RESUME's DCID). */
  route(cid: Uint8Array): void {
    this.routing.register(cid);
  }

  unroute(cid: Uint8Array): void {
    this.routing.unregister(cid);
  }
}
