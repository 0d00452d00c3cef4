/**
 * Issue 12 item 10: a forward whose target refused the connection or did not resolve reset
 * the stream with code 0 (the client said "the server broke the stream-open exchange", the
 * server logged nothing). Now each has its own status in the stream-open reply, the client
 * prints what happened and the server logs it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createTcpServer } from 'node:net';
import { after, before, test } from 'node:test';
import { connectFailureStatus, ForwardStatus } from '../../src/cli/shared/forward-protocol.js';
import { makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
let server: Awaited<ReturnType<typeof startServer>> | undefined;
let closedPort = 0;

before(async () => {
  await Promise.all([
    runBraid(['keygen'], serverHome.env, { timeoutMs: 30_000 }),
    runBraid(['keygen'], clientHome.env, { timeoutMs: 30_000 }),
  ]);
  // A port that was free a moment ago: nothing listens there now.
  const probe = createTcpServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  closedPort = (probe.address() as { port: number }).port;
  probe.close();
  await once(probe, 'close');
  server = await startServer(serverHome, [
    '--allow-any',
    '--no-control',
    '--allow',
    '127.0.0.1:*',
    '--allow',
    'no-such-host.invalid:80',
  ]);
});

after(async () => {
  await server?.daemon.stop();
  serverHome.cleanup();
  clientHome.cleanup();
});

test('a target that refuses: "connection refused" on both sides', async () => {
  const result = await runBraid(['cat', server!.url, '--to', `127.0.0.1:${closedPort}`], clientHome.env, {
    timeoutMs: 30_000,
  });
  assert.equal(result.code, 5, result.stderr);
  assert.match(
    result.stderr,
    new RegExp(
      `refused '127\\.0\\.0\\.1:${closedPort}' \\(connection refused\\): 127\\.0\\.0\\.1:${closedPort} refused the connection \\(ECONNREFUSED\\)`,
    ),
  );
  assert.doesNotMatch(result.stderr, /broke the stream-open exchange/);
  await server!.daemon.waitFor(
    new RegExp(`forward 127\\.0\\.0\\.1:${closedPort} failed: .*refused the connection`),
  );
});

test('a target name that does not resolve: "name not resolved" on both sides', async () => {
  const result = await runBraid(['cat', server!.url, '--to', 'no-such-host.invalid:80'], clientHome.env, {
    timeoutMs: 30_000,
  });
  assert.equal(result.code, 5, result.stderr);
  assert.match(
    result.stderr,
    /refused 'no-such-host\.invalid:80' \(name not resolved\): the name no-such-host\.invalid does not resolve \((ENOTFOUND|EAI_AGAIN)\)/,
  );
  await server!.daemon.waitFor(
    /forward no-such-host\.invalid:80 failed: the name no-such-host\.invalid does not resolve/,
  );
});

test('each errno maps to its status', () => {
  assert.equal(connectFailureStatus('ECONNREFUSED'), ForwardStatus.TARGET_REFUSED);
  assert.equal(connectFailureStatus('ENOTFOUND'), ForwardStatus.TARGET_UNRESOLVED);
  assert.equal(connectFailureStatus('ETIMEDOUT'), ForwardStatus.CONNECT_FAILED);
  assert.equal(connectFailureStatus(undefined), ForwardStatus.CONNECT_FAILED);
});
