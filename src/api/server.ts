import { EventEmitter } from 'node:events';
import { describeBackend } from '../endpoint/backend.js';
import type { SocketBackendChoice } from '../endpoint/datagram-socket.js';
import { type AddressDiscoveryOptions, bindAllInterfaces } from '../endpoint/local-addresses.js';
import { type BindAddress, type FaultInjector, UdpEndpoint } from '../endpoint/udp-endpoint.js';
import type { EarlyDataOptions } from '../engine/persistence/early-data.js';
import type {
  CloseInfo,
  ConnectionEvent,
  EndpointEvent,
  EngineConnection,
  TransportConfig,
} from '../engine/types.js';
import type { SocketAddress } from '../net/address.js';
import { TransportError } from '../wire/errors.js';
import { createEngine, generateKeyPair } from './engine-factory.js';
import { BraidError, InvalidArgumentError } from './errors.js';
import {
  checkBackupAddresses,
  checkHost,
  checkKeyPair,
  checkObject,
  checkPort,
  checkPositiveInteger,
  checkPublicKey,
  checkTimeout,
  checkTransport,
  type KeyPair,
} from './options.js';
import { Session } from './session.js';

export interface ServerOptions {
  /** The server's identity. Default: a fresh key pair (see `server.publicKey`). */
  staticKey?: KeyPair;
  /** Client static keys allowed to connect, or 'any' (default). */
  authorizedKeys?: 'any' | Uint8Array[];
  /**
   * Sessions at once (any key), and per client key. A client beyond either is refused right
   * after its handshake with SESSION_LIMIT (its connect() rejects with SessionLimitError) and
   * the server emits 'refused'. Default: no limit.
   */
  maxSessions?: number;
  maxSessionsPerKey?: number;
  /**
   * Bytes all sessions may cost together in the engine: an estimated 48 KiB each
   * (SESSION_FIXED_COST) plus what each buffers (at most transport.maxSessionBuffer), so it
   * also bounds idle sessions (about 21 800 by default). Over it, new sessions are refused
   * (SESSION_LIMIT) and every session's receive windows shrink back to their initial size.
   * Default 1 GiB.
   */
  memoryBudget?: number;
  /**
   * Address validation with a Retry round trip before any Diffie–Hellman: 'always', 'never',
   * or 'under-load' (default; 'auto' is the same): while the server's handshake load is at its
   * limits (half-open sessions, DH operations per second; docs/security.md).
   */
  retry?: 'always' | 'never' | 'under-load' | 'auto';
  /** Half-open sessions (handshake done, not yet confirmed by the client) at which 'under-load' Retry starts. Default 64. */
  retryThreshold?: number;
  /** X25519 operations per second (an IK first flight costs 5, XX 4) at which 'under-load' Retry starts. Default 2000. */
  retryDhPerSecond?: number;
  /**
   * Client keys whose newest IK first-flight timestamp the server remembers (replayed first
   * flights are dropped); beyond it the key accepted longest ago is forgotten. Default 16 384.
   */
  freshnessTableSize?: number;
  transport?: Partial<TransportConfig>;
  /**
   * Server IPs that are **backups** (e.g. an address on a metered link): clients are told
   * (ADD_ADDRESS flag) and use paths to them only while no other path works, moving back once a
   * preferred path has been healthy for `transport.moveBackDelay`. Sets
   * `transport.backupAddresses`. See docs/multihoming.md.
   */
  backupAddresses?: string[];
  /** SO_RCVBUF/SO_SNDBUF request per socket, bytes. Default 4 MiB. */
  socketBufferSize?: number;
  /** Drops chosen datagrams, to simulate a failing path (tests and `braid demo` only; see FaultInjector). */
  faultInjector?: FaultInjector;
  /** Socket back-end: 'auto' (default: batched native I/O where built, else node:dgram), 'native' or 'dgram'. */
  socketBackend?: SocketBackendChoice;
  /**
   * 0-RTT (docs/persistence.md §5). true (default): clients get tickets and may send data in
   * their first flight; it is delivered at once on streams flagged `stream.early`, and refused
   * automatically under load (as many pending handshakes as trigger Retry) or when replayed.
   * false: no tickets, no early data. An object tunes it; `accept` decides per attempt.
   */
  earlyData?:
    | boolean
    | {
        accept?: (info: { remoteKey: Uint8Array; bytes: number }) => boolean;
        ticketLifetime?: number;
        maxEarlyData?: number;
      };
}

export interface ListenOptions {
  /** 0 (default) picks a free port, shared by every host. */
  port?: number;
  /**
   * One local address. Omitted, '::' or '0.0.0.0': every usable interface address (both
   * families, or that wildcard's family), watched — see `addressDiscovery`.
   */
  host?: string;
  /**
   * Several local addresses (e.g. one IPv4 and one IPv6, or two of one family for
   * multihoming: sessions advertise them all to the client); overrides `host`.
   */
  hosts?: string[];
  /**
   * For the wildcard default: one socket per interface address, kept in step with the host's
   * addresses (polled); sessions advertise every change to their clients. `false`: plain
   * wildcard sockets, nothing advertised.
   */
  addressDiscovery?: AddressDiscoveryOptions | false;
}

export interface SessionRefusedInfo {
  remoteKey: Uint8Array;
  /** The address the client's handshake came from. */
  remoteAddress: SocketAddress | undefined;
  /** The close code sent (TransportError.SESSION_LIMIT or UNAUTHORIZED_KEY) and its reason. */
  code: number;
  reason: string;
}

export interface ServerEvents {
  /**
   * A client completed its handshake and confirmed it with a fresh packet (a replayed first
   * flight never gets here; docs/protocol.md §7.6).
   */
  session: [session: Session];
  /**
   * A client completed its handshake and was refused (SESSION_LIMIT: a session limit or the
   * memory budget; UNAUTHORIZED_KEY: not in authorizedKeys); it never becomes a 'session'.
   */
  refused: [info: SessionRefusedInfo];
  listening: [];
  error: [error: Error];
  close: [];
}

/** A Braid server: one identity, one set of UDP sockets, many sessions. */
export class BraidServer extends EventEmitter<ServerEvents> {
  readonly publicKey: Uint8Array;
  readonly #staticKey: KeyPair;
  readonly #options: ServerOptions;
  readonly #sessions = new Map<EngineConnection, Session>();
  readonly #established = new Set<Session>();
  #endpoint: UdpEndpoint | undefined;
  #listening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** @internal Use createServer(). */
  constructor(options: ServerOptions) {
    super();
    this.#options = options;
    this.#staticKey = options.staticKey ?? generateKeyPair();
    this.publicKey = this.#staticKey.publicKey;
  }

  /**
   * What the server's endpoint counted before any session: datagrams dropped by reason (junk,
   * bad macs, replays, unknown CIDs, rate limits…), Retries and stateless resets sent. Empty
   * before listen().
   */
  get stats(): { drops: Record<string, number>; retriesSent: number; statelessResetsSent: number } {
    const stats = this.#endpoint?.engine.stats;
    return {
      drops: { ...(stats?.drops ?? {}) },
      retriesSent: stats?.retriesSent ?? 0,
      statelessResetsSent: stats?.statelessResetsSent ?? 0,
    };
  }

  /** Sessions that completed their handshake and are not closed yet. */
  get sessions(): ReadonlySet<Session> {
    return this.#established;
  }

  get listening(): boolean {
    return this.#endpoint !== undefined && !this.#endpoint.isClosed;
  }

  /** Binds the sockets. Resolves once listening; rejects with AddressInUseError or InvalidArgumentError. */
  listen(options: ListenOptions = {}, callback?: (error?: Error) => void): Promise<void> {
    const result = this.#listen(options);
    if (callback) result.then(() => callback(), callback);
    return result;
  }

  async #listen(options: ListenOptions): Promise<void> {
    checkObject('options', options);
    const discovery = options.addressDiscovery;
    if (discovery !== undefined && discovery !== false) {
      checkObject('addressDiscovery', discovery);
      if (discovery.pollInterval !== undefined)
        checkTimeout('addressDiscovery.pollInterval', discovery.pollInterval);
    }
    if (this.#listening) throw new BraidError('server is already listening', 'BRAID_ERR_SERVER_LISTENING');
    if (this.#closing) throw new BraidError('server is closed', 'BRAID_ERR_SERVER_CLOSED');
    const port = options.port === undefined ? 0 : checkPort('port', options.port, true);
    let hosts: string[] | undefined;
    if (options.hosts !== undefined) {
      if (!Array.isArray(options.hosts) || options.hosts.length === 0) {
        throw new InvalidArgumentError('hosts', 'must be a non-empty array of addresses');
      }
      hosts = options.hosts.map((h, i) => checkHost(`hosts[${i}]`, h));
    } else if (options.host !== undefined) {
      hosts = [checkHost('host', options.host)];
    }
    const engine = createEngine({
      staticKey: this.#staticKey,
      server: {
        authorizedKeys: this.#options.authorizedKeys ?? 'any',
        retry: this.#options.retry ?? 'under-load',
        retryThreshold: this.#options.retryThreshold,
        retryDhPerSecond: this.#options.retryDhPerSecond,
        freshnessTableSize: this.#options.freshnessTableSize,
        earlyData: earlyDataOptions(this.#options.earlyData),
        limits: {
          maxSessions: this.#options.maxSessions,
          maxSessionsPerKey: this.#options.maxSessionsPerKey,
          memoryBudget: this.#options.memoryBudget,
        },
      },
      transport: this.#options.backupAddresses
        ? { ...this.#options.transport, backupAddresses: this.#options.backupAddresses }
        : this.#options.transport,
    });
    const handlers = {
      onConnectionEvent: (connection: EngineConnection, event: ConnectionEvent) =>
        this.#onConnectionEvent(connection, event),
      onEndpointEvent: (event: EndpointEvent) => this.#onEndpointEvent(event),
    };
    const bufferOptions = {
      socketBufferSize: this.#options.socketBufferSize,
      faultInjector: this.#options.faultInjector,
      socketBackend: this.#options.socketBackend,
    };
    const bindAll = (list: string[]): Promise<UdpEndpoint> =>
      UdpEndpoint.bind(
        engine,
        list.map((host): BindAddress => ({ host, port })),
        handlers,
        bufferOptions,
      );
    const wildcard =
      hosts === undefined || (hosts.length === 1 && (hosts[0] === '::' || hosts[0] === '0.0.0.0'));
    this.#listening = (async () => {
      if (wildcard && discovery !== false) {
        const families: Array<'IPv4' | 'IPv6'> = hosts?.[0] === '0.0.0.0' ? ['IPv4'] : ['IPv4', 'IPv6'];
        const bound = await bindAllInterfaces(engine, port, handlers, bufferOptions, {
          ...discovery,
          families,
        });
        if (bound) {
          this.#endpoint = bound.endpoint;
          return;
        }
      }
      if (hosts) {
        this.#endpoint = await bindAll(hosts);
      } else {
        // Dual-stack '::' by default; hosts without IPv6 fall back to IPv4.
        try {
          this.#endpoint = await bindAll(['::']);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw error;
          this.#endpoint = await bindAll(['0.0.0.0']);
        }
      }
    })();
    try {
      await this.#listening;
    } catch (error) {
      this.#listening = undefined;
      throw error;
    }
    this.emit('listening');
  }

  /** The first bound address (port resolved), or undefined before listen(). */
  address(): SocketAddress | undefined {
    return this.#endpoint?.localAddresses[0];
  }

  addresses(): SocketAddress[] {
    return this.#endpoint?.localAddresses ?? [];
  }

  /** Replaces the authorized client keys; existing sessions stay. */
  setAuthorizedKeys(keys: 'any' | Uint8Array[]): void {
    checkAuthorizedKeys(keys);
    this.#options.authorizedKeys = keys;
    const engine = this.#endpoint?.engine as
      | { setAuthorizedKeys?: (k: 'any' | Uint8Array[]) => void }
      | undefined;
    engine?.setAuthorizedKeys?.(keys);
  }

  #sessionFor(connection: EngineConnection): Session {
    let session = this.#sessions.get(connection);
    if (!session) {
      session = new Session(connection, {
        // Lazy: a datagram can be dispatched before bind() has handed us the endpoint.
        scheduleFlush: () => this.#endpoint?.scheduleFlush(),
        backend: () => this.#endpoint?.backend ?? describeBackend(this.#options.socketBackend),
        sessionClosed: (closed) => this.#established.delete(closed),
      });
      this.#sessions.set(connection, session);
    }
    return session;
  }

  #onConnectionEvent(connection: EngineConnection, event: ConnectionEvent): void {
    const session = this.#sessionFor(connection);
    session.handleEvent(event);
    if (event.type === 'handshake-complete' && !session.closed) {
      this.#established.add(session);
      this.emit('session', session);
    } else if (event.type === 'closed' && isRefusal(event.info) && connection.remoteKey) {
      this.emit('refused', {
        remoteKey: connection.remoteKey,
        remoteAddress: connection.paths[0]?.remote,
        code: event.info.code,
        reason: event.info.reason,
      });
    }
  }

  #onEndpointEvent(event: EndpointEvent): void {
    if (event.type === 'incoming') this.#sessionFor(event.connection);
    else this.#sessions.delete(event.connection);
  }

  /**
   * Closes every session with (code, reason), waits up to `graceMs` for them to
   * finish closing, then releases the sockets and emits 'close'.
   */
  close(code = 0, reason = 'server closing', graceMs = 1000): Promise<void> {
    this.#closing ??= (async () => {
      await this.#listening?.catch(() => undefined);
      await this.#endpoint?.close(code, reason, graceMs);
      this.emit('close');
    })();
    return this.#closing;
  }
}

const RETRY_MODES: readonly string[] = ['always', 'never', 'under-load', 'auto'];

/** Our own close of a session right after its handshake: the client was refused (docs/protocol.md §7.7). */
function isRefusal(info: CloseInfo): boolean {
  return (
    info.source === 'local' &&
    !info.application &&
    (info.code === TransportError.SESSION_LIMIT || info.code === TransportError.UNAUTHORIZED_KEY)
  );
}

function earlyDataOptions(value: ServerOptions['earlyData']): EarlyDataOptions {
  if (value === undefined || value === true) return {};
  if (value === false) return { enabled: false };
  return { ...value };
}

function checkEarlyData(value: unknown): void {
  if (value === undefined || typeof value === 'boolean') return;
  checkObject('earlyData', value);
  const v = value as Record<string, unknown>;
  if (v.accept !== undefined && typeof v.accept !== 'function')
    throw new InvalidArgumentError('earlyData.accept', 'must be a function');
  if (v.ticketLifetime !== undefined) checkPositiveInteger('earlyData.ticketLifetime', v.ticketLifetime);
  if (v.maxEarlyData !== undefined) checkPositiveInteger('earlyData.maxEarlyData', v.maxEarlyData);
}

function checkAuthorizedKeys(keys: unknown): void {
  if (keys === 'any') return;
  if (!Array.isArray(keys))
    throw new InvalidArgumentError('authorizedKeys', "must be 'any' or an array of keys");
  keys.forEach((key, i) => {
    checkPublicKey(`authorizedKeys[${i}]`, key);
  });
}

/** Creates a server; `onSession` is added as a 'session' listener. Options are validated now. */
export function createServer(
  options: ServerOptions = {},
  onSession?: (session: Session) => void,
): BraidServer {
  checkObject('options', options);
  if (options.staticKey !== undefined) checkKeyPair('staticKey', options.staticKey);
  if (options.authorizedKeys !== undefined) checkAuthorizedKeys(options.authorizedKeys);
  if (options.retry !== undefined && !RETRY_MODES.includes(options.retry)) {
    throw new InvalidArgumentError('retry', "must be 'always', 'never', 'under-load' or 'auto'");
  }
  if (options.socketBufferSize !== undefined)
    checkPositiveInteger('socketBufferSize', options.socketBufferSize);
  if (options.maxSessions !== undefined) checkPositiveInteger('maxSessions', options.maxSessions);
  if (options.maxSessionsPerKey !== undefined)
    checkPositiveInteger('maxSessionsPerKey', options.maxSessionsPerKey);
  if (options.memoryBudget !== undefined) checkPositiveInteger('memoryBudget', options.memoryBudget);
  if (options.retryThreshold !== undefined) checkPositiveInteger('retryThreshold', options.retryThreshold);
  if (options.retryDhPerSecond !== undefined)
    checkPositiveInteger('retryDhPerSecond', options.retryDhPerSecond);
  if (options.freshnessTableSize !== undefined)
    checkPositiveInteger('freshnessTableSize', options.freshnessTableSize);
  if (options.faultInjector !== undefined && typeof options.faultInjector !== 'function') {
    throw new InvalidArgumentError('faultInjector', 'must be a function');
  }
  if (options.socketBackend !== undefined && !['auto', 'native', 'dgram'].includes(options.socketBackend)) {
    throw new InvalidArgumentError('socketBackend', "must be 'auto', 'native' or 'dgram'");
  }
  checkTransport(options.transport);
  if (options.backupAddresses !== undefined) checkBackupAddresses(options.backupAddresses);
  checkEarlyData(options.earlyData);
  if (onSession !== undefined && typeof onSession !== 'function') {
    throw new InvalidArgumentError('onSession', 'must be a function');
  }
  const server = new BraidServer({ ...options });
  if (onSession) server.on('session', onSession);
  return server;
}
