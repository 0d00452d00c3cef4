/**
 * Session resumption secrets (docs/persistence.md §3, docs/crypto.md §6).
 *
 * Every completed handshake — the first one (IK / XX) and every resumption (IKpsk2) — yields a
 * resumption secret from its split() keys. The next resumption uses it as the Noise PSK, and
 * its own split() yields the next secret: a ratchet. Each secret is used for one resumption
 * only, and a resumption's keys depend on the previous secret and on fresh DH, so a captured
 * old secret neither decrypts later traffic nor completes a later resumption.
 */
import { hkdfSync } from 'node:crypto';

/** Noise protocol of the resumption handshake (pattern id 2 on the wire). */
export const RESUME_PROTOCOL_NAME = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';

const SECRET_LABEL = 'braid resumption secret';
export const RESUMPTION_SECRET_LENGTH = 32;

/**
 * HKDF-SHA256(IKM = initiator key || responder key, salt = handshake hash,
 * info = "braid resumption secret", 32). The split() keys are secret (unlike the handshake
 * hash, which an observer of the transcript can compute); the hash binds the secret to this
 * very transcript.
 */
export function deriveResumptionSecret(
  initiatorKey: Uint8Array,
  responderKey: Uint8Array,
  handshakeHash: Uint8Array,
): Uint8Array {
  const ikm = new Uint8Array(initiatorKey.length + responderKey.length);
  ikm.set(initiatorKey, 0);
  ikm.set(responderKey, initiatorKey.length);
  return new Uint8Array(hkdfSync('sha256', ikm, handshakeHash, SECRET_LABEL, RESUMPTION_SECRET_LENGTH));
}
