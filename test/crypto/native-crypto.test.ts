/**
 * The OpenSSL-backed addon (native/braid_crypto.cc) against libsodium: the same AEAD output
 * for the same key, nonce, header and payload, tampering rejected, the input never modified
 * on open, and the same RFC 9001 header-protection mask. On Linux the addon must be built by
 * `npm ci` (this test fails with the reason otherwise) unless BRAID_NATIVE_CRYPTO=0.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import sodium from 'sodium-native';
import { nativeCrypto } from '../../src/crypto/native-crypto.js';
import { loadAddon } from '../../src/native/addons.js';

const expected = process.platform === 'linux' && process.env.BRAID_NATIVE_CRYPTO !== '0';

test('the crypto addon is available where it must be built', () => {
  if (!expected) return;
  const { error } = loadAddon('braid_crypto');
  assert.equal(error, undefined, `braid_crypto must load on Linux: ${error}`);
  assert.ok(nativeCrypto());
});

test('ChaCha20-Poly1305: OpenSSL and libsodium agree; tampering fails; open leaves its input alone', {
  skip: !nativeCrypto(),
}, () => {
  const addon = nativeCrypto()!;
  for (const [headerLen, payloadLen] of [
    [1, 0],
    [9, 1],
    [21, 1163],
    [30, 16_000],
  ] as const) {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const plain = randomBytes(headerLen + payloadLen);
    const native = Buffer.alloc(headerLen + payloadLen + 16);
    plain.copy(native);
    const aead = new addon.ChaChaPolyKey(key);
    assert.equal(aead.seal(native, headerLen, payloadLen, nonce), native.length);
    const reference = Buffer.alloc(payloadLen + 16);
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
      reference,
      plain.subarray(headerLen),
      plain.subarray(0, headerLen),
      null,
      nonce,
      key,
    );
    assert.deepEqual(native.subarray(headerLen), reference, `sizes ${headerLen}/${payloadLen}`);
    const out = Buffer.alloc(payloadLen);
    const before = Buffer.from(native);
    assert.equal(aead.open(native, headerLen, nonce, out), payloadLen);
    assert.deepEqual(out, plain.subarray(headerLen));
    assert.deepEqual(native, before, 'open modified its input');
    for (const at of [0, headerLen, native.length - 1]) {
      const bad = Buffer.from(native);
      bad[at]! ^= 0x01;
      assert.equal(aead.open(bad, headerLen, nonce, out), -1, `flipped byte ${at} accepted`);
    }
    assert.equal(aead.open(native, headerLen, randomBytes(12), out), -1, 'wrong nonce accepted');
  }
});

test('ChaCha20-Poly1305 addon: bad arguments give -1 or a RangeError, never a crash', {
  skip: !nativeCrypto(),
}, () => {
  const addon = nativeCrypto()!;
  assert.throws(() => new addon.ChaChaPolyKey(new Uint8Array(31)), RangeError);
  const aead = new addon.ChaChaPolyKey(randomBytes(32));
  assert.equal(aead.seal(new Uint8Array(20), 4, 8, new Uint8Array(12)), -1, 'no room for the tag');
  assert.equal(aead.seal(new Uint8Array(40), 4, 8, new Uint8Array(11)), -1, 'short nonce');
  assert.equal(
    aead.open(new Uint8Array(10), 4, new Uint8Array(12), new Uint8Array(10)),
    -1,
    'shorter than a tag',
  );
  assert.equal(aead.open(new Uint8Array(60), 4, new Uint8Array(12), new Uint8Array(4)), -1, 'out too small');
});

test('ChaCha20 header protection: the addon mask equals libsodium xor_ic (RFC 9001 §5.4.4)', {
  skip: !nativeCrypto(),
}, () => {
  const addon = nativeCrypto()!;
  const key = randomBytes(32);
  const header = new addon.ChaChaHeaderKey(key);
  for (let i = 0; i < 50; i++) {
    const packet = randomBytes(64);
    const offset = i % 40;
    const mask = new Uint8Array(5);
    assert.equal(header.mask(packet, offset, mask), 0);
    const sample = packet.subarray(offset, offset + 16);
    const reference = new Uint8Array(5);
    sodium.crypto_stream_chacha20_ietf_xor_ic(
      reference,
      new Uint8Array(5),
      sample.subarray(4),
      sample.readUInt32LE(0),
      key,
    );
    assert.deepEqual(mask, reference);
  }
  assert.equal(header.mask(randomBytes(20), 8, new Uint8Array(5)), -1, 'sample past the end');
});

test('sealAndProtect: one native call gives exactly seal() then protectHeader(); bad arguments still throw', {
  skip: !nativeCrypto(),
}, async () => {
  const { PacketKeys, HeaderProtection, protectHeader, unprotectHeader } = await import(
    '../../src/crypto/packet-protection.js'
  );
  const secret = randomBytes(32);
  const hpSecret = randomBytes(32);
  const keys = PacketKeys.fromSecret(secret);
  const hp = HeaderProtection.fromSecret(hpSecret);
  for (const [first, pnLength, payload] of [
    [0x40, 1, 30],
    [0x43, 4, 1163],
    [0xc1, 2, 200],
  ] as const) {
    const headerLength = 9 + pnLength;
    const packet = randomBytes(headerLength + payload + 16);
    packet[0] = first;
    const fused = Buffer.from(packet);
    const separate = Buffer.from(packet);
    const pnOffset = headerLength - pnLength;
    assert.equal(
      keys.sealAndProtect(fused, headerLength, payload, 3, 77, hp, pnOffset, pnLength),
      packet.length,
    );
    keys.seal(separate, headerLength, payload, 3, 77);
    protectHeader(hp, separate, pnOffset, pnLength);
    assert.deepEqual(fused, separate, `first byte ${first.toString(16)}, pn length ${pnLength}`);
    // And the receiving side reads it back.
    const got = unprotectHeader(HeaderProtection.fromSecret(hpSecret), fused, pnOffset);
    assert.equal(got?.pnLength, pnLength);
    assert.ok(PacketKeys.fromSecret(secret).open(fused, headerLength, 3, 77));
  }
  assert.throws(() => keys.sealAndProtect(new Uint8Array(20), 10, 40, 0, 1, hp, 8, 2), RangeError);
});
