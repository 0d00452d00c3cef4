/**
 * Test vectors for docs/protocol.md, computed from fixed keys and fixed "random" bytes, so the
 * output never changes unless the protocol (or a bug) does. `scripts/gen-vectors.ts` writes them
 * to docs/vectors/; test/wire/vectors.test.ts checks that the checked-in file equals this output
 * and recomputes each value from its formula with node:crypto.
 */

import { INITIAL_MAC_LENGTH, initialMacKey, sealInitialMac } from '../../src/crypto/initial-mac.js';
import { KeySchedule } from '../../src/crypto/key-schedule.js';
import { HandshakeState, type KeyPair, publicKeyFromPrivate } from '../../src/crypto/noise/index.js';
import { HeaderProtection, protectHeader } from '../../src/crypto/packet-protection.js';
import { deriveResumptionSecret, RESUME_PROTOCOL_NAME } from '../../src/crypto/resumption.js';
import { TicketSealer } from '../../src/crypto/tickets.js';
import {
  handshakePrologue,
  IK_MAC_PATTERN,
  PROTOCOL_NAMES,
  RESUME_PATTERN,
} from '../../src/engine/handshake.js';
import { encodeFrames } from '../../src/wire/frame-codec.js';
import { BRAID_VERSION_1 } from '../../src/wire/packet.js';
import {
  encodeInitial,
  encodeResume,
  initialPayloadEnd,
  writeShortHeader,
} from '../../src/wire/packet-codec.js';
import { encodeTransportParameters } from '../../src/wire/transport-params.js';
import { generateIkTrace } from './ik-trace.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const fill = (n: number, byte: number) => new Uint8Array(n).fill(byte);

function keyPair(fillByte: number): KeyPair {
  const privateKey = fill(32, fillByte);
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

function pairJson(k: KeyPair) {
  return { private: hex(k.privateKey), public: hex(k.publicKey) };
}

/** A protected short-header packet, with every intermediate step. */
function protectedPacket(
  schedule: KeySchedule,
  hp: HeaderProtection,
  dcid: Uint8Array,
  pathId: number,
  pn: number,
) {
  const frames = encodeFrames([
    { type: 'stream', streamId: 0, offset: 0, data: new TextEncoder().encode('hello, braid'), fin: true },
  ]);
  const pnLength = 2;
  const buf = new Uint8Array(1 + dcid.length + pnLength + frames.length + 16);
  const headerLength = writeShortHeader(buf, dcid, schedule.keyPhase, pnLength, pn & 0xffff);
  const header = buf.slice(0, headerLength);
  buf.set(frames, headerLength);
  const length = schedule.sealPacket(buf, headerLength, frames.length, pathId, pn);
  const sealed = buf.slice(0, length);
  protectHeader(hp, buf, headerLength - pnLength, pnLength);
  return {
    path_id: pathId,
    packet_number: pn,
    pn_length: pnLength,
    key_phase: schedule.keyPhase,
    dcid: hex(dcid),
    frames: hex(frames),
    header_unprotected: hex(header),
    sealed_before_header_protection: hex(sealed),
    sample: hex(sealed.subarray(headerLength - pnLength + 4, headerLength - pnLength + 20)),
    datagram: hex(buf.subarray(0, length)),
  };
}

export function generateVectors(): Record<string, unknown> {
  const clientStatic = keyPair(0x11);
  const serverStatic = keyPair(0x22);
  const clientEphemeral = keyPair(0x33);
  const serverEphemeral = keyPair(0x44);
  const dcid = Uint8Array.from([0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8]);
  const clientCid = Uint8Array.from([0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8]);
  const serverCid = Uint8Array.from([0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8]);

  // IK with the INITIAL mac (pattern 3): messages 0 and 1 with transport parameters as payloads.
  const ikPrologue = handshakePrologue(IK_MAC_PATTERN, dcid, clientCid);
  const ikName = PROTOCOL_NAMES[0];
  const client = new HandshakeState({
    protocolName: ikName,
    initiator: true,
    prologue: ikPrologue,
    s: clientStatic,
    e: clientEphemeral,
    rs: serverStatic.publicKey,
  });
  const server = new HandshakeState({
    protocolName: ikName,
    initiator: false,
    prologue: ikPrologue,
    s: serverStatic,
    e: serverEphemeral,
  });
  const clientParams = encodeTransportParameters({ initialSourceConnectionId: clientCid });
  const serverParams = encodeTransportParameters({
    initialSourceConnectionId: serverCid,
    originalDestinationConnectionId: dcid,
    statelessResetToken: fill(16, 0x5e),
  });
  const message0 = client.writeMessage(clientParams);
  server.readMessage(message0);
  const message1 = server.writeMessage(serverParams);
  client.readMessage(message1);
  const split = client.split();
  const initialPacket = {
    kind: 'initial' as const,
    version: BRAID_VERSION_1,
    dcid,
    scid: clientCid,
    token: new Uint8Array(0),
    pattern: IK_MAC_PATTERN,
    payload: new Uint8Array([...message0, ...new Uint8Array(INITIAL_MAC_LENGTH)]),
  };
  const initial = encodeInitial(initialPacket);
  const macKey = initialMacKey(serverStatic.publicKey);
  sealInitialMac(initial, initialPayloadEnd(initialPacket) - INITIAL_MAC_LENGTH, macKey);
  const handshakeHash = client.handshakeHash();
  const resumptionSecret = deriveResumptionSecret(split.initiatorKey, split.responderKey, handshakeHash);

  // XX (pattern 1), with empty-token prologue and transport parameters in messages 1 and 2.
  const xxPrologue = handshakePrologue(1, dcid, clientCid);
  const xxName = PROTOCOL_NAMES[1];
  const xxClient = new HandshakeState({
    protocolName: xxName,
    initiator: true,
    prologue: xxPrologue,
    s: clientStatic,
    e: clientEphemeral,
  });
  const xxServer = new HandshakeState({
    protocolName: xxName,
    initiator: false,
    prologue: xxPrologue,
    s: serverStatic,
    e: serverEphemeral,
  });
  const xx0 = xxClient.writeMessage(new Uint8Array(0));
  xxServer.readMessage(xx0);
  const xx1 = xxServer.writeMessage(serverParams);
  xxClient.readMessage(xx1);
  const xx2 = xxClient.writeMessage(clientParams);
  xxServer.readMessage(xx2);
  const xxSplit = xxClient.split();

  // Packet protection of the IK session's client→server direction, generation 0, then after one
  // key update (generation 1, key phase 1).
  const sendSchedule = new KeySchedule(split.initiatorKey, split.responderKey);
  const hp = HeaderProtection.fromSecret(split.initiatorKey);
  const phase0 = protectedPacket(sendSchedule, hp, serverCid, 0, 0x1234);
  sendSchedule.confirmCurrentPhase();
  sendSchedule.initiateUpdate();
  const phase1 = protectedPacket(sendSchedule, hp, serverCid, 0, 0x1235);

  // RESUME: IKpsk2 message 0 with the IK session's resumption secret as PSK.
  const resumeDcid = fill(8, 0xd1);
  const resumeScid = fill(8, 0xd2);
  const identifier = fill(16, 0xcc);
  const resumeEphemeral = keyPair(0x55);
  const resumePrologue = handshakePrologue(
    RESUME_PATTERN,
    resumeDcid,
    resumeScid,
    BRAID_VERSION_1,
    identifier,
  );
  const resumer = new HandshakeState({
    protocolName: RESUME_PROTOCOL_NAME,
    initiator: true,
    prologue: resumePrologue,
    s: clientStatic,
    e: resumeEphemeral,
    rs: serverStatic.publicKey,
    psks: [resumptionSecret],
  });
  const resumeMessage0 = resumer.writeMessage(new Uint8Array(0));
  const resume = encodeResume({
    kind: 'resume',
    version: BRAID_VERSION_1,
    dcid: resumeDcid,
    scid: resumeScid,
    token: identifier,
    pattern: RESUME_PATTERN,
    payload: resumeMessage0,
  });

  // A 0-RTT ticket: the sealer draws its key, then the ticket id, then the nonce.
  const ticketKey = fill(32, 0x71);
  const ticketId = fill(16, 0x72);
  const ticketNonce = fill(12, 0x73);
  const draws = [ticketKey, ticketId, ticketNonce];
  const sealer = new TicketSealer((n) => {
    const next = draws.shift();
    if (next?.length !== n) throw new Error('ticket vector: unexpected draw');
    return next;
  });
  const ticket = sealer.seal(clientStatic.publicKey, 1_800_000_000_000, 16_384);

  return {
    description:
      'Braid v1 test vectors (docs/protocol.md). Hex strings; generated by scripts/gen-vectors.ts from the fixed inputs below.',
    version: BRAID_VERSION_1,
    keys: {
      client_static: pairJson(clientStatic),
      server_static: pairJson(serverStatic),
      client_ephemeral: pairJson(clientEphemeral),
      server_ephemeral: pairJson(serverEphemeral),
    },
    ik: {
      protocol_name: ikName,
      original_dcid: hex(dcid),
      client_cid: hex(clientCid),
      server_cid: hex(serverCid),
      prologue: hex(ikPrologue),
      message0_payload: hex(clientParams),
      message0: hex(message0),
      initial_mac_key: hex(macKey),
      initial_datagram: hex(initial),
      message1_payload: hex(serverParams),
      message1: hex(message1),
      handshake_hash: hex(handshakeHash),
      client_to_server_secret: hex(split.initiatorKey),
      server_to_client_secret: hex(split.responderKey),
      resumption_secret: hex(resumptionSecret),
    },
    xx: {
      protocol_name: xxName,
      prologue: hex(xxPrologue),
      message0: hex(xx0),
      message1_payload: hex(serverParams),
      message1: hex(xx1),
      message2_payload: hex(clientParams),
      message2: hex(xx2),
      handshake_hash: hex(xxClient.handshakeHash()),
      client_to_server_secret: hex(xxSplit.initiatorKey),
      server_to_client_secret: hex(xxSplit.responderKey),
    },
    packet_protection: {
      secret: hex(split.initiatorKey),
      generation_0: phase0,
      generation_1: phase1,
    },
    resume: {
      protocol_name: RESUME_PROTOCOL_NAME,
      psk: hex(resumptionSecret),
      client_ephemeral: pairJson(resumeEphemeral),
      dcid: hex(resumeDcid),
      scid: hex(resumeScid),
      identifier: hex(identifier),
      prologue: hex(resumePrologue),
      message0: hex(resumeMessage0),
      datagram: hex(resume),
    },
    ticket: {
      key: hex(ticketKey),
      ticket_id: hex(ticketId),
      nonce: hex(ticketNonce),
      expiry_ms: 1_800_000_000_000,
      client_key: hex(clientStatic.publicKey),
      max_early_data: 16_384,
      aad: 'braid ticket v1',
      ticket: hex(ticket),
    },
  };
}

/** The JSON text of docs/vectors/braid-v1.json. */
export function vectorsJson(): string {
  return `${JSON.stringify(generateVectors(), null, 2)}\n`;
}

/** The JSON text of docs/vectors/ik-session.json. */
export function ikTraceJson(): string {
  return `${JSON.stringify(generateIkTrace(), null, 2)}\n`;
}
