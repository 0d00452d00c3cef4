export { AESGCM, ChaChaPoly, type CipherFunction, CipherState } from './cipher-state.js';
export { dh, generateKeyPair, type KeyPair, publicKeyFromPrivate } from './dh.js';
export { NoiseError, type NoiseErrorCode } from './errors.js';
export {
  type HandshakeOptions,
  HandshakeState,
  MAX_MESSAGE_LENGTH,
  type ProtocolSuite,
  parseProtocolName,
  type SplitResult,
} from './handshake-state.js';
export { BLAKE2b, BLAKE2s, type HashFunction, SHA256, SHA512 } from './hash.js';
export { type HandshakePattern, parsePattern, supportedBasePatterns, type Token } from './patterns.js';
export { SymmetricState } from './symmetric-state.js';
