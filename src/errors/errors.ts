import type { CloseInfo, CloseSource, StreamId } from '../engine/types.js';
import { TransportError, transportErrorName } from '../wire/errors.js';

/**
 * Base class of every error the public API raises. `code` is stable across
 * releases (branch on it, never on `message`), in the style of undici's UND_ERR_*.
 */
export class BraidError extends Error {
  readonly code: string;
  /**
   * Set on every error connect() rejects with once it tried at least one address: each
   * address tried (`192.0.2.1:4433`, `[2001:db8::1]:4433`) with its own failure, in the
   * order the attempts started.
   */
  attempts?: ConnectAttempt[];
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One address connect() tried and why that attempt failed. */
export interface ConnectAttempt {
  address: string;
  error: string;
}

/** The target's host name resolved to no address (every family's lookup failed or was empty). */
export class HostNotFoundError extends BraidError {
  readonly host: string;
  constructor(host: string, detail: string) {
    super(`cannot resolve ${host}${detail ? ` (${detail})` : ''}`, 'BRAID_ERR_HOST_NOT_FOUND');
    this.host = host;
  }
}

export class ConnectTimeoutError extends BraidError {
  readonly timeout: number | undefined;
  constructor(timeout?: number) {
    super(
      timeout === undefined ? 'connect timed out' : `connect timed out after ${timeout} ms`,
      'BRAID_ERR_CONNECT_TIMEOUT',
    );
    this.timeout = timeout;
  }
}

export class HandshakeError extends BraidError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'BRAID_ERR_HANDSHAKE', options);
  }
}

/** The server refused our static key (or, on a server, a client presented a key not in authorizedKeys). */
export class UnauthorizedKeyError extends BraidError {
  constructor(message = 'the server does not accept this static key') {
    super(message, 'BRAID_ERR_UNAUTHORIZED_KEY');
  }
}

/**
 * The server refused the session at one of its limits: sessions in total (`maxSessions`), per
 * client key (`maxSessionsPerKey`) or its memory budget. `reason` says which; try again later.
 */
export class SessionLimitError extends BraidError {
  readonly reason: string;
  constructor(reason = 'the server is at its session limit') {
    super(`the server refused the session: ${reason}`, 'BRAID_ERR_SESSION_LIMIT');
    this.reason = reason;
  }
}

/** The server proved a static key other than the pinned `serverKey`. */
export class HostKeyMismatchError extends BraidError {
  /** The key the server proved it holds, when it answered a handshake that shows it. */
  readonly presentedKey: Uint8Array | undefined;
  constructor(message = 'the server key does not match the pinned serverKey', presentedKey?: Uint8Array) {
    super(message, 'BRAID_ERR_HOST_KEY_MISMATCH');
    this.presentedKey = presentedKey;
  }
}

/** The session was closed with an error code (by the peer, by us, or by a stateless reset). */
export class SessionClosedError extends BraidError {
  readonly source: CloseSource;
  /** Set when the close carried a transport error code. */
  readonly transportCode: number | undefined;
  /** Set when the close carried an application error code. */
  readonly applicationCode: number | undefined;
  readonly reason: string;
  constructor(info: CloseInfo, message?: string, code = 'BRAID_ERR_SESSION_CLOSED') {
    super(message ?? describeClose(info), code);
    this.source = info.source;
    this.transportCode = info.application ? undefined : info.code;
    this.applicationCode = info.application ? info.code : undefined;
    this.reason = info.reason;
  }
}

/**
 * The peer no longer holds this session (it restarted, or closed it while we were away): a
 * stateless reset, or the refusal of our resumption. Fails fast; reconnect to start anew.
 */
export class PeerStateLostError extends SessionClosedError {
  constructor(info: CloseInfo) {
    super(info, 'the peer no longer holds this session (peer-state-lost)', 'BRAID_ERR_PEER_STATE_LOST');
  }
}

/** The session stayed suspended (no working path) longer than its persistence timeout (expired). */
export class SessionExpiredError extends SessionClosedError {
  constructor(info: CloseInfo) {
    super(
      info,
      'the session was suspended longer than its persistence timeout (expired)',
      'BRAID_ERR_SESSION_EXPIRED',
    );
  }
}

/**
 * An operation was given up because its AbortSignal fired (connect's `signal`). Named and coded
 * as Node's own abort errors (name 'AbortError', code 'ABORT_ERR'); `cause` is the signal's reason.
 */
export class AbortError extends BraidError {
  constructor(message = 'the operation was aborted', options?: { cause?: unknown }) {
    super(message, 'ABORT_ERR', options);
  }
}

/** A graceful close() waited its timeout for the peer to acknowledge ended streams, then closed anyway. */
export class CloseTimeoutError extends BraidError {
  readonly timeout: number;
  constructor(timeout: number) {
    super(
      `the peer did not acknowledge every ended stream within ${timeout} ms; the session was closed anyway`,
      'BRAID_ERR_CLOSE_TIMEOUT',
    );
    this.timeout = timeout;
  }
}

export class IdleTimeoutError extends BraidError {
  constructor() {
    super('session closed after the idle timeout', 'BRAID_ERR_IDLE_TIMEOUT');
  }
}

/** The peer reset its sending side of a stream, or asked us to stop sending. */
export class StreamResetError extends BraidError {
  readonly errorCode: number;
  readonly streamId: StreamId | undefined;
  constructor(errorCode: number, streamId?: StreamId, message?: string) {
    super(
      message ?? `stream ${streamId ?? '?'} was reset by the peer with code ${errorCode}`,
      'BRAID_ERR_STREAM_RESET',
    );
    this.errorCode = errorCode;
    this.streamId = streamId;
  }
}

/**
 * The application kept writing to a stream after write() returned false, until the stream's
 * buffer held `limit` bytes (16 × its highWaterMark): the stream is destroyed (reset towards
 * the peer) rather than buffering without bound. Wait for 'drain' when write() returns false.
 */
export class StreamWriteOverflowError extends BraidError {
  readonly streamId: StreamId;
  readonly buffered: number;
  readonly limit: number;
  constructor(streamId: StreamId, buffered: number, limit: number) {
    super(
      `stream ${streamId}: ${buffered} bytes buffered, the limit is ${limit}; wait for 'drain' when write() returns false`,
      'BRAID_ERR_STREAM_WRITE_OVERFLOW',
    );
    this.streamId = streamId;
    this.buffered = buffered;
    this.limit = limit;
  }
}

export class StreamLimitError extends BraidError {
  constructor(message = 'the peer stream limit is reached') {
    super(message, 'BRAID_ERR_STREAM_LIMIT');
  }
}

export class ProtocolError extends BraidError {
  readonly transportCode: number;
  constructor(transportCode: number, reason = '') {
    super(
      `protocol error ${transportErrorName(transportCode)}${reason ? `: ${reason}` : ''}`,
      'BRAID_ERR_PROTOCOL',
    );
    this.transportCode = transportCode;
  }
}

export class InvalidArgumentError extends BraidError {
  /** The option or argument at fault, e.g. `timeout` or `transport.idleTimeout`. */
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`, 'BRAID_ERR_INVALID_ARG');
    this.argument = argument;
  }
}

export class AddressInUseError extends BraidError {
  readonly address: string;
  readonly port: number;
  constructor(address: string, port: number, options?: { cause?: unknown }) {
    super(`address in use: ${address}:${port}`, 'BRAID_ERR_ADDRESS_IN_USE', options);
    this.address = address;
    this.port = port;
  }
}

export class DatagramTooLargeError extends BraidError {
  readonly size: number;
  readonly maxSize: number;
  constructor(size: number, maxSize: number) {
    super(
      maxSize === 0
        ? 'the peer does not accept datagrams'
        : `datagram of ${size} bytes exceeds the maximum of ${maxSize}`,
      'BRAID_ERR_DATAGRAM_TOO_LARGE',
    );
    this.size = size;
    this.maxSize = maxSize;
  }
}

function describeClose(info: CloseInfo): string {
  const code = info.application ? `application code ${info.code}` : transportErrorName(info.code);
  return `session closed (${info.source}, ${code})${info.reason ? `: ${info.reason}` : ''}`;
}

/**
 * Maps the engine's close record to the error the API reports, or undefined for a
 * clean close (code 0 from either side, no error).
 */
export function errorFromClose(info: CloseInfo): BraidError | undefined {
  switch (info.source) {
    case 'idle-timeout':
      return new IdleTimeoutError();
    case 'handshake-timeout':
      return new ConnectTimeoutError();
    case 'stateless-reset':
      return new PeerStateLostError(info);
    case 'expired':
      return new SessionExpiredError(info);
    default:
      break;
  }
  if (!info.application && info.code === TransportError.PEER_STATE_LOST) return new PeerStateLostError(info);
  if (!info.application && info.code === TransportError.EXPIRED) return new SessionExpiredError(info);
  if (!info.application && info.code === TransportError.UNAUTHORIZED_KEY) {
    return new UnauthorizedKeyError(info.reason || undefined);
  }
  if (!info.application && info.code === TransportError.SESSION_LIMIT) {
    return new SessionLimitError(info.reason || undefined);
  }
  if (info.code === 0) return undefined;
  if (info.source === 'protocol' && !info.application) return new ProtocolError(info.code, info.reason);
  return new SessionClosedError(info);
}
