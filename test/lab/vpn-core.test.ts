// `braid vpn` in the namespace lab: a server on both server addresses, a client multihomed on
// providers a and b. Both print their ready line; the TUN's inner addresses are never offered
// as locators; ping runs over the inner IPv4 and IPv6 addresses (sizes that need one datagram
// and two); and an inner TCP transfer survives a silent blackhole of the active provider,
// hash-equal, because the inner addresses never change while the locators do. Last, the server
// restarts: the client joins again and gets the same inner addresses.
// Root only (skips otherwise).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Lab } from '../../src/cli/demo/lab.js';
import { Daemon, makeHome, runBraid } from '../../testing/harness/braid-command.js';

const availability = Lab.available({ conntrack: false });
const skip = availability.ok ? false : availability.reason;

const BRAID_PORT = 4433;
const SINK_PORT = 5001;
const READY = /^ready interface=(\S+) inner4=(\S+) inner6=(\S+) mtu=(\d+)$/m;

const serverHome = makeHome();
const clientHome = makeHome();
let lab: Lab;
const daemons: Daemon[] = [];

interface Ready {
  name: string;
  inner4: string;
  inner6: string;
  mtu: number;
}

async function ready(daemon: Daemon): Promise<Ready> {
  const [, name, inner4, inner6, mtu] = (await daemon.waitForStdout(READY, 20_000)) as string[];
  return { name: name!, inner4: inner4!, inner6: inner6!, mtu: Number(mtu) };
}

const address = (cidr: string): string => cidr.slice(0, cidr.indexOf('/'));

/** Receives one TCP connection on HOST:PORT; prints bytes, SHA-256 and the longest gap between reads. */
const SINK = `
const net = require('node:net'); const { createHash } = require('node:crypto');
const [host, port] = process.argv.slice(1);
const server = net.createServer((socket) => {
  const hash = createHash('sha256'); let bytes = 0; let last = 0; let gap = 0;
  socket.on('data', (chunk) => {
    const now = performance.now(); if (last > 0) gap = Math.max(gap, now - last); last = now;
    bytes += chunk.length; hash.update(chunk);
  });
  socket.on('end', () => { console.log(JSON.stringify({ bytes, sha256: hash.digest('hex'), gapMs: Math.round(gap) })); server.close(); socket.end(); });
});
server.listen({ host, port: Number(port) }, () => console.log('listening'));`;

/** Sends BYTES random bytes to HOST:PORT at RATE bytes/s; prints their SHA-256. */
const SOURCE = `
const net = require('node:net'); const { createHash, randomBytes } = require('node:crypto');
const [host, port, total, rate] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const data = randomBytes(total); const chunk = 32768; let sent = 0;
const socket = net.connect({ host, port }, () => {
  const started = performance.now();
  const pump = () => {
    while (sent < total && sent < ((performance.now() - started) / 1000) * rate + chunk) {
      const end = Math.min(total, sent + chunk);
      socket.write(data.subarray(sent, end)); sent = end;
    }
    if (sent < total) setTimeout(pump, 10);
    else socket.end(() => console.log(createHash('sha256').update(data).digest('hex')));
  };
  pump();
});`;

function collect(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`))));
  });
}

describe('braid vpn in the lab', { skip }, () => {
  let serverReady: Ready;
  let clientReady: Ready;
  let server: Daemon;
  let client: Daemon;
  let startServer: () => Daemon;

  before(async () => {
    lab = await Lab.up();
    const { clientA, clientB, server1, server2 } = lab.addresses;
    await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
    const clientKey = readFileSync(join(clientHome.configDir, 'id_braid.pub'), 'utf8').split(/\s+/)[0]!;
    const authorized = join(serverHome.dir, 'vpn_clients');
    writeFileSync(authorized, `${clientKey} test client\n`, { mode: 0o600 });
    // The server's settings come from a config file (the same format as braid serve --config).
    const config = join(serverHome.dir, 'vpn.conf');
    writeFileSync(
      config,
      [
        `listen ${server1.v4}:${BRAID_PORT}`,
        `listen ${server2.v4}:${BRAID_PORT}`,
        `authorized-keys ${authorized}`,
        '',
      ].join('\n'),
    );
    startServer = () => {
      const daemon = new Daemon(['vpn', 'serve', '--config', config], serverHome.env, [
        'ip',
        'netns',
        'exec',
        lab.namespaces.server,
      ]);
      daemons.push(daemon);
      return daemon;
    };
    server = startServer();
    serverReady = await ready(server);
    const [, serverKey] = (await server.waitFor(/server key (\S+)/)) as [string, string];
    client = new Daemon(
      [
        'vpn',
        'connect',
        `${server1.v4}:${BRAID_PORT}`,
        '--server-key',
        serverKey,
        '--local-address',
        clientA.v4,
        '--local-address',
        clientB.v4,
      ],
      clientHome.env,
      ['ip', 'netns', 'exec', lab.namespaces.client],
    );
    daemons.push(client);
    clientReady = await ready(client);
  });

  after(async () => {
    for (const daemon of daemons.reverse()) await daemon.stop();
    await lab?.down();
    serverHome.cleanup();
    clientHome.cleanup();
  });

  test('both sides are up with inner addresses in one range, which are never Braid locators', async () => {
    assert.equal(serverReady.name, 'braid0');
    assert.equal(serverReady.inner4, '10.77.0.1/16');
    assert.match(serverReady.inner6, /^fd[0-9a-f]{2}:[0-9a-f:]+::1\/64$/);
    assert.match(clientReady.inner4, /^10\.77\.\d+\.\d+\/16$/);
    const prefix6 = serverReady.inner6.slice(0, serverReady.inner6.indexOf('::'));
    assert.ok(clientReady.inner6.startsWith(`${prefix6}:`), `${clientReady.inner6} in ${serverReady.inner6}`);
    assert.equal(clientReady.mtu, 1280);
    // The server listened on its two addresses only; its TUN's addresses were never bound.
    assert.doesNotMatch(server.stderr, /listening on (10\.77\.|\[fd)/);
    const links = await lab.exec('client', ['ip', '-d', 'link', 'show', 'dev', clientReady.name]);
    assert.match(links.stdout, /tun type tun pi off/);
    assert.match(links.stdout, /alias braid-vpn/);
  });

  test('ping over the inner IPv4 and IPv6 addresses, small and larger than one datagram', async () => {
    for (const [target, size] of [
      [address(serverReady.inner4), 56],
      [address(serverReady.inner6), 56],
      [address(serverReady.inner4), 1200],
      [address(serverReady.inner6), 1200],
    ] as const) {
      const result = await lab.exec('client', [
        'ping',
        '-c',
        '3',
        '-i',
        '0.2',
        '-W',
        '2',
        '-s',
        String(size),
        target,
      ]);
      assert.equal(result.code, 0, `ping -s ${size} ${target}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /3 received/);
    }
    // And the other way: the server reaches the client's stable address.
    const back = await lab.exec('server', [
      'ping',
      '-c',
      '2',
      '-i',
      '0.2',
      '-W',
      '2',
      address(clientReady.inner6),
    ]);
    assert.equal(back.code, 0, back.stdout + back.stderr);
  });

  test('an inner TCP transfer survives a silent blackhole of the active provider, hash-equal', async () => {
    const host = address(serverReady.inner4);
    const sink = lab.spawnIn('server', [process.execPath, '-e', SINK, host, String(SINK_PORT)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const received = collect(sink);
    await new Promise<void>((resolve) => sink.stdout!.once('data', () => resolve()));
    const total = 6 * 1024 * 1024;
    const source = lab.spawnIn(
      'client',
      [process.execPath, '-e', SOURCE, host, String(SINK_PORT), String(total), String(1024 * 1024)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const sent = collect(source);
    // The session started on provider a (the first --local-address): take it away silently.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await lab.blackhole('a', 'both');
    try {
      const [sentHash, report] = await Promise.race([
        Promise.all([sent, received]),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('transfer stalled')), 40_000)),
      ]);
      const result = JSON.parse(report.trim().split('\n').pop()!) as {
        bytes: number;
        sha256: string;
        gapMs: number;
      };
      assert.equal(result.bytes, total);
      assert.equal(result.sha256, sentHash.trim());
      console.log(
        `inner TCP: ${total} bytes hash-equal across the blackhole; longest gap ${result.gapMs} ms`,
      );
    } finally {
      await lab.heal('a');
      sink.kill();
      source.kill();
    }
  });

  test('a restarted server takes the client back with the same inner addresses', async () => {
    // The client keeps its interface (and every inner socket bound to it) and joins again.
    assert.equal(await server.stop(), 0);
    server = startServer();
    const again = await ready(server);
    assert.deepEqual(again, serverReady, 'the server derives the same inner addresses from its key');
    await client.waitFor(/session to \S+ closed; reconnecting/, 20_000);
    const [, inner4, inner6] = (await server.waitFor(/session \S+: vpn (\S+) (\S+)/, 30_000)) as string[];
    assert.equal(inner4, clientReady.inner4);
    assert.equal(inner6, clientReady.inner6);
    const ping = await lab.exec('client', [
      'ping',
      '-c',
      '3',
      '-i',
      '0.2',
      '-W',
      '2',
      address(serverReady.inner6),
    ]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  });
});
