import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeKey, fingerprint } from '../../src/crypto/identity.js';
import { makeHome, runBraid } from '../../testing/harness/braid-command.js';

const home = makeHome();
after(() => home.cleanup());

test('keygen writes a 0600 key pair in $XDG_CONFIG_HOME/braid and prints key and fingerprint', async () => {
  const result = await runBraid(['keygen'], home.env);
  assert.equal(result.code, 0, result.stderr);
  const path = join(home.configDir, 'id_braid');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const publicText = readFileSync(`${path}.pub`, 'utf8').trim();
  const publicKey = decodeKey(publicText);
  assert.match(result.stdout, new RegExp(`public key\\s+${publicText}`));
  assert.match(result.stdout, new RegExp(`fingerprint\\s+${fingerprint(publicKey)}`));

  const again = await runBraid(['keygen'], home.env);
  assert.equal(again.code, 3);
  assert.match(again.stderr, /already exists.*--force/);
  assert.equal(readFileSync(`${path}.pub`, 'utf8').trim(), publicText, 'the old key is kept');

  const forced = await runBraid(['keygen', '--force'], home.env);
  assert.equal(forced.code, 0, forced.stderr);
  assert.notEqual(readFileSync(`${path}.pub`, 'utf8').trim(), publicText);
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test('a group- or world-readable key file is refused with the chmod that fixes it', async () => {
  const path = join(home.dir, 'loose-key');
  assert.equal((await runBraid(['keygen', '--key', path], home.env)).code, 0);
  chmodSync(path, 0o644);
  const result = await runBraid(['serve', '--allow-any', '--key', path, '--listen', '127.0.0.1:0'], home.env);
  assert.equal(result.code, 3);
  assert.match(result.stderr, /permissions 0644 for .*loose-key are too open/);
  assert.ok(result.stderr.includes(`chmod 600 ${path}`));

  const missing = await runBraid(['cat', '127.0.0.1:9', '--key', join(home.dir, 'nope')], home.env);
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /no key file at .*nope; create one with: braid keygen/);
});

test('usage errors exit 2 and show the relevant usage', async () => {
  const [unknown, badFlag, badForward, noClients, badLocal, extra] = await Promise.all([
    runBraid(['frobnicate'], home.env),
    runBraid(['tunnel', 'host', '--bogus'], home.env),
    runBraid(['tunnel', 'host', '-L', 'nonsense'], home.env),
    runBraid(['serve'], home.env),
    runBraid(['cat', 'host', '--local-address', 'eth0'], home.env),
    runBraid(['status', 'extra'], home.env),
  ]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  assert.match(unknown.stderr, /exit codes:/);

  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /unknown option '--bogus'/);
  assert.match(badFlag.stderr, /usage: braid tunnel/);

  assert.equal(badForward.code, 2);
  assert.match(badForward.stderr, /-L 'nonsense' must be \[BIND:\]PORT:TARGET/);

  assert.equal(noClients.code, 2);
  assert.match(noClients.stderr, /--authorized-keys FILE, or --allow-any/);

  assert.equal(badLocal.code, 2, badLocal.stderr);
  assert.match(badLocal.stderr, /--local-address 'eth0' is not an IP address/);
  assert.match(badLocal.stderr, /usage: braid cat/);

  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /unexpected argument 'extra'/);
});

test('a key file that cannot be read or is not a key pair exits 3 and says what to do', async () => {
  const directory = await runBraid(['cat', '127.0.0.1:9', '--key', home.dir], home.env);
  assert.equal(directory.code, 3, directory.stderr);
  assert.match(directory.stderr, /cannot read key file .*: EISDIR/);

  const garbage = join(home.dir, 'garbage');
  writeFileSync(garbage, 'private nonsense\npublic nonsense\n', { mode: 0o600 });
  const notAKey = await runBraid(['cat', '127.0.0.1:9', '--key', garbage], home.env);
  assert.equal(notAKey.code, 3, notAKey.stderr);
  assert.match(notAKey.stderr, /is not a braid key file .*create a new one with: braid keygen --force/);

  // A public key that does not belong to the private key would fail every handshake obscurely.
  const a = join(home.dir, 'a');
  const b = join(home.dir, 'b');
  await Promise.all([runBraid(['keygen', '--key', a], home.env), runBraid(['keygen', '--key', b], home.env)]);
  const mixed = join(home.dir, 'mixed');
  const privateLine = readFileSync(a, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('private'));
  const publicLine = readFileSync(b, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('public'));
  writeFileSync(mixed, `${privateLine}\n${publicLine}\n`, { mode: 0o600 });
  const mismatch = await runBraid(['cat', '127.0.0.1:9', '--key', mixed], home.env);
  assert.equal(mismatch.code, 3, mismatch.stderr);
  assert.match(mismatch.stderr, /its public key does not belong to its private key/);
});
