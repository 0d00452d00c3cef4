/**
 * A RESUME for a session the server does not consider suspended (docs/protocol.md §15.3): only
 * the client knows its paths failed, so the server accepts it, reports a suspension and the
 * resumption, and the session carries data again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pair } from '../../testing/harness/engine-pair.js';

const RESUME_FIRST_BYTE = 0xd0;

test('a RESUME reaching a server that was not suspended is accepted; the session works after', () => {
  const pair = new Pair({ transport: { idleTimeout: 3000 } });
  pair.handshake();
  pair.runUntil(() => pair.now > 100);
  let serverSuspendedAtResume: boolean | undefined;
  // One-way outage: the server hears the client, the client hears nothing, and suspends.
  pair.hook = (from, data) => {
    if (from === 'server' && data[0] < 0x80) return pair.clientConn.suspended ? undefined : false;
    if (from === 'client' && data[0] === RESUME_FIRST_BYTE)
      serverSuspendedAtResume ??= pair.serverConn.suspended;
    return undefined;
  };
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'resumed'), 60_000);
  assert.equal(serverSuspendedAtResume, false, 'the RESUME reached a server that was not suspended');
  const serverEvents = pair.serverEvents
    .map((e) => e.type)
    .filter((t) => t === 'suspended' || t === 'resumed');
  assert.deepEqual(serverEvents, ['suspended', 'resumed']);
  assert.equal(pair.serverConn.stats.resumptions, 1);
  // A stream round trip on the resumed session.
  const id = pair.clientConn.openStream(true)!;
  pair.clientConn.writeStream(id, new Uint8Array([7, 8, 9]));
  pair.clientConn.finishStream(id);
  const got: Uint8Array[] = [];
  pair.runUntil(() => Pair.drain(pair.serverConn, id, got));
  assert.deepEqual([...Buffer.concat(got)], [7, 8, 9]);
});
