/**
 * What a path shows of itself (`PathState.info()` in path.ts): its lifecycle state and a
 * snapshot of its counters. Part of the engine's public surface, which re-exports both
 * (src/engine/types.ts); declared here, with the path, so src/paths needs nothing above it.
 */
import type { SocketAddress } from '../net/address.js';

export type PathState = 'validating' | 'active' | 'standby' | 'failed' | 'removed';

export interface PathInfo {
  id: number;
  local: SocketAddress;
  remote: SocketAddress;
  state: PathState;
  /** The peer proved it receives what we send to this pair (PATH_RESPONSE, or the handshake). */
  validated: boolean;
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
  /** packetsLost / packetsSent (0 before anything was sent). */
  lossRate: number;
}
