/**
 * One session's persistence (docs/persistence.md): suspension when no path has worked for
 * the failure timeout, the persistence timeout, and resumption with a Noise IKpsk2 handshake
 * in a RESUME packet, on fresh connection IDs, from any address.
 *
 * The connection owns the transport state; this class owns the persistence state and talks to
 * the connection only through `PersistenceHost`, so connection.ts keeps narrow hooks.
 *
 *   client: suspend → RESUME to every candidate address pair, backing off to resumeInterval
 *           → HANDSHAKE(1) reply → fresh keys and paths (host.installResumed) → RESUME_STATE
 *   server: suspend → SUSPENDED probes to the client's known addresses every 4 × resumeInterval
 *           RESUME (any time) → reply, fresh keys and paths → first packet under them confirms
 *           → RESUME_DONE, new resumption identifiers, the secret ratchets
 */
import type { KeyPair, SplitResult } from '../../crypto/noise/index.js';
import { HandshakeState } from '../../crypto/noise/index.js';
import { deriveResumptionSecret, RESUME_PROTOCOL_NAME } from '../../crypto/resumption.js';
import { addressKey, type SocketAddress, sameAddress, type Transmit } from '../../net/address.js';
import { TransportError, WireError } from '../../wire/errors.js';
import { encodeFrame } from '../../wire/frame-codec.js';
import type { Frame, ResumeStateFrame, ResumptionIdFrame } from '../../wire/frames.js';
import { BRAID_VERSION_1, type HandshakePacket, type ResumePacket } from '../../wire/packet.js';
import { encodeHandshake, encodeResume } from '../../wire/packet-codec.js';
import { decodeTransportParameters, encodeTransportParameters } from '../../wire/transport-params.js';
import type { CidState } from '../connection/cid-state.js';
import type { Outbox } from '../connection/outbox.js';
import { AEAD_TAG, type PacketBuilder } from '../connection/packet-builder.js';
import type { SessionView } from '../connection/session-view.js';
import { ephemeralKeyPair, handshakePrologue, RESUME_PATTERN } from '../handshake.js';
import { NetworkChangeBudget } from '../network-change-budget.js';
import { bytesEqual, type EndpointSecrets, type RandomSource } from '../secrets.js';
import type { StreamMap } from '../streams/stream-map.js';
import type { SessionRole, SuspendReason, TransportConfig } from '../types.js';
import { buildResumeState, PeerResumeState } from './resume-state.js';

/** Resumption identifiers the server keeps issued (unused) per session. */
export const RESUMPTION_ID_COUNT = 4;
/** Most identifiers a client keeps (memory bound against a chatty server). */
const MAX_HELD_IDS = 8;
const RESUMPTION_ID_LENGTH = 16;
/** First retry interval of a suspended client; doubles up to config.resumeInterval. */
const FIRST_RETRY_INTERVAL = 250;
/** A suspended server probes this many times slower than a suspended client retries. */
const SERVER_PROBE_FACTOR = 4;
/** Candidate address pairs a suspended client sends each attempt to (packet-cost bound). */
const MAX_PAIRS = 16;
/** Minimum spacing of sends triggered by the peer's packets (their rate is the peer's to bound). */
const TRIGGER_SPACING = 50;
/** Bytes of RESUME_STATE per frame (several frames when many streams are open). */
const RESUME_STATE_FRAME_SIZE = 1000;

/** What the resumption installs in the connection: new keys, a new path 0, new connection IDs. */
export interface ResumedTransport {
  split: SplitResult;
  local: SocketAddress;
  remote: SocketAddress;
  /** Our new sequence-0 CID (already registered for routing) and the peer's. */
  localCid: Uint8Array;
  peerCid: Uint8Array;
  peerResetToken: Uint8Array | undefined;
  /**
   * How path 0's address is proven (protocol.md §15.3). `proven`: the client heard the reply
   * from an address a path validated to before. `challenge`: the client heard it from any other
   * address (an authenticated reply proves nothing about who receives there: its source may be
   * spoofed), so the path stays anti-amplification limited and is challenged at once.
   * `confirmation`: the server, until the first packet under the new keys arrives.
   */
  validation: 'proven' | 'challenge' | 'confirmation';
  bytesReceived: number;
  /** Server: the reply to send (and resend for duplicates) as the path's first datagram. */
  reply: Uint8Array | undefined;
  now: number;
}

/** The endpoint's routing of resumption identifiers and refusals, for this session. */
export interface ResumptionRoutes {
  /** Client: a stateless refusal carrying `token` ends the session with that reason. */
  registerRefusal(token: Uint8Array, kind: 'lost' | 'expired'): void;
  unregisterRefusal(token: Uint8Array): void;
  /** Server: identifiers routed to this session / spent (never accepted again). */
  registerId(id: Uint8Array): void;
  spendId(id: Uint8Array): void;
}

export interface PersistenceHost {
  readonly role: SessionRole;
  readonly config: TransportConfig;
  readonly random: RandomSource;
  readonly staticKey: KeyPair;
  readonly secrets: EndpointSecrets;
  readonly streams: StreamMap;
  /** Routes the CIDs of resumption attempts; forgets the suspended paths' reset tokens. */
  readonly cids: CidState;
  readonly outbox: Outbox;
  /** The path lifecycle: the addresses of both ends, and which path ids are in use. */
  readonly paths: {
    readonly usableLocalAddresses: SocketAddress[];
    readonly knownPeerAddresses: SocketAddress[];
    byId(pathId: number): unknown;
    isRemoved(pathId: number): boolean;
    /** A path to the address validated once: it answered, so it is no third party. */
    isVerified(remote: SocketAddress): boolean;
    /** Charges a datagram to an address that never validated; false when its budget is spent. */
    spendUnverified(remote: SocketAddress, bytes: number, now: number): boolean;
  };
  /** Seals a suspended server's probes (on a path id never opened). */
  readonly builder: PacketBuilder;
  readonly routes: ResumptionRoutes;
  /** Handshake confirmed, the peer's static key. */
  readonly session: SessionView;
  installResumed(transport: ResumedTransport): void;
  expire(): void;
}

interface Attempt {
  id: ResumptionIdFrame;
  scid: Uint8Array;
  dcid: Uint8Array;
  /** One Noise state per PSK we might share with the server: message 0 is the same for both. */
  states: { psk: Uint8Array; state: HandshakeState }[];
  datagram: Uint8Array;
  /** The local addresses when it was built: a new network gets a new, unlinkable attempt. */
  localsKey: string;
}

interface ServerAttempt {
  id: Uint8Array;
  dcid: Uint8Array;
  reply: Uint8Array;
  nextSecret: Uint8Array;
}

export class SessionPersistence {
  private readonly host: PersistenceHost;
  /** Negotiated persistence timeout (ms); 0 = sessions are not suspended. */
  private timeout = 0;
  private _suspended = false;
  /** 'suspended' was reported and 'resumed' not yet: the application sees them in pairs. */
  private announced = false;
  private suspendedAt = 0;
  private expired = false;
  /** The resumption secret both sides hold (the PSK of the next resumption). */
  private secret: Uint8Array | undefined;
  /** Client: the secret of a resumption the server may have committed (no RESUME_DONE yet). */
  private candidateSecret: Uint8Array | undefined;
  /** After a resumption: the peer's checkpoints; stream data waits until all have arrived. */
  private peerState: PeerResumeState | undefined;
  /** Datagrams to send now (attempts, probes). */
  private readonly outbox: Transmit[] = [];

  // --- client ---
  private readonly heldIds: ResumptionIdFrame[] = [];
  private attempt: Attempt | undefined;
  private retryAt: number | undefined;
  private retryInterval = FIRST_RETRY_INTERVAL;
  /** Addresses the peer showed life from while we were suspended, and the application's extra targets. */
  private readonly hints: SocketAddress[] = [];
  private extraTargets: SocketAddress[] = [];
  private readonly triggeredAt = new Map<string, number>();
  /** Rounds the host's network-change reports may start, and the one deferred while none may. */
  private readonly networkChanges = new NetworkChangeBudget();
  private networkChangeDeferredAt: number | undefined;

  // --- server ---
  private readonly issued: ResumptionIdFrame[] = [];
  private nextIdSequence = 0;
  private serverAttempt: ServerAttempt | undefined;
  private probeAt: number | undefined;
  /** The peer's addresses when we suspended (our paths are not touched while suspended). */
  private probeTargets: SocketAddress[] = [];

  constructor(host: PersistenceHost) {
    this.host = host;
  }

  // ───────────────────────────── negotiation & handshake ─────────────────────────────

  /** Both sides' persistence_timeout: the smaller non-zero one, or 0 when either is 0. */
  negotiate(peerTimeout: number): void {
    const local = this.host.config.persistenceTimeout;
    this.timeout = local > 0 && peerTimeout > 0 ? Math.min(local, peerTimeout) : 0;
  }

  get enabled(): boolean {
    return this.timeout > 0;
  }

  get persistenceTimeout(): number {
    return this.timeout;
  }

  /** The first handshake completed: its split keys seed the resumption secret. */
  onHandshakeComplete(split: SplitResult, handshakeHash: Uint8Array): void {
    if (!this.enabled) return;
    this.secret = deriveResumptionSecret(split.initiatorKey, split.responderKey, handshakeHash);
  }

  /**
   * Server, writing its handshake message: the first identifier rides in it (the
   * initial_resumption_id transport parameter), so a client holds one the moment its handshake
   * completes, whatever happens to the packets after it. Undefined when we do not suspend.
   */
  initialIdParameter(): Uint8Array | undefined {
    if (this.host.role !== 'server' || this.host.config.persistenceTimeout === 0) return undefined;
    const frame = this.issueId();
    return Buffer.concat([frame.resumptionId, frame.lostToken, frame.expiredToken]);
  }

  /** Client: the server's initial_resumption_id (sequence 0). */
  onInitialIdParameter(value: Uint8Array): void {
    this.onResumptionId({
      type: 'resumption_id',
      sequence: 0,
      resumptionId: value.slice(0, 16),
      lostToken: value.slice(16, 32),
      expiredToken: value.slice(32, 48),
    });
  }

  /**
   * Server, handshake complete (and the client accepted): the other identifiers, at once, in the
   * first 1-RTT packets.
   */
  onEstablished(): void {
    if (this.host.role === 'server' && this.enabled) this.topUpIds();
  }

  private issueId(): ResumptionIdFrame {
    const id = this.host.random(RESUMPTION_ID_LENGTH);
    const frame: ResumptionIdFrame = {
      type: 'resumption_id',
      sequence: this.nextIdSequence++,
      resumptionId: id,
      lostToken: this.host.secrets.resumeRefusalToken(id, 'lost'),
      expiredToken: this.host.secrets.resumeRefusalToken(id, 'expired'),
    };
    this.issued.push(frame);
    this.host.routes.registerId(id);
    return frame;
  }

  private topUpIds(): void {
    while (this.issued.length < RESUMPTION_ID_COUNT) this.host.outbox.queueControl(this.issueId());
  }

  /** Server: identifiers still routed to this session (the endpoint forgets or tombstones them). */
  get outstandingIds(): Uint8Array[] {
    return this.issued.map((f) => f.resumptionId);
  }

  /** Server: the RESUME's DCID, while duplicates of it are answered from the cache. */
  get resumeAlias(): Uint8Array | undefined {
    return this.serverAttempt?.dcid;
  }

  get wasExpired(): boolean {
    return this.expired;
  }

  // ───────────────────────────── suspension ─────────────────────────────

  get suspended(): boolean {
    return this._suspended;
  }

  /** Stream data waits for the peer's checkpoints after a resumption. */
  get holdsStreams(): boolean {
    return this.peerState !== undefined && !this.peerState.complete;
  }

  /** A session that may be suspended instead of closed at the failure timeout. */
  get canSuspend(): boolean {
    if (!this.enabled || !this.secret) return false;
    // A server suspends only sessions whose client proved itself (confirmation); a client needs
    // an identifier, which the server sent under the session's keys.
    if (this.host.role === 'server') return this.host.session.handshakeConfirmed;
    return this.heldIds.length > 0 || this.attempt !== undefined;
  }

  /** No path has worked for the failure timeout (or the peer told us it is suspended). */
  suspend(now: number, reason: SuspendReason): void {
    if (this._suspended) return;
    this._suspended = true;
    this.suspendedAt = now;
    this.announce(reason);
    if (this.host.role === 'client') {
      // The server may forget the suspended paths' CIDs at any moment now (it resumes on new
      // ones), so a stateless reset for one of them says nothing about the session.
      this.host.cids.forgetPeerResetTokens();
      this.retryInterval = FIRST_RETRY_INTERVAL;
      this.round(now);
    } else {
      // Only addresses the client proved it holds: one it merely advertised, or that opened a
      // path never validated (a spoofed source), may be a victim's (protocol.md §11.2).
      const paths = this.host.paths;
      this.probeTargets = paths.knownPeerAddresses.filter((a) => paths.isVerified(a));
      this.probe(now);
    }
    this.host.outbox.wake();
  }

  private announce(reason: SuspendReason): void {
    if (this.announced) return;
    this.announced = true;
    this.host.outbox.stats.suspensions++;
    this.host.outbox.emit({ type: 'suspended', reason });
  }

  /** The application closed the session (or it closed otherwise) while suspended. */
  onClosed(): void {
    this._suspended = false;
    this.outbox.length = 0;
    if (this.attempt) this.dropAttempt();
  }

  deadline(): number | undefined {
    if (this.outbox.length > 0) return undefined; // pollTransmit drains it
    let at = Infinity;
    if (this._suspended) {
      at = this.suspendedAt + this.timeout;
      if (this.retryAt !== undefined) at = Math.min(at, this.retryAt);
      if (this.probeAt !== undefined) at = Math.min(at, this.probeAt);
      if (this.networkChangeDeferredAt !== undefined) at = Math.min(at, this.networkChangeDeferredAt);
    }
    return at === Infinity ? undefined : at;
  }

  onTimeout(now: number): void {
    if (!this._suspended) return;
    if (now >= this.suspendedAt + this.timeout) {
      this.expired = true;
      this._suspended = false;
      this.outbox.length = 0;
      if (this.attempt) this.dropAttempt();
      this.host.expire();
      return;
    }
    if (this.networkChangeDeferredAt !== undefined && now >= this.networkChangeDeferredAt) {
      this.networkChangeDeferredAt = undefined;
      this.onNetworkChange(now);
    }
    if (this.retryAt !== undefined && now >= this.retryAt) this.round(now);
    if (this.probeAt !== undefined && now >= this.probeAt) this.probe(now);
  }

  pollTransmit(): Transmit | undefined {
    return this.outbox.shift();
  }

  get hasOutgoing(): boolean {
    return this.outbox.length > 0;
  }

  /**
   * An authenticated packet under the current keys while suspended (or one carrying
   * SUSPENDED): some path works. A client suspends (if it was not) and sends its attempt
   * there at once; a suspended server answers with a SUSPENDED probe so the client resumes.
   */
  onPeerHeard(local: SocketAddress, remote: SocketAddress, frames: Frame[], now: number): void {
    const peerSuspended = frames.some((f) => f.type === 'suspended');
    if (this.host.role === 'client') {
      if (!this._suspended) {
        if (!peerSuspended || !this.canSuspend) return;
        this.suspend(now, 'peer-suspended');
      }
      this.addHint(remote);
      if (this.triggerAllowed(local, remote, now)) this.sendAttempt(local, remote, now);
    } else if (this._suspended && this.triggerAllowed(local, remote, now)) {
      const probe = this.suspendedProbe(local, remote, now);
      if (probe) this.outbox.push(probe);
    }
    this.host.outbox.wake();
  }

  private triggerAllowed(local: SocketAddress, remote: SocketAddress, now: number): boolean {
    const key = `${addressKey(local)}>${addressKey(remote)}`;
    const last = this.triggeredAt.get(key);
    if (last !== undefined && now - last < TRIGGER_SPACING) return false;
    this.triggeredAt.set(key, now);
    if (this.triggeredAt.size > 4 * MAX_PAIRS) this.triggeredAt.delete(this.triggeredAt.keys().next().value!);
    return true;
  }

  // ───────────────────────────── client: attempts ─────────────────────────────

  /** Server-issued identifier (RESUMPTION_ID); kept until presented in an attempt. */
  onResumptionId(frame: ResumptionIdFrame): void {
    if (this.host.role === 'server')
      throw new WireError('RESUMPTION_ID from client', TransportError.PROTOCOL_VIOLATION);
    if (this.heldIds.some((f) => f.sequence === frame.sequence)) return;
    this.heldIds.push(frame);
    this.heldIds.sort((a, b) => a.sequence - b.sequence);
    if (this.heldIds.length > MAX_HELD_IDS) this.heldIds.shift();
  }

  /** Server confirmed the resumption: the secret it now holds is ours too. */
  onResumeDone(): void {
    if (this.host.role === 'server')
      throw new WireError('RESUME_DONE from client', TransportError.PROTOCOL_VIOLATION);
    if (this.candidateSecret) {
      this.secret = this.candidateSecret;
      this.candidateSecret = undefined;
    }
  }

  /** Addresses the application resolved for the server (e.g. DNS again): tried on the next round. */
  setExtraTargets(addresses: readonly SocketAddress[]): void {
    this.extraTargets = [...addresses];
  }

  /** Our addresses changed: while suspended, a new network gets a new attempt, sent at once. */
  onLocalAddressesChanged(now: number): void {
    if (!this._suspended) return;
    if (this.host.role === 'client') {
      this.retryInterval = FIRST_RETRY_INTERVAL;
      this.round(now);
    } else {
      this.probe(now);
    }
  }

  /**
   * The host's links or routes changed (protocol.md §15.3): a path may work again, so a
   * suspended client sends its attempt to every candidate pair now, with its backoff restarted,
   * and a suspended server probes now, instead of at the next timer (up to resumeInterval, or 4 ×
   * it, away). Rate-limited (NetworkChangeBudget): a storm beyond the budget costs one
   * coalesced round per refill.
   */
  onNetworkChange(now: number): void {
    if (!this._suspended) return;
    if (!this.networkChanges.take(now)) {
      this.networkChangeDeferredAt ??= this.networkChanges.nextAt(now);
      return;
    }
    this.networkChangeDeferredAt = undefined;
    if (this.host.role === 'client') {
      this.retryInterval = FIRST_RETRY_INTERVAL;
      this.round(now);
    } else {
      this.probe(now);
    }
  }

  private addHint(remote: SocketAddress): void {
    const key = addressKey(remote);
    const i = this.hints.findIndex((a) => addressKey(a) === key);
    if (i >= 0) this.hints.splice(i, 1);
    this.hints.unshift(remote);
    if (this.hints.length > MAX_PAIRS) this.hints.pop();
  }

  /** Candidate pairs: every usable local address × every address the server may be at. */
  private candidatePairs(): [SocketAddress, SocketAddress][] {
    const remotes = new Map<string, SocketAddress>();
    for (const r of [...this.hints, ...this.host.paths.knownPeerAddresses, ...this.extraTargets])
      if (!remotes.has(addressKey(r))) remotes.set(addressKey(r), r);
    const pairs: [SocketAddress, SocketAddress][] = [];
    for (const remote of remotes.values())
      for (const local of this.host.paths.usableLocalAddresses)
        if (local.family === remote.family && pairs.length < MAX_PAIRS) pairs.push([local, remote]);
    return pairs;
  }

  /** One round: the current attempt (a new one if our addresses changed) to every pair. */
  private round(now: number): void {
    const localsKey = this.host.paths.usableLocalAddresses.map(addressKey).sort().join(',');
    if (!this.attempt || (this.attempt.localsKey !== localsKey && this.heldIds.length > 0))
      this.newAttempt(localsKey);
    if (this.attempt)
      for (const [local, remote] of this.candidatePairs()) this.sendAttempt(local, remote, now);
    this.retryAt = now + this.retryInterval;
    this.retryInterval = Math.min(2 * this.retryInterval, this.host.config.resumeInterval);
  }

  private sendAttempt(local: SocketAddress, remote: SocketAddress, now: number): void {
    if (!this.attempt) return;
    const data = this.attempt.datagram;
    // A server address no path validated (advertised, or a packet's source, which may be
    // spoofed) gets the budget of protocol.md §11.2 at most; the application's targets are its own.
    const own = this.extraTargets.some((a) => sameAddress(a, remote));
    if (!own && !this.host.paths.spendUnverified(remote, data.length, now)) return;
    this.outbox.push({ local, remote, data });
  }

  /**
   * Builds the RESUME: a fresh DCID and SCID, the next unused identifier, and IKpsk2 message 0.
   * Message 0 does not depend on the PSK (psk2 is mixed in message 1), so one datagram serves
   * both secrets we might share with the server.
   */
  private newAttempt(localsKey: string): void {
    const id = this.heldIds.shift();
    const secret = this.secret;
    const serverKey = this.host.session.remoteKey;
    if (!id || !secret || !serverKey) return;
    if (this.attempt) this.dropAttempt();
    const random = this.host.random;
    const scid = random(this.host.cids.cidLength);
    const dcid = random(Math.max(8, this.host.cids.cidLength));
    const prologue = handshakePrologue(RESUME_PATTERN, dcid, scid, BRAID_VERSION_1, id.resumptionId);
    const e = ephemeralKeyPair(random);
    const psks = this.candidateSecret ? [secret, this.candidateSecret] : [secret];
    const states = psks.map((psk) => ({
      psk,
      state: new HandshakeState({
        protocolName: RESUME_PROTOCOL_NAME,
        initiator: true,
        prologue,
        s: this.host.staticKey,
        e,
        rs: serverKey,
        psks: [psk],
      }),
    }));
    let message: Uint8Array | undefined;
    for (const { state } of states) message = state.writeMessage(new Uint8Array(0));
    const datagram = encodeResume({
      kind: 'resume',
      version: BRAID_VERSION_1,
      dcid,
      scid,
      token: id.resumptionId,
      pattern: RESUME_PATTERN,
      payload: message!,
    });
    this.host.cids.route(scid);
    this.host.routes.registerRefusal(id.lostToken, 'lost');
    this.host.routes.registerRefusal(id.expiredToken, 'expired');
    this.attempt = { id, scid, dcid, states, datagram, localsKey };
  }

  private dropAttempt(): void {
    const attempt = this.attempt;
    if (!attempt) return;
    this.attempt = undefined;
    this.host.cids.unroute(attempt.scid);
    this.host.routes.unregisterRefusal(attempt.id.lostToken);
    this.host.routes.unregisterRefusal(attempt.id.expiredToken);
  }

  /**
   * A HANDSHAKE(1) for our attempt's SCID: the server's IKpsk2 message 1. Returns false when it
   * is not ours (the caller handles it as an ordinary handshake packet).
   */
  onResumeReply(
    packet: HandshakePacket,
    datagramLength: number,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
  ): boolean {
    const attempt = this.attempt;
    if (this.host.role !== 'client' || !attempt || !bytesEqual(packet.dcid, attempt.scid)) return false;
    if (packet.messageIndex !== 1) {
      this.host.outbox.drop('resume-unexpected');
      return true;
    }
    // Read on copies: a forged or corrupted reply must not spoil the attempt.
    let opened: { psk: Uint8Array; state: HandshakeState; payload: Uint8Array } | undefined;
    for (const { psk, state } of attempt.states) {
      const copy = state.clone();
      try {
        opened = { psk, state: copy, payload: copy.readMessage(packet.payload) };
        break;
      } catch {
        // the other secret, if any
      }
    }
    if (!opened) {
      this.host.outbox.drop('resume-decrypt');
      return true;
    }
    let params: ReturnType<typeof decodeTransportParameters>;
    try {
      params = decodeTransportParameters(opened.payload, 'server');
    } catch {
      this.host.outbox.drop('resume-parameters');
      return true;
    }
    if (!params.initialSourceConnectionId || !bytesEqual(params.initialSourceConnectionId, packet.scid)) {
      this.host.outbox.drop('resume-header-mismatch');
      return true;
    }
    const split = opened.state.split();
    // Which secret the server used tells what it has committed.
    if (this.candidateSecret && bytesEqual(opened.psk, this.candidateSecret))
      this.secret = this.candidateSecret;
    this.candidateSecret = deriveResumptionSecret(
      split.initiatorKey,
      split.responderKey,
      opened.state.handshakeHash(),
    );
    this.host.routes.unregisterRefusal(attempt.id.lostToken);
    this.host.routes.unregisterRefusal(attempt.id.expiredToken);
    const paths = this.host.paths;
    const validation = paths.isVerified(remote) ? 'proven' : 'challenge';
    // A reply from an address never validated may come from a spoofed source: the server's
    // proven addresses stay targets of the next resumption, so a spoof that fails the challenge
    // cannot cost the session its server.
    const proven =
      validation === 'challenge'
        ? [...this.hints, ...paths.knownPeerAddresses].filter((a) => paths.isVerified(a))
        : [];
    this.attempt = undefined;
    this.finishSuspension();
    for (const address of proven.reverse()) this.addHint(address);
    this.announced = false;
    this.host.installResumed({
      split,
      local,
      remote,
      localCid: attempt.scid,
      peerCid: packet.scid,
      peerResetToken: params.statelessResetToken,
      validation,
      bytesReceived: datagramLength,
      reply: undefined,
      now,
    });
    this.afterInstall();
    this.host.outbox.stats.resumptions++;
    this.host.outbox.emit({ type: 'resumed' });
    return true;
  }

  private finishSuspension(): void {
    this._suspended = false;
    this.retryAt = undefined;
    this.probeAt = undefined;
    this.networkChangeDeferredAt = undefined;
    this.outbox.length = 0;
    this.hints.length = 0;
    this.triggeredAt.clear();
  }

  /** Both sides, right after new keys are installed: our checkpoints go out, theirs are awaited. */
  private afterInstall(): void {
    for (const frame of buildResumeState(this.host.streams, RESUME_STATE_FRAME_SIZE))
      this.host.outbox.queueControl(frame);
    this.peerState = new PeerResumeState();
  }

  onResumeState(
    frame: ResumeStateFrame,
    effects: { finished(id: number): void; writable(id: number): void },
  ): void {
    // A RESUME_STATE outside a resumption (a retransmission after completion) changes nothing.
    if (!this.peerState || this.peerState.complete) return;
    this.peerState.onFrame(frame, this.host.streams, effects);
    if (this.peerState.complete) this.host.outbox.wake();
  }

  // ───────────────────────────── server: RESUME ─────────────────────────────

  /**
   * Server: a RESUME presenting one of our live identifiers. Reads IKpsk2 message 0 with the
   * session's secret; on success answers with message 1, installs the new keys and path at once
   * and waits for the first packet under them. Returns false (nothing changed) when the message
   * does not authenticate as this session's client.
   */
  acceptResume(
    packet: ResumePacket,
    datagramLength: number,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
  ): boolean {
    const secret = this.secret;
    const clientKey = this.host.session.remoteKey;
    if (this.host.role !== 'server' || !secret || !clientKey || packet.pattern !== RESUME_PATTERN)
      return false;
    const issued = this.issued.findIndex((f) => bytesEqual(f.resumptionId, packet.token));
    if (issued < 0) return false;
    let state: HandshakeState;
    try {
      state = new HandshakeState({
        protocolName: RESUME_PROTOCOL_NAME,
        initiator: false,
        prologue: handshakePrologue(RESUME_PATTERN, packet.dcid, packet.scid, BRAID_VERSION_1, packet.token),
        s: this.host.staticKey,
        e: ephemeralKeyPair(this.host.random),
        psks: [secret],
      });
      state.readMessage(packet.payload);
    } catch {
      return false;
    }
    const presented = state.remoteStaticKey();
    if (!presented || !bytesEqual(presented, clientKey)) return false;
    // Presented once: never accepted again, whatever happens next.
    this.issued.splice(issued, 1);
    this.host.routes.spendId(packet.token);
    const localCid = this.host.random(this.host.cids.cidLength);
    this.host.cids.route(localCid);
    const reply = state.writeMessage(
      encodeTransportParameters({
        initialSourceConnectionId: localCid,
        statelessResetToken: this.host.secrets.statelessResetToken(localCid),
      }),
    );
    const split = state.split();
    const datagram = encodeHandshake({
      kind: 'handshake',
      version: BRAID_VERSION_1,
      dcid: packet.scid,
      scid: localCid,
      messageIndex: 1,
      payload: reply,
    });
    // A newer attempt supersedes an unconfirmed older one (the client moved on).
    if (this.serverAttempt) this.host.cids.unroute(this.serverAttempt.dcid);
    this.serverAttempt = {
      id: packet.token,
      dcid: packet.dcid,
      reply: datagram,
      nextSecret: deriveResumptionSecret(split.initiatorKey, split.responderKey, state.handshakeHash()),
    };
    this.host.cids.route(packet.dcid);
    // Pair the application's events: a server that had not noticed the outage suspends now.
    this.announce('peer-suspended');
    this.finishSuspension();
    this.host.installResumed({
      split,
      local,
      remote,
      localCid,
      peerCid: packet.scid,
      peerResetToken: undefined,
      validation: 'confirmation',
      bytesReceived: datagramLength,
      reply: datagram,
      now,
    });
    this.afterInstall();
    return true;
  }

  /** Server: the cached reply, for a duplicate of the RESUME being answered. */
  get cachedReply(): Uint8Array | undefined {
    return this.serverAttempt?.reply;
  }

  get awaitingConfirmation(): boolean {
    return this.serverAttempt !== undefined;
  }

  /** Server: the first packet under the new keys arrived: the client holds them. Commit. */
  confirm(): void {
    const attempt = this.serverAttempt;
    if (!attempt) return;
    this.serverAttempt = undefined;
    this.host.cids.unroute(attempt.dcid);
    this.secret = attempt.nextSecret;
    this.finishSuspension();
    this.host.outbox.queueControl({ type: 'resume_done' });
    this.topUpIds();
    this.announced = false;
    this.host.outbox.stats.resumptions++;
    this.host.outbox.emit({ type: 'resumed' });
  }

  // ───────────────────────────── server: probes ─────────────────────────────

  /**
   * A SUSPENDED short-header packet on a path id neither side has used (a peer CID issued for
   * it), from `local` to `remote`: how a suspended server reaches the client's addresses without
   * a path. Its own number space (the path id is never opened under these keys) keeps nonces unique.
   */
  private suspendedProbe(local: SocketAddress, remote: SocketAddress, now: number): Transmit | undefined {
    const { paths, cids, builder } = this.host;
    const peer = cids.peerCidOfUnusedPathId((id) => !paths.byId(id) && !paths.isRemoved(id));
    if (!builder.keys || !peer) return undefined;
    const size = 1 + peer.cid.length + 4 + 32 + AEAD_TAG;
    const packet = builder.beginUnopened(peer.pathId, peer.cid, local, remote, size);
    encodeFrame(packet.w, { type: 'suspended' });
    packet.w.offset = size - AEAD_TAG; // the rest is PADDING (zeros)
    return builder.finish(packet, now, 'untracked');
  }

  /** SUSPENDED probes from each of our addresses to each address the client was known at. */
  private probe(now: number): void {
    const locals = this.host.paths.usableLocalAddresses;
    let sent = 0;
    for (const remote of this.probeTargets) {
      for (const local of locals) {
        if (local.family !== remote.family || sent >= MAX_PAIRS) continue;
        const probe = this.suspendedProbe(local, remote, now);
        if (!probe) return this.scheduleProbe(now);
        this.outbox.push(probe);
        sent++;
      }
    }
    this.scheduleProbe(now);
  }

  private scheduleProbe(now: number): void {
    this.probeAt = now + SERVER_PROBE_FACTOR * this.host.config.resumeInterval;
  }
}
