import { CIPHERS, type CipherFunction, CipherState, TAG_LENGTH } from './cipher-state.js';
import { DHLEN, dh, generateKeyPair, type KeyPair } from './dh.js';
import { NoiseError } from './errors.js';
import { HASHES, type HashFunction } from './hash.js';
import { type HandshakePattern, parsePattern, type Token } from './patterns.js';
import { SymmetricState } from './symmetric-state.js';

export type { KeyPair } from './dh.js';

/** Noise §3: every handshake and transport message is at most 65535 bytes. */
export const MAX_MESSAGE_LENGTH = 65535;
const PSK_LENGTH = 32;
const EMPTY = new Uint8Array(0);

export interface HandshakeOptions {
  /** e.g. `Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s`. */
  protocolName: string;
  initiator: boolean;
  prologue?: Uint8Array;
  /** Local static key pair. */
  s?: KeyPair;
  /** Fixed local ephemeral key pair: for test vectors and deterministic simulation only. */
  e?: KeyPair;
  /** Remote static public key known in advance (pre-message). */
  rs?: Uint8Array;
  /** Remote ephemeral public key known in advance (pre-message). */
  re?: Uint8Array;
  /** Pre-shared keys (32 bytes each), consumed in the order the psk tokens appear. */
  psks?: Uint8Array[];
}

export interface SplitResult {
  initiatorToResponder: CipherState;
  responderToInitiator: CipherState;
  /** Raw key of initiatorToResponder, e.g. to derive packet-protection secrets. */
  initiatorKey: Uint8Array;
  responderKey: Uint8Array;
}

export interface ProtocolSuite {
  pattern: HandshakePattern;
  cipher: CipherFunction;
  hash: HashFunction;
}

/** Parses `Noise_<pattern>_<dh>_<cipher>_<hash>`; only 25519 is supported for DH. */
export function parseProtocolName(protocolName: string): ProtocolSuite {
  const parts = protocolName.split('_');
  if (parts.length !== 5 || parts[0] !== 'Noise') {
    throw new NoiseError(`not a Noise protocol name: ${protocolName}`, 'BRAID_ERR_NOISE_CONFIG');
  }
  const [, patternName, dhName, cipherName, hashName] = parts;
  if (dhName !== '25519') throw new NoiseError(`unsupported DH: ${dhName}`, 'BRAID_ERR_NOISE_CONFIG');
  const cipher = CIPHERS[cipherName];
  if (!cipher) throw new NoiseError(`unsupported cipher: ${cipherName}`, 'BRAID_ERR_NOISE_CONFIG');
  const hash = HASHES[hashName];
  if (!hash) throw new NoiseError(`unsupported hash: ${hashName}`, 'BRAID_ERR_NOISE_CONFIG');
  return { pattern: parsePattern(patternName), cipher, hash };
}

/**
 * Noise HandshakeState (§5.3). Call writeMessage/readMessage in turn until isComplete,
 * then split(). Any thrown NoiseError leaves the state failed: every later call throws.
 */
export class HandshakeState {
  readonly protocolName: string;
  readonly initiator: boolean;
  private readonly pattern: HandshakePattern;
  private readonly symmetric: SymmetricState;
  private readonly cipher: CipherFunction;
  private s: KeyPair | undefined;
  private e: KeyPair | undefined;
  private rs: Uint8Array | undefined;
  private re: Uint8Array | undefined;
  private readonly psks: Uint8Array[];
  private index = 0;
  private failed = false;
  private splitResult: SplitResult | undefined;

  constructor(opts: HandshakeOptions) {
    const { pattern, cipher, hash } = parseProtocolName(opts.protocolName);
    this.protocolName = opts.protocolName;
    this.initiator = opts.initiator;
    this.pattern = pattern;
    this.cipher = cipher;
    this.s = opts.s ? copyKeyPair(opts.s) : undefined;
    this.e = opts.e ? copyKeyPair(opts.e) : undefined;
    this.rs = opts.rs ? checkedPublicKey(opts.rs, 'rs') : undefined;
    this.re = opts.re ? checkedPublicKey(opts.re, 're') : undefined;
    this.psks = (opts.psks ?? []).map((psk) => {
      if (psk.length !== PSK_LENGTH) throw new NoiseError('a PSK must be 32 bytes', 'BRAID_ERR_NOISE_CONFIG');
      return new Uint8Array(psk);
    });
    this.checkKeysFitPattern();

    this.symmetric = new SymmetricState(opts.protocolName, cipher, hash);
    this.symmetric.mixHash(opts.prologue ?? EMPTY);
    this.mixPreMessage(pattern.preInitiator, this.initiator);
    this.mixPreMessage(pattern.preResponder, !this.initiator);
  }

  get isComplete(): boolean {
    return this.splitResult !== undefined;
  }

  get isMyTurn(): boolean {
    return !this.failed && !this.isComplete && this.senderIsInitiator(this.index) === this.initiator;
  }

  /** Number of handshake messages written or read so far. */
  get messageIndex(): number {
    return this.index;
  }

  get messageCount(): number {
    return this.pattern.messages.length;
  }

  handshakeHash(): Uint8Array {
    return this.symmetric.handshakeHash();
  }

  remoteStaticKey(): Uint8Array | undefined {
    return this.rs ? new Uint8Array(this.rs) : undefined;
  }

  remoteEphemeralKey(): Uint8Array | undefined {
    return this.re ? new Uint8Array(this.re) : undefined;
  }

  localEphemeralKey(): Uint8Array | undefined {
    return this.e ? new Uint8Array(this.e.publicKey) : undefined;
  }

  /**
   * A deep copy (ck, h, cipher key and nonce, key pairs, message index, remaining PSKs):
   * read an unauthenticated message on the copy and keep it only if the read succeeds,
   * so a forged or corrupted message cannot spoil this state.
   */
  clone(): HandshakeState {
    const copy: HandshakeState = Object.create(HandshakeState.prototype);
    const split = this.splitResult;
    Object.assign(copy, {
      protocolName: this.protocolName,
      initiator: this.initiator,
      pattern: this.pattern,
      symmetric: this.symmetric.clone(),
      cipher: this.cipher,
      s: this.s && copyKeyPair(this.s),
      e: this.e && copyKeyPair(this.e),
      rs: this.rs && new Uint8Array(this.rs),
      re: this.re && new Uint8Array(this.re),
      psks: this.psks.map((psk) => new Uint8Array(psk)),
      index: this.index,
      failed: this.failed,
      splitResult: split && {
        initiatorToResponder: split.initiatorToResponder.clone(),
        responderToInitiator: split.responderToInitiator.clone(),
        initiatorKey: new Uint8Array(split.initiatorKey),
        responderKey: new Uint8Array(split.responderKey),
      },
    });
    return copy;
  }

  /**
   * Sets the local ephemeral key pair when it was not given at construction. A responder reads
   * message 1 without one (no token of it needs the responder's ephemeral), so a first flight it
   * refuses never costs it a key generation; it sets the key before it writes.
   */
  setLocalEphemeral(e: KeyPair): void {
    if (this.e) throw new NoiseError('the local ephemeral is already set', 'BRAID_ERR_NOISE_STATE');
    this.e = copyKeyPair(e);
  }

  writeMessage(payload: Uint8Array): Uint8Array {
    this.checkTurn(true);
    try {
      const parts: Uint8Array[] = [];
      for (const token of this.pattern.messages[this.index]) {
        switch (token) {
          case 'e': {
            this.e ??= generateKeyPair();
            parts.push(this.e.publicKey);
            this.mixEphemeral(this.e.publicKey);
            break;
          }
          case 's':
            parts.push(this.symmetric.encryptAndHash(this.s!.publicKey));
            break;
          case 'psk':
            this.symmetric.mixKeyAndHash(this.psks.shift()!);
            break;
          default:
            this.mixDh(token);
        }
      }
      parts.push(this.symmetric.encryptAndHash(payload));
      const message = concat(parts);
      if (message.length > MAX_MESSAGE_LENGTH) {
        throw new NoiseError(
          `handshake message of ${message.length} bytes exceeds 65535`,
          'BRAID_ERR_NOISE_MESSAGE',
        );
      }
      this.advance();
      return message;
    } catch (err) {
      throw this.fail(err);
    }
  }

  /**
   * Returns the decrypted payload. Throws NoiseError (BRAID_ERR_NOISE_DECRYPT, …_MESSAGE, …_DH).
   * `screenRemoteStatic` sees the peer's static key as soon as it is decrypted, before the DH
   * operations that follow it; returning false fails the handshake (BRAID_ERR_NOISE_KEY_REFUSED),
   * so a responder refuses a key it will not accept for the price of the DH before it.
   */
  readMessage(message: Uint8Array, screenRemoteStatic?: (key: Uint8Array) => boolean): Uint8Array {
    this.checkTurn(false);
    try {
      if (message.length > MAX_MESSAGE_LENGTH) {
        throw new NoiseError(
          `handshake message of ${message.length} bytes exceeds 65535`,
          'BRAID_ERR_NOISE_MESSAGE',
        );
      }
      let offset = 0;
      const take = (length: number): Uint8Array => {
        if (offset + length > message.length) {
          throw new NoiseError('handshake message too short for its pattern', 'BRAID_ERR_NOISE_MESSAGE');
        }
        const field = message.slice(offset, offset + length);
        offset += length;
        return field;
      };
      for (const token of this.pattern.messages[this.index]) {
        switch (token) {
          case 'e':
            this.re = take(DHLEN);
            this.mixEphemeral(this.re);
            break;
          case 's': {
            const length = this.symmetric.cipherState.hasKey() ? DHLEN + TAG_LENGTH : DHLEN;
            this.rs = this.symmetric.decryptAndHash(take(length));
            if (screenRemoteStatic && !screenRemoteStatic(this.rs)) {
              throw new NoiseError('remote static key refused', 'BRAID_ERR_NOISE_KEY_REFUSED');
            }
            break;
          }
          case 'psk':
            this.symmetric.mixKeyAndHash(this.psks.shift()!);
            break;
          default:
            this.mixDh(token);
        }
      }
      const payloadCiphertext = message.subarray(offset);
      if (this.symmetric.cipherState.hasKey() && payloadCiphertext.length < TAG_LENGTH) {
        throw new NoiseError('handshake message too short for its pattern', 'BRAID_ERR_NOISE_MESSAGE');
      }
      const payload = this.symmetric.decryptAndHash(payloadCiphertext);
      this.advance();
      return payload;
    } catch (err) {
      throw this.fail(err);
    }
  }

  split(): SplitResult {
    if (!this.splitResult) throw new NoiseError('handshake is not complete', 'BRAID_ERR_NOISE_STATE');
    return this.splitResult;
  }

  private senderIsInitiator(index: number): boolean {
    return this.pattern.oneWay || index % 2 === 0;
  }

  private checkTurn(writing: boolean): void {
    if (this.failed) throw new NoiseError('handshake already failed', 'BRAID_ERR_NOISE_STATE');
    if (this.isComplete) throw new NoiseError('handshake already complete', 'BRAID_ERR_NOISE_STATE');
    if (this.isMyTurn !== writing) {
      throw new NoiseError(
        writing ? 'not our turn to write' : 'not our turn to read',
        'BRAID_ERR_NOISE_STATE',
      );
    }
  }

  private advance(): void {
    this.index++;
    if (this.index < this.pattern.messages.length) return;
    const [initiatorKey, responderKey] = this.symmetric.splitKeys();
    this.splitResult = {
      initiatorToResponder: new CipherState(this.cipher, initiatorKey),
      responderToInitiator: new CipherState(this.cipher, responderKey),
      initiatorKey,
      responderKey,
    };
  }

  private fail(err: unknown): NoiseError {
    this.failed = true;
    if (err instanceof NoiseError) return err;
    return new NoiseError('handshake failed', 'BRAID_ERR_NOISE_MESSAGE', { cause: err });
  }

  /** In a PSK handshake the ephemeral also keys the cipher (Noise §9.2), so later payloads are encrypted. */
  private mixEphemeral(publicKey: Uint8Array): void {
    this.symmetric.mixHash(publicKey);
    if (this.pattern.hasPsk) this.symmetric.mixKey(publicKey);
  }

  /** First letter: the initiator's key; second: the responder's (Noise §7.1). */
  private mixDh(token: Exclude<Token, 'e' | 's' | 'psk'>): void {
    const initiatorKey = token[0] as 'e' | 's';
    const responderKey = token[1] as 'e' | 's';
    const [localKind, remoteKind] = this.initiator
      ? [initiatorKey, responderKey]
      : [responderKey, initiatorKey];
    const local = localKind === 'e' ? this.e : this.s;
    const remote = remoteKind === 'e' ? this.re : this.rs;
    if (!local || !remote) throw new NoiseError(`missing key for ${token}`, 'BRAID_ERR_NOISE_STATE');
    this.symmetric.mixKey(dh(local, remote));
  }

  private mixPreMessage(tokens: readonly ('e' | 's')[], local: boolean): void {
    for (const token of tokens) {
      const key = local ? (token === 'e' ? this.e : this.s)?.publicKey : token === 'e' ? this.re : this.rs;
      if (!key) throw new NoiseError(`pre-message key ${token} missing`, 'BRAID_ERR_NOISE_CONFIG');
      if (token === 'e') this.mixEphemeral(key);
      else this.symmetric.mixHash(key);
    }
  }

  /** Fails at construction rather than halfway through the handshake. */
  private checkKeysFitPattern(): void {
    const { pattern, initiator } = this;
    const ownPre = initiator ? pattern.preInitiator : pattern.preResponder;
    const peerPre = initiator ? pattern.preResponder : pattern.preInitiator;
    let needsStatic = ownPre.includes('s');
    let pskCount = 0;
    pattern.messages.forEach((tokens, i) => {
      const mine = this.senderIsInitiator(i) === initiator;
      for (const token of tokens) {
        if (token === 'psk') pskCount++;
        if (token === 's' && mine) needsStatic = true;
        if (token === 'ss' || token === (initiator ? 'se' : 'es')) needsStatic = true;
      }
    });
    if (needsStatic && !this.s)
      throw new NoiseError('this pattern needs a local static key (s)', 'BRAID_ERR_NOISE_CONFIG');
    if (peerPre.includes('s') && !this.rs) {
      throw new NoiseError('this pattern needs the remote static key (rs)', 'BRAID_ERR_NOISE_CONFIG');
    }
    if (peerPre.includes('e') && !this.re) {
      throw new NoiseError('this pattern needs the remote ephemeral key (re)', 'BRAID_ERR_NOISE_CONFIG');
    }
    if (this.psks.length < pskCount) {
      throw new NoiseError(`this pattern needs ${pskCount} PSK(s)`, 'BRAID_ERR_NOISE_CONFIG');
    }
  }
}

function copyKeyPair(pair: KeyPair): KeyPair {
  if (pair.privateKey.length !== DHLEN || pair.publicKey.length !== DHLEN) {
    throw new NoiseError('X25519 keys must be 32 bytes', 'BRAID_ERR_NOISE_CONFIG');
  }
  return { publicKey: new Uint8Array(pair.publicKey), privateKey: new Uint8Array(pair.privateKey) };
}

function checkedPublicKey(key: Uint8Array, what: string): Uint8Array {
  if (key.length !== DHLEN) throw new NoiseError(`${what} must be 32 bytes`, 'BRAID_ERR_NOISE_CONFIG');
  return new Uint8Array(key);
}

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
