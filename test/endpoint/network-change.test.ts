// A report that the host's links, addresses or routes changed reaches the engine at once
// (InterfaceWatcher.subscribeChanges → UdpEndpoint.onNetworkChange → Endpoint.networkChanged),
// whether or not the address set changed: a link that comes back up changes no address. The
// watcher with a fake kernel source, then the real shell on loopback sockets, where the report
// makes a suspended client resume at once instead of at its backed-off retry.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { type InterfaceAddress, InterfaceWatcher } from '../../src/endpoint/interfaces.js';
import type { SocketAddress } from '../../src/net/address.js';
import { startPair } from '../../testing/harness/api-pair.js';
import { FakeSource } from '../../testing/harness/fake-interface-source.js';

const ADDRESS: InterfaceAddress = {
  address: '192.0.2.1',
  family: 'IPv4',
  interface: 'eth0',
  scope: 'global',
  deprecated: false,
};

test('change listeners hear a kernel report with no address change; a burst is one call', async () => {
  const source = new FakeSource();
  const watcher = new InterfaceWatcher(() => [ADDRESS], source);
  let calls = 0;
  let wake: (() => void) | undefined;
  const keepAlive = setInterval(() => {}, 1000);
  const unsubscribe = watcher.subscribeChanges(() => {
    calls++;
    wake?.();
  });
  try {
    assert.equal(source.starts, 1, 'the kernel source starts with the first change listener');
    const heard = new Promise<void>((resolve) => {
      wake = resolve;
    });
    // A link coming up: the same addresses, 50 notifications in a burst.
    for (let i = 0; i < 50; i++) source.onChange!();
    await heard;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(calls, 1, 'the burst was coalesced into one call');
  } finally {
    unsubscribe();
    clearInterval(keepAlive);
  }
  assert.equal(source.stops, 1, 'the source stops with the last listener');
});

test('a suspended client resumes at once on a change report, not at its next retry', {
  timeout: 30_000,
}, async () => {
  const transport = { idleTimeout: 1500 };
  const state = { dark: false, lastAttemptAt: 0 };
  // Everything is lost while dark; the client's outgoing RESUMEs (long header, RESUME type) are noted.
  const faultInjector = (direction: 'in' | 'out', _l: SocketAddress, _r: SocketAddress, data: Uint8Array) => {
    if (state.dark && direction === 'out' && data.length >= 1200 && (data[0]! & 0x80) !== 0)
      state.lastAttemptAt = performance.now();
    return state.dark;
  };
  const pair = await startPair({ transport }, { transport, faultInjector, localAddress: '127.0.0.1' });
  try {
    await new Promise((r) => setTimeout(r, 100)); // the server suspends only confirmed sessions
    const stream = await pair.client.openStream();
    stream.write(Buffer.alloc(1000));
    state.dark = true;
    await Promise.all([once(pair.client, 'suspended'), once(pair.serverSession, 'suspended')]);
    // Let the retry backoff reach its cap (250, 500, then resumeInterval = 1000 ms apart).
    await new Promise((r) => setTimeout(r, 2000));
    // Heal right after an attempt went out: the next retry is a full second away.
    const seenAttempt = state.lastAttemptAt;
    while (state.lastAttemptAt === seenAttempt) await new Promise((r) => setTimeout(r, 5));
    state.dark = false;
    const healedAt = performance.now();
    InterfaceWatcher.shared.reportChange(); // what the netlink callback does on a link-up
    await once(pair.client, 'resumed');
    const resumedAfter = performance.now() - healedAt;
    console.log(`resumed ${resumedAfter.toFixed(0)} ms after the report (next retry was ~1000 ms away)`);
    // Loopback round trips are sub-millisecond; the margin is for a loaded host.
    assert.ok(resumedAfter < 500, `resumed ${resumedAfter.toFixed(0)} ms after the report`);
  } finally {
    await pair.close();
  }
});
