import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { Daemon, makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
// The TCP echo service lives on the client's side; the server's users reach it through -R.
const echo = createTcpServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
let echoPort = 0;

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

async function roundTrip(port: number, payload: Buffer): Promise<Buffer> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.end(payload);
  await once(socket, 'end');
  return Buffer.concat(chunks);
}

test('-R: the server listens, each connection comes back over the session to the target here', async () => {
  const server = await startServer(serverHome, ['--allow-any', '--allow-reverse']);
  const tunnel = new Daemon(['tunnel', server.url, '-R', `0:127.0.0.1:${echoPort}`], clientHome.env);
  try {
    const [, boundPort] = (await tunnel.waitFor(/reverse forward: server 127\.0\.0\.1:(\d+) → /)) as [
      string,
      string,
    ];
    await tunnel.waitFor(/ready/);
    const payloads = [randomBytes(200_000), randomBytes(10), randomBytes(70_000)];
    const echoed = await Promise.all(payloads.map((p) => roundTrip(Number(boundPort), p)));
    echoed.forEach((got, i) => {
      assert.ok(got.equals(payloads[i]!), `connection ${i} echoed intact`);
    });

    const status = await runBraid(['status', '--json'], serverHome.env);
    const [info] = JSON.parse(status.stdout) as Array<{ reverseForwards: string[] }>;
    assert.deepEqual(info!.reverseForwards, [`127.0.0.1:${boundPort}`]);

    // The listener belongs to the session: when the client goes, the port closes.
    await tunnel.stop();
    await server.daemon.waitFor(new RegExp(`reverse forward 127\\.0\\.0\\.1:${boundPort} closed`));
    const refused = connect({ host: '127.0.0.1', port: Number(boundPort) });
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED');
  } finally {
    await tunnel.stop();
    await server.daemon.stop();
  }
});

test('-R is refused with the reason unless the server allows it; a bad -R is a usage error', async () => {
  const server = await startServer(serverHome, ['--allow-any']);
  try {
    const result = await runBraid(['tunnel', server.url, '-R', `0:127.0.0.1:${echoPort}`], clientHome.env);
    assert.equal(result.code, 5, result.stderr);
    assert.match(
      result.stderr,
      /refused the reverse forward '127\.0\.0\.1:0' \(not allowed\): .*--allow-reverse/,
    );
  } finally {
    await server.daemon.stop();
  }
  const bad = await runBraid(['tunnel', 'localhost', '-R', '9000:web'], clientHome.env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /-R '9000:web' must be \[BIND:\]PORT:HOST:PORT/);
});
