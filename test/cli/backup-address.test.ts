// `--backup-address` (client commands and serve): the flag reaches the engine over real sockets
// on loopback, and bad values are usage errors (exit 2). docs/multihoming.md, "Preference and
// move-back".
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();
let server: Awaited<ReturnType<typeof startServer>>;

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
  server = await startServer(serverHome, ['--allow-any', '--echo']);
});

after(async () => {
  await server?.daemon.stop();
  serverHome.cleanup();
  clientHome.cleanup();
});

test('a client dialling from its --backup-address moves its data to the other local address', async () => {
  // The session starts from the first local address, the backup; the second validates as the
  // standby right after the handshake and, being preferred and never failed, takes over at once.
  const ping = await runBraid(
    [
      'ping',
      server.url,
      '-c',
      '3',
      '-i',
      '200',
      '--local-address',
      '127.0.0.5',
      '--local-address',
      '127.0.0.6',
      '--backup-address',
      '127.0.0.5',
    ],
    clientHome.env,
  );
  assert.equal(ping.code, 0, ping.stderr);
  assert.match(ping.stdout, /^path \d+ {2}127\.0\.0\.6:\d+ → 127\.0\.0\.1:\d+ {2}active /m, ping.stdout);
  assert.match(ping.stdout, /^path \d+ {2}127\.0\.0\.5:\d+ → 127\.0\.0\.1:\d+ {2}standby /m, ping.stdout);
});

test('--backup-address must be an IP address among the bound ones (exit 2)', async () => {
  const notIp = await runBraid(['ping', server.url, '--backup-address', 'lte0'], clientHome.env);
  assert.equal(notIp.code, 2, notIp.stderr);
  assert.match(notIp.stderr, /--backup-address 'lte0' is not an IP address/);
  const notBound = await runBraid(
    ['ping', server.url, '--local-address', '127.0.0.5', '--backup-address', '127.0.0.7'],
    clientHome.env,
  );
  assert.equal(notBound.code, 2, notBound.stderr);
  assert.match(notBound.stderr, /--backup-address 127\.0\.0\.7 is not one of the --local-address addresses/);
  const notListened = await runBraid(
    ['serve', '--allow-any', '--listen', '127.0.0.1:0', '--backup-address', '127.0.0.2'],
    serverHome.env,
  );
  assert.equal(notListened.code, 2, notListened.stderr);
  assert.match(notListened.stderr, /--backup-address 127\.0\.0\.2 is not one of the --listen addresses/);
});
