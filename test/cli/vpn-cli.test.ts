// `braid vpn`'s command line, without root: the mode word, the settings it checks before it
// creates a TUN device (flags and config files alike), and the assignment the server sends.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeAssignment, encodeAssignment, tunMtu } from '../../src/cli/commands/vpn.js';
import { ForwardRefusedError, openForward } from '../../src/cli/shared/client.js';
import { ForwardStatus, RequestKind } from '../../src/cli/shared/forward-protocol.js';
import { loadKey } from '../../src/cli/shared/keys.js';
import { connect } from '../../src/index.js';
import { makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const home = makeHome();
let authorized = '';
after(() => home.cleanup());

before(async () => {
  const made = await runBraid(['keygen'], home.env);
  assert.equal(made.code, 0, made.stderr);
  authorized = join(home.dir, 'vpn_clients');
  const key = readFileSync(join(home.configDir, 'id_braid.pub'), 'utf8').split(/\s+/)[0];
  writeFileSync(authorized, `${key} allowed-ips=192.168.50.0/24,fd99::/64 laptop\n`, { mode: 0o600 });
});

test('braid vpn needs serve or connect; its help answers exit 0', async () => {
  const bare = await runBraid(['vpn'], home.env);
  assert.equal(bare.code, 2);
  const wrong = await runBraid(['vpn', 'listen'], home.env);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /needs 'serve' or 'connect', got 'listen'/);
  const help = await runBraid(['vpn', 'serve', '--help'], home.env);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: braid vpn serve/);
});

test('settings from a config file are checked like flags, before any device is made', async () => {
  const config = join(home.dir, 'vpn.conf');
  writeFileSync(config, `# the VPN\nauthorized-keys ${authorized}\ninner-ipv4 10.77.0.1/16\n`);
  const hostBits = await runBraid(['vpn', 'serve', '--config', config], home.env);
  assert.equal(hostBits.code, 2, hostBits.stderr);
  assert.match(
    hostBits.stderr,
    /--inner-ipv4: '10\.77\.0\.1\/16' has host bits set; the network is 10\.77\.0\.0\/16/,
  );
  // The command line replaces the file's value; the next check (IPv6) then fails instead.
  const replaced = await runBraid(
    ['vpn', 'serve', '--config', config, '--inner-ipv4', '10.77.0.0/16', '--inner-ipv6', 'fd00::/96'],
    home.env,
  );
  assert.equal(replaced.code, 2, replaced.stderr);
  assert.match(replaced.stderr, /--inner-ipv6 must be \/64 or shorter/);
  writeFileSync(config, `authorized-keys ${authorized}\ninner-ipv5 10.0.0.0/8\n`);
  const unknown = await runBraid(['vpn', 'serve', '--config', config], home.env);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /vpn\.conf:2: unknown option 'inner-ipv5'/);
  const clientFlag = await runBraid(['vpn', 'serve', '--authorized-keys', authorized, '--strict'], home.env);
  assert.equal(clientFlag.code, 2);
  assert.match(clientFlag.stderr, /--strict is for braid vpn connect/);
  const noKeys = await runBraid(['vpn', 'serve'], home.env);
  assert.equal(noKeys.code, 2);
  assert.match(noKeys.stderr, /needs --authorized-keys FILE/);
});

test('a bad allowed-ips entry names the line of the authorized-keys file', async () => {
  const bad = join(home.dir, 'bad_clients');
  const key = readFileSync(join(home.configDir, 'id_braid.pub'), 'utf8').split(/\s+/)[0];
  writeFileSync(bad, `# clients\n${key} allowed-ips=192.168.50.1/24\n`, { mode: 0o600 });
  const result = await runBraid(['vpn', 'serve', '--authorized-keys', bad], home.env);
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, /bad_clients:2: '192\.168\.50\.1\/24' has host bits set/);
});

test('the assignment round-trips; a malformed one is refused; the TUN MTU is never below 1280', () => {
  const assignment = {
    inner4: '10.77.3.4/16',
    inner6: 'fd12:3456:789a:0:1:2:3:4/64',
    server4: '10.77.0.1',
    server6: 'fd12:3456:789a::1',
  };
  assert.deepEqual(decodeAssignment(encodeAssignment(assignment)), assignment);
  assert.throws(
    () => decodeAssignment('inner4=10.77.3.4/16 server4=10.77.0.1'),
    /unusable vpn assignment \(inner6\)/,
  );
  assert.throws(
    () => decodeAssignment(encodeAssignment({ ...assignment, server4: '10.77.0.1/16' })),
    /unusable vpn assignment \(server4\)/,
  );
  assert.throws(
    () => decodeAssignment(encodeAssignment({ ...assignment, inner6: '10.77.3.4/16' })),
    /unusable vpn assignment \(inner6\)/,
  );
  assert.equal(tunMtu(1156), 1280);
  assert.equal(tunMtu(1400), 1400);
});

test('a plain braid serve refuses a vpn request as unavailable, saying where a vpn runs', async () => {
  // The server runs under the same key as the client: --allow-any lets it in all the same.
  const server = await startServer(home, ['--allow-any', '--allow', '127.0.0.1:9']);
  const session = await connect(
    { host: '127.0.0.1', port: server.port },
    { staticKey: loadKey(join(home.configDir, 'id_braid')) },
  );
  try {
    await assert.rejects(
      openForward(session, { kind: RequestKind.VPN, target: '' }),
      (error: unknown) =>
        error instanceof ForwardRefusedError &&
        error.status === ForwardStatus.UNAVAILABLE &&
        /runs no vpn \(braid vpn serve does\)/.test(error.reason),
    );
  } finally {
    await session.close();
    await server.daemon.stop();
  }
});
