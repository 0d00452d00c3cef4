/**
 * Transport parameters (docs/protocol.md §Transport parameters): carried encrypted in
 * the Noise handshake payloads as a sequence of (id varint, length varint, value).
 * Ids match RFC 9000 §18.2 where the meaning matches; Braid drops ack_delay_exponent
 * (ACK delays are plain microseconds) and the QUIC preferred_address.
 */
import { TransportError, WireError } from './errors.js';
import { MAX_CID_LENGTH, STATELESS_RESET_TOKEN_LENGTH } from './packet.js';
import { MAX_VARINT, Reader, varintLength, Writer } from './varint.js';

export const TransportParameterId = {
  ORIGINAL_DESTINATION_CONNECTION_ID: 0x00,
  IDLE_TIMEOUT: 0x01,
  STATELESS_RESET_TOKEN: 0x02,
  MAX_UDP_PAYLOAD_SIZE: 0x03,
  INITIAL_MAX_DATA: 0x04,
  INITIAL_MAX_STREAM_DATA_BIDI_LOCAL: 0x05,
  INITIAL_MAX_STREAM_DATA_BIDI_REMOTE: 0x06,
  INITIAL_MAX_STREAM_DATA_UNI: 0x07,
  INITIAL_MAX_STREAMS_BIDI: 0x08,
  INITIAL_MAX_STREAMS_UNI: 0x09,
  MAX_ACK_DELAY: 0x0b,
  DISABLE_ACTIVE_MIGRATION: 0x0c,
  ACTIVE_CONNECTION_ID_LIMIT: 0x0e,
  INITIAL_SOURCE_CONNECTION_ID: 0x0f,
  RETRY_SOURCE_CONNECTION_ID: 0x10,
  MAX_DATAGRAM_FRAME_SIZE: 0x20,
  MULTIPATH_POLICY: 0x48,
  MULTIPATH_POLICIES: 0x49,
  /** 0x50..0x5f: persistence (docs/protocol.md §15). */
  PERSISTENCE_TIMEOUT: 0x50,
  EARLY_DATA_TICKET: 0x51,
  EARLY_DATA: 0x52,
  EARLY_DATA_ACCEPTED: 0x53,
  INITIAL_RESUMPTION_ID: 0x54,
  /** Client only, IK message 0: TAI64N freshness timestamp (docs/protocol.md §7.2.1). */
  INITIAL_TIMESTAMP: 0x55,
} as const;

/** multipath_policy values (0x48) and their bits in multipath_policies (0x49): 1 << value. */
export const MultipathPolicyCode = { failover: 0, aggregate: 1, redundant: 2 } as const;

export interface TransportParameters {
  /** Milliseconds; 0 = this side imposes no idle timeout. */
  idleTimeout: number;
  /** Largest UDP payload this side is willing to receive (1200..65527). */
  maxUdpPayloadSize: number;
  initialMaxData: number;
  /** Limit for bidirectional streams opened by the sender of these parameters. */
  initialMaxStreamDataBidiLocal: number;
  /** Limit for bidirectional streams opened by the receiver of these parameters. */
  initialMaxStreamDataBidiRemote: number;
  initialMaxStreamDataUni: number;
  initialMaxStreamsBidi: number;
  initialMaxStreamsUni: number;
  /** Milliseconds (< 2^14). */
  maxAckDelay: number;
  /** ≥ 2. */
  activeConnectionIdLimit: number;
  /** 0 = DATAGRAM frames not accepted. */
  maxDatagramFrameSize: number;
  disableActiveMigration: boolean;
  /** Client only: the multipath policy it asks for (MultipathPolicyCode; unknown values mean failover). */
  multipathPolicy: number;
  /** Server only: bit 1 << code set for every policy it runs when asked (bit 0, failover, always). */
  multipathPolicies: number;
  /**
   * Milliseconds a suspended session is kept (docs/persistence.md); 0 = this side does not
   * suspend sessions. Effective value: the smaller of the two when both are non-zero, else 0.
   */
  persistenceTimeout: number;
  /** Server only: the early data of the client's first flight was accepted and delivered. */
  earlyDataAccepted: boolean;
  /** Client only (IK message 0): a ticket from NEW_TICKET authorizing early data. */
  earlyDataTicket?: Uint8Array;
  /** Client only (IK message 0): early data, a sequence of STREAM frames. */
  earlyData?: Uint8Array;
  /**
   * Server only: the first resumption identifier (sequence 0) with its two refusal tokens,
   * id (16) || lost token (16) || expired token (16), so the client holds one as soon as the
   * handshake completes.
   */
  initialResumptionId?: Uint8Array;
  /** Client only (IK message 0): TAI64N, newer than any earlier first flight of its key. */
  initialTimestamp?: Uint8Array;
  /** Server only: the DCID of the client's first INITIAL. */
  originalDestinationConnectionId?: Uint8Array;
  /** The SCID the sender put in its first long-header packet. */
  initialSourceConnectionId?: Uint8Array;
  /** Server only, after a Retry: the SCID of that Retry. */
  retrySourceConnectionId?: Uint8Array;
  /** Server only: the stateless reset token of the server's handshake CID (sequence 0). */
  statelessResetToken?: Uint8Array;
}

type IntegerKey = {
  [K in keyof TransportParameters]-?: TransportParameters[K] extends number ? K : never;
}[keyof TransportParameters];
type BytesKey =
  | 'originalDestinationConnectionId'
  | 'initialSourceConnectionId'
  | 'retrySourceConnectionId'
  | 'statelessResetToken'
  | 'earlyDataTicket'
  | 'earlyData'
  | 'initialResumptionId'
  | 'initialTimestamp';
type FlagKey = 'disableActiveMigration' | 'earlyDataAccepted';

export const DEFAULT_TRANSPORT_PARAMETERS: Readonly<TransportParameters> = Object.freeze({
  idleTimeout: 0,
  maxUdpPayloadSize: 65527,
  initialMaxData: 0,
  initialMaxStreamDataBidiLocal: 0,
  initialMaxStreamDataBidiRemote: 0,
  initialMaxStreamDataUni: 0,
  initialMaxStreamsBidi: 0,
  initialMaxStreamsUni: 0,
  maxAckDelay: 25,
  activeConnectionIdLimit: 2,
  maxDatagramFrameSize: 0,
  disableActiveMigration: false,
  multipathPolicy: 0,
  multipathPolicies: 1,
  persistenceTimeout: 0,
  earlyDataAccepted: false,
});

interface IntegerParam {
  kind: 'integer';
  id: number;
  key: IntegerKey;
  min: number;
  max: number;
  /** Only the server / only the client may send it. */
  serverOnly?: boolean;
  clientOnly?: boolean;
}
interface BytesParam {
  kind: 'bytes';
  id: number;
  key: BytesKey;
  minLength: number;
  maxLength: number;
  serverOnly: boolean;
  clientOnly?: boolean;
}
interface FlagParam {
  kind: 'flag';
  id: number;
  key: FlagKey;
  serverOnly?: boolean;
  clientOnly?: boolean;
}
type ParamSpec = IntegerParam | BytesParam | FlagParam;

const ID = TransportParameterId;
const integer = (id: number, key: IntegerKey, min = 0, max = MAX_VARINT): IntegerParam => ({
  kind: 'integer',
  id,
  key,
  min,
  max,
});
const bytes = (
  id: number,
  key: BytesKey,
  minLength: number,
  maxLength: number,
  serverOnly: boolean,
): BytesParam => ({
  kind: 'bytes',
  id,
  key,
  minLength,
  maxLength,
  serverOnly,
});

const PARAMS: readonly ParamSpec[] = [
  bytes(ID.ORIGINAL_DESTINATION_CONNECTION_ID, 'originalDestinationConnectionId', 0, MAX_CID_LENGTH, true),
  integer(ID.IDLE_TIMEOUT, 'idleTimeout'),
  bytes(
    ID.STATELESS_RESET_TOKEN,
    'statelessResetToken',
    STATELESS_RESET_TOKEN_LENGTH,
    STATELESS_RESET_TOKEN_LENGTH,
    true,
  ),
  integer(ID.MAX_UDP_PAYLOAD_SIZE, 'maxUdpPayloadSize', 1200, 65527),
  integer(ID.INITIAL_MAX_DATA, 'initialMaxData'),
  integer(ID.INITIAL_MAX_STREAM_DATA_BIDI_LOCAL, 'initialMaxStreamDataBidiLocal'),
  integer(ID.INITIAL_MAX_STREAM_DATA_BIDI_REMOTE, 'initialMaxStreamDataBidiRemote'),
  integer(ID.INITIAL_MAX_STREAM_DATA_UNI, 'initialMaxStreamDataUni'),
  // Stream IDs are < 2^53, so no more than 2^51 streams of one type can exist.
  integer(ID.INITIAL_MAX_STREAMS_BIDI, 'initialMaxStreamsBidi', 0, 2 ** 51),
  integer(ID.INITIAL_MAX_STREAMS_UNI, 'initialMaxStreamsUni', 0, 2 ** 51),
  integer(ID.MAX_ACK_DELAY, 'maxAckDelay', 0, 2 ** 14 - 1),
  { kind: 'flag', id: ID.DISABLE_ACTIVE_MIGRATION, key: 'disableActiveMigration' },
  integer(ID.ACTIVE_CONNECTION_ID_LIMIT, 'activeConnectionIdLimit', 2),
  bytes(ID.INITIAL_SOURCE_CONNECTION_ID, 'initialSourceConnectionId', 0, MAX_CID_LENGTH, false),
  bytes(ID.RETRY_SOURCE_CONNECTION_ID, 'retrySourceConnectionId', 0, MAX_CID_LENGTH, true),
  integer(ID.MAX_DATAGRAM_FRAME_SIZE, 'maxDatagramFrameSize'),
  { ...integer(ID.MULTIPATH_POLICY, 'multipathPolicy'), clientOnly: true },
  { ...integer(ID.MULTIPATH_POLICIES, 'multipathPolicies'), serverOnly: true },
  integer(ID.PERSISTENCE_TIMEOUT, 'persistenceTimeout'),
  { ...bytes(ID.EARLY_DATA_TICKET, 'earlyDataTicket', 1, 1024, false), clientOnly: true },
  { ...bytes(ID.EARLY_DATA, 'earlyData', 1, 65535, false), clientOnly: true },
  { kind: 'flag', id: ID.EARLY_DATA_ACCEPTED, key: 'earlyDataAccepted', serverOnly: true },
  bytes(ID.INITIAL_RESUMPTION_ID, 'initialResumptionId', 48, 48, true),
  { ...bytes(ID.INITIAL_TIMESTAMP, 'initialTimestamp', 12, 12, false), clientOnly: true },
];
const PARAMS_BY_ID = new Map(PARAMS.map((spec) => [spec.id, spec]));

function paramError(message: string): WireError {
  return new WireError(`transport parameters: ${message}`, TransportError.TRANSPORT_PARAMETER_ERROR);
}

/**
 * Encodes the given parameters; fields that are absent or equal to their default are
 * omitted (the decoder restores defaults). Out-of-range values throw RangeError.
 */
export function encodeTransportParameters(p: Partial<TransportParameters>): Uint8Array {
  let size = 0;
  const present: { spec: ParamSpec; value: number | Uint8Array | true }[] = [];
  for (const spec of PARAMS) {
    const value = p[spec.key];
    if (value === undefined) continue;
    let length: number;
    if (spec.kind === 'integer') {
      const v = value as number;
      if (v === DEFAULT_TRANSPORT_PARAMETERS[spec.key]) continue;
      if (!Number.isInteger(v) || v < spec.min || v > spec.max) {
        throw new RangeError(`transport parameter ${spec.key} out of range: ${v}`);
      }
      length = varintLength(v);
      present.push({ spec, value: v });
    } else if (spec.kind === 'bytes') {
      const b = value as Uint8Array;
      if (b.length < spec.minLength || b.length > spec.maxLength) {
        throw new RangeError(`transport parameter ${spec.key} has length ${b.length}`);
      }
      length = b.length;
      present.push({ spec, value: b });
    } else {
      if (value !== true) continue;
      length = 0;
      present.push({ spec, value: true });
    }
    size += varintLength(spec.id) + varintLength(length) + length;
  }
  const w = new Writer(new Uint8Array(size));
  for (const { spec, value } of present) {
    w.varint(spec.id);
    if (typeof value === 'number') w.varint(varintLength(value)).varint(value);
    else if (value === true) w.varint(0);
    else w.varint(value.length).bytes(value);
  }
  return w.buf;
}

/**
 * Decodes parameters and fills defaults. Unknown ids are skipped. Duplicates, bad
 * lengths, out-of-range values, truncation, and (when `sender` is 'client')
 * server-only parameters throw WireError(TRANSPORT_PARAMETER_ERROR).
 */
export function decodeTransportParameters(b: Uint8Array, sender?: 'client' | 'server'): TransportParameters {
  const out: TransportParameters = { ...DEFAULT_TRANSPORT_PARAMETERS };
  const seen = new Set<number>();
  const r = new Reader(b);
  try {
    while (r.remaining > 0) {
      const id = r.varint();
      const value = r.bytes(r.varint());
      if (seen.has(id)) throw paramError(`duplicate id 0x${id.toString(16)}`);
      seen.add(id);
      const spec = PARAMS_BY_ID.get(id);
      if (spec === undefined) continue;
      if ((sender === 'client' && spec.serverOnly) || (sender === 'server' && spec.clientOnly))
        throw paramError(`${spec.key} sent by a ${sender}`);
      if (spec.kind === 'integer') {
        const vr = new Reader(value);
        const v = vr.varint();
        if (vr.remaining !== 0) throw paramError(`${spec.key}: length does not match its varint`);
        if (v < spec.min || v > spec.max) throw paramError(`${spec.key} out of range: ${v}`);
        out[spec.key] = v;
      } else if (spec.kind === 'bytes') {
        if (value.length < spec.minLength || value.length > spec.maxLength) {
          throw paramError(`${spec.key} has length ${value.length}`);
        }
        out[spec.key] = value.slice();
      } else {
        if (value.length !== 0) throw paramError(`${spec.key} must be empty`);
        out[spec.key] = true;
      }
    }
  } catch (err) {
    if (err instanceof WireError && err.code !== TransportError.TRANSPORT_PARAMETER_ERROR) {
      throw paramError(err.message);
    }
    throw err;
  }
  return out;
}
