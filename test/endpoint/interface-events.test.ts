// Kernel change notifications wake the interface poller at once (src/endpoint/interface-events.ts,
// native/braid_netlink.cc): with a fake source here, and with real netlink in a lab namespace.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { Lab } from '../../src/cli/demo/lab.js';
import { type InterfaceAddress, InterfaceWatcher } from '../../src/endpoint/interfaces.js';
import { loadAddon } from '../../src/native/addons.js';
import { FakeSource } from '../../testing/harness/fake-interface-source.js';

const HOUR = 3_600_000;

function address(a: string): InterfaceAddress {
  return { address: a, family: 'IPv4', interface: 'eth0', scope: 'global', deprecated: false };
}

test('a change notification makes the poller re-read at once; a burst costs one poll', async () => {
  let table = [address('192.0.2.1')];
  let reads = 0;
  const source = new FakeSource();
  const watcher = new InterfaceWatcher(() => {
    reads++;
    return table;
  }, source);
  const seen: string[][] = [];
  let wake: (() => void) | undefined;
  // The watcher's timers never hold the process open (sockets do, in real use); this does.
  const keepAlive = setInterval(() => {}, 1000);
  const unsubscribe = watcher.subscribe(HOUR, (addresses) => {
    seen.push(addresses.map((a) => a.address));
    wake?.();
  });
  assert.equal(source.starts, 1, 'the source starts with the first subscriber');
  assert.equal(watcher.changeDetection, 'netlink');
  const readsBefore = reads;
  table = [address('192.0.2.1'), address('198.51.100.1')];
  const changed = new Promise<void>((resolve) => {
    wake = resolve;
  });
  for (let i = 0; i < 50; i++) source.onChange!();
  // With a one-hour timer only the notification can deliver this (the test times out otherwise).
  await changed;
  assert.deepEqual(seen, [['192.0.2.1', '198.51.100.1']]);
  assert.equal(reads - readsBefore, 1, 'fifty notifications in a burst, one poll');
  assert.equal(watcher.eventPolls, 1);
  // Roaming: the old address goes, the new one comes right after; each is seen at once.
  for (const next of [['198.51.100.1'], ['198.51.100.1', '203.0.113.9']]) {
    table = next.map(address);
    const seenNext = new Promise<void>((resolve) => {
      wake = resolve;
    });
    source.onChange!();
    await seenNext;
    assert.deepEqual(seen.at(-1), next);
  }
  assert.equal(watcher.eventPolls, 3);
  clearInterval(keepAlive);
  unsubscribe();
  assert.equal(source.stops, 1, 'the source stops with the last subscriber');
  assert.equal(watcher.changeDetection, 'polling');
});

const lab = Lab.available();
const netlink = loadAddon('braid_netlink');
const skip = !lab.ok ? lab.reason : netlink.module ? false : netlink.error;

test('real netlink in a namespace: an address added or removed is seen without waiting for a poll', {
  skip,
}, async () => {
  const ns = await Lab.up();
  const child = ns.nodeIn('client', 'test/endpoint/fixtures/watch-interfaces.ts', [], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const reports: Array<{ detection: string; unavailable?: string; addresses: string[] }> = [];
  let waiter: (() => void) | undefined;
  lines.on('line', (line) => {
    reports.push(JSON.parse(line));
    waiter?.();
  });
  const until = async (predicate: (addresses: string[]) => boolean, what: string) => {
    const deadline = Date.now() + 5000;
    while (!predicate(reports.at(-1)?.addresses ?? [])) {
      const left = deadline - Date.now();
      assert.ok(left > 0, `${what}: not reported within 5 s (last: ${JSON.stringify(reports.at(-1))})`);
      await new Promise<void>((resolve) => {
        waiter = resolve;
        setTimeout(resolve, left).unref();
      });
    }
  };
  try {
    await until((a) => a.length > 0, 'the first report');
    assert.equal(reports[0]!.detection, 'netlink', `netlink unavailable: ${reports[0]!.unavailable}`);
    // Timed from the end of the lab command (lab.sh adds routing rules after the address, so
    // the kernel may have told the watcher before the command returns: 0 then).
    const after = async (change: () => Promise<void>, seen: (a: string[]) => boolean, what: string) => {
      await change();
      const done = performance.now();
      await until(seen, what);
      return Math.max(0, performance.now() - done);
    };
    for (const [family, added] of [
      ['v4', '192.0.2.77'],
      ['v6', '2001:db8:a::77'],
    ] as const) {
      const addMs = await after(
        () => ns.addAddress('a', family, added),
        (a) => a.includes(added),
        `the added ${family} address`,
      );
      const removeMs = await after(
        () => ns.removeAddress('a', family, added),
        (a) => !a.includes(added),
        `the removed ${family} address`,
      );
      console.log(
        `netlink (${family}): address added seen ${addMs.toFixed(1)} ms, removed seen ${removeMs.toFixed(1)} ms after the lab command returned (poll interval 1 h)`,
      );
    }
  } finally {
    child.stdin!.end();
    await once(child, 'exit');
    await ns.down();
  }
});
