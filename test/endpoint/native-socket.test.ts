/**
 * The native batched socket back-end (native/braid_udp.cc through src/endpoint/native-socket.ts)
 * over real loopback sockets: GSO batches arrive as their exact datagrams (IPv4 and IPv6, with a
 * shorter last segment), the sendmmsg fallback, interop with plain node:dgram sockets in both
 * directions, pktinfo local addresses, error paths counted by code and never thrown, and a
 * process that exits by itself once its sockets are closed or unref'd.
 *
 * On Linux the addon must have been built by `npm ci`: these tests fail with the reason if it
 * was not (BRAID_NATIVE_UDP=0 opts out). Elsewhere they are skipped.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DatagramSocket, DatagramSocketHandlers } from '../../src/endpoint/datagram-socket.js';
import { type NativeSocket, nativeUdpUnavailableReason } from '../../src/endpoint/native-socket.js';
import { openDatagramSocket } from '../../src/endpoint/open-socket.js';
import type { SocketAddress } from '../../src/net/address.js';

const required = process.platform === 'linux' && process.env.BRAID_NATIVE_UDP !== '0';
const skip = !required && 'the native back-end is Linux-only (or BRAID_NATIVE_UDP=0)';

interface Received {
  data: Buffer;
  remote: SocketAddress;
  local: SocketAddress | undefined;
}

/** A native socket that records what it receives and every send error. */
async function recordingSocket(host: string, ipv6Only = false) {
  const received: Received[] = [];
  const errors: Array<{ code: string; count: number }> = [];
  let reads = 0;
  let waiter: { count: number; resolve: () => void } | undefined;
  const handlers: DatagramSocketHandlers = {
    onDatagram: (data, remote, local) => received.push({ data: Buffer.from(data), remote, local }),
    onReadDone: () => {
      reads++;
      if (waiter && received.length >= waiter.count) waiter.resolve();
    },
    onWritable: () => {},
    onSendError: (code, count) => errors.push({ code, count }),
    onSocketError: () => {},
  };
  const socket = await openDatagramSocket('native', {
    host,
    port: 0,
    ipv6Only,
    bufferSize: 4 << 20,
    handlers,
  });
  return {
    socket,
    received,
    errors,
    get reads() {
      return reads;
    },
    /** Resolves once `count` datagrams have arrived; rejects after `ms`. */
    waitFor(count: number, ms = 3000): Promise<void> {
      if (received.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${received.length} of ${count} datagrams`)), ms);
        waiter = {
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
    },
  };
}

/** `count` datagrams of `size` bytes laid back to back, each starting with its index (the last may be `last` bytes). */
function batch(count: number, size: number, last = size): Buffer {
  const out = Buffer.alloc((count - 1) * size + last);
  for (let i = 0; i < count; i++) {
    const length = i === count - 1 ? last : size;
    out.fill((i * 7) & 0xff, i * size, i * size + length);
    out.writeUInt16BE(i, i * size);
  }
  return out;
}

function assertDatagrams(received: Received[], count: number, size: number, last = size): void {
  assert.equal(received.length, count, 'datagram count');
  const byIndex = new Map(received.map((r) => [r.data.readUInt16BE(0), r.data]));
  for (let i = 0; i < count; i++) {
    const data = byIndex.get(i);
    assert.ok(data, `datagram ${i} missing`);
    assert.equal(data.length, i === count - 1 ? last : size, `datagram ${i} length`);
    assert.equal(data[data.length - 1], (i * 7) & 0xff, `datagram ${i} content`);
  }
}

test('the native back-end loads where it must', { skip }, () => {
  assert.equal(nativeUdpUnavailableReason(), undefined);
});

for (const host of ['127.0.0.1', '::1']) {
  test(`${host}: one GSO send of 54 datagrams arrives as exactly those 54 datagrams, a shorter last one included`, {
    skip,
  }, async () => {
    const receiver = await recordingSocket(host);
    const sender = await recordingSocket(host);
    try {
      const features = (receiver.socket as NativeSocket).features;
      assert.ok(features.gro && features.pktinfo, `features ${JSON.stringify(features)}`);
      const data = batch(54, 1200, 555);
      sender.socket.send(data, 0, data.length, 1200, receiver.socket.local);
      await receiver.waitFor(54);
      assertDatagrams(receiver.received, 54, 1200, 555);
      assert.ok(receiver.reads < 54, `GRO should coalesce: ${receiver.reads} reads for 54 datagrams`);
      assert.equal(receiver.received[0]!.remote.port, sender.socket.local.port);
      assert.equal(receiver.received[0]!.remote.address, host);
      assert.deepEqual(sender.errors, []);
      assert.equal(sender.socket.stats().sendCalls, 1, 'one sendmsg for the whole batch');
      // An offset into a larger buffer, and a lone datagram (segment size 0).
      const lone = Buffer.concat([Buffer.alloc(10), batch(1, 300)]);
      sender.socket.send(lone, 10, 300, 0, receiver.socket.local);
      await receiver.waitFor(55);
      assert.equal(receiver.received[54]!.data.length, 300);
    } finally {
      sender.socket.close();
      receiver.socket.close();
    }
  });
}

test('without GSO (as on a device that refuses it) the same batch leaves through sendmmsg, datagram for datagram', {
  skip,
}, async () => {
  const receiver = await recordingSocket('127.0.0.1');
  const sender = await recordingSocket('127.0.0.1');
  try {
    (sender.socket as NativeSocket).disableGso();
    const data = batch(64, 1000, 999);
    sender.socket.send(data, 0, data.length, 1000, receiver.socket.local);
    await receiver.waitFor(64);
    assertDatagrams(receiver.received, 64, 1000, 999);
    assert.equal((sender.socket as NativeSocket).features.gso, false);
  } finally {
    sender.socket.close();
    receiver.socket.close();
  }
});

test('interop with node:dgram both ways: the kernel splits a GSO batch for a plain socket; plain datagrams arrive whole', {
  skip,
}, async () => {
  const plain = dgram.createSocket('udp4');
  plain.bind(0, '127.0.0.1');
  await once(plain, 'listening');
  const native = await recordingSocket('127.0.0.1');
  try {
    const got: Buffer[] = [];
    plain.on('message', (m) => got.push(m));
    const data = batch(20, 1200, 100);
    native.socket.send(data, 0, data.length, 1200, {
      address: '127.0.0.1',
      port: plain.address().port,
      family: 'IPv4',
    });
    for (let i = 0; i < 100 && got.length < 20; i++) await sleep(10);
    assertDatagrams(
      got.map((d) => ({ data: d, remote: native.socket.local, local: undefined })),
      20,
      1200,
      100,
    );
    for (let i = 0; i < 5; i++) plain.send(batch(1, 700 + i), native.socket.local.port, '127.0.0.1');
    await native.waitFor(5);
    assert.deepEqual(
      native.received.map((r) => r.data.length),
      [700, 701, 702, 703, 704],
    );
  } finally {
    plain.close();
    native.socket.close();
  }
});

test('a wildcard socket reports each datagram’s own local address (IP_PKTINFO), IPv4 peers of a dual-stack socket as IPv4', {
  skip,
}, async () => {
  const wildcard = await recordingSocket('::');
  const v4 = await recordingSocket('127.0.0.1');
  const v6 = await recordingSocket('::1');
  try {
    const port = wildcard.socket.local.port;
    v4.socket.send(batch(1, 100), 0, 100, 0, { address: '127.0.0.1', port, family: 'IPv4' });
    v6.socket.send(batch(1, 100), 0, 100, 0, { address: '::1', port, family: 'IPv6' });
    await wildcard.waitFor(2);
    const fromV4 = wildcard.received.find((r) => r.remote.family === 'IPv4');
    const fromV6 = wildcard.received.find((r) => r.remote.family === 'IPv6');
    assert.deepEqual(fromV4?.remote, { address: '127.0.0.1', port: v4.socket.local.port, family: 'IPv4' });
    assert.deepEqual(fromV4?.local, { address: '127.0.0.1', port, family: 'IPv4' });
    assert.deepEqual(fromV6?.remote, { address: '::1', port: v6.socket.local.port, family: 'IPv6' });
    assert.deepEqual(fromV6?.local, { address: '::1', port, family: 'IPv6' });
    // And the reply can name its source address on the wildcard socket.
    wildcard.socket.send(batch(1, 50), 0, 50, 0, v4.socket.local, fromV4!.local);
    await v4.waitFor(1);
    assert.equal(v4.received[0]!.remote.address, '127.0.0.1');
    assert.deepEqual(wildcard.errors, []);
  } finally {
    wildcard.socket.close();
    v4.socket.close();
    v6.socket.close();
  }
});

test('send errors are counted by code, never thrown: broadcast without SO_BROADCAST, port 0, wrong family, closed socket', {
  skip,
}, async () => {
  const v4 = await recordingSocket('127.0.0.1');
  const v6only = await recordingSocket('::1', true);
  const one = batch(3, 100);
  v4.socket.send(one, 0, one.length, 100, { address: '255.255.255.255', port: 9, family: 'IPv4' });
  v4.socket.send(one, 0, 100, 0, { address: '127.0.0.1', port: 0, family: 'IPv4' });
  // A whole batch to port 0: EINVAL for each datagram, and GSO is not blamed for it.
  v4.socket.send(one, 0, one.length, 100, { address: '127.0.0.1', port: 0, family: 'IPv4' });
  v4.socket.send(one, 0, 100, 0, { address: 'not an address', port: 9, family: 'IPv4' });
  v6only.socket.send(one, 0, 100, 0, v4.socket.local);
  assert.deepEqual(v4.errors, [
    { code: 'EACCES', count: 3 },
    { code: 'EINVAL', count: 1 },
    { code: 'EINVAL', count: 3 },
    { code: 'EINVAL', count: 1 },
  ]);
  assert.equal((v4.socket as NativeSocket).features.gso, true, 'a bad destination turned GSO off');
  assert.equal(v4.socket.stats().gsoFallbacks, 0);
  assert.equal(
    v6only.errors.length,
    1,
    `IPv4 destination on an IPv6-only socket: ${JSON.stringify(v6only.errors)}`,
  );
  v4.socket.close();
  v4.socket.close(); // idempotent
  v4.socket.send(one, 0, 100, 0, v6only.socket.local);
  assert.deepEqual(v4.errors.at(-1), { code: 'EBADF', count: 1 });
  assert.deepEqual(v4.socket.stats().pendingBytes, 0);
  v6only.socket.close();
});

const noop = (): void => {};
const noopHandlers: DatagramSocketHandlers = {
  onDatagram: noop,
  onReadDone: noop,
  onWritable: noop,
  onSendError: noop,
  onSocketError: noop,
};

test('bind errors reject with the errno code and leave nothing open', { skip }, async () => {
  const first = await recordingSocket('127.0.0.1');
  try {
    await assert.rejects(
      openDatagramSocket('native', {
        host: '127.0.0.1',
        port: first.socket.local.port,
        ipv6Only: false,
        bufferSize: 1 << 20,
        handlers: noopHandlers,
      }),
      (error: NodeJS.ErrnoException) => error.code === 'EADDRINUSE',
    );
    await assert.rejects(
      openDatagramSocket('native', {
        host: '192.0.2.x',
        port: 0,
        ipv6Only: false,
        bufferSize: 1 << 20,
        handlers: noopHandlers,
      }),
      (error: NodeJS.ErrnoException) => error.code === 'EINVAL',
    );
  } finally {
    first.socket.close();
  }
});

/** Runs `source` as an ES module in a fresh Node and returns its exit status and output (it must end by itself). */
function runAlone(source: string): { status: number | null; signal: string | null; output: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], {
    cwd: new URL('../..', import.meta.url),
    timeout: 20_000,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return { status: result.status, signal: result.signal, output: `${result.stdout}${result.stderr}` };
}

test('no leaked handles: the process exits by itself after close (also mid-receive) and with an unref’d open socket', {
  skip,
  timeout: 60_000,
}, () => {
  const open = `
    import { openDatagramSocket } from './src/endpoint/open-socket.ts';
    const noop = () => {};
    const open = (handlers) => openDatagramSocket('native', { host: '127.0.0.1', port: 0, ipv6Only: false, bufferSize: 1 << 20,
      handlers: { onDatagram: noop, onReadDone: noop, onWritable: noop, onSendError: noop, onSocketError: noop, ...handlers } });
  `;
  // Closing from inside the receive callback, with more datagrams queued behind it.
  const closedMidReceive = runAlone(`${open}
    let a; a = await open({ onDatagram: () => a.close() });
    const b = await open({});
    const data = Buffer.alloc(64 * 1000);
    for (let i = 0; i < 20; i++) b.send(data, 0, data.length, 1000, a.local);
    setTimeout(() => { b.close(); console.log('sent'); }, 50);
  `);
  assert.equal(closedMidReceive.status, 0, closedMidReceive.output);
  assert.match(closedMidReceive.output, /sent/);
  const unrefd = runAlone(`${open}
    const a = await open({});
    a.unref();
    console.log('unref');
  `);
  assert.equal(unrefd.status, 0, unrefd.output);
  assert.match(unrefd.output, /unref/);
  // And a socket left open and referenced keeps the process alive, like dgram (the timeout kills it).
  const kept = runAlone(`${open}
    await open({});
    setTimeout(() => { console.log('still alive'); process.exit(0); }, 300).unref();
  `);
  assert.equal(kept.status, 0, kept.output);
  assert.match(kept.output, /still alive/);
});

test('many sockets opened and closed leave no file descriptors behind', { skip }, async () => {
  const { readdirSync } = await import('node:fs');
  const before = readdirSync('/proc/self/fd').length;
  const sockets: DatagramSocket[] = [];
  for (let i = 0; i < 50; i++) sockets.push((await recordingSocket(i % 2 ? '::1' : '127.0.0.1')).socket);
  assert.ok(readdirSync('/proc/self/fd').length >= before + 50);
  for (const s of sockets) s.close();
  await sleep(20); // uv_close callbacks run on the next loop turn
  assert.ok(readdirSync('/proc/self/fd').length <= before + 2, 'descriptors still open after close');
});

test('a worker that ends with native sockets open neither crashes nor hangs the process', {
  skip,
  timeout: 60_000,
}, () => {
  // In a child process: a crash here (libuv closing a handle after the addon was unloaded) must
  // fail this test, not take the test runner down.
  const result = runAlone(`
    import { Worker } from 'node:worker_threads';
    const bootstrap = new URL('./test/endpoint/fixtures/ts-worker.mjs', 'file://' + process.cwd() + '/');
    const module = new URL('./open-sockets-worker.ts', bootstrap).href;
    for (let i = 0; i < 3; i++) {
      const worker = new Worker(bootstrap, { workerData: { module }, execArgv: [] });
      await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
      await worker.terminate();
    }
    console.log('terminated');
  `);
  assert.equal(result.status, 0, `${result.signal ?? ''} ${result.output}`);
  assert.match(result.output, /terminated/);
});
