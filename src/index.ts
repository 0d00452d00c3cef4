/**
 * Braid: encrypted, multiplexed, multihomed sessions over UDP that outlive their addresses.
 */

export type { ConnectOptions, ConnectTarget, HostLookup } from './api/connect.js';
export { connect } from './api/connect.js';
export type { DiagnosticsChannelName } from './api/diagnostics.js';
export { channels as diagnosticsChannels } from './api/diagnostics.js';
export { generateKeyPair } from './api/engine-factory.js';
export type { ConnectAttempt } from './api/errors.js';
export {
  AbortError,
  AddressInUseError,
  BraidError,
  CloseTimeoutError,
  ConnectTimeoutError,
  DatagramTooLargeError,
  errorFromClose,
  HandshakeError,
  HostKeyMismatchError,
  HostNotFoundError,
  IdleTimeoutError,
  InvalidArgumentError,
  PeerStateLostError,
  ProtocolError,
  SessionClosedError,
  SessionExpiredError,
  SessionLimitError,
  StreamLimitError,
  StreamResetError,
  StreamWriteOverflowError,
  UnauthorizedKeyError,
} from './api/errors.js';
export type { KeyPair } from './api/options.js';
export type { ListenOptions, ServerEvents, ServerOptions } from './api/server.js';
export { BraidServer, createServer } from './api/server.js';
export type { CloseOptions, OpenStreamOptions, SessionEvents, SessionStats } from './api/session.js';
export { DEFAULT_GRACEFUL_CLOSE_TIMEOUT, Session } from './api/session.js';
export type { BraidStreamOptions } from './api/stream.js';
export { BraidStream, StreamErrorCode } from './api/stream.js';
export type { BackendInfo } from './endpoint/backend.js';
export { describeBackend, formatBackend } from './endpoint/backend.js';
export type { AddressDiscoveryOptions } from './endpoint/local-addresses.js';
export type { FaultInjector } from './endpoint/udp-endpoint.js';
export { LOW_POWER_TRANSPORT } from './engine/config.js';
export type {
  CloseInfo,
  CloseSource,
  ConnectionState,
  ConnectionStats,
  EarlyDataState,
  MultipathOptions,
  MultipathPolicy,
  PathInfo,
  PathState,
  SessionRole,
  StreamId,
  SuspendReason,
  TransportConfig,
} from './engine/types.js';
export type { SocketAddress } from './net/address.js';
export { TransportError } from './wire/errors.js';
