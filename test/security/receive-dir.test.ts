/**
 * Issue 12 item 6 and the receive-name bugs of item 10: the receiver must not write through a
 * link planted at one of its own file names, must refuse a receive directory others may write
 * to unless told otherwise, must count a name's bytes (with the suffix it adds), and must not
 * let one transfer's name be another transfer's temporary file.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MAX_NAME_BYTES, parseOffer } from '../../src/cli/shared/file-transfer.js';
import { Daemon, makeHome, runBraid } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
const incoming = join(serverHome.dir, 'incoming');
let receiver: Daemon;
let url = '';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const offer = (name: string): string => JSON.stringify({ name, size: 1, sha256: '0'.repeat(64) });

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  receiver = new Daemon(
    ['receive', '--dir', incoming, '--listen', '127.0.0.1:0', '--allow-any', '--no-control'],
    serverHome.env,
  );
  const [, port] = (await receiver.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 30_000)) as [string, string];
  const [, key] = (await receiver.waitFor(/server key (\S+)/)) as [string, string];
  await receiver.waitFor(/ready/, 30_000);
  url = `braid://${key}@127.0.0.1:${port}`;
});

after(async () => {
  await receiver?.stop();
  serverHome.cleanup();
  clientHome.cleanup();
});

for (const planted of [
  '.victim.bin.braid-partial',
  '.victim.bin.braid-state.tmp',
  '.victim.bin.braid-state',
]) {
  test(`a link planted at ${planted} is replaced, never written through`, async () => {
    const precious = join(serverHome.dir, `precious-${planted}`);
    writeFileSync(precious, 'the operator keeps this\n');
    symlinkSync(precious, join(incoming, planted));
    const data = randomBytes(50_000);
    const file = join(clientHome.dir, 'victim.bin');
    writeFileSync(file, data);
    try {
      const result = await runBraid(['send', file, url], clientHome.env);
      assert.equal(result.code, 0, `${result.stderr}\n${receiver.stderr}`);
      assert.equal(readFileSync(precious, 'utf8'), 'the operator keeps this\n');
      assert.equal(sha256(readFileSync(join(incoming, 'victim.bin'))), sha256(data));
      assert.deepEqual(readdirSync(incoming), ['victim.bin'], 'no link and no temporary file is left');
    } finally {
      for (const name of readdirSync(incoming)) unlinkSync(join(incoming, name));
    }
  });
}

test('a hard link to another file of ours at the partial name is not continued into', async () => {
  const data = randomBytes(20_000);
  const file = join(clientHome.dir, 'linked.bin');
  writeFileSync(file, data);
  const precious = join(serverHome.dir, 'precious-hardlink');
  writeFileSync(precious, 'x'.repeat(10));
  linkSync(precious, join(incoming, '.linked.bin.braid-partial'));
  // A state file that matches the offer, so the old code resumed into the linked file.
  writeFileSync(
    join(incoming, '.linked.bin.braid-state'),
    JSON.stringify({ name: 'linked.bin', size: data.length, sha256: sha256(data), durable: 10 }),
  );
  try {
    const result = await runBraid(['send', file, url], clientHome.env);
    assert.equal(result.code, 0, `${result.stderr}\n${receiver.stderr}`);
    assert.equal(readFileSync(precious, 'utf8'), 'x'.repeat(10));
    assert.equal(sha256(readFileSync(join(incoming, 'linked.bin'))), sha256(data));
  } finally {
    for (const name of readdirSync(incoming)) unlinkSync(join(incoming, name));
  }
});

test('names are measured in bytes with the suffix the receiver adds; its own suffixes are reserved', async () => {
  assert.equal(MAX_NAME_BYTES, 238);
  assert.equal(parseOffer(offer('a'.repeat(238))).name.length, 238);
  assert.throws(() => parseOffer(offer('a'.repeat(239))), /239 bytes in UTF-8; at most 238/);
  // 200 characters, 400 bytes: the old check counted characters.
  assert.throws(() => parseOffer(offer('é'.repeat(200))), /400 bytes in UTF-8/);
  for (const name of ['x.braid-state.tmp', '.x.braid-state.tmp', 'x.braid-state', 'x.braid-partial']) {
    assert.throws(() => parseOffer(offer(name)), /reserved for the receiver's own files/, name);
  }

  // The longest name works on a real file system; one byte more is a clean refusal.
  const file = join(clientHome.dir, 'long');
  writeFileSync(file, 'long name\n');
  const longest = 'n'.repeat(MAX_NAME_BYTES);
  const ok = await runBraid(['send', file, url, '--name', longest], clientHome.env);
  assert.equal(ok.code, 0, `${ok.stderr}\n${receiver.stderr}`);
  assert.equal(readFileSync(join(incoming, longest), 'utf8'), 'long name\n');
  unlinkSync(join(incoming, longest));
  const tooLong = await runBraid(['send', file, url, '--name', `${longest}n`], clientHome.env);
  assert.equal(tooLong.code, 5, tooLong.stderr);
  assert.match(tooLong.stderr, /bad request.*239 bytes in UTF-8; at most 238/);
  const temporary = await runBraid(['send', file, url, '--name', '.x.braid-state.tmp'], clientHome.env);
  assert.equal(temporary.code, 5, temporary.stderr);
  assert.match(temporary.stderr, /reserved for the receiver's own files/);
});

test('a receive directory others may write to is refused unless --shared-receive-dir', async () => {
  const shared = join(serverHome.dir, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const args = ['receive', '--dir', shared, '--listen', '127.0.0.1:0', '--allow-any', '--no-control'];
  const refused = await runBraid(args, serverHome.env);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(
    refused.stderr,
    /bad permissions 1777 for receive directory .*shared: other users could plant files and links .*Fix with: chmod go-w .*shared, or accept it with --shared-receive-dir/,
  );
  const accepted = new Daemon([...args, '--shared-receive-dir'], serverHome.env);
  try {
    await accepted.waitFor(/ready/, 30_000);
    assert.equal(statSync(shared).mode & 0o7777, 0o1777, 'its mode is left alone');
  } finally {
    await accepted.stop();
  }
});
