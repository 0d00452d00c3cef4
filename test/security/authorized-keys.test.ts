/**
 * Issue 12 item 8: a world-writable authorized-keys file was accepted silently, and refused
 * keys were not logged. Now the file and its directory are checked as ssh's StrictModes does
 * (with --no-strict-modes to opt out), and each refused key is logged with its fingerprint and
 * address (rate-limited by the server's refusal log).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeKey, encodeKey, fingerprint } from '../../src/crypto/identity.js';
import { generateKeyPair } from '../../src/index.js';
import { makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();

before(async () => {
  await Promise.all([
    runBraid(['keygen'], serverHome.env, { timeoutMs: 30_000 }),
    runBraid(['keygen'], clientHome.env, { timeoutMs: 30_000 }),
  ]);
});

after(() => {
  serverHome.cleanup();
  clientHome.cleanup();
});

function keysFile(dirName: string, dirMode: number, fileMode: number): string {
  const dir = join(serverHome.dir, dirName);
  mkdirSync(dir);
  chmodSync(dir, dirMode);
  const path = join(dir, 'clients');
  writeFileSync(path, `${encodeKey(generateKeyPair().publicKey)} someone-else\n`);
  chmodSync(path, fileMode);
  return path;
}

const serveArgs = (path: string): string[] => [
  'serve',
  '--listen',
  '127.0.0.1:0',
  '--no-control',
  '--authorized-keys',
  path,
];

test('an authorized-keys file others may write to is refused with the fix', async () => {
  const path = keysFile('loose-file', 0o700, 0o666);
  const result = await runBraid(serveArgs(path), serverHome.env, { timeoutMs: 30_000 });
  assert.equal(result.code, 3, result.stderr);
  assert.match(
    result.stderr,
    /bad permissions 0666 for authorized keys .*clients: other users could change who may connect\. Fix with: chmod go-w .*clients, or run braid serve --no-strict-modes/,
  );
});

test('so is one in a directory others may write to', async () => {
  const path = keysFile('loose-dir', 0o777, 0o600);
  const result = await runBraid(serveArgs(path), serverHome.env, { timeoutMs: 30_000 });
  assert.equal(result.code, 3, result.stderr);
  assert.match(
    result.stderr,
    /bad permissions 0777 for the directory of the authorized keys .*loose-dir: .*chmod go-w/,
  );
});

test('--no-strict-modes accepts them', async () => {
  const path = keysFile('opted-out', 0o777, 0o666);
  const server = await startServer(serverHome, [
    '--no-control',
    '--authorized-keys',
    path,
    '--no-strict-modes',
  ]);
  await server.daemon.stop();
});

test('a refused client key is logged with its fingerprint and address', async () => {
  const path = keysFile('strict', 0o700, 0o600);
  const server = await startServer(serverHome, ['--no-control', '--echo', '--authorized-keys', path]);
  try {
    const refused = await runBraid(['cat', server.url, '--connect-timeout', '5000'], clientHome.env, {
      timeoutMs: 30_000,
    });
    assert.equal(refused.code, 8, refused.stderr);
    const clientKey = readFileSync(join(clientHome.configDir, 'id_braid.pub'), 'utf8').trim();
    const expected = fingerprint(decodeKey(clientKey));
    await server.daemon.waitFor(
      new RegExp(`refused session from ${expected} at 127\\.0\\.0\\.1:\\d+: client key not authorized`),
      15_000,
    );
  } finally {
    await server.daemon.stop();
  }
});
