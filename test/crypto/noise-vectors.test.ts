import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  type CipherState,
  generateKeyPair,
  HandshakeState,
  type KeyPair,
  NoiseError,
  parseProtocolName,
  publicKeyFromPrivate,
} from '../../src/crypto/noise/index.js';

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_psks?: string[];
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  resp_prologue: string;
  resp_psks?: string[];
  resp_static?: string;
  resp_ephemeral: string;
  resp_remote_static?: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

// Vendored with their provenance in test/crypto/vectors/README.md.
const VECTORS_URL = new URL('./vectors/cacophony-25519.json', import.meta.url);

function loadVectors(): Vector[] {
  assert.ok(existsSync(VECTORS_URL), `Noise test vectors missing: expected ${VECTORS_URL.pathname}`);
  return (JSON.parse(readFileSync(VECTORS_URL, 'utf8')) as { vectors: Vector[] }).vectors;
}

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function keyPair(privateHex: string | undefined): KeyPair | undefined {
  if (!privateHex) return undefined;
  const privateKey = hex(privateHex);
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

function isSupported(protocolName: string): boolean {
  try {
    parseProtocolName(protocolName);
    return true;
  } catch (err) {
    if (err instanceof NoiseError && err.code === 'BRAID_ERR_NOISE_CONFIG') return false;
    throw err;
  }
}

function runVector(v: Vector): void {
  const initiator = new HandshakeState({
    protocolName: v.protocol_name,
    initiator: true,
    prologue: hex(v.init_prologue),
    s: keyPair(v.init_static),
    e: keyPair(v.init_ephemeral),
    rs: v.init_remote_static ? hex(v.init_remote_static) : undefined,
    psks: v.init_psks?.map(hex),
  });
  const responder = new HandshakeState({
    protocolName: v.protocol_name,
    initiator: false,
    prologue: hex(v.resp_prologue),
    s: keyPair(v.resp_static),
    e: keyPair(v.resp_ephemeral),
    rs: v.resp_remote_static ? hex(v.resp_remote_static) : undefined,
    psks: v.resp_psks?.map(hex),
  });
  const oneWay = parseProtocolName(v.protocol_name).pattern.oneWay;
  let i = 0;
  for (; !initiator.isComplete; i++) {
    const { payload, ciphertext } = v.messages[i];
    const [sender, receiver] = initiator.isMyTurn ? [initiator, responder] : [responder, initiator];
    assert.equal(receiver.isMyTurn, false);
    const written = sender.writeMessage(hex(payload));
    assert.equal(toHex(written), ciphertext, `${v.protocol_name} handshake message ${i}`);
    assert.equal(toHex(receiver.readMessage(written)), payload, `${v.protocol_name} handshake payload ${i}`);
  }
  assert.ok(responder.isComplete, `${v.protocol_name}: responder complete`);
  assert.equal(toHex(initiator.handshakeHash()), v.handshake_hash, `${v.protocol_name} handshake hash`);
  assert.equal(toHex(responder.handshakeHash()), v.handshake_hash);

  const iSplit = initiator.split();
  const rSplit = responder.split();
  assert.deepEqual(iSplit.initiatorKey, rSplit.initiatorKey);
  assert.deepEqual(iSplit.responderKey, rSplit.responderKey);
  const empty = new Uint8Array(0);
  for (; i < v.messages.length; i++) {
    const { payload, ciphertext } = v.messages[i];
    const fromInitiator = oneWay || i % 2 === 0;
    const [send, receive]: CipherState[] = fromInitiator
      ? [iSplit.initiatorToResponder, rSplit.initiatorToResponder]
      : [rSplit.responderToInitiator, iSplit.responderToInitiator];
    const sealed = send.encryptWithAd(empty, hex(payload));
    assert.equal(toHex(sealed), ciphertext, `${v.protocol_name} transport message ${i}`);
    assert.equal(toHex(receive.decryptWithAd(empty, sealed)), payload);
  }
}

test('cacophony vectors: handshake messages, handshake hash and transport messages match', () => {
  const vectors = loadVectors();
  let checked = 0;
  let skipped = 0;
  let required = 0;
  const requiredPattern = /^Noise_(NN|NK|XX|IK|IKpsk2)_25519_ChaChaPoly_(SHA256|BLAKE2s)$/;
  for (const v of vectors) {
    if (requiredPattern.test(v.protocol_name)) required++;
    if (!isSupported(v.protocol_name)) {
      skipped++;
      continue;
    }
    runVector(v);
    checked++;
  }
  console.log(`checked ${checked} vectors (skipped ${skipped})`);
  assert.ok(required > 0, 'the vector file lacks the required NN/NK/XX/IK/IKpsk2 vectors');
  assert.ok(checked >= required, `checked ${checked} < required ${required}`);
  assert.equal(skipped, 0, 'every 25519 vector should be supported');
});

const IK = 'Noise_IK_25519_ChaChaPoly_BLAKE2s';

test('a flipped bit anywhere in an IK handshake message is rejected and the state becomes unusable', () => {
  const server = generateKeyPair();
  const client = generateKeyPair();
  const first = new HandshakeState({
    protocolName: IK,
    initiator: true,
    s: client,
    rs: server.publicKey,
  }).writeMessage(new TextEncoder().encode('hello'));
  for (const bit of [0, 8 * 32 + 3, 8 * 40, first.length * 8 - 1]) {
    const tampered = new Uint8Array(first);
    tampered[bit >> 3] ^= 1 << (bit & 7);
    const responder = new HandshakeState({ protocolName: IK, initiator: false, s: server });
    assert.throws(
      () => responder.readMessage(tampered),
      (err: unknown) => err instanceof NoiseError && err.code === 'BRAID_ERR_NOISE_DECRYPT',
      `bit ${bit}`,
    );
    assert.throws(
      () => responder.readMessage(first),
      (err: unknown) => err instanceof NoiseError && err.code === 'BRAID_ERR_NOISE_STATE',
    );
  }
  // The untampered message still reads fine on a fresh state.
  const ok = new HandshakeState({ protocolName: IK, initiator: false, s: server });
  assert.equal(new TextDecoder().decode(ok.readMessage(first)), 'hello');
});

test('a flipped bit in the XX responder message is rejected by the initiator', () => {
  const protocolName = 'Noise_XX_25519_ChaChaPoly_BLAKE2s';
  const initiator = new HandshakeState({ protocolName, initiator: true, s: generateKeyPair() });
  const responder = new HandshakeState({ protocolName, initiator: false, s: generateKeyPair() });
  responder.readMessage(initiator.writeMessage(new Uint8Array(0)));
  const second = responder.writeMessage(new Uint8Array(4));
  second[40] ^= 0x80; // inside the encrypted static key
  assert.throws(
    () => initiator.readMessage(second),
    (err: unknown) => err instanceof NoiseError && err.code === 'BRAID_ERR_NOISE_DECRYPT',
  );
});

test('IK with a wrong remote static key fails at the responder', () => {
  const server = generateKeyPair();
  const impostorView = generateKeyPair();
  const initiator = new HandshakeState({
    protocolName: IK,
    initiator: true,
    s: generateKeyPair(),
    rs: impostorView.publicKey,
  });
  const responder = new HandshakeState({ protocolName: IK, initiator: false, s: server });
  const first = initiator.writeMessage(new Uint8Array(0));
  assert.throws(
    () => responder.readMessage(first),
    (err: unknown) => err instanceof NoiseError && err.code === 'BRAID_ERR_NOISE_DECRYPT',
  );
});

test('IK round trip with random keys: both sides agree on keys, hash and identities', () => {
  const server = generateKeyPair();
  const client = generateKeyPair();
  const initiator = new HandshakeState({
    protocolName: IK,
    initiator: true,
    s: client,
    rs: server.publicKey,
  });
  const responder = new HandshakeState({ protocolName: IK, initiator: false, s: server });
  assert.equal(initiator.isMyTurn, true);
  assert.equal(responder.isMyTurn, false);
  responder.readMessage(initiator.writeMessage(new Uint8Array(0)));
  assert.deepEqual(responder.remoteStaticKey(), client.publicKey);
  initiator.readMessage(responder.writeMessage(new Uint8Array(0)));
  assert.ok(initiator.isComplete && responder.isComplete);
  assert.equal(initiator.messageIndex, 2);
  assert.deepEqual(initiator.handshakeHash(), responder.handshakeHash());
  assert.deepEqual(initiator.split().initiatorKey, responder.split().initiatorKey);
  assert.notDeepEqual(initiator.split().initiatorKey, initiator.split().responderKey);
  assert.deepEqual(initiator.remoteEphemeralKey(), responder.localEphemeralKey());
});

test('configuration errors are reported up front', () => {
  const isConfig = (err: unknown) => err instanceof NoiseError && err.code === 'BRAID_ERR_NOISE_CONFIG';
  assert.throws(
    () => new HandshakeState({ protocolName: 'Noise_ZZ_25519_ChaChaPoly_SHA256', initiator: true }),
    isConfig,
  );
  assert.throws(
    () => new HandshakeState({ protocolName: 'Noise_NN_448_ChaChaPoly_SHA256', initiator: true }),
    isConfig,
  );
  assert.throws(
    () => new HandshakeState({ protocolName: 'Noise_NNfallback_25519_AESGCM_SHA256', initiator: true }),
    isConfig,
  );
  assert.throws(
    () => new HandshakeState({ protocolName: IK, initiator: true, s: generateKeyPair() }),
    isConfig,
  );
  assert.throws(
    () => new HandshakeState({ protocolName: 'Noise_NNpsk0_25519_AESGCM_SHA256', initiator: true }),
    isConfig,
  );
  const nn = new HandshakeState({ protocolName: 'Noise_NN_25519_AESGCM_SHA256', initiator: false });
  assert.throws(
    () => nn.writeMessage(new Uint8Array(0)),
    (err: unknown) => err instanceof NoiseError && err.code === 'BRAID_ERR_NOISE_STATE',
  );
  assert.throws(
    () => nn.readMessage(new Uint8Array(5)),
    (err: unknown) => err instanceof NoiseError && err.code === 'BRAID_ERR_NOISE_MESSAGE',
  );
});

test('CipherState rekey changes the key deterministically and keeps the nonce', () => {
  const v = loadVectors().find((x) => x.protocol_name === 'Noise_NN_25519_ChaChaPoly_SHA256')!;
  const a = new HandshakeState({
    protocolName: v.protocol_name,
    initiator: true,
    e: keyPair(v.init_ephemeral),
  });
  const b = new HandshakeState({
    protocolName: v.protocol_name,
    initiator: false,
    e: keyPair(v.resp_ephemeral),
  });
  b.readMessage(a.writeMessage(new Uint8Array(0)));
  a.readMessage(b.writeMessage(new Uint8Array(0)));
  const send = a.split().initiatorToResponder;
  const receive = b.split().initiatorToResponder;
  const ad = new Uint8Array(3);
  const before = send.encryptWithAd(ad, new Uint8Array(10));
  receive.decryptWithAd(ad, before);
  send.rekey();
  const after = send.encryptWithAd(ad, new Uint8Array(10));
  assert.throws(() => receive.decryptWithAd(ad, after), NoiseError);
  receive.rekey();
  assert.deepEqual(receive.decryptWithAd(ad, after), new Uint8Array(10));
  send.setNonce(7);
  receive.setNonce(7);
  assert.deepEqual(
    receive.decryptWithAd(ad, send.encryptWithAd(ad, Uint8Array.of(1, 2))),
    Uint8Array.of(1, 2),
  );
});
