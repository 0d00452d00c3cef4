/**
 * Issue 12 item 7: a reverse forward (`--allow-reverse`) bound wherever the client asked (a
 * root server listened on 0.0.0.0:81). It must bind loopback unless the operator opts in
 * (--gateway-ports), refuse ports below 1024 unless allowed, and cap listeners per session.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer as createTcpServer } from 'node:net';
import { after, before, test } from 'node:test';
import { Daemon, makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
const echo = createTcpServer((socket) => socket.pipe(socket));
let echoPort = 0;
const STARTUP_MS = 30_000;

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as { port: number }).port;
});

after(() => {
  echo.close();
  serverHome.cleanup();
  clientHome.cleanup();
});

async function echoes(port: number): Promise<boolean> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.end('ping');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'close');
  return Buffer.concat(chunks).toString() === 'ping';
}

test('a reverse forward asked for 0.0.0.0 binds loopback unless the server has --gateway-ports', async () => {
  for (const [extra, expected] of [
    [[], '127.0.0.1'],
    [['--gateway-ports'], '0.0.0.0'],
  ] as const) {
    const server = await startServer(serverHome, [
      '--allow-any',
      '--allow-reverse',
      '--no-control',
      ...extra,
    ]);
    const tunnel = new Daemon(
      ['tunnel', server.url, '-R', `0.0.0.0:0:127.0.0.1:${echoPort}`, '--no-control'],
      clientHome.env,
    );
    try {
      const [, host, port] = (await tunnel.waitFor(/reverse forward: server (\S+):(\d+) → /, STARTUP_MS)) as [
        string,
        string,
        string,
      ];
      assert.equal(host, expected, tunnel.stderr);
      assert.ok(await echoes(Number(port)), 'the forward works');
      if (expected === '127.0.0.1') {
        assert.match(
          server.daemon.stderr,
          /asked for 0\.0\.0\.0:0; binding 127\.0\.0\.1:0 \(braid serve --gateway-ports/,
        );
      }
    } finally {
      await tunnel.stop();
      await server.daemon.stop();
    }
  }
});

test('ports below 1024 are refused unless the server has --reverse-low-ports', async () => {
  const server = await startServer(serverHome, ['--allow-any', '--allow-reverse', '--no-control']);
  try {
    const result = await runBraid(
      ['tunnel', server.url, '-R', `1023:127.0.0.1:${echoPort}`],
      clientHome.env,
      {
        timeoutMs: STARTUP_MS,
      },
    );
    assert.equal(result.code, 5, result.stderr);
    assert.match(
      result.stderr,
      /port 1023 is below 1024; this server allows that only with braid serve --reverse-low-ports/,
    );
    assert.match(server.daemon.stderr, /reverse forward 127\.0\.0\.1:1023 refused: port below 1024/);
  } finally {
    await server.daemon.stop();
  }
  if (process.getuid?.() !== 0) return; // Only root may bind them at all.
  const allowing = await startServer(serverHome, [
    '--allow-any',
    '--allow-reverse',
    '--reverse-low-ports',
    '--no-control',
  ]);
  const tunnel = new Daemon(
    ['tunnel', allowing.url, '-R', `1023:127.0.0.1:${echoPort}`, '--no-control'],
    clientHome.env,
  );
  try {
    await tunnel.waitFor(/reverse forward: server 127\.0\.0\.1:1023 → /, STARTUP_MS);
    assert.ok(await echoes(1023));
  } finally {
    await tunnel.stop();
    await allowing.daemon.stop();
  }
});

test('a session holds at most --max-reverse reverse forwards', async () => {
  const server = await startServer(serverHome, [
    '--allow-any',
    '--allow-reverse',
    '--max-reverse',
    '2',
    '--no-control',
  ]);
  try {
    const forwards = [0, 0, 0].flatMap(() => ['-R', `0:127.0.0.1:${echoPort}`]);
    const result = await runBraid(['tunnel', server.url, ...forwards], clientHome.env, {
      timeoutMs: STARTUP_MS,
    });
    assert.equal(result.code, 5, result.stderr);
    assert.match(
      result.stderr,
      /this session already holds 2 reverse forwards, the most this server allows \(braid serve --max-reverse\)/,
    );
    assert.match(server.daemon.stderr, /refused: 2 already held/);
    // The listeners of the refused session are gone with it; a new one gets its two again.
    const tunnel = new Daemon(
      [
        'tunnel',
        server.url,
        '-R',
        `0:127.0.0.1:${echoPort}`,
        '-R',
        `0:127.0.0.1:${echoPort}`,
        '--no-control',
      ],
      clientHome.env,
    );
    try {
      await tunnel.waitFor(/ready/, STARTUP_MS);
    } finally {
      await tunnel.stop();
    }
  } finally {
    await server.daemon.stop();
  }
  const bad = await runBraid(['serve', '--allow-any', '--max-reverse', '0'], serverHome.env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /'--max-reverse' needs a positive integer/);
});
