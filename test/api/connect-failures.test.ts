// connect() rejects when it fails: a refused client key, an abort. No closed session is ever
// handed out for the application to discover later through a 'close' listener.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { connect } from '../../src/api/connect.js';
import { generateKeyPair } from '../../src/api/engine-factory.js';
import { AbortError, HostKeyMismatchError, UnauthorizedKeyError } from '../../src/api/errors.js';
import { createServer } from '../../src/api/server.js';

const LIMIT = { timeout: 20_000 };

test(
  'a refused client key rejects connect() with UnauthorizedKeyError (IK: pinned server key)',
  LIMIT,
  async () => {
    const serverKey = generateKeyPair();
    const server = createServer({ staticKey: serverKey, authorizedKeys: [generateKeyPair().publicKey] });
    await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = server.address()!;
      for (let i = 0; i < 5; i++) {
        await assert.rejects(
          connect({ host: '127.0.0.1', port }, { timeout: 5000, serverKey: serverKey.publicKey }),
          (error: Error) =>
            error instanceof UnauthorizedKeyError && error.code === 'BRAID_ERR_UNAUTHORIZED_KEY',
        );
      }
    } finally {
      await server.close(0, '', 200);
    }
  },
);

test(
  'XX (no pinned key): a refused client key rejects connect(); an accepted one resolves confirmed',
  LIMIT,
  async () => {
    // The server learns the client's key from the third message, after the client's handshake is
    // done: connect() waits for the server to show it accepted, so a refusal is a rejection.
    const accepted = generateKeyPair();
    const server = createServer({ staticKey: generateKeyPair(), authorizedKeys: [accepted.publicKey] });
    server.on('session', () => {});
    await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = server.address()!;
      for (let i = 0; i < 5; i++) {
        await assert.rejects(
          connect({ host: '127.0.0.1', port }, { timeout: 5000 }),
          (error: Error) => error instanceof UnauthorizedKeyError,
        );
      }
      const session = await connect({ host: '127.0.0.1', port }, { timeout: 5000, staticKey: accepted });
      assert.equal(session.handshakeConfirmed, true);
      assert.equal(session.closed, false);
      await session.close(0);
    } finally {
      await server.close(0, '', 200);
    }
  },
);

test(
  'a wrongly pinned server key rejects with HostKeyMismatchError naming both keys, not a timeout',
  LIMIT,
  async () => {
    const server = createServer({ staticKey: generateKeyPair() });
    let sessions = 0;
    server.on('session', () => sessions++);
    await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = server.address()!;
      const started = performance.now();
      await assert.rejects(
        connect({ host: '127.0.0.1', port }, { timeout: 8000, serverKey: generateKeyPair().publicKey }),
        (error: Error) =>
          error instanceof HostKeyMismatchError &&
          error.code === 'BRAID_ERR_HOST_KEY_MISMATCH' &&
          /proves key \S+, not the pinned \S+/.test(error.message),
      );
      assert.ok(performance.now() - started < 4000, 'told apart long before the 8 s timeout');
      // The probe used a throwaway key and stopped after the server's reply: no session came of it.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(sessions, 0);
    } finally {
      await server.close(0, '', 200);
    }
  },
);

test('aborting connect() rejects with an AbortError whose cause is the reason', LIMIT, async () => {
  // A UDP port that reads and never answers: the handshake can only be aborted.
  const silent = createSocket('udp4');
  silent.bind(0, '127.0.0.1');
  await once(silent, 'listening');
  try {
    const controller = new AbortController();
    const reason = new Error('user gave up');
    setTimeout(() => controller.abort(reason), 100);
    await assert.rejects(
      connect(
        { host: '127.0.0.1', port: silent.address().port },
        { serverKey: generateKeyPair().publicKey, signal: controller.signal, timeout: 5000 },
      ),
      (error: Error) => error.name === 'AbortError' && error instanceof AbortError && error.cause === reason,
    );
    // Already aborted: at once, the same way.
    await assert.rejects(
      connect({ host: '127.0.0.1', port: silent.address().port }, { signal: AbortSignal.abort(reason) }),
      (error: Error) =>
        error.name === 'AbortError' && (error as AbortError).code === 'ABORT_ERR' && error.cause === reason,
    );
  } finally {
    silent.close();
  }
});

test(
  'IK: the refusal lost or late, connect() still rejects; an accepted key resolves confirmed',
  LIMIT,
  async () => {
    // The server's reply proves its key, not that it accepted ours: its refusal (a CLOSE right
    // behind the reply) may be lost or arrive a turn later. connect() waits for the server's
    // confirmation, so neither hands out a session that is refused a moment later.
    const serverKey = generateKeyPair();
    const accepted = generateKeyPair();
    const server = createServer({ staticKey: serverKey, authorizedKeys: [accepted.publicKey] });
    server.on('session', () => {});
    await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = server.address()!;
      for (let i = 0; i < 20; i++) {
        let droppedClose = false;
        // The first short-header datagram from the server (its CLOSE) is lost once.
        const faultInjector = (direction: 'in' | 'out', _l: unknown, _r: unknown, data: Uint8Array) => {
          if (direction !== 'in' || droppedClose || (data[0]! & 0x80) !== 0) return false;
          droppedClose = true;
          return true;
        };
        await assert.rejects(
          connect(
            { host: '127.0.0.1', port },
            { timeout: 5000, serverKey: serverKey.publicKey, faultInjector },
          ),
          (error: Error) =>
            error instanceof UnauthorizedKeyError && error.code === 'BRAID_ERR_UNAUTHORIZED_KEY',
        );
        assert.equal(droppedClose, true);
      }
      const session = await connect(
        { host: '127.0.0.1', port },
        { timeout: 5000, serverKey: serverKey.publicKey, staticKey: accepted },
      );
      assert.equal(session.handshakeConfirmed, true);
      assert.equal(session.closed, false);
      await session.close(0);
    } finally {
      await server.close(0, '', 200);
    }
  },
);
