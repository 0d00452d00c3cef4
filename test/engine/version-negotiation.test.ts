/**
 * Version Negotiation (docs/protocol.md §2, §4.6): a server answers a long header of a version it
 * does not speak, within the amplification and rate limits of every stateless reply; a client
 * abandons an attempt only on a Version Negotiation that could be genuine.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { generateKeyPair } from '../../src/crypto/noise/index.js';
import { Endpoint } from '../../src/engine/endpoint.js';
import type { ConnectionEvent } from '../../src/engine/types.js';
import { ConnectTimeoutError, connect, createServer, ProtocolError } from '../../src/index.js';
import { socketAddress } from '../../src/net/address.js';
import { TransportError } from '../../src/wire/errors.js';
import { BRAID_VERSION_1 } from '../../src/wire/packet.js';
import { decodeLongHeader, encodeVersionNegotiation } from '../../src/wire/packet-codec.js';

const SERVER = socketAddress('203.0.113.1', 4433);
const CLIENT = socketAddress('192.0.2.1', 40000);
const UNKNOWN_VERSION = 0x1a2a3a4a;

function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

/**
 * A first flight of a version Braid does not know: its invariant header, then bytes that mean
 * nothing in v1 (the first byte's low bits set, garbage where v1 has a token length).
 */
function unknownVersionInitial(length: number): Uint8Array {
  const out = new Uint8Array(length).fill(0xee);
  out.set(hex('cf 1a2a3a4a 05 d1d2d3d4d5 03 5a5b5c'));
  return out;
}

function server(): Endpoint {
  return new Endpoint({ staticKey: generateKeyPair(), server: { authorizedKeys: 'any' } });
}

function drain(endpoint: Endpoint, now: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let t = endpoint.pollTransmit(now); t; t = endpoint.pollTransmit(now)) out.push(t.data);
  return out;
}

test('engine: an unknown-version first flight of 1200 bytes gets Version Negotiation listing v1', () => {
  const endpoint = server();
  endpoint.receive(unknownVersionInitial(1200), SERVER, CLIENT, 0);
  const replies = drain(endpoint, 0);
  assert.equal(replies.length, 1);
  // dcid = the trigger's scid, scid = the trigger's dcid, then the one supported version.
  assert.deepEqual(replies[0], hex('c0 00000000 03 5a5b5c 05 d1d2d3d4d5 42520001'));
  assert.equal(endpoint.stats.versionNegotiationsSent, 1);
  assert.equal(endpoint.connectionCount, 0, 'no state for an unknown version');
});

test('engine: no Version Negotiation below 1200 bytes, to Version Negotiation, or from a client', () => {
  const endpoint = server();
  endpoint.receive(unknownVersionInitial(1199), SERVER, CLIENT, 0);
  const vn = encodeVersionNegotiation({
    kind: 'version_negotiation',
    dcid: hex('0102'),
    scid: hex('0304'),
    supportedVersions: new Array(300).fill(UNKNOWN_VERSION),
  });
  assert.ok(vn.length >= 1200);
  endpoint.receive(vn, SERVER, CLIENT, 0);
  assert.deepEqual(drain(endpoint, 0), []);
  assert.equal(endpoint.stats.drops['unsupported-version'], 1);
  assert.equal(endpoint.stats.drops['version-negotiation'], 1);

  const clientOnly = new Endpoint({ staticKey: generateKeyPair() });
  clientOnly.receive(unknownVersionInitial(1200), CLIENT, SERVER, 0);
  assert.deepEqual(drain(clientOnly, 0), []);
});

test('engine: Version Negotiation is rate-limited like stateless resets (100 a second)', () => {
  const endpoint = server();
  let replies = 0;
  for (let i = 0; i < 1000; i++) {
    endpoint.receive(unknownVersionInitial(1200), SERVER, socketAddress('192.0.2.7', 1000 + i), 0);
    replies += drain(endpoint, 0).length;
  }
  assert.equal(replies, 100);
  assert.equal(endpoint.stats.drops['version-negotiation-limited'], 900);
  for (let i = 0; i < 100; i++) {
    endpoint.receive(unknownVersionInitial(1200), SERVER, socketAddress('192.0.2.7', 3000 + i), 500);
    replies += drain(endpoint, 500).length;
  }
  assert.equal(replies, 150, 'the budget refills at 100 a second');
});

/** A client endpoint that has sent its INITIAL, with the SCID the server would answer to. */
function connectingClient() {
  const client = new Endpoint({ staticKey: generateKeyPair() });
  const conn = client.connect(SERVER, CLIENT, { serverKey: generateKeyPair().publicKey }, 0);
  const [initial] = drain(client, 0);
  const packet = decodeLongHeader(initial);
  assert.equal(packet.kind, 'initial');
  const events = (): ConnectionEvent[] => {
    const out: ConnectionEvent[] = [];
    for (let e = conn.pollEvent(); e; e = conn.pollEvent()) out.push(e);
    return out;
  };
  const versionNegotiation = (versions: number[]) =>
    encodeVersionNegotiation({
      kind: 'version_negotiation',
      dcid: packet.scid,
      scid: packet.dcid,
      supportedVersions: versions,
    });
  return { client, conn, events, versionNegotiation };
}

test('engine: a client abandons its attempt on Version Negotiation without its version', () => {
  const { client, conn, events, versionNegotiation } = connectingClient();
  client.receive(versionNegotiation([UNKNOWN_VERSION, 0x42520002]), CLIENT, SERVER, 5);
  assert.equal(conn.state, 'closed');
  const closed = events().find((e) => e.type === 'closed');
  assert.ok(closed && closed.type === 'closed');
  assert.equal(closed.info.source, 'protocol');
  assert.equal(closed.info.code, 0x2 /* CONNECTION_REFUSED */);
  assert.match(closed.info.reason, /no common version.*0x42520002/);
});

test('engine: a client ignores Version Negotiation that lists v1 (forged or late)', () => {
  const { client, conn, versionNegotiation } = connectingClient();
  client.receive(versionNegotiation([UNKNOWN_VERSION, BRAID_VERSION_1]), CLIENT, SERVER, 5);
  assert.equal(conn.state, 'handshaking');
  // The attempt goes on: the INITIAL is retransmitted.
  client.onTimeout(2000);
  assert.ok(drain(client, 2000).length > 0);
});

test('real sockets: braid serve answers an unknown-version INITIAL with Version Negotiation', async () => {
  const braidServer = createServer({ authorizedKeys: 'any' });
  await braidServer.listen({ host: '127.0.0.1', port: 0 });
  const sender = dgram.createSocket('udp4');
  try {
    sender.bind(0, '127.0.0.1');
    await once(sender, 'listening');
    const reply = once(sender, 'message', { signal: AbortSignal.timeout(3000) });
    sender.send(unknownVersionInitial(1200), braidServer.address()!.port, '127.0.0.1');
    const [message] = (await reply) as [Buffer];
    assert.equal(message.toString('hex'), 'c000000000035a5b5c05d1d2d3d4d542520001');
  } finally {
    sender.close();
    await braidServer.close();
  }
});

/**
 * A UDP socket on loopback standing in for a server of other versions: it answers each INITIAL
 * with the Version Negotiation `reply` makes from it (undefined: no answer).
 */
async function versionOnlyServer(
  reply: (initial: { dcid: Uint8Array; scid: Uint8Array }) => Uint8Array | undefined,
): Promise<{ port: number; initials: () => number; close: () => void }> {
  const socket = dgram.createSocket('udp4');
  let initials = 0;
  socket.on('message', (message, from) => {
    const packet = decodeLongHeader(new Uint8Array(message));
    if (packet.kind !== 'initial') return;
    initials++;
    const answer = reply(packet);
    if (answer) socket.send(answer, from.port, from.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return { port: socket.address().port, initials: () => initials, close: () => socket.close() };
}

test('real sockets: connect() fails at once with CONNECTION_REFUSED on Version Negotiation without v1', async () => {
  const fake = await versionOnlyServer((initial) =>
    encodeVersionNegotiation({
      kind: 'version_negotiation',
      dcid: initial.scid,
      scid: initial.dcid,
      supportedVersions: [UNKNOWN_VERSION, 0x42520002],
    }),
  );
  try {
    const started = performance.now();
    const error = await connect(`127.0.0.1:${fake.port}`, {
      serverKey: generateKeyPair().publicKey,
      timeout: 5000,
    }).then(
      () => assert.fail('connected to a server without v1'),
      (err: unknown) => err,
    );
    const elapsed = performance.now() - started;
    assert.ok(error instanceof ProtocolError, String(error));
    assert.equal(error.code, 'BRAID_ERR_PROTOCOL');
    assert.equal(error.transportCode, TransportError.CONNECTION_REFUSED);
    assert.match(error.message, /no common version/);
    // One round trip on loopback, not the 5 s handshake timeout.
    assert.ok(elapsed < 1000, `failed after ${Math.round(elapsed)} ms`);
    assert.equal(fake.initials(), 1, 'no INITIAL after the Version Negotiation');
  } finally {
    fake.close();
  }
});

for (const [name, forge] of [
  [
    'lists v1',
    (i: { dcid: Uint8Array; scid: Uint8Array }) => ({
      dcid: i.scid,
      scid: i.dcid,
      versions: [BRAID_VERSION_1],
    }),
  ],
  [
    'echoes a wrong DCID',
    (i: { dcid: Uint8Array; scid: Uint8Array }) => ({
      dcid: i.scid.map((b) => b ^ 0xff),
      scid: i.dcid,
      versions: [UNKNOWN_VERSION],
    }),
  ],
  [
    'echoes a wrong SCID',
    (i: { dcid: Uint8Array; scid: Uint8Array }) => ({
      dcid: i.scid,
      scid: i.dcid.map((b) => b ^ 0xff),
      versions: [UNKNOWN_VERSION],
    }),
  ],
] as const) {
  test(`real sockets: a Version Negotiation that ${name} is ignored; the attempt goes on`, async () => {
    const fake = await versionOnlyServer((initial) => {
      const { dcid, scid, versions } = forge(initial);
      return encodeVersionNegotiation({
        kind: 'version_negotiation',
        dcid,
        scid,
        supportedVersions: versions,
      });
    });
    try {
      const error = await connect(`127.0.0.1:${fake.port}`, {
        serverKey: generateKeyPair().publicKey,
        timeout: 1000,
      }).then(
        () => assert.fail('connected to a server without v1'),
        (err: unknown) => err,
      );
      assert.ok(error instanceof ConnectTimeoutError, String(error));
      // The INITIAL went out again (+0.4 s): the Version Negotiation ended nothing.
      assert.ok(fake.initials() >= 2, `${fake.initials()} INITIALs`);
    } finally {
      fake.close();
    }
  });
}
