/**
 * One complete IK session, datagram by datagram, for docs/vectors/ik-session.json: the
 * handshake, a stream round trip, a key update, a NAT rebinding of the client (the server
 * validates the new address and follows) and a clean close. Fixed keys, seeded randomness and a
 * virtual clock make it identical on every run. Each authenticated short-header packet is
 * annotated with its header as the receiver read it once header protection was removed (key
 * phase, path id, full packet number) and the frames it decoded.
 */
import type { KeyPair } from '../../src/crypto/noise/index.js';
import { publicKeyFromPrivate } from '../../src/crypto/noise/index.js';
import { type HeaderProtection, unprotectHeader } from '../../src/crypto/packet-protection.js';
import { cidKey } from '../../src/engine/connection/cid-state.js';
import type { Endpoint } from '../../src/engine/endpoint.js';
import { type SocketAddress, socketAddress } from '../../src/net/address.js';
import type { Frame } from '../../src/wire/frames.js';
import { decodeLongHeader, decodePacketNumber } from '../../src/wire/packet-codec.js';
import { CLIENT_ADDR, Pair, SERVER_ADDR } from '../harness/engine-pair.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const REBOUND_CLIENT = socketAddress('192.0.2.99', 50000);

function keyPair(fillByte: number): KeyPair {
  const privateKey = new Uint8Array(32).fill(fillByte);
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

interface TraceEntry {
  key_update?: string;
  time: number;
  from: string;
  to: string;
  length: number;
  header: Record<string, unknown>;
  frames?: unknown[];
  note?: string;
  hex: string;
}

/** Frames as plain JSON: byte strings in hex. */
function frameJson(frame: Frame): unknown {
  return JSON.parse(
    JSON.stringify(frame, (_key, value) => (value instanceof Uint8Array ? hex(value) : value)),
  );
}

function describe(data: Uint8Array): Record<string, unknown> {
  if (data[0] & 0x80) {
    const p = decodeLongHeader(data);
    const out: Record<string, unknown> = { form: 'long', kind: p.kind, dcid: hex(p.dcid), scid: hex(p.scid) };
    if (p.kind === 'initial') Object.assign(out, { pattern: p.pattern, payload_length: p.payload.length });
    if (p.kind === 'handshake')
      Object.assign(out, { message_index: p.messageIndex, payload_length: p.payload.length });
    return out;
  }
  return { form: 'short', dcid: hex(data.subarray(1, 1 + CID_LENGTH)) };
}

const CID_LENGTH = 8;

/** What a receiving session knows that reading a short header needs. */
interface ReceiverInternals {
  builder: { recvHp: HeaderProtection | undefined };
  cids: { pathIdOf(dcid: Uint8Array): number };
  pathManager: { byId(id: number): { acks: { largestReceived: number | undefined } } | undefined };
}

/**
 * A short header as its receiver will read it (called before it does): header protection
 * removed on a copy, the packet number recovered against the largest received so far in the
 * space the DCID names. Undefined when no session of `endpoint` holds keys for it.
 */
function readShortHeader(endpoint: Endpoint, data: Uint8Array): Record<string, unknown> | undefined {
  if (data[0] & 0x80) return undefined;
  const dcid = data.subarray(1, 1 + CID_LENGTH);
  const routes = (endpoint as unknown as { routes: Map<string, unknown> }).routes;
  const receiver = routes.get(cidKey(dcid)) as ReceiverInternals | undefined;
  const hp = receiver?.builder.recvHp;
  if (!receiver || !hp) return undefined;
  // A copy: `data` may be a Buffer, whose slice() is a view.
  const copy = new Uint8Array(data);
  const unprotected = unprotectHeader(hp, copy, 1 + CID_LENGTH);
  if (!unprotected) return undefined;
  const pathId = receiver.cids.pathIdOf(dcid);
  const largest = receiver.pathManager.byId(pathId)?.acks.largestReceived ?? -1;
  return {
    key_phase: (copy[0] >> 2) & 1,
    path_id: pathId,
    packet_number: decodePacketNumber(largest, unprotected.truncatedPn, unprotected.pnLength),
    packet_number_length: unprotected.pnLength,
  };
}

export function generateIkTrace(): Record<string, unknown> {
  let pending: Frame[][] = [];
  const capture = {
    mutateFramesBeforeProcessing: (frames: Frame[]) => {
      pending.push(frames);
      return frames;
    },
  };
  const pair = new Pair({
    seed: 7,
    latency: 20,
    clientKey: keyPair(0x11),
    serverKey: keyPair(0x22),
    transport: { keyUpdateInterval: 16 },
    testHooks: { client: capture, server: capture },
  });
  const entries: TraceEntry[] = [];
  let rebound = false;
  let note: string | undefined;
  const name = (a: SocketAddress) =>
    a.port === SERVER_ADDR.port
      ? 'server'
      : a.address === REBOUND_CLIENT.address
        ? 'client (rebound)'
        : 'client';
  // Wrap both receivers: record each datagram and what its receiver decoded; the NAT rewrites the
  // client's address once `rebound` is set.
  const serverReceive = pair.server.receive.bind(pair.server);
  pair.server.receive = (data, local, remote, now) => {
    const from = rebound && remote.port === CLIENT_ADDR.port ? REBOUND_CLIENT : remote;
    const entry = { data: data.slice(), header: describe(data), read: readShortHeader(pair.server, data) };
    pending = [];
    const updates = pair.serverConns[0]?.stats.keyUpdates ?? 0;
    serverReceive(data, local, from, now);
    const followed = (pair.serverConns[0]?.stats.keyUpdates ?? 0) > updates;
    record(entry, name(from), 'server', now, followed);
  };
  const clientReceive = pair.client.receive.bind(pair.client);
  pair.client.receive = (data, local, remote, now) => {
    const entry = { data: data.slice(), header: describe(data), read: readShortHeader(pair.client, data) };
    pending = [];
    const updates = pair.clientConn?.stats.keyUpdates ?? 0;
    clientReceive(data, local.port === REBOUND_CLIENT.port ? CLIENT_ADDR : local, remote, now);
    const followed = (pair.clientConn?.stats.keyUpdates ?? 0) > updates;
    record(entry, 'server', name(local), now, followed);
  };
  function record(
    entry: { data: Uint8Array; header: Record<string, unknown>; read?: Record<string, unknown> },
    from: string,
    to: string,
    now: number,
    followedKeyUpdate: boolean,
  ) {
    entries.push({
      time: now,
      from,
      to,
      length: entry.data.length,
      // A short header's protected fields only for a packet its receiver authenticated.
      header: pending.length > 0 && entry.read ? { ...entry.header, ...entry.read } : entry.header,
      ...(pending.length > 0 ? { frames: pending.flat().map(frameJson) } : {}),
      ...(note ? { note } : {}),
      ...(followedKeyUpdate
        ? { key_update: 'the receiver switched to the next key phase on this packet' }
        : {}),
      hex: hex(entry.data),
    });
    note = undefined;
  }

  note = 'handshake';
  pair.handshake();
  pair.runUntil(() => pair.now >= 200);
  note = 'stream round trip';
  const client = pair.clientConn;
  const id = client.openStream(true)!;
  client.writeStream(id, new TextEncoder().encode('ping'));
  client.finishStream(id);
  const got: Uint8Array[] = [];
  pair.runUntil(() => Pair.drain(pair.serverConn, id, got));
  pair.serverConn.writeStream(id, new TextEncoder().encode('pong'));
  pair.serverConn.finishStream(id);
  const back: Uint8Array[] = [];
  pair.runUntil(() => Pair.drain(client, id, back));
  note = 'key update (after 16 packets in a phase)';
  // 16 packets in one phase: a 16 KiB stream is enough for the client to start an update.
  const bulk = client.openStream(false)!;
  client.writeStream(bulk, new Uint8Array(16 * 1024).fill(0x62));
  client.finishStream(bulk);
  const bulkGot: Uint8Array[] = [];
  pair.runUntil(() => Pair.drain(pair.serverConn, bulk, bulkGot) && pair.serverConn.stats.keyUpdates > 0);
  note = 'NAT rebinding: the client appears at 192.0.2.99:50000';
  rebound = true;
  const id2 = client.openStream(true)!;
  client.writeStream(id2, new TextEncoder().encode('moved'));
  client.finishStream(id2);
  const got2: Uint8Array[] = [];
  pair.runUntil(() => Pair.drain(pair.serverConn, id2, got2));
  const moveStart = pair.now;
  pair.runUntil(() => pair.now >= moveStart + 1000);
  note = 'close';
  client.close(0, 'done');
  pair.runUntil(() => pair.serverEvents.some((e) => e.type === 'closed'));
  return {
    description:
      'One IK session of the reference implementation (docs/protocol.md §16): every datagram in arrival order; for each authenticated short-header packet, its key phase, path id and full packet number once header protection is removed, and the frames its receiver decoded. Generated by scripts/gen-vectors.ts.',
    client_static_public: hex(keyPair(0x11).publicKey),
    server_static_public: hex(keyPair(0x22).publicKey),
    entries,
  };
}
