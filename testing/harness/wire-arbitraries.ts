/** fast-check generators for wire-format values, shared by the wire tests. */
import fc from 'fast-check';
import { socketAddress } from '../../src/net/address.js';
import type { AckRange, Frame } from '../../src/wire/frames.js';
import {
  BRAID_VERSION_1,
  type HandshakePacket,
  type InitialPacket,
  type ResumePacket,
  type RetryPacket,
  type VersionNegotiationPacket,
} from '../../src/wire/packet.js';
import type { TransportParameters } from '../../src/wire/transport-params.js';
import { MAX_VARINT } from '../../src/wire/varint.js';

/** Values spread over all four varint sizes, with the boundaries. */
export const varintArb = fc.oneof(
  fc.integer({ min: 0, max: 0x3f }),
  fc.integer({ min: 0x40, max: 0x3fff }),
  fc.integer({ min: 0x4000, max: 0x3fff_ffff }),
  fc.integer({ min: 0x4000_0000, max: MAX_VARINT }),
  fc.constantFrom(0, 0x3f, 0x40, 0x3fff, 0x4000, 0x3fff_ffff, 0x4000_0000, MAX_VARINT),
);

export const bytesArb = (minLength: number, maxLength: number) => fc.uint8Array({ minLength, maxLength });
export const cidArb = bytesArb(0, 20);

const ackRangesArb = fc
  .tuple(
    fc.integer({ min: 0, max: 2 ** 50 }),
    fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 })), {
      minLength: 1,
      maxLength: 8,
    }),
  )
  .map(([base, pieces]) => {
    // Built bottom-up so ranges stay valid, then listed largest first.
    const ranges: AckRange[] = [];
    let smallest = base;
    for (const [length, gap] of pieces) {
      ranges.push({ smallest, largest: smallest + length });
      smallest = smallest + length + gap + 2;
    }
    return ranges.reverse();
  });

export const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.integer({ min: 1, max: 40 }).map((length): Frame => ({ type: 'padding', length })),
  fc.constant<Frame>({ type: 'ping' }),
  fc
    .record({ pathId: varintArb, ackDelayMicros: varintArb, ranges: ackRangesArb })
    .map((r): Frame => ({ type: 'ack', ...r })),
  fc
    .record({ streamId: varintArb, errorCode: varintArb, finalSize: varintArb })
    .map((r): Frame => ({ type: 'reset_stream', ...r })),
  fc
    .record({ streamId: varintArb, errorCode: varintArb })
    .map((r): Frame => ({ type: 'stop_sending', ...r })),
  bytesArb(1, 64).map((token): Frame => ({ type: 'new_token', token })),
  fc
    .record({
      streamId: varintArb,
      offset: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: MAX_VARINT - 100 })),
      data: bytesArb(0, 100),
      fin: fc.boolean(),
    })
    .map((r): Frame => ({ type: 'stream', ...r })),
  varintArb.map((maximum): Frame => ({ type: 'max_data', maximum })),
  fc
    .record({ streamId: varintArb, maximum: varintArb })
    .map((r): Frame => ({ type: 'max_stream_data', ...r })),
  fc
    .record({ bidirectional: fc.boolean(), maximum: fc.integer({ min: 0, max: 2 ** 51 }) })
    .map((r): Frame => ({ type: 'max_streams', ...r })),
  varintArb.map((limit): Frame => ({ type: 'data_blocked', limit })),
  fc
    .record({ streamId: varintArb, limit: varintArb })
    .map((r): Frame => ({ type: 'stream_data_blocked', ...r })),
  fc
    .record({ bidirectional: fc.boolean(), limit: fc.integer({ min: 0, max: 2 ** 51 }) })
    .map((r): Frame => ({ type: 'streams_blocked', ...r })),
  fc
    .record({
      pathId: varintArb,
      sequence: varintArb,
      retireFraction: fc.double({ min: 0, max: 1, noNaN: true }),
      connectionId: bytesArb(1, 20),
      statelessResetToken: bytesArb(16, 16),
    })
    .map(
      ({ retireFraction, ...r }): Frame => ({
        type: 'new_connection_id',
        ...r,
        retirePriorTo: Math.floor(r.sequence * retireFraction),
      }),
    ),
  fc
    .record({ pathId: varintArb, sequence: varintArb })
    .map((r): Frame => ({ type: 'retire_connection_id', ...r })),
  bytesArb(8, 8).map((data): Frame => ({ type: 'path_challenge', data })),
  bytesArb(8, 8).map((data): Frame => ({ type: 'path_response', data })),
  fc
    .record({
      application: fc.boolean(),
      errorCode: varintArb,
      frameType: fc.integer({ min: 0, max: 0x3f }),
      reason: fc.string({ unit: 'binary', maxLength: 30 }),
    })
    .map((r): Frame => ({ type: 'close', ...r, frameType: r.application ? 0 : r.frameType })),
  fc.constant<Frame>({ type: 'handshake_done' }),
  fc
    .record({
      add: fc.boolean(),
      backup: fc.boolean(),
      sequence: varintArb,
      ip: fc.oneof(
        fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.')),
        fc.constantFrom('2001:db8::5', '::1', '::', '2001:db8:1::10', 'fe80::1:2', '2001:db8:0:1:1:1:1:1'),
      ),
      port: fc.nat(0xffff),
    })
    .map(
      (r): Frame => ({
        type: r.add ? 'add_address' : 'remove_address',
        sequence: r.sequence,
        address: socketAddress(r.ip, r.port),
        ...(r.add && r.backup && { backup: true }),
      }),
    ),
  fc
    .record({ pathId: varintArb, errorCode: varintArb, reason: fc.string({ maxLength: 20 }) })
    .map((r): Frame => ({ type: 'path_abandon', ...r })),
  bytesArb(0, 100).map((data): Frame => ({ type: 'datagram', data })),
  fc
    .tuple(varintArb, bytesArb(0, 100))
    .map(([sequence, data]): Frame => ({ type: 'datagram', sequence, data })),
  // Persistence frames (0x50..0x56).
  fc
    .record({
      sequence: varintArb,
      resumptionId: bytesArb(16, 16),
      lostToken: bytesArb(16, 16),
      expiredToken: bytesArb(16, 16),
    })
    .map((r): Frame => ({ type: 'resumption_id', ...r })),
  fc.constant<Frame>({ type: 'resume_done' }),
  fc
    .record({
      bidiSeen: fc.integer({ min: 0, max: 2 ** 51 }),
      uniSeen: fc.integer({ min: 0, max: 2 ** 51 }),
      extra: fc.nat(5),
      entries: fc.array(
        fc.record({ streamId: varintArb, offset: varintArb, fin: fc.boolean(), reset: fc.boolean() }),
        { maxLength: 6 },
      ),
    })
    .map(
      ({ extra, ...r }): Frame => ({
        type: 'resume_state',
        ...r,
        entries: r.entries.map((e) => ({ ...e })), // plain objects, as the decoder builds
        total: r.entries.length + extra,
      }),
    ),
  fc.constant<Frame>({ type: 'suspended' }),
  fc.record({ ack: fc.boolean(), streamId: varintArb, offset: varintArb }).map(
    (r): Frame => ({
      type: r.ack ? 'checkpoint_ack' : 'checkpoint',
      streamId: r.streamId,
      offset: r.offset,
    }),
  ),
  fc
    .record({ lifetime: varintArb, maxEarlyData: varintArb, ticket: bytesArb(1, 120) })
    .map((r): Frame => ({ type: 'new_ticket', ...r })),
);

/** Merges adjacent PADDING frames, as the decoder does. */
export function collapsePadding(frames: readonly Frame[]): Frame[] {
  const out: Frame[] = [];
  for (const f of frames) {
    const last = out[out.length - 1];
    if (f.type === 'padding' && last?.type === 'padding') {
      out[out.length - 1] = { type: 'padding', length: last.length + f.length };
    } else out.push(f);
  }
  return out;
}

export const initialArb: fc.Arbitrary<InitialPacket> = fc.record({
  kind: fc.constant('initial' as const),
  version: fc.constant(BRAID_VERSION_1),
  dcid: cidArb,
  scid: cidArb,
  token: bytesArb(0, 60),
  pattern: fc.integer({ min: 0, max: 255 }),
  payload: bytesArb(0, 200),
});
export const resumeArb: fc.Arbitrary<ResumePacket> = initialArb.map((p) => ({
  ...p,
  kind: 'resume' as const,
}));
export const handshakeArb: fc.Arbitrary<HandshakePacket> = fc.record({
  kind: fc.constant('handshake' as const),
  version: fc.constant(BRAID_VERSION_1),
  dcid: cidArb,
  scid: cidArb,
  messageIndex: fc.integer({ min: 0, max: 255 }),
  payload: bytesArb(0, 200),
});
export const retryArb: fc.Arbitrary<RetryPacket> = fc.record({
  kind: fc.constant('retry' as const),
  version: fc.constant(BRAID_VERSION_1),
  dcid: cidArb,
  scid: cidArb,
  token: bytesArb(1, 80),
});
export const versionNegotiationArb: fc.Arbitrary<VersionNegotiationPacket> = fc.record({
  kind: fc.constant('version_negotiation' as const),
  dcid: cidArb,
  scid: cidArb,
  supportedVersions: fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { minLength: 1, maxLength: 6 }),
});

export const transportParamsArb: fc.Arbitrary<Partial<TransportParameters>> = fc.record(
  {
    idleTimeout: varintArb,
    maxUdpPayloadSize: fc.integer({ min: 1200, max: 65527 }),
    initialMaxData: varintArb,
    initialMaxStreamDataBidiLocal: varintArb,
    initialMaxStreamDataBidiRemote: varintArb,
    initialMaxStreamDataUni: varintArb,
    initialMaxStreamsBidi: fc.integer({ min: 0, max: 2 ** 51 }),
    initialMaxStreamsUni: fc.integer({ min: 0, max: 2 ** 51 }),
    maxAckDelay: fc.integer({ min: 0, max: 2 ** 14 - 1 }),
    activeConnectionIdLimit: fc.integer({ min: 2, max: 1000 }),
    maxDatagramFrameSize: varintArb,
    disableActiveMigration: fc.boolean(),
    originalDestinationConnectionId: cidArb,
    initialSourceConnectionId: cidArb,
    retrySourceConnectionId: cidArb,
    statelessResetToken: bytesArb(16, 16),
    multipathPolicy: varintArb,
    multipathPolicies: varintArb,
    persistenceTimeout: varintArb,
    earlyDataAccepted: fc.boolean(),
    earlyDataTicket: bytesArb(1, 100),
    earlyData: bytesArb(1, 100),
    initialResumptionId: bytesArb(48, 48),
  },
  { requiredKeys: [] },
);

/** Applies a few random byte edits (overwrite, truncate, insert, delete) to a valid encoding. */
export function mutatedArb(base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  // Edits favour the first bytes, where the headers and length fields are.
  const edit = fc.record({
    op: fc.integer({ min: 0, max: 3 }),
    at: fc.oneof(fc.nat(48), fc.nat()),
    value: fc.integer({ min: 0, max: 255 }),
  });
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([bytes, edits]) => {
    let b = bytes.slice();
    for (const { op, at, value } of edits) {
      const i = b.length === 0 ? 0 : at % b.length;
      if (op === 0 && b.length > 0) b[i] = value;
      else if (op === 1) b = b.subarray(0, i);
      else if (op === 2) b = Uint8Array.from([...b.subarray(0, i), value, ...b.subarray(i)]);
      else b = Uint8Array.from([...b.subarray(0, i), ...b.subarray(i + 1)]);
    }
    return b;
  });
}
