import assert from 'node:assert/strict';
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  AEAD_TAG_LENGTH,
  HeaderProtection,
  type PacketAead,
  PacketKeys,
  protectHeader,
  unprotectHeader,
} from '../../src/crypto/packet-protection.js';

const AEADS: PacketAead[] = ['chacha20-poly1305', 'aes-256-gcm'];
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const secretA = hex('a1'.repeat(32));
const secretB = hex('b2'.repeat(32));

function packet(headerLen: number, payloadLen: number, fill = 0x5a): Uint8Array {
  const buf = new Uint8Array(headerLen + payloadLen + AEAD_TAG_LENGTH);
  for (let i = 0; i < headerLen; i++) buf[i] = 0x40 | i;
  buf.fill(fill, headerLen, headerLen + payloadLen);
  return buf;
}

/** The nonce rule written independently with BigInt: iv XOR (pathId u32 BE || pn u64 BE). */
function referenceNonce(iv: Uint8Array, pathId: number, pn: number): Uint8Array {
  const mixed = (BigInt(pathId) << 64n) | BigInt(pn);
  const out = new Uint8Array(12);
  for (let i = 0; i < 12; i++) out[i] = iv[i] ^ Number((mixed >> BigInt(8 * (11 - i))) & 0xffn);
  return out;
}

for (const aead of AEADS) {
  test(`${aead}: seal/open round trip for several payload sizes`, () => {
    const sender = PacketKeys.fromSecret(secretA, aead);
    const receiver = PacketKeys.fromSecret(secretA, aead);
    for (const size of [0, 1, 17, 1200, 1452]) {
      const buf = packet(9, size);
      const plain = buf.slice(9, 9 + size);
      const length = sender.seal(buf, 9, size, 3, 1000 + size);
      assert.equal(length, 9 + size + AEAD_TAG_LENGTH);
      if (size > 16) assert.notDeepEqual(buf.subarray(9, 9 + size), plain);
      assert.deepEqual(receiver.open(buf.subarray(0, length), 9, 3, 1000 + size), plain);
    }
  });

  test(`${aead}: matches the specified key/iv/nonce derivation`, () => {
    const key = new Uint8Array(hkdfSync('sha256', secretA, new Uint8Array(0), 'braid key', 32));
    const iv = new Uint8Array(hkdfSync('sha256', secretA, new Uint8Array(0), 'braid iv', 12));
    for (const [pathId, pn] of [
      [0, 0],
      [1, 7],
      [0xdeadbeef, 2 ** 40 + 5],
      [7, Number.MAX_SAFE_INTEGER],
    ]) {
      const buf = packet(5, 64);
      const header = buf.slice(0, 5);
      const plain = buf.slice(5, 69);
      PacketKeys.fromSecret(secretA, aead).seal(buf, 5, 64, pathId, pn);
      const cipher = createCipheriv(aead as 'aes-256-gcm', key, referenceNonce(iv, pathId, pn), {
        authTagLength: 16,
      });
      cipher.setAAD(header);
      const expected = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      assert.deepEqual(Buffer.from(buf.subarray(5)), expected, `pathId ${pathId} pn ${pn}`);
    }
  });

  test(`${aead}: flipping any single byte (header, ciphertext or tag) makes open return null`, () => {
    const keys = PacketKeys.fromSecret(secretA, aead);
    const buf = packet(12, 200);
    const length = keys.seal(buf, 12, 200, 1, 42);
    const sealed = buf.subarray(0, length);
    for (let i = 0; i < sealed.length; i++) {
      const tampered = sealed.slice();
      tampered[i] ^= 1 << (i % 8);
      assert.equal(keys.open(tampered, 12, 1, 42), null, `byte ${i}`);
    }
    assert.notEqual(keys.open(sealed, 12, 1, 42), null, 'the untouched packet still opens');
    assert.equal(keys.open(sealed.subarray(0, length - 1), 12, 1, 42), null, 'truncated');
  });

  test(`${aead}: the path id keeps nonces unique for equal packet numbers`, () => {
    const keys = PacketKeys.fromSecret(secretA, aead);
    const ciphertexts = new Set<string>();
    for (const pathId of [0, 1, 2, 0x100, 0x10000, 0xffffffff]) {
      const buf = packet(4, 32);
      keys.seal(buf, 4, 32, pathId, 5);
      ciphertexts.add(Buffer.from(buf).toString('hex'));
      assert.equal(keys.open(buf, 4, pathId ^ 1, 5), null, 'wrong path id');
      assert.equal(keys.open(buf, 4, pathId, 6), null, 'wrong packet number');
      assert.notEqual(keys.open(buf, 4, pathId, 5), null);
    }
    assert.equal(ciphertexts.size, 6);
  });

  test(`${aead}: next() derives different keys that both sides compute alike`, () => {
    const current = PacketKeys.fromSecret(secretA, aead);
    const next = current.next();
    const buf = packet(4, 40);
    next.seal(buf, 4, 40, 0, 9);
    assert.equal(current.open(buf, 4, 0, 9), null);
    assert.notEqual(PacketKeys.fromSecret(secretA, aead).next().open(buf, 4, 0, 9), null);
    assert.equal(PacketKeys.fromSecret(secretB, aead).next().open(buf, 4, 0, 9), null);
    assert.equal(next.next().open(buf, 4, 0, 9), null);
  });
}

test('the two AEADs do not interoperate (the choice is part of the session)', () => {
  const buf = packet(4, 40);
  PacketKeys.fromSecret(secretA, 'chacha20-poly1305').seal(buf, 4, 40, 0, 1);
  assert.equal(PacketKeys.fromSecret(secretA, 'aes-256-gcm').open(buf, 4, 0, 1), null);
});

test('seal rejects caller bugs; open rejects malformed input with null', () => {
  const keys = PacketKeys.fromSecret(secretA);
  assert.throws(() => keys.seal(new Uint8Array(20), 4, 10, 0, 0), RangeError);
  assert.throws(() => keys.seal(new Uint8Array(64), 4, 10, -1, 0), RangeError);
  assert.throws(() => keys.seal(new Uint8Array(64), 4, 10, 0, 2 ** 53), RangeError);
  assert.throws(() => PacketKeys.fromSecret(new Uint8Array(16)), RangeError);
  assert.equal(keys.open(new Uint8Array(10), 4, 0, 0), null);
  assert.equal(keys.open(new Uint8Array(40), 50, 0, 0), null);
  assert.equal(keys.open(new Uint8Array(40), 4, 0, -1), null);
  assert.equal(keys.open(new Uint8Array(40), 4, 2 ** 32, 0), null);
});

test('header protection masks match RFC 9001 appendix A (AES and ChaCha20)', () => {
  const aes = HeaderProtection.fromKey(hex('9f50449e04a0e810283a1e9933adedd2'), 'aes-128-ecb');
  assert.equal(Buffer.from(aes.mask(hex('d1b1c98dd7689fb8ec11d242b123dc9b'))).toString('hex'), '437b9aec36');
  const chacha = HeaderProtection.fromKey(
    hex('25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4'),
    'chacha20',
  );
  assert.equal(
    Buffer.from(chacha.mask(hex('5e5cd55c41f69080575d7999c25a5bfb'))).toString('hex'),
    'aefefe7d03',
  );
});

test('RFC 9001 A.5: ChaCha20 header protection of a short-header packet', () => {
  const hp = HeaderProtection.fromKey(
    hex('25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4'),
    'chacha20',
  );
  // Unprotected header 4200bff4 (pn 654360564 in 3 bytes, pn offset 1), then the AEAD output.
  const packetBytes = hex('4200bff4655e5cd55c41f69080575d7999c25a5bfb');
  protectHeader(hp, packetBytes, 1, 3);
  assert.equal(Buffer.from(packetBytes).toString('hex'), '4cfe4189655e5cd55c41f69080575d7999c25a5bfb');
  assert.deepEqual(unprotectHeader(hp, packetBytes, 1), { pnLength: 3, truncatedPn: 0x00bff4 });
  assert.equal(Buffer.from(packetBytes.subarray(0, 4)).toString('hex'), '4200bff4');
});

for (const algorithm of ['chacha20', 'aes-128-ecb'] as const) {
  test(`${algorithm} header protection round trip for every pn length and key phase`, () => {
    const hp = HeaderProtection.fromSecret(secretA, algorithm);
    for (let pnLength = 1; pnLength <= 4; pnLength++) {
      for (const keyPhase of [0, 1]) {
        const pnOffset = 9;
        const buf = new Uint8Array(pnOffset + pnLength + 40);
        buf.set(randomBytes(buf.length));
        buf[0] = 0x40 | (keyPhase << 2) | (pnLength - 1);
        const pnBytes = buf.slice(pnOffset, pnOffset + pnLength);
        const original = buf.slice();
        protectHeader(hp, buf, pnOffset, pnLength);
        assert.equal(buf[0] & 0xe0, 0x40, 'the top 3 bits of a short header stay visible');
        assert.deepEqual(
          buf.subarray(1, pnOffset),
          original.subarray(1, pnOffset),
          'the connection id is not masked',
        );
        const result = unprotectHeader(HeaderProtection.fromSecret(secretA, algorithm), buf, pnOffset);
        assert.ok(result);
        assert.equal(result.pnLength, pnLength);
        assert.equal(result.truncatedPn, Buffer.from(pnBytes).readUIntBE(0, pnLength));
        assert.deepEqual(buf, original);
      }
    }
  });
}

test('unprotectHeader returns null when the packet is too short to sample; protectHeader throws', () => {
  const hp = HeaderProtection.fromSecret(secretA);
  assert.equal(unprotectHeader(hp, new Uint8Array(24), 5), null);
  assert.notEqual(unprotectHeader(hp, new Uint8Array(25), 5), null);
  assert.throws(() => protectHeader(hp, new Uint8Array(24), 5, 1), RangeError);
});

test('a full protected packet: seal, protect, unprotect, open', () => {
  const keys = PacketKeys.fromSecret(secretA);
  const hp = HeaderProtection.fromSecret(secretA);
  const pnOffset = 9;
  const pnLength = 2;
  const buf = new Uint8Array(pnOffset + pnLength + 30 + AEAD_TAG_LENGTH);
  buf[0] = 0x40 | 0x04 | (pnLength - 1);
  buf[pnOffset] = 0x12;
  buf[pnOffset + 1] = 0x34;
  buf.fill(7, pnOffset + pnLength, pnOffset + pnLength + 30);
  const length = keys.seal(buf, pnOffset + pnLength, 30, 2, 0x1234);
  protectHeader(hp, buf, pnOffset, pnLength);
  const received = buf.slice(0, length);
  const header = unprotectHeader(hp, received, pnOffset)!;
  assert.equal(header.truncatedPn, 0x1234);
  assert.equal((received[0] >> 2) & 1, 1);
  assert.deepEqual(keys.open(received, pnOffset + header.pnLength, 2, 0x1234), new Uint8Array(30).fill(7));
});
