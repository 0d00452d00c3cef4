// Path validation and migration (RFC 9000 §8–9 adapted to Braid's per-path-id spaces):
// NAT rebinding seen through the Pair harness, anti-amplification towards a spoofed
// address, validation lifetime.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Endpoint } from '../../src/engine/endpoint.js';
import type { PathInfo } from '../../src/engine/types.js';
import { addressKey, type SocketAddress, socketAddress, type Transmit } from '../../src/net/address.js';
import { CLIENT_ADDR, Pair, SERVER_ADDR } from '../../testing/harness/engine-pair.js';

const NAT_ADDR = socketAddress('198.51.100.7', 51000);
const VICTIM = socketAddress('198.51.100.66', 53);

/** Makes the client look as if a NAT in front of it moved to `outside` (both directions). */
function natRebind(endpoint: Endpoint, outside: () => SocketAddress | undefined): void {
  const poll = endpoint.pollTransmit.bind(endpoint);
  const receive = endpoint.receive.bind(endpoint);
  endpoint.pollTransmit = (now: number): Transmit | undefined => {
    const t = poll(now);
    const public_ = outside();
    return t && public_ ? { ...t, local: public_ } : t;
  };
  endpoint.receive = (data, local, remote, now) =>
    receive(data, outside() ? CLIENT_ADDR : local, remote, now);
}

function transfer(pair: Pair, bytes: number): { sent: Uint8Array; received: Uint8Array[] } {
  const sent = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) sent[i] = (i * 7 + 3) & 0xff;
  const id = pair.clientConn.openStream(true);
  assert.ok(id !== undefined);
  let written = 0;
  const received: Uint8Array[] = [];
  let fin = false;
  pair.runUntil(() => {
    if (written < bytes) {
      written += pair.clientConn.writeStream(id, sent.subarray(written));
      if (written === bytes) pair.clientConn.finishStream(id);
    }
    if (pair.serverConn) fin = Pair.drain(pair.serverConn, id, received) || fin;
    return fin;
  }, 120_000);
  return { sent, received };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  return Buffer.concat(chunks.map((c) => Buffer.from(c)));
}

function pathEvents(events: { type: string }[]): PathInfo[] {
  return events
    .filter((e) => e.type === 'path-updated')
    .map((e) => (e as unknown as { path: PathInfo }).path);
}

describe('path validation and migration', () => {
  test('NAT rebinding mid-transfer: the server validates the new address, moves there, nothing lost', () => {
    const pair = new Pair({ seed: 11, latency: 10 });
    pair.handshake();
    let rebound = false;
    natRebind(pair.client, () => (rebound ? NAT_ADDR : undefined));
    const payload = 400_000;
    // Rebind once the transfer is under way.
    const startedAt = pair.now;
    const origStep = pair.step.bind(pair);
    pair.step = () => {
      if (!rebound && pair.now > startedAt + 100) rebound = true;
      return origStep();
    };
    const { sent, received } = transfer(pair, payload);
    assert.ok(rebound, 'the rebinding happened during the transfer');
    assert.deepEqual(concat(received), Buffer.from(sent));
    const end = pair.now;
    pair.runUntil(() => pair.now > end + 1000);

    const serverPaths = pair.serverConn.paths;
    const active = serverPaths.find((p) => p.state === 'active');
    assert.ok(active, 'the server has an active path');
    assert.equal(addressKey(active.remote), addressKey(NAT_ADDR));
    assert.ok(active.id > 0, `new path id ${active.id}`);
    const events = pathEvents(pair.serverEvents);
    assert.ok(events.some((p) => p.state === 'validating' && addressKey(p.remote) === addressKey(NAT_ADDR)));
    assert.ok(events.some((p) => p.state === 'active' && addressKey(p.remote) === addressKey(NAT_ADDR)));
    assert.ok(events.some((p) => p.id === 0 && (p.state === 'standby' || p.state === 'removed')));
    // The client followed the server to the new path id, so both directions use fresh CIDs.
    const clientActive = pair.clientConn.paths.find((p) => p.state === 'active');
    assert.equal(clientActive?.id, active.id);
  });

  test('the new path uses connection IDs never seen on the old one, in both directions', () => {
    const pair = new Pair({ seed: 12, latency: 10 });
    pair.handshake();
    const seen = { client: new Set<string>(), server: new Set<string>() };
    let record = true;
    const late = { client: new Set<string>(), server: new Set<string>() };
    pair.hook = (from, data) => {
      if ((data[0] & 0x80) === 0) {
        // Both endpoints issue 8-byte CIDs (the Pair default).
        const cid = Buffer.from(data.subarray(1, 9)).toString('hex');
        (record ? seen : late)[from].add(cid);
      }
      return undefined;
    };
    let rebound = false;
    natRebind(pair.client, () => (rebound ? NAT_ADDR : undefined));
    const id = pair.clientConn.openStream(true)!;
    let deadline = pair.now + 300;
    pair.runUntil(() => {
      pair.clientConn.writeStream(id, new Uint8Array(2000));
      return pair.now > deadline;
    });
    // Everything sent before the NAT moved used the handshake path's CIDs.
    record = false;
    rebound = true;
    pair.runUntil(() => {
      pair.clientConn.writeStream(id, new Uint8Array(2000));
      return pair.clientConn.paths.some((p) => p.state === 'active' && p.id > 0);
    });
    late.client.clear();
    late.server.clear();
    deadline = pair.now + 300;
    pair.runUntil(() => {
      pair.clientConn.writeStream(id, new Uint8Array(2000));
      return pair.now > deadline;
    });
    for (const side of ['client', 'server'] as const) {
      assert.ok(late[side].size > 0, `${side} sent after the move`);
      for (const cid of late[side])
        assert.ok(!seen[side].has(cid), `${side}: CID ${cid} was used before the move`);
    }
  });

  test('anti-amplification: a spoofed victim address gets at most 3× the bytes sent from it', () => {
    const pair = new Pair({ seed: 13, latency: 10 });
    pair.handshake();
    // Let the handshake be confirmed (and path CIDs exchanged) before the attack.
    const id = pair.clientConn.openStream(true)!;
    const sink: Uint8Array[] = [];
    const exchange = (bytes: number) => {
      pair.clientConn.writeStream(id, new Uint8Array(bytes));
      const total = sink.reduce((n, c) => n + c.length, 0) + bytes;
      pair.runUntil(() => {
        if (pair.serverConn) Pair.drain(pair.serverConn, id, sink);
        return sink.reduce((n, c) => n + c.length, 0) >= total;
      });
    };
    exchange(100);
    // The (authenticated) client sends a few packets with the victim's address as source.
    let spoofed = 0;
    let spoofBytes = 0;
    const poll = pair.client.pollTransmit.bind(pair.client);
    pair.client.pollTransmit = (now) => {
      const t = poll(now);
      if (t && spoofed < 3) {
        spoofed++;
        spoofBytes += t.data.length;
        return { ...t, local: VICTIM };
      }
      return t;
    };
    let victimBytes = 0;
    let victimDatagrams = 0;
    const serverPoll = pair.server.pollTransmit.bind(pair.server);
    pair.server.pollTransmit = (now) => {
      for (;;) {
        const t = serverPoll(now);
        if (t && addressKey(t.remote) === addressKey(VICTIM)) {
          victimBytes += t.data.length;
          victimDatagrams++;
          continue; // the victim does not answer
        }
        return t;
      }
    };
    // Requests keep flowing for several validation timeouts.
    const start = pair.now;
    while (pair.now < start + 10_000) exchange(200);
    assert.ok(spoofed >= 1);
    assert.ok(victimDatagrams > 0, 'the server challenged the claimed address');
    assert.ok(victimBytes <= 3 * spoofBytes, `victim got ${victimBytes} B for ${spoofBytes} B spoofed`);
    const events = pathEvents(pair.serverEvents);
    assert.ok(events.some((p) => p.state === 'failed' && addressKey(p.remote) === addressKey(VICTIM)));
    // The session carries on over the real address.
    const active = pair.serverConn.paths.find((p) => p.state === 'active');
    assert.equal(addressKey(active!.remote), addressKey(CLIENT_ADDR));
    assert.equal(pair.serverConn.state, 'established');
  });

  test('an address the peer advertises (a victim) gets at most 3 × 1200 bytes a minute however often it is retried', () => {
    const pair = new Pair({ seed: 16, latency: 10 });
    pair.handshake();
    // A malicious server claims the victim's address as its own: the client will try to open a
    // standby there, again and again as each attempt fails.
    const victim = socketAddress('198.51.100.66', 4433);
    pair.server.setLocalAddresses([SERVER_ADDR, victim], pair.now);
    const start = pair.now;
    const victimBytes = [0, 0]; // in the first minute, in the second
    const poll = pair.client.pollTransmit.bind(pair.client);
    pair.client.pollTransmit = (now) => {
      for (;;) {
        const t = poll(now);
        if (t && addressKey(t.remote) === addressKey(victim)) {
          victimBytes[now - start < 60_000 ? 0 : 1] += t.data.length;
          continue; // the victim does not answer
        }
        return t;
      }
    };
    // 90 s of session: a stream stays open, so keepalives keep it alive.
    const id = pair.clientConn.openStream(true)!;
    pair.clientConn.writeStream(id, new Uint8Array(10));
    pair.runUntil(() => pair.now > start + 90_000, 100_000);
    const attempts = pathEvents(pair.clientEvents).filter(
      (p) => p.state === 'validating' && addressKey(p.remote) === addressKey(victim),
    ).length;
    assert.ok(attempts >= 2, `the client tried the advertised address ${attempts} times`);
    for (const bytes of victimBytes)
      assert.ok(bytes > 0 && bytes <= 3 * 1200, `victim got ${bytes} B in a minute`);
    assert.equal(pair.clientConn.state, 'established');
  });

  test('a new address whose sends the kernel refuses at first (no route yet) still validates once they go out', () => {
    // A new local address often appears a few ms before its routes. The challenges refused in
    // that time reached nobody: they must not spend the path's anti-amplification credit
    // (3 × 1200 bytes), or the path fails although the address works a moment later.
    const validated = (report: boolean) => {
      const pair = new Pair({ seed: 21, latency: 10 });
      pair.handshake();
      const added = socketAddress('198.51.100.7', 40000);
      const routedAt = pair.now + 600;
      let refused = 0;
      const poll = pair.client.pollTransmit.bind(pair.client);
      pair.client.pollTransmit = (now, buffer) => {
        for (;;) {
          const t = poll(now, buffer);
          if (!t || addressKey(t.local) !== addressKey(added) || now >= routedAt) return t;
          refused++; // ENETUNREACH: never left the host
          if (report) pair.client.onSendRefused(t.local, t.remote, 1, now);
        }
      };
      const id = pair.clientConn.openStream(true)!;
      pair.clientConn.writeStream(id, new Uint8Array(10));
      pair.client.setLocalAddresses([CLIENT_ADDR, added], pair.now);
      const onNew = () =>
        pair.clientConn.paths.find((p) => p.state === 'standby' && addressKey(p.local) === addressKey(added));
      pair.runUntil(() => onNew() !== undefined, 10_000);
      return { refused, afterRoute: pair.now - routedAt, pathId: onNew()!.id };
    };
    const reported = validated(true);
    assert.ok(reported.refused > 3, `challenges refused while there was no route: ${reported.refused}`);
    // The first path from the new address validates one round trip after the route appeared
    // (at the next challenge resend).
    assert.equal(reported.pathId, 1);
    assert.ok(reported.afterRoute < 200, `validated ${reported.afterRoute} ms after the route appeared`);
    // Without the report the refused challenges use up that path's credit: it times out, and only
    // a later attempt (a new path id) validates, seconds later.
    const unreported = validated(false);
    assert.notEqual(unreported.pathId, 1);
    assert.ok(unreported.afterRoute > 1000, `validated ${unreported.afterRoute} ms after the route appeared`);
  });

  test('validation expires after its lifetime and is redone with a fresh PATH_CHALLENGE', () => {
    const validatedAt = (lifetime: number | undefined): number[] => {
      const transport = lifetime === undefined ? {} : { pathValidationLifetime: lifetime };
      const pair = new Pair({ seed: 14, latency: 10, transport });
      pair.handshake();
      const id = pair.clientConn.openStream(true)!;
      const sink: Uint8Array[] = [];
      let total = 0;
      const start = pair.now;
      while (pair.now < start + 7000) {
        pair.clientConn.writeStream(id, new Uint8Array(100));
        total += 100;
        pair.runUntil(() => {
          if (pair.serverConn) Pair.drain(pair.serverConn, id, sink);
          return sink.reduce((n, c) => n + c.length, 0) >= total;
        });
      }
      assert.equal(pair.serverConn.paths[0].state, 'active');
      // Read-only peek at when each side last validated path 0.
      type Peek = { pathManager: { records: Map<number, { validatedAt: number | undefined }> } };
      return [pair.clientConn, pair.serverConn].map(
        (c) => (c as unknown as Peek).pathManager.records.get(0)?.validatedAt ?? Number.NaN,
      );
    };
    const renewed = validatedAt(2000);
    for (const at of renewed) assert.ok(at > 4000, `revalidated at ${at}`);
    const kept = validatedAt(undefined);
    for (const at of kept) assert.ok(at < 200, `validated once at ${at}`);
  });

  test('SERVER_ADDR stays the remote of the client throughout', () => {
    const pair = new Pair({ seed: 15 });
    pair.handshake();
    assert.equal(addressKey(pair.clientConn.paths[0].remote), addressKey(SERVER_ADDR));
  });
});
