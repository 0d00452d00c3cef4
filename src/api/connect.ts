import { lookup } from 'node:dns/promises';
import { isIP, isIPv6 } from 'node:net';
import { type FaultInjector, UdpEndpoint } from '../endpoint/udp-endpoint.js';
import type { EarlyDataTicket, EngineConnection, TransportConfig } from '../engine/types.js';
import { type SocketAddress, socketAddress } from '../net/address.js';
import { createEngine, generateKeyPair } from './engine-factory.js';
import {
  type BraidError,
  ConnectTimeoutError,
  HandshakeError,
  HostKeyMismatchError,
  InvalidArgumentError,
} from './errors.js';
import {
  checkIP,
  checkKeyPair,
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

export type ConnectTarget = string | { host: string; port: number };

export interface ConnectOptions {
  /** Our identity. Default: a fresh key pair per connection. */
  staticKey?: KeyPair;
  /** Pins the server's static key (Noise IK). Without it the server's key is learned (XX). */
  serverKey?: Uint8Array;
  /** Local IP to bind (default: the wildcard address of the target's family). */
  localAddress?: string;
  /**
   * Several local IPs (multihoming): one socket each, all on one port; the session starts
   * from the first and keeps a warm standby path over another. Overrides `localAddress`.
   * Every address must be of the target's family.
   */
  localAddresses?: string[];
  /** Local port (default 0: any). */
  localPort?: number;
  /** Milliseconds until connect() rejects with ConnectTimeoutError. Default 10 000. */
  timeout?: number;
  transport?: Partial<TransportConfig>;
  socketBufferSize?: number;
  /** Aborting rejects with the signal's reason and tears the attempt down. */
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
   * accept to be replayed. Default false.
   */
  earlyData?: boolean;
}

const DEFAULT_CONNECT_TIMEOUT = 10_000;
/** After the session closed, how long the draining period may hold the socket. */
const CLIENT_CLOSE_GRACE_MS = 1000;

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
  if (options.faultInjector !== undefined && typeof options.faultInjector !== 'function') {
    throw new InvalidArgumentError('faultInjector', 'must be a function');
  }
  if (options.localPort !== undefined) checkPort('localPort', options.localPort, true);
  if (options.timeout !== undefined) checkTimeout('timeout', options.timeout);
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
    lookup(host, { all: true })
      .then((found) => connection.addResumeTargets(found.map((a) => socketAddress(a.address, port))))
      .catch(() => undefined); // no answer: the known addresses are still tried
  });
}

async function resolveRemote(host: string, port: number): Promise<SocketAddress> {
  if (isIP(host) !== 0) return socketAddress(host, port);
  const { address } = await lookup(host);
  return socketAddress(address, port);
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * Opens a session to `target` ('host:port', '[v6]:port' or { host, port }).
 * Resolves once the handshake completes; rejects with InvalidArgumentError,
 * ConnectTimeoutError, UnauthorizedKeyError, HostKeyMismatchError, HandshakeError
 * or a SessionClosedError.
 */
export async function connect(target: ConnectTarget, options: ConnectOptions = {}): Promise<Session> {
  const { host, port } = parseTarget(target);
  validate(options);
  const { ticket, serverKey } = ticketFor(options);
  const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT;
  options.signal?.throwIfAborted();
  const remote = await resolveRemote(host, port);
  const localHosts = options.localAddresses ?? [
    options.localAddress ?? (remote.family === 'IPv6' ? '::' : '0.0.0.0'),
  ];
  for (const [i, localHost] of localHosts.entries()) {
    if (isIPv6(localHost) !== (remote.family === 'IPv6')) {
      throw new InvalidArgumentError(
        options.localAddresses ? `localAddresses[${i}]` : 'localAddress',
        `must be an ${remote.family} address to reach ${remote.address}`,
      );
    }
  }
  const engine = createEngine({
    staticKey: options.staticKey ?? generateKeyPair(),
    transport: options.transport,
  });
  let session: Session | undefined;
  const endpoint = await UdpEndpoint.bind(
    engine,
    localHosts.map((host) => ({ host, port: options.localPort ?? 0 })),
    { onConnectionEvent: (_connection, event) => session?.handleEvent(event) },
    { socketBufferSize: options.socketBufferSize, faultInjector: options.faultInjector },
  );
  let connection: ReturnType<UdpEndpoint['connect']>;
  try {
    connection = endpoint.connect(remote, { serverKey, transport: options.transport, earlyData: ticket });
  } catch (error) {
    endpoint.destroy();
    throw error;
  }
  const created = new Session(connection, {
    scheduleFlush: () => endpoint.scheduleFlush(),
    // The session owns this endpoint: release the socket once the engine lets go (or the grace ends).
    sessionClosed: () => {
      endpoint.unref();
      void endpoint.close(0, '', CLIENT_CLOSE_GRACE_MS);
    },
  });
  session = created;
  reresolveWhileSuspended(created, connection, host, port);
  // 0-RTT: usable now; the first datagram leaves on the next tick with what is written by then.
  if (ticket) return created;

  return new Promise<Session>((resolve, reject) => {
    const settle = (error: Error | undefined): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      created.off('handshake', onHandshake);
      created.off('close', onClose);
      if (error) reject(error);
      else resolve(created);
    };
    const abandon = (error: BraidError | Error): void => {
      settle(error);
      connection.close(0, 'connect abandoned');
      created.finish(undefined);
      endpoint.destroy();
    };
    const onHandshake = (remoteKey: Uint8Array): void => {
      if (serverKey && !sameKey(remoteKey, serverKey)) {
        abandon(new HostKeyMismatchError());
        return;
      }
      settle(undefined);
    };
    const onClose = (error: BraidError | undefined): void => {
      settle(error ?? new HandshakeError('the session closed before the handshake completed'));
    };
    const onAbort = (): void => abandon(options.signal?.reason ?? new Error('aborted'));
    const timer = setTimeout(() => abandon(new ConnectTimeoutError(timeout)), timeout);
    created.on('handshake', onHandshake);
    created.on('close', onClose);
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
