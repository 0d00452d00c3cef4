// Hints that point the right way, checked on the real command: an IPv6 address without
// brackets gets the bracketing that was meant, a public key given as --key is named as such
// (not answered with a chmod), and the send progress bar tells the time left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { COMMAND, Daemon, makeHome, runBraid } from '../../testing/harness/braid-command.js';

const home = makeHome();
const serverHome = makeHome();
const keyPath = join(home.configDir, 'id_braid');

before(async () => {
  const made = await runBraid(['keygen'], home.env);
  assert.equal(made.code, 0, made.stderr);
});
after(() => {
  home.cleanup();
  serverHome.cleanup();
});

test('an unbracketed IPv6 server address is answered with the bracketing meant', async () => {
  const ambiguous = await runBraid(['ping', '::1:6433'], home.env);
  assert.equal(ambiguous.code, 2);
  assert.match(
    ambiguous.stderr,
    /\[::1\]:6433 if 6433 is the port, or \[::1:6433\] \(port 4433\) if it is part/,
  );
  assert.doesNotMatch(
    ambiguous.stderr,
    /\[::1:6433\]:4433/,
    'never the whole text bracketed with a port added',
  );

  // Only the port reading is an address: no alternative offered.
  const portOnly = await runBraid(['ping', 'fe80::1:2:3:4:5:6:4433'], home.env);
  assert.equal(portOnly.code, 2);
  assert.match(portOnly.stderr, /write IPv6 addresses in brackets: \[fe80::1:2:3:4:5:6\]:4433\n/);

  // The last group cannot be a port ('fe80:' is no address): the address on the default port.
  const addressOnly = await runBraid(['ping', 'fe80::1'], home.env);
  assert.equal(addressOnly.code, 2);
  assert.match(addressOnly.stderr, /write IPv6 addresses in brackets: \[fe80::1\] \(port 4433\)\n/);

  // host:port flags say it too.
  const listen = await runBraid(['socks', 'example.org', '--listen', '::1:1080'], home.env);
  assert.equal(listen.code, 2);
  assert.match(
    listen.stderr,
    /--listen '::1:1080' must be host:port or \[ipv6\]:port; .*\[::1\]:1080 if 1080 is the port/,
  );
});

test('--key given a public key says so, even though a .pub file is world-readable', async () => {
  const result = await runBraid(['ping', '127.0.0.1:9', '--key', `${keyPath}.pub`], home.env);
  assert.equal(result.code, 3);
  assert.match(
    result.stderr,
    new RegExp(
      `${keyPath}\\.pub is a public key, not a key pair; give its private key file ${keyPath} instead`,
    ),
  );
  assert.doesNotMatch(result.stderr, /chmod/);

  // Under another name, with the mode of a private key: still recognised by its content.
  const copy = join(home.dir, 'server-key');
  writeFileSync(
    copy,
    `  ${(await runBraid(['keygen', '--key', join(home.dir, 'k2')], home.env)).stdout.split(/\s+/)[2]}\n`,
  );
  chmodSync(copy, 0o600);
  const served = await runBraid(['serve', '--key', copy, '--allow-any', '--listen', '127.0.0.1:0'], home.env);
  assert.equal(served.code, 3);
  assert.match(served.stderr, /server-key is a public key, not a key pair; give the private key file/);

  // A real key pair with open permissions still gets the chmod advice.
  chmodSync(keyPath, 0o644);
  try {
    const open = await runBraid(['ping', '127.0.0.1:9', '--key', keyPath], home.env);
    assert.equal(open.code, 3);
    assert.match(open.stderr, /too open: .*chmod 600/);
  } finally {
    chmodSync(keyPath, 0o600);
  }
});

test('the send progress bar on a terminal shows the rate and the time left', async (t) => {
  await runBraid(['keygen'], serverHome.env);
  const receiver = new Daemon(
    ['receive', '--dir', join(serverHome.dir, 'in'), '--listen', '127.0.0.1:0', '--allow-any'],
    serverHome.env,
  );
  t.after(() => receiver.stop());
  const [, port] = (await receiver.waitFor(/listening on 127\.0\.0\.1:(\d+)/)) as [string, string];
  const [, key] = (await receiver.waitFor(/server key (\S+)/)) as [string, string];
  await receiver.waitFor(/ready/);
  const file = join(home.dir, 'four-seconds.bin');
  writeFileSync(file, randomBytes(2 * 1024 * 1024));
  // script(1) gives the command a terminal, so it draws its bar; 512 KiB/s makes it last ~4 s.
  const commandLine = [process.execPath, ...COMMAND, 'send', file, `braid://${key}@127.0.0.1:${port}`]
    .concat(['--limit-rate', '512k'])
    .map((word) => `'${word}'`)
    .join(' ');
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('script', ['-qfec', commandLine, '/dev/null'], { env: home.env });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(text);
      else reject(new Error(`send under script exited ${code}:\n${text}`));
    });
  });
  const frames = output.split('\r').filter((frame) => frame.startsWith('['));
  // The first half second promises nothing: the first writes only fill buffers.
  assert.match(frames[0]!, / ETA - {3}$/, frames[0]);
  const running = frames.filter((frame) => / ETA \d+s/.test(frame));
  assert.ok(running.length >= 3, `frames with an ETA:\n${JSON.stringify(frames)}`);
  assert.match(running[0]!, /\d+% {2}[\d.]+ \w*B \/ 2\.00 MiB {2}[\d.]+ \w*bit\/s {2}ETA \d+s/);
  // About the 3.5 s left after the first half second, then less and less.
  const etas = running.map((frame) => Number(/ETA (\d+)s/.exec(frame)![1]));
  assert.ok(etas[0]! >= 2 && etas[0]! <= 10, `the first ETA is about the time left: ${etas}`);
  assert.ok(etas.at(-1)! < etas[0]!, `the ETA falls: ${etas}`);
  assert.ok(etas.at(-1)! >= 1, `rounded up, never 0s before the end: ${etas}`);
  // The finished bar says how long it took.
  assert.match(frames.at(-1)!, /100% {2}2\.00 MiB \/ 2\.00 MiB {2}.* in \d+s/);
  assert.match(output, /sha256 [0-9a-f]{64} verified by the receiver/);
});
