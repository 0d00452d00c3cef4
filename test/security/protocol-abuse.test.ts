// An authenticated peer that sends what the protocol forbids, or more of what it allows than
// any honest peer would: each attack either closes the session with the code the protocol
// names (never an exception, never a hang) or is absorbed within a stated bound.
// Frames are injected into the client's packets after they authenticate, as a malicious
// client would send them (ConnectionTestHooks.mutateFramesBeforeProcessing on the server).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Connection } from '../../src/engine/connection/connection.js';
import type { CloseInfo } from '../../src/engine/types.js';
import { socketAddress } from '../../src/net/address.js';
import { TransportError } from '../../src/wire/errors.js';
import type { Frame } from '../../src/wire/frames.js';
import { CLIENT_ADDR, driveUntilServerCloses as drive, Pair } from '../../testing/harness/engine-pair.js';

/** A pair whose client, once established, also sends `attack()`'s frames in its next packets. */
function attackPair(
  attack: (round: number) => Frame[] | undefined,
  clientSees?: (frames: Frame[]) => void,
): Pair {
  let armed = false;
  let round = 0;
  const pair = new Pair({
    testHooks: {
      server: {
        mutateFramesBeforeProcessing(frames: Frame[]): Frame[] {
          if (!armed) return frames;
          const extra = attack(round++);
          if (!extra) armed = false;
          return extra ? [...frames, ...extra] : frames;
        },
      },
      client: {
        mutateFramesBeforeProcessing(frames: Frame[]): Frame[] {
          clientSees?.(frames);
          return frames;
        },
      },
    },
  });
  pair.handshake();
  // Once the handshake is confirmed on both sides (the first data packets flow).
  pair.runUntil(() => pair.clientEvents.length > 0 && pair.serverConn.state === 'established');
  armed = true;
  return pair;
}

function assertClosedWith(info: CloseInfo | undefined, code: number): void {
  assert.ok(info, 'the server closed the session');
  assert.equal(info.code, code, `closed with 0x${info.code.toString(16)} (${info.reason})`);
  assert.equal(info.application, false);
  assert.equal(info.source, 'protocol');
}

const once = (frames: Frame[]) => (round: number) => (round === 0 ? frames : undefined);

test('stream limit overrun: a STREAM frame beyond MAX_STREAMS closes with STREAM_LIMIT_ERROR', () => {
  // 100 concurrent bidirectional streams are allowed: index 100 is the first beyond.
  const pair = attackPair(
    once([{ type: 'stream', streamId: 100 * 4, offset: 0, data: new Uint8Array(1), fin: false }]),
  );
  assertClosedWith(drive(pair, 2000), TransportError.STREAM_LIMIT_ERROR);
  assert.equal((pair.serverConn as Connection).memoryUsage().streams, 0, 'no stream was created');
});

test('ACK of packet numbers never sent closes with PROTOCOL_VIOLATION', () => {
  const pair = attackPair(
    once([
      { type: 'ack', pathId: 0, ackDelayMicros: 0, ranges: [{ smallest: 1_000_000, largest: 1_000_010 }] },
    ]),
  );
  assertClosedWith(drive(pair, 2000), TransportError.PROTOCOL_VIOLATION);
});

for (const offset of [2 ** 53 - 1, 2 ** 53, 2 ** 62 - 1]) {
  test(`a STREAM offset of ${offset} closes cleanly (flow control or encoding error)`, () => {
    const pair = attackPair(
      once([{ type: 'stream', streamId: 0, offset, data: new Uint8Array(10), fin: false }]),
    );
    const info = drive(pair, 2000);
    assert.ok(info, 'the server closed the session');
    assert.ok(
      info.code === TransportError.FLOW_CONTROL_ERROR || info.code === TransportError.FRAME_ENCODING_ERROR,
      `closed with 0x${info.code.toString(16)} (${info.reason})`,
    );
  });
}

test('MAX_DATA and MAX_STREAM_DATA near 2^62 are taken as limits, never as offsets to reach', () => {
  const pair = attackPair(
    once([
      { type: 'max_data', maximum: 2 ** 62 - 1 },
      { type: 'max_streams', bidirectional: true, maximum: 2 ** 60 },
    ]),
  );
  assert.equal(drive(pair, 1000), undefined, 'the session stays up');
  const id = pair.serverConn.openStream(true);
  assert.notEqual(id, undefined);
});

test('RETIRE_CONNECTION_ID of a sequence never issued closes with PROTOCOL_VIOLATION', () => {
  const pair = attackPair(once([{ type: 'retire_connection_id', pathId: 0, sequence: 1000 }]));
  assertClosedWith(drive(pair, 2000), TransportError.PROTOCOL_VIOLATION);
});

test('retiring every spare CID as soon as it is issued costs one new CID per retirement, no more', () => {
  // The server's CIDs for path id 0 are retired as soon as the client learns them (all but the
  // one in use). The client's own CID state does not know (the frames are injected), so it ends
  // the session when the server's replacements exceed its limit: the server is measured until then.
  const learned: number[] = [];
  let retired = 0;
  let issued = 0;
  const pair = attackPair(
    () => {
      const frames: Frame[] = learned
        .splice(0)
        .map((sequence) => ({ type: 'retire_connection_id', pathId: 0, sequence }));
      retired += frames.length;
      return frames;
    },
    (frames) => {
      for (const f of frames)
        if (f.type === 'new_connection_id' && f.pathId === 0 && f.sequence > 0) {
          learned.push(f.sequence);
          issued++;
        }
    },
  );
  const issuedBefore = issued;
  const server = pair.serverConn as Connection;
  let most = 0;
  const end = pair.now + 5_000;
  while (pair.now < end && pair.serverConn.state === 'established') {
    pair.clientConn.sendDatagram(new Uint8Array(8));
    if (!pair.step()) break;
    most = Math.max(most, server.localConnectionIds.length);
  }
  assert.ok(retired >= 3, `the client retired ${retired} CIDs`);
  assert.ok(issued - issuedBefore <= retired, `${issued - issuedBefore} new CIDs for ${retired} retired`);
  assert.ok(most <= 4 + 4 * 5, `the server held at most ${most} CIDs`);
  const serverClose = pair.serverEvents.find((e) => e.type === 'closed');
  if (serverClose?.type === 'closed')
    assert.notEqual(serverClose.info.source, 'protocol', 'the server found no fault');
});

test('a NEW_CONNECTION_ID flood closes with CONNECTION_ID_LIMIT_ERROR before state grows', () => {
  const frames: Frame[] = [];
  // Sequences above the client's own (1–3 for path id 0): reusing one of those with another
  // CID would be a PROTOCOL_VIOLATION, not a flood.
  for (let sequence = 100; sequence <= 1100; sequence++) {
    frames.push({
      type: 'new_connection_id',
      pathId: 0,
      sequence,
      retirePriorTo: 0,
      connectionId: new Uint8Array(8).fill(sequence & 0xff),
      statelessResetToken: new Uint8Array(16).fill(sequence & 0xff),
    });
  }
  const pair = attackPair(once(frames));
  assertClosedWith(drive(pair, 2000), TransportError.CONNECTION_ID_LIMIT_ERROR);
});

test('NEW_CONNECTION_IDs over ever more path ids close with CONNECTION_ID_LIMIT_ERROR', () => {
  const frames: Frame[] = [];
  for (let pathId = 1; pathId <= 1000; pathId++) {
    frames.push({
      type: 'new_connection_id',
      pathId,
      sequence: 0,
      retirePriorTo: 0,
      connectionId: new Uint8Array(8).fill(pathId & 0xff),
      statelessResetToken: new Uint8Array(16).fill(pathId & 0xff),
    });
  }
  const pair = attackPair(once(frames));
  const info = drive(pair, 2000);
  assert.ok(info, 'the server closed the session');
  assert.equal(info.application, false);
});

test('an ADD_ADDRESS flood: the server remembers at most 16 addresses and probes none of them', () => {
  const probed = new Map<string, number>();
  const pair = attackPair((round) => {
    if (round >= 50) return undefined;
    const frames: Frame[] = [];
    for (let i = 0; i < 20; i++) {
      const n = round * 20 + i;
      frames.push({
        type: 'add_address',
        sequence: n,
        address: socketAddress(`192.0.2.${2 + (n % 250)}`, 1000 + n),
      });
    }
    return frames;
  });
  pair.hook = (from, data, _now, transmit) => {
    if (from === 'server' && transmit.remote.port !== CLIENT_ADDR.port) {
      const key = `${transmit.remote.address}:${transmit.remote.port}`;
      probed.set(key, (probed.get(key) ?? 0) + data.length);
    }
    return undefined;
  };
  assert.equal(drive(pair, 10_000), undefined, 'the session stays up');
  assert.deepEqual([...probed.keys()], [], 'the server sent nothing to any advertised address');
});

test('a key-update storm (a key update every 16 packets, the least allowed) is followed, never fatal', () => {
  const pair = new Pair();
  pair.handshake({ clientTransport: { keyUpdateInterval: 16 } });
  const id = pair.clientConn.openStream(true)!;
  const chunk = new Uint8Array(64 * 1024);
  let written = 0;
  let read = 0;
  const total = 2 * 1024 * 1024;
  pair.runUntil(() => {
    while (written < total) {
      const n = pair.clientConn.writeStream(id, chunk.subarray(0, Math.min(chunk.length, total - written)));
      if (n === 0) break;
      written += n;
    }
    for (;;) {
      const { data } = pair.serverConn.readStream(id);
      if (!data) break;
      read += data.length;
    }
    return read >= total;
  }, 120_000);
  const updates = pair.clientConn.stats.keyUpdates;
  assert.ok(updates >= 5, `${updates} key updates`);
  assert.equal(pair.serverConn.state, 'established');
  assert.equal(pair.clientConn.state, 'established');
});

test('1-byte STREAM frames with gaps: the session closes before the pieces outgrow their bytes', () => {
  // 20 000 pieces of 1 byte within a 256 KiB stream window: 40 KB of flow-control credit, but
  // an object each. The cap is maxConnectionWindow / 512 = 16 384 pieces (8 MiB window).
  const pair = attackPair((round) => {
    if (round >= 40) return undefined;
    const frames: Frame[] = [];
    for (let i = 0; i < 500; i++) {
      const offset = 2 * (round * 500 + i) + 1;
      frames.push({ type: 'stream', streamId: 0, offset, data: new Uint8Array([7]), fin: false });
    }
    return frames;
  });
  const info = drive(pair, 5000);
  assertClosedWith(info, TransportError.PROTOCOL_VIOLATION);
  assert.match(info!.reason, /separate pieces/);
});

/**
 * From the handshake on, an on-path attacker rewrites every client packet's source to a fresh
 * address. `forward`: what the server sends to those addresses comes back to the client (the
 * attacker relays it, so the paths validate); otherwise it reaches victims who never answer.
 */
function manyAddresses(forward: boolean) {
  const pair = new Pair();
  pair.handshake();
  pair.runUntil(() => pair.serverConn.state === 'established' && pair.clientEvents.length > 0);
  let n = 0;
  const fromAddress = new Map<string, number>();
  const toAddress = new Map<string, number>();
  const wire = pair as unknown as {
    queue: { at: number; to: string; data: Uint8Array; from: unknown; dest: unknown }[];
  };
  pair.hook = (from, data, now, transmit) => {
    if (from === 'server') {
      const key = `${transmit.remote.address}:${transmit.remote.port}`;
      toAddress.set(key, (toAddress.get(key) ?? 0) + data.length);
      return forward || transmit.remote.port === CLIENT_ADDR.port ? undefined : false;
    }
    const source = socketAddress(`192.0.2.${10 + (n % 200)}`, 20_000 + n++);
    fromAddress.set(`${source.address}:${source.port}`, data.length);
    wire.queue.push({
      at: now + pair.latency,
      to: 'server',
      data: Uint8Array.prototype.slice.call(data),
      from: source,
      dest: transmit.remote,
    });
    return false;
  };
  const server = pair.serverConn as Connection;
  const id = pair.clientConn.openStream(true)!;
  let mostPaths = 0;
  const end = pair.now + 5000;
  while (pair.now < end && pair.serverConn.state === 'established') {
    pair.clientConn.writeStream(id, new Uint8Array(100));
    if (!pair.step()) break;
    mostPaths = Math.max(mostPaths, server.paths.length);
  }
  return { fromAddress, toAddress, mostPaths, drops: server.stats.drops };
}

test('paths from many addresses, victims silent: each gets at most 3× what came from it', () => {
  const { fromAddress, toAddress, mostPaths } = manyAddresses(false);
  assert.ok(fromAddress.size >= 20, `${fromAddress.size} addresses used`);
  for (const [address, bytes] of toAddress) {
    if (address === `${CLIENT_ADDR.address}:${CLIENT_ADDR.port}`) continue;
    const came = fromAddress.get(address) ?? 0;
    assert.ok(bytes <= 3 * came, `${bytes} bytes to ${address}, which sent ${came}`);
  }
  assert.ok(mostPaths <= 5, `the server held ${mostPaths} paths at once`);
});

test('paths from many addresses, relayed by the attacker: the server holds at most 16 paths', () => {
  const { fromAddress, mostPaths, drops } = manyAddresses(true);
  assert.ok(fromAddress.size >= 50, `${fromAddress.size} addresses used`);
  assert.ok(mostPaths <= 16, `the server held ${mostPaths} paths at once`);
  assert.ok((drops['path-cap'] ?? 0) > 0, 'packets from further addresses opened no path');
});
