/**
 * The sans-I/O engine's public surface. No sockets, timers or clocks live behind it:
 * the caller feeds datagrams, API calls and `now` (milliseconds, monotonic, any origin)
 * and pulls datagrams, deadlines and events.
 *
 * Pull loop, after any input:
 *   while ((t = endpoint.pollTransmit(now))) send(t)
 *   while ((e = conn.pollEvent())) handle(e)
 *   arm a timer for endpoint.nextDeadline(); when it fires call endpoint.onTimeout(now)
 */
import type { SocketAddress, Transmit } from '../net/address.js';

export type { SocketAddress, Transmit };

/** Stream IDs follow QUIC: bit 0 = initiator (0 client, 1 server), bit 1 = unidirectional. */
export type StreamId = number;

export type SessionRole = 'client' | 'server';

export type CloseSource =
  | 'local'
  | 'peer'
  | 'idle-timeout'
  | 'protocol'
  | 'stateless-reset'
  | 'handshake-timeout';

export interface CloseInfo {
  source: CloseSource;
  /** Transport or application error code. */
  code: number;
  /** true when `code` is an application code (APPLICATION_CLOSE). */
  application: boolean;
  reason: string;
}

export type ConnectionEvent =
  | { type: 'handshake-complete'; remoteKey: Uint8Array }
  | { type: 'stream-opened'; streamId: StreamId } // opened by the peer
  | { type: 'stream-readable'; streamId: StreamId }
  | { type: 'stream-writable'; streamId: StreamId } // send credit/buffer space became available
  | { type: 'stream-finished'; streamId: StreamId } // all data incl. FIN acknowledged by the peer
  | { type: 'stream-reset'; streamId: StreamId; errorCode: number } // peer reset its sending side
  | { type: 'stream-stop-sending'; streamId: StreamId; errorCode: number } // peer asked us to stop
  | { type: 'streams-available'; bidirectional: boolean } // peer raised MAX_STREAMS
  | { type: 'datagram'; data: Uint8Array }
  | { type: 'key-update'; phase: number }
  | { type: 'path-updated'; path: PathInfo }
  | { type: 'closed'; info: CloseInfo };

export type PathState = 'validating' | 'active' | 'standby' | 'failed' | 'removed';

export interface PathInfo {
  id: number;
  local: SocketAddress;
  remote: SocketAddress;
  state: PathState;
  /** Smoothed RTT in ms (undefined before the first sample). */
  srtt: number | undefined;
  rttvar: number | undefined;
  minRtt: number | undefined;
  congestionWindow: number;
  bytesInFlight: number;
  bytesSent: number;
  bytesReceived: number;
  packetsSent: number;
  packetsLost: number;
}

export interface ConnectionStats {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  packetsLost: number;
  /** Datagrams dropped without effect, by reason (undecryptable, duplicate, malformed, ...). */
  drops: Record<string, number>;
  keyUpdates: number;
}

/** Limits and timers; every field has a default in ./config.ts. */
export interface TransportConfig {
  /** Idle timeout in ms (the smaller of both peers' values wins). */
  idleTimeout: number;
  /** Initial per-stream receive window (bytes); grows automatically up to maxStreamWindow. */
  initialStreamWindow: number;
  maxStreamWindow: number;
  /** Initial connection-level receive window (bytes); grows up to maxConnectionWindow. */
  initialConnectionWindow: number;
  maxConnectionWindow: number;
  /** Concurrent streams the peer may open. */
  maxConcurrentBidiStreams: number;
  maxConcurrentUniStreams: number;
  /** Bytes an application may queue on one stream before writes report backpressure. */
  sendBufferSize: number;
  /** Largest DATAGRAM frame payload accepted; 0 disables datagrams. */
  maxDatagramFrameSize: number;
  /** UDP payload size we send (bytes). */
  maxUdpPayloadSize: number;
  /** Initiate a key update after this many packets sent under one key phase. */
  keyUpdateInterval: number;
  /** Max ACK delay we promise the peer (ms). */
  maxAckDelay: number;
  /** Handshake gives up after this many ms. */
  handshakeTimeout: number;
  /** Congestion controller. */
  congestionControl: 'cubic' | 'newreno';
}
