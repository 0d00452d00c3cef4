// braid tunnel and braid socks keep trying, like autossh: a server started late, a server
// restarted, a key the server refuses until its operator adds it. --exit-on-failure exits.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { retryDelay } from '../../src/cli/shared/session-keeper.js';
import { encodeKey } from '../../src/crypto/identity.js';
import { generateKeyPair } from '../../src/index.js';
import { Daemon, makeHome, runBraid } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
const echo = createTcpServer((socket) => socket.pipe(socket));
let echoPort = 0;
let serverKey = '';
const STARTUP_MS = 30_000;

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  serverKey = readFileSync(join(serverHome.configDir, 'id_braid.pub'), 'utf8').trim().split(/\s+/)[0]!;
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as AddressInfo).port;
});

after(() => {
  echo.close();
  serverHome.cleanup();
  clientHome.cleanup();
});

/** A UDP port nothing listens on (bound and released). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const { port } = socket.address();
  socket.close();
  return port;
}

/** `braid serve` on a given port (startServer picks its own), with the client's TCP target allowed. */
async function serveOn(
  port: number,
  extra: string[] = ['--allow-any'],
): Promise<{ daemon: Daemon; url: string }> {
  const daemon = new Daemon(
    [
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      '--allow',
      `mirror=127.0.0.1:${echoPort}`,
      '--no-control',
      ...extra,
    ],
    serverHome.env,
  );
  await daemon.waitFor(/ready/, STARTUP_MS);
  return { daemon, url: `braid://${serverKey}@127.0.0.1:${port}` };
}

/** Writes `text` to a connection and resolves with what comes back once that much has. */
async function echoed(socket: Socket, text: string): Promise<string> {
  let got = '';
  socket.setEncoding('utf8');
  const done = new Promise<string>((resolve, reject) => {
    socket.on('data', (chunk: string) => {
      got += chunk;
      if (got.length >= text.length) resolve(got);
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed after '${got}'`)));
  });
  socket.write(text);
  return done;
}

test('the retry delay doubles from 1 s up to 60 s, drawn from the upper half of each', () => {
  assert.equal(
    retryDelay(1, () => 0),
    500,
  );
  assert.equal(
    retryDelay(1, () => 1),
    1000,
  );
  assert.equal(
    retryDelay(3, () => 1),
    4000,
  );
  assert.equal(
    retryDelay(7, () => 0),
    30_000,
  );
  assert.equal(
    retryDelay(7, () => 1),
    60_000,
  );
  assert.equal(
    retryDelay(1000, () => 1),
    60_000,
  );
});

test('a tunnel started before its server keeps trying; a connection made meanwhile waits and is carried', async () => {
  const port = await freeUdpPort();
  const tunnel = new Daemon(
    [
      'tunnel',
      `braid://${serverKey}@127.0.0.1:${port}`,
      '-L',
      '0:mirror',
      '--connect-timeout',
      '300',
      '--no-control',
    ],
    clientHome.env,
  );
  let server: Awaited<ReturnType<typeof serveOn>> | undefined;
  try {
    // The listener is bound at once, before any session.
    const [, localPort] = (await tunnel.waitFor(/forwarding 127\.0\.0\.1:(\d+) → mirror/, STARTUP_MS)) as [
      string,
      string,
    ];
    await tunnel.waitFor(
      new RegExp(
        `attempt 1 failed: cannot reach the braid server 127\\.0\\.0\\.1:${port}.*; next attempt in \\d+\\.\\d s`,
      ),
      STARTUP_MS,
    );
    await tunnel.waitFor(/attempt 2 failed: .*next attempt in \d+\.\d s/, STARTUP_MS);
    assert.doesNotMatch(tunnel.stderr, /ready/);
    const early = connect({ host: '127.0.0.1', port: Number(localPort) });
    await once(early, 'connect');
    const answer = echoed(early, 'waited for the session');
    server = await serveOn(port);
    await tunnel.waitFor(new RegExp(`connected to 127\\.0\\.0\\.1:${port} after \\d+ attempts`), STARTUP_MS);
    await tunnel.waitFor(/ready/, STARTUP_MS);
    assert.equal(await answer, 'waited for the session');
    early.destroy();
  } finally {
    assert.equal(await tunnel.stop('SIGINT'), 0);
    await server?.daemon.stop();
  }
});

test('a tunnel outlives a restart of its server and carries new connections afterwards', async () => {
  const port = await freeUdpPort();
  let server = await serveOn(port);
  const tunnel = new Daemon(
    ['tunnel', server.url, '-L', '0:mirror', '--connect-timeout', '300', '--no-control'],
    clientHome.env,
  );
  try {
    const [, localPort] = (await tunnel.waitFor(/forwarding 127\.0\.0\.1:(\d+) → mirror/, STARTUP_MS)) as [
      string,
      string,
    ];
    await tunnel.waitFor(/ready/, STARTUP_MS);
    const before = connect({ host: '127.0.0.1', port: Number(localPort) });
    assert.equal(await echoed(before, 'before'), 'before');
    before.destroy();

    assert.equal(await server.daemon.stop('SIGTERM'), 0);
    await tunnel.waitFor(/session to 127\.0\.0\.1:\d+ closed.*; reconnecting in \d+\.\d s/, STARTUP_MS);
    await tunnel.waitFor(/attempt 1 failed: .*next attempt in/, STARTUP_MS);
    server = await serveOn(port);
    await tunnel.waitFor(/connected to 127\.0\.0\.1:\d+ after \d+ attempts/, STARTUP_MS);
    const afterRestart = connect({ host: '127.0.0.1', port: Number(localPort) });
    assert.equal(await echoed(afterRestart, 'after the restart'), 'after the restart');
    afterRestart.destroy();
    assert.equal(tunnel.child.exitCode, null, 'still running');
    assert.equal((tunnel.stderr.match(/ready/g) ?? []).length, 1, 'ready once, for the first session');
  } finally {
    assert.equal(await tunnel.stop('SIGTERM'), 0);
    await server.daemon.stop();
  }
});

test('a refused key is reported, never ready; the tunnel connects once the operator adds the key', async () => {
  const keysPath = join(serverHome.dir, 'authorized');
  writeFileSync(keysPath, `${encodeKey(generateKeyPair().publicKey)} someone-else\n`, { mode: 0o600 });
  const port = await freeUdpPort();
  const server = await serveOn(port, ['--authorized-keys', keysPath]);
  // A pinned key: IK, where the refusal comes only after the server's handshake reply.
  const tunnel = new Daemon(
    ['tunnel', server.url, '-L', '0:mirror', '--connect-timeout', '2000', '--no-control'],
    clientHome.env,
  );
  try {
    await tunnel.waitFor(
      /attempt 1 failed: 127\.0\.0\.1:\d+ refused our key \S+ \(fingerprint [\w-]+\); ask its operator to add it to the authorized keys; next attempt in/,
      STARTUP_MS,
    );
    await tunnel.waitFor(/attempt 2 failed: .*refused our key/, STARTUP_MS);
    assert.doesNotMatch(tunnel.stderr, /ready|session to .* closed/);

    const scripted = await runBraid(
      ['tunnel', server.url, '-L', '0:mirror', '--exit-on-failure', '--no-control'],
      clientHome.env,
      { timeoutMs: STARTUP_MS },
    );
    assert.equal(scripted.code, 8, scripted.stderr);
    assert.match(scripted.stderr, /refused our key .*ask its operator/);
    assert.doesNotMatch(scripted.stderr, /ready/);

    writeFileSync(keysPath, readFileSync(join(clientHome.configDir, 'id_braid.pub')));
    server.daemon.child.kill('SIGHUP');
    await server.daemon.waitFor(/SIGHUP: reloaded/, STARTUP_MS);
    await tunnel.waitFor(/connected to 127\.0\.0\.1:\d+ after \d+ attempts/, 90_000);
    await tunnel.waitFor(/ready/, STARTUP_MS);
  } finally {
    assert.equal(await tunnel.stop('SIGTERM'), 0);
    await server.daemon.stop();
  }
});

test('--exit-on-failure: socks and tunnel exit 7 when the server cannot be reached, as before', async () => {
  const port = await freeUdpPort();
  const url = `braid://${serverKey}@127.0.0.1:${port}`;
  const [socks, tunnel] = await Promise.all([
    runBraid(
      [
        'socks',
        url,
        '--listen',
        '127.0.0.1:0',
        '--connect-timeout',
        '300',
        '--exit-on-failure',
        '--no-control',
      ],
      clientHome.env,
      { timeoutMs: STARTUP_MS },
    ),
    runBraid(
      ['tunnel', url, '-L', '0:mirror', '--connect-timeout', '300', '--exit-on-failure', '--no-control'],
      clientHome.env,
      { timeoutMs: STARTUP_MS },
    ),
  ]);
  for (const result of [socks, tunnel]) {
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /cannot reach the braid server 127\.0\.0\.1:\d+; tried:/);
    assert.doesNotMatch(result.stderr, /next attempt|ready/);
  }
});

test('socks keeps trying until its server starts, then is ready', async () => {
  const port = await freeUdpPort();
  const socks = new Daemon(
    [
      'socks',
      `braid://${serverKey}@127.0.0.1:${port}`,
      '--listen',
      '127.0.0.1:0',
      '--connect-timeout',
      '300',
      '--no-control',
    ],
    clientHome.env,
  );
  let server: Awaited<ReturnType<typeof serveOn>> | undefined;
  try {
    await socks.waitFor(/socks5 proxy on 127\.0\.0\.1:\d+/, STARTUP_MS);
    await socks.waitFor(/attempt 1 failed: cannot reach .*; next attempt in/, STARTUP_MS);
    server = await serveOn(port);
    await socks.waitFor(/connected to 127\.0\.0\.1:\d+ after \d+ attempts/, STARTUP_MS);
    await socks.waitFor(/ready/, STARTUP_MS);
  } finally {
    assert.equal(await socks.stop('SIGINT'), 0);
    await server?.daemon.stop();
  }
});
