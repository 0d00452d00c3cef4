// Connection IDs: each path id has its own sequence space (docs/protocol.md §11), so what
// is retired or resent is named by (path id, sequence), never by the sequence alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { socketAddress } from '../../src/net/address.js';
import type { Frame } from '../../src/wire/frames.js';
import { Pair } from '../../testing/harness/engine-pair.js';

test('a lost NEW_CONNECTION_ID is not resent once the peer retired that (path id, sequence)', () => {
  // Path id 2's first CID (sequence 0) is issued when the server confirms the handshake; the
  // client retires it at once (in the packet that confirms), and the server's packets that
  // carried it are lost. Sequence 0 is still live on path ids 0, 1, 3 and 4: only the pair
  // (2, 0) says that this CID is gone.
  const RETIRED_PATH = 2;
  let retired = false;
  let lostAfterRetire = 0;
  const announced: string[] = [];
  const pair = new Pair({
    testHooks: {
      server: {
        mutateFramesBeforeProcessing(frames: Frame[]): Frame[] {
          if (retired) return frames;
          retired = true;
          return [...frames, { type: 'retire_connection_id', pathId: RETIRED_PATH, sequence: 0 }];
        },
      },
      client: {
        mutateFramesBeforeProcessing(frames: Frame[]): Frame[] {
          for (const f of frames)
            if (f.type === 'new_connection_id') announced.push(`${f.pathId}/${f.sequence}`);
          return frames;
        },
      },
    },
  });
  pair.hook = (from) => {
    // The server's next packets (its NEW_CONNECTION_IDs among them) are lost.
    if (from === 'server' && retired && lostAfterRetire < 3) {
      lostAfterRetire++;
      return false;
    }
    return undefined;
  };
  pair.handshake();
  pair.runUntil(() => announced.includes('1/0') && announced.includes('3/0'), 10_000);
  const end = pair.now + 2_000;
  pair.runUntil(() => pair.now >= end || !pair.step());
  assert.equal(lostAfterRetire, 3);
  assert.ok(announced.includes('4/0'), `the other lost CIDs were resent: ${announced.join(' ')}`);
  assert.ok(!announced.includes(`${RETIRED_PATH}/0`), `retired CID re-announced: ${announced.join(' ')}`);
  assert.equal(pair.serverConn.state, 'established');
  assert.equal(pair.clientConn.state, 'established');
});

test('a packet of NEW_CONNECTION_ID frames only is acknowledged within max_ack_delay', () => {
  // The sender counts such a packet in flight (its PTO waits for the ACK). When the receiver
  // took it for a path probe and set no ACK deadline, the ACK waited for other traffic, often
  // rode back on another path and arrived after the PTO: a lossless path was declared
  // unresponsive ~120 ms into a session (issue 14, fiber+lte).
  let captured: Frame | undefined;
  let swapped = false;
  const pair = new Pair({
    testHooks: {
      server: {
        mutateFramesBeforeProcessing(frames: Frame[]): Frame[] {
          captured ??= frames.find((f) => f.type === 'new_connection_id');
          // Later, a packet of the client's (its keepalive PING) carries only that frame again
          // (a retransmission: the server already has the CID).
          if (!captured || swapped || !frames.every((f) => f.type === 'ping' || f.type === 'ack'))
            return frames;
          if (!frames.some((f) => f.type === 'ping')) return frames;
          swapped = true;
          return [captured];
        },
      },
    },
  });
  pair.handshake();
  pair.clientConn.openStream(true);
  pair.runUntil(() => swapped, 10_000);
  const server = pair.serverConn as unknown as {
    activePath: { acks: { ackDeadline(): number | undefined } };
  };
  const deadline = server.activePath.acks.ackDeadline();
  assert.ok(deadline !== undefined, 'an ACK is owed');
  assert.ok(deadline <= pair.now + 3, `ACK deadline ${deadline} ms, received at ${pair.now} ms`);
});

test('a client that opens path after path for a long session keeps it: CIDs are issued per parity', () => {
  // The client moves to a fresh local address every 2 s: each move opens a new odd path id and
  // abandons the last one. The server never opens a path, so it must not be left holding CIDs
  // for ever more even path ids (it would reach the 64 path-id limit and close the session).
  const pair = new Pair();
  pair.handshake();
  pair.runUntil(() => pair.now > 100);
  const closed = () => [...pair.clientEvents, ...pair.serverEvents].find((e) => e.type === 'closed');
  let highestPathId = 0;
  for (let move = 0; move < 120 && !closed(); move++) {
    const fresh = socketAddress(`192.0.2.${10 + (move % 200)}`, 30_000 + move);
    pair.client.setLocalAddresses([fresh], pair.now);
    pair.runUntil(() => pair.now > 100 + 2000 * (move + 1) || closed() !== undefined);
    for (const p of pair.clientConn.paths) highestPathId = Math.max(highestPathId, p.id);
  }
  assert.equal(closed(), undefined, 'the session stays up');
  assert.ok(highestPathId > 2 * 64, `the client reached path id ${highestPathId}`);
});
