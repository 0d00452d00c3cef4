import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair } from '../../src/crypto/noise/index.js';
import { TransportError } from '../../src/wire/errors.js';
import { Pair } from '../../testing/harness/engine-pair.js';

test('IK handshake completes in one round trip and both sides learn each other', () => {
  const pair = new Pair();
  pair.connect();
  // Client completes after one RTT (2 × 10 ms one-way latency).
  pair.runUntil(() => pair.clientEvents.some((e) => e.type === 'handshake-complete'));
  assert.ok(pair.now <= 20, `handshake took ${pair.now} ms`);
  // The server reports the session when the client's first packet confirms it, half an RTT later.
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'handshake-complete'));
  assert.ok(pair.now <= 30, `confirmation took ${pair.now} ms`);
  assert.equal(pair.clientConn.state, 'established');
  assert.deepEqual(pair.clientConn.remoteKey, pair.serverKey.publicKey);
  assert.deepEqual(pair.serverConn.remoteKey, pair.clientKey.publicKey);
  assert.deepEqual(pair.clientConn.channelBinding(), pair.serverConn.channelBinding());
  assert.equal(pair.clientConn.channelBinding().length, 32);
});

test('XX handshake (first contact) lets the client learn the server key', () => {
  const pair = new Pair();
  pair.handshake({ pinServerKey: false });
  assert.deepEqual(pair.clientConn.remoteKey, pair.serverKey.publicKey);
  assert.deepEqual(pair.serverConn.remoteKey, pair.clientKey.publicKey);
  assert.deepEqual(pair.clientConn.channelBinding(), pair.serverConn.channelBinding());
});

test('a client pinning the wrong server key never completes and creates no server state', () => {
  const pair = new Pair({ transport: { handshakeTimeout: 2000 } });
  pair.client; // pin someone else's key
  const wrong = generateKeyPair().publicKey;
  const conn = pair.client.connect(
    { address: '203.0.113.1', port: 4433, family: 'IPv4' },
    { address: '192.0.2.1', port: 40000, family: 'IPv4' },
    { serverKey: wrong },
    0,
  );
  pair.clientConn = conn;
  pair.runUntil(() => conn.state === 'closed', 10_000);
  assert.equal(pair.serverConns.length, 0);
  // The INITIAL's mac is keyed by the key the client pinned: dropped before any DH.
  assert.ok((pair.server.stats.drops['initial-bad-mac'] ?? 0) >= 1);
  const closed = pair.clientEvents.find((e) => e.type === 'closed');
  assert.ok(closed && closed.type === 'closed' && closed.info.source === 'handshake-timeout');
});

test('an unauthorized client key is refused with UNAUTHORIZED_KEY', () => {
  const pair = new Pair({ server: { authorizedKeys: [generateKeyPair().publicKey] } });
  pair.connect();
  pair.runUntil(() => pair.clientEvents.some((e) => e.type === 'closed'));
  const closed = pair.clientEvents.find((e) => e.type === 'closed');
  assert.ok(closed?.type === 'closed');
  assert.equal(closed.info.code, TransportError.UNAUTHORIZED_KEY);
  assert.equal(closed.info.source, 'peer');
});

test('an authorized client key is accepted', () => {
  const clientKey = generateKeyPair();
  const pair = new Pair({ clientKey, server: { authorizedKeys: [clientKey.publicKey] } });
  pair.handshake();
  assert.equal(pair.serverConn.state, 'established');
});

test('stateless retry: the server spends no DH until the client proves its address', () => {
  const pair = new Pair({ server: { retry: 'always' } });
  let retries = 0;
  pair.hook = (from, data) => {
    if (from === 'server' && (data[0] & 0xf0) === 0xf0) retries++;
    return undefined;
  };
  pair.handshake();
  assert.equal(retries, 1);
  assert.equal(pair.serverConns.length, 1);
});

test('handshake survives loss of the first flights in both directions', () => {
  const pair = new Pair();
  let droppedClient = 0;
  let droppedServer = 0;
  pair.hook = (from) => {
    if (from === 'client' && droppedClient < 2) {
      droppedClient++;
      return false;
    }
    if (from === 'server' && droppedServer < 2) {
      droppedServer++;
      return false;
    }
    return undefined;
  };
  pair.handshake();
  assert.equal(pair.serverConns.length, 1, 'retransmitted INITIALs must map to one server session');
});

test('XX handshake survives loss of the third message', () => {
  const pair = new Pair();
  let dropped = false;
  pair.hook = (from, data) => {
    // First client HANDSHAKE packet (message 2): long header, type 2.
    if (!dropped && from === 'client' && (data[0] & 0xf0) === 0xe0) {
      dropped = true;
      return false;
    }
    return undefined;
  };
  pair.handshake({ pinServerKey: false });
  assert.ok(dropped);
  assert.equal(pair.serverConn.state, 'established');
});

test('the handshake times out cleanly when the server never answers', () => {
  const pair = new Pair({ transport: { handshakeTimeout: 3000 } });
  pair.hook = (from) => from !== 'client';
  pair.connect();
  pair.runUntil(() => pair.clientConn.state === 'closed', 10_000);
  const closed = pair.clientEvents.find((e) => e.type === 'closed');
  assert.ok(closed?.type === 'closed' && closed.info.source === 'handshake-timeout');
});

test('a corrupted connection ID in the server HANDSHAKE header is dropped, not fatal', () => {
  const pair = new Pair();
  let corrupted = false;
  pair.hook = (from, data) => {
    if (!corrupted && from === 'server' && (data[0] & 0xf0) === 0xe0) {
      corrupted = true;
      const copy = Uint8Array.prototype.slice.call(data);
      // byte0, version (4), dcid_len, dcid (8), scid_len, then the server's SCID.
      copy[1 + 4 + 1 + 8 + 1] ^= 0x01;
      return copy;
    }
    return undefined;
  };
  pair.handshake();
  assert.ok(corrupted);
  assert.equal(pair.clientConn.stats.drops['handshake-header-mismatch'], 1);
  assert.equal(pair.clientConn.state, 'established');
});
