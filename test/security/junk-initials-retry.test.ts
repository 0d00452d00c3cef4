/**
 * Issue 12, item 1: junk INITIALs must not switch Retry off. The server's load is counted from
 * the handshakes it holds and the DH it spends; a rejected INITIAL never lowers it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { generateKeyPair } from '../../src/crypto/noise/index.js';
import { Endpoint, type ServerOptions } from '../../src/engine/endpoint.js';
import { socketAddress } from '../../src/net/address.js';
import { firstFlight, isRetry, junkIkInitial } from '../../testing/harness/first-flights.js';

const SERVER = socketAddress('203.0.113.1', 4433);
const random = (n: number) => new Uint8Array(randomBytes(n));

function server(options: Partial<ServerOptions>) {
  const key = generateKeyPair();
  const endpoint = new Endpoint({
    staticKey: key,
    server: { authorizedKeys: 'any', retry: 'under-load', ...options },
  });
  return { endpoint, key };
}

/** Hands `datagram` to the server from `port` and returns whether it answered with a Retry. */
function answeredWithRetry(endpoint: Endpoint, datagram: Uint8Array, port: number, now: number): boolean {
  const from = socketAddress('192.0.2.7', port);
  endpoint.receive(datagram, SERVER, from, now);
  let retry = false;
  for (let t = endpoint.pollTransmit(now); t; t = endpoint.pollTransmit(now))
    if (isRetry(t.data)) retry = true;
  return retry;
}

test('junk IK INITIALs mixed 1:1 into a flood of valid XX first flights leave Retry engaged', () => {
  const { endpoint } = server({ retryThreshold: 8, retryDhPerSecond: 1_000_000 });
  let port = 10_000;
  for (let i = 0; i < 8; i++) {
    const now = i;
    assert.equal(
      answeredWithRetry(endpoint, firstFlight(SERVER, socketAddress('192.0.2.7', port)), port++, now),
      false,
    );
    answeredWithRetry(endpoint, junkIkInitial(random), port++, now);
  }
  assert.equal(endpoint.connectionCount, 8, 'the 8 XX handshakes are still half-open, the junk left nothing');
  // The server is at its threshold: the next first flight, valid or not, must get a Retry.
  const legit = firstFlight(SERVER, socketAddress('192.0.2.7', port));
  assert.equal(answeredWithRetry(endpoint, legit, port, 20), true, 'Retry must stay engaged');
  assert.equal(endpoint.connectionCount, 8, 'no state for the INITIAL that got a Retry');
});

test('refused client keys count as DH spent: a flood of them engages Retry', () => {
  const authorized = generateKeyPair();
  const { endpoint, key } = server({ authorizedKeys: [authorized.publicKey], retryDhPerSecond: 50 });
  let port = 20_000;
  let retries = 0;
  for (let i = 0; i < 20; i++) {
    const from = socketAddress('192.0.2.7', port);
    if (answeredWithRetry(endpoint, firstFlight(SERVER, from, { serverKey: key.publicKey }), port++, 100))
      retries++;
  }
  // 50 DH per second allows 10 IK handshakes (5 DH each); the rest must get a Retry.
  assert.equal(retries, 10);
});
