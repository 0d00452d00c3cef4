/**
 * The sans-I/O endpoint: owns every session of one local identity, routes each
 * incoming datagram by destination connection ID (never by address), answers
 * stateless packets (Retry, version negotiation, stateless reset) and merges all
 * sessions' deadlines into one.
 */
import { checkInitialMac, initialMacKey } from '../crypto/initial-mac.js';
import type { KeyPair } from '../crypto/noise/index.js';
import type { SocketAddress, Transmit } from '../net/address.js';
import { TransportError } from '../wire/errors.js';
import { BRAID_VERSION_1, MIN_INITIAL_DATAGRAM, type UnsupportedVersionPacket } from '../wire/packet.js';
import {
  decodeLongHeader,
  encodeRetry,
  encodeStatelessReset,
  encodeVersionNegotiation,
  isLongHeader,
} from '../wire/packet-codec.js';
import { ClosingRecords } from './closing-records.js';
import { resolveTransportConfig } from './config.js';
import { cidKey } from './connection/cid-state.js';
import { Connection, type ConnectionTestHooks, type ResumptionRouting } from './connection/connection.js';
import { DeadlineHeap } from './deadline-heap.js';
import { FreshnessTable, TimestampSource } from './first-flight-freshness.js';
import { HandshakePattern, IK_MAC_PATTERN, readFirstMessage } from './handshake.js';
import { DH_COST, HandshakeLoad } from './handshake-load.js';
import { PathHealth } from './path-health.js';
import { type EarlyDataOptions, EarlyDataPolicy } from './persistence/early-data.js';
import { ResumptionRegistry } from './persistence/registry.js';
import type { ServerEarlyData } from './persistence/session-early-data.js';
import { defaultRandom, EndpointSecrets, type RandomSource } from './secrets.js';
import { type SessionLimitOptions, SessionLimits, type SessionRefusal } from './session-limits.js';
import type {
  EarlyDataTicket,
  EndpointEvent,
  EndpointStats,
  EngineConnection,
  EngineEndpoint,
  TransportConfig,
} from './types.js';

export interface ServerOptions {
  /** Client static keys allowed in, or 'any'. */
  authorizedKeys: 'any' | Uint8Array[];
  /**
   * 'always': every client proves its address with a Retry round trip before the server
   * spends a DH operation; 'under-load' (default; 'auto' is the same): only while the
   * handshake load is at its limits (HandshakeLoad), and always for IK INITIALs without the
   * pre-DH mac (pattern 0); 'never': no Retry at all.
   */
  retry?: RetryMode;
  /**
   * Half-open sessions (created, not yet confirmed by the client) at which 'under-load'
   * starts sending Retry (and refusing 0-RTT). Default 64.
   */
  retryThreshold?: number;
  /** X25519 operations per second at which 'under-load' starts sending Retry. Default 2000. */
  retryDhPerSecond?: number;
  /**
   * Client keys whose last IK first-flight timestamp is remembered (replay defence,
   * first-flight-freshness.ts); the key accepted longest ago is evicted. Default 16 384.
   */
  freshnessTableSize?: number;
  /** 0-RTT (docs/persistence.md §5): tickets, and which first flights' early data is taken. */
  earlyData?: EarlyDataOptions;
  /**
   * Sessions at once, in total and per client key, and the memory budget of all sessions
   * together (session-limits.ts). A session beyond a limit is refused with SESSION_LIMIT.
   */
  limits?: SessionLimitOptions;
}

export type RetryMode = 'always' | 'never' | 'under-load' | 'auto';

export interface EndpointOptions {
  staticKey: KeyPair;
  server?: ServerOptions;
  transport?: Partial<TransportConfig>;
  /** Length of the connection IDs this endpoint issues (4..20 bytes). */
  cidLength?: number;
  /**
   * Wall-clock time, ms since the Unix epoch (fractions allowed), for IK first-flight timestamps,
   * which must grow across restarts of a client. Default: the `now` the engine is given, which
   * suits virtual clocks; the Node shell passes the real clock.
   */
  wallClock?: () => number;
  /** Randomness for CIDs, ephemerals and tokens; the simulator injects a seeded one. */
  random?: RandomSource;
  /** Test-only fault injection, passed to every connection (see ConnectionTestHooks). */
  testHooks?: ConnectionTestHooks;
  /**
   * Local addresses (with the port this endpoint receives on) the sessions may use and
   * advertise to their peers; update with `setLocalAddresses`. Default: only the address
   * each session started on.
   */
  localAddresses?: readonly SocketAddress[];
}

const RETRY_TOKEN_LIFETIME = 10_000;
const REFUSALS_PER_SECOND = 100;
/** A refusal is shaped like a stateless reset of this many bytes (always shorter than the ≥ 1200-byte RESUME). */
const REFUSAL_LENGTH = 43;
const MAX_STATELESS_QUEUE = 1024;
/** A refused session's closing period when it has no timer of its own (3 × the initial PTO). */
const REFUSED_CLOSING_PERIOD = 3000;
/**
 * Stateless resets: a token bucket of this many per second, bursting to as many. A flood of
 * unroutable packets then gets few answers (each smaller than its trigger), the rest counted as
 * 'stateless-reset-limited'.
 */
const RESETS_PER_SECOND = 100;
/**
 * Refused client keys that get the whole handshake and an authenticated CLOSE naming the refusal
 * (UNAUTHORIZED_KEY): a token bucket of this many a second, and none while the server is under
 * load. Each costs 5 DH and a session until its CLOSE is out; the rest are refused before the ss
 * DH, before any session is created, with no reply ('unauthorized-key'), so a flood of refused
 * keys costs the server 1 X25519 operation each (es) and no state, while a misconfigured client
 * still learns why.
 */
const KEY_REFUSALS_PER_SECOND = 10;
/** Version Negotiation replies: a token bucket like stateless resets'. */
const VERSION_NEGOTIATIONS_PER_SECOND = 100;

/** A token bucket of `perSecond` replies per second, bursting to as many. */
class ReplyBudget {
  private left: number;
  private at = Number.NEGATIVE_INFINITY;
  constructor(private readonly perSecond: number) {
    this.left = perSecond;
  }
  take(now: number): boolean {
    const elapsed = now - this.at;
    this.at = now;
    this.left = Math.min(
      this.perSecond,
      this.left + (elapsed === Number.POSITIVE_INFINITY ? this.perSecond : (elapsed * this.perSecond) / 1000),
    );
    if (this.left < 1) return false;
    this.left--;
    return true;
  }
}

const INITIAL_DROP_REASON = {
  rejected: 'handshake-rejected',
  replayed: 'initial-replayed',
  'refused-key': 'unauthorized-key',
  'xx-payload': 'xx-initial-payload',
} as const;

function positiveOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`server.${name} must be a positive integer, got ${value}`);
  }
  return value;
}

export class Endpoint implements EngineEndpoint {
  private lastRoute: { cid: Uint8Array; key: string; conn: Connection } | undefined;
  private readonly staticKey: KeyPair;
  private readonly serverOptions: ServerOptions | undefined;
  private readonly transport: TransportConfig;
  private readonly cidLength: number;
  private readonly random: RandomSource;
  private readonly secrets: EndpointSecrets;
  /** Key of the mac that ends an IK INITIAL to us (pattern 3), checked before any DH. */
  private readonly initialMacKey: Uint8Array;
  private authorized: Set<string> | 'any';
  private readonly testHooks: ConnectionTestHooks | undefined;

  private readonly routes = new Map<string, Connection>();
  /** Connections whose deadline may have moved since the heap last saw them (see afterInput). */
  private readonly staleDeadlines = new Set<Connection>();
  private readonly resetTokens = new Map<string, Connection>();
  /** Client: tokens of the server's stateless refusals of our RESUME attempts. */
  private readonly refusalTokens = new Map<string, { conn: Connection; kind: 'lost' | 'expired' }>();
  /** Server: resumption identifiers → sessions (docs/persistence.md). */
  private readonly resumptionIds = new ResumptionRegistry<Connection>();
  private readonly resumptionRouting: ResumptionRouting = {
    registerRefusal: (token, kind, conn) => this.refusalTokens.set(cidKey(token), { conn, kind }),
    unregisterRefusal: (token) => this.refusalTokens.delete(cidKey(token)),
    registerId: (id, conn) => this.resumptionIds.register(id, conn),
    spendId: (id) => this.resumptionIds.spend(id),
  };
  private readonly earlyData: ServerEarlyData | undefined;
  /** Stateless refusals left in the current second (a forged RESUME flood gets few answers). */
  private refusalBudget = REFUSALS_PER_SECOND;
  private refusalBudgetAt = -Infinity;
  private readonly versionNegotiationBudget = new ReplyBudget(VERSION_NEGOTIATIONS_PER_SECOND);
  private readonly resetBudget = new ReplyBudget(RESETS_PER_SECOND);
  private readonly keyRefusalBudget = new ReplyBudget(KEY_REFUSALS_PER_SECOND);
  private readonly connections = new Set<Connection>();
  private readonly sendQueue: Connection[] = [];
  private readonly inSendQueue = new Set<Connection>();
  private readonly dirty = new Set<Connection>();
  private readonly deadlines = new DeadlineHeap<Connection>();
  private readonly statelessQueue: Transmit[] = [];
  private readonly endpointEvents: EndpointEvent[] = [];
  /** Which local and remote addresses look broken, learned from all sessions (path-health.ts). */
  private readonly pathHealth = new PathHealth();
  private localAddresses: SocketAddress[];
  private nextHandle = 1;
  /** Server: the handshake work in progress, which decides 'under-load' Retry and 0-RTT refusal. */
  readonly handshakeLoad: HandshakeLoad;
  /** Server: the newest IK first-flight timestamp accepted from each client key. */
  readonly freshness: FreshnessTable;
  /** Client: timestamps for IK first flights, strictly increasing. */
  private readonly timestamps = new TimestampSource();
  private readonly wallClock: (() => number) | undefined;
  readonly stats: Required<EndpointStats> = {
    drops: {},
    datagramsReceived: 0,
    datagramsSent: 0,
    retriesSent: 0,
    statelessResetsSent: 0,
    versionNegotiationsSent: 0,
  };
  /** Server: sessions in total and per key, and the memory budget (session-limits.ts). */
  readonly limits: SessionLimits | undefined;
  /** Server: sessions refused after their handshake, reduced to what their closing period needs. */
  readonly closingRecords = new ClosingRecords();
  /** Server: refused sessions still sending their reply and CLOSE, with the datagrams sent so far. */
  private readonly refusing = new Map<Connection, Uint8Array[]>();
  /** Server: shutting down; every new session is refused (stopAccepting). */
  private shuttingDown = false;

  constructor(options: EndpointOptions) {
    if (options.staticKey.privateKey?.length !== 32) {
      throw new TypeError('staticKey must be an X25519 key pair with a 32-byte privateKey');
    }
    this.staticKey = options.staticKey;
    this.serverOptions = options.server;
    this.transport = resolveTransportConfig(options.transport);
    this.cidLength = options.cidLength ?? 8;
    if (!Number.isInteger(this.cidLength) || this.cidLength < 4 || this.cidLength > 20) {
      throw new RangeError(`cidLength must be an integer in [4, 20], got ${options.cidLength}`);
    }
    this.random = options.random ?? defaultRandom;
    this.testHooks = options.testHooks;
    this.localAddresses = [...(options.localAddresses ?? [])];
    this.secrets = new EndpointSecrets(this.random, options.staticKey.privateKey);
    this.initialMacKey = initialMacKey(options.staticKey.publicKey);
    this.handshakeLoad = new HandshakeLoad({
      halfOpen: positiveOption('retryThreshold', options.server?.retryThreshold, 64),
      dhPerSecond: positiveOption('retryDhPerSecond', options.server?.retryDhPerSecond, 2000),
    });
    this.freshness = new FreshnessTable(
      positiveOption('freshnessTableSize', options.server?.freshnessTableSize, 16_384),
    );
    this.wallClock = options.wallClock;
    const keys = options.server?.authorizedKeys ?? 'any';
    this.authorized = keys === 'any' ? 'any' : new Set(keys.map((k) => cidKey(k)));
    if (options.server) {
      this.limits = new SessionLimits(options.server.limits ?? {}, () => this.connections);
      const policy = new EarlyDataPolicy(options.server.earlyData ?? {}, this.random);
      this.earlyPolicy = policy;
      this.earlyData = {
        ticketsPerSession: policy.ticketsPerSession,
        issue: (clientKey, now) => policy.issue(clientKey, now),
        // Under load, 0-RTT is refused like a Retry is sent: the same load signal.
        admit: (ticket, clientKey, bytes, now) =>
          policy.admit(ticket, clientKey, bytes, now, this.handshakeLoad.overloaded(now)),
      };
    }
  }

  /** The server's 0-RTT policy (its strike register size, for tests and metrics). */
  readonly earlyPolicy: EarlyDataPolicy | undefined;

  get publicKey(): Uint8Array {
    return this.staticKey.publicKey;
  }

  /** Replaces the authorized client keys (e.g. on SIGHUP). Existing sessions are kept. */
  setAuthorizedKeys(keys: 'any' | Uint8Array[]): void {
    this.authorized = keys === 'any' ? 'any' : new Set(keys.map((k) => cidKey(k)));
  }

  /**
   * Refuses every new session from now on, with SESSION_LIMIT, so a client that reconnects while
   * the server closes its sessions learns at once that it must try again later, instead of
   * getting a session the server is about to drop without a CLOSE.
   */
  stopAccepting(): void {
    this.shuttingDown = true;
  }

  /**
   * The shell's kernel refused `datagrams` sent from `local` to `remote` before they left the
   * host (ENETUNREACH, EHOSTUNREACH, ENETDOWN, EADDRNOTAVAIL): a path still being validated
   * there gets their anti-amplification credit back (PathManager.onSendRefused). Only the
   * sessions that had such a path are touched.
   */
  onSendRefused(local: SocketAddress, remote: SocketAddress, datagrams: number, now: number): void {
    for (const conn of this.connections) {
      if (!conn.onSendRefused(local, remote, datagrams)) continue;
      conn.setNow(now);
      this.afterInput(conn, now);
    }
  }

  /**
   * The host's usable local addresses changed (an interface came or went): every session
   * advertises the new set to its peer and moves off addresses that vanished.
   */
  setLocalAddresses(addresses: readonly SocketAddress[], now: number): void {
    this.localAddresses = [...addresses];
    for (const conn of this.connections) {
      conn.setNow(now);
      conn.setLocalAddresses(this.localAddresses, now);
      this.afterInput(conn, now);
    }
  }

  /**
   * The host's links or routes changed (the shell's kernel notification: a link came up, an
   * address or route was added), with or without a change of the address set: every session
   * waiting for a path tries at once instead of at its next backoff timer. Each session
   * rate-limits what a storm of notifications may make it send.
   */
  networkChanged(now: number): void {
    for (const conn of this.connections) {
      conn.setNow(now);
      conn.onNetworkChange(now);
      this.afterInput(conn, now);
    }
  }

  connect(
    remote: SocketAddress,
    local: SocketAddress,
    options: {
      serverKey?: Uint8Array;
      transport?: Partial<TransportConfig>;
      earlyData?: EarlyDataTicket;
      /** This session's own static key instead of the endpoint's (e.g. a throwaway for a key probe). */
      staticKey?: KeyPair;
    },
    now: number,
  ): EngineConnection {
    const config = options.transport
      ? resolveTransportConfig({ ...this.transport, ...options.transport })
      : this.transport;
    if (options.serverKey !== undefined && options.serverKey.length !== 32) {
      throw new TypeError('serverKey must be a 32-byte X25519 public key');
    }
    const conn = this.createConnection('client', config, local, remote, now, options.staticKey);
    conn.startClient(options.serverKey, now, options.earlyData);
    this.afterInput(conn, now);
    return conn;
  }

  receive(data: Uint8Array, local: SocketAddress, remote: SocketAddress, now: number): void {
    this.stats.datagramsReceived++;
    this.limits?.recheck(now);
    if (data.length === 0) return this.drop('empty');
    if (isLongHeader(data)) return this.receiveLong(data, local, remote, now);
    if (data.length < 1 + this.cidLength + 20) return this.drop('short');
    const conn = this.routeShort(data);
    if (!conn) {
      if (this.answerClosing(data.subarray(1, 1 + this.cidLength), data.length, local, remote, now)) return;
      // A stateless reset looks like a short header with a random DCID; its last 16
      // bytes are a token one of our peers gave us.
      const tail = cidKey(data.subarray(data.length - 16));
      const refusal = this.refusalTokens.get(tail);
      if (refusal) {
        refusal.conn.handleResumeRefusal(refusal.kind);
        this.afterInput(refusal.conn, now);
        return this.drop(`resume-refused-${refusal.kind}`);
      }
      const reset = this.resetTokens.get(tail);
      if (reset) {
        reset.handleStatelessReset();
        this.afterInput(reset, now);
        return this.drop('stateless-reset');
      }
      this.maybeStatelessReset(data, local, remote, now);
      return this.drop('unknown-cid');
    }
    conn.setNow(now);
    conn.handleShort(data, local, remote, now);
    this.afterInput(conn, now);
  }

  /**
   * The connection a short header's DCID names. Bulk traffic repeats one DCID, so the last
   * hit is checked first by bytes (no string key per packet), and confirmed still routed.
   */
  private routeShort(data: Uint8Array): Connection | undefined {
    const last = this.lastRoute;
    if (last !== undefined) {
      const cid = last.cid;
      let same = true;
      for (let i = 0; i < cid.length; i++) {
        if (cid[i] !== data[1 + i]) {
          same = false;
          break;
        }
      }
      if (same && this.routes.get(last.key) === last.conn) return last.conn;
    }
    const key = cidKey(data.subarray(1, 1 + this.cidLength));
    const conn = this.routes.get(key);
    if (conn) this.lastRoute = { cid: data.slice(1, 1 + this.cidLength), key, conn };
    return conn;
  }

  private receiveLong(data: Uint8Array, local: SocketAddress, remote: SocketAddress, now: number): void {
    let packet: ReturnType<typeof decodeLongHeader>;
    try {
      packet = decodeLongHeader(data);
    } catch {
      return this.drop('malformed');
    }
    if (packet.kind === 'version_negotiation') {
      const conn = this.routes.get(cidKey(packet.dcid));
      if (conn?.role === 'client') {
        conn.setNow(now);
        conn.handleVersionNegotiation(packet.supportedVersions, packet.scid);
        this.afterInput(conn, now);
      }
      return this.drop('version-negotiation');
    }
    if (packet.kind === 'unsupported_version') {
      this.maybeVersionNegotiation(packet, data.length, local, remote, now);
      return this.drop('unsupported-version');
    }
    const conn = this.routes.get(cidKey(packet.dcid));
    if (conn) {
      conn.setNow(now);
      switch (packet.kind) {
        case 'initial':
          if (conn.role === 'server') conn.handleDuplicateInitial(data.length);
          else this.drop('initial-to-client');
          break;
        case 'handshake':
          conn.handleHandshakePacket(packet, data.length, now, local, remote);
          break;
        case 'resume': {
          // A duplicate of the RESUME being answered: the cached reply, to wherever it came from
          // (smaller than the ≥ 1200-byte RESUME, so never an amplifier).
          const reply = conn.role === 'server' ? conn.resumeReply : undefined;
          if (reply) this.queueStateless({ local, remote, data: reply });
          else this.drop('resume-duplicate');
          break;
        }
        case 'retry':
          conn.handleRetry(packet.scid, packet.token, now);
          break;
        default:
          this.drop('unsupported-packet');
      }
      this.afterInput(conn, now);
      return;
    }
    if (this.answerClosing(packet.dcid, data.length, local, remote, now)) return;
    if (packet.kind === 'resume' && this.serverOptions)
      return this.acceptResume(packet, data.length, local, remote, now);
    if (packet.kind !== 'initial' || !this.serverOptions) return this.drop('unknown-cid');
    this.acceptInitial(packet, data, local, remote, now);
  }

  private acceptInitial(
    packet: Extract<ReturnType<typeof decodeLongHeader>, { kind: 'initial' }>,
    datagram: Uint8Array,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
  ): void {
    const datagramLength = datagram.length;
    if (datagramLength < MIN_INITIAL_DATAGRAM) return this.drop('initial-too-small');
    const server = this.serverOptions!;
    // Everything before the Noise message is stateless and costs no DH: the mac, the token and
    // the Retry decision.
    const legacyIk = packet.pattern === HandshakePattern.IK;
    if (packet.pattern === IK_MAC_PATTERN) {
      if (!checkInitialMac(datagram, packet.payload, this.initialMacKey)) return this.drop('initial-bad-mac');
    } else if (!legacyIk && packet.pattern !== HandshakePattern.XX) {
      return this.drop('initial-bad-pattern');
    }
    let originalDcid = packet.dcid;
    let addressValidated = false;
    if (packet.token.length > 0) {
      const odcid = this.secrets.validateRetryToken(packet.token, remote, packet.dcid, now);
      if (!odcid) return this.drop('invalid-token');
      originalDcid = odcid;
      addressValidated = true;
    } else if (this.retryRequired(server, now) || (legacyIk && server.retry !== 'never')) {
      // Pattern 0 carries no mac: anyone could make us spend DH on it, so it proves its address first.
      this.stats.retriesSent++;
      const retryScid = this.random(this.cidLength);
      const token = this.secrets.mintRetryToken(remote, packet.dcid, retryScid, now + RETRY_TOKEN_LIFETIME);
      this.queueStateless({
        local,
        remote,
        data: encodeRetry({
          kind: 'retry',
          version: BRAID_VERSION_1,
          dcid: packet.scid,
          scid: retryScid,
          token,
        }),
      });
      return;
    }
    // Counted before the work, whatever its outcome: a rejected INITIAL cost the same DH.
    this.handshakeLoad.spentDh(packet.pattern === HandshakePattern.XX ? DH_COST.xx : DH_COST.ik, now);
    // Message 1 is read before any session exists: junk, and a client key the list refuses
    // (beyond the few refusals a second answered in full), leave no state behind.
    const screenKey = (key: Uint8Array) =>
      this.isAuthorized(key) || (!this.handshakeLoad.overloaded(now) && this.keyRefusalBudget.take(now));
    const first = readFirstMessage(packet, this.staticKey, screenKey);
    if (typeof first === 'string') return this.drop(INITIAL_DROP_REASON[first]);
    const conn = this.createConnection('server', this.transport, local, remote, now);
    const authorize = (key: Uint8Array) => this.admit(conn, key, now);
    const fresh = (key: Uint8Array, timestamp: Uint8Array) => this.freshness.accept(cidKey(key), timestamp);
    const verdict = conn.acceptInitial(
      packet,
      first,
      authorize,
      fresh,
      addressValidated,
      originalDcid,
      datagramLength,
      now,
    );
    if (verdict !== 'accepted') {
      // Unusable transport parameters or a replay: forget everything it made us create.
      this.forget(conn);
      return this.drop(INITIAL_DROP_REASON[verdict]);
    }
    conn.initialDcidAlias = packet.dcid;
    this.routes.set(cidKey(packet.dcid), conn);
    this.handshakeLoad.opened(conn);
    this.endpointEvents.push({ type: 'incoming', connection: conn });
    this.afterInput(conn, now);
  }

  /**
   * A RESUME for no session we route (docs/protocol.md §15.3): the identifier decides, before
   * any cryptography. Live: the session reads the IKpsk2 message (and forgets it unless it
   * authenticates). Spent: a replay, dropped. Expired / unknown: a stateless refusal whose token
   * the client holds. Nothing is created for a RESUME that does not authenticate.
   */
  private acceptResume(
    packet: Extract<ReturnType<typeof decodeLongHeader>, { kind: 'resume' }>,
    datagramLength: number,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
  ): void {
    if (datagramLength < MIN_INITIAL_DATAGRAM) return this.drop('resume-too-small');
    let found = this.resumptionIds.lookup(packet.token);
    // A session that just closed may not be released yet: answer as it will be answered then.
    if (found.kind === 'live' && found.owner.state === 'closed')
      found = { kind: found.owner.expired ? 'expired' : 'unknown' };
    if (found.kind === 'live') {
      const conn = found.owner;
      conn.setNow(now);
      this.handshakeLoad.spentDh(DH_COST.resume, now);
      if (!conn.acceptResume(packet, datagramLength, local, remote, now)) return this.drop('resume-rejected');
      this.afterInput(conn, now);
      return;
    }
    if (found.kind === 'spent') return this.drop('resume-replay');
    if (packet.token.length !== 16) return this.drop('resume-malformed');
    const kind = found.kind === 'expired' ? 'expired' : 'lost';
    if (now - this.refusalBudgetAt >= 1000) {
      this.refusalBudgetAt = now;
      this.refusalBudget = REFUSALS_PER_SECOND;
    }
    if (this.refusalBudget <= 0) return this.drop('resume-refusal-limited');
    this.refusalBudget--;
    const token = this.secrets.resumeRefusalToken(packet.token, kind);
    this.queueStateless({ local, remote, data: encodeStatelessReset(token, REFUSAL_LENGTH, this.random) });
    this.drop(`resume-${kind}`);
  }

  private retryRequired(server: ServerOptions, now: number): boolean {
    switch (server.retry ?? 'under-load') {
      case 'always':
        return true;
      case 'never':
        return false;
      default:
        return this.handshakeLoad.overloaded(now);
    }
  }

  private createConnection(
    role: 'client' | 'server',
    config: TransportConfig,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
    staticKey: KeyPair = this.staticKey,
  ): Connection {
    const conn = new Connection({
      role,
      handle: this.nextHandle++,
      config,
      staticKey,
      random: this.random,
      secrets: this.secrets,
      cidLength: this.cidLength,
      now,
      local,
      remote,
      onWake: (c) => this.wake(c),
      testHooks: this.testHooks,
      pathHealth: this.pathHealth,
      registerCid: (cid, c) => this.routes.set(cidKey(cid), c),
      unregisterCid: (cid) => this.routes.delete(cidKey(cid)),
      registerResetToken: (token, c) => this.resetTokens.set(cidKey(token), c),
      unregisterResetToken: (token) => this.resetTokens.delete(cidKey(token)),
      onHandshakeConfirmed: (c) => this.handshakeLoad.settled(c),
      resumption: this.resumptionRouting,
      earlyData: role === 'server' ? this.earlyData : undefined,
      memoryPressure: role === 'server' ? this.limits : undefined,
      firstFlightTimestamp: (at) => this.timestamps.next(this.wallClock?.() ?? at),
    });
    conn.setNow(now);
    if (this.localAddresses.length > 0) conn.setLocalAddresses(this.localAddresses, now);
    this.connections.add(conn);
    return conn;
  }

  private wake(conn: Connection): void {
    if (!this.inSendQueue.has(conn)) {
      this.inSendQueue.add(conn);
      this.sendQueue.push(conn);
    }
    this.dirty.add(conn);
  }

  private afterInput(conn: Connection, _now: number): void {
    this.wake(conn);
    // Recomputed once when the deadline is next read, not once per datagram of a batch.
    this.staleDeadlines.add(conn);
  }

  /** Brings the deadline heap up to date for connections that took input since it was last read. */
  private refreshDeadlines(): void {
    if (this.staleDeadlines.size === 0) return;
    for (const conn of this.staleDeadlines) {
      if (this.connections.has(conn)) this.deadlines.update(conn, conn.nextDeadline());
    }
    this.staleDeadlines.clear();
  }

  private maybeStatelessReset(
    data: Uint8Array,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
  ): void {
    // Only answer packets large enough that the reset is smaller (no amplification, no loops).
    if (!this.serverOptions && this.connections.size === 0) return;
    if (data.length < 43) return;
    if (!this.resetBudget.take(now)) return this.drop('stateless-reset-limited');
    this.stats.statelessResetsSent++;
    const cid = data.subarray(1, 1 + this.cidLength);
    const token = this.secrets.statelessResetToken(cid);
    const length = Math.min(data.length - 1, 43);
    this.queueStateless({ local, remote, data: encodeStatelessReset(token, length, this.random) });
  }

  /**
   * Server: a long header of a version we do not speak (docs/protocol.md §2). Its type bits
   * mean nothing to us, so every such datagram of at least 1200 bytes is answered (the reply is
   * far smaller: no amplification), within a budget like stateless resets'.
   */
  private maybeVersionNegotiation(
    packet: UnsupportedVersionPacket,
    datagramLength: number,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
  ): void {
    if (!this.serverOptions || datagramLength < MIN_INITIAL_DATAGRAM) return;
    if (!this.versionNegotiationBudget.take(now)) return this.drop('version-negotiation-limited');
    this.stats.versionNegotiationsSent++;
    this.queueStateless({
      local,
      remote,
      data: encodeVersionNegotiation({
        kind: 'version_negotiation',
        dcid: packet.scid,
        scid: packet.dcid,
        supportedVersions: [BRAID_VERSION_1],
      }),
    });
  }

  private queueStateless(t: Transmit): void {
    if (this.statelessQueue.length >= MAX_STATELESS_QUEUE) return this.drop('stateless-queue-full');
    this.statelessQueue.push(t);
  }

  pollTransmit(now: number, buffer?: Uint8Array): Transmit | undefined {
    const stateless = this.statelessQueue.shift();
    if (stateless) {
      this.stats.datagramsSent++;
      return stateless;
    }
    while (this.sendQueue.length > 0) {
      const conn = this.sendQueue[0];
      const t = conn.pollTransmit(now, buffer);
      if (t) {
        this.stats.datagramsSent++;
        // A copy: the datagram may be a view of the caller's buffer.
        this.refusing.get(conn)?.push(t.data.slice());
        // Round-robin: a busy connection goes to the back after each datagram.
        this.sendQueue.shift();
        this.sendQueue.push(conn);
        return t;
      }
      this.sendQueue.shift();
      this.inSendQueue.delete(conn);
      if (this.refusing.has(conn) && this.retireRefused(conn, now)) continue;
      this.staleDeadlines.delete(conn);
      this.deadlines.update(conn, conn.nextDeadline());
      this.reapIfClosed(conn);
    }
    return undefined;
  }

  nextDeadline(): number | undefined {
    this.refreshDeadlines();
    const session = this.deadlines.peek();
    const record = this.closingRecords.nextDeadline();
    if (record === undefined) return session;
    return session === undefined ? record : Math.min(session, record);
  }

  onTimeout(now: number): void {
    this.limits?.recheck(now);
    this.closingRecords.expire(now);
    this.refreshDeadlines();
    for (const conn of this.deadlines.popDue(now)) {
      conn.setNow(now);
      conn.onTimeout(now);
      this.afterInput(conn, now);
    }
  }

  pollEndpointEvent(): EndpointEvent | undefined {
    return this.endpointEvents.shift();
  }

  drainDirty(): EngineConnection[] {
    const out = [...this.dirty];
    this.dirty.clear();
    for (const conn of out) this.reapIfClosed(conn);
    return out;
  }

  private reapIfClosed(conn: Connection): void {
    if (conn.state !== 'closed' || !this.connections.has(conn)) return;
    if (conn.hasEvents || this.inSendQueue.has(conn)) return;
    this.forget(conn);
    this.endpointEvents.push({ type: 'connection-closed', connection: conn });
  }

  private isAuthorized(key: Uint8Array): boolean {
    return this.authorized === 'any' || this.authorized.has(cidKey(key));
  }

  /** Server: the client key of `conn` is known; whether it may have this session (docs/protocol.md §7.7). */
  private admit(conn: Connection, key: Uint8Array, now: number): SessionRefusal | undefined {
    if (!this.isAuthorized(key)) {
      return { code: TransportError.UNAUTHORIZED_KEY, reason: 'client key not authorized' };
    }
    const refusal = this.shuttingDown
      ? { code: TransportError.SESSION_LIMIT, reason: 'server shutting down' }
      : this.limits?.admit(conn, key, now);
    if (refusal) {
      this.drop('session-limit');
      this.refusing.set(conn, []);
    }
    return refusal;
  }

  /**
   * A refused session has sent its reply and CLOSE: it becomes a closing record (its CIDs, those
   * datagrams, its deadline) and the session is forgotten at once. Its events (the refusal)
   * are still delivered. False when it did not end in the closing state with its CLOSE out.
   */
  private retireRefused(conn: Connection, now: number): boolean {
    const sent = this.refusing.get(conn)!;
    if (conn.state !== 'closing') {
      this.refusing.delete(conn);
      return false;
    }
    if (!conn.closeSent || sent.length === 0) return false;
    const cids = [...conn.localConnectionIds];
    if (conn.initialDcidAlias) cids.push(conn.initialDcidAlias);
    // The closing period the session set itself (3 × PTO, docs/protocol.md §9.17).
    this.closingRecords.add(cids, sent, conn.nextDeadline() ?? now + REFUSED_CLOSING_PERIOD);
    this.forget(conn);
    if (conn.hasEvents) this.dirty.add(conn);
    this.endpointEvents.push({ type: 'connection-closed', connection: conn });
    return true;
  }

  /** A datagram for a refused session's CID: its CLOSE again, within the record's limits. */
  private answerClosing(
    dcid: Uint8Array,
    length: number,
    local: SocketAddress,
    remote: SocketAddress,
    now: number,
  ): boolean {
    if (this.closingRecords.size === 0) return false;
    const replies = this.closingRecords.answer(dcid, length, local, remote, now);
    if (!replies) return false;
    for (const reply of replies) this.queueStateless(reply);
    this.drop(replies.length > 0 ? 'refused-close-repeated' : 'refused-close-limited');
    return true;
  }

  private forget(conn: Connection): void {
    this.limits?.release(conn);
    this.refusing.delete(conn);
    if (this.lastRoute?.conn === conn) this.lastRoute = undefined;
    // Only a session that was counted as half-open leaves the count: a rejected INITIAL never was.
    this.handshakeLoad.settled(conn);
    for (const cid of conn.localConnectionIds) this.routes.delete(cidKey(cid));
    if (conn.initialDcidAlias) this.routes.delete(cidKey(conn.initialDcidAlias));
    for (const token of conn.resetTokens) this.resetTokens.delete(cidKey(token));
    if (conn.resumeAlias) this.routes.delete(cidKey(conn.resumeAlias));
    // An expired session's identifiers are refused as 'expired'; otherwise they become unknown ('lost').
    for (const id of conn.resumptionIds) {
      if (conn.expired) this.resumptionIds.expire(id);
      else this.resumptionIds.forget(id);
    }
    for (const [key, entry] of this.refusalTokens) if (entry.conn === conn) this.refusalTokens.delete(key);
    this.connections.delete(conn);
    this.deadlines.remove(conn);
    this.staleDeadlines.delete(conn);
    this.dirty.delete(conn);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private drop(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }
}
