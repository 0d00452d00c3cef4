// Session persistence in the sans-I/O engine (docs/persistence.md): suspension instead of death,
// resumption with IKpsk2 on fresh connection IDs, RESUME_STATE checkpoints, refusals, expiry,
// replay of captured flights, application checkpoints and 0-RTT.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { ConnectionEvent, EngineConnection, StreamId } from '../../src/engine/types.js';
import { socketAddress } from '../../src/net/address.js';
import { TransportError } from '../../src/wire/errors.js';
import { BRAID_VERSION_1 } from '../../src/wire/packet.js';
import { encodeResume } from '../../src/wire/packet-codec.js';
import { CLIENT_ADDR, Pair, type PairOptions, SERVER_ADDR } from '../../testing/harness/engine-pair.js';

const IDLE = 3000;

/** Pattern bytes, different per stream. */
function payload(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}

const sha = (chunks: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
};

/** Writes `data` on stream `id` of `from` as backpressure allows; reads on `to`. */
class Flow {
  written = 0;
  readonly received: Uint8Array[] = [];
  fin = false;
  constructor(
    readonly from: EngineConnection,
    readonly to: EngineConnection,
    readonly id: StreamId,
    readonly data: Buffer,
  ) {}
  pump(): void {
    if (this.written < this.data.length) {
      this.written += this.from.writeStream(this.id, this.data.subarray(this.written));
      if (this.written === this.data.length) this.from.finishStream(this.id);
    }
    if (!this.fin) this.fin = Pair.drain(this.to, this.id, this.received);
  }
  get bytes(): number {
    return this.received.reduce((n, b) => n + b.length, 0);
  }
  get intact(): boolean {
    return this.fin && this.bytes === this.data.length && sha(this.received) === sha([this.data]);
  }

  /** A new client → server stream of `size` pattern bytes. */
  static up(pair: Pair, size: number, seed: number): Flow {
    const c = pair.clientConn;
    return new Flow(c, pair.serverConn, c.openStream(true)!, payload(size, seed));
  }

  /** Runs the pair until every byte was read, then checks them (length and SHA-256). */
  finish(pair: Pair, maxTime?: number): void {
    pair.runUntil(() => {
      this.pump();
      return this.fin;
    }, maxTime);
    assert.ok(this.intact, `stream ${this.id}: ${this.bytes} of ${this.data.length} bytes, SHA-256 equal`);
  }
}

const types = (events: ConnectionEvent[]) =>
  events
    .map((e) => e.type)
    .filter((t) => ['handshake-complete', 'suspended', 'resumed', 'closed'].includes(t))
    .join(',');

function setup(options: PairOptions = {}) {
  const pair = new Pair({ ...options, transport: { idleTimeout: IDLE, ...options.transport } });
  pair.handshake();
  // The server's RESUMPTION_ID frames follow its confirmation; let them arrive.
  pair.runUntil(() => pair.now > 100);
  return pair;
}

let down = false;
function outageHook(pair: Pair) {
  down = false;
  pair.hook = () => (down ? false : undefined);
}

test('no path for the failure timeout: both sides suspend, then resume with every byte, both ways', () => {
  const pair = setup();
  outageHook(pair);
  const c = pair.clientConn;
  const s = pair.serverConn;
  const flows = [
    new Flow(c, s, c.openStream(true)!, payload(1_500_000, 1)),
    new Flow(c, s, c.openStream(false)!, payload(700_000, 2)),
  ];
  // The server answers on the client's bidirectional stream once it sees it.
  pair.runUntil(() => {
    for (const f of flows) f.pump();
    return flows[0].bytes > 0;
  });
  flows.push(new Flow(s, c, flows[0].id, payload(900_000, 3)));
  const start = pair.now;
  pair.runUntil(() => {
    for (const f of flows) f.pump();
    return pair.now > start + 30;
  });
  down = true;
  pair.runUntil(() => {
    for (const f of flows) f.pump();
    return pair.now > start + 60_000;
  }, 70_000);
  assert.ok(c.suspended && s.suspended, 'both sides suspended');
  assert.equal(c.state, 'established');
  assert.ok(
    flows.some((f) => !f.fin),
    'the outage hit mid-transfer',
  );
  down = false;
  const back = pair.now;
  pair.runUntil(() => {
    for (const f of flows) f.pump();
    return flows.every((f) => f.fin);
  }, 60_000);
  for (const f of flows)
    assert.ok(f.intact, `stream ${f.id}: ${f.bytes} of ${f.data.length} bytes, SHA-256 equal`);
  assert.equal(types(pair.clientEvents), 'handshake-complete,suspended,resumed');
  assert.equal(types(pair.serverEvents), 'handshake-complete,suspended,resumed');
  assert.equal(c.stats.resumptions, 1);
  assert.equal(s.stats.resumptions, 1);
  console.log(`resumed and finished ${Math.round(pair.now - back)} ms after the path returned`);
});

test('a persistent idle session stays up; without persistence it idles out', () => {
  const pair = setup();
  pair.runUntil(() => pair.now > 120_000, 130_000);
  assert.equal(pair.clientConn.state, 'established');
  assert.ok(!pair.clientConn.suspended && !pair.serverConn.suspended, 'keepalives kept it healthy');
  const off = setup({ transport: { persistenceTimeout: 0 } });
  off.runUntil(() => off.clientConn.state === 'closed' && off.serverConn.state === 'closed', 20_000);
});

test('the persistence timeout expires on both sides with reason expired', () => {
  const pair = setup({ transport: { persistenceTimeout: 20_000 } });
  outageHook(pair);
  const c = pair.clientConn;
  const id = c.openStream(true)!;
  c.writeStream(id, payload(1000, 4));
  down = true;
  pair.runUntil(() => c.state === 'closed' && pair.serverConn.state === 'closed', 60_000);
  for (const events of [pair.clientEvents, pair.serverEvents]) {
    const closed = events.find((e) => e.type === 'closed');
    assert.ok(closed?.type === 'closed');
    assert.equal(closed.info.source, 'expired');
    assert.equal(closed.info.code, TransportError.EXPIRED);
    assert.equal(closed.info.reason, 'expired');
  }
  // IDLE (failure timeout) + 20 s, on each side.
  assert.ok(pair.now >= IDLE + 20_000 && pair.now < IDLE + 22_000, `closed at ${pair.now}`);
});

test('a restarted server (same key) refuses the RESUME: the client closes with peer-state-lost at once', () => {
  const pair = setup();
  outageHook(pair);
  down = true;
  pair.runUntil(() => pair.clientConn.suspended, 20_000);
  (pair as unknown as { server: unknown }).server = new (
    pair.server.constructor as typeof import('../../src/engine/endpoint.js').Endpoint
  )({ staticKey: pair.serverKey, server: { authorizedKeys: 'any' } });
  down = false;
  const back = pair.now;
  pair.runUntil(() => pair.clientConn.state === 'closed', 10_000);
  const closed = pair.clientEvents.find((e) => e.type === 'closed');
  assert.ok(closed?.type === 'closed');
  assert.equal(closed.info.code, TransportError.PEER_STATE_LOST);
  assert.equal(closed.info.reason, 'peer-state-lost');
  assert.ok(pair.now - back < 1500, `refused ${pair.now - back} ms after the path returned`);
  assert.equal(pair.client.stats.drops['resume-refused-lost'], 1);
});

test('a RESUME to a server whose session already expired is refused as expired', () => {
  const pair = setup({ transport: { persistenceTimeout: 10_000 } });
  const c = pair.clientConn;
  // Client → server dies first, then server → client: the server suspends (and so expires) 2.5 s
  // before the client; the path returns in between.
  let upDown = false;
  let downDown = false;
  pair.hook = (from) => ((from === 'client' ? upDown : downDown) ? false : undefined);
  // The server keeps sending (its retransmissions reach the client) while it hears nothing.
  const flow = new Flow(pair.serverConn, c, pair.serverConn.openStream(false)!, payload(2_000_000, 5));
  flow.pump();
  const t1 = pair.now;
  upDown = true;
  pair.runUntil(() => {
    flow.pump();
    return pair.now > t1 + 2500;
  });
  downDown = true;
  pair.runUntil(() => pair.serverConn.state === 'closed', 20_000);
  assert.equal(c.state, 'established', 'the client has not expired yet');
  upDown = false;
  downDown = false;
  pair.runUntil(() => c.state === 'closed', 3000);
  const closed = pair.clientEvents.find((e) => e.type === 'closed');
  assert.ok(closed?.type === 'closed');
  assert.equal(closed.info.source, 'expired');
  assert.equal(pair.client.stats.drops['resume-refused-expired'], 1);
});

test('a captured RESUME replayed after the resumption is dropped and changes nothing', () => {
  const pair = setup();
  const captured: Uint8Array[] = [];
  down = false;
  pair.hook = (from, data) => {
    if (from === 'client' && (data[0] & 0xf0) === 0xd0) captured.push(data.slice());
    return down ? false : undefined;
  };
  down = true;
  pair.runUntil(() => pair.clientConn.suspended && pair.serverConn.suspended, 20_000);
  down = false;
  pair.runUntil(() => pair.serverConn.stats.resumptions === 1, 10_000);
  assert.ok(captured.length > 0, 'RESUME packets were seen on the wire');
  const attacker = socketAddress('198.51.100.66', 5555);
  for (const datagram of captured) pair.server.receive(datagram, SERVER_ADDR, attacker, pair.now);
  // Nothing may go to the attacker, nothing may move, and the session keeps working.
  assert.equal(pair.server.pollTransmit(pair.now)?.remote.address === attacker.address, false);
  assert.ok((pair.server.stats.drops['resume-replay'] ?? 0) >= 1, JSON.stringify(pair.server.stats.drops));
  const flow = Flow.up(pair, 50_000, 6);
  flow.finish(pair);
  assert.equal(pair.serverConn.stats.resumptions, 1);
  assert.ok(pair.serverConn.paths.every((p) => p.remote.address !== attacker.address));
});

test('a RESUME replayed from another address before the genuine one arrives cannot take the session', () => {
  const pair = setup();
  const attacker = socketAddress('198.51.100.66', 5555);
  let hold: Uint8Array | undefined;
  down = false;
  pair.hook = (from, data, _now, transmit) => {
    if (down) return false;
    // What the server sends to the attacker's address never reaches the client.
    if (transmit.remote.address === attacker.address) return false;
    // The attacker intercepts the first RESUME and races a copy to the server from its own address.
    if (from === 'client' && (data[0] & 0xf0) === 0xd0 && !hold) {
      hold = data.slice();
      return false;
    }
    return undefined;
  };
  down = true;
  pair.runUntil(() => pair.clientConn.suspended && pair.serverConn.suspended, 20_000);
  down = false;
  pair.runUntil(() => hold !== undefined, 5000);
  pair.server.receive(hold!, SERVER_ADDR, attacker, pair.now);
  // The server answered the attacker (it cannot read the answer); the client's own RESUME follows.
  const flow = Flow.up(pair, 80_000, 7);
  flow.finish(pair, 20_000);
  assert.equal(pair.serverConn.stats.resumptions, 1);
  const active = pair.serverConn.paths.find((p) => p.state === 'active');
  assert.equal(
    active?.remote.address,
    CLIENT_ADDR.address,
    'the server follows the client, not the attacker',
  );
});

test('writes while suspended are accepted up to the send buffer, then backpressure; nothing is lost', () => {
  const sendBufferSize = 256 * 1024;
  const pair = setup({ transport: { sendBufferSize } });
  outageHook(pair);
  const c = pair.clientConn as EngineConnection & { memoryUsage(): { sendBuffered: number } };
  down = true;
  pair.runUntil(() => c.suspended, 20_000);
  const flow = new Flow(c, pair.serverConn, c.openStream(false)!, payload(1_000_000, 8));
  let peak = 0;
  pair.runUntil(() => {
    flow.pump();
    peak = Math.max(peak, c.memoryUsage().sendBuffered);
    return pair.now > 60_000;
  }, 70_000);
  assert.equal(flow.written, sendBufferSize, 'accepted exactly up to the bound, then refused');
  assert.ok(peak <= sendBufferSize, `held ${peak} B`);
  down = false;
  pair.runUntil(() => {
    flow.pump();
    peak = Math.max(peak, c.memoryUsage().sendBuffered);
    return flow.fin;
  }, 30_000);
  assert.ok(flow.intact, 'every byte written arrived once');
  assert.ok(peak <= sendBufferSize);
  assert.ok(pair.clientEvents.some((e) => e.type === 'stream-writable' && e.streamId === flow.id));
});

test('application checkpoints: the sender learns when the receiving application holds the bytes', () => {
  const pair = setup();
  outageHook(pair);
  const c = pair.clientConn;
  const s = pair.serverConn;
  const flow = new Flow(c, s, c.openStream(true)!, payload(300_000, 9));
  flow.pump();
  const offset = c.requestCheckpoint(flow.id);
  assert.equal(offset, flow.written);
  // The request survives a suspension: it is resent after the resumption.
  down = true;
  pair.runUntil(() => c.suspended && s.suspended, 20_000);
  down = false;
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'checkpoint'), 20_000);
  const asked = pair.serverEvents.find((e) => e.type === 'checkpoint');
  assert.deepEqual(asked, { type: 'checkpoint', streamId: flow.id, offset });
  assert.equal(
    s.confirmCheckpoint(flow.id, offset!),
    flow.bytes >= offset!,
    'only what was read can be confirmed',
  );
  pair.runUntil(() => {
    flow.pump();
    return flow.bytes >= offset!;
  });
  assert.equal(s.confirmCheckpoint(flow.id, offset! + 1), false, 'not beyond what was read');
  assert.ok(s.confirmCheckpoint(flow.id, offset!));
  pair.runUntil(() => pair.clientEvents.some((e) => e.type === 'checkpoint-confirmed'));
  assert.deepEqual(
    pair.clientEvents.find((e) => e.type === 'checkpoint-confirmed'),
    { type: 'checkpoint-confirmed', streamId: flow.id, offset },
  );
});

/** A first session that collects the server's tickets. */
function ticketed(server: PairOptions['server'] = {}) {
  const pair = new Pair({ server, transport: { idleTimeout: IDLE } });
  pair.handshake();
  pair.runUntil(() => pair.clientEvents.filter((e) => e.type === 'ticket').length === 2);
  const tickets = pair.clientEvents.flatMap((e) => (e.type === 'ticket' ? [e.ticket] : []));
  return { pair, tickets };
}

/** A second connection from the same client, writing `request` before its first datagram leaves. */
function earlyConnect(pair: Pair, ticket: ReturnType<typeof ticketed>['tickets'][number], request: Buffer) {
  const conn = pair.client.connect(
    SERVER_ADDR,
    CLIENT_ADDR,
    { serverKey: pair.serverKey.publicKey, earlyData: ticket },
    pair.now,
  );
  const id = conn.openStream(true)!;
  assert.equal(conn.writeStream(id, request), request.length);
  conn.finishStream(id);
  return { conn, id };
}

test('0-RTT: application data rides in the first flight and is delivered at once, flagged early', () => {
  const { pair, tickets } = ticketed();
  assert.equal(tickets.length, 2);
  const request = payload(600, 10);
  const captured: Uint8Array[] = [];
  pair.hook = (from, data) => {
    if (from === 'client' && (data[0] & 0xf0) === 0xc0) captured.push(data.slice());
    return undefined;
  };
  const { conn, id } = earlyConnect(pair, tickets[0], request);
  const before = pair.serverConns.length;
  // One step delivers the INITIAL: the server has the request before the client even has keys.
  pair.runUntil(() => pair.serverConns.length > before);
  const server = pair.serverConns[before];
  const opened = pair.serverEvents.find((e) => e.type === 'stream-opened' && e.streamId === id);
  assert.deepEqual(opened, { type: 'stream-opened', streamId: id, early: true });
  const got: Uint8Array[] = [];
  assert.ok(Pair.drain(server, id, got), 'the whole request (with FIN) arrived in the first flight');
  assert.equal(sha(got), sha([request]));
  assert.equal(server.earlyData, 'accepted');
  assert.equal(captured.length, 1, 'one datagram');
  pair.runUntil(() => conn.earlyData === 'accepted');
  assert.ok(pair.clientEvents.some((e) => e.type === 'early-data' && e.accepted));
  // Once the handshake is confirmed the server no longer answers the INITIAL as a retransmission.
  pair.runUntil(() => (server as unknown as { wasConfirmed: boolean }).wasConfirmed);

  // The same first flight replayed later (a captured INITIAL) is refused before any handshake:
  // its timestamp is not newer than the last one accepted from the client's key.
  const attacker = socketAddress('198.51.100.66', 5555);
  const sessions = pair.serverConns.length;
  pair.server.receive(captured[0], SERVER_ADDR, attacker, pair.now);
  pair.step();
  assert.equal(pair.serverConns.length, sessions, 'no handshake for a stale first flight');
  assert.equal(pair.server.stats.drops['initial-replayed'], 1);
  // Once the key's entry is evicted (the table holds a bounded number of keys), the ticket's
  // strike register still refuses the early data: the ticket was used.
  for (let i = 0; i < pair.server.freshness.capacity; i++)
    pair.server.freshness.accept(`other key ${i}`, new Uint8Array(12).fill(1));
  pair.server.receive(captured[0], SERVER_ADDR, attacker, pair.now);
  pair.step();
  const replay = pair.serverConns[sessions];
  assert.ok(replay, 'the replayed INITIAL starts a handshake (it cannot complete without the client)');
  assert.equal(replay.earlyData, 'rejected');
  assert.equal((replay as unknown as { earlyVerdict: string }).earlyVerdict, 'replayed');
  const replayed = pair.serverEvents.filter((e) => e.type === 'stream-opened' && e.streamId === id);
  assert.equal(replayed.length, 1, 'the early data was delivered once, never again');
  assert.equal(pair.server.earlyPolicy?.strikes.size, 1);
});

/** Runs the 0-RTT attempt on `pair` and checks the early data came again, intact, after the handshake. */
function refusedEarly(pair: Pair, ticket: ReturnType<typeof ticketed>['tickets'][number], verdict: string) {
  const request = payload(500, 12);
  const sessions = pair.serverConns.length;
  const { conn, id } = earlyConnect(pair, ticket, request);
  const got: Uint8Array[] = [];
  pair.runUntil(() => pair.serverConns.length > sessions && Pair.drain(pair.serverConns[sessions], id, got));
  assert.equal(conn.earlyData, 'rejected');
  assert.equal((pair.serverConns[sessions] as unknown as { earlyVerdict: string }).earlyVerdict, verdict);
  assert.equal(sha(got), sha([request]), 'delivered once, after the handshake');
  const opened = pair.serverEvents.filter((e) => e.type === 'stream-opened' && e.streamId === id);
  assert.deepEqual(opened, [{ type: 'stream-opened', streamId: id }], 'not flagged early');
}

test('0-RTT refused per attempt or under load: the early data comes again after the handshake', () => {
  const perCall = ticketed({ earlyData: { accept: ({ bytes }) => bytes < 100 } });
  refusedEarly(perCall.pair, perCall.tickets[0], 'refused-by-application');
  // The first session's own X25519 operations put the server over a limit of one a second.
  const loaded = ticketed({ retryDhPerSecond: 1 });
  refusedEarly(loaded.pair, loaded.tickets[0], 'under-load');
});

test('0-RTT refused globally, and by a restarted server that cannot open old tickets', () => {
  const first = ticketed();
  const restarted = (earlyData: { enabled?: boolean }) => {
    // Another seed: the harness's seeded randomness would otherwise redraw the same ticket key.
    const pair = new Pair({
      seed: 2,
      server: { earlyData },
      serverKey: first.pair.serverKey,
      clientKey: first.pair.clientKey,
    });
    pair.handshake();
    return pair;
  };
  refusedEarly(restarted({ enabled: false }), first.tickets[0], 'disabled');
  refusedEarly(restarted({}), first.tickets[1], 'bad-ticket');
  const disabled = new Pair({ server: { earlyData: { enabled: false } } });
  disabled.handshake();
  disabled.runUntil(() => disabled.now > 200);
  assert.ok(!disabled.clientEvents.some((e) => e.type === 'ticket'), 'no tickets when 0-RTT is off');
});

test('no cleartext field links the resumed session to the suspended one', () => {
  const pair = setup();
  const cidLength = 8; // the harness's default on both sides
  const fields = { before: new Set<string>(), after: [] as string[] };
  let phase: 'before' | 'after' = 'before';
  down = false;
  pair.hook = (_from, data) => {
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    const seen: string[] = [];
    if ((data[0] & 0x80) === 0) seen.push(hex(data.subarray(1, 1 + cidLength)));
    else {
      const dcidLength = data[5];
      seen.push(hex(data.subarray(6, 6 + dcidLength)));
      const scidLength = data[6 + dcidLength];
      seen.push(hex(data.subarray(7 + dcidLength, 7 + dcidLength + scidLength)));
      if ((data[0] & 0x30) === 0x10) {
        // RESUME: the new session starts here. The token (resumption identifier) follows, after a 1-byte length.
        phase = 'after';
        const at = 7 + dcidLength + scidLength;
        seen.push(hex(data.subarray(at + 1, at + 1 + data[at])));
      }
    }
    for (const f of seen)
      if (phase === 'before') fields.before.add(f);
      else fields.after.push(f);
    return down ? false : undefined;
  };
  const flow = Flow.up(pair, 400_000, 13);
  pair.runUntil(() => {
    flow.pump();
    return flow.bytes > 100_000;
  });
  down = true;
  pair.runUntil(() => pair.clientConn.suspended && pair.serverConn.suspended, 20_000);
  down = false;
  flow.finish(pair, 20_000);
  assert.equal(pair.serverConn.stats.resumptions, 1);
  assert.ok(fields.after.length > 10);
  const linked = fields.after.filter((f) => fields.before.has(f));
  assert.deepEqual(linked, [], 'every CID and the resumption identifier are new');
});

test('a resumption whose reply is lost: the server suspends again, answers the RESUME from its cache, completes later', () => {
  const pair = setup();
  let mode: 'down' | 'only-resume-up' | 'up' = 'up';
  pair.hook = (from, data) => {
    if (mode === 'up') return undefined;
    if (mode === 'only-resume-up' && from === 'client' && (data[0] & 0xf0) === 0xd0) return undefined;
    return false;
  };
  const flow = Flow.up(pair, 300_000, 14);
  flow.pump();
  mode = 'down';
  pair.runUntil(() => pair.clientConn.suspended && pair.serverConn.suspended, 20_000);
  mode = 'only-resume-up';
  const s = pair.serverConn as EngineConnection & { resumeReply: Uint8Array | undefined };
  pair.runUntil(() => s.resumeReply !== undefined, 5000);
  assert.equal(s.suspended, false, 'the server installed the resumed transport at once');
  pair.runUntil(() => s.suspended, 20_000);
  assert.ok(s.resumeReply, 'suspended again, still holding the reply for the same attempt');
  mode = 'up';
  flow.finish(pair, 30_000);
  assert.equal(types(pair.serverEvents), 'handshake-complete,suspended,resumed', 'events stay paired');
  assert.equal(types(pair.clientEvents), 'handshake-complete,suspended,resumed');
  assert.equal(pair.serverConn.stats.resumptions, 1);
});

test('forged RESUMEs create no state: unknown identifiers get a bounded number of tiny refusals, a live one with a bad message changes nothing', () => {
  const pair = setup();
  const server = pair.server;
  const before = server.connectionCount;
  const forged = (token: Uint8Array) =>
    encodeResume({
      kind: 'resume',
      version: BRAID_VERSION_1,
      dcid: new Uint8Array(8).fill(1),
      scid: new Uint8Array(8).fill(2),
      token,
      pattern: 2,
      payload: new Uint8Array(96).fill(3),
    });
  const attacker = socketAddress('198.51.100.66', 5555);
  let refusals = 0;
  let refusedBytes = 0;
  for (let i = 0; i < 1000; i++) {
    const token = new Uint8Array(16);
    new DataView(token.buffer).setUint32(0, i);
    server.receive(forged(token), SERVER_ADDR, attacker, pair.now);
    for (let t = server.pollTransmit(pair.now); t; t = server.pollTransmit(pair.now)) {
      refusals++;
      refusedBytes += t.data.length;
    }
  }
  assert.equal(server.connectionCount, before, 'no state for any of them');
  assert.equal(refusals, 100, 'refusals are rate-limited (100 per second)');
  assert.equal(refusedBytes, 100 * 43, 'each refusal is 43 bytes, against ≥ 1200 received');
  assert.equal(server.stats.drops['resume-lost'], 100);
  assert.equal(server.stats.drops['resume-refusal-limited'], 900);

  // A live identifier (taken from the client) with a message that does not authenticate.
  const held = (pair.clientConn as unknown as { persist: { heldIds: { resumptionId: Uint8Array }[] } })
    .persist.heldIds;
  server.receive(forged(held[0]!.resumptionId), SERVER_ADDR, attacker, pair.now);
  assert.equal(server.stats.drops['resume-rejected'], 1);
  assert.equal(server.pollTransmit(pair.now), undefined, 'no answer');
  assert.ok(!pair.serverConn.suspended, 'the session is untouched');
  const flow = Flow.up(pair, 30_000, 15);
  flow.finish(pair);
});
