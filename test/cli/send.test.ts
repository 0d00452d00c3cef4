import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Daemon, makeHome, runBraid } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
const incoming = join(serverHome.dir, 'incoming');
let receiver: Daemon;
let url = '';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  receiver = new Daemon(
    ['receive', '--dir', incoming, '--listen', '127.0.0.1:0', '--allow-any'],
    serverHome.env,
  );
  const [, port] = (await receiver.waitFor(/listening on 127\.0\.0\.1:(\d+)/)) as [string, string];
  const [, key] = (await receiver.waitFor(/server key (\S+)/)) as [string, string];
  await receiver.waitFor(/ready/);
  url = `braid://${key}@127.0.0.1:${port}`;
});

after(async () => {
  await receiver?.stop();
  serverHome.cleanup();
  clientHome.cleanup();
});

test('send verifies SHA-256; a killed send resumes and sends only the remainder', async () => {
  const data = randomBytes(6 * 1024 * 1024);
  const file = join(clientHome.dir, 'big.bin');
  writeFileSync(file, data);
  const partial = join(incoming, '.big.bin.braid-partial');

  // Throttled so that it is still running when killed.
  const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
  const first = spawn(process.execPath, ['--import', 'tsx', MAIN, 'send', file, url, '--limit-rate', '1m'], {
    env: clientHome.env,
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => first.on('exit', resolve));
  const deadline = Date.now() + 15_000;
  while (!(existsSync(partial) && statSync(partial).size >= 1024 * 1024)) {
    assert.ok(Date.now() < deadline, `the first send wrote 1 MiB in time:\n${receiver.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  first.kill('SIGKILL');
  await exited;
  assert.ok(existsSync(join(incoming, '.big.bin.braid-state')), 'the state file is kept');
  assert.ok(!existsSync(join(incoming, 'big.bin')), 'no file under its name before it is verified');

  const second = await runBraid(['send', file, url], clientHome.env, { timeoutMs: 30_000 });
  assert.equal(second.code, 0, second.stderr);
  const match =
    /sent (\d+) bytes \(resumed at (\d+)\) of big\.bin \(6291456 bytes\) in [\d.]+ s; sha256 ([0-9a-f]{64}) verified/.exec(
      second.stdout,
    );
  assert.ok(match, second.stdout);
  const [, sent, resumedAt, hash] = match;
  assert.ok(Number(resumedAt) >= 1024 * 1024, `resumed at ${resumedAt}`);
  assert.equal(Number(sent) + Number(resumedAt), data.length, 'only the remainder was sent');
  assert.equal(hash, sha256(data));
  assert.match(second.stderr, /resuming at \d+ of 6291456 bytes/);
  assert.match(receiver.stderr, new RegExp(`big\\.bin: resuming at ${resumedAt} of 6291456 bytes`));

  assert.equal(sha256(readFileSync(join(incoming, 'big.bin'))), sha256(data));
  assert.deepEqual(readdirSync(incoming), ['big.bin'], 'partial and state files are gone');

  // Sending it again finds it complete: nothing to send.
  const again = await runBraid(['send', file, url], clientHome.env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^sent 0 bytes \(resumed at 6291456\)/);
});

test('a receiver prefix that differs from the file is not trusted: the send starts over', async () => {
  const data = randomBytes(300_000);
  const file = join(clientHome.dir, 'small.bin');
  writeFileSync(file, data);
  // A partial copy from an earlier send of the same name and hash, but with damaged bytes.
  const damaged = Buffer.from(data.subarray(0, 100_000));
  damaged[500] = damaged[500]! ^ 0xff;
  writeFileSync(join(incoming, '.small.bin.braid-partial'), damaged);
  writeFileSync(
    join(incoming, '.small.bin.braid-state'),
    JSON.stringify({ name: 'small.bin', size: data.length, sha256: sha256(data) }),
  );
  const result = await runBraid(['send', file, url], clientHome.env);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /partial copy does not match .*small\.bin; starting over/);
  assert.match(result.stdout, /^sent 300000 bytes of small\.bin/);
  assert.equal(sha256(readFileSync(join(incoming, 'small.bin'))), sha256(data));

  const other = join(clientHome.dir, 'other');
  writeFileSync(other, 'different content');
  const clash = await runBraid(['send', other, url, '--name', 'small.bin'], clientHome.env);
  assert.equal(clash.code, 5, clash.stderr);
  assert.match(clash.stderr, /small\.bin already exists on the server with different content/);

  const traversal = await runBraid(['send', other, url, '--name', '../evil'], clientHome.env);
  assert.equal(traversal.code, 5, traversal.stderr);
  assert.match(traversal.stderr, /bad request.*plain name/);
  assert.ok(!existsSync(join(serverHome.dir, 'evil')));

  const noFile = await runBraid(['send', join(clientHome.dir, 'nope'), url], clientHome.env);
  assert.equal(noFile.code, 1);
  assert.match(noFile.stderr, /cannot send .*nope: ENOENT/);
});

test('on a terminal: a progress bar and human-readable logs (run under script(1) for a pty)', async (t) => {
  if (!existsSync('/usr/bin/script')) {
    t.skip('script(1) is not installed');
    return;
  }
  const file = join(clientHome.dir, 'tty.bin');
  writeFileSync(file, randomBytes(2 * 1024 * 1024));
  const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, '--import', 'tsx', MAIN, 'send', file, url, '--limit-rate', '4m']
    .map(quote)
    .join(' ');
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('/usr/bin/script', ['-qefc', command, '/dev/null'], {
      env: { ...clientHome.env, BRAID_LOG_FORMAT: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.on('data', (c: Buffer) => {
      text += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(text);
      else reject(new Error(`exit ${code}: ${text}`));
    });
  });
  assert.match(output, /braid send: sending tty\.bin: 2097152 of 2097152 bytes/, 'text logs, not JSON');
  assert.doesNotMatch(output, /"level"/);
  assert.match(output, /\r\[#{30}\] 100% {2}2\.00 MiB \/ 2\.00 MiB/);
  assert.match(output, /\r\[#{1,29} *\] +\d{1,2}%/, 'a partial bar was drawn on the way');
  assert.equal(sha256(readFileSync(join(incoming, 'tty.bin'))), sha256(readFileSync(file)));
});

test('a receiver killed mid-transfer restarts from its last durable checkpoint', async () => {
  const data = randomBytes(6 * 1024 * 1024);
  const file = join(clientHome.dir, 'crash.bin');
  writeFileSync(file, data);
  const dir = join(serverHome.dir, 'crash-incoming');
  const start = async (port: number) => {
    const daemon = new Daemon(
      ['receive', '--dir', dir, '--listen', `127.0.0.1:${port}`, '--allow-any', '--no-control'],
      serverHome.env,
    );
    const [, bound] = (await daemon.waitFor(/listening on 127\.0\.0\.1:(\d+)/)) as [string, string];
    const [, key] = (await daemon.waitFor(/server key (\S+)/)) as [string, string];
    await daemon.waitFor(/ready/);
    return { daemon, url: `braid://${key}@127.0.0.1:${bound}`, port: Number(bound) };
  };
  const first = await start(0);
  const state = join(dir, '.crash.bin.braid-state');
  const durableOf = (): number => {
    try {
      return Number(JSON.parse(readFileSync(state, 'utf8')).durable ?? 0);
    } catch {
      return 0;
    }
  };
  const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
  const sender = spawn(
    process.execPath,
    ['--import', 'tsx', MAIN, 'send', file, first.url, '--limit-rate', '1m'],
    {
      env: clientHome.env,
      stdio: 'ignore',
    },
  );
  const senderExited = new Promise((resolve) => sender.on('exit', resolve));
  const deadline = Date.now() + 15_000;
  while (durableOf() < 1024 * 1024) {
    assert.ok(Date.now() < deadline, `a checkpoint of ≥ 1 MiB was recorded in time:\n${first.daemon.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // Both processes die at once (the receiving machine crashed; the sender was stopped).
  await first.daemon.stop('SIGKILL');
  sender.kill('SIGKILL');
  await senderExited;
  const durable = durableOf();
  assert.ok(durable >= 1024 * 1024 && durable < data.length, `durable ${durable}`);
  assert.ok(statSync(join(dir, '.crash.bin.braid-partial')).size >= durable);

  const second = await start(first.port);
  try {
    const result = await runBraid(['send', file, second.url], clientHome.env, { timeoutMs: 30_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`\\(resumed at ${durable}\\) of crash\\.bin`));
    assert.equal(sha256(readFileSync(join(dir, 'crash.bin'))), sha256(data));
  } finally {
    await second.daemon.stop();
  }
});
