/**
 * The Noise handshake as Braid uses it (docs/protocol.md §Handshake):
 * IK when the client knows the server's static key (one round trip, client identity
 * hidden), XX for first contact (the client learns and then pins the server key).
 *
 * This module only builds Noise states and prologues; the connection decides what
 * to send when.
 */
import { INITIAL_MAC_LENGTH } from '../crypto/initial-mac.js';
import { HandshakeState, type KeyPair, NoiseError, publicKeyFromPrivate } from '../crypto/noise/index.js';
import { BRAID_VERSION_1, type InitialPacket } from '../wire/packet.js';
import type { RandomSource } from './secrets.js';

export const HandshakePattern = { IK: 0, XX: 1 } as const;
/**
 * INITIAL pattern byte of IK whose payload ends with the pre-DH mac (docs/protocol.md §4.2,
 * src/crypto/initial-mac.ts). What clients send for IK; 0 is IK without the mac, which a
 * server answers only after a Retry round trip.
 */
export const IK_MAC_PATTERN = 3;
/** Pattern id of the RESUME packet's handshake (Noise IKpsk2, docs/persistence.md); never in an INITIAL. */
export const RESUME_PATTERN = 2;
export type HandshakePatternId = (typeof HandshakePattern)[keyof typeof HandshakePattern];

export const PROTOCOL_NAMES: Record<HandshakePatternId, string> = {
  [HandshakePattern.IK]: 'Noise_IK_25519_ChaChaPoly_BLAKE2s',
  [HandshakePattern.XX]: 'Noise_XX_25519_ChaChaPoly_BLAKE2s',
};

/** Number of Noise messages in each pattern. */
export const MESSAGE_COUNT: Record<HandshakePatternId, number> = {
  [HandshakePattern.IK]: 2,
  [HandshakePattern.XX]: 3,
};

const PROLOGUE_LABEL = new TextEncoder().encode('braid/1');

/**
 * prologue = "braid/1" || version u32 || pattern u8 || dcid_len u8 || dcid || scid_len u8 || scid
 * and, for a RESUME (pattern 2), || token_len u8 || token (the resumption identifier).
 */
export function handshakePrologue(
  pattern: number,
  dcid: Uint8Array,
  scid: Uint8Array,
  version = BRAID_VERSION_1,
  token?: Uint8Array,
): Uint8Array {
  const tokenLength = token ? 1 + token.length : 0;
  const out = new Uint8Array(PROLOGUE_LABEL.length + 4 + 1 + 1 + dcid.length + 1 + scid.length + tokenLength);
  let o = 0;
  out.set(PROLOGUE_LABEL, o);
  o += PROLOGUE_LABEL.length;
  out[o++] = version >>> 24;
  out[o++] = (version >>> 16) & 0xff;
  out[o++] = (version >>> 8) & 0xff;
  out[o++] = version & 0xff;
  out[o++] = pattern;
  out[o++] = dcid.length;
  out.set(dcid, o);
  o += dcid.length;
  out[o++] = scid.length;
  out.set(scid, o);
  o += scid.length;
  if (token) {
    out[o++] = token.length;
    out.set(token, o);
  }
  return out;
}

/** An X25519 ephemeral drawn from the endpoint's random source (so the simulator replays exactly). */
export function ephemeralKeyPair(random: RandomSource): KeyPair {
  const privateKey = random(32);
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

export function createHandshake(options: {
  pattern: HandshakePatternId;
  initiator: boolean;
  prologue: Uint8Array;
  staticKey: KeyPair;
  remoteStatic?: Uint8Array;
  random: RandomSource;
}): HandshakeState {
  return new HandshakeState({
    protocolName: PROTOCOL_NAMES[options.pattern],
    initiator: options.initiator,
    prologue: options.prologue,
    s: options.staticKey,
    e: ephemeralKeyPair(options.random),
    rs: options.remoteStatic,
  });
}

/** A first flight's Noise message 1 as the server read it, before any session exists for it. */
export interface FirstMessage {
  pattern: HandshakePatternId;
  /** The responder's state after message 1, without its ephemeral (setLocalEphemeral before writing). */
  handshake: HandshakeState;
  payload: Uint8Array;
}

/**
 * Server: reads message 1 of an INITIAL (IK, with or without the pre-DH mac the endpoint already
 * checked, or XX). Nothing here belongs to a session and nothing is drawn from the random source:
 * a first flight that does not authenticate ('rejected') or whose client key `screenKey` refuses
 * as soon as it is decrypted, before the ss DH ('refused-key'), or an XX message 1 with a payload
 * ('xx-payload'), leaves nothing behind. It has
 * cost one X25519 operation (IK's es), and the responder's ephemeral is generated only for a
 * flight that goes on, by the session that answers it.
 */
export function readFirstMessage(
  packet: InitialPacket,
  staticKey: KeyPair,
  screenKey?: (key: Uint8Array) => boolean,
): FirstMessage | 'rejected' | 'refused-key' | 'xx-payload' {
  let message = packet.payload;
  let pattern: HandshakePatternId;
  if (packet.pattern === IK_MAC_PATTERN) {
    if (message.length < INITIAL_MAC_LENGTH) return 'rejected';
    message = message.subarray(0, message.length - INITIAL_MAC_LENGTH);
    pattern = HandshakePattern.IK;
  } else if (packet.pattern === HandshakePattern.IK || packet.pattern === HandshakePattern.XX) {
    pattern = packet.pattern;
  } else {
    return 'rejected';
  }
  try {
    const handshake = new HandshakeState({
      protocolName: PROTOCOL_NAMES[pattern],
      initiator: false,
      prologue: handshakePrologue(packet.pattern, packet.dcid, packet.scid),
      s: staticKey,
    });
    const payload = handshake.readMessage(message, screenKey);
    // XX message 0 is sent in clear: a payload there is refused, never read (§7.3).
    if (pattern === HandshakePattern.XX && payload.length > 0) return 'xx-payload';
    return { pattern, handshake, payload };
  } catch (error) {
    return error instanceof NoiseError && error.code === 'BRAID_ERR_NOISE_KEY_REFUSED'
      ? 'refused-key'
      : 'rejected';
  }
}
