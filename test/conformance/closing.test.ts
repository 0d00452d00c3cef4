/**
 * docs/protocol.md §9.17: after a CLOSE, the closing side answers what it still receives with
 * CLOSE and nothing else, the draining side (which received the CLOSE) sends nothing, and both
 * keep that up for 3 × PTO before the session is gone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineConnection } from '../../src/engine/types.js';
import type { Frame } from '../../src/wire/frames.js';
import { establishedPair, forgedPacket } from '../../testing/harness/forged-packets.js';

const ptoOf = (conn: EngineConnection) =>
  (conn as unknown as { activePath: { pto(): number } }).activePath.pto();

test("§9.17 closing: the peer's packets are answered with CLOSE only, for 3 × PTO, then nothing", () => {
  // The client keeps talking as a peer whose copies of the CLOSE were lost: it records the frames
  // of each server packet it decrypts and does not act on the CLOSE.
  let watching = false;
  const answers: Frame['type'][][] = [];
  const pair = establishedPair({
    testHooks: {
      client: {
        mutateFramesBeforeProcessing(frames: Frame[]): Frame[] {
          if (!watching) return frames;
          answers.push(frames.map((f) => f.type));
          const rest = frames.filter((f) => f.type !== 'close');
          return rest.length > 0 ? rest : [{ type: 'padding', length: 1 }];
        },
      },
    },
  });
  const serverSends: number[] = [];
  const closedAt = pair.now;
  pair.hook = (from, _data, now) => {
    if (from === 'server' && now >= closedAt) serverSends.push(now);
    return undefined;
  };
  const pto = ptoOf(pair.serverConn);
  watching = true;
  pair.serverConn.close(0x42, 'done');
  assert.equal(pair.serverConn.state, 'closing');
  const end = closedAt + 3 * pto + 1_000;
  let nextSend = pair.now;
  while (pair.now < end) {
    if (pair.now >= nextSend && pair.clientConn.state === 'established') {
      const t = forgedPacket(pair.clientConn, [{ type: 'ping' }], pair.now);
      pair.server.receive(t.data, t.remote, t.local, pair.now);
      nextSend = pair.now + pto / 4;
    }
    if (!pair.step()) break;
  }
  assert.ok(answers.length >= 3, `${answers.length} answers`);
  for (const types of answers) {
    assert.ok(types.includes('close'), `an answer without CLOSE: ${types.join(',')}`);
    assert.ok(
      types.every((t) => t === 'close' || t === 'padding'),
      `an answer with more than CLOSE: ${types.join(',')}`,
    );
  }
  assert.ok(
    serverSends.some((t) => t > closedAt + 2 * pto),
    'CLOSE is still repeated late in the closing period',
  );
  assert.ok(
    serverSends.every((t) => t <= closedAt + 3 * pto + 1),
    `sent ${serverSends.at(-1)! - closedAt} ms after closing, 3 × PTO = ${3 * pto} ms`,
  );
  assert.equal(pair.serverConn.state, 'closed');
});

test('§9.17 draining: nothing is sent after a CLOSE is received, for 3 × PTO, then the session is gone', () => {
  const pair = establishedPair();
  const pto = ptoOf(pair.clientConn);
  const clientSends: number[] = [];
  pair.hook = (from, _data, now) => {
    if (from === 'client') clientSends.push(now);
    // The server's own CLOSE goes through; nothing the client sends reaches the server any more.
    return from === 'client' ? false : undefined;
  };
  pair.serverConn.close(0x42, 'done');
  pair.runUntil(() => pair.clientConn.state === 'draining');
  const drainingAt = pair.now;
  const before = clientSends.length;
  let closedAt: number | undefined;
  let nextSend = pair.now;
  const end = drainingAt + 3 * pto + 1_000;
  while (pair.now < end) {
    if (closedAt === undefined && pair.clientConn.state === 'closed') closedAt = pair.now;
    // The peer keeps sending, in packets the client can authenticate.
    if (pair.now >= nextSend) {
      const t = forgedPacket(pair.serverConn, [{ type: 'ping' }], pair.now);
      pair.client.receive(t.data, t.remote, t.local, pair.now);
      nextSend = pair.now + pto / 4;
    }
    if (!pair.step()) break;
  }
  assert.equal(clientSends.length, before, 'the draining client sent nothing');
  assert.ok(closedAt !== undefined, 'the client session ended');
  assert.ok(
    closedAt - drainingAt >= 3 * pto - 1 && closedAt - drainingAt <= 3 * pto + pto / 4 + 1,
    `drained for ${closedAt - drainingAt} ms, 3 × PTO = ${3 * pto} ms`,
  );
});
