import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeySchedule } from '../../src/crypto/key-schedule.js';
import { AEAD_TAG_LENGTH } from '../../src/crypto/packet-protection.js';

const clientToServer = new Uint8Array(32).fill(0x11);
const serverToClient = new Uint8Array(32).fill(0x22);
const HEADER = 6;

function pair(): { client: KeySchedule; server: KeySchedule } {
  return {
    client: new KeySchedule(clientToServer, serverToClient),
    server: new KeySchedule(serverToClient, clientToServer),
  };
}

/** A sealed packet whose header byte 0 carries the sender's key phase bit, as the engine writes it. */
function send(
  from: KeySchedule,
  pn: number,
  body: number,
  pathId = 0,
): { bytes: Uint8Array; phase: number; pn: number } {
  const buf = new Uint8Array(HEADER + 8 + AEAD_TAG_LENGTH);
  buf[0] = 0x40 | (from.keyPhase << 2);
  buf.fill(body, HEADER, HEADER + 8);
  const length = from.sealPacket(buf, HEADER, 8, pathId, pn);
  return { bytes: buf.subarray(0, length), phase: from.keyPhase, pn };
}

function receive(to: KeySchedule, packet: { bytes: Uint8Array; phase: number; pn: number }, pathId = 0) {
  return to.openPacket(packet.bytes, HEADER, pathId, packet.pn, packet.phase);
}

/**
 * `to` receives a packet of `from`'s current phase and acknowledges it; `from` sees the ACK. Only
 * then may `from` start a key update (and `to` accept one).
 */
function acknowledge(from: KeySchedule, to: KeySchedule, pn: number): void {
  assert.ok(receive(to, send(from, pn, 0xaa)));
  to.onAckSent();
  from.confirmCurrentPhase();
}

test('both directions work in phase 0 and an update needs an acknowledged packet first', () => {
  const { client, server } = pair();
  assert.equal(receive(server, send(client, 0, 1))?.plaintext[0], 1);
  assert.equal(receive(client, send(server, 0, 2))?.plaintext[0], 2);
  assert.equal(client.keyPhase, 0);
  assert.equal(client.canInitiateUpdate, false);
  assert.throws(() => client.initiateUpdate());
  client.confirmCurrentPhase();
  assert.equal(client.canInitiateUpdate, true);
});

test('both sides update: the initiator switches at once, the peer follows on the first new-phase packet', () => {
  const { client, server } = pair();
  acknowledge(client, server, 0);
  client.initiateUpdate();
  assert.equal(client.keyPhase, 1);
  assert.equal(client.canInitiateUpdate, false, 'no second update before the new phase is acknowledged');

  const opened = receive(server, send(client, 1, 3));
  assert.ok(opened);
  assert.equal(opened.plaintext[0], 3);
  assert.equal(opened.peerUpdated, true);
  assert.equal(opened.keys, 'next');
  assert.equal(server.keyPhase, 1, 'the responder switched its own send keys too');

  const reply = receive(client, send(server, 1, 4));
  assert.ok(reply);
  assert.equal(reply.peerUpdated, false);
  assert.equal(reply.peerFollowed, true);
  assert.equal(receive(client, send(server, 2, 5))?.peerFollowed, false, 'reported once');

  // A second round, started by the other side this time (the client acknowledged its phase 1).
  client.onAckSent();
  server.confirmCurrentPhase();
  server.initiateUpdate();
  const third = receive(client, send(server, 3, 6));
  assert.equal(third?.peerUpdated, true);
  assert.equal(client.keyPhase, 0);
  assert.equal(receive(server, send(client, 2, 7))?.keys, 'current');
});

test('reordered old-phase packets still open until discardPrevious', () => {
  const { client, server } = pair();
  const late = [send(client, 0, 10), send(client, 1, 11)];
  acknowledge(client, server, 5);
  client.initiateUpdate();
  assert.equal(receive(server, send(client, 2, 12))?.peerUpdated, true);
  const first = receive(server, late[1]);
  assert.equal(first?.keys, 'previous');
  assert.equal(first?.peerUpdated, false);
  assert.equal(server.keyPhase, 1, 'an old packet does not move the phase back');
  assert.ok(server.hasPreviousKeys);
  server.discardPrevious();
  assert.equal(receive(server, late[0]), null);
  assert.equal(server.keyPhase, 1);
});

test('the initiator opens packets the peer sent before it noticed the update', () => {
  const { client, server } = pair();
  client.confirmCurrentPhase();
  client.initiateUpdate();
  const stillOld = send(server, 5, 20);
  assert.equal(stillOld.phase, 0);
  assert.equal(receive(client, stillOld)?.keys, 'previous');
});

test('a packet under a wrong key returns null and changes nothing', () => {
  const { server } = pair();
  const stranger = new KeySchedule(new Uint8Array(32).fill(0x33), new Uint8Array(32).fill(0x44));
  assert.equal(receive(server, send(stranger, 0, 1)), null);
  // Forged phase bit: tried with the next keys, fails, no promotion.
  const forged = send(stranger, 1, 1);
  assert.equal(receive(server, { ...forged, phase: 1 }), null);
  assert.equal(server.keyPhase, 0);
  // Right keys, wrong path id or packet number.
  const { client } = pair();
  const good = send(client, 9, 1, 3);
  assert.equal(server.openPacket(good.bytes, HEADER, 4, 9, 0), null);
  assert.equal(server.openPacket(good.bytes, HEADER, 3, 10, 0), null);
  assert.notEqual(server.openPacket(good.bytes, HEADER, 3, 9, 0), null);
});

test('a phase bit that does not match the keys used is rejected', () => {
  const { client, server } = pair();
  const packet = send(client, 0, 1);
  assert.equal(receive(server, { ...packet, phase: 1 }), null);
  assert.equal(server.keyPhase, 0);
});

test('both sides initiating at the same time converge on the same phase', () => {
  const { client, server } = pair();
  client.confirmCurrentPhase();
  server.confirmCurrentPhase();
  client.initiateUpdate();
  server.initiateUpdate();
  assert.equal(receive(server, send(client, 1, 1))?.keys, 'current');
  assert.equal(receive(client, send(server, 1, 2))?.keys, 'current');
  assert.equal(client.keyPhase, server.keyPhase);
});

test('an update before the previous phase was acknowledged is premature (KEY_UPDATE_ERROR)', () => {
  const { client, server } = pair();
  // No packet of the client's phase 0 reached the server and was acknowledged: a forced update.
  client.confirmCurrentPhase();
  client.initiateUpdate();
  const early = receive(server, send(client, 0, 1));
  assert.equal(early?.prematureUpdate, true);
  assert.equal(early?.peerUpdated, false);
  assert.equal(server.keyPhase, 0, 'the schedule does not advance');

  // Three back-to-back updates: the second comes before the server acknowledged phase 1.
  const fresh = pair();
  acknowledge(fresh.client, fresh.server, 0);
  fresh.client.initiateUpdate();
  assert.equal(receive(fresh.server, send(fresh.client, 1, 2))?.peerUpdated, true);
  fresh.client.confirmCurrentPhase(); // as a misbehaving peer would claim
  fresh.client.initiateUpdate();
  assert.equal(receive(fresh.server, send(fresh.client, 2, 3))?.prematureUpdate, true);
  // Once the server has acknowledged a phase-1 packet, the same update is in order.
  fresh.server.onAckSent();
  assert.equal(receive(fresh.server, send(fresh.client, 3, 4))?.peerUpdated, true);
  assert.equal(fresh.server.keyPhase, 0);
});
