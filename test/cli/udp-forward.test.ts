import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ByteReader,
  encodeRequest,
  RequestKind,
  type RequestKindValue,
  readResponse,
} from '../../src/cli/shared/forward-protocol.js';
import { decodeUdpFrame, encodeUdpFrame, UdpFrameType } from '../../src/cli/shared/udp-forward.js';
import { decodeKey } from '../../src/crypto/identity.js';
import { connect, generateKeyPair, type Session } from '../../src/index.js';
import { Daemon, makeHome, runBraid, startServer } from '../../testing/harness/braid-command.js';

const serverHome = makeHome();
const clientHome = makeHome();

interface UdpStats {
  flows: number;
  droppedQueueFull: number;
  droppedSuspended: number;
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

/** A free port number for both TCP and UDP on 127.0.0.1 (iperf3 uses one port for both). */
async function freePort(): Promise<number> {
  for (;;) {
    const udp = createSocket('udp4');
    udp.bind(0, '127.0.0.1');
    await once(udp, 'listening');
    const port = udp.address().port;
    const { createServer } = await import('node:net');
    const tcp = createServer();
    const free = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    tcp.close();
    udp.close();
    if (free) return port;
  }
}

test('iperf3 -u through -L udp: every datagram counted, none lost at a modest rate', async () => {
  const iperfPort = await freePort();
  const iperfServer = spawn('iperf3', ['-s', '-1', '-B', '127.0.0.1', '-p', String(iperfPort)], {
    stdio: 'ignore',
  });
  const server = await startServer(serverHome, [
    '--allow-any',
    '--allow',
    `127.0.0.1:${iperfPort}`,
    '--control',
    `${serverHome.dir}/serve-iperf.sock`,
  ]);
  const control = `${clientHome.dir}/tunnel-iperf.sock`;
  const localPort = await freePort();
  // iperf3 talks TCP (control) and UDP (data) on the same port: forward both.
  const tunnel = new Daemon(
    [
      'tunnel',
      server.url,
      '-L',
      `${localPort}:127.0.0.1:${iperfPort}`,
      '-L',
      `udp:${localPort}:127.0.0.1:${iperfPort}`,
      '--control',
      control,
    ],
    clientHome.env,
  );
  try {
    await tunnel.waitFor(/ready/);
    // 2 Mbit/s of 1000-byte datagrams for 3 s: 750 datagrams.
    const run = spawn(
      'iperf3',
      ['-c', '127.0.0.1', '-p', String(localPort), '-u', '-b', '2M', '-l', '1000', '-t', '3', '--json'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    run.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const [code] = (await once(run, 'close')) as [number];
    const result = JSON.parse(output) as {
      error?: string;
      end: { sum_sent: { packets: number }; sum_received: { packets: number; lost_packets: number } };
    };
    assert.equal(code, 0, result.error ?? output);
    const sent = result.end.sum_sent.packets;
    const { lost_packets: lost } = result.end.sum_received;
    const received = sent - lost;
    // iperf3's own timer may send one or two fewer under load.
    assert.ok(sent >= 740 && sent <= 750, `iperf3 sent ${sent}`);
    assert.ok(lost <= sent * 0.02, `lost ${lost} of ${sent}`);
    // One session datagram per UDP datagram, each way through one flow.
    const [here, there] = await Promise.all([
      udpStatus(clientHome, control),
      udpStatus(serverHome, `${serverHome.dir}/serve-iperf.sock`),
    ]);
    assert.equal(here.flowsOpened, 1);
    assert.ok(there.datagramsReceived >= received, `the server carried ${there.datagramsReceived}`);
    assert.ok(there.datagramsReceived <= here.datagramsSent);
    assert.ok(here.datagramsSent + here.droppedQueueFull <= sent + 1, "the first datagram is iperf3's hello");
  } finally {
    iperfServer.kill();
    await tunnel.stop();
    await server.daemon.stop();
  }
});

test('the server side of the framing: unknown associations and flows are counted; CLOSE frees a flow', async () => {
  const target = await startReplyServer();
  const serverControl = `${serverHome.dir}/serve-frames.sock`;
  const server = await startServer(serverHome, [
    '--allow-any',
    '--allow-reverse',
    '--allow',
    `127.0.0.1:${target.port}`,
    '--control',
    serverControl,
  ]);
  let session: Session | undefined;
  try {
    session = await connect(
      { host: '127.0.0.1', port: server.port },
      { staticKey: generateKeyPair(), serverKey: decodeKey(server.publicKey) },
    );
    const frames: Buffer[] = [];
    let arrived: (() => void) | undefined;
    session.on('datagram', (data) => {
      frames.push(data);
      arrived?.();
    });
    const nextFrame = async (): Promise<ReturnType<typeof decodeUdpFrame>> => {
      if (frames.length === 0) {
        await Promise.race([
          new Promise<void>((resolve) => (arrived = resolve)),
          sleep(5000).then(() => assert.fail('no datagram from the server within 5 s')),
        ]);
      }
      return decodeUdpFrame(frames.shift()!);
    };
    const open = async (kind: RequestKindValue, target: string) => {
      const stream = await session!.openStream();
      stream.write(encodeRequest({ kind, target }));
      const response = await readResponse(new ByteReader(stream));
      assert.equal(response.status, 0, response.reason);
      return { stream, reason: response.reason };
    };

    // Kind 7: the first DATA of a flow opens it; the reply comes back on the same flow.
    const forward = await open(RequestKind.UDP_FORWARD, `127.0.0.1:${target.port}`);
    assert.equal(forward.reason, `127.0.0.1:${target.port}`);
    session.sendDatagram(encodeUdpFrame(UdpFrameType.DATA, forward.stream.id, 3, Buffer.from('hi')));
    const reply = await nextFrame();
    assert.equal(reply?.type, UdpFrameType.DATA);
    assert.equal(reply?.association, forward.stream.id);
    assert.equal(reply?.flow, 3);
    assert.match(reply!.payload.toString(), /^\d+:hi$/);

    // DATA naming an association the server does not hold: dropped and counted.
    session.sendDatagram(encodeUdpFrame(UdpFrameType.DATA, forward.stream.id + 400, 0, Buffer.from('x')));
    // CLOSE frees the flow at once.
    session.sendDatagram(encodeUdpFrame(UdpFrameType.CLOSE, forward.stream.id, 3));
    // Kind 8: the server is the ingress; DATA for a flow it never opened is answered with CLOSE.
    const reverse = await open(RequestKind.UDP_REVERSE, '0');
    assert.match(reverse.reason, /^127\.0\.0\.1:\d+$/);
    session.sendDatagram(encodeUdpFrame(UdpFrameType.DATA, reverse.stream.id, 7, Buffer.from('y')));
    const close = await nextFrame();
    assert.deepEqual(
      { type: close?.type, association: close?.association, flow: close?.flow },
      { type: UdpFrameType.CLOSE, association: reverse.stream.id, flow: 7 },
    );
    // A truncated frame: counted as malformed.
    session.sendDatagram(Buffer.from([UdpFrameType.DATA, 0x40]));

    const stats = (await udpStatus(serverHome, serverControl)) as UdpStats & {
      flowsClosedByPeer: number;
      droppedMalformed: number;
    };
    assert.equal(stats.droppedUnknownFlow, 2);
    assert.equal(stats.flowsClosedByPeer, 1);
    assert.equal(stats.flows, 0);
    assert.equal(stats.droppedMalformed, 1);
  } finally {
    await session?.close(0, 'done');
    target.socket.close();
    await server.daemon.stop();
  }
});

test('UDP flows outlive a suspension; datagrams that arrive meanwhile are dropped and counted', async () => {
  const target = await startReplyServer();
  const server = await startServer(serverHome, [
    '--allow-any',
    '--allow',
    `127.0.0.1:${target.port}`,
    '--udp-idle-timeout',
    '600',
  ]);
  const control = `${clientHome.dir}/tunnel-suspend.sock`;
  const tunnel = new Daemon(
    ['tunnel', server.url, '-L', `udp:0:127.0.0.1:${target.port}`, '--control', control],
    clientHome.env,
  );
  const client = await clientSocket();
  try {
    const [, port] = (await tunnel.waitFor(/forwarding udp 127\.0\.0\.1:(\d+) → /)) as [string, string];
    await tunnel.waitFor(/ready/);
    const before = (await request(client, Number(port), Buffer.from('before'))).toString();
    // The server stops answering (as behind a dead link): after the failure timeout the
    // tunnel's session is suspended, not closed.
    server.daemon.child.kill('SIGSTOP');
    await tunnel.waitFor(/session #\d+ suspended/, 60_000);
    for (let i = 0; i < 5; i++) client.send(Buffer.from(`lost ${i}`), Number(port), '127.0.0.1');
    const deadline = Date.now() + 10_000;
    while ((await udpStatus(clientHome, control)).droppedSuspended < 5) {
      assert.ok(Date.now() < deadline, 'the datagrams sent while suspended are counted');
      await sleep(200);
    }
    server.daemon.child.kill('SIGCONT');
    await tunnel.waitFor(/session #\d+ resumed/, 60_000);
    // The same flow carries on: the same socket at the far end answers.
    const after = (await request(client, Number(port), Buffer.from('after'))).toString();
    assert.equal(after.slice(0, after.indexOf(':')), before.slice(0, before.indexOf(':')));
    assert.match(after, /:after$/);
  } finally {
    server.daemon.child.kill('SIGCONT');
    client.close();
    target.socket.close();
    await tunnel.stop();
    await server.daemon.stop();
  }
});

/** The samples of a Prometheus text scrape, by name with labels, e.g. `braid_udp_drops_total{reason="oversize"}`. */
async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  const samples = new Map<string, number>();
  for (const [, name, value] of (await response.text()).matchAll(/^([a-z_]+(?:\{[^}]*\})?) (\S+)$/gm)) {
    samples.set(name!, Number(value));
  }
  return samples;
}

test("braid serve's /metrics exports the UDP forward counters that braid status shows", async () => {
  const target = await startReplyServer();
  const serverControl = `${serverHome.dir}/serve-metrics.sock`;
  const server = await startServer(serverHome, [
    '--allow-any',
    '--allow',
    `127.0.0.1:${target.port}`,
    '--udp-idle-timeout',
    '1',
    '--max-udp-flows',
    '2',
    '--metrics',
    '127.0.0.1:0',
    '--control',
    serverControl,
  ]);
  const [, metricsUrl] = (await server.daemon.waitFor(/metrics on (http:\S+)/)) as [string, string];
  let session: Session | undefined;
  try {
    session = await connect(
      { host: '127.0.0.1', port: server.port },
      { staticKey: generateKeyPair(), serverKey: decodeKey(server.publicKey) },
    );
    const replies = new Set<number>();
    session.on('datagram', (data) => {
      const frame = decodeUdpFrame(data);
      if (frame?.type === UdpFrameType.DATA) replies.add(frame.flow);
    });
    const stream = await session.openStream();
    stream.write(encodeRequest({ kind: RequestKind.UDP_FORWARD, target: `127.0.0.1:${target.port}` }));
    assert.equal((await readResponse(new ByteReader(stream))).status, 0);
    // Three flows, one after the other, at a bound of two: the first is evicted for the third.
    for (const flow of [1, 2, 3]) {
      const deadline = Date.now() + 5000;
      while (!replies.has(flow)) {
        assert.ok(Date.now() < deadline, `a reply on flow ${flow}`);
        session.sendDatagram(encodeUdpFrame(UdpFrameType.DATA, stream.id, flow, Buffer.from(`f${flow}`)));
        await sleep(100);
      }
    }
    // An unknown association and a truncated frame: both dropped and counted by reason.
    session.sendDatagram(encodeUdpFrame(UdpFrameType.DATA, stream.id + 400, 0, Buffer.from('x')));
    session.sendDatagram(Buffer.from([UdpFrameType.DATA, 0x40]));

    // After the 1 s idle timeout the other two flows expire.
    const deadline = Date.now() + 10_000;
    let metrics = await scrapeMetrics(metricsUrl);
    while (
      metrics.get('braid_udp_flows') !== 0 ||
      metrics.get('braid_udp_drops_total{reason="malformed"}') !== 1
    ) {
      assert.ok(Date.now() < deadline, `flows left: ${metrics.get('braid_udp_flows')}`);
      await sleep(200);
      metrics = await scrapeMetrics(metricsUrl);
    }
    assert.equal(metrics.get('braid_udp_flows_opened_total'), 3);
    assert.equal(metrics.get('braid_udp_flows_closed_total{cause="evicted"}'), 1);
    assert.equal(metrics.get('braid_udp_flows_closed_total{cause="expired"}'), 2);
    assert.equal(metrics.get('braid_udp_flows_closed_total{cause="peer"}'), 0);
    assert.equal(metrics.get('braid_udp_drops_total{reason="unknown-flow"}'), 1);
    assert.ok(metrics.get('braid_udp_datagrams_received_total')! >= 3, 'datagrams out of the session');
    assert.ok(metrics.get('braid_udp_datagrams_sent_total')! >= 3, 'replies into the session');

    // The same counters as braid status, reason by reason (nothing moves now: no traffic).
    const status = (await udpStatus(serverHome, serverControl)) as UdpStats & Record<string, number>;
    const fromStatus: Record<string, string> = {
      braid_udp_flows: 'flows',
      braid_udp_flows_opened_total: 'flowsOpened',
      'braid_udp_flows_closed_total{cause="peer"}': 'flowsClosedByPeer',
      'braid_udp_flows_closed_total{cause="expired"}': 'flowsExpired',
      'braid_udp_flows_closed_total{cause="evicted"}': 'flowsEvicted',
      braid_udp_datagrams_sent_total: 'datagramsSent',
      braid_udp_datagrams_received_total: 'datagramsReceived',
      'braid_udp_drops_total{reason="oversize"}': 'droppedOversize',
      'braid_udp_drops_total{reason="unknown-flow"}': 'droppedUnknownFlow',
      'braid_udp_drops_total{reason="suspended"}': 'droppedSuspended',
      'braid_udp_drops_total{reason="queue-full"}': 'droppedQueueFull',
      'braid_udp_drops_total{reason="no-session"}': 'droppedNoSession',
      'braid_udp_drops_total{reason="malformed"}': 'droppedMalformed',
    };
    metrics = await scrapeMetrics(metricsUrl);
    for (const [sample, field] of Object.entries(fromStatus)) {
      assert.equal(metrics.get(sample), status[field], `${sample} = status udp.${field}`);
    }
  } finally {
    await session?.close(0, 'done');
    target.socket.close();
    await server.daemon.stop();
  }
});
