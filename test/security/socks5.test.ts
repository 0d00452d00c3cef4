/**
 * SOCKS5 edge cases (issue 12, "attacks not yet tried"): malformed greetings, unsupported
 * commands and address types, truncated requests, bad and huge domain names, slow-loris
 * clients, floods inside the negotiation and many concurrent opens. Each must end in a clean
 * reply or close, promptly, never a crash or a hang.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { ByteReader } from '../../src/cli/shared/forward-protocol.js';
import { Daemon, makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
const echo = createTcpServer((socket) => socket.pipe(socket));
let echoPort = 0;
let server: Awaited<ReturnType<typeof startServer>> | undefined;
let socks: Daemon | undefined;
let socksPort = 0;
const NEGOTIATION_TIMEOUT_MS = 1000;
const MAX_CONNECTIONS = 150;

before(async () => {
  await Promise.all([
    runBraid(['keygen'], serverHome.env, { timeoutMs: 30_000 }),
    runBraid(['keygen'], clientHome.env, { timeoutMs: 30_000 }),
  ]);
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as { port: number }).port;
  server = await startServer(serverHome, ['--allow-any', '--no-control', '--allow', `127.0.0.1:${echoPort}`]);
  socks = new Daemon(
    [
      'socks',
      server.url,
      '--listen',
      '127.0.0.1:0',
      '--no-control',
      '--negotiation-timeout',
      String(NEGOTIATION_TIMEOUT_MS),
      '--max-connections',
      String(MAX_CONNECTIONS),
    ],
    clientHome.env,
  );
  const [, port] = (await socks.waitFor(/socks5 proxy on 127\.0\.0\.1:(\d+)/, 30_000)) as [string, string];
  socksPort = Number(port);
  await socks.waitFor(/ready/, 30_000);
});

after(async () => {
  await socks?.stop('SIGINT');
  await server?.daemon.stop();
  echo.close();
  serverHome.cleanup();
  clientHome.cleanup();
});

/** Resolves when the socket closes, however (events.once would reject on the reset that may come first). */
const closeOf = (socket: Socket): Promise<void> =>
  new Promise((resolve) => socket.once('close', () => resolve()));

/** Sends `bytes` (then half-closes if `end`), and resolves with all bytes received until the proxy closes. */
async function exchange(
  bytes: Buffer,
  options: { end?: boolean; deadlineMs?: number } = {},
): Promise<{ received: Buffer; closed: boolean }> {
  const socket = connect({ host: '127.0.0.1', port: socksPort });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  if (options.end) socket.end(bytes);
  else socket.write(bytes);
  const closed = await Promise.race([
    closeOf(socket).then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), options.deadlineMs ?? 5000)),
  ]);
  socket.destroy();
  return { received: Buffer.concat(chunks), closed };
}

const GREETING = Buffer.from([5, 1, 0]);
const CHOSEN = Buffer.from([5, 0]);
const request = (command: number, addressType: number, address: Buffer, port: number): Buffer => {
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  return Buffer.concat([Buffer.from([5, command, 0, addressType]), address, portBytes]);
};
const domain = (name: string): Buffer =>
  Buffer.concat([Buffer.from([name.length]), Buffer.from(name, 'latin1')]);
const replyCode = (received: Buffer): number | undefined => received[CHOSEN.length + 1];

test('a greeting that is not SOCKS5 (SOCKS4, HTTP) is closed at once, without waiting for a timeout', async () => {
  for (const greeting of [
    Buffer.from([4, 1, 0, 80, 127, 0, 0, 1, 0]),
    Buffer.from('GET / HTTP/1.1\r\n\r\n'),
  ]) {
    const { received, closed } = await exchange(greeting, { deadlineMs: NEGOTIATION_TIMEOUT_MS / 2 });
    assert.ok(closed, `closed before the negotiation timeout (${greeting[0]})`);
    assert.equal(received.length, 0);
  }
});

test('no acceptable method: 0xff and close', async () => {
  const { received, closed } = await exchange(Buffer.from([5, 1, 2]));
  assert.deepEqual([...received], [5, 0xff]);
  assert.ok(closed);
});

test('unsupported commands, address types and request versions get their reply codes and a close', async () => {
  const ipv4 = Buffer.from([127, 0, 0, 1]);
  const cases: Array<[Buffer, number]> = [
    [request(2, 1, ipv4, echoPort), 0x07], // BIND
    [request(3, 1, ipv4, echoPort), 0x07], // UDP ASSOCIATE
    [request(1, 5, ipv4, echoPort), 0x08], // no such address type
    [Buffer.from([4, 1, 0, 1, 127, 0, 0, 1, 0, 80]), 0x01], // request version 4
  ];
  for (const [bytes, code] of cases) {
    const { received, closed } = await exchange(Buffer.concat([GREETING, bytes]));
    assert.equal(replyCode(received), code, `reply to ${bytes.toString('hex')}`);
    assert.ok(closed);
  }
});

test('domain names that are not host names, or longer than 253 bytes, are refused here', async () => {
  for (const name of ['127.0.0.1:22', 'a b', 'x\0y', 'a/b', '', 'a'.repeat(255), `${'a.'.repeat(127)}a`]) {
    const { received, closed } = await exchange(
      Buffer.concat([GREETING, request(1, 3, domain(name), echoPort)]),
    );
    assert.equal(replyCode(received), 0x04, `reply to ${JSON.stringify(name.slice(0, 20))}`);
    assert.ok(closed);
  }
  assert.doesNotMatch(server!.daemon.stderr, /127\.0\.0\.1:22/, 'nothing of it reached the server');
});

test('truncated requests that end are closed; ones that stall are closed by the negotiation timeout', async () => {
  const truncated = [
    Buffer.from([5]),
    Buffer.from([5, 3, 0]),
    Buffer.concat([GREETING, Buffer.from([5, 1, 0, 3, 50, 97])]),
  ];
  for (const bytes of truncated) {
    const ended = await exchange(bytes, { end: true });
    assert.ok(ended.closed, `closed after a half-close (${bytes.toString('hex')})`);
    const started = Date.now();
    const stalled = await exchange(bytes, { deadlineMs: NEGOTIATION_TIMEOUT_MS * 5 });
    assert.ok(stalled.closed, `a stalled client is closed (${bytes.toString('hex')})`);
    assert.ok(Date.now() - started >= NEGOTIATION_TIMEOUT_MS * 0.9, 'by the timeout, not before');
  }
});

test('a slow-loris client, one byte a while, is closed when the whole negotiation times out', async () => {
  const socket: Socket = connect({ host: '127.0.0.1', port: socksPort });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const bytes = Buffer.concat([GREETING, request(1, 3, domain('localhost'), echoPort)]);
  let sent = 0;
  const drip = setInterval(() => {
    if (sent < bytes.length && !socket.destroyed) socket.write(bytes.subarray(sent, ++sent));
  }, NEGOTIATION_TIMEOUT_MS / 4);
  const started = Date.now();
  await closeOf(socket).finally(() => clearInterval(drip));
  assert.ok(sent < bytes.length, 'closed before it finished');
  assert.ok(Date.now() - started < NEGOTIATION_TIMEOUT_MS * 3);
});

test('a flood of bytes inside the negotiation is cut off, not buffered', async () => {
  const reader = new ByteReader(new PassThrough().end(Buffer.alloc(100_000)), 4096);
  await assert.rejects(reader.read(10), /more than 4096 bytes arrived during the stream-open exchange/);
  const { closed } = await exchange(Buffer.concat([Buffer.from([5, 255]), Buffer.alloc(1_000_000)]));
  assert.ok(closed);
});

test('many concurrent opens all get through; beyond --max-connections they are closed, and the proxy lives on', async () => {
  const payload = (i: number): Buffer => Buffer.from(`hello ${i}\n`);
  const connectOnce = async (i: number): Promise<string> => {
    const socket = connect({ host: '127.0.0.1', port: socksPort });
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.end(Buffer.concat([GREETING, request(1, 1, Buffer.from([127, 0, 0, 1]), echoPort), payload(i)]));
    await closeOf(socket);
    return Buffer.concat(chunks)
      .subarray(CHOSEN.length + 10)
      .toString();
  };
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => connectOnce(i)));
  for (const [i, got] of results.entries()) assert.equal(got, payload(i).toString(), `connection ${i}`);

  // Idle connections up to the limit; the ones beyond it are closed as they arrive.
  const idle = await Promise.all(
    Array.from({ length: MAX_CONNECTIONS + 20 }, async () => {
      const socket = connect({ host: '127.0.0.1', port: socksPort });
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      return socket;
    }),
  );
  const closedEarly = await Promise.all(
    idle.map((s) =>
      Promise.race([
        closeOf(s).then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), NEGOTIATION_TIMEOUT_MS / 2)),
      ]),
    ),
  );
  assert.ok(closedEarly.filter(Boolean).length >= 20, `${closedEarly.filter(Boolean).length} turned away`);
  await socks!.waitFor(/turned away \d+ so far \(--max-connections\)/);
  for (const s of idle) s.destroy();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await connectOnce(1000), payload(1000).toString(), 'the proxy still works');
});
