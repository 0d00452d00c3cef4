import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Daemon, makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();

interface UdpStats {
  flows: number;
  flowsOpened: number;
  flowsExpired: number;
  flowsEvicted: number;
  flowsClosedByPeer: number;
  datagramsSent: number;
  datagramsReceived: number;
  droppedOversize: number;
  droppedUnknownFlow: number;
}

/** A UDP request/response server: answers each datagram with `<its source port>:<the datagram>`. */
async function startReplyServer(): Promise<{ socket: UdpSocket; port: number; sources: Set<number> }> {
  const socket = createSocket('udp4');
  const sources = new Set<number>();
  socket.on('message', (message, remote) => {
    sources.add(remote.port);
    socket.send(Buffer.concat([Buffer.from(`${remote.port}:`), message]), remote.port, remote.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return { socket, port: socket.address().port, sources };
}

async function clientSocket(): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

/** Sends `payload` to 127.0.0.1:port until a reply comes (datagrams may be lost), at most `tries` times. */
async function request(socket: UdpSocket, port: number, payload: Buffer, tries = 20): Promise<Buffer> {
  for (let i = 0; i < tries; i++) {
    const reply = once(socket, 'message') as Promise<[Buffer]>;
    socket.send(payload, port, '127.0.0.1');
    const got = await Promise.race([reply, sleep(500).then(() => undefined)]);
    if (got) return got[0];
  }
  throw new Error(`no reply to a datagram through port ${port}`);
}

async function udpStatus(home: typeof serverHome, control: string): Promise<UdpStats> {
  const result = await runBraid(['status', '--json', '--control', control], home.env);
  const [info] = JSON.parse(result.stdout) as Array<{ udp: UdpStats }>;
  return info!.udp;
}

before(async () => {
  await Promise.all([runBraid(['keygen'], serverHome.env), runBraid(['keygen'], clientHome.env)]);
});

after(() => {
  serverHome.cleanup();
  clientHome.cleanup();
});

test('-L udp: many client sockets, each reply reaches its own client; oversize datagrams are counted', async () => {
  const target = await startReplyServer();
  const server = await startServer(serverHome, ['--allow-any', '--allow', `dns=127.0.0.1:${target.port}`]);
  const control = `${clientHome.dir}/tunnel.sock`;
  const tunnel = new Daemon(['tunnel', server.url, '-L', 'udp:0:dns', '--control', control], clientHome.env);
  const clients: UdpSocket[] = [];
  try {
    const [, port] = (await tunnel.waitFor(/forwarding udp 127\.0\.0\.1:(\d+) → dns/)) as [string, string];
    await tunnel.waitFor(/ready/);
    for (let i = 0; i < 40; i++) clients.push(await clientSocket());
    // Every client at once, several requests each: a reply carries the source port the target
    // saw, and must come back to the client that asked.
    await Promise.all(
      clients.map(async (client, i) => {
        let seenAs: string | undefined;
        for (let round = 0; round < 3; round++) {
          const payload = Buffer.from(`client ${i} round ${round}`);
          const reply = (await request(client, Number(port), payload)).toString();
          const [via, text] = [reply.slice(0, reply.indexOf(':')), reply.slice(reply.indexOf(':') + 1)];
          assert.equal(text, payload.toString(), `client ${i} got its own reply`);
          // One flow per client: the same far-end socket for all its datagrams.
          seenAs ??= via;
          assert.equal(via, seenAs, `client ${i} keeps one flow`);
        }
      }),
    );
    assert.equal(target.sources.size, clients.length, 'one far-end socket per client');

    // Too large for one session datagram: dropped, counted, and the flow still works.
    clients[0]!.send(Buffer.alloc(1400, 1), Number(port), '127.0.0.1');
    const small = await request(clients[0]!, Number(port), Buffer.from('after'));
    assert.match(small.toString(), /:after$/);
    const stats = await udpStatus(clientHome, control);
    assert.equal(stats.droppedOversize, 1);
    assert.equal(stats.flows, clients.length);
    assert.ok(stats.datagramsSent >= clients.length * 3 + 1);
    assert.ok(stats.datagramsReceived >= clients.length * 3 + 1);
  } finally {
    for (const client of clients) client.close();
    target.socket.close();
    await tunnel.stop();
    await server.daemon.stop();
  }
});

test('-L udp: the server refuses a target outside its allow-list, as for TCP, at start', async () => {
  const server = await startServer(serverHome, ['--allow-any', '--allow', 'dns=127.0.0.1:53']);
  try {
    const result = await runBraid(['tunnel', server.url, '-L', 'udp:0:127.0.0.1:9'], clientHome.env);
    assert.equal(result.code, 5, result.stderr);
    assert.match(
      result.stderr,
      /refused UDP to '127\.0\.0\.1:9' \(not allowed\): 127\.0\.0\.1:9 is not in this server's allow-list \(allowed names: dns\)/,
    );
    await server.daemon.waitFor(/refused udp 127\.0\.0\.1:9/);
  } finally {
    await server.daemon.stop();
  }
  const bad = await runBraid(['tunnel', 'localhost', '-L', 'udp:nonsense'], clientHome.env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /-L 'udp:nonsense' must be \[BIND:\]PORT:TARGET \(udp:/);
});

test('UDP flows: the flow bound evicts the least recently used; an idle flow expires, the peer is told', async () => {
  const target = await startReplyServer();
  const serverControl = `${serverHome.dir}/serve-idle.sock`;
  const server = await startServer(serverHome, [
    '--allow-any',
    '--allow',
    `127.0.0.1:${target.port}`,
    '--control',
    serverControl,
  ]);
  const control = `${clientHome.dir}/tunnel-idle.sock`;
  const tunnel = new Daemon(
    [
      'tunnel',
      server.url,
      '-L',
      `udp:0:127.0.0.1:${target.port}`,
      '--udp-idle-timeout',
      '1',
      '--max-udp-flows',
      '4',
      '--control',
      control,
    ],
    clientHome.env,
  );
  const clients: UdpSocket[] = [];
  try {
    const [, port] = (await tunnel.waitFor(/forwarding udp 127\.0\.0\.1:(\d+) → /)) as [string, string];
    await tunnel.waitFor(/ready/);
    for (let i = 0; i < 6; i++) clients.push(await clientSocket());
    const firstVia: string[] = [];
    for (const [i, client] of clients.entries()) {
      const reply = (await request(client, Number(port), Buffer.from(`hello ${i}`))).toString();
      firstVia.push(reply.slice(0, reply.indexOf(':')));
    }
    // Nothing for longer than the tunnel's idle timeout: it forgets every flow, and its CLOSE
    // frames make the server (idle timeout 60 s) forget them too.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [here, there] = await Promise.all([
        udpStatus(clientHome, control),
        udpStatus(serverHome, serverControl),
      ]);
      if (here.flows === 0 && there.flows === 0) {
        // Six flows opened, at most four at once: the two oldest were evicted, four expired.
        assert.equal(here.flowsOpened, 6);
        assert.equal(here.flowsEvicted, 2);
        assert.equal(here.flowsExpired, 4);
        assert.equal(there.flowsClosedByPeer, 6);
        assert.equal(there.flowsExpired, 0);
        break;
      }
      assert.ok(Date.now() < deadline, `flows left: tunnel ${here.flows}, server ${there.flows}`);
      await sleep(300);
    }
    // The same client again is a new flow: a new socket at the far end.
    const again = (await request(clients[5]!, Number(port), Buffer.from('again'))).toString();
    assert.notEqual(again.slice(0, again.indexOf(':')), firstVia[5]);
    assert.match(again, /:again$/);
  } finally {
    for (const client of clients) client.close();
    target.socket.close();
    await tunnel.stop();
    await server.daemon.stop();
  }
});

test('-R udp: the server listens for UDP; each source comes back to the target here as its own flow', async () => {
  const target = await startReplyServer();
  const serverControl = `${serverHome.dir}/serve-reverse.sock`;
  const server = await startServer(serverHome, [
    '--allow-any',
    '--allow-reverse',
    '--udp-idle-timeout',
    '1',
    '--control',
    serverControl,
  ]);
  const tunnel = new Daemon(['tunnel', server.url, '-R', `udp:0:127.0.0.1:${target.port}`], clientHome.env);
  const clients: UdpSocket[] = [];
  try {
    const [, boundPort] = (await tunnel.waitFor(
      /reverse forward: server udp 127\.0\.0\.1:(\d+) → 127\.0\.0\.1:\d+ here/,
    )) as [string, string];
    await tunnel.waitFor(/ready/);
    for (let i = 0; i < 10; i++) clients.push(await clientSocket());
    await Promise.all(
      clients.map(async (client, i) => {
        const reply = (await request(client, Number(boundPort), Buffer.from(`reverse ${i}`))).toString();
        assert.match(reply, new RegExp(`^\\d+:reverse ${i}$`));
      }),
    );
    assert.equal(target.sources.size, clients.length);
    const status = await runBraid(['status', '--json', '--control', serverControl], serverHome.env);
    const [info] = JSON.parse(status.stdout) as Array<{ reverseForwards: string[]; udp: UdpStats }>;
    assert.deepEqual(info!.reverseForwards, [`udp 127.0.0.1:${boundPort}`]);
    assert.equal(info!.udp.flowsOpened, clients.length);

    // Here the server holds the sources' mapping: after its idle timeout (1 s) it forgets them.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const stats = await udpStatus(serverHome, serverControl);
      if (stats.flows === 0) {
        assert.equal(stats.flowsExpired, clients.length);
        break;
      }
      assert.ok(Date.now() < deadline, `the server still holds ${stats.flows} flows`);
      await sleep(300);
    }

    // The listener belongs to the session: when the client goes, so does the port.
    await tunnel.stop();
    await server.daemon.waitFor(new RegExp(`reverse forward udp 127\\.0\\.0\\.1:${boundPort} closed`));
    const rebind = createSocket('udp4');
    rebind.bind(Number(boundPort), '127.0.0.1');
    await once(rebind, 'listening');
    rebind.close();
  } finally {
    for (const client of clients) client.close();
    target.socket.close();
    await tunnel.stop();
    await server.daemon.stop();
  }
});
