import { type CipherFunction, CipherState } from './cipher-state.js';
import { type HashFunction, hkdf } from './hash.js';

const CIPHER_KEY_LENGTH = 32;
const EMPTY = new Uint8Array(0);

/** Noise SymmetricState (§5.2): chaining key ck, handshake hash h and the handshake CipherState. */
export class SymmetricState {
  readonly hash: HashFunction;
  readonly cipherState: CipherState;
  private ck: Uint8Array;
  private h: Uint8Array;

  constructor(protocolName: string, cipher: CipherFunction, hash: HashFunction) {
    this.hash = hash;
    const name = new TextEncoder().encode(protocolName);
    if (name.length <= hash.hashLen) {
      this.h = new Uint8Array(hash.hashLen);
      this.h.set(name);
    } else {
      this.h = hash.hash(name);
    }
    this.ck = this.h;
    this.cipherState = new CipherState(cipher);
  }

  /** A deep copy: ck, h and the CipherState (key and nonce). */
  clone(): SymmetricState {
    const copy: SymmetricState = Object.create(SymmetricState.prototype);
    Object.assign(copy, {
      hash: this.hash,
      cipherState: this.cipherState.clone(),
      ck: new Uint8Array(this.ck),
      h: new Uint8Array(this.h),
    });
    return copy;
  }

  mixKey(inputKeyMaterial: Uint8Array): void {
    const [ck, tempKey] = hkdf(this.hash, this.ck, inputKeyMaterial, 2);
    this.ck = ck;
    this.cipherState.initializeKey(tempKey.subarray(0, CIPHER_KEY_LENGTH));
  }

  mixHash(data: Uint8Array): void {
    this.h = this.hash.hash(this.h, data);
  }

  mixKeyAndHash(inputKeyMaterial: Uint8Array): void {
    const [ck, tempHash, tempKey] = hkdf(this.hash, this.ck, inputKeyMaterial, 3);
    this.ck = ck;
    this.mixHash(tempHash);
    this.cipherState.initializeKey(tempKey.subarray(0, CIPHER_KEY_LENGTH));
  }

  handshakeHash(): Uint8Array {
    return new Uint8Array(this.h);
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.cipherState.encryptWithAd(this.h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.cipherState.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** The two 32-byte transport keys: initiator→responder, then responder→initiator. */
  splitKeys(): [Uint8Array, Uint8Array] {
    const [k1, k2] = hkdf(this.hash, this.ck, EMPTY, 2);
    return [k1.slice(0, CIPHER_KEY_LENGTH), k2.slice(0, CIPHER_KEY_LENGTH)];
  }
}
