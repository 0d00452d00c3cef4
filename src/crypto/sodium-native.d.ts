// Minimal types for the parts of sodium-native (which ships none) that src/crypto uses.
// Failed verification throws an Error ("could not verify data").
declare module 'sodium-native' {
  export function crypto_aead_chacha20poly1305_ietf_encrypt(
    ciphertext: Uint8Array,
    message: Uint8Array,
    additionalData: Uint8Array | null,
    nsec: null,
    nonce: Uint8Array,
    key: Uint8Array,
  ): number;
  export function crypto_aead_chacha20poly1305_ietf_decrypt(
    message: Uint8Array,
    nsec: null,
    ciphertext: Uint8Array,
    additionalData: Uint8Array | null,
    nonce: Uint8Array,
    key: Uint8Array,
  ): number;
  export function crypto_stream_chacha20_ietf_xor_ic(
    ciphertext: Uint8Array,
    message: Uint8Array,
    nonce: Uint8Array,
    initialCounter: number,
    key: Uint8Array,
  ): void;
  /** X25519; throws if the result is all zeros. */
  export function crypto_scalarmult(shared: Uint8Array, privateKey: Uint8Array, publicKey: Uint8Array): void;
  export function crypto_scalarmult_base(publicKey: Uint8Array, privateKey: Uint8Array): void;
}
