// An authenticated peer that names victims' addresses must not turn the other end into a
// flood source against them. The attacker floods ADD_ADDRESS (thousands of addresses, re-sent,
// withdrawn and re-added), opens paths with new path ids from or to addresses it keeps
// retiring and replacing, and finally goes silent, so the session suspends and looks for its
// peer. Over minutes of simulated time, the bytes the attacked end sends are counted per
// destination address from its output datagrams: an address receives at most 3× the bytes that
// came from it, plus, from a client, the budget of protocol.md §11.2 for an address that never
// validated (3 × 1200 bytes a minute); a server sends nothing to an address it never heard.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type SocketAddress, socketAddress } from '../../src/net/address.js';
import type { Frame } from '../../src/wire/frames.js';
import { CLIENT_ADDR, Pair, SERVER_ADDR } from '../../testing/harness/engine-pair.js';

const MINUTE = 60_000;
/** protocol.md §11.2: what an address that never validated may receive from one session a minute. */
const UNVERIFIED_BUDGET = 3 * 1200;
/** protocol.md §11.2: peer addresses a receiver remembers. */
const MAX_PEER_ADDRESSES = 16;
const LIVE = 3 * MINUTE;
const SILENT = 5 * MINUTE;

const keyOf = (a: SocketAddress) => `${a.address}:${a.port}`;
const add = (m: Map<string, number>, k: string, n: number) => m.set(k, (m.get(k) ?? 0) + n);
/** Victims: global addresses that never send anything and never answer. */
const victim = (n: number) => socketAddress(`198.51.100.${1 + (n % 250)}`, 10_000 + n);

type Side = 'client' | 'server';

/** Frames a malicious peer adds to its packet number `round`: ever new ADD_ADDRESS, withdrawals, re-adds. */
function flood(round: number, sequence: () => number): Frame[] {
  const frames: Frame[] = [];
  for (let i = 0; i < 10; i++)
    frames.push({ type: 'add_address', sequence: sequence(), address: victim(round * 10 + i) });
  if (round % 5 === 4) {
    // Withdraw and re-add what was advertised first (the addresses a receiver remembers), and
    // the last batch, with higher sequence numbers each time.
    for (let n = 0; n < MAX_PEER_ADDRESSES; n++) {
      frames.push({ type: 'remove_address', sequence: sequence(), address: victim(n) });
      frames.push({ type: 'add_address', sequence: sequence(), address: victim(n) });
    }
    for (let i = 0; i < 10; i++)
      frames.push({ type: 'remove_address', sequence: sequence(), address: victim(round * 10 + i) });
  }
  return frames;
}

interface Run {
  /** Bytes the attacked end sent, by destination address. */
  sent: Map<string, number>;
  /** Bytes the attacked end received, by source address. */
  received: Map<string, number>;
  /** Injected address frames. */
  injected: number;
  /** The attacked end suspended in the silence (and looked for its peer). */
  suspended: boolean;
  elapsed: number;
}

/**
 * A session whose `attacker` end floods address frames for LIVE ms while it changes its own
 * address set every 20 s (three fresh victim addresses each time: the client opens paths from
 * them, a server advertises them), then drops every datagram both ways for SILENT ms.
 */
function probingRun(attacker: Side): Run {
  const attacked: Side = attacker === 'client' ? 'server' : 'client';
  let next = 1_000_000;
  const sequence = () => next++;
  let armed = false;
  let round = 0;
  let injected = 0;
  const inject = {
    mutateFramesBeforeProcessing(frames: Frame[]): Frame[] {
      if (!armed) return frames;
      const extra = flood(round++, sequence);
      injected += extra.length;
      return [...frames, ...extra];
    },
  };
  const pair = new Pair({ testHooks: { [attacked]: inject } });
  pair.handshake();
  pair.runUntil(() => pair.clientEvents.length > 0 && pair.serverConn?.state === 'established');
  const start = pair.now;
  armed = true;

  const sent = new Map<string, number>();
  const received = new Map<string, number>();
  const genuine = keyOf(attacker === 'client' ? CLIENT_ADDR : SERVER_ADDR);
  let silent = false;
  let spoofs = 0;
  const wire = pair as unknown as {
    queue: { at: number; to: Side; data: Uint8Array; from: SocketAddress; dest: SocketAddress }[];
  };
  pair.hook = (from, data, now, transmit) => {
    if (from === attacked) {
      add(sent, keyOf(transmit.remote), data.length);
      // Only the attacker's own address answers; the victims never do.
      return silent || keyOf(transmit.remote) !== genuine ? false : undefined;
    }
    if (silent) return false;
    if (++spoofs % 10 === 0) {
      // Every tenth datagram of the attacker comes from a fresh spoofed source.
      const source = victim(20_000 + spoofs / 10);
      add(received, keyOf(source), data.length);
      wire.queue.push({
        at: now + pair.latency,
        to: attacked,
        data: data.slice(),
        from: source,
        dest: transmit.remote,
      });
      return false;
    }
    add(received, keyOf(transmit.local), data.length);
    return undefined;
  };

  const attackerEndpoint = attacker === 'client' ? pair.client : pair.server;
  const attackerConn = () => (attacker === 'client' ? pair.clientConn : pair.serverConn);
  const own = attacker === 'client' ? CLIENT_ADDR : SERVER_ADDR;
  let epoch = -1;
  let lastDatagram = -Infinity;
  while (pair.now < start + LIVE) {
    const e = Math.floor((pair.now - start) / 20_000);
    if (e !== epoch) {
      epoch = e;
      const fresh = [0, 1, 2].map((i) => victim(5000 + 3 * e + i));
      attackerEndpoint.setLocalAddresses([own, ...fresh], pair.now);
    }
    // Keep packets flowing from the attacker: each one carries the next flood.
    if (pair.now - lastDatagram >= 100 && attackerConn().state === 'established') {
      attackerConn().sendDatagram(new Uint8Array(8));
      lastDatagram = pair.now;
    }
    if (!pair.step()) break;
  }
  silent = true;
  while (pair.now < start + LIVE + SILENT && pair.step());

  const events = attacked === 'client' ? pair.clientEvents : pair.serverEvents;
  const suspended = events.some((e) => e.type === 'suspended');
  return { sent, received, injected, suspended, elapsed: pair.now - start };
}

function assertBounded(run: Run, attacked: Side): void {
  assert.ok(run.suspended, `the ${attacked} suspended in the silence`);
  const genuine = keyOf(attacked === 'server' ? CLIENT_ADDR : SERVER_ADDR);
  // A client's budget renews once a minute per address, from its first use.
  const budget = attacked === 'client' ? UNVERIFIED_BUDGET * (1 + Math.floor(run.elapsed / MINUTE)) : 0;
  let neverHeard = 0;
  for (const [address, bytes] of run.sent) {
    if (address === genuine) continue;
    const came = run.received.get(address) ?? 0;
    if (came === 0) neverHeard++;
    assert.ok(
      bytes <= 3 * came + budget,
      `${bytes} bytes to ${address}, which sent ${came} (bound ${3 * came + budget}, ${run.elapsed} ms)`,
    );
  }
  if (attacked === 'client')
    assert.ok(neverHeard <= MAX_PEER_ADDRESSES, `${neverHeard} addresses that never sent were probed`);
}

test('a malicious client: the server sends no victim more than 3× what came from it, for minutes', () => {
  const run = probingRun('client');
  assert.ok(run.injected > 2000, `${run.injected} address frames injected`);
  const spoofed = [...run.received.keys()].filter((a) => a !== keyOf(CLIENT_ADDR));
  assert.ok(spoofed.length >= 10, `the server heard from ${spoofed.length} spoofed addresses`);
  assertBounded(run, 'server');
});

test('a malicious server: the client probes at most 16 victims, each within its budget, for minutes', () => {
  const run = probingRun('server');
  assert.ok(run.injected > 2000, `${run.injected} address frames injected`);
  const probed = [...run.sent.keys()].filter((a) => a !== keyOf(SERVER_ADDR));
  assert.ok(probed.length >= 3, `the client probed ${probed.length} advertised addresses`);
  assertBounded(run, 'client');
});
