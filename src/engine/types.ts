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
import type { KeyPair } from '../crypto/noise/index.js';
import type { SocketAddress, Transmit } from '../net/address.js';
import type { PathInfo } from '../paths/path.js';

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
  | 'handshake-timeout'
  /** A suspended session outlived its persistence timeout (here or, as the peer reported, there). */
  | 'expired';

/**
 * Why a session was suspended: no authenticated packet from the peer for the failure timeout
 * (the idle timeout), or the peer said it is suspended (SUSPENDED, or a RESUME before we noticed).
 */
export type SuspendReason = 'failure-timeout' | 'peer-suspended';

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
  /** Client: the server has shown it accepted the handshake (an ACK of ours, or HANDSHAKE_DONE). */
  | { type: 'handshake-confirmed' }
  /** Opened by the peer; `early` when its first bytes came in 0-RTT data (replayable by nature). */
  | { type: 'stream-opened'; streamId: StreamId; early?: boolean }
  | { type: 'stream-readable'; streamId: StreamId }
  | { type: 'stream-writable'; streamId: StreamId } // send credit/buffer space became available
  | { type: 'stream-finished'; streamId: StreamId } // all data incl. FIN acknowledged by the peer
  | { type: 'stream-reset'; streamId: StreamId; errorCode: number } // peer reset its sending side
  | { type: 'stream-stop-sending'; streamId: StreamId; errorCode: number } // peer asked us to stop
  | { type: 'streams-available'; bidirectional: boolean } // peer raised MAX_STREAMS
  | { type: 'datagram'; data: Uint8Array }
  | { type: 'key-update'; phase: number }
  | { type: 'path-updated'; path: PathInfo }
  /** No path has worked for the failure timeout: the session is kept, waiting for one (docs/persistence.md). */
  | { type: 'suspended'; reason: SuspendReason }
  /** The session is back, on fresh keys and connection IDs; nothing was lost. */
  | { type: 'resumed' }
  /** The peer asks us to confirm once every byte below `offset` is durably stored (confirmCheckpoint). */
  | { type: 'checkpoint'; streamId: StreamId; offset: number }
  /** The peer application confirmed it durably holds every byte below `offset` we sent. */
  | { type: 'checkpoint-confirmed'; streamId: StreamId; offset: number }
  /** Client: a ticket for 0-RTT data on a later connection to this server. */
  | { type: 'ticket'; ticket: EarlyDataTicket }
  /** Client: the server accepted (or refused: it is resent at 1-RTT) the first flight's early data. */
  | { type: 'early-data'; accepted: boolean }
  /** The session moved its sending to another path; `from` and `to` are as after the move. */
  | { type: 'failover'; from: PathInfo; to: PathInfo; reason: FailoverReason }
  // A congestion event cut the path's congestion window (`path` shows the new window).
  | { type: 'congestion'; path: PathInfo; reason: 'loss' | 'persistent-congestion' }
  | { type: 'closed'; info: CloseInfo };

/**
 * Why the active path changed: it stopped answering ('unresponsive'), the peer abandoned it
 * ('abandoned'), its local address went away ('address-removed') or the peer withdrew its
 * remote address ('peer-address-removed'), the peer moved its data to another path and we
 * followed ('peer-moved'), a NAT rebound the client's address and the session follows the
 * same provider under its new 4-tuple ('migration', at both ends: not a switch of path), or a
 * path ranked above the active one is healthy again, or was a backup ('preferred').
 * docs/multihoming.md#path-states-and-events.
 */
export type FailoverReason =
  | 'unresponsive'
  | 'abandoned'
  | 'address-removed'
  | 'peer-address-removed'
  | 'peer-moved'
  | 'migration'
  | 'preferred';

/** What a client keeps to send 0-RTT data to a server later (docs/persistence.md §5). */
export interface EarlyDataTicket {
  /** The server's static key: 0-RTT needs Noise IK. */
  serverKey: Uint8Array;
  /** Opaque, sealed by the server. */
  ticket: Uint8Array;
  /** Milliseconds the ticket was valid for when it was issued. */
  lifetime: number;
  maxEarlyData: number;
  /** The server's limits when it issued the ticket: early data must fit them. */
  initialMaxData: number;
  initialStreamWindow: number;
  initialMaxStreamsBidi: number;
  initialMaxStreamsUni: number;
}

/** 0-RTT: no ticket used; or sent and awaiting the server; or taken; or refused (then resent at 1-RTT). */
export type EarlyDataState = 'none' | 'pending' | 'accepted' | 'rejected';

// The path status and its report live with the path (src/paths/path.ts); named here as API.
export type { PathInfo, PathState } from '../paths/path.js';

export interface ConnectionStats {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  packetsLost: number;
  /** Stream bytes sent again after a loss (or after leaving a path): what recovery cost. */
  streamBytesResent: number;
  /** Datagrams dropped without effect, by reason (undecryptable, duplicate, malformed, ...). */
  drops: Record<string, number>;
  keyUpdates: number;
  /** Times the session was suspended, and resumed (docs/persistence.md). */
  suspensions: number;
  resumptions: number;
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
  /**
   * Bytes an application may queue on one stream before writes report backpressure (with
   * sendBufferAutoTune, the least it may).
   */
  sendBufferSize: number;
  /**
   * Raise stream send buffers above sendBufferSize to twice the bandwidth-delay product of the
   * paths carrying data, up to the session's send share of maxSessionBuffer (Linux's tcp_wmem
   * auto-tuning). Default: on, unless sendBufferSize is given (a size set by hand is kept, as
   * SO_SNDBUF does on Linux).
   */
  sendBufferAutoTune: boolean;
  /**
   * Bytes one session buffers at most, both directions, every stream and the datagram
   * queue together (default 16 MiB): maxConnectionWindow of it for receiving (flow control
   * holds the peer to it), the rest, less 256 KiB for datagrams, for all send buffers
   * together (writes beyond it see backpressure). Must exceed maxConnectionWindow by at
   * least 320 KiB.
   */
  maxSessionBuffer: number;
  /** Largest DATAGRAM frame payload accepted; 0 disables datagrams. */
  maxDatagramFrameSize: number;
  /**
   * Largest UDP payload (bytes) we accept (the max_udp_payload_size transport parameter) and the
   * ceiling of PMTU discovery: every path starts at 1200 and is raised per path up to this and
   * the peer's limit (DPLPMTUD, docs/protocol.md §11.6). 1200 (the default) turns discovery off.
   */
  maxUdpPayloadSize: number;
  /** Initiate a key update after this many packets sent under one key phase. */
  keyUpdateInterval: number;
  /** Max ACK delay we promise the peer (ms). */
  maxAckDelay: number;
  /**
   * Ack-eliciting packets received before we acknowledge at once (reordering always
   * triggers an immediate ACK; otherwise maxAckDelay bounds the wait).
   */
  ackFrequency: number;
  /** Handshake gives up after this many ms. */
  handshakeTimeout: number;
  /**
   * Congestion controller of each path (docs/performance.md: CUBIC against BBR on the WAN
   * profiles). Under `multipath.policy: 'aggregate'` the paths use coupled LIA instead of
   * 'cubic' and 'newreno'; 'bbr' stays per path there, uncoupled (docs/multihoming.md).
   */
  congestionControl: 'cubic' | 'newreno' | 'bbr';
  /** How long (ms) a validated path stays trusted before it is revalidated. */
  pathValidationLifetime: number;
  /**
   * Client: after this many ms without sending an ack-eliciting packet or receiving one,
   * PING the active path (and re-probe standby paths), so a dead path is noticed and a
   * rebound NAT learns the new mapping while a transfer waits; 0 disables. Only while a
   * stream is open or a standby path exists, so an unused session can still idle out.
   */
  keepaliveInterval: number;
  /**
   * Client, under the 'failover' policy: how often (ms) the warm standby path is re-checked while
   * idle (one small PATH_CHALLENGE and its answer); never more often than keepaliveInterval.
   * The warm standby is checked again at once whenever the active path falls under suspicion. A
   * path the peer keeps warm is given up after 3 × max(keepaliveInterval, this), so set it
   * alike on both ends (see LOW_POWER_TRANSPORT).
   */
  standbyCheckInterval: number;
  /**
   * Local IP addresses of this endpoint that are **backups** (as MPTCP's backup flag: a metered
   * LTE link): a path over one, or over a peer address the peer marked backup (ADD_ADDRESS flag,
   * protocol.md §11.2), carries data only while no other path is validated and not failed.
   * Default none. The same under every multipath policy ('aggregate' and 'redundant' send
   * neither data nor copies on a backup path while the active path is a preferred one).
   */
  backupAddresses: readonly string[];
  /**
   * How long (ms) a path must answer every check before the session moves back to it: a
   * preferred path while a backup is active, or (no preferences) the path a failure left when
   * its RTT is clearly lower than the active path's (docs/multihoming.md, "Preference and
   * move-back"). A preferred path never failed before is taken at once.
   */
  moveBackDelay: number;
  /**
   * How long (ms) a suspended session is kept before it closes as `expired`, on each side
   * (docs/persistence.md). The smaller of both peers' values applies; 0 on either side turns
   * suspension off: the session then closes at the idle timeout as before.
   */
  persistenceTimeout: number;
  /**
   * Longest interval (ms) between a suspended client's resumption attempts (they start at
   * once and back off from 250 ms); a suspended server probes the client's addresses every
   * 4 × this.
   */
  resumeInterval: number;
  /** How the session uses several paths (see MultipathOptions; docs/multihoming.md). */
  multipath: MultipathOptions;
}

/**
 * - `failover` (default): one path carries the traffic, the others are validated and kept warm.
 * - `aggregate`: every usable path carries data at once, lowest RTT with room first, under
 *   coupled congestion control (LIA, RFC 6356).
 * - `redundant`: traffic as in failover, but small messages (datagrams and stream frames of
 *   at most `redundantMaxBytes`) also go on a second path; duplicates are dropped.
 * The client chooses; the server follows (transport parameters 0x48/0x49, protocol.md §11.5).
 */
export type MultipathPolicy = 'failover' | 'aggregate' | 'redundant';

export interface MultipathOptions {
  /** Default 'failover'. */
  policy?: MultipathPolicy;
  /**
   * Lazy backup paths (shim6's idea): open no path beyond the first until the session has
   * lasted `afterMs` or moved `afterBytes` (UDP payload bytes, both directions), whichever
   * comes first. A path in trouble (a probe timeout) opens one at once. Client side.
   */
  lazy?: { afterMs?: number; afterBytes?: number };
  /** `redundant`: largest datagram or stream frame (bytes of data) sent on two paths (default 1024). */
  redundantMaxBytes?: number;
}

export type ConnectionState = 'handshaking' | 'established' | 'closing' | 'draining' | 'closed';

/** What the Node shell and the simulator need from one session's state machine. */
export interface EngineConnection {
  readonly role: SessionRole;
  /** Unique per endpoint; stable for the connection's life. */
  readonly handle: number;
  readonly state: ConnectionState;
  /** The peer's static public key (available after 'handshake-complete'). */
  readonly remoteKey: Uint8Array | undefined;
  /** Exported value bound to this handshake, for application-level authentication. */
  channelBinding(): Uint8Array;
  readonly stats: ConnectionStats;
  readonly paths: PathInfo[];
  /** The multipath policy both ends agreed on in the handshake ('failover' until then). */
  readonly multipathPolicy: MultipathPolicy;

  pollEvent(): ConnectionEvent | undefined;

  /** Returns undefined when the peer's stream limit is reached (wait for 'streams-available'). */
  openStream(bidirectional: boolean): StreamId | undefined;
  /**
   * Queues bytes; returns how many were accepted (fewer than data.length when the
   * stream's send buffer is full: wait for 'stream-writable'). The engine keeps a
   * reference to `data` until acknowledged: callers must not mutate it.
   */
  writeStream(id: StreamId, data: Uint8Array): number;
  /** Marks the end of the sending side (FIN). */
  finishStream(id: StreamId): void;
  /**
   * Reads up to maxBytes in order. `data` is undefined when nothing is readable now;
   * `fin` is true once every byte up to the peer's FIN has been returned.
   */
  readStream(id: StreamId, maxBytes?: number): { data: Uint8Array | undefined; fin: boolean };
  resetStream(id: StreamId, errorCode: number): void;
  stopSending(id: StreamId, errorCode: number): void;
  /** false if datagrams are unsupported by the peer, too large, or the queue is full. */
  sendDatagram(data: Uint8Array): boolean;
  readonly maxDatagramSize: number;
  close(errorCode: number, reason: string): void;

  // --- persistence (docs/persistence.md) ---
  /** No path has worked for the failure timeout; the session waits for one ('suspended' / 'resumed'). */
  readonly suspended: boolean;
  /** 0-RTT state of this session's first flight. */
  readonly earlyData: EarlyDataState;
  /** Client: more addresses the server may be at (e.g. resolved again), tried while suspended. */
  addResumeTargets(addresses: readonly SocketAddress[]): void;
  /**
   * Asks the peer application to confirm once it durably holds every byte written to the
   * stream so far; returns that offset ('checkpoint-confirmed' follows), or undefined.
   */
  requestCheckpoint(id: StreamId): number | undefined;
  /** We durably hold every byte below `offset` (already read): tells the peer. false if invalid. */
  confirmCheckpoint(id: StreamId, offset: number): boolean;
}

export interface EndpointStats {
  /** Datagrams dropped before reaching a session, by reason. */
  drops: Record<string, number>;
  datagramsReceived: number;
  datagramsSent: number;
  /** Server: RETRY packets sent (address validation before any DH). */
  retriesSent?: number;
  /** Stateless resets sent (rate-limited; the rest are counted as drops 'stateless-reset-limited'). */
  statelessResetsSent?: number;
  /** Server: Version Negotiation packets sent (rate-limited; the rest are drops 'version-negotiation-limited'). */
  versionNegotiationsSent?: number;
}

export type EndpointEvent =
  /** A server accepted a new session (the handshake may still be completing). */
  | { type: 'incoming'; connection: EngineConnection }
  /** A connection reached 'closed' and its state has been released. */
  | { type: 'connection-closed'; connection: EngineConnection };

/** The sans-I/O endpoint: routes datagrams to sessions by connection ID. */
export interface EngineEndpoint {
  /**
   * One datagram in. The engine may modify `data` in place (header protection is removed
   * there) and keeps no view of a short-header datagram after the call, so the shell may
   * reuse its receive buffer; long-header (handshake) datagrams must stay untouched.
   */
  receive(data: Uint8Array, local: SocketAddress, remote: SocketAddress, now: number): void;
  /**
   * The next datagram to send, or undefined. With `buffer` (at least maxUdpPayloadSize
   * bytes), a session builds its packet directly in it and `data` is a view of its start,
   * valid until the caller reuses the buffer; datagrams prepared earlier (handshake
   * flights, stateless replies) still come in their own buffers. The shell uses this to
   * lay consecutive packets back to back in one arena for a batched (GSO) send.
   */
  pollTransmit(now: number, buffer?: Uint8Array): Transmit | undefined;
  nextDeadline(): number | undefined;
  onTimeout(now: number): void;
  pollEndpointEvent(): EndpointEvent | undefined;
  /** Starts a client session. `serverKey` pins the server (Noise IK); without it, XX (trust on first use). */
  connect(
    remote: SocketAddress,
    local: SocketAddress,
    /**
     * `earlyData`: a ticket from an earlier session; streams may then be written before the
     * handshake (0-RTT). `staticKey`: this session's own key instead of the endpoint's.
     */
    options: {
      serverKey?: Uint8Array;
      transport?: Partial<TransportConfig>;
      earlyData?: EarlyDataTicket;
      staticKey?: KeyPair;
    },
    now: number,
  ): EngineConnection;
  readonly stats: EndpointStats;
  /** Connections that have pending events or state changes since the last call (to avoid scanning all). */
  drainDirty(): EngineConnection[];
  /** The host's usable local addresses (optional: an injected engine may not track them). */
  setLocalAddresses?(addresses: readonly SocketAddress[], now: number): void;
  /**
   * The host's links or routes changed (a link came up, an address or route was added): sessions
   * waiting for a path try at once, rate-limited per session (optional, as above).
   */
  networkChanged?(now: number): void;
  /** The kernel refused datagrams before they left the host (optional, as above). */
  onSendRefused?(local: SocketAddress, remote: SocketAddress, datagrams: number, now: number): void;
  /**
   * Server: refuse every new session from now on (SESSION_LIMIT "server shutting down"), while
   * the sessions already open finish closing (optional, as above).
   */
  stopAccepting?(): void;
}
