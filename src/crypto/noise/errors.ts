/**
 * Raised by the Noise implementation. `code` is stable; branch on it, never on `message`.
 * After a HandshakeState throws, that state is unusable (Noise §5.3: a failed handshake is deleted).
 */
export type NoiseErrorCode =
  /** An AEAD tag did not verify: the message was tampered with or the keys disagree. */
  | 'BRAID_ERR_NOISE_DECRYPT'
  /** A message was too short for its pattern or longer than 65535 bytes. */
  | 'BRAID_ERR_NOISE_MESSAGE'
  /** A DH failed, e.g. a low-order public key produced an all-zero shared secret. */
  | 'BRAID_ERR_NOISE_DH'
  /** The caller's check of the peer's static key (readMessage's `screenRemoteStatic`) refused it. */
  | 'BRAID_ERR_NOISE_KEY_REFUSED'
  /** writeMessage/readMessage called out of turn, after completion, or after a failure. */
  | 'BRAID_ERR_NOISE_STATE'
  /** The protocol name, keys or PSKs given to the constructor do not fit the pattern. */
  | 'BRAID_ERR_NOISE_CONFIG'
  /** The 64-bit nonce space of a CipherState is used up. */
  | 'BRAID_ERR_NOISE_NONCE_EXHAUSTED';

export class NoiseError extends Error {
  readonly code: NoiseErrorCode;
  constructor(message: string, code: NoiseErrorCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NoiseError';
    this.code = code;
  }
}
