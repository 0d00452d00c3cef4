/**
 * Issue 12, item 2: a junk IK INITIAL must not cost the server a Diffie–Hellman operation. IK
 * INITIALs end with a mac keyed by the server's public key (pattern 3), checked before any DH;
 * IK without it (pattern 0) is answered with a Retry; `retry: 'always'` and load make every
 * first flight prove its address before any DH.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { generateKeyPair } from '../../src/crypto/noise/index.js';
import { Endpoint, type ServerOptions } from '../../src/engine/endpoint.js';
import { socketAddress } from '../../src/net/address.js';
import { Pair } from '../../testing/harness/engine-pair.js';
import { countX25519, firstFlight, isRetry, junkIkInitial } from '../../testing/harness/first-flights.js';

const SERVER = socketAddress('203.0.113.1', 4433);
const random = (n: number) => new Uint8Array(randomBytes(n));

function server(options: Partial<ServerOptions> = {}) {
  const key = generateKeyPair();
  const endpoint = new Endpoint({ staticKey: key, server: { authorizedKeys: 'any', ...options } });
  return { endpoint, key };
}

/** Feeds datagrams to the server; returns the X25519 operations it made and the Retries it sent. */
function feed(endpoint: Endpoint, datagrams: Uint8Array[], now = 0): { operations: number; retries: number } {
  let retries = 0;
  const { operations } = countX25519(() => {
    datagrams.forEach((d, i) => {
      endpoint.receive(d, SERVER, socketAddress('192.0.2.9', 30_000 + i), now);
      for (let t = endpoint.pollTransmit(now); t; t = endpoint.pollTransmit(now))
        if (isRetry(t.data)) retries++;
    });
  });
  return { operations, retries };
}

test('junk IK INITIALs cost the server no DH and no state, and are counted drops', () => {
  const { endpoint } = server();
  const junkWithMac = Array.from({ length: 200 }, () => junkIkInitial(random, 3));
  const junkLegacy = Array.from({ length: 200 }, () => junkIkInitial(random, 0));
  const withMac = feed(endpoint, junkWithMac);
  assert.equal(withMac.operations, 0);
  assert.equal(withMac.retries, 0, 'a bad mac gets no answer at all');
  assert.equal(endpoint.stats.drops['initial-bad-mac'], 200);
  const legacy = feed(endpoint, junkLegacy);
  assert.equal(legacy.operations, 0, 'IK without the mac proves its address before any DH');
  assert.equal(legacy.retries, 200);
  assert.equal(endpoint.connectionCount, 0);
});

test('an INITIAL whose mac was made for another server key is dropped before any DH', () => {
  const { endpoint } = server();
  const other = generateKeyPair().publicKey;
  const flight = firstFlight(SERVER, socketAddress('192.0.2.9', 1), { serverKey: other });
  const { operations } = feed(endpoint, [flight]);
  assert.equal(operations, 0);
  assert.equal(endpoint.stats.drops['initial-bad-mac'], 1);
});

test('a flipped bit anywhere before the mac fails it (the header and token are covered)', () => {
  const { endpoint, key } = server();
  const flight = firstFlight(SERVER, socketAddress('192.0.2.9', 1), { serverKey: key.publicKey });
  for (const offset of [6, 20, 40]) {
    const tampered = flight.slice();
    tampered[offset] ^= 0x01;
    assert.equal(feed(endpoint, [tampered]).operations, 0);
  }
  assert.equal(endpoint.stats.drops['initial-bad-mac'] ?? 0, 3);
});

test("retry 'always': valid IK and XX first flights get a Retry and cost no DH", () => {
  const { endpoint, key } = server({ retry: 'always' });
  const ik = firstFlight(SERVER, socketAddress('192.0.2.9', 1), { serverKey: key.publicKey });
  const xx = firstFlight(SERVER, socketAddress('192.0.2.9', 2));
  assert.deepEqual(feed(endpoint, [ik, xx]), { operations: 0, retries: 2 });
  assert.equal(endpoint.stats.retriesSent, 2);
});

test('under load, valid IK first flights get a Retry and cost no DH', () => {
  const { endpoint, key } = server({ retry: 'auto', retryThreshold: 2 });
  const flights = Array.from({ length: 4 }, (_, i) =>
    firstFlight(SERVER, socketAddress('192.0.2.9', 30_000 + i), { serverKey: key.publicKey }),
  );
  const first = feed(endpoint, flights.slice(0, 2));
  assert.ok(first.operations > 0, 'below the threshold the server answers at once');
  assert.deepEqual(feed(endpoint, flights.slice(2)), { operations: 0, retries: 2 });
});

test('IK with the mac completes; the Retry round trip keeps the mac valid', () => {
  for (const retry of ['never', 'always'] as const) {
    const pair = new Pair({ server: { retry } });
    pair.handshake();
    assert.equal(pair.serverConn.state, 'established', `retry ${retry}`);
    assert.equal(pair.server.stats.drops['initial-bad-mac'], undefined);
  }
});
