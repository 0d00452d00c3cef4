// braid stdio (ssh's ProxyCommand) and braid cat close their session, so the server forgets it
// at once: on stdin's end, on the remote end closing, and on SIGHUP (what ssh sends its
// ProxyCommand), SIGTERM and SIGINT. The server's own metrics say whether a session is left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { get } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { after, before, test } from 'node:test';
import { COMMAND, makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
const echo = createTcpServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
// Answers one line and closes: the remote end finishes first, stdin still open.
const oneShot = createTcpServer((socket) => socket.once('data', () => socket.end('bye\n')));
let server: Awaited<ReturnType<typeof startServer>>;
let metricsUrl = '';

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  echo.listen(0, '127.0.0.1');
  oneShot.listen(0, '127.0.0.1');
  await Promise.all([once(echo, 'listening'), once(oneShot, 'listening')]);
  server = await startServer(serverHome, [
    '--allow-any',
    '--allow',
    `mirror=127.0.0.1:${(echo.address() as AddressInfo).port}`,
    '--allow',
    `oneshot=127.0.0.1:${(oneShot.address() as AddressInfo).port}`,
    '--metrics',
    '127.0.0.1:0',
    '--no-control',
  ]);
  [, metricsUrl] = (await server.daemon.waitFor(/metrics on (http:\S+)/)) as [string, string];
});

after(async () => {
  await server?.daemon.stop();
  echo.close();
  oneShot.close();
  serverHome.cleanup();
  clientHome.cleanup();
});

/** braid_sessions from the server's metrics: the sessions it holds now. */
function serverSessions(): Promise<number> {
  return new Promise((resolve, reject) => {
    get(metricsUrl, (response) => {
      let body = '';
      response.on('data', (c: Buffer) => {
        body += c.toString();
      });
      response.on('end', () => {
        const match = /^braid_sessions (\d+)$/m.exec(body);
        if (match) resolve(Number(match[1]));
        else reject(new Error(`no braid_sessions in\n${body}`));
      });
    }).on('error', reject);
  });
}

/** Waits until the server holds `count` sessions; a CLOSE makes that immediate, an idle timeout would not. */
async function untilServerSessions(count: number, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  let now = await serverSessions();
  while (now !== count) {
    if (Date.now() > deadline)
      assert.fail(`${what}: the server still holds ${now} session(s), expected ${count}`);
    await new Promise((r) => setTimeout(r, 50));
    now = await serverSessions();
  }
}

test('stdio needs --to; stdin to the target and back, and the end of stdin closes the session', async () => {
  const missing = await runBraid(['stdio', server.url], clientHome.env);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /give the target with --to TARGET/);

  const result = await runBraid(['stdio', server.url, '--to', 'mirror'], clientHome.env, {
    input: 'SSH-2.0-test\n',
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'SSH-2.0-test\n');
  await untilServerSessions(0, 'after stdin ended');
});

test('the remote end closing ends stdio and its session while stdin stays open', async () => {
  const child = spawn(process.execPath, [...COMMAND, 'stdio', server.url, '--to', 'oneshot'], {
    env: clientHome.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stdin.write('hello\n');
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
  assert.equal(stdout, 'bye\n');
  child.stdin.destroy();
  await untilServerSessions(0, 'after the remote end closed');
});

for (const [signal, code, command] of [
  ['SIGHUP', 129, 'stdio'],
  ['SIGTERM', 143, 'stdio'],
  ['SIGINT', 130, 'cat'],
] as const) {
  test(`${command} closes its session on ${signal} (exit ${code}): no ghost session on the server`, async () => {
    const child = spawn(process.execPath, [...COMMAND, command, server.url, '--to', 'mirror'], {
      env: clientHome.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    // Once something came back, the session is up and the server holds it.
    child.stdin.write('ping\n');
    await once(child.stdout, 'data');
    assert.equal(await serverSessions(), 1, 'the server holds the session');
    child.kill(signal);
    const [exitCode] = (await once(child, 'exit')) as [number | null];
    await untilServerSessions(0, `after ${signal}`);
    assert.equal(exitCode, code, stderr);
    assert.match(stderr, new RegExp(`${signal}: closing`));
  });
}
