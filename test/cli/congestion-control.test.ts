// `--congestion-control` on braid serve and the client commands: real loopback sockets, both
// ends sending under BBR; a name that is no controller is a usage error, not a silent default.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
let server: Awaited<ReturnType<typeof startServer>>;

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  server = await startServer(serverHome, ['--allow-any', '--echo', '--congestion-control', 'bbr']);
});

after(async () => {
  await server?.daemon.stop();
  serverHome.cleanup();
  clientHome.cleanup();
});

test('cat echoes 2 MB through a server, both ends under BBR', async () => {
  const body = randomBytes(2_000_000).toString('base64');
  const result = await runBraid(['cat', '--congestion-control', 'bbr', server.url], clientHome.env, {
    input: body,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.length, body.length);
  assert.ok(result.stdout === body, 'the echo is byte-equal');
});

test('an unknown controller is refused with the names that exist', async () => {
  const client = await runBraid(['cat', '--congestion-control', 'vegas', server.url], clientHome.env, {
    input: '',
  });
  assert.equal(client.code, 2);
  assert.match(client.stderr, /--congestion-control must be one of cubic, bbr, newreno, got 'vegas'/);
  const serve = await runBraid(
    ['serve', '--listen', '127.0.0.1:0', '--allow-any', '--congestion-control', 'reno'],
    serverHome.env,
  );
  assert.equal(serve.code, 2);
  assert.match(serve.stderr, /--congestion-control must be one of cubic, bbr, newreno, got 'reno'/);
});
