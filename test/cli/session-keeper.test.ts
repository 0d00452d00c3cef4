// The tunnel's session keeper on a real socket, in process: while no server answers, a connection
// waits for a session only as long as its bound, then fails with a message; every attempt is logged.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseServerTarget } from '../../src/cli/shared/client.js';
import { SessionKeeper } from '../../src/cli/shared/session-keeper.js';
import { encodeKey } from '../../src/crypto/identity.js';
import { generateKeyPair } from '../../src/index.js';
import { makeHome } from '../../testing/harness/braid-command.js';

test('with no server, get() fails after its wait bound while the keeper keeps trying', {
  timeout: 20_000,
}, async () => {
  const home = makeHome();
  const silent = createSocket('udp4');
  silent.bind(0, '127.0.0.1');
  await once(silent, 'listening');
  const lines: string[] = [];
  const target = parseServerTarget(
    `braid://${encodeKey(generateKeyPair().publicKey)}@127.0.0.1:${silent.address().port}`,
  );
  const keeper = new SessionKeeper(
    target,
    {
      staticKey: generateKeyPair(),
      knownHostsPath: join(home.dir, 'known_hosts'),
      timeout: 200,
      strict: false,
      localAddresses: [],
      backupAddresses: [],
      log: (line) => lines.push(line),
    },
    { exitOnFailure: false, waitForSessionMs: 600 },
  );
  const started = keeper.start();
  started.catch(() => undefined);
  try {
    const asked = Date.now();
    await assert.rejects(keeper.get(), /^Error: no session to 127\.0\.0\.1:\d+ within 0\.6 s$/);
    const waited = Date.now() - asked;
    assert.ok(waited >= 550 && waited < 5000, `waited ${waited} ms`);
    assert.match(
      lines[0] ?? '',
      /^attempt 1 failed: cannot reach the braid server .*; next attempt in \d\.\d s/,
    );
    assert.equal(
      await Promise.race([
        started.then(
          () => 'settled',
          () => 'settled',
        ),
        Promise.resolve('pending'),
      ]),
      'pending',
      'still trying: neither up nor given up',
    );
  } finally {
    await keeper.close();
    silent.close();
    home.cleanup();
  }
});
