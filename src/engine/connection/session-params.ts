/**
 * The transport parameters of one session: ours as sent in the handshake, the peer's as
 * received, and what the peer's do to the other owners (stream limits, the handshake CID's
 * reset token, ACK delay, multipath policy, persistence timeout). Which connection IDs the
 * parameters authenticate (the original DCID, Retry's SCID) the handshake passes in.
 */
import type { Path } from '../../paths/path.js';
import { TransportError, WireError } from '../../wire/errors.js';
import {
  decodeTransportParameters,
  encodeTransportParameters,
  type TransportParameters,
} from '../../wire/transport-params.js';
import type { SessionEarlyData } from '../persistence/session-early-data.js';
import type { SessionPersistence } from '../persistence/session-persistence.js';
import { bytesEqual } from '../secrets.js';
import type { StreamMap } from '../streams/stream-map.js';
import type { SessionRole, TransportConfig } from '../types.js';
import { ACTIVE_CONNECTION_ID_LIMIT, type CidState } from './cid-state.js';
import type { Liveness } from './liveness.js';
import type { MultipathSession } from './multipath.js';
import type { PathManager } from './path-manager.js';
import type { SentInfo, SentRecord } from './sent-records.js';

/** The CIDs our parameters and the peer's authenticate (RFC 9000 §7.3). */
export interface HandshakeCids {
  readonly originalDcid: Uint8Array;
  readonly retryScid: Uint8Array | undefined;
}

/** Why the peer's parameters are refused: the session closes with this protocol error. */
export interface ParamsError {
  code: number;
  reason: string;
}

export interface SessionParamsOwners {
  role: SessionRole;
  config: TransportConfig;
  cids: CidState;
  streams: StreamMap;
  liveness: Liveness;
  paths: PathManager;
  multipath: MultipathSession<Path<SentInfo>, SentRecord>;
  persist: SessionPersistence;
  early: SessionEarlyData;
}

export class SessionParams {
  /** The peer's parameters, once its handshake message brought them. */
  peer: TransportParameters | undefined;

  constructor(private readonly o: SessionParamsOwners) {}

  /** `extra`: parameters of one message only (the IK first flight's timestamp). */
  encodeOwn(ids: HandshakeCids, extra?: Partial<TransportParameters>): Uint8Array {
    return encodeTransportParameters(extra ? { ...this.own(ids), ...extra } : this.own(ids));
  }

  private own(ids: HandshakeCids): Partial<TransportParameters> {
    const { config: c, cids, role } = this.o;
    const params: Partial<TransportParameters> = {
      idleTimeout: c.idleTimeout,
      maxUdpPayloadSize: c.maxUdpPayloadSize,
      initialMaxData: c.initialConnectionWindow,
      initialMaxStreamDataBidiLocal: c.initialStreamWindow,
      initialMaxStreamDataBidiRemote: c.initialStreamWindow,
      initialMaxStreamDataUni: c.initialStreamWindow,
      initialMaxStreamsBidi: c.maxConcurrentBidiStreams,
      initialMaxStreamsUni: c.maxConcurrentUniStreams,
      maxAckDelay: c.maxAckDelay,
      activeConnectionIdLimit: ACTIVE_CONNECTION_ID_LIMIT,
      maxDatagramFrameSize: c.maxDatagramFrameSize,
      initialSourceConnectionId: cids.first.cid,
      persistenceTimeout: c.persistenceTimeout,
    };
    Object.assign(params, this.o.multipath.ownParameters(role));
    if (role === 'server') {
      params.originalDestinationConnectionId = ids.originalDcid;
      if (ids.retryScid) params.retrySourceConnectionId = ids.retryScid;
      params.statelessResetToken = cids.first.resetToken;
      if (this.o.early.state === 'accepted') params.earlyDataAccepted = true;
      params.initialResumptionId = this.o.persist.initialIdParameter();
    } else {
      this.o.early.addClientParameters(params);
    }
    return params;
  }

  /**
   * The peer's handshake message carried `payload`, sent from `peerCid`: its parameters are
   * decoded and handed to the owners they concern. An error closes the session.
   */
  applyPeer(payload: Uint8Array, peerCid: Uint8Array): ParamsError | undefined {
    const { role, streams, paths } = this.o;
    try {
      this.peer = decodeTransportParameters(payload, role === 'client' ? 'server' : 'client');
    } catch (err) {
      const code = err instanceof WireError ? err.code : TransportError.TRANSPORT_PARAMETER_ERROR;
      return { code, reason: 'malformed transport parameters' };
    }
    const p = this.peer;
    this.o.liveness.peerIdleTimeout = p.idleTimeout ?? 0;
    if (p.initialSourceConnectionId && !bytesEqual(p.initialSourceConnectionId, peerCid)) {
      return {
        code: TransportError.TRANSPORT_PARAMETER_ERROR,
        reason: 'initial_source_connection_id mismatch',
      };
    }
    // Braid peers advertise one stream window for every stream type (TransportConfig has one);
    // the smallest of the three is the safe reading of a peer that differs.
    streams.applyPeerLimits({
      initialStreamWindow: Math.min(
        p.initialMaxStreamDataBidiLocal,
        p.initialMaxStreamDataBidiRemote,
        p.initialMaxStreamDataUni,
      ),
      initialConnectionWindow: p.initialMaxData,
      maxBidiStreams: p.initialMaxStreamsBidi,
      maxUniStreams: p.initialMaxStreamsUni,
    });
    this.o.cids.addHandshakePeerCid(peerCid, p.statelessResetToken);
    this.o.cids.peerActiveLimit = p.activeConnectionIdLimit;
    for (const path of paths.list) {
      path.setMaxAckDelay(p.maxAckDelay);
      path.pmtu.limitTo(p.maxUdpPayloadSize);
    }
    this.o.multipath.adopt(role, p);
    this.o.persist.negotiate(p.persistenceTimeout);
    if (role === 'client' && p.initialResumptionId)
      this.o.persist.onInitialIdParameter(p.initialResumptionId);
    return undefined;
  }

  /** Client: the server must echo the CIDs we used, which defeats forged Retry packets. */
  checkServer(ids: HandshakeCids): ParamsError | undefined {
    const p = this.peer!;
    const odcidOk =
      p.originalDestinationConnectionId && bytesEqual(p.originalDestinationConnectionId, ids.originalDcid);
    const retryOk = ids.retryScid
      ? p.retrySourceConnectionId !== undefined && bytesEqual(p.retrySourceConnectionId, ids.retryScid)
      : p.retrySourceConnectionId === undefined;
    if (odcidOk && retryOk) return undefined;
    return { code: TransportError.TRANSPORT_PARAMETER_ERROR, reason: 'connection ID authentication failed' };
  }
}

/**
 * Client: the long header is not covered by the Noise AEAD; the server's authenticated
 * transport parameters name its CID, and a header naming another is corrupted or forged.
 */
export function headerMatchesParams(scid: Uint8Array, payload: Uint8Array): boolean {
  try {
    const claimed = decodeTransportParameters(payload).initialSourceConnectionId;
    return claimed === undefined || bytesEqual(claimed, scid);
  } catch {
    return true; // malformed parameters are the peer's protocol error, reported by applyPeer
  }
}
