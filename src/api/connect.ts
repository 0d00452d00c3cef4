import dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { fingerprint } from '../crypto/identity.js';
import type { SocketBackendChoice } from '../endpoint/datagram-socket.js';
import { type AddressDiscoveryOptions, bindAllInterfaces } from '../endpoint/local-addresses.js';
import {
  type BindAddress,
  type FaultInjector,
  UdpEndpoint,
  type UdpEndpointHandlers,
} from '../endpoint/udp-endpoint.js';
import type {
  EarlyDataTicket,
  EngineConnection,
  MultipathOptions,
  TransportConfig,
} from '../engine/types.js';
import { addressKey, type SocketAddress, socketAddress } from '../net/address.js';
import { addressScope } from '../net/address-scope.js';
import { createEngine, generateKeyPair } from './engine-factory.js';
import {
  AbortError,
  type BraidError,
  type ConnectAttempt,
  ConnectTimeoutError,
  HandshakeError,
  HostKeyMismatchError,
  HostNotFoundError,
  InvalidArgumentError,
  SessionLimitError,
  UnauthorizedKeyError,
} from './errors.js';
import {
  type AddressFamily,
  HappyEyeballs,
  MAX_CONNECTION_ATTEMPT_DELAY,
  MIN_CONNECTION_ATTEMPT_DELAY,
} from './happy-eyeballs.js';
import {
  checkBackupAddresses,
  checkHost,
  checkIP,
  checkKeyPair,
  checkMultipath,
  checkObject,
  checkPort,
  checkPositiveInteger,
  checkPublicKey,
  checkTimeout,
  checkTransport,
  type KeyPair,
  parseTarget,
} from './options.js';
import { Session } from './session.js';
import { decodeTicket } from './tickets.js';

/**
 * Where to connect:
 * - `'host:port'` or `'[ipv6]:port'`: a host name (every A and AAAA record is raced) or an IP literal;
 * - `{ host, port }`: the same without the string syntax;
 * - `{ addresses: ['2001:db8::1', '192.0.2.1'], port }`: IP literals, raced;
 * - `{ host, addresses, port }`: both, the literals raced alongside the resolved addresses.
 */
export type ConnectTarget = string | { host?: string; addresses?: readonly string[]; port: number };

/** Resolves `hostname` to the IP literals of one family (default: the system resolver, /etc/hosts included). */
export type HostLookup = (hostname: string, family: AddressFamily) => Promise<readonly string[]>;

export interface ConnectOptions {
  /** Our identity. Default: a fresh key pair per connection. */
  staticKey?: KeyPair;
  /**
   * Pins the server's static key (Noise IK). Without it the server's key is learned (XX). Either
   * way connect() resolves only once the server has proved its key and confirmed the handshake,
   * i.e. accepted ours (`session.handshakeConfirmed`); a refusal rejects it (UnauthorizedKeyError).
   */
  serverKey?: Uint8Array;
  /** Local IP to bind (default: every usable interface address, see `addressDiscovery`). */
  localAddress?: string;
  /**
   * Several local IPs (multihoming): one socket each, all on one port; the session starts
   * from the first of the target's family and keeps a warm standby path over another. No
   * interface watching: this is the configured set. Overrides `localAddress`.
   */
  localAddresses?: string[];
  /**
   * Local IPs that are **backups** (as MPTCP's backup flag, e.g. a metered LTE link): paths over
   * them carry data only while no other path works, and the session moves back off them once a
   * preferred path has been healthy for `transport.moveBackDelay` (default 2 s). The server is
   * told (ADD_ADDRESS flag). Sets `transport.backupAddresses`. See docs/multihoming.md.
   */
  backupAddresses?: string[];
  /** Local port (default 0: any). */
  localPort?: number;
  /**
   * Without `localAddress(es)`, the client binds every usable interface address (loopback and
   * global scope) and watches for addresses that appear or vanish, telling the server
   * (docs/multihoming.md). `false`: wildcard sockets instead, nothing announced.
   */
  addressDiscovery?: AddressDiscoveryOptions | false;
  /** Milliseconds until connect() rejects with ConnectTimeoutError (resolution and every attempt). Default 10 000. */
  timeout?: number;
  /**
   * Happy Eyeballs (RFC 8305): ms between the starts of two handshake attempts to different
   * addresses. Default 250; RFC 8305's bounds: at least 10 (100 recommended), at most 2000.
   */
  connectionAttemptDelay?: number;
  /** The resolver for host names (default: the system's, A and AAAA queried in parallel). */
  lookup?: HostLookup;
  transport?: Partial<TransportConfig>;
  /**
   * How the session uses several paths (default `{ policy: 'failover' }`): 'aggregate' sends on
   * every usable path at once under coupled congestion control, 'redundant' also sends small
   * messages (up to `redundantMaxBytes`) on a second path; `lazy: { afterMs?, afterBytes? }`
   * opens backup paths only once the session has lasted or moved that much. The server follows
   * the client's choice (`session.multipathPolicy` tells what was agreed). Overrides
   * `transport.multipath`. See docs/multihoming.md.
   */
  multipath?: MultipathOptions;
  socketBufferSize?: number;
  /** Aborting rejects with the signal's reason and tears every attempt down. */
  signal?: AbortSignal;
  /** Drops chosen datagrams, to simulate a failing path (tests and `braid demo` only; see FaultInjector). */
  faultInjector?: FaultInjector;
  /**
   * A ticket from an earlier session's 'ticket' event (docs/persistence.md §5). It pins the
   * server key (Noise IK) when `serverKey` is not given. Expired tickets are ignored.
   */
  ticket?: Uint8Array;
  /**
   * 0-RTT, opt-in: with a usable ticket, connect() resolves at once, before the handshake, and
   * what the application writes on its streams right away rides in the first datagram (within
   * the ticket's limit; the rest follows the handshake). The server may refuse it (then it is
   * resent after the handshake: 'earlydata' false). Early data can be replayed by an attacker
   * in principle; the server refuses replays of a first flight, but send only what you would
   * accept to be replayed. Such a session is not yet proven: only its 'confirmed' event tells
   * that the server accepted our key. Default false.
   */
  earlyData?: boolean;
  /** Socket back-end: 'auto' (default: batched native I/O where built, else node:dgram), 'native' or 'dgram'. */
  socketBackend?: SocketBackendChoice;
}

const DEFAULT_CONNECT_TIMEOUT = 10_000;
/** After the session closed, how long the draining period may hold the socket. */
const CLIENT_CLOSE_GRACE_MS = 1000;
/**
 * A cancelled attempt still handshaking may yet complete (its server answered late): it is then
 * closed with a proper CLOSE, so the server frees its state at once. Past this it is dropped.
 */
const CANCELLED_ATTEMPT_GRACE_MS = 3000;
/**
 * How long an IK first flight may go unanswered before we ask the address for its key (at most
 * half the connect timeout): long enough for a lost packet's retransmission, short enough that
 * a wrongly pinned key is reported well before the timeout.
 */
const KEY_PROBE_DELAY_MS = 1500;

function validate(options: ConnectOptions): void {
  checkObject('options', options);
  if (options.staticKey !== undefined) checkKeyPair('staticKey', options.staticKey);
  if (options.serverKey !== undefined) checkPublicKey('serverKey', options.serverKey);
  if (options.localAddress !== undefined) checkIP('localAddress', options.localAddress);
  if (options.localAddresses !== undefined) {
    if (!Array.isArray(options.localAddresses) || options.localAddresses.length === 0) {
      throw new InvalidArgumentError('localAddresses', 'must be a non-empty array of IP addresses');
    }
    for (const [i, address] of options.localAddresses.entries()) checkIP(`localAddresses[${i}]`, address);
  }
  if (options.backupAddresses !== undefined) checkBackupAddresses(options.backupAddresses);
  if (options.faultInjector !== undefined && typeof options.faultInjector !== 'function') {
    throw new InvalidArgumentError('faultInjector', 'must be a function');
  }
  if (options.socketBackend !== undefined && !['auto', 'native', 'dgram'].includes(options.socketBackend)) {
    throw new InvalidArgumentError('socketBackend', "must be 'auto', 'native' or 'dgram'");
  }
  if (options.localPort !== undefined) checkPort('localPort', options.localPort, true);
  if (options.timeout !== undefined) checkTimeout('timeout', options.timeout);
  const delay = options.connectionAttemptDelay;
  if (
    delay !== undefined &&
    (typeof delay !== 'number' ||
      !Number.isFinite(delay) ||
      delay < MIN_CONNECTION_ATTEMPT_DELAY ||
      delay > MAX_CONNECTION_ATTEMPT_DELAY)
  ) {
    throw new InvalidArgumentError(
      'connectionAttemptDelay',
      `must be a number of milliseconds in [${MIN_CONNECTION_ATTEMPT_DELAY}, ${MAX_CONNECTION_ATTEMPT_DELAY}] (RFC 8305)`,
    );
  }
  if (options.lookup !== undefined && typeof options.lookup !== 'function') {
    throw new InvalidArgumentError('lookup', 'must be a function (hostname, family) => Promise<string[]>');
  }
  const discovery = options.addressDiscovery;
  if (discovery !== undefined && discovery !== false) {
    checkObject('addressDiscovery', discovery);
    if (discovery.pollInterval !== undefined)
      checkTimeout('addressDiscovery.pollInterval', discovery.pollInterval);
  }
  if (options.socketBufferSize !== undefined)
    checkPositiveInteger('socketBufferSize', options.socketBufferSize);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new InvalidArgumentError('signal', 'must be an AbortSignal');
  }
  if (options.ticket !== undefined && !(options.ticket instanceof Uint8Array))
    throw new InvalidArgumentError('ticket', "must be a Buffer from a session's 'ticket' event");
  if (options.earlyData !== undefined && typeof options.earlyData !== 'boolean')
    throw new InvalidArgumentError('earlyData', 'must be a boolean');
  checkTransport(options.transport);
  checkMultipath(options.multipath);
}

/** The ticket to use for 0-RTT (undefined when expired or not asked for), and the server key it pins. */
function ticketFor(options: ConnectOptions): {
  ticket: EarlyDataTicket | undefined;
  serverKey: Uint8Array | undefined;
} {
  if (!options.ticket) return { ticket: undefined, serverKey: options.serverKey };
  const decoded = decodeTicket(options.ticket);
  if (options.serverKey && !sameKey(options.serverKey, decoded.ticket.serverKey))
    throw new InvalidArgumentError('ticket', 'belongs to another server key than serverKey');
  const usable = options.earlyData === true && decoded.expiresAt > Date.now();
  return {
    ticket: usable ? decoded.ticket : undefined,
    serverKey: options.serverKey ?? decoded.ticket.serverKey,
  };
}

/** While suspended, the server may be found at new addresses for the same name: resolve it again. */
function reresolveWhileSuspended(
  session: Session,
  connection: EngineConnection,
  host: string,
  port: number,
): void {
  if (isIP(host) !== 0) return;
  session.on('suspended', () => {
    dnsLookup(host, { all: true })
      .then((found) => connection.addResumeTargets(found.map((a) => socketAddress(a.address, port))))
      .catch(() => undefined); // no answer: the known addresses are still tried
  });
}

/** The host name to resolve (if any), the literal addresses, and the port. */
function parseConnectTarget(target: unknown): { host?: string; literals: string[]; port: number } {
  if (typeof target === 'string') {
    const { host, port } = parseTarget(target);
    return isIP(host) ? { literals: [host], port } : { host, literals: [], port };
  }
  checkObject('target', target);
  const { host, addresses, port } = target as { host?: unknown; addresses?: unknown; port?: unknown };
  checkPort('target.port', port, false);
  const literals: string[] = [];
  let name: string | undefined;
  if (host !== undefined) {
    const checked = checkHost('target.host', host);
    if (isIP(checked)) literals.push(checked);
    else name = checked;
  }
  if (addresses !== undefined) {
    if (!Array.isArray(addresses))
      throw new InvalidArgumentError('target.addresses', 'must be an array of IP addresses');
    for (const [i, address] of addresses.entries()) literals.push(checkIP(`target.addresses[${i}]`, address));
  }
  if (name === undefined && literals.length === 0) {
    throw new InvalidArgumentError('target', 'needs a host or a non-empty addresses list');
  }
  return { host: name, literals, port: port as number };
}

const systemLookup: HostLookup = async (hostname, family) =>
  (await dnsLookup(hostname, { family, all: true })).map((entry) => entry.address);

/**
 * The source address the kernel's routing would pick towards `remote` (a connected UDP socket
 * sends nothing), or the routing error (ENETUNREACH...): an attempt with no route fails at once.
 */
function routeSource(remote: SocketAddress): Promise<{ source?: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(remote.family === 'IPv6' ? 'udp6' : 'udp4');
    const finish = (result: { source?: string; error?: string }) => {
      try {
        socket.close();
      } catch {
        // Already closed.
      }
      resolve(result);
    };
    socket.on('error', (error: NodeJS.ErrnoException) => finish({ error: error.code ?? error.message }));
    try {
      socket.connect(remote.port, remote.address, () => finish({ source: socket.address().address }));
    } catch (error) {
      finish({ error: (error as NodeJS.ErrnoException).code ?? String(error) });
    }
  });
}

/** Binds the client's sockets: the configured set, every interface, or the wildcards. */
async function bindClient(
  engine: ReturnType<typeof createEngine>,
  options: ConnectOptions,
  handlers: UdpEndpointHandlers,
): Promise<UdpEndpoint> {
  const port = options.localPort ?? 0;
  const endpointOptions = {
    socketBufferSize: options.socketBufferSize,
    faultInjector: options.faultInjector,
    socketBackend: options.socketBackend,
  };
  const explicit = options.localAddresses ?? (options.localAddress ? [options.localAddress] : undefined);
  if (explicit) {
    return UdpEndpoint.bind(
      engine,
      explicit.map((host) => ({ host, port })),
      handlers,
      endpointOptions,
    );
  }
  if (options.addressDiscovery !== false) {
    const bound = await bindAllInterfaces(engine, port, handlers, endpointOptions, options.addressDiscovery);
    if (bound) return bound.endpoint;
  }
  const wildcards: BindAddress[] = [
    { host: '::', port },
    { host: '0.0.0.0', port },
  ];
  try {
    return await UdpEndpoint.bind(engine, wildcards, handlers, endpointOptions);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw error;
    return UdpEndpoint.bind(engine, [{ host: '0.0.0.0', port }], handlers, endpointOptions);
  }
}

/** Most significant first: a server's definitive answer beats silence. */
function errorRank(error: Error): number {
  if (error instanceof HostKeyMismatchError) return 4;
  if (error instanceof UnauthorizedKeyError || error instanceof SessionLimitError) return 3;
  if (error instanceof ConnectTimeoutError) return 1;
  return 2;
}

/** An XX first flight under a throwaway key that asks an address which key it holds. */
interface KeyProbe {
  timer: NodeJS.Timeout;
  connection?: EngineConnection;
  session?: Session;
}

interface Attempt {
  address: string;
  remote: SocketAddress;
  connection?: EngineConnection;
  session?: Session;
  error?: Error;
  cancelled?: boolean;
}

/**
 * Opens a session to `target` (see ConnectTarget), racing handshakes to every address Happy
 * Eyeballs style (RFC 8305; src/api/happy-eyeballs.ts). Resolves with the first session whose
 * handshake completes; rejects with InvalidArgumentError, HostNotFoundError,
 * ConnectTimeoutError, UnauthorizedKeyError, HostKeyMismatchError, HandshakeError or a
 * SessionClosedError — the most telling of the attempts' failures, with `error.attempts`
 * listing every address tried and its own failure.
 */
export async function connect(target: ConnectTarget, options: ConnectOptions = {}): Promise<Session> {
  const { host, literals, port } = parseConnectTarget(target);
  validate(options);
  const { ticket, serverKey } = ticketFor(options);
  const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT;
  if (options.signal?.aborted)
    throw new AbortError('connect() was aborted', { cause: options.signal.reason });
  const explicitLocals =
    options.localAddresses ?? (options.localAddress ? [options.localAddress] : undefined);
  const localFamilies = explicitLocals && new Set(explicitLocals.map((a) => (isIP(a) === 6 ? 6 : 4)));
  // The configured local set decides which families can be reached at all.
  const usable = (address: string) => !localFamilies || localFamilies.has(isIP(address) === 6 ? 6 : 4);
  if (host === undefined && !literals.some(usable)) {
    const family = isIP(literals[0]!) === 6 ? 'IPv6' : 'IPv4';
    throw new InvalidArgumentError(
      options.localAddresses ? 'localAddresses' : 'localAddress',
      `must include an ${family} address to reach ${literals.join(', ')}`,
    );
  }

  const transport: Partial<TransportConfig> | undefined =
    options.multipath || options.backupAddresses
      ? {
          ...options.transport,
          ...(options.multipath && { multipath: options.multipath }),
          ...(options.backupAddresses && { backupAddresses: options.backupAddresses }),
        }
      : options.transport;
  const engine = createEngine({
    staticKey: options.staticKey ?? generateKeyPair(),
    transport,
  });
  const byConnection = new Map<EngineConnection, Session>();
  const endpoint = await bindClient(engine, options, {
    onConnectionEvent: (connection, event) => byConnection.get(connection)?.handleEvent(event),
  });

  const started = performance.now();
  const families: AddressFamily[] = [6, 4];
  const awaiting = host === undefined ? [] : families.filter((f) => !localFamilies || localFamilies.has(f));
  const race = new HappyEyeballs({ connectionAttemptDelay: options.connectionAttemptDelay }, awaiting);
  const attempts = new Map<string, Attempt>();
  const lookup = options.lookup ?? systemLookup;
  if (ticket) return connectEarly();

  /**
   * 0-RTT: one address, no race (racing would send the early data to several), and the session
   * at once, before the handshake: what the application writes on it by the next tick rides in
   * the first datagram.
   */
  async function connectEarly(): Promise<Session> {
    const addresses = literals.filter(usable);
    for (const family of awaiting) addresses.push(...(await lookup(host!, family).catch(() => [])));
    const address = addresses[0];
    if (address === undefined) {
      endpoint.destroy();
      throw new HostNotFoundError(host ?? literals.join(', '), 'no address');
    }
    const remote = socketAddress(address, port);
    const route = await routeSource(remote);
    const local = chooseLocal(endpoint.localAddresses, remote, route.source, explicitLocals !== undefined);
    let connection: EngineConnection;
    try {
      connection = endpoint.connect(remote, { serverKey, transport, earlyData: ticket }, local);
    } catch (error) {
      endpoint.destroy();
      throw error;
    }
    const session = new Session(connection, {
      scheduleFlush: () => endpoint.scheduleFlush(),
      backend: () => endpoint.backend,
      sessionClosed: () => {
        endpoint.unref();
        void endpoint.close(0, '', CLIENT_CLOSE_GRACE_MS);
      },
    });
    byConnection.set(connection, session);
    if (host !== undefined) reresolveWhileSuspended(session, connection, host, port);
    return session;
  }

  return new Promise<Session>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    let timedOut = false;
    const now = () => performance.now() - started;

    /** Key probes (see probeServerKey) still open, closed once connect() settles. */
    const keyProbes = new Set<KeyProbe>();

    const settle = (result: Session | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(overall);
      for (const probe of keyProbes) {
        clearTimeout(probe.timer);
        closeProbe(probe);
      }
      keyProbes.clear();
      options.signal?.removeEventListener('abort', onAbort);
      if (!(result instanceof Session)) {
        reject(result);
        return;
      }
      if (result.closed)
        reject(result.closeError ?? new HandshakeError('the server closed the session at once'));
      else resolve(result);
    };

    /** Rejects with `error`, then tears every attempt and the sockets down. */
    const giveUp = (error: Error): void => {
      // First: closing the attempts emits their 'close', which must not settle with its own error.
      settle(error);
      for (const attempt of attempts.values()) closeAttempt(attempt, 'connect abandoned');
      endpoint.destroy();
    };

    const closeAttempt = (attempt: Attempt, reason: string): void => {
      const { connection, session } = attempt;
      if (!connection || !session) return;
      if (connection.state === 'handshaking' || connection.state === 'established')
        connection.close(0, reason);
      session.finish(undefined);
      endpoint.scheduleFlush();
    };

    const closeProbe = ({ connection, session }: KeyProbe): void => {
      if (!connection || !session || session.closed) return;
      if (connection.state === 'handshaking' || connection.state === 'established')
        connection.close(0, 'key probe done');
      session.finish(undefined);
      endpoint.scheduleFlush();
    };

    /**
     * A server cannot read an IK first message sealed to a key it does not hold, so a wrongly
     * pinned key meets silence. When the attempt's first flight stays unanswered, ask the same
     * address for its key with an XX first flight under a throwaway static key (our identity is
     * never sent; nothing beyond XX's second message is needed): a server that proves another
     * key than the pinned one fails the attempt with HostKeyMismatchError naming both.
     */
    const probeServerKey = (attempt: Attempt, pinned: Uint8Array, local: SocketAddress): void => {
      const probe: KeyProbe = {
        timer: setTimeout(
          () => {
            if (settled || attempt.cancelled || attempt.error || attempt.session?.handshakeComplete) return;
            let connection: EngineConnection;
            try {
              connection = endpoint.connect(
                attempt.remote,
                { transport, staticKey: generateKeyPair() },
                local,
              );
            } catch {
              return; // no probe: the attempt still ends in its own error or timeout
            }
            const session = new Session(connection, {
              scheduleFlush: () => endpoint.scheduleFlush(),
              backend: () => endpoint.backend,
              sessionClosed: () => {},
            });
            probe.connection = connection;
            probe.session = session;
            byConnection.set(connection, session);
            session.once('handshake', (remoteKey: Uint8Array) => {
              closeProbe(probe);
              keyProbes.delete(probe);
              if (settled || attempt.cancelled || attempt.error || attempt.session?.handshakeComplete) return;
              if (sameKey(remoteKey, pinned)) return; // the right key: the server just does not answer yet
              // The failure first: closing the attempt must not report it as its own error.
              attemptFailed(
                attempt,
                new HostKeyMismatchError(
                  `the server at ${addressKey(attempt.remote)} proves key ${fingerprint(remoteKey)}, ` +
                    `not the pinned ${fingerprint(pinned)}`,
                  remoteKey,
                ),
              );
              closeAttempt(attempt, 'server key mismatch');
            });
          },
          Math.min(KEY_PROBE_DELAY_MS, timeout / 2),
        ),
      };
      probe.timer.unref();
      keyProbes.add(probe);
    };

    const failedError = (records: readonly { address: string; error?: string }[]): Error => {
      const tried: ConnectAttempt[] = records.map((r) => {
        const attempt = attempts.get(r.address);
        return { address: attempt ? addressKey(attempt.remote) : r.address, error: r.error ?? 'unknown' };
      });
      if (tried.length === 0) {
        if (timedOut) return Object.assign(new ConnectTimeoutError(timeout), { attempts: tried });
        return new HostNotFoundError(
          host ?? literals.join(', '),
          race.resolutionFailures.join('; ') || 'no address',
        );
      }
      let worst: Error | undefined;
      for (const r of records) {
        const error = attempts.get(r.address)?.error;
        if (error && (!worst || errorRank(error) > errorRank(worst))) worst = error;
      }
      const error = (worst ?? new ConnectTimeoutError(timeout)) as BraidError;
      if (tried.length > 1) {
        error.message += `; tried ${tried.map((t) => `${t.address} (${t.error})`).join(', ')}`;
      }
      error.attempts = tried;
      return error;
    };

    const drive = (): void => {
      if (settled) return;
      const t = now();
      const deadline = race.nextDeadline();
      if (deadline !== undefined && deadline <= t) race.onTimeout(t);
      for (let action = race.poll(); action; action = race.poll()) {
        switch (action.type) {
          case 'start':
            void startAttempt(action.address);
            break;
          case 'cancel': {
            const attempt = attempts.get(action.address);
            if (attempt) cancelAttempt(attempt);
            break;
          }
          case 'won': {
            const winner = attempts.get(action.address)!;
            if (host !== undefined) reresolveWhileSuspended(winner.session!, winner.connection!, host, port);
            settle(winner.session!);
            return;
          }
          case 'failed':
            giveUp(failedError(action.attempts));
            return;
        }
      }
      clearTimeout(timer);
      const next = race.nextDeadline();
      if (next !== undefined) timer = setTimeout(drive, Math.max(0, next - now()));
    };

    const attemptFailed = (attempt: Attempt, error: Error): void => {
      if (attempt.error) return;
      attempt.error = error;
      race.attemptFailed(attempt.address, error.message, now());
      drive();
    };

    const cancelAttempt = (attempt: Attempt): void => {
      attempt.cancelled = true;
      const { connection, session } = attempt;
      if (!connection || !session) return;
      if (connection.state === 'established') {
        void session.close(0, 'another address connected first');
        return;
      }
      // Still handshaking: let a late answer complete, then close it properly (see the grace).
      setTimeout(
        () => void session.close(0, 'another address connected first'),
        CANCELLED_ATTEMPT_GRACE_MS,
      ).unref();
    };

    const startAttempt = async (address: string): Promise<void> => {
      const remote = socketAddress(address, port);
      const attempt: Attempt = { address, remote };
      attempts.set(address, attempt);
      const route = await routeSource(remote);
      if (settled || attempt.cancelled) return;
      if (route.error) {
        attemptFailed(attempt, new HandshakeError(`no route to ${addressKey(remote)} (${route.error})`));
        return;
      }
      const local = chooseLocal(endpoint.localAddresses, remote, route.source, explicitLocals !== undefined);
      if (!local) {
        attemptFailed(
          attempt,
          new HandshakeError(`no local ${remote.family} address to reach ${addressKey(remote)}`),
        );
        return;
      }
      let connection: EngineConnection;
      try {
        connection = endpoint.connect(remote, { serverKey, transport }, local);
      } catch (error) {
        attemptFailed(attempt, error as Error);
        return;
      }
      const session = new Session(connection, {
        scheduleFlush: () => endpoint.scheduleFlush(),
        backend: () => endpoint.backend,
        // The winning session owns this endpoint: release the sockets once the engine lets go.
        sessionClosed: () => {
          if (!attempt.cancelled && !attempt.error && settled) {
            endpoint.unref();
            void endpoint.close(0, '', CLIENT_CLOSE_GRACE_MS);
          }
        },
      });
      attempt.connection = connection;
      attempt.session = session;
      byConnection.set(connection, session);
      if (serverKey) probeServerKey(attempt, serverKey, local);
      session.once('handshake', (remoteKey: Uint8Array) => {
        if (attempt.cancelled) {
          void session.close(0, 'another address connected first');
          return;
        }
        if (settled) return;
        if (serverKey && !sameKey(remoteKey, serverKey)) {
          closeAttempt(attempt, 'server key mismatch');
          attemptFailed(attempt, new HostKeyMismatchError(undefined, remoteKey));
          return;
        }
        // Our handshake is done, but the server's reply proves only its key, not that it accepted
        // ours: XX tells it our key in the third message, after our handshake is done, and an IK
        // refusal (a CLOSE sent right behind the reply) may be lost or arrive a turn later. The
        // session is handed out once the server has confirmed the handshake (one more round
        // trip), so a refusal rejects connect() instead of closing a session the application
        // already holds.
        if (!session.handshakeConfirmed) {
          session.once('confirmed', () => {
            if (settled || attempt.cancelled) return;
            race.attemptSucceeded(address);
            drive();
          });
          return;
        }
        race.attemptSucceeded(address);
        drive();
      });
      session.once('close', (error: BraidError | undefined) => {
        if (settled || attempt.cancelled || session.handshakeConfirmed) return;
        attemptFailed(
          attempt,
          error ?? new HandshakeError('the session closed before the handshake completed'),
        );
      });
    };

    const onAbort = (): void => {
      race.abort('aborted');
      giveUp(new AbortError('connect() was aborted', { cause: options.signal?.reason }));
    };
    const overall = setTimeout(() => {
      timedOut = true;
      race.abort(`no answer within ${timeout} ms`);
      for (const record of race.attemptRecords) {
        const attempt = attempts.get(record.address);
        if (attempt && !attempt.error) attempt.error = new ConnectTimeoutError(timeout);
      }
      drive();
    }, timeout);
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const usableLiterals = literals.filter(usable);
    if (usableLiterals.length > 0) race.addAddresses(usableLiterals, now());
    for (const family of awaiting) {
      lookup(host!, family).then(
        (addresses) => {
          if (settled) return;
          race.addAddresses(
            addresses.filter((a) => isIP(a) === family),
            now(),
            family,
          );
          drive();
        },
        (error: NodeJS.ErrnoException) => {
          if (settled) return;
          race.resolutionFailed(family, error.code ?? error.message, now());
          drive();
        },
      );
    }
    drive();
  });
}

/**
 * The local address an attempt starts from: the kernel's routing choice when we have a socket
 * there (unless a configured set gives the order: then its first of the family), else the
 * first bound address of the remote's family and scope, else any socket of the family.
 */
function chooseLocal(
  locals: readonly SocketAddress[],
  remote: SocketAddress,
  routed: string | undefined,
  configured: boolean,
): SocketAddress | undefined {
  const sameFamily = locals.filter((l) => l.family === remote.family);
  if (!configured && routed) {
    const match = sameFamily.find((l) => l.address === routed);
    if (match) return match;
  }
  const scope = addressScope(remote.address);
  return (
    sameFamily.find((l) => addressScope(l.address) === scope) ??
    sameFamily.find((l) => l.address === '::' || l.address === '0.0.0.0') ??
    (configured ? sameFamily[0] : undefined)
  );
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
