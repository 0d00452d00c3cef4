import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ChaChaPoly,
  CipherState,
  generateKeyPair,
  HandshakeState,
  NoiseError,
} from '../../src/crypto/noise/index.js';

const IK = 'Noise_IK_25519_ChaChaPoly_BLAKE2s';
const XX = 'Noise_XX_25519_ChaChaPoly_BLAKE2s';
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

function flipBit(message: Uint8Array, bit: number): Uint8Array {
  const out = new Uint8Array(message);
  out[bit >> 3] ^= 1 << (bit & 7);
  return out;
}

test('a failed read on a clone leaves the original able to read the genuine IK message', () => {
  const server = generateKeyPair();
  const client = generateKeyPair();
  const initiator = new HandshakeState({
    protocolName: IK,
    initiator: true,
    s: client,
    rs: server.publicKey,
  });
  const responder = new HandshakeState({ protocolName: IK, initiator: false, s: server });
  const first = initiator.writeMessage(bytes('hello'));
  // Bits in the ephemeral key, the encrypted static key and the payload tag.
  for (const bit of [3, 8 * 40, first.length * 8 - 1]) {
    const trial = responder.clone();
    assert.throws(
      () => trial.readMessage(flipBit(first, bit)),
      (err: unknown) => err instanceof NoiseError && err.code === 'BRAID_ERR_NOISE_DECRYPT',
      `bit ${bit}`,
    );
    assert.equal(responder.messageIndex, 0);
    assert.equal(responder.remoteStaticKey(), undefined, 'the failed read left no key behind');
  }
  const trial = responder.clone();
  assert.equal(text(trial.readMessage(first)), 'hello');
  // The clone carried the read; the original is untouched until the caller commits.
  assert.equal(trial.messageIndex, 1);
  assert.equal(responder.messageIndex, 0);
  assert.equal(text(responder.readMessage(first)), 'hello');
  assert.deepEqual(responder.handshakeHash(), trial.handshakeHash());

  // Both the original and its successful clone complete the handshake with the initiator.
  const second = trial.writeMessage(bytes('world'));
  const initiatorTrial = initiator.clone();
  assert.throws(() => initiatorTrial.readMessage(flipBit(second, 8 * 33 + 1)));
  assert.equal(text(initiator.readMessage(second)), 'world');
  assert.ok(initiator.isComplete && trial.isComplete);
  assert.deepEqual(initiator.split().initiatorKey, trial.split().initiatorKey);
  assert.deepEqual(initiator.handshakeHash(), trial.handshakeHash());
});

test('clones are independent: writing, failing and splitting on one leave the other as it was', () => {
  const initiator = new HandshakeState({ protocolName: XX, initiator: true, s: generateKeyPair() });
  // A fixed ephemeral: without one, each copy would draw its own when it writes.
  const responder = new HandshakeState({
    protocolName: XX,
    initiator: false,
    s: generateKeyPair(),
    e: generateKeyPair(),
  });
  responder.readMessage(initiator.writeMessage(new Uint8Array(0)));
  const copy = responder.clone();
  const fromCopy = copy.writeMessage(bytes('x'));
  const fromOriginal = responder.writeMessage(bytes('x'));
  // Same state (same ephemeral, same keys, same nonce) gives the same bytes.
  assert.deepEqual(fromCopy, fromOriginal);
  assert.equal(copy.messageIndex, 2);
  assert.equal(responder.messageIndex, 2);

  // A corrupted encrypted static key fails on the clone only.
  const trial = initiator.clone();
  assert.throws(() => trial.readMessage(flipBit(fromOriginal, 8 * 40)));
  assert.throws(() => trial.readMessage(fromOriginal), /already failed/);
  assert.equal(text(initiator.readMessage(fromOriginal)), 'x');
  const third = initiator.writeMessage(bytes('done'));
  assert.equal(text(responder.readMessage(third)), 'done');
  assert.ok(initiator.isComplete && responder.isComplete);

  // A completed state clones with independent transport ciphers.
  const done = responder.clone();
  const split = responder.split();
  const doneSplit = done.split();
  assert.notEqual(split.initiatorToResponder, doneSplit.initiatorToResponder);
  const sealed = initiator.split().initiatorToResponder.encryptWithAd(new Uint8Array(0), bytes('t'));
  assert.equal(text(split.initiatorToResponder.decryptWithAd(new Uint8Array(0), sealed)), 't');
  assert.equal(split.initiatorToResponder.nonceValue, 1);
  assert.equal(doneSplit.initiatorToResponder.nonceValue, 0);
});

test('CipherState.clone copies key and nonce; the copies advance separately', () => {
  const key = new Uint8Array(32).fill(7);
  const sender = new CipherState(ChaChaPoly, key);
  const receiver = new CipherState(ChaChaPoly, key);
  const ad = new Uint8Array(0);
  const first = sender.encryptWithAd(ad, bytes('one'));
  const copy = receiver.clone();
  assert.throws(() => copy.decryptWithAd(ad, flipBit(first, 0)));
  assert.equal(copy.nonceValue, 0);
  assert.equal(text(copy.decryptWithAd(ad, first)), 'one');
  assert.equal(copy.nonceValue, 1);
  assert.equal(receiver.nonceValue, 0);
  assert.equal(text(receiver.decryptWithAd(ad, first)), 'one');
  receiver.rekey();
  assert.equal(text(copy.decryptWithAd(ad, sender.encryptWithAd(ad, bytes('two')))), 'two');
  assert.equal(new CipherState(ChaChaPoly).clone().hasKey(), false);
});
