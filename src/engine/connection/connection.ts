/**
 * One Braid session as a pure state machine (sans-I/O). The Endpoint feeds it
 * datagrams already routed by connection ID, API calls and `now`; it produces
 * datagrams (with the address pair to use), a deadline and events.
 *
 * The session's shared state has one owner each in src/engine/connection/: CIDs
 * (cid-state), control frames / datagrams / events / stats (outbox), the packet envelope and
 * send keys (packet-builder), what each packet carried (sent-records), deadlines (timers),
 * the idle timer and stall watchdog (liveness), the handshake message being resent
 * (handshake-flight), frame writers (frame-writer), what received frames do (frame-handler),
 * the transport parameters (session-params).
 * PathManager, SessionPersistence and MultipathSession get those owners, not callbacks into
 * this class.
 *
 * Layout of this file: construction & handshake → receive path (frames: frame-handler) →
 * transmit path (packetizer) → timers → application API.
 */

import { channelBindingFrom } from '../../crypto/identity.js';
import { INITIAL_MAC_LENGTH, initialMacKey, sealInitialMac } from '../../crypto/initial-mac.js';
import type { HandshakeState, KeyPair } from '../../crypto/noise/index.js';
import { unprotectHeader } from '../../crypto/packet-protection.js';
import type { SocketAddress, Transmit } from '../../net/address.js';
import type { Path } from '../../paths/path.js';
import { BASE_UDP_PAYLOAD } from '../../paths/pmtu.js';
import { TransportError, transportErrorName, WireError } from '../../wire/errors.js';
import { decodeFrames, largestDatagramData } from '../../wire/frame-codec.js';
import { type Frame, isAckEliciting } from '../../wire/frames.js';
import {
  BRAID_VERSION_1,
  type HandshakePacket,
  type InitialPacket,
  type ResumePacket,
} from '../../wire/packet.js';
import {
  decodePacketNumber,
  encodeHandshake,
  encodeInitial,
  initialPayloadEnd,
  parseShortHeader,
  shortHeaderFlags,
} from '../../wire/packet-codec.js';
import { DATAGRAM_QUEUE_BYTES } from '../config.js';
import { tai64n } from '../first-flight-freshness.js';
import {
  createHandshake,
  ephemeralKeyPair,
  type FirstMessage,
  HandshakePattern,
  type HandshakePatternId,
  handshakePrologue,
  IK_MAC_PATTERN,
} from '../handshake.js';
import type { PathHealth } from '../path-health.js';
import { checkpointConfirmation, checkpointRequest } from '../persistence/app-checkpoints.js';
import type { EarlyDataVerdict } from '../persistence/early-data.js';
import { type ServerEarlyData, SessionEarlyData } from '../persistence/session-early-data.js';
import { type ResumedTransport, SessionPersistence } from '../persistence/session-persistence.js';
import { bytesEqual, type EndpointSecrets, type RandomSource } from '../secrets.js';
import type { MemoryPressure } from '../session-limits.js';
import { StreamError, StreamUsageError } from '../streams/errors.js';
import { StreamMap } from '../streams/stream-map.js';
import type {
  CloseInfo,
  CloseSource,
  ConnectionEvent,
  ConnectionState,
  ConnectionStats,
  EarlyDataState,
  EarlyDataTicket,
  EngineConnection,
  MultipathPolicy,
  PathInfo,
  SessionRole,
  StreamId,
  SuspendReason,
  TransportConfig,
} from '../types.js';
import { CidState } from './cid-state.js';
import { FrameHandler } from './frame-handler.js';
import { FrameWriter } from './frame-writer.js';
import { HandshakeFlight } from './handshake-flight.js';
import { Liveness } from './liveness.js';
import { MultipathSession } from './multipath.js';
import { Outbox } from './outbox.js';
import { AEAD_TAG, PacketBuilder } from './packet-builder.js';
import { Packetizer, type PacketizerSession } from './packetizer.js';
import { isPathProbe, isProbingOnly, type PathHost, PathManager } from './path-manager.js';
import { type SentInfo, type SentRecord, SentRecords } from './sent-records.js';
import {
  type HandshakeCids,
  headerMatchesParams,
  type ParamsError,
  SessionParams,
} from './session-params.js';
import { Timers } from './timers.js';

/** ACK bytes a probe carries at most (its receipt report stays small; large ACKs ride on data packets). */
const MAX_DATAGRAM_QUEUE = 256;
export interface ConnectionOptions {
  role: SessionRole;
  handle: number;
  config: TransportConfig;
  staticKey: KeyPair;
  random: RandomSource;
  secrets: EndpointSecrets;
  cidLength: number;
  now: number;
  local: SocketAddress;
  remote: SocketAddress;
  /** Called whenever the connection has something new to send or report. */
  onWake: (conn: Connection) => void;
  /** Register / forget a local connection ID for routing. */
  registerCid: (cid: Uint8Array, conn: Connection) => void;
  unregisterCid: (cid: Uint8Array) => void;
  onHandshakeConfirmed?: (conn: Connection) => void;
  /** A stateless-reset token the peer gave us: the endpoint matches unroutable packets against it. */
  registerResetToken?: (token: Uint8Array, conn: Connection) => void;
  /** The token's CID was retired: a reset carrying it must no longer close us (RFC 9000 §10.3.1). */
  unregisterResetToken?: (token: Uint8Array) => void;
  /** Test-only fault injection (the simulator's broken-engine test); never set in production. */
  testHooks?: ConnectionTestHooks;
  /** Path health shared by the endpoint's sessions (which address looks broken). */
  pathHealth?: PathHealth;
  /** Server: whether the endpoint is over its memory budget (receive windows shrink then). */
  memoryPressure?: MemoryPressure;
  /** Persistence (docs/persistence.md): the endpoint's routing of resumption identifiers and refusals. */
  resumption?: ResumptionRouting;
  /** Server: the endpoint's 0-RTT policy (tickets, strike register, refusals). */
  earlyData?: ServerEarlyData;
  /** Client: the TAI64N timestamp for an IK first flight sent at `now` (first-flight-freshness.ts). */
  firstFlightTimestamp?: (now: number) => Uint8Array;
}

/** What became of a first flight (acceptInitial). */
export type InitialVerdict = 'accepted' | 'rejected' | 'replayed';

/** What a session's persistence needs from its endpoint. */
export interface ResumptionRouting {
  /** Client: a stateless refusal ending in `token` closes us with that reason. */
  registerRefusal(token: Uint8Array, kind: 'lost' | 'expired', conn: Connection): void;
  unregisterRefusal(token: Uint8Array): void;
  /** Server: identifiers issued to / presented by this session. */
  registerId(id: Uint8Array, conn: Connection): void;
  spendId(id: Uint8Array): void;
}

export interface ConnectionTestHooks {
  /** Rewrites the frames of each authenticated short-header packet before they are processed. */
  mutateFramesBeforeProcessing?(frames: Frame[]): Frame[];
}

/**
 * Server: decides whether a client key may have this session, once the handshake names it.
 * A refusal is sent as a CLOSE with its code right after the handshake (docs/protocol.md §7.7).
 */
export type SessionAdmission = (key: Uint8Array) => { code: number; reason: string } | undefined;

/** Bytes a session holds for the application (read-only view for bounds checks). */
export interface ConnectionMemoryUsage {
  streams: number;
  /** Sum over streams of bytes written but not yet acknowledged. */
  sendBuffered: number;
  /** Sum over streams of bytes received but not yet read. */
  receiveBuffered: number;
  /** Largest current per-stream receive window, and the connection-level one. */
  largestStreamWindow: number;
  connectionWindow: number;
  queuedDatagrams: number;
  /** Bytes of the queued datagrams. */
  queuedDatagramBytes: number;
  queuedControlFrames: number;
}

export class Connection implements EngineConnection {
  readonly role: SessionRole;
  readonly handle: number;
  private _state: ConnectionState = 'handshaking';
  private readonly config: TransportConfig;
  private readonly staticKey: KeyPair;
  private readonly random: RandomSource;
  private readonly secrets: EndpointSecrets;
  private readonly cidLength: number;
  private readonly onWake: (conn: Connection) => void;
  private readonly registerCid: (cid: Uint8Array, conn: Connection) => void;
  private readonly unregisterCid: (cid: Uint8Array) => void;
  private readonly onHandshakeConfirmed: ((conn: Connection) => void) | undefined;
  private readonly firstFlightTimestamp: ((now: number) => Uint8Array) | undefined;
  private readonly registerResetToken: ((token: Uint8Array, conn: Connection) => void) | undefined;
  private readonly unregisterResetToken: ((token: Uint8Array) => void) | undefined;
  private readonly testHooks: ConnectionTestHooks | undefined;
  private readonly pathHealth: PathHealth | undefined;

  // --- handshake ---
  private handshake: HandshakeState | undefined;
  private pattern: HandshakePatternId = HandshakePattern.IK;
  private handshakeConfirmed = false;
  private handshakeHash: Uint8Array | undefined;
  private _remoteKey: Uint8Array | undefined;
  /** Client: the DCID of its first INITIAL, and the token/Retry it got. */
  originalDcid: Uint8Array;
  private retryScid: Uint8Array | undefined;
  private retryToken: Uint8Array = new Uint8Array(0);
  private expectedServerKey: Uint8Array | undefined;
  /** Server: the INITIAL's DCID stays routable until the handshake is confirmed. */
  initialDcidAlias: Uint8Array | undefined;
  /** Server: refuse after completing the handshake (unauthorized client key). */
  private refuseWith: { code: number; reason: string } | undefined;
  private authorize: SessionAdmission | undefined;

  // --- owners of shared session state (src/engine/connection/) ---
  /** What the owners read of the handshake and lifecycle (one object, getters over this). */
  private readonly view: PacketizerSession;
  private readonly outbox = new Outbox(() => this.onWake(this));
  private readonly cids: CidState;
  private readonly builder: PacketBuilder;
  private readonly timers = new Timers();
  private readonly liveness: Liveness;
  /** Our latest handshake message, resent until answered. */
  private readonly flight = new HandshakeFlight(this.timers);
  private readonly sent: SentRecords;
  private readonly frames: FrameWriter;
  /** What goes out once the session has keys (probes, data, CLOSE), and the PING / probes owed. */
  private readonly packets: Packetizer;
  /** What the frames of an authenticated packet do to the session's state. */
  private readonly receive: FrameHandler;

  // --- paths ---
  private readonly pathManager: PathManager;
  /** The multipath policy at work (src/engine/connection/multipath.ts). */
  private readonly multipath: MultipathSession<Path<SentInfo>, SentRecord>;

  // --- streams & flow control ---
  private readonly streams: StreamMap;

  // --- persistence (suspend / resume, docs/persistence.md) ---
  private readonly persist: SessionPersistence;
  // --- 0-RTT (docs/persistence.md §5) ---
  private readonly early: SessionEarlyData;
  /** Our transport parameters and the peer's. */
  private readonly params: SessionParams;
  /** Client: the INITIAL waits for the application's first writes (they may ride in it). */
  private initialDeferred = false;

  // --- lifecycle ---
  private closeInfo: CloseInfo | undefined;
  private closeFramePending = false;
  private lastCloseSentAt = -Infinity;

  constructor(options: ConnectionOptions) {
    this.role = options.role;
    this.handle = options.handle;
    this.config = options.config;
    this.staticKey = options.staticKey;
    this.random = options.random;
    this.secrets = options.secrets;
    this.cidLength = options.cidLength;
    this.onWake = options.onWake;
    this.registerCid = options.registerCid;
    this.unregisterCid = options.unregisterCid;
    this.onHandshakeConfirmed = options.onHandshakeConfirmed;
    this.firstFlightTimestamp = options.firstFlightTimestamp;
    this.registerResetToken = options.registerResetToken;
    this.unregisterResetToken = options.unregisterResetToken;
    this.testHooks = options.testHooks;
    this.pathHealth = options.pathHealth;
    this.timers.set('handshake', options.now + options.config.handshakeTimeout);
    this.originalDcid = new Uint8Array(0);
    const connection = this;
    this.view = {
      get handshakeConfirmed() {
        return connection.handshakeConfirmed;
      },
      get established() {
        return connection._state === 'established';
      },
      get peerParams() {
        // Read as the first path opens, before the parameters' owner exists.
        return connection.params?.peer;
      },
      get remoteKey() {
        return connection._remoteKey;
      },
      get holdsStreams() {
        return connection.persist.holdsStreams;
      },
      get maxDatagramSize() {
        return connection.maxDatagramSize;
      },
    };
    this.streams = StreamMap.fromConfig(options.role, options.config, undefined, options.memoryPressure);
    this.liveness = new Liveness(this.timers, options.config.idleTimeout);
    this.builder = new PacketBuilder(this.outbox, options.config.keyUpdateInterval);
    this.cids = new CidState({
      cidLength: options.cidLength,
      random: options.random,
      secrets: options.secrets,
      outbox: this.outbox,
      routing: {
        register: (cid) => this.registerCid(cid, this),
        unregister: (cid) => this.unregisterCid(cid),
        registerResetToken: (token) => this.registerResetToken?.(token, this),
        unregisterResetToken: (token) => this.unregisterResetToken?.(token),
      },
    });
    this.multipath = new MultipathSession(
      options.config.multipath,
      {
        get now() {
          return connection.lastNow;
        },
        get paths() {
          return connection.pathManager;
        },
        get sendWindow() {
          return connection.streams.sendWindow;
        },
        hasPendingData: () => this.packets.hasPendingData(),
        buildPacket: (path, now, plan) => this.packets.buildPacket(path, now, plan),
      },
      // The scheduler's unit: every path carries this much (PMTU discovery may allow more).
      BASE_UDP_PAYLOAD,
      options.config.congestionControl !== 'bbr',
    );
    this.pathManager = new PathManager(this.pathHost(), options.local, options.remote, options.now);
    this.frames = new FrameWriter(this.streams, this.outbox, this.multipath);
    this.sent = new SentRecords(this.streams, this.outbox, this.cids, this.pathManager);
    this.persist = this.createPersistence(options.resumption);
    this.early = new SessionEarlyData({
      streams: this.streams,
      frames: this.frames,
      sent: this.sent,
      liveness: this.liveness,
      outbox: this.outbox,
      policy: options.earlyData,
    });
    this.params = new SessionParams({
      role: options.role,
      config: options.config,
      cids: this.cids,
      streams: this.streams,
      liveness: this.liveness,
      paths: this.pathManager,
      multipath: this.multipath,
      persist: this.persist,
      early: this.early,
    });
    this.packets = new Packetizer({
      config: options.config,
      session: this.view,
      paths: this.pathManager,
      multipath: this.multipath,
      builder: this.builder,
      frames: this.frames,
      sent: this.sent,
      liveness: this.liveness,
      outbox: this.outbox,
      streams: this.streams,
    });
    this.receive = new FrameHandler({
      role: options.role,
      config: options.config,
      session: this.view,
      confirmHandshake: () => this.confirmHandshake(),
      streams: this.streams,
      cids: this.cids,
      paths: this.pathManager,
      multipath: this.multipath,
      persist: this.persist,
      builder: this.builder,
      sent: this.sent,
      liveness: this.liveness,
      outbox: this.outbox,
    });
  }

  /** The path the session sends on (the path lifecycle decides which). */
  private get activePath(): Path<SentInfo> {
    return this.pathManager.active;
  }

  private get pathList(): readonly Path<SentInfo>[] {
    return this.pathManager.list;
  }

  /** The narrow interface the path lifecycle (path-manager.ts) has to this connection. */
  private pathHost(): PathHost {
    const conn = this;
    return {
      role: this.role,
      config: this.config,
      random: (n) => this.random(n),
      session: this.view,
      health: this.pathHealth,
      policy: {
        get spreads() {
          return conn.multipath.spreads;
        },
        get coversAddresses() {
          return conn.multipath.policy === 'aggregate';
        },
        mayOpenPaths: (now, trouble) => {
          const open = this.multipath.lazy.open(now, this.bytesMoved(), trouble);
          if (open) this.timers.set('lazyPaths', undefined);
          return open;
        },
        congestionController: () => this.multipath.controllerForNewPath(),
      },
      cids: this.cids,
      outbox: this.outbox,
      get sent() {
        return conn.sent;
      },
      onActiveChanged: (now) => {
        this.liveness.touchIdle(now, this.activePath.pto());
        // A non-probing packet on the new path at once: the peer follows, and its ACK proves the path.
        if (this._state === 'established') this.packets.pingPending = true;
      },
      probeActive: (count = 1) => {
        this.packets.probesPending = Math.max(this.packets.probesPending, count);
        this.wake();
      },
    };
  }

  // ───────────────────────────── construction & handshake ─────────────────────────────

  /**
   * Client: starts the handshake. IK when `serverKey` is known, XX otherwise. With a ticket
   * (and IK) streams may be opened and written at once: what is written before the first
   * datagram goes out rides in the INITIAL as early data (0-RTT), within the ticket's limits.
   */
  startClient(serverKey: Uint8Array | undefined, now: number, ticket?: EarlyDataTicket): void {
    this.expectedServerKey = serverKey;
    this.pattern = serverKey ? HandshakePattern.IK : HandshakePattern.XX;
    this.originalDcid = this.random(Math.max(8, this.cidLength));
    this.activePath.remoteCid = this.originalDcid;
    // Anti-amplification protects others from servers; a client chose its server itself.
    this.activePath.validated = true;
    if (ticket && serverKey && bytesEqual(ticket.serverKey, serverKey)) {
      this.early.useTicket(ticket);
      this.initialDeferred = true;
      this.wake();
      return;
    }
    this.sendInitial(now);
  }

  /** Client: the first flight's STREAM frames, within the ticket's limit and the INITIAL's room. */
  private buildEarlyFlight(): void {
    const mtu = BASE_UDP_PAYLOAD;
    const header = 1 + 4 + 1 + this.originalDcid.length + 1 + this.cidLength + 1 + 1 + 2;
    const noise = 32 + 32 + 16 + 16 + INITIAL_MAC_LENGTH; // IK message 0: e, encrypted s, payload tag; mac
    // + early_data id/length; the timestamp's size does not depend on its value.
    const params = this.params.encodeOwn(this.handshakeCids, this.timestampParameter(0)).length + 4;
    this.early.writeFlight(Math.min(this.early.maxBytes!, mtu - header - noise - params));
  }

  /** Server, IK message 0 read: decides on the early data it carried (docs/persistence.md §5). */
  private decideEarlyData(now: number): void {
    const p = this.params.peer;
    if (!p?.earlyData) return;
    const clientKey = this.refuseWith ? undefined : this.handshake?.remoteStaticKey();
    this.early.decide(p, clientKey, this.config, now);
  }

  /** Server: why the early data was refused ('accepted' when it was not), for logs and tests. */
  get earlyVerdict(): EarlyDataVerdict | 'malformed' | undefined {
    return this.early.verdict;
  }

  /** Server, handshake complete: delivers the accepted early data, its streams flagged early. */
  private deliverEarlyData(now: number): void {
    const frames = this.early.takeAccepted();
    if (!frames || this._state !== 'established') return;
    try {
      for (const f of frames) if (f.type === 'stream') this.receive.deliverStream(f, now, true);
    } catch (err) {
      if (err instanceof StreamError) this.protocolError(err.code, err.message, now);
      else throw err;
    }
  }

  /** 'none', or (with a ticket) 'pending' until message 1, then 'accepted' / 'rejected'. */
  get earlyData(): EarlyDataState {
    return this.early.state;
  }

  private sendInitial(now: number): void {
    const dcid = this.retryScid ?? this.originalDcid;
    const scid = this.cids.first.cid;
    const ik = this.pattern === HandshakePattern.IK;
    // IK goes as pattern 3: the Noise message, then a mac the server checks before any DH.
    const wirePattern = ik ? IK_MAC_PATTERN : this.pattern;
    this.handshake = createHandshake({
      pattern: this.pattern,
      initiator: true,
      prologue: handshakePrologue(wirePattern, dcid, scid),
      staticKey: this.staticKey,
      remoteStatic: this.expectedServerKey,
      random: this.random,
    });
    const message = this.handshake.writeMessage(
      ik ? this.params.encodeOwn(this.handshakeCids, this.timestampParameter(now)) : new Uint8Array(0),
    );
    let payload = message;
    if (ik) {
      payload = new Uint8Array(message.length + INITIAL_MAC_LENGTH);
      payload.set(message);
    }
    const packet: InitialPacket = {
      kind: 'initial',
      version: BRAID_VERSION_1,
      dcid,
      scid,
      token: this.retryToken,
      pattern: wirePattern,
      payload,
    };
    const datagram = encodeInitial(packet);
    if (ik) {
      const macOffset = initialPayloadEnd(packet) - INITIAL_MAC_LENGTH;
      sealInitialMac(datagram, macOffset, initialMacKey(this.expectedServerKey!));
    }
    this.setHandshakeFlight(datagram, now);
  }

  /** Client: the IK first flight's freshness timestamp (TAI64N, docs/protocol.md §7.2.1). */
  private timestampParameter(now: number): { initialTimestamp: Uint8Array } {
    return { initialTimestamp: this.firstFlightTimestamp?.(now) ?? tai64n(now) };
  }

  /** Client: a RETRY arrived. Accepted once, before any server handshake message. */
  handleRetry(scid: Uint8Array, token: Uint8Array, now: number): void {
    if (
      this.role !== 'client' ||
      this.retryScid ||
      this.handshake?.messageIndex !== 1 ||
      token.length === 0
    ) {
      this.drop('unexpected-retry');
      return;
    }
    this.retryScid = scid;
    this.retryToken = token;
    this.activePath.remoteCid = scid;
    // The new INITIAL carries a token now; its early data goes again after the handshake.
    this.early.onRetry();
    this.sendInitial(now);
  }

  /**
   * Client: a Version Negotiation packet answering our INITIAL (docs/protocol.md §2). It is
   * ignored when its SCID is not our INITIAL's DCID (its DCID routed it here), when it lists our
   * version or when anything else came from the server first (a forged or late one must not end
   * a working session); otherwise the attempt is abandoned.
   */
  handleVersionNegotiation(supportedVersions: readonly number[], scid: Uint8Array): void {
    if (
      this.role !== 'client' ||
      !bytesEqual(scid, this.originalDcid) ||
      this._state !== 'handshaking' ||
      this.retryScid ||
      this.handshake?.messageIndex !== 1 ||
      supportedVersions.includes(BRAID_VERSION_1)
    ) {
      this.drop('ignored-version-negotiation');
      return;
    }
    this.enterClosed(
      'protocol',
      TransportError.CONNECTION_REFUSED,
      false,
      `no common version (server supports ${supportedVersions.map((v) => `0x${v.toString(16)}`).join(', ')})`,
    );
  }

  /**
   * Server: answers the first INITIAL, whose Noise message 1 the endpoint read before creating
   * this session (readFirstMessage). Unless 'accepted', the caller forgets this connection:
   * 'rejected' when the transport parameters are unusable, 'replayed' when an IK first flight's
   * timestamp is missing or not newer than the last one `fresh` accepted from its key.
   */
  acceptInitial(
    packet: InitialPacket,
    first: FirstMessage,
    authorize: SessionAdmission,
    fresh: (key: Uint8Array, timestamp: Uint8Array) => boolean,
    addressValidated: boolean,
    originalDcid: Uint8Array,
    datagramLength: number,
    now: number,
  ): InitialVerdict {
    this.pattern = first.pattern;
    this.authorize = authorize;
    this.originalDcid = originalDcid;
    if (!bytesEqual(originalDcid, packet.dcid)) this.retryScid = packet.dcid;
    this.activePath.remoteCid = packet.scid;
    this.activePath.bytesReceived += datagramLength;
    if (addressValidated) this.activePath.validated = true;
    try {
      this.handshake = first.handshake;
      // Drawn here, after this session's CIDs, as when the whole message was read here: a seed
      // replays the same keys and CIDs.
      this.handshake.setLocalEphemeral(ephemeralKeyPair(this.random));
      const payload = first.payload;
      if (this.pattern === HandshakePattern.IK) {
        if (!this.applyPeerParams(payload)) return 'rejected';
        this.checkClientKey();
        // Pattern 3 must carry a timestamp newer than its key's last (a refused key's is not
        // recorded: only authorized keys take room in the table).
        const timestamp = this.params.peer?.initialTimestamp;
        const key = this.handshake.remoteStaticKey();
        if (
          packet.pattern === IK_MAC_PATTERN &&
          !this.refuseWith &&
          (!timestamp || !key || !fresh(key, timestamp))
        )
          return 'replayed';
        this.decideEarlyData(now);
      }
      const reply = this.handshake.writeMessage(this.params.encodeOwn(this.handshakeCids));
      this.setHandshakeFlight(this.handshakePacket(1, reply), now);
      if (this.handshake.isComplete) this.completeHandshake(now);
      this.deliverEarlyData(now);
      return 'accepted';
    } catch {
      return 'rejected';
    }
  }

  /** A duplicate INITIAL (our reply was lost): resend the cached reply. */
  handleDuplicateInitial(datagramLength: number): void {
    this.activePath.bytesReceived += datagramLength;
    if (!this.handshakeConfirmed && this.flight.resendNow()) this.wake();
  }

  handleHandshakePacket(
    packet: HandshakePacket,
    datagramLength: number,
    now: number,
    local: SocketAddress = this.activePath.local,
    remote: SocketAddress = this.activePath.remote,
  ): void {
    if (this.persist.onResumeReply(packet, datagramLength, local, remote, now)) return;
    let hs = this.handshake;
    this.activePath.bytesReceived += datagramLength;
    if (!hs || hs.isComplete || packet.messageIndex !== hs.messageIndex) {
      // A retransmission of a message we already processed: the peer lost our reply.
      if (
        hs &&
        packet.messageIndex < hs.messageIndex &&
        !this.handshakeConfirmed &&
        this.flight.resendNow()
      ) {
        this.wake();
      } else {
        this.drop('handshake-unexpected');
      }
      return;
    }
    let payload: Uint8Array;
    // Read on a copy and commit only on success: a forged or corrupted (unauthenticated)
    // message must not spoil the Noise state; the peer's retransmission brings a good copy.
    const attempt = hs.clone();
    try {
      payload = attempt.readMessage(packet.payload);
    } catch {
      this.drop('handshake-decrypt');
      return;
    }
    if (this.role === 'client' && !headerMatchesParams(packet.scid, payload)) {
      // The long header is not covered by the Noise AEAD; the server's authenticated
      // transport parameters name its CID. A mismatch is a corrupted or forged header:
      // drop it like any undecryptable packet and wait for the retransmission.
      this.drop('handshake-header-mismatch');
      return;
    }
    this.handshake = hs = attempt;
    if (this.role === 'client') {
      // Message 1 comes from the server: its transport parameters and, in XX, its static key.
      this.activePath.remoteCid = packet.scid;
      this.activePath.validated = true;
      if (!this.applyPeerParams(payload)) return;
      if (!this.checkServerParams()) return;
      // Message 1 says whether the server took the early data; if not, it is resent now.
      this.early.settle(this.params.peer?.earlyDataAccepted === true);
      if (this.pattern === HandshakePattern.XX) {
        const message = hs.writeMessage(this.params.encodeOwn(this.handshakeCids));
        this.setHandshakeFlight(this.handshakePacket(2, message), now);
      } else {
        this.flight.clear();
      }
    } else {
      // XX message 2 from the client: its static key and transport parameters.
      if (!this.applyPeerParams(payload)) return;
      this.checkClientKey();
      this.flight.clear();
    }
    if (hs.isComplete) this.completeHandshake(now);
    this.wake();
  }

  private handshakePacket(messageIndex: number, payload: Uint8Array): Uint8Array {
    return encodeHandshake({
      kind: 'handshake',
      version: BRAID_VERSION_1,
      dcid: this.activePath.remoteCid,
      scid: this.cids.first.cid,
      messageIndex,
      payload,
    });
  }

  private setHandshakeFlight(datagram: Uint8Array, now: number): void {
    this.flight.start(datagram, now);
    this.wake();
  }

  /** The CIDs the transport parameters authenticate. */
  private get handshakeCids(): HandshakeCids {
    return { originalDcid: this.originalDcid, retryScid: this.retryScid };
  }

  /** The peer's transport parameters to their owners; malformed or mismatched ones close the session. */
  private applyPeerParams(payload: Uint8Array): boolean {
    return this.closeOn(this.params.applyPeer(payload, this.activePath.remoteCid));
  }

  private closeOn(error: ParamsError | undefined): boolean {
    if (error) this.enterClosed('protocol', error.code, false, error.reason);
    return error === undefined;
  }

  /** The session's policy, agreed in the handshake ('failover' before and when the peer declines). */
  get multipathPolicy(): MultipathPolicy {
    return this.multipath.policy;
  }

  /** Client: the server must echo the CIDs we used, which defeats forged Retry packets. */
  private checkServerParams(): boolean {
    return this.closeOn(this.params.checkServer(this.handshakeCids));
  }

  private checkClientKey(): void {
    const key = this.handshake?.remoteStaticKey();
    this.refuseWith =
      key && this.authorize
        ? this.authorize(key)
        : { code: TransportError.UNAUTHORIZED_KEY, reason: 'client key not authorized' };
  }

  private completeHandshake(now: number): void {
    const hs = this.handshake!;
    const split = hs.split();
    this.handshakeHash = hs.handshakeHash();
    this._remoteKey = hs.remoteStaticKey();
    const clientToServer = split.initiatorKey;
    const serverToClient = split.responderKey;
    const [sendSecret, recvSecret] =
      this.role === 'client' ? [clientToServer, serverToClient] : [serverToClient, clientToServer];
    this.builder.installKeys(sendSecret, recvSecret, false);
    this.persist.onHandshakeComplete(split, this.handshakeHash);
    this.handshake = hs; // keep messageIndex for duplicate detection
    this._state = 'established';
    this.liveness.touchIdle(now, this.activePath.pto());
    if (this.refuseWith) {
      this.close(this.refuseWith.code, this.refuseWith.reason, false, now);
      return;
    }
    this.cids.issueSpares();
    this.persist.onEstablished();
    this.pathManager.onHandshakeComplete(now);
    if (this.role === 'client') {
      // Our first short-header packet confirms the handshake to the server; make sure one goes out.
      this.packets.pingPending = true;
      this.timers.set('handshake', undefined);
      this.outbox.emit({ type: 'handshake-complete', remoteKey: this._remoteKey ?? new Uint8Array(0) });
    }
    // A server reports the session only once the client proves it holds the keys now (a fresh
    // packet): a replayed first flight completes a handshake nobody can confirm.
    this.wake();
  }

  private confirmHandshake(): void {
    if (this.handshakeConfirmed) return;
    this.handshakeConfirmed = true;
    // The Noise state's keys, ephemerals and transcript are spent: the session keys are installed,
    // and a handshake message arriving from now on is dropped either way.
    this.handshake = undefined;
    // CIDs for further path ids only once the handshake is confirmed: before that the
    // server's bytes are capped by anti-amplification and better spent on the handshake.
    this.cids.ensurePathIdWindow(0);
    this.flight.clear();
    if (this.initialDcidAlias) {
      this.unregisterCid(this.initialDcidAlias);
      this.initialDcidAlias = undefined;
    }
    this.onHandshakeConfirmed?.(this);
    if (this.role === 'server') {
      this.timers.set('handshake', undefined);
      this.outbox.emit({ type: 'handshake-complete', remoteKey: this._remoteKey ?? new Uint8Array(0) });
    } else {
      this.outbox.emit({ type: 'handshake-confirmed' });
    }
    this.multipath.lazy.start(this.lastNow);
    // The time threshold for standby paths runs from here (a server opens none of its own).
    if (this.role === 'client') this.timers.set('lazyPaths', this.multipath.lazy.deadline);
    // Tickets for a later 0-RTT first flight.
    if (this.role === 'server') this.early.issueTickets(this._remoteKey, this.lastNow);
    this.pathManager.onLocalAddressesChanged(this.lastNow);
  }

  get wasConfirmed(): boolean {
    return this.handshakeConfirmed;
  }

  // ───────────────────────────── connection IDs & paths ─────────────────────────────

  /** Every local CID, so the endpoint can forget them when the connection goes away. */
  get localConnectionIds(): Uint8Array[] {
    return this.cids.localConnectionIds;
  }

  // ───────────────────────────── receive path ─────────────────────────────

  /** A short-header datagram routed to us by one of our connection IDs. */
  handleShort(datagram: Uint8Array, local: SocketAddress, remote: SocketAddress, now: number): void {
    if (this._state === 'closed' || this._state === 'draining') {
      this.drop(this._state);
      return;
    }
    const keys = this.builder.keys;
    const hp = this.builder.recvHp;
    if (!keys || !hp) {
      this.drop('keys-unavailable');
      return;
    }
    // The DCID names the path id, and so the packet-number space (one per path id).
    let pnOffset: number;
    let dcid: Uint8Array;
    try {
      ({ pnOffset, dcid } = parseShortHeader(datagram, this.cidLength));
    } catch {
      this.drop('malformed');
      return;
    }
    const spaceId = this.cids.pathIdOf(dcid);
    if (this.pathManager.isRemoved(spaceId)) {
      this.drop('removed-path');
      return;
    }
    let path = this.pathManager.byId(spaceId);
    const unprotected = unprotectHeader(hp, datagram, pnOffset);
    if (!unprotected) {
      this.drop('malformed');
      return;
    }
    const largestBefore = path?.acks.largestReceived ?? -1;
    const pn = decodePacketNumber(largestBefore, unprotected.truncatedPn, unprotected.pnLength);
    const keyPhase = (datagram[0] >> 2) & 1;
    const headerLength = pnOffset + unprotected.pnLength;
    const opened = keys.openPacket(datagram, headerLength, spaceId, pn, keyPhase);
    if (!opened) {
      if (this.cids.isStatelessReset(datagram)) {
        this.enterClosed(
          'stateless-reset',
          TransportError.PEER_STATE_LOST,
          false,
          'peer lost the session state',
        );
        return;
      }
      this.drop('undecryptable');
      return;
    }
    // Header protection removed, the AEAD verified the header: the peer itself set them.
    if (shortHeaderFlags(datagram[0]).reservedBitsSet) {
      this.protocolError(TransportError.PROTOCOL_VIOLATION, 'reserved header bits set', now);
      return;
    }
    if (opened.prematureUpdate) {
      this.protocolError(
        TransportError.KEY_UPDATE_ERROR,
        'key update before a packet of the previous phase was acknowledged',
        now,
      );
      return;
    }
    const replay = this.pathManager.replayFor(spaceId);
    if (!replay.check(pn)) {
      this.drop('duplicate');
      return;
    }
    let frames: Frame[];
    try {
      frames = decodeFrames(opened.plaintext);
    } catch (err) {
      const code = err instanceof WireError ? err.code : TransportError.FRAME_ENCODING_ERROR;
      this.protocolError(code, err instanceof Error ? err.message : 'malformed frame', now);
      return;
    }
    if (this.testHooks?.mutateFramesBeforeProcessing)
      frames = this.testHooks.mutateFramesBeforeProcessing(frames);
    if (frames.length === 0) {
      this.protocolError(TransportError.PROTOCOL_VIOLATION, 'packet without frames', now);
      return;
    }
    // While suspended an authenticated packet only tells that a path works (docs/persistence.md):
    // the session comes back through a resumption, never on the suspended paths.
    const peerSuspended = this.role === 'client' && frames.some((f) => f.type === 'suspended');
    if (peerSuspended || (this.persist.suspended && !this.persist.awaitingConfirmation)) {
      this.persist.onPeerHeard(local, remote, frames, now);
      return;
    }
    // Authenticated from here on: only now may the packet create state.
    if (!path) path = this.pathManager.openPeerPath(spaceId, local, remote, now, replay);
    replay.mark(pn);
    const largest = pn > largestBefore;
    const via = this.pathManager.receivingPath(path, local, remote, frames, largest, now);
    if (opened.peerUpdated || opened.peerFollowed) {
      // Reordered packets of the old phase may still arrive for a while; keep its keys 3 PTOs.
      this.timers.set('keyDiscard', now + 3 * path.pto());
    }
    if (opened.peerUpdated) {
      this.builder.onPeerKeyUpdate(keys.keyPhase);
    }
    this.outbox.stats.packetsReceived++;
    this.outbox.stats.bytesReceived += datagram.length;
    // Anti-amplification counts what arrived from the address pair, whatever its number space.
    if (via) via.bytesReceived += datagram.length;
    this.pathManager.onPacketReceived(path, now);
    // Any authenticated short-header packet proves the peer has our keys: the
    // server's handshake is confirmed and the client's address validated.
    if (this.role === 'server' && !this.handshakeConfirmed) {
      if (via === path) path.validated = true;
      this.confirmHandshake();
      this.outbox.queueControl({ type: 'handshake_done' });
    }
    // Likewise the first packet under a resumption's keys confirms it to the server.
    if (this.persist.awaitingConfirmation) {
      if (via === path) path.validated = true;
      this.flight.clear();
      this.persist.confirm();
    }
    if (this._state === 'closing') {
      // RFC 9000 §10.2.1: answer packets in the closing state with CLOSE, rate-limited.
      this.closeFramePending = true;
      this.wake();
      return;
    }
    let ackEliciting = false;
    const receivedBefore = this.streams.connectionWindow.highestReceived;
    try {
      for (const frame of frames) {
        if (!ackEliciting && isAckEliciting(frame)) ackEliciting = true;
        this.handleFrame(frame, path, via, now, dcid);
        if ((this._state as ConnectionState) !== 'established') break;
      }
    } catch (err) {
      if (err instanceof StreamError || err instanceof WireError) {
        this.protocolError(err.code, err.message, now);
        return;
      }
      this.protocolError(TransportError.INTERNAL_ERROR, String(err), now);
      return;
    }
    // A path probe is acknowledged with the next packet that goes out anyway, not on a timer of
    // its own: nothing waits for it (probes are not in flight), and an idle standby check must
    // not cost an extra ACK packet per interval. Any other ack-eliciting packet is in flight at
    // its sender, NEW_CONNECTION_ID alone included: its PTO would fire if the ACK waited for
    // traffic, and an ACK that then comes back late on another path made a healthy path look dead.
    // Under a policy that spreads packets a space's ACKs ride its own path, which may not carry
    // anything of ours (a one-way path): there a deadline for probing frames stalled the
    // one-way-pairs scenario (test/sim/policies), and a late ACK moves no path.
    const probe = this.multipath.spreads ? isProbingOnly(frames) : isPathProbe(frames);
    path.acks.onPacketReceived(pn, ackEliciting && !probe, now);
    const newData = this.streams.connectionWindow.highestReceived > receivedBefore;
    this.pathManager.afterPacket(via, frames, largest, now, newData);
    this.liveness.onReceived(now, this.activePath.pto());
    this.updateStall(now);
    if (this.multipath.lazy.waiting) this.releaseLazyPaths(now);
    this.wake();
  }

  /** Tokens to forget when the connection is released. */
  get resetTokens(): readonly Uint8Array[] {
    return this.cids.resetTokens;
  }

  /** The endpoint found our peer's reset token on an unroutable datagram. */
  handleStatelessReset(): void {
    if (this._state === 'closed') return;
    this.enterClosed('stateless-reset', TransportError.PEER_STATE_LOST, false, 'peer lost the session state');
  }

  private handleFrame(
    frame: Frame,
    path: Path<SentInfo>,
    via: Path<SentInfo> | undefined,
    now: number,
    dcid: Uint8Array,
  ): void {
    switch (frame.type) {
      case 'close':
        this._state = 'draining';
        this.timers.set('close', now + 3 * path.pto());
        this.closeInfo = {
          source: 'peer',
          code: frame.errorCode,
          application: frame.application,
          reason: frame.reason,
        };
        this.outbox.emit({ type: 'closed', info: this.closeInfo });
        return;
      case 'handshake_done':
        if (this.role === 'server')
          throw new WireError('HANDSHAKE_DONE from client', TransportError.PROTOCOL_VIOLATION);
        this.confirmHandshake();
        return;
      default:
        this.receive.onFrame(frame, via, now, dcid);
    }
  }

  // ───────────────────────────── transmit path ─────────────────────────────

  /** See EngineEndpoint.pollTransmit: `buffer`, if large enough, receives the packet. */
  pollTransmit(now: number, buffer?: Uint8Array): Transmit | undefined {
    if (this._state === 'closed') return undefined;
    this.builder.offerBuffer(buffer);
    if (this.initialDeferred) {
      this.initialDeferred = false;
      this.buildEarlyFlight();
      this.sendInitial(now);
    }
    const persisted = this.persist.pollTransmit();
    if (persisted) return persisted;
    // Suspended: only the persistence module sends (and the endpoint answers RESUME duplicates).
    if (this.persist.suspended) return undefined;
    const path = this.activePath;
    const datagram = this.flight.due;
    if (datagram) {
      if (datagram.length > path.amplificationCredit()) return undefined;
      this.flight.markSent();
      path.bytesSent += datagram.length;
      this.outbox.stats.bytesSent += datagram.length;
      this.outbox.stats.packetsSent++;
      return { local: path.local, remote: path.remote, data: datagram };
    }
    if (!this.builder.keys) return undefined;
    if (this._state === 'closing' || this._state === 'draining') {
      if (this._state === 'closing' && this.closeFramePending) return this.sendClose(path, now);
      return undefined;
    }
    return this.packets.poll(now);
  }

  /** Closing, and the CLOSE is out (nothing more to send unless a packet arrives). */
  get closeSent(): boolean {
    return this._state === 'closing' && !this.closeFramePending;
  }

  /** CLOSE again (answering a packet in the closing state), at most once per millisecond. */
  private sendClose(path: Path<SentInfo>, now: number): Transmit | undefined {
    if (now - this.lastCloseSentAt < 1 && this.lastCloseSentAt > -Infinity) return undefined;
    this.closeFramePending = false;
    this.lastCloseSentAt = now;
    return this.packets.closePacket(path, now, this.closeInfo!);
  }

  // ───────────────────────────── timers ─────────────────────────────

  nextDeadline(): number | undefined {
    if (this._state === 'closed') return undefined;
    if (this.persist.hasOutgoing) return undefined; // the endpoint polls us right away
    if (this.persist.suspended && this._state === 'established') return this.persist.deadline();
    if (this._state === 'established') this.armComputedTimers();
    return this.timers.next(this._state);
  }

  /**
   * The timers whose deadlines other owners compute (loss detection, ACKs, pacers, paths,
   * keepalive, stall). They stay computed: each is a minimum over every path of
   * state that changes with each packet sent, acknowledged or lost (and the keepalive and the
   * stall follow the PTO), so setting them at each change would cost work per packet and
   * more code paths than reading them here.
   */
  private armComputedTimers(): void {
    const t = this.timers;
    const confirmed = this.handshakeConfirmed;
    // ACKs ride on the active path: with no credit there for even an ACK (buildPacket's
    // 64-byte floor) an ACK deadline would stay in the past (seed 593); arrival wakes us.
    const acksBlocked = this.activePath.amplificationCredit() < 64;
    let loss = Infinity;
    let ack = Infinity;
    for (const path of this.pathList) {
      // Probes owed on a path that may not send until more bytes arrive: its PTO (capped
      // backoff, relative to the last send) would stay in the past; arrival wakes us anyway.
      const blocked = this.packets.probesPending > 0 && path.amplificationCredit() < 64;
      if (!blocked) loss = Math.min(loss, path.loss.deadline(confirmed) ?? Infinity);
      if (!acksBlocked) ack = Math.min(ack, path.acks.ackDeadline() ?? Infinity);
    }
    t.set('loss', loss);
    t.set('ack', ack);
    // Several paths: the scheduler's last pacer release (MultipathSession.poll). Failover: only
    // the active path sends data, so only its pacer matters; a pacing deadline left from before
    // it became amplification-limited is stale.
    const active = this.activePath;
    if (this.multipath.spreads) t.set('pacing', this.multipath.pacingDeadline);
    else if (this.packets.hasPendingData() && active.amplificationCredit() >= active.sendSize())
      t.set('pacing', active.pacingDeadline());
    else t.set('pacing', undefined);
    t.set('paths', this.pathManager.deadline());
    t.set('keepalive', this.keepaliveDeadline());
    t.set('stall', this.liveness.stallDeadline(active.pto()));
  }

  /**
   * Client keepalive: while a stream is open or a standby path exists, a PING goes out
   * after `keepaliveInterval` ms without sending or receiving, so a dead active path is
   * noticed (its PTO fires) and a NAT that rebound learns the new mapping.
   */
  private keepaliveDeadline(): number | undefined {
    const interval = this.config.keepaliveInterval;
    if (interval === 0 || this.role !== 'client' || !this.handshakeConfirmed || this.packets.pingPending)
      return undefined;
    let every = interval;
    if (this.streams.size === 0 && this.pathList.length < 2) {
      // A persistent session lives until closed or expired, not until it falls idle: keep it
      // (and its NAT mappings) alive with a PING per third of the idle timeout.
      const idleTimeout = this.liveness.idleTimeout();
      if (!this.persist.enabled || idleTimeout === 0) return undefined;
      every = Math.max(interval, idleTimeout / 3);
    }
    const active = this.activePath;
    if (active.loss.bytesInFlight > 0) return undefined; // the PTO watches the path
    // Counted on the active path's own evidence (our last ack-eliciting packet, the last ACK
    // of a packet sent there), so traffic on a standby cannot postpone the check. Under a
    // policy that spreads packets, other paths carry ack-eliciting packets too: the active
    // path's own last one counts (and the PING goes there, see buildPacket).
    const sent = this.multipath.spreads
      ? active.loss.lastAckElicitingSentAt
      : this.liveness.lastAckElicitingSentAt;
    return Math.max(sent, this.pathManager.provenAt(active) ?? 0) + every;
  }

  onTimeout(now: number): void {
    if (this._state === 'closed') return;
    if (this.timers.expired('close', now)) {
      this.finishClose();
      return;
    }
    if (this.persist.suspended && this._state === 'established') {
      this.persist.onTimeout(now);
      this.wake();
      return;
    }
    if (this.timers.expired('idle', now)) {
      // The failure timeout: no path has worked for an idle timeout. A persistent session is
      // suspended (docs/persistence.md); any other ends here.
      if (this._state === 'established' && this.persist.canSuspend) this.suspend(now, 'failure-timeout');
      else this.enterClosed('idle-timeout', TransportError.NO_ERROR, false, 'idle timeout');
      this.wake();
      return;
    }
    // A server's handshake ends at confirmation (§7.6): one completed but never confirmed (a
    // replayed or spoofed first flight) is released at the same deadline, silently.
    const unconfirmed =
      this._state === 'handshaking' || (this._state === 'established' && !this.handshakeConfirmed);
    if (unconfirmed && this.timers.expired('handshake', now)) {
      this.enterClosed('handshake-timeout', TransportError.NO_ERROR, false, 'handshake timed out');
      return;
    }
    this.flight.onTimeout(now);
    if (this.timers.expired('keyDiscard', now)) {
      this.builder.keys?.discardPrevious();
      this.timers.set('keyDiscard', undefined);
    }
    if (this._state === 'established') {
      // Packets sent and received since nextDeadline moved the computed timers: read them again.
      this.armComputedTimers();
      if (this.timers.expired('keepalive', now)) this.packets.pingPending = true;
      // 'paths', 'loss' and 'lazyPaths': their owners fire what is due of their own deadlines.
      this.pathManager.onTimeout(now);
      this.packets.onLossTimeouts(now);
      if (this.multipath.lazy.waiting) this.releaseLazyPaths(now);
      this.pathManager.afterLossDetection(now);
      // 'stall': the loss timeouts just fired may have moved it (the PTO, the stall clock).
      this.updateStall(now);
      if (this.liveness.stallExpired(now, this.activePath.pto())) {
        this.close(
          TransportError.NO_VIABLE_PATH,
          `no progress: stream data unacknowledged for ${Math.round(this.liveness.stalledFor(now))} ms`,
          false,
          now,
        );
        return;
      }
    }
    this.wake();
  }

  /** Stream data owed to the peer (in flight, lost, or sendable) while established starts the stall clock. */
  private updateStall(now: number): void {
    this.liveness.updateStall(this.sent.streamDataOwed && this._state === 'established', now);
  }

  /** UDP payload bytes sent and received, for the lazy-paths threshold. */
  private bytesMoved(): number {
    return this.outbox.stats.bytesSent + this.outbox.stats.bytesReceived;
  }

  /** Lazy paths: once the threshold is reached, the path lifecycle may open standby paths (bytes: checked per packet; time: by timer). */
  private releaseLazyPaths(now: number): void {
    if (this.role !== 'client' || !this.handshakeConfirmed || this._state !== 'established') return;
    this.pathManager.ensureStandby(now);
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  private protocolError(code: number, message: string, now: number): void {
    this.close(code, `${transportErrorName(code)}: ${message}`, false, now, 'protocol');
  }

  /** Graceful close: CLOSE goes out, the connection lingers 3 PTOs to absorb stragglers. */
  close(
    errorCode: number,
    reason: string,
    application = true,
    now?: number,
    source: CloseSource = 'local',
  ): void {
    if (this._state === 'closing' || this._state === 'draining' || this._state === 'closed') return;
    // Closed while suspended: the CLOSE goes out on the last active path, best effort; the
    // peer otherwise learns at its next resumption attempt or probe (docs/persistence.md).
    this.persist.onClosed();
    if (!this.builder.keys) {
      this.enterClosed(source, errorCode, application, reason);
      return;
    }
    const at = now ?? this.lastNow;
    this._state = 'closing';
    this.closeInfo = { source, code: errorCode, application, reason };
    this.closeFramePending = true;
    this.timers.set('close', at + 3 * this.activePath.pto());
    this.outbox.emit({ type: 'closed', info: this.closeInfo });
    this.wake();
  }

  private enterClosed(source: CloseSource, code: number, application: boolean, reason: string): void {
    if (this._state === 'closed') return;
    if (source !== 'expired') this.persist.onClosed();
    const alreadyReported = this._state === 'closing' || this._state === 'draining';
    this._state = 'closed';
    if (!alreadyReported) {
      this.closeInfo = { source, code, application, reason };
      this.outbox.emit({ type: 'closed', info: this.closeInfo });
    }
    this.wake();
  }

  private finishClose(): void {
    const info = this.closeInfo;
    this._state = 'closed';
    if (!info)
      this.outbox.emit({
        type: 'closed',
        info: { source: 'local', code: 0, application: false, reason: '' },
      });
    this.wake();
  }

  private lastNow = 0;
  /** The endpoint tells us the time of every input so API calls without `now` can use it. */
  setNow(now: number): void {
    this.lastNow = now;
  }

  private drop(reason: string): void {
    this.outbox.drop(reason);
  }

  private wake(): void {
    this.outbox.wake();
  }

  // ───────────────────────────── persistence hooks (docs/persistence.md) ─────────────────────────────

  private createPersistence(routing: ResumptionRouting | undefined): SessionPersistence {
    return new SessionPersistence({
      role: this.role,
      config: this.config,
      random: this.random,
      staticKey: this.staticKey,
      secrets: this.secrets,
      streams: this.streams,
      cids: this.cids,
      outbox: this.outbox,
      paths: this.pathManager,
      builder: this.builder,
      routes: {
        registerRefusal: (token, kind) => routing?.registerRefusal(token, kind, this),
        unregisterRefusal: (token) => routing?.unregisterRefusal(token),
        registerId: (id) => routing?.registerId(id, this),
        spendId: (id) => routing?.spendId(id),
      },
      session: this.view,
      installResumed: (t) => this.installResumed(t),
      expire: () => this.enterClosed('expired', TransportError.EXPIRED, false, 'expired'),
    });
  }

  /** No path has worked for the failure timeout: keep the session, suspended (if both sides allow). */
  private suspend(now: number, reason: SuspendReason): void {
    this.liveness.suspend();
    this.persist.suspend(now, reason);
  }

  /**
   * Resumption: the suspended paths, CIDs, reset tokens and packet-number spaces are dropped
   * and replaced by one path on fresh CIDs under fresh keys. What was in flight is lost; the
   * peer's checkpoints (RESUME_STATE) then tell what of it to resend.
   */
  private installResumed(t: ResumedTransport): void {
    const now = t.now;
    this.packets.probesPending = 0;
    // The new path's CIDs first: opening it issues CIDs for the path-id window after them.
    this.cids.resetForResumption(t.localCid, t.peerCid, t.peerResetToken);
    // Frames queued from here on are the resumed session's own; older ones may be stale.
    const carried = this.outbox.takeControl();
    const inFlight = this.pathManager.resetForResumption(
      t.local,
      t.remote,
      t.validation,
      t.bytesReceived,
      now,
    );
    this.cids.issueSpares();
    const fresh = this.outbox.takeControl();
    for (const packet of inFlight) this.sent.onLost(packet.info.records);
    this.outbox.resumeControl(carried, fresh, this.outbox.takeControl());
    this.multipath.onPathsReset();
    this.sent.resetForResumption();
    this.activePath.remoteCid = t.peerCid;
    this.streams.resendControl();

    const [send, recv] =
      this.role === 'client'
        ? [t.split.initiatorKey, t.split.responderKey]
        : [t.split.responderKey, t.split.initiatorKey];
    this.builder.installKeys(send, recv, true);
    this.timers.set('keyDiscard', undefined);

    this.liveness.resetForResumption(now, this.activePath.pto());
    this.flight.resume(t.reply);
    if (this.role === 'client') this.packets.pingPending = true;
    this.pathManager.onLocalAddressesChanged(now);
    this.wake();
  }

  /** Server: a RESUME presenting one of this session's identifiers (see SessionPersistence.acceptResume). */
  acceptResume(
    packet: ResumePacket,
    datagramLength: number,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
  ): boolean {
    if (this._state !== 'established') return false;
    return this.persist.acceptResume(packet, datagramLength, local, remote, now);
  }

  /** Server: the reply to a duplicate of the RESUME being answered (resent to wherever it came from). */
  get resumeReply(): Uint8Array | undefined {
    return this.persist.cachedReply;
  }

  /** Server: identifiers the endpoint routes to this session; `expired`: tombstone them. */
  get resumptionIds(): Uint8Array[] {
    return this.persist.outstandingIds;
  }

  get resumeAlias(): Uint8Array | undefined {
    return this.persist.resumeAlias;
  }

  get expired(): boolean {
    return this.persist.wasExpired;
  }

  /** Client: the server refused our RESUME statelessly (it lost the session, or it expired). */
  handleResumeRefusal(kind: 'lost' | 'expired'): void {
    if (this._state === 'closed') return;
    this.persist.onClosed();
    if (kind === 'expired') this.enterClosed('expired', TransportError.EXPIRED, false, 'expired');
    else this.enterClosed('stateless-reset', TransportError.PEER_STATE_LOST, false, 'peer-state-lost');
  }

  /** Whether the session is suspended (no working path; see docs/persistence.md). */
  get suspended(): boolean {
    return this.persist.suspended;
  }

  /**
   * Application checkpoint: asks the peer application to confirm once it durably holds every
   * byte written to the stream so far; returns that offset (undefined when the stream cannot
   * send). The answer comes as a 'checkpoint-confirmed' event.
   */
  requestCheckpoint(id: StreamId): number | undefined {
    const frame = checkpointRequest(this.streams, id);
    if (!frame) return undefined;
    this.outbox.queueControl(frame);
    this.wake();
    return frame.offset;
  }

  /**
   * The application durably holds every byte below `offset` of the stream (it has read them):
   * tells the peer (CHECKPOINT_ACK). Returns false for an offset beyond what was read.
   */
  confirmCheckpoint(id: StreamId, offset: number): boolean {
    const frame =
      this._state === 'established' ? checkpointConfirmation(this.streams, id, offset) : undefined;
    if (!frame) return false;
    this.outbox.queueControl(frame);
    this.wake();
    return true;
  }

  /** Client: more addresses the server may be at (e.g. its name resolved again), tried while suspended. */
  addResumeTargets(addresses: readonly SocketAddress[]): void {
    this.persist.setExtraTargets(addresses);
  }

  // ───────────────────────────── application API ─────────────────────────────

  get state(): ConnectionState {
    return this._state;
  }

  get remoteKey(): Uint8Array | undefined {
    return this._remoteKey;
  }

  channelBinding(): Uint8Array {
    if (!this.handshakeHash) throw new Error('channel binding is available after the handshake');
    return channelBindingFrom(this.handshakeHash);
  }

  get stats(): ConnectionStats {
    return this.outbox.stats;
  }

  get paths(): PathInfo[] {
    return this.pathList.map((p) => p.info());
  }

  /** Bytes the session buffers now, the sum maxSessionBuffer bounds (the server's memory budget adds these up). */
  get bufferedBytes(): number {
    return this.streams.bufferedBytes + this.outbox.datagramBytes;
  }

  memoryUsage(): ConnectionMemoryUsage {
    let sendBuffered = 0;
    let receiveBuffered = 0;
    let largestStreamWindow = 0;
    for (const stream of this.streams.values()) {
      if (stream.send) sendBuffered += stream.send.buffer.unackedBytes;
      if (stream.recv) {
        receiveBuffered += stream.recv.buffer.bufferedBytes;
        largestStreamWindow = Math.max(largestStreamWindow, stream.recv.window.window);
      }
    }
    return {
      streams: this.streams.size,
      sendBuffered,
      receiveBuffered,
      largestStreamWindow,
      connectionWindow: this.streams.connectionWindow.window,
      queuedDatagrams: this.outbox.datagrams.length,
      queuedDatagramBytes: this.outbox.datagramBytes,
      queuedControlFrames: this.outbox.control.length,
    };
  }

  pollEvent(): ConnectionEvent | undefined {
    return this.outbox.pollEvent();
  }

  get hasEvents(): boolean {
    return this.outbox.hasEvents;
  }

  /** Streams work once established, and before that with a 0-RTT ticket (early data). */
  private get streamsUsable(): boolean {
    return this._state === 'established' || (this._state === 'handshaking' && this.early.state === 'pending');
  }

  openStream(bidirectional: boolean): StreamId | undefined {
    if (!this.streamsUsable) return undefined;
    return this.streams.openLocal(bidirectional);
  }

  writeStream(id: StreamId, data: Uint8Array): number {
    if (!this.streamsUsable || data.length === 0) return 0;
    try {
      const accepted = this.streams.write(id, data);
      if (accepted > 0) this.wake();
      return accepted;
    } catch (err) {
      if (err instanceof StreamUsageError) return 0;
      throw err;
    }
  }

  finishStream(id: StreamId): void {
    if (!this.streamsUsable) return;
    try {
      this.streams.finish(id);
      this.wake();
    } catch (err) {
      if (!(err instanceof StreamUsageError)) throw err;
    }
  }

  readStream(id: StreamId, maxBytes?: number): { data: Uint8Array | undefined; fin: boolean } {
    try {
      const result = this.streams.read(id, maxBytes, this.lastNow, this.windowRtt());
      if (result.data) this.wake();
      return result;
    } catch (err) {
      // A stream that existed and is gone has been read to its end; one the peer has
      // not opened yet simply has nothing to read.
      if (err instanceof StreamUsageError) return { data: undefined, fin: this.streams.wasOpened(id) };
      throw err;
    }
  }

  /**
   * The RTT receive-window auto-tuning measures against: the active path's, or under a
   * multipath policy the longest of the data-carrying paths', so the window covers the sum of
   * the paths' bandwidth-delay products plus the reordering between them.
   */
  private windowRtt(): number | undefined {
    if (this.multipath.spreads) return this.multipath.windowRtt(this.lastNow);
    const active = this.activePath.rtt;
    return active.hasSample ? active.smoothedRtt : undefined;
  }

  resetStream(id: StreamId, errorCode: number): void {
    this.streams.reset(id, errorCode);
    // The reset freed this stream's share of the session's send budget for the others.
    for (const streamId of this.streams.takeWritable())
      this.outbox.emit({ type: 'stream-writable', streamId });
    this.wake();
  }

  stopSending(id: StreamId, errorCode: number): void {
    this.streams.stopSending(id, errorCode, this.lastNow);
    this.wake();
  }

  get maxDatagramSize(): number {
    // The peer's limit counts the whole frame: type, length and data.
    const peer = largestDatagramData(this.params.peer?.maxDatagramFrameSize ?? 0);
    // Room in one packet every path carries (a datagram is never resent, so it must fit whatever
    // PMTU discovery finds later): 1200 minus short header, packet number, AEAD tag, frame header.
    const room = BASE_UDP_PAYLOAD - (1 + 20 + 4 + AEAD_TAG + 3);
    return Math.min(peer, room);
  }

  sendDatagram(data: Uint8Array): boolean {
    // Datagrams are not queued while suspended: they would be stale when a path returns.
    if (this._state !== 'established' || this.persist.suspended || data.length > this.maxDatagramSize)
      return false;
    if (this.outbox.datagrams.length >= MAX_DATAGRAM_QUEUE) return false;
    if (this.outbox.datagramBytes + data.length > DATAGRAM_QUEUE_BYTES) return false;
    this.outbox.queueDatagram(data);
    this.wake();
    return true;
  }

  /** The kernel refused datagrams from `local` to `remote` (see Endpoint.onSendRefused); true if a path got credit back. */
  onSendRefused(local: SocketAddress, remote: SocketAddress, datagrams: number): boolean {
    return this.pathManager.onSendRefused(local, remote, datagrams);
  }

  /** The endpoint's current local addresses (see Endpoint.setLocalAddresses). */
  setLocalAddresses(addresses: readonly SocketAddress[], now: number): void {
    // Suspended paths are left alone; the resumption starts from the new addresses.
    this.pathManager.setLocalAddresses(addresses, now, !this.persist.suspended);
    if (this.persist.suspended) this.persist.onLocalAddressesChanged(now);
  }

  /**
   * The host's links or routes changed (see Endpoint.networkChanged): a suspended session
   * retries at once (rate-limited in SessionPersistence.onNetworkChange).
   */
  onNetworkChange(now: number): void {
    if (this.persist.suspended) this.persist.onNetworkChange(now);
  }

  /** For logs and tests. */
  describe(): string {
    return `${this.role}#${this.handle} ${this._state} ${this.pathManager.describeActive()}`;
  }
}
