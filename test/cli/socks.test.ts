import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { Daemon, makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const run = promisify(execFile);
const curlAvailable = await run('curl', ['--version']).then(
  () => true,
  () => false,
);

const serverHome = makeHome();
const clientHome = makeHome();
const body = randomBytes(500_000);
const bodyHash = createHash('sha256').update(body).digest('hex');
const http = createHttpServer((_request, response) => response.end(body));
let httpPort = 0;
let server: Awaited<ReturnType<typeof startServer>> | undefined;
let socks: Daemon | undefined;
let socksPort = 0;

before(async () => {
  if (!curlAvailable) return;
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  httpPort = (http.address() as AddressInfo).port;
  // 'localhost' is allowed by name: the proxy passes domain names to the server unresolved.
  server = await startServer(serverHome, [
    '--allow-any',
    '--allow',
    `localhost:${httpPort}`,
    '--allow',
    `127.0.0.1:${httpPort}`,
  ]);
  socks = new Daemon(
    ['socks', server.url, '--listen', '127.0.0.1:0', '--auth', 'alice:s3cret'],
    clientHome.env,
  );
  const [, port] = await socks.waitFor(/socks5 proxy on 127\.0\.0\.1:(\d+)/);
  socksPort = Number(port);
  await socks.waitFor(/ready/);
});

after(async () => {
  await socks?.stop('SIGINT');
  await server?.daemon.stop();
  http.close();
  serverHome.cleanup();
  clientHome.cleanup();
});

async function curl(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  try {
    const { stdout, stderr } = await run('curl', ['-sS', '--max-time', '10', ...args], {
      encoding: 'buffer',
      maxBuffer: 10 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr: stderr.toString() };
  } catch (error) {
    const e = error as { code: number; stdout: Buffer; stderr: Buffer };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr.toString() };
  }
}

test('curl --socks5-hostname fetches a file through braid socks (domain name, user/pass)', {
  skip: curlAvailable ? false : 'curl is not installed (scripts/setup-system.sh installs it)',
}, async () => {
  const result = await curl([
    '--socks5-hostname',
    `alice:s3cret@127.0.0.1:${socksPort}`,
    `http://localhost:${httpPort}/file`,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(createHash('sha256').update(result.stdout).digest('hex'), bodyHash);
});

test('curl --socks5 with an IPv4 address works too', {
  skip: curlAvailable ? false : 'curl is not installed',
}, async () => {
  const result = await curl([
    '--socks5',
    `alice:s3cret@127.0.0.1:${socksPort}`,
    `http://127.0.0.1:${httpPort}/`,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(createHash('sha256').update(result.stdout).digest('hex'), bodyHash);
});

test('a wrong password and a target outside the allow-list are refused', {
  skip: curlAvailable ? false : 'curl is not installed',
}, async () => {
  const wrongPassword = await curl([
    '--socks5-hostname',
    `alice:nope@127.0.0.1:${socksPort}`,
    `http://localhost:${httpPort}/`,
  ]);
  assert.notEqual(wrongPassword.code, 0);
  assert.match(wrongPassword.stderr, /authentication failed|User was rejected/i);

  const refused = await curl([
    '--socks5-hostname',
    `alice:s3cret@127.0.0.1:${socksPort}`,
    'http://localhost:1/',
  ]);
  assert.notEqual(refused.code, 0);
  // curl prints the RFC 1928 reply code: 2 = connection not allowed by ruleset.
  assert.match(refused.stderr, /SOCKS5 connection to localhost\. \(2\)/);
  await socks!.waitFor(/CONNECT localhost:1 failed: the server refused 'localhost:1' \(not allowed\)/);
});
