/**
 * Packets a faulty or malicious peer holding the session's keys could send: a short-header
 * packet sealed and header-protected with a session's own send keys, on its active path,
 * carrying exactly the frames a test names (none at all, or frames the protocol forbids).
 * The receiver sees a packet that authenticates like any other, so a conformance test checks
 * the receiver's rule, not a hook's.
 */
import assert from 'node:assert/strict';
import type { KeySchedule } from '../../src/crypto/key-schedule.js';
import type { HeaderProtection } from '../../src/crypto/packet-protection.js';
import type { Connection } from '../../src/engine/connection/connection.js';
import type { SentInfo } from '../../src/engine/connection/sent-records.js';
import type { CloseInfo, EngineConnection } from '../../src/engine/types.js';
import type { Transmit } from '../../src/net/address.js';
import type { Path } from '../../src/paths/path.js';
import { encodeFrames } from '../../src/wire/frame-codec.js';
import { type Frame, isAckEliciting } from '../../src/wire/frames.js';
import { writeShortHeader } from '../../src/wire/packet-codec.js';
import { Pair, type PairOptions } from './engine-pair.js';

const AEAD_TAG_LENGTH = 16;
/** A 4-byte packet number leaves room for the header-protection sample even with no payload. */
const PN_LENGTH = 4;

/** What a session's sender needs, reached the way a test reaches any engine internals. */
interface SenderInternals {
  builder: { keys: KeySchedule | undefined; sendHp: HeaderProtection | undefined; keyGeneration: number };
  activePath: Path<SentInfo>;
}

/**
 * A datagram `sender` could have sent at `now` with `frames` as its whole payload. It takes the
 * next packet number of the active path's space and is recorded there as sent (carrying nothing
 * to resend), so the peer's ACK of it is an ACK of a packet the sender did send.
 */
export function forgedPacket(sender: EngineConnection, frames: readonly Frame[], now: number): Transmit {
  const { builder, activePath: path } = sender as unknown as SenderInternals;
  const { keys, sendHp } = builder;
  if (!keys || !sendHp) throw new Error('the sender has no packet keys yet');
  const payload = encodeFrames(frames);
  const pn = path.nextPacketNumber;
  const buf = new Uint8Array(1 + path.remoteCid.length + PN_LENGTH + payload.length + AEAD_TAG_LENGTH);
  const headerLength = writeShortHeader(buf, path.remoteCid, keys.keyPhase, PN_LENGTH, pn % 2 ** 32);
  buf.set(payload, headerLength);
  const length = keys.sealAndProtectPacket(
    buf,
    headerLength,
    payload.length,
    path.id,
    pn,
    sendHp,
    headerLength - PN_LENGTH,
    PN_LENGTH,
  );
  const ackEliciting = frames.some(isAckEliciting);
  path.onPacketSent(
    {
      pn,
      timeSent: now,
      size: length,
      ackEliciting,
      inFlight: ackEliciting,
      info: { records: [], keyGeneration: builder.keyGeneration },
    },
    now,
  );
  return { local: path.local, remote: path.remote, data: buf.subarray(0, length) };
}

/** A pair whose handshake is confirmed at both ends (short-header packets flowed both ways). */
export function establishedPair(options: PairOptions = {}, connect: PairOptions = {}): Pair {
  const pair = new Pair(options);
  pair.handshake(connect);
  const confirmed = (conn: EngineConnection) => (conn as Connection).wasConfirmed;
  pair.runUntil(() => confirmed(pair.clientConn) && confirmed(pair.serverConn));
  return pair;
}

/**
 * `from`'s session sends `frames` in one forged packet, delivered at once; the pair then runs
 * until the receiver closes or `ms` (virtual) pass. Returns the receiver's close, if any.
 */
export function deliverForged(
  pair: Pair,
  from: 'client' | 'server',
  frames: readonly Frame[],
  ms = 2_000,
): CloseInfo | undefined {
  const sender = from === 'client' ? pair.clientConn : pair.serverConn;
  const receiver = from === 'client' ? pair.server : pair.client;
  const events = from === 'client' ? pair.serverEvents : pair.clientEvents;
  const t = forgedPacket(sender, frames, pair.now);
  receiver.receive(t.data, t.remote, t.local, pair.now);
  const closed = () => events.find((e) => e.type === 'closed');
  const end = pair.now + ms;
  while (!closed() && pair.now < end && pair.step());
  const event = closed();
  return event?.type === 'closed' ? event.info : undefined;
}

/** The session closed on a protocol error of its own finding: `code`, for the reason `why` names. */
export function assertProtocolClose(info: CloseInfo | undefined, code: number, why: RegExp): void {
  assert.ok(info, 'the receiver closed the session');
  assert.equal(info.code, code, `closed with 0x${info.code.toString(16)} (${info.reason})`);
  assert.match(info.reason, why);
  assert.equal(info.application, false);
  assert.equal(info.source, 'protocol');
}
