/**
 * docs/vectors/braid-v1.json: the checked-in vectors must equal what the implementation
 * generates (so a change of the wire cannot go unnoticed), and each value must follow from its
 * formula in docs/protocol.md, recomputed here with node:crypto rather than Braid's own code.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { HandshakeState } from '../../src/crypto/noise/index.js';
import { decodeLongHeader } from '../../src/wire/packet-codec.js';
import { ikTraceJson, vectorsJson } from '../../testing/vectors/generate.js';

const text = readFileSync(new URL('../../docs/vectors/braid-v1.json', import.meta.url), 'utf8');
// biome-ignore lint/suspicious/noExplicitAny: the vectors are plain JSON.
const v: any = JSON.parse(text);
const b = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
const h = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const hkdf = (ikm: Uint8Array, salt: Uint8Array, info: string, length: number) =>
  new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
const EMPTY = new Uint8Array(0);

test('the checked-in vectors are what scripts/gen-vectors.ts generates now', () => {
  assert.deepEqual(
    v,
    JSON.parse(vectorsJson()),
    'run: node --import tsx scripts/gen-vectors.ts (after a deliberate change)',
  );
});

test('the checked-in IK session trace is what the implementation produces now', () => {
  const trace = readFileSync(new URL('../../docs/vectors/ik-session.json', import.meta.url), 'utf8');
  assert.deepEqual(
    JSON.parse(trace),
    JSON.parse(ikTraceJson()),
    'run: node --import tsx scripts/gen-vectors.ts (after a deliberate change)',
  );
  const entries = JSON.parse(trace).entries as {
    key_update?: string;
    from: string;
    to: string;
    header: { form: string; key_phase?: number; path_id?: number; packet_number?: number };
    frames?: { type: string }[];
  }[];
  // Every short-header packet shows what header protection hid: key phase, path id, packet number,
  // and the numbers grow in each sender's space; the key phase flips at the update.
  const largest = new Map<string, number>();
  for (const e of entries.filter((entry) => entry.header.form === 'short')) {
    const { key_phase, path_id, packet_number } = e.header;
    assert.ok(key_phase === 0 || key_phase === 1, `key phase of ${JSON.stringify(e.header)}`);
    assert.ok(Number.isInteger(path_id) && Number.isInteger(packet_number), JSON.stringify(e.header));
    const space = `${e.from.startsWith('client') ? 'client' : 'server'}/${path_id}`;
    assert.ok(packet_number! > (largest.get(space) ?? -1), `${space} ${packet_number}`);
    largest.set(space, Math.max(packet_number!, largest.get(space) ?? -1));
  }
  assert.ok(entries.some((e) => e.key_update && e.header.key_phase === 1));
  // The trace shows what it claims: a key update, a path validation on the new address, a close.
  assert.ok(entries.some((e) => e.key_update));
  assert.ok(
    entries.some((e) => e.to === 'client (rebound)' && e.frames?.some((f) => f.type === 'path_challenge')),
  );
  assert.ok(entries.some((e) => e.frames?.some((f) => f.type === 'close')));
});

test('prologues: "braid/1" || version || pattern || dcid_len || dcid || scid_len || scid [|| token]', () => {
  const ik = Buffer.concat([
    Buffer.from('braid/1'),
    b('42520001'),
    b('03'),
    b('08'),
    b(v.ik.original_dcid),
    b('08'),
    b(v.ik.client_cid),
  ]);
  assert.equal(v.ik.prologue, h(ik));
  const resume = Buffer.concat([
    Buffer.from('braid/1'),
    b('42520001'),
    b('02'),
    b('08'),
    b(v.resume.dcid),
    b('08'),
    b(v.resume.scid),
    b('10'),
    b(v.resume.identifier),
  ]);
  assert.equal(v.resume.prologue, h(resume));
});

test('IK: the server reads message 0, the client message 1, and both split to the listed secrets', () => {
  const keys = v.keys;
  const server = new HandshakeState({
    protocolName: v.ik.protocol_name,
    initiator: false,
    prologue: b(v.ik.prologue),
    s: { privateKey: b(keys.server_static.private), publicKey: b(keys.server_static.public) },
    e: { privateKey: b(keys.server_ephemeral.private), publicKey: b(keys.server_ephemeral.public) },
  });
  assert.equal(h(server.readMessage(b(v.ik.message0))), v.ik.message0_payload);
  assert.equal(h(server.remoteStaticKey()!), keys.client_static.public);
  assert.equal(h(server.writeMessage(b(v.ik.message1_payload))), v.ik.message1);
  const split = server.split();
  assert.equal(h(split.initiatorKey), v.ik.client_to_server_secret);
  assert.equal(h(split.responderKey), v.ik.server_to_client_secret);
  assert.equal(h(server.handshakeHash()), v.ik.handshake_hash);
});

test('IK INITIAL: 1200 bytes, message 0 then the mac, HMAC-SHA-256 under SHA-256("braid initial mac" || key)', () => {
  const datagram = b(v.ik.initial_datagram);
  assert.equal(datagram.length, 1200);
  const macKey = createHash('sha256')
    .update('braid initial mac')
    .update(b(v.keys.server_static.public))
    .digest();
  assert.equal(v.ik.initial_mac_key, h(macKey));
  const packet = decodeLongHeader(datagram);
  assert.equal(packet.kind, 'initial');
  if (packet.kind !== 'initial') return;
  assert.equal(h(packet.payload.subarray(0, -16)), v.ik.message0);
  const macAt = packet.payload.byteOffset - datagram.byteOffset + packet.payload.length - 16;
  const mac = createHmac('sha256', macKey).update(datagram.subarray(0, macAt)).digest().subarray(0, 16);
  assert.equal(h(packet.payload.subarray(-16)), h(mac));
});

test('resumption secret = HKDF-SHA256(k_i || k_r, salt = h, "braid resumption secret")', () => {
  const ikm = Buffer.concat([b(v.ik.client_to_server_secret), b(v.ik.server_to_client_secret)]);
  assert.equal(h(hkdf(ikm, b(v.ik.handshake_hash), 'braid resumption secret', 32)), v.ik.resumption_secret);
});

test('XX: three messages, the responder reads both of the initiator, same split', () => {
  const keys = v.keys;
  const server = new HandshakeState({
    protocolName: v.xx.protocol_name,
    initiator: false,
    prologue: b(v.xx.prologue),
    s: { privateKey: b(keys.server_static.private), publicKey: b(keys.server_static.public) },
    e: { privateKey: b(keys.server_ephemeral.private), publicKey: b(keys.server_ephemeral.public) },
  });
  server.readMessage(b(v.xx.message0));
  assert.equal(h(server.writeMessage(b(v.xx.message1_payload))), v.xx.message1);
  assert.equal(h(server.readMessage(b(v.xx.message2))), v.xx.message2_payload);
  assert.equal(h(server.split().initiatorKey), v.xx.client_to_server_secret);
  assert.equal(h(server.handshakeHash()), v.xx.handshake_hash);
});

/** Recomputes a protected packet from its generation's secret with node:crypto only. */
function checkPacket(
  secret: Uint8Array,
  hpKey: Uint8Array,
  p: (typeof v.packet_protection)['generation_0'],
): void {
  const key = hkdf(secret, EMPTY, 'braid key', 32);
  const iv = hkdf(secret, EMPTY, 'braid iv', 12);
  const nonce = Buffer.from(iv);
  const numbers = Buffer.alloc(12);
  numbers.writeUInt32BE(p.path_id, 0);
  numbers.writeBigUInt64BE(BigInt(p.packet_number), 4);
  for (let i = 0; i < 12; i++) nonce[i] ^= numbers[i];
  const header = b(p.header_unprotected);
  assert.equal(header[0], 0x40 | (p.key_phase << 2) | (p.pn_length - 1));
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  cipher.setAAD(header, { plaintextLength: b(p.frames).length });
  const sealed = Buffer.concat([header, cipher.update(b(p.frames)), cipher.final(), cipher.getAuthTag()]);
  assert.equal(h(sealed), p.sealed_before_header_protection);
  // Header protection: ChaCha20 keystream with counter || nonce = the 16-byte sample.
  const pnOffset = header.length - p.pn_length;
  const sample = sealed.subarray(pnOffset + 4, pnOffset + 20);
  assert.equal(h(sample), p.sample);
  const mask = createCipheriv('chacha20', hpKey, sample).update(Buffer.alloc(5));
  const protectedBytes = Buffer.from(sealed);
  protectedBytes[0] ^= mask[0] & 0x1f;
  for (let i = 0; i < p.pn_length; i++) protectedBytes[pnOffset + i] ^= mask[1 + i];
  assert.equal(h(protectedBytes), p.datagram);
}

test('packet protection, generation 0 and after a key update (secret_1 = HKDF(secret_0, "braid ku"))', () => {
  const secret0 = b(v.packet_protection.secret);
  assert.equal(v.packet_protection.secret, v.ik.client_to_server_secret);
  const hpKey = hkdf(secret0, EMPTY, 'braid hp', 32);
  checkPacket(secret0, hpKey, v.packet_protection.generation_0);
  const secret1 = hkdf(secret0, EMPTY, 'braid ku', 32);
  // The header-protection key stays generation 0's.
  checkPacket(secret1, hpKey, v.packet_protection.generation_1);
  assert.equal(v.packet_protection.generation_1.key_phase, 1);
});

test('RESUME: IKpsk2 message 0 with the resumption secret, read by the server', () => {
  const datagram = b(v.resume.datagram);
  assert.equal(datagram.length, 1200);
  const packet = decodeLongHeader(datagram);
  assert.equal(packet.kind, 'resume');
  if (packet.kind !== 'resume') return;
  assert.equal(h(packet.token), v.resume.identifier);
  assert.equal(v.resume.psk, v.ik.resumption_secret);
  const keys = v.keys;
  const server = new HandshakeState({
    protocolName: v.resume.protocol_name,
    initiator: false,
    prologue: b(v.resume.prologue),
    s: { privateKey: b(keys.server_static.private), publicKey: b(keys.server_static.public) },
    e: { privateKey: b(keys.server_ephemeral.private), publicKey: b(keys.server_ephemeral.public) },
    psks: [b(v.resume.psk)],
  });
  assert.equal(server.readMessage(packet.payload).length, 0);
  assert.equal(h(server.remoteStaticKey()!), keys.client_static.public);
});

test('ticket: nonce || ChaCha20-Poly1305(version || id || expiry (48) || client key || max early data (32))', () => {
  const t = v.ticket;
  const ticket = b(t.ticket);
  assert.equal(h(ticket.subarray(0, 12)), t.nonce);
  const decipher = createDecipheriv('chacha20-poly1305', b(t.key), ticket.subarray(0, 12), {
    authTagLength: 16,
  });
  decipher.setAAD(Buffer.from(t.aad), { plaintextLength: ticket.length - 28 });
  decipher.setAuthTag(ticket.subarray(-16));
  const plain = Buffer.concat([decipher.update(ticket.subarray(12, -16)), decipher.final()]);
  assert.equal(plain[0], 1);
  assert.equal(h(plain.subarray(1, 17)), t.ticket_id);
  assert.equal(plain.readUIntBE(17, 6), t.expiry_ms);
  assert.equal(h(plain.subarray(23, 55)), t.client_key);
  assert.equal(plain.readUInt32BE(55), t.max_early_data);
});
