import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '../../src/api/connect.js';
import { generateKeyPair } from '../../src/api/engine-factory.js';
import type { Session } from '../../src/api/session.js';
import { makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

test('braid serve --max-sessions-per-key refuses the second session of a key and logs it', {
  timeout: 60_000,
}, async () => {
  const home = makeHome();
  await runBraid(['keygen'], home.env);
  const server = await startServer(home, ['--allow-any', '--no-control', '--max-sessions-per-key', '1']);
  const sessions: Session[] = [];
  try {
    const key = generateKeyPair();
    const target = { host: '127.0.0.1', port: server.port };
    sessions.push(await connect(target, { staticKey: key, timeout: 10_000 }));
    // The refusal arrives right after the handshake: as a rejection or as the session's close.
    await connect(target, { staticKey: key, timeout: 10_000 })
      .then((session) => sessions.push(session))
      .catch(() => undefined);
    await server.daemon.waitFor(
      /refused session from \S+ at 127\.0\.0\.1:\d+: session limit per client key \(1\) reached/,
    );
    assert.equal(sessions[0]!.closed, false, 'the first session of the key is untouched');
  } finally {
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
    await server.daemon.stop();
  }
  const bad = await runBraid(['serve', '--allow-any', '--max-sessions', '0'], home.env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /'--max-sessions' needs a positive integer/);
});
