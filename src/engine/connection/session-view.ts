/**
 * What the session's owners read of its handshake and lifecycle. The connection keeps one
 * view (getters over its own state) and hands the same object to every owner that needs
 * these facts, instead of a callback or getter per fact in each owner's host interface.
 */
import type { TransportParameters } from '../../wire/transport-params.js';

export interface SessionView {
  /** The handshake is confirmed: CIDs for further path ids exist, addresses may be advertised. */
  readonly handshakeConfirmed: boolean;
  /** The session is established (not handshaking, closing or closed). */
  readonly established: boolean;
  /** The peer's transport parameters, once its handshake message brought them. */
  readonly peerParams: TransportParameters | undefined;
  /** The peer's static key, once the handshake is complete. */
  readonly remoteKey: Uint8Array | undefined;
}
