/** Transport error codes carried in CLOSE frames (docs/protocol.md §Errors). */
export const TransportError = {
  NO_ERROR: 0x0,
  INTERNAL_ERROR: 0x1,
  CONNECTION_REFUSED: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_LIMIT_ERROR: 0x4,
  STREAM_STATE_ERROR: 0x5,
  FINAL_SIZE_ERROR: 0x6,
  FRAME_ENCODING_ERROR: 0x7,
  TRANSPORT_PARAMETER_ERROR: 0x8,
  CONNECTION_ID_LIMIT_ERROR: 0x9,
  PROTOCOL_VIOLATION: 0xa,
  INVALID_TOKEN: 0xb,
  KEY_UPDATE_ERROR: 0xe,
  AEAD_LIMIT_REACHED: 0xf,
  NO_VIABLE_PATH: 0x10,
  /** The server does not accept the client's static key. */
  UNAUTHORIZED_KEY: 0x100,
  /** A suspended session outlived its persistence timeout. */
  EXPIRED: 0x101,
  /** The peer no longer holds state for this session. */
  PEER_STATE_LOST: 0x102,
  /** The server is at a session limit (in total, for this client key, or its memory budget). */
  SESSION_LIMIT: 0x103,
} as const;

export type TransportErrorCode = (typeof TransportError)[keyof typeof TransportError];

export function transportErrorName(code: number): string {
  for (const [name, value] of Object.entries(TransportError)) if (value === code) return name;
  return `UNKNOWN_0x${code.toString(16)}`;
}

/**
 * Thrown by decoders on malformed input. It never escapes the engine: the engine
 * turns it into a counted drop or a CLOSE with `code`.
 */
export class WireError extends Error {
  readonly code: number;
  constructor(message: string, code: number = TransportError.FRAME_ENCODING_ERROR) {
    super(message);
    this.name = 'WireError';
    this.code = code;
  }
}
