import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeKey, fingerprint } from '../../src/crypto/identity.js';
import { makeHome, runBraid } from './helpers.js';

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

test('usage errors exit 2 and show the relevant help; --help exits 0', async () => {
  const unknown = await runBraid(['frobnicate'], home.env);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  assert.match(unknown.stderr, /exit codes:/);

  const badFlag = await runBraid(['tunnel', 'host', '--bogus'], home.env);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /unknown option '--bogus'/);
  assert.match(badFlag.stderr, /usage: braid tunnel/);

  const badForward = await runBraid(['tunnel', 'host', '-L', 'nonsense'], home.env);
  assert.equal(badForward.code, 2);
  assert.match(badForward.stderr, /-L 'nonsense' must be \[BIND:\]PORT:TARGET/);

  const noClients = await runBraid(['serve'], home.env);
  assert.equal(noClients.code, 2);
  assert.match(noClients.stderr, /--authorized-keys FILE, or --allow-any/);

  const help = await runBraid(['--help'], home.env);
  assert.equal(help.code, 0);
  for (const word of ['keygen', 'serve', 'tunnel', 'socks', 'cat', 'exit codes', 'braid://']) {
    assert.ok(help.stdout.includes(word), `help mentions ${word}`);
  }
  const commands = ['keygen', 'serve', 'tunnel', 'socks', 'cat', 'demo'];
  const helps = await Promise.all(commands.map((command) => runBraid([command, '--help'], home.env)));
  helps.forEach((sub, i) => {
    assert.equal(sub.code, 0, `${commands[i]} --help`);
    assert.match(sub.stdout, new RegExp(`usage: braid ${commands[i]}`));
  });
});
