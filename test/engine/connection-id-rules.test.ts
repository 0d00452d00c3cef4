// The connection-ID rules of docs/protocol.md §3, §9.9 and §9.10, each against an
// authenticated peer that breaks it (frames injected into the client's packets after they
// authenticate, as a malicious client would send them), and retire_prior_to and a low
// active_connection_id_limit against an honest one.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { SessionParams } from '../../src/engine/connection/session-params.js';
import type { CloseInfo } from '../../src/engine/types.js';
import { TransportError } from '../../src/wire/errors.js';
import type { Frame, NewConnectionIdFrame } from '../../src/wire/frames.js';
import { driveUntilServerCloses as drive, Pair } from '../../testing/harness/engine-pair.js';

interface Harness {
  pair: Pair;
  /** NEW_CONNECTION_ID frames the client sent, by "path id/sequence". */
  clientIssued: Map<string, NewConnectionIdFrame>;
  /** Frames the server sent, in order. */
  serverSent: Frame[];
  /** Frames added to the next client packet the server processes. */
  inject(frames: Frame[]): void;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function harness(): Harness {
  const clientIssued = new Map<string, NewConnectionIdFrame>();
  const serverSent: Frame[] = [];
  let pending: Frame[] = [];
  const pair = new Pair({
    testHooks: {
      server: {
        mutateFramesBeforeProcessing(frames: Frame[]): Frame[] {
          for (const f of frames)
            if (f.type === 'new_connection_id') clientIssued.set(`${f.pathId}/${f.sequence}`, f);
          if (pending.length === 0) return frames;
          const extra = pending;
          pending = [];
          return [...frames, ...extra];
        },
      },
      client: {
        mutateFramesBeforeProcessing(frames: Frame[]): Frame[] {
          serverSent.push(...frames);
          return frames;
        },
      },
    },
  });
  pair.handshake();
  pair.runUntil(() => pair.clientEvents.length > 0 && pair.serverConn.state === 'established');
  pair.runUntil(() => clientIssued.has('0/3'));
  return { pair, clientIssued, serverSent, inject: (frames) => pending.push(...frames) };
}

function assertClosedWith(info: CloseInfo | undefined, code: number, reason: RegExp): void {
  assert.ok(info, 'the server closed the session');
  assert.equal(info.code, code, `closed with 0x${info.code.toString(16)} (${info.reason})`);
  assert.equal(info.source, 'protocol');
  assert.match(info.reason, reason);
}

function assertAlive(h: Harness, info: CloseInfo | undefined): void {
  assert.equal(info, undefined, `the server closed: ${info?.reason}`);
  assert.equal(h.pair.serverConn.state, 'established');
  assert.equal(h.pair.clientConn.state, 'established');
}

const retiresBy = (frames: Frame[]) =>
  frames.flatMap((f) => (f.type === 'retire_connection_id' ? [`${f.pathId}/${f.sequence}`] : []));

/** The CID the server sends to on path id 0. */
const serverSendsTo = (pair: Pair) =>
  hex((pair.serverConn as unknown as { activePath: { remoteCid: Uint8Array } }).activePath.remoteCid);

test('a repeated NEW_CONNECTION_ID (same sequence, CID and token) is ignored', () => {
  const h = harness();
  const retiresBefore = retiresBy(h.serverSent).length;
  h.inject([{ ...h.clientIssued.get('0/1')! }, { ...h.clientIssued.get('0/2')! }]);
  assertAlive(h, drive(h.pair, 2_000));
  assert.equal(retiresBy(h.serverSent).length, retiresBefore);
});

for (const [what, change] of [
  ['another CID', (f: NewConnectionIdFrame) => ({ ...f, connectionId: new Uint8Array(8).fill(0xee) })],
  ['another reset token', (f: NewConnectionIdFrame) => ({ ...f, statelessResetToken: new Uint8Array(16) })],
] as const) {
  test(`a NEW_CONNECTION_ID giving a held sequence ${what} closes with PROTOCOL_VIOLATION`, () => {
    const h = harness();
    h.inject([change(h.clientIssued.get('0/2')!)]);
    assertClosedWith(drive(h.pair, 2_000), TransportError.PROTOCOL_VIOLATION, /changed its connection ID/);
  });
}

for (const [what, pathId, sequence] of [
  ['another sequence', 0, 50],
  ['another path id', 9, 0],
] as const) {
  test(`a held CID announced again under ${what} closes with PROTOCOL_VIOLATION`, () => {
    const h = harness();
    const held = h.clientIssued.get('0/1')!;
    h.inject([{ ...held, pathId, sequence, statelessResetToken: new Uint8Array(16).fill(0x5a) }]);
    assertClosedWith(drive(h.pair, 2_000), TransportError.PROTOCOL_VIOLATION, /two sequence numbers/);
  });
}

test('a CID beyond active_connection_id_limit (4) for one path id closes with CONNECTION_ID_LIMIT_ERROR', () => {
  const h = harness();
  // The client issued sequences 0–3 of path id 0: a fifth is one too many.
  h.inject([
    {
      type: 'new_connection_id',
      pathId: 0,
      sequence: 50,
      retirePriorTo: 0,
      connectionId: new Uint8Array(8).fill(0xc5),
      statelessResetToken: new Uint8Array(16).fill(0xc5),
    },
  ]);
  assertClosedWith(drive(h.pair, 2_000), TransportError.CONNECTION_ID_LIMIT_ERROR, /too many/);
});

test('retire_prior_to retires the older CIDs, each with RETIRE_CONNECTION_ID, and moves the path', () => {
  const h = harness();
  const client = h.pair.clientConn as unknown as { localConnectionIds: Uint8Array[] };
  const handshakeCid = serverSendsTo(h.pair);
  const seq1 = hex(h.clientIssued.get('0/1')!.connectionId);
  const seq2 = hex(h.clientIssued.get('0/2')!.connectionId);
  // (0, 3) again, now asking for everything below sequence 2 to be retired.
  h.inject([{ ...h.clientIssued.get('0/3')!, retirePriorTo: 2 }]);
  const before = h.serverSent.length;
  assertAlive(h, drive(h.pair, 3_000));
  assert.deepEqual(retiresBy(h.serverSent.slice(before)).sort(), ['0/0', '0/1']);
  assert.equal(serverSendsTo(h.pair), seq2, 'path id 0 sends with the lowest CID left');
  // The client forgot the retired CIDs and replaced them; the server holds the replacements.
  const live = client.localConnectionIds.map(hex);
  assert.ok(!live.includes(handshakeCid) && !live.includes(seq1), 'the retired CIDs are gone');
  assert.ok(h.clientIssued.has('0/4') && h.clientIssued.has('0/5'), 'replacements issued');
  // Data still flows both ways on the new CID.
  const received = h.pair.clientEvents.length;
  h.pair.serverConn.sendDatagram(new Uint8Array(4));
  drive(h.pair, 500);
  assert.ok(h.pair.clientEvents.length > received, 'the client still hears the server');
});

test('a NEW_CONNECTION_ID below an earlier retire_prior_to is retired, never held', () => {
  const h = harness();
  const late = h.clientIssued.get('0/1')!;
  h.inject([{ ...h.clientIssued.get('0/3')!, retirePriorTo: 2 }]);
  assertAlive(h, drive(h.pair, 3_000));
  const before = h.serverSent.length;
  // A copy of (0, 1) that arrives late: holding it again would be a fifth CID for path id 0.
  h.inject([{ ...late }]);
  assertAlive(h, drive(h.pair, 2_000));
  assert.deepEqual(retiresBy(h.serverSent.slice(before)), ['0/1']);
  assert.equal(serverSendsTo(h.pair), hex(h.clientIssued.get('0/2')!.connectionId));
});

test('RETIRE_CONNECTION_ID of the CID that carries it closes with PROTOCOL_VIOLATION', () => {
  const h = harness();
  // The client sends with the server's handshake CID, (0, 0).
  h.inject([{ type: 'retire_connection_id', pathId: 0, sequence: 0 }]);
  assertClosedWith(drive(h.pair, 2_000), TransportError.PROTOCOL_VIOLATION, /carrying the frame/);
});

const encodeOwn = SessionParams.prototype.encodeOwn;
afterEach(() => {
  SessionParams.prototype.encodeOwn = encodeOwn;
});

test('a peer advertising active_connection_id_limit 2 gets 2 CIDs for path id 0 and one per other path id', () => {
  // The client advertises the least QUIC allows; the server must adapt (and still open paths).
  SessionParams.prototype.encodeOwn = function (this: SessionParams, ids, extra) {
    const role = (this as unknown as { o: { role: string } }).o.role;
    return encodeOwn.call(this, ids, role === 'client' ? { ...extra, activeConnectionIdLimit: 2 } : extra);
  };
  const h = harness();
  drive(h.pair, 1_000);
  const issued = h.serverSent
    .filter((f): f is NewConnectionIdFrame => f.type === 'new_connection_id')
    .map((f) => `${f.pathId}/${f.sequence}`);
  assert.deepEqual(
    issued.filter((k) => k.startsWith('0/')),
    ['0/1'],
    'one spare beside the handshake CID',
  );
  for (const pathId of [1, 2, 3, 4]) assert.ok(issued.includes(`${pathId}/0`), `a CID for path id ${pathId}`);
  // Retiring the spare brings a replacement, never a third unretired CID.
  const before = h.serverSent.length;
  h.inject([{ type: 'retire_connection_id', pathId: 0, sequence: 1 }]);
  assertAlive(h, drive(h.pair, 2_000));
  const replaced = h.serverSent
    .slice(before)
    .filter((f): f is NewConnectionIdFrame => f.type === 'new_connection_id' && f.pathId === 0);
  assert.deepEqual(
    replaced.map((f) => f.sequence),
    [2],
  );
});
