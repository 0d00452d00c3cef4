// Session persistence through the public API on real UDP sockets (loopback): 'suspended' /
// 'resumed', typed errors for lost and expired sessions, application checkpoints and 0-RTT.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { test } from 'node:test';
import { connect } from '../../src/api/connect.js';
import { generateKeyPair } from '../../src/api/engine-factory.js';
import { PeerStateLostError, SessionExpiredError } from '../../src/api/errors.js';
import { createServer } from '../../src/api/server.js';
import type { Session } from '../../src/api/session.js';
import type { BraidStream } from '../../src/api/stream.js';
import { closeEvent, readAll, startPair } from '../../testing/harness/api-pair.js';

/** Short timers so the tests run in a few seconds of wall time (not so short that a loaded host trips them). */
const transport = { idleTimeout: 1500, resumeInterval: 200 };

/** The server suspends only sessions whose handshake it has confirmed: give the first 1-RTT packet time. */
const confirmed = () => new Promise((r) => setTimeout(r, 100));

function blackhole() {
  const state = { dark: false };
  return { state, faultInjector: () => state.dark };
}

test('a total outage suspends both sides; the session resumes and the stream completes intact', {
  timeout: 20_000,
}, async () => {
  const { state, faultInjector } = blackhole();
  const seen: string[] = [];
  const onSuspended = () => seen.push('suspended');
  const onResumed = () => seen.push('resumed');
  diagnosticsChannel.subscribe('braid:session:suspended', onSuspended);
  diagnosticsChannel.subscribe('braid:session:resumed', onResumed);
  const received = createHash('sha256');
  let receivedBytes = 0;
  const pair = await startPair({ transport }, { transport, faultInjector }, (session) => {
    session.on('stream', (stream: BraidStream) => {
      stream.on('data', (chunk: Buffer) => {
        received.update(chunk);
        receivedBytes += chunk.length;
      });
      stream.on('end', () => stream.end());
    });
  });
  try {
    const events: string[] = [];
    for (const [who, session] of [
      ['client', pair.client],
      ['server', pair.serverSession],
    ] as const) {
      session.on('suspended', () => events.push(`${who} suspended`));
      session.on('resumed', () => events.push(`${who} resumed`));
    }
    const data = randomBytes(2 * 1024 * 1024);
    const stream = await pair.client.openStream();
    stream.write(data.subarray(0, 256 * 1024));
    await new Promise((r) => setTimeout(r, 50));
    state.dark = true;
    const rest = data.subarray(256 * 1024);
    stream.write(rest);
    stream.end();
    await Promise.all([once(pair.client, 'suspended'), once(pair.serverSession, 'suspended')]);
    assert.ok(pair.client.suspended && pair.serverSession.suspended);
    assert.ok(!pair.client.closed, 'suspended, not closed');
    await new Promise((r) => setTimeout(r, 500));
    state.dark = false;
    await readAll(stream);
    assert.equal(receivedBytes, data.length);
    assert.equal(received.digest('hex'), createHash('sha256').update(data).digest('hex'));
    // In pairs, suspended first (an event loop stalled on a loaded host may add a pair).
    for (const who of ['client', 'server']) {
      const mine = events.filter((e) => e.startsWith(who));
      assert.ok(mine.length >= 2 && mine.length % 2 === 0, mine.join(', '));
      mine.forEach((e, i) => {
        assert.equal(e, `${who} ${i % 2 === 0 ? 'suspended' : 'resumed'}`);
      });
    }
    assert.ok(seen.filter((e) => e === 'suspended').length >= 2 && seen.includes('resumed'));
    assert.ok(pair.client.stats.resumptions >= 1);
  } finally {
    diagnosticsChannel.unsubscribe('braid:session:suspended', onSuspended);
    diagnosticsChannel.unsubscribe('braid:session:resumed', onResumed);
    await pair.close();
  }
});

test('the persistence timeout ends both sides with SessionExpiredError', { timeout: 20_000 }, async () => {
  const { state, faultInjector } = blackhole();
  const short = { ...transport, persistenceTimeout: 1000 };
  const pair = await startPair({ transport: short }, { transport: short, faultInjector });
  try {
    const closed = [closeEvent(pair.client), closeEvent(pair.serverSession)];
    await confirmed();
    state.dark = true;
    for (const error of await Promise.all(closed)) {
      assert.ok(error instanceof SessionExpiredError, String(error));
      assert.equal(error.code, 'BRAID_ERR_SESSION_EXPIRED');
      assert.equal(error.reason, 'expired');
    }
  } finally {
    await pair.close();
  }
});

test('a restarted server refuses the resumption: PeerStateLostError at once', {
  timeout: 20_000,
}, async () => {
  const { state, faultInjector } = blackhole();
  const staticKey = generateKeyPair();
  const pair = await startPair({ transport, staticKey }, { transport, faultInjector });
  try {
    await confirmed();
    state.dark = true;
    await once(pair.client, 'suspended');
    await pair.server.close(0, '', 100);
    const restarted = createServer({ transport, staticKey });
    await restarted.listen({ host: '127.0.0.1', port: pair.port });
    try {
      const closed = closeEvent(pair.client);
      const back = Date.now();
      state.dark = false;
      const error = await closed;
      assert.ok(error instanceof PeerStateLostError, String(error));
      assert.equal(error.code, 'BRAID_ERR_PEER_STATE_LOST');
      assert.ok(Date.now() - back < 1500, `refused after ${Date.now() - back} ms`);
    } finally {
      await restarted.close(0, '', 100);
    }
  } finally {
    await pair.close();
  }
});

test('stream.checkpoint() resolves once the receiving application confirms durable storage', {
  timeout: 10_000,
}, async () => {
  let stored = 0;
  const pair = await startPair({}, {}, (session: Session) => {
    session.on('stream', (stream: BraidStream) => {
      stream.on('data', (chunk: Buffer) => {
        stored += chunk.length; // "durable" here: counted
      });
      stream.on('checkpoint', function confirmWhenStored(offset: number) {
        if (stored >= offset) stream.confirmCheckpoint(offset);
        else setTimeout(() => confirmWhenStored(offset), 5);
      });
      stream.on('end', () => stream.end());
    });
  });
  try {
    const stream = await pair.client.openStream();
    const durable: number[] = [];
    stream.on('durable', (offset: number) => durable.push(offset));
    stream.write(randomBytes(100_000));
    stream.write(randomBytes(50_000));
    assert.equal(await stream.checkpoint(), 150_000, 'covers everything written before the call');
    assert.equal(stream.durableOffset, 150_000);
    stream.write(randomBytes(10));
    stream.end();
    assert.equal(await stream.checkpoint(), 150_010);
    assert.deepEqual(durable, [150_000, 150_010]);
    await readAll(stream);
  } finally {
    await pair.close();
  }
});

test('0-RTT: with a ticket and earlyData the first flight carries the request; the server sees it flagged early', {
  timeout: 10_000,
}, async () => {
  const serverKey = generateKeyPair();
  const server = createServer({ staticKey: serverKey }, (session) => {
    session.on('stream', (stream: BraidStream) => {
      const early = stream.early;
      readAll(stream).then((request) => stream.end(`${early ? 'early' : 'late'}:${request.toString()}`));
    });
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const target = { host: '127.0.0.1', port: server.address()!.port };
  try {
    // A ticket belongs to the client identity it was issued to: keep the same key.
    const staticKey = generateKeyPair();
    const first = await connect(target, { serverKey: serverKey.publicKey, staticKey });
    const [ticket] = (await once(first, 'ticket')) as [Buffer];
    await first.close();

    const session = await connect(target, { ticket, earlyData: true, staticKey });
    assert.equal(session.handshakeComplete, false, 'resolved before the handshake');
    assert.equal(session.earlyData, 'pending');
    const stream = await session.openStream();
    stream.end('GET /');
    const [reply, [accepted]] = await Promise.all([readAll(stream), once(session, 'earlydata')]);
    assert.equal(accepted, true);
    assert.equal(reply.toString(), 'early:GET /');
    const serverSession = [...server.sessions].find((s) => s.earlyData === 'accepted');
    assert.ok(serverSession, 'the server session reports accepted early data');
    await session.close();

    // The same ticket again: single use, so the server refuses the early data; it comes late.
    const again = await connect(target, { ticket, earlyData: true, staticKey });
    const late = await again.openStream();
    late.end('GET /');
    assert.equal((await readAll(late)).toString(), 'late:GET /');
    assert.equal(again.earlyData, 'rejected');
    await again.close();
  } finally {
    await server.close(0, '', 200);
  }
});
