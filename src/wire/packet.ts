/**
 * Packet header types. Layouts are in docs/protocol.md §Packets; the codec is ./packet-codec.ts.
 *
 * Long headers (first bit 1) carry the version and both connection IDs and are used
 * before keys exist: INITIAL, HANDSHAKE, RETRY, and VERSION_NEGOTIATION (version 0).
 * Short headers (first bit 0) carry only the destination connection ID, whose length
 * the receiving endpoint chose itself, and a protected packet number.
 */

export const BRAID_VERSION_1 = 0x42520001; // "BR" 0x0001

export const LongPacketType = {
  INITIAL: 0,
  /** Reserved for 0-RTT / resumption (persistence issue). */
  RESUME: 1,
  HANDSHAKE: 2,
  RETRY: 3,
} as const;

export const MAX_CID_LENGTH = 20;
export const MIN_INITIAL_DATAGRAM = 1200;
export const STATELESS_RESET_TOKEN_LENGTH = 16;

export interface InitialPacket {
  kind: 'initial';
  version: number;
  dcid: Uint8Array;
  scid: Uint8Array;
  token: Uint8Array;
  /** Noise pattern of the handshake: 0 = IK, 1 = XX; 2..255 reserved (the server drops those). */
  pattern: number;
  /** Handshake payload: one Noise message (see docs/protocol.md §Handshake). */
  payload: Uint8Array;
}
export interface ResumePacket {
  kind: 'resume';
  version: number;
  dcid: Uint8Array;
  scid: Uint8Array;
  token: Uint8Array;
  pattern: number;
  payload: Uint8Array;
}
export interface HandshakePacket {
  kind: 'handshake';
  version: number;
  dcid: Uint8Array;
  scid: Uint8Array;
  /** Index of the Noise message within the pattern (0 = first message). */
  messageIndex: number;
  payload: Uint8Array;
}
export interface RetryPacket {
  kind: 'retry';
  version: number;
  dcid: Uint8Array;
  scid: Uint8Array;
  /** Opaque to the client; echoed in its next INITIAL. */
  token: Uint8Array;
}
export interface VersionNegotiationPacket {
  kind: 'version_negotiation';
  dcid: Uint8Array;
  scid: Uint8Array;
  supportedVersions: number[];
}

/**
 * A long header of a version this implementation does not speak: only the version-invariant
 * fields are known (docs/protocol.md §2), enough to answer with Version Negotiation.
 */
export interface UnsupportedVersionPacket {
  kind: 'unsupported_version';
  version: number;
  dcid: Uint8Array;
  scid: Uint8Array;
}

export type LongHeaderPacket = InitialPacket | ResumePacket | HandshakePacket | RetryPacket;

/**
 * A short-header packet as seen before header protection is removed. `pnOffset`
 * is where the protected packet number starts; the header-protection sample
 * starts at pnOffset + 4 (as in RFC 9001 §5.4.2).
 */
export interface ShortHeaderView {
  kind: 'short';
  dcid: Uint8Array;
  pnOffset: number;
}
