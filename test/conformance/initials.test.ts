/**
 * docs/protocol.md §4.2 and §7.3: INITIALs a server must drop. Each is otherwise well formed
 * (a real client's first flight, or a Noise message built as a client builds it), so the rule
 * under test is the only reason for the drop; the unchanged packet is checked to be accepted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair } from '../../src/crypto/noise/index.js';
import { createHandshake, HandshakePattern, handshakePrologue } from '../../src/engine/handshake.js';
import { BRAID_VERSION_1 } from '../../src/wire/packet.js';
import { encodeInitial } from '../../src/wire/packet-codec.js';
import { CLIENT_ADDR, Pair, SERVER_ADDR, seededRandom } from '../../testing/harness/engine-pair.js';

/** What a server did with one datagram: sessions it created, datagrams it sent, its drops. */
function serverAnswer(datagram: Uint8Array): {
  sessions: number;
  replies: number;
  drops: Record<string, number>;
} {
  const pair = new Pair();
  pair.server.receive(datagram, SERVER_ADDR, CLIENT_ADDR, 0);
  let replies = 0;
  while (pair.server.pollTransmit(0)) replies++;
  return { sessions: pair.server.connectionCount, replies, drops: { ...pair.server.stats.drops } };
}

/** A real XX client's first INITIAL (empty token), and the offset of its pattern byte. */
function xxInitial(): { datagram: Uint8Array; patternOffset: number } {
  const pair = new Pair();
  pair.connect({ pinServerKey: false });
  const t = pair.client.pollTransmit(pair.now);
  assert.ok(t);
  const d = t.data.slice();
  const dcidLength = d[5];
  const scidLength = d[6 + dcidLength];
  // Header, then the token length (0, one byte), then the pattern.
  return { datagram: d, patternOffset: 7 + dcidLength + scidLength + 1 };
}

test('§4.2 the XX INITIAL as a client sends it is accepted (pattern 1)', () => {
  const { datagram, patternOffset } = xxInitial();
  assert.equal(datagram[patternOffset], HandshakePattern.XX);
  const answer = serverAnswer(datagram);
  assert.equal(answer.sessions, 1);
  assert.equal(answer.replies, 1, 'HANDSHAKE(1)');
});

for (const pattern of [2, 4, 5, 128, 255]) {
  test(`§4.2 an INITIAL with the reserved pattern ${pattern} is dropped`, () => {
    const { datagram, patternOffset } = xxInitial();
    datagram[patternOffset] = pattern;
    const answer = serverAnswer(datagram);
    assert.equal(answer.sessions, 0);
    assert.equal(answer.replies, 0);
    assert.equal(answer.drops['initial-bad-pattern'], 1);
  });
}

/** An XX INITIAL whose Noise message 0 carries `payload` (sent in clear, which §7.3 forbids). */
function xxInitialWithPayload(payload: Uint8Array): Uint8Array {
  const random = seededRandom(7);
  const dcid = random(8);
  const scid = random(8);
  const handshake = createHandshake({
    pattern: HandshakePattern.XX,
    initiator: true,
    prologue: handshakePrologue(HandshakePattern.XX, dcid, scid),
    staticKey: generateKeyPair(),
    random,
  });
  return encodeInitial({
    kind: 'initial',
    version: BRAID_VERSION_1,
    dcid,
    scid,
    token: new Uint8Array(0),
    pattern: HandshakePattern.XX,
    payload: handshake.writeMessage(payload),
  });
}

test('§7.3 an XX INITIAL with an empty message-0 payload is accepted', () => {
  const answer = serverAnswer(xxInitialWithPayload(new Uint8Array(0)));
  assert.equal(answer.sessions, 1);
  assert.equal(answer.replies, 1);
});

for (const length of [1, 100]) {
  test(`§7.3 an XX INITIAL with a ${length}-byte message-0 payload is dropped`, () => {
    const answer = serverAnswer(xxInitialWithPayload(new Uint8Array(length).fill(0x5a)));
    assert.equal(answer.sessions, 0, 'no session');
    assert.equal(answer.replies, 0, 'no reply');
    assert.equal(answer.drops['xx-initial-payload'], 1);
  });
}
