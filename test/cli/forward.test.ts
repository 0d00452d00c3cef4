import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodeKey } from '../../src/crypto/identity.js';
import { generateKeyPair } from '../../src/index.js';
import { Daemon, makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
const body = randomBytes(300_000);
const bodyHash = createHash('sha256').update(body).digest('hex');
const http = createHttpServer((_request, response) => response.end(body));
let httpPort = 0;
let server: Awaited<ReturnType<typeof startServer>>;
const configPath = join(serverHome.dir, 'serve.conf');

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  httpPort = (http.address() as AddressInfo).port;
  writeFileSync(configPath, `# test config\nallow-any\necho\nallow web=127.0.0.1:${httpPort}\n`);
  server = await startServer(serverHome, ['--config', configPath]);
});

after(async () => {
  await server?.daemon.stop();
  http.close();
  serverHome.cleanup();
  clientHome.cleanup();
});

test('cat echoes through the server; a plain host:port is trusted on first use and remembered', async () => {
  const target = `127.0.0.1:${server.port}`;
  const first = await runBraid(['cat', target], clientHome.env, { input: 'hello braid\n' });
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, 'hello braid\n');
  assert.match(first.stderr, /Permanently added 127\.0\.0\.1:\d+/);
  const knownHosts = readFileSync(join(clientHome.configDir, 'known_hosts'), 'utf8');
  assert.ok(knownHosts.includes(`${target} ${server.publicKey}`));

  const second = await runBraid(['cat', target], clientHome.env, { input: 'again' });
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, 'again');
  assert.doesNotMatch(second.stderr, /Permanently added/);
});

test('a braid:// target pins the key; a different pinned or known key is refused loudly', async () => {
  const pinned = await runBraid(['cat', server.url], clientHome.env, { input: 'pinned' });
  assert.equal(pinned.code, 0, pinned.stderr);
  assert.equal(pinned.stdout, 'pinned');

  const otherKey = encodeKey(generateKeyPair().publicKey);
  const wrongPin = await runBraid(
    ['cat', `braid://${otherKey}@127.0.0.1:${server.port}`, '--connect-timeout', '800'],
    clientHome.env,
    { input: 'x' },
  );
  assert.equal(wrongPin.code, 4, wrongPin.stderr);
  assert.match(wrongPin.stderr, /REMOTE SERVER IDENTIFICATION HAS CHANGED/);
  assert.ok(wrongPin.stderr.includes(server.publicKey), 'names the key the server presented');
  assert.equal(wrongPin.stdout, '');

  const knownHostsPath = join(clientHome.dir, 'stale_known_hosts');
  writeFileSync(knownHostsPath, `127.0.0.1:${server.port} ${otherKey}\n`);
  const stale = await runBraid(
    ['cat', `127.0.0.1:${server.port}`, '--known-hosts', knownHostsPath, '--connect-timeout', '800'],
    clientHome.env,
  );
  assert.equal(stale.code, 4, stale.stderr);
  assert.match(stale.stderr, /HAS CHANGED[\s\S]*stale_known_hosts:1 remembers/);

  const strict = await runBraid(
    ['cat', `127.0.0.1:${server.port}`, '--strict', '--known-hosts', join(clientHome.dir, 'empty')],
    clientHome.env,
  );
  assert.equal(strict.code, 4, strict.stderr);
  assert.match(strict.stderr, /key of 127\.0\.0\.1:\d+ is unknown/);
});

test('a tunnel carries HTTP intact; a refused target is told why', async () => {
  const tunnel = new Daemon(
    ['tunnel', server.url, '-L', '127.0.0.1:0:web', '-L', '0:10.255.255.1:80'],
    clientHome.env,
  );
  try {
    const [, webPort] = await tunnel.waitFor(/forwarding 127\.0\.0\.1:(\d+) → web/);
    const [, refusedPort] = await tunnel.waitFor(/forwarding 127\.0\.0\.1:(\d+) → 10\.255\.255\.1:80/);
    await tunnel.waitFor(/ready/);
    const fetched = await new Promise<Buffer>((resolve, reject) => {
      get(`http://127.0.0.1:${webPort}/`, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () => resolve(Buffer.concat(chunks)));
        response.on('error', reject);
      }).on('error', reject);
    });
    assert.equal(createHash('sha256').update(fetched).digest('hex'), bodyHash);

    await assert.rejects(
      new Promise((resolve, reject) => get(`http://127.0.0.1:${refusedPort}/`, resolve).on('error', reject)),
    );
    await tunnel.waitFor(
      /refused '10\.255\.255\.1:80' \(not allowed\): 10\.255\.255\.1:80 is not in this server's allow-list/,
    );
  } finally {
    assert.equal(await tunnel.stop('SIGINT'), 0);
  }
});

test('cat --to reports a refused forward with exit 5 and the server reason', async () => {
  const refused = await runBraid(['cat', server.url, '--to', '127.0.0.1:1'], clientHome.env);
  assert.equal(refused.code, 5, refused.stderr);
  assert.match(refused.stderr, /refused '127\.0\.0\.1:1' \(not allowed\).*allowed names: web/);
});

test('SIGHUP reloads the allow-list and the authorized keys', async () => {
  const echo = createTcpServer((socket) => socket.pipe(socket));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const echoTarget = `127.0.0.1:${(echo.address() as AddressInfo).port}`;
  try {
    const before = await runBraid(['cat', server.url, '--to', echoTarget], clientHome.env, { input: 'x' });
    assert.equal(before.code, 5, before.stderr);

    writeFileSync(configPath, `allow-any\necho\nallow web=127.0.0.1:${httpPort}\nallow ${echoTarget}\n`);
    server.daemon.child.kill('SIGHUP');
    await server.daemon.waitFor(/SIGHUP: reloaded.*allow-list: 2 entries/);
    const afterReload = await runBraid(['cat', server.url, '--to', echoTarget], clientHome.env, {
      input: 'through tcp',
    });
    assert.equal(afterReload.code, 0, afterReload.stderr);
    assert.equal(afterReload.stdout, 'through tcp');

    // Only some other key is authorized now: our client is refused with exit 8.
    const keysPath = join(serverHome.dir, 'authorized');
    writeFileSync(keysPath, `${encodeKey(generateKeyPair().publicKey)} someone-else\n`);
    writeFileSync(configPath, `authorized-keys ${keysPath}\necho\n`);
    server.daemon.child.kill('SIGHUP');
    await server.daemon.waitFor(/SIGHUP: reloaded; clients: 1 key/);
    const unauthorized = await runBraid(['cat', server.url, '--connect-timeout', '2000'], clientHome.env);
    assert.equal(unauthorized.code, 8, unauthorized.stderr);
    assert.match(unauthorized.stderr, /refused our key.* ask its operator/);
  } finally {
    writeFileSync(configPath, `allow-any\necho\nallow web=127.0.0.1:${httpPort}\n`);
    server.daemon.child.kill('SIGHUP');
    echo.close();
  }
});

test('an unreachable server lists every address tried; a used port exits 6; a foreign --local-address exits 2', async () => {
  const silent = createTcpServer();
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const usedPort = (silent.address() as AddressInfo).port;
  try {
    const [unreachable, inUse, notHere] = await Promise.all([
      runBraid(['cat', 'localhost:9', '--connect-timeout', '500'], clientHome.env),
      runBraid(['tunnel', server.url, '-L', `${usedPort}:web`], clientHome.env),
      runBraid(['cat', server.url, '--local-address', '192.0.2.99'], clientHome.env),
    ]);
    assert.equal(notHere.code, 2, notHere.stderr);
    assert.match(notHere.stderr, /cannot bind 192\.0\.2\.99: not an address of this host/);
    assert.equal(unreachable.code, 7, unreachable.stderr);
    assert.match(
      unreachable.stderr,
      /cannot reach the braid server localhost:9; tried:\n {2}\S+:9: no answer within 500 ms/,
    );
    assert.equal(inUse.code, 6, inUse.stderr);
    assert.match(inUse.stderr, new RegExp(`127\\.0\\.0\\.1:${usedPort}: the port is already in use`));
  } finally {
    silent.close();
  }
});

test('SIGTERM stops the server gracefully with exit 0', async () => {
  const other = await startServer(serverHome, ['--allow-any']);
  assert.equal(await other.daemon.stop('SIGTERM'), 0);
  assert.match(other.daemon.stderr, /SIGTERM: closing \d+ session\(s\)[\s\S]*stopped/);
});
