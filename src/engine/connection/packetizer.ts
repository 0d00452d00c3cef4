/**
 * What goes out on the session's paths once it has keys: path probes (PATH_CHALLENGE /
 * PATH_RESPONSE with the receipt report), then data packets on the active path or as the
 * multipath policy plans, and CLOSE. It owns the two intents Connection and the timers raise:
 * a PING owed on the active path and PTO probes owed under failover.
 */
import type { Transmit } from '../../net/address.js';
import type { Path } from '../../paths/path.js';
import { BASE_UDP_PAYLOAD } from '../../paths/pmtu.js';
import { encodeFrame, frameSize } from '../../wire/frame-codec.js';
import type { Frame } from '../../wire/frames.js';
import type { StreamMap } from '../streams/stream-map.js';
import type { CloseInfo, TransportConfig } from '../types.js';
import { ackFrameFor, ackSent, type FrameWriter } from './frame-writer.js';
import type { Liveness } from './liveness.js';
import type { MultipathSession, PacketPlan } from './multipath.js';
import type { Outbox } from './outbox.js';
import { AEAD_TAG, type PacketBuilder } from './packet-builder.js';
import { PATH_PROBE_SIZE, type PathManager } from './path-manager.js';
import type { Sent, SentInfo, SentRecord, SentRecords } from './sent-records.js';
import type { SessionView } from './session-view.js';

/** ACK bytes a probe carries at most (its receipt report stays small; large ACKs ride on data packets). */
const MAX_PROBE_ACK_BYTES = 256;
const CLOSE_REASON_MAX = 256;

/** What the packetizer reads of the session's handshake and lifecycle. */
export interface PacketizerSession extends SessionView {
  /** After a resumption stream data waits for the peer's checkpoints (RESUME_STATE). */
  readonly holdsStreams: boolean;
  /** The largest DATAGRAM payload the peer takes. */
  readonly maxDatagramSize: number;
}

export interface PacketizerOptions {
  config: TransportConfig;
  session: PacketizerSession;
  paths: PathManager;
  multipath: MultipathSession<Path<SentInfo>, SentRecord>;
  builder: PacketBuilder;
  frames: FrameWriter;
  sent: SentRecords;
  liveness: Liveness;
  outbox: Outbox;
  streams: StreamMap;
}

export class Packetizer {
  /** A PING is owed on the active path (keepalive, a move to a new path, handshake confirmation). */
  pingPending = false;
  /** PTO probes owed under failover (a multipath policy counts its own per path). */
  probesPending = 0;
  private readonly config: TransportConfig;
  private readonly session: PacketizerSession;
  private readonly paths: PathManager;
  private readonly multipath: MultipathSession<Path<SentInfo>, SentRecord>;
  private readonly builder: PacketBuilder;
  private readonly frames: FrameWriter;
  private readonly sent: SentRecords;
  private readonly liveness: Liveness;
  private readonly outbox: Outbox;
  private readonly streams: StreamMap;

  constructor(options: PacketizerOptions) {
    this.config = options.config;
    this.session = options.session;
    this.paths = options.paths;
    this.multipath = options.multipath;
    this.builder = options.builder;
    this.frames = options.frames;
    this.sent = options.sent;
    this.liveness = options.liveness;
    this.outbox = options.outbox;
    this.streams = options.streams;
  }

  /** The 'loss' timer: every path whose loss-detection deadline has come. */
  onLossTimeouts(now: number): void {
    // Each path's own deadline, not the 'loss' timer: that one leaves out paths that may not
    // send (so it never sits in the past), but their due timeouts fire when we are woken.
    for (const path of this.paths.list) {
      const at = path.loss.deadline(this.session.handshakeConfirmed);
      if (at !== undefined && now >= at) this.onLossTimeout(path, now);
    }
  }

  /**
   * The loss-detection timer of `path` fired: packets are declared lost, and PTO probes are owed.
   * RFC 9002 §6.2.4: probes carry the oldest unacknowledged data, not a bare PING, so the one
   * probe that gets through a lossy path also makes progress; the probe takes over the records,
   * so the next PTO moves on to newer data.
   */
  private onLossTimeout(path: Path<SentInfo>, now: number): void {
    const { lost, probes } = path.loss.onTimeout(now, this.session.handshakeConfirmed);
    if (lost.length > 0) this.sent.onPacketsLost(path, lost, now);
    if (probes === 0) return;
    // Several paths: the probe goes on this path, and when another one can take the data, all
    // of this path's unacknowledged data is resent there (MPTCP's reinjection on RTO).
    let moveAll = false;
    if (this.multipath.spreads) moveAll = this.multipath.onProbeTimeout(path, probes, now);
    else this.probesPending = Math.max(this.probesPending, probes);
    const resendable = (p: Sent) => p.info.records.some((r) => r.kind === 'stream' || r.kind === 'control');
    for (const packet of path.loss.oldestUnacked(moveAll ? Infinity : probes, resendable)) {
      this.sent.onLost(packet.info.records);
      packet.info.records = packet.info.records.filter((r) => r.kind === 'ack');
    }
  }

  /** Path probes first (any path), then data: spread by the multipath policy, or on the active path. */
  poll(now: number): Transmit | undefined {
    for (const candidate of this.paths.list) {
      const probe = this.buildPathProbe(candidate, now) ?? this.buildPmtuProbe(candidate, now);
      if (probe) return probe;
    }
    if (this.multipath.spreads) return this.multipath.poll(now);
    return this.buildPacket(this.paths.active, now);
  }

  /**
   * A probe on `path`'s address pair: PATH_CHALLENGE / PATH_RESPONSE frames, plus the ACKs
   * owed for every number space (the receipt report: the peer learns which of its sending
   * directions work, whichever path this one arrives on). Padded towards 1200 bytes within
   * the anti-amplification credit while the pair is unvalidated. Probing frames only, so the
   * peer does not take it as a move.
   */
  private buildPathProbe(path: Path<SentInfo>, now: number): Transmit | undefined {
    const paths = this.paths;
    const challenge = paths.dueChallenge(path);
    if (!challenge && !paths.owesResponses(path)) return undefined;
    if (path.remoteCid.length === 0) return undefined;
    const credit = path.amplificationCredit();
    const header = 1 + path.remoteCid.length + 4;
    const pathFrameSize = 1 + 8;
    let room = Math.min(credit, BASE_UDP_PAYLOAD) - header - AEAD_TAG;
    if (room < pathFrameSize) return undefined;
    const frames: Frame[] = [];
    if (challenge) {
      frames.push({ type: 'path_challenge', data: challenge });
      room -= pathFrameSize;
    }
    while (room >= pathFrameSize) {
      const data = paths.takeResponse(path);
      if (!data) break;
      frames.push({ type: 'path_response', data });
      room -= pathFrameSize;
    }
    const records: SentRecord[] = [];
    // A challenge means the peer suspects a path: an answer repeats every space's ranges, even
    // those already sent, since ACKs lost on a lossy path are what made the peer suspect it
    // (they prove its packets got through, whichever path they come back on). Under a policy
    // that spreads packets each path carries its own space's ACKs already.
    const answering = frames.length > (challenge ? 1 : 0) && !this.multipath.spreads;
    for (const space of this.paths.list) {
      if (answering) space.acks.repeatAck(now);
      const frame = ackFrameFor(space, now);
      if (!frame) continue;
      const size = frameSize(frame);
      if (size > room || size > MAX_PROBE_ACK_BYTES) continue;
      frames.push(frame);
      room -= size;
      ackSent(space, frame, records);
    }
    let payload = 0;
    for (const f of frames) payload += frameSize(f);
    // A validated pair needs no padding (no amplification or MTU question left), nor does one
    // validated under an earlier path id: checks stay small.
    const size =
      path.validated || paths.isKnownPair(path)
        ? header + payload + AEAD_TAG
        : Math.min(Math.max(PATH_PROBE_SIZE, header + payload + AEAD_TAG), BASE_UDP_PAYLOAD, credit);
    const packet = this.builder.begin(path, size);
    const w = packet.w;
    const limit = size - AEAD_TAG;
    // ACKs first: the peer applies them before the PATH_RESPONSE, so an answer that proves
    // another path finds the active path's late ACKs already counted (a delay, not a failure).
    for (const f of frames) if (f.type === 'ack') encodeFrame(w, f);
    for (const f of frames) if (f.type !== 'ack') encodeFrame(w, f);
    packet.buf.fill(0, w.offset, limit); // PADDING
    w.offset = limit;
    // Tracked so the peer's ACK of it is legal (and proves the pair), but neither in flight nor
    // retransmitted: path frames have their own timers.
    const transmit = this.builder.finish(packet, now, {
      records,
      ackEliciting: false,
      inFlight: false,
    });
    if (challenge) paths.onChallengeSent(path, now);
    return transmit;
  }

  /**
   * A PMTU probe on `path` (docs/protocol.md §11.6), if its search wants one: a PING padded to the
   * size being tried. Only on a validated path that carries data, once the handshake is
   * confirmed and nothing is waiting on a PTO there. Not congestion-controlled and not in flight:
   * its loss says the size does not fit, not that the path is congested.
   */
  private buildPmtuProbe(path: Path<SentInfo>, now: number): Transmit | undefined {
    if (!this.session.handshakeConfirmed || !path.validated || path.state !== 'active') return undefined;
    if (path.remoteCid.length === 0 || path.loss.ptoCount > 0) return undefined;
    const size = path.pmtu.probeSize(now);
    if (size === undefined) return undefined;
    const packet = this.builder.begin(path, size);
    const w = packet.w;
    encodeFrame(w, { type: 'ping' });
    const limit = size - AEAD_TAG;
    packet.buf.fill(0, w.offset, limit); // PADDING
    w.offset = limit;
    const transmit = this.builder.finish(packet, now, {
      records: [{ kind: 'pmtu-probe', pathId: path.id, size }],
      ackEliciting: true,
      inFlight: false,
    });
    path.pmtu.onProbeSent(size);
    return transmit;
  }

  /** Something waits to be sent (besides ACKs): control frames, datagrams, a PING, probes or stream data. */
  hasPendingData(): boolean {
    this.frames.collectConnectionFrames();
    return (
      this.outbox.control.length > 0 ||
      this.outbox.datagrams.length > 0 ||
      this.pingPending ||
      this.probesPending > 0 ||
      (this.streams.hasQueuedWork && !this.session.holdsStreams)
    );
  }

  /**
   * The next packet on `path`: ACKs, then (within congestion control, pacing and the
   * anti-amplification credit) control frames, datagrams and stream data; a PTO probe or an
   * owed PING makes it ack-eliciting. A multipath `plan` narrows what it carries.
   */
  buildPacket(path: Path<SentInfo>, now: number, plan?: PacketPlan): Transmit | undefined {
    // Under a multipath plan a packet carries the ACKs of its own path's space (so one dead path
    // loses only its own ACKs) and of spaces whose path does not carry data; failover: all.
    const ackSpaces = plan ? this.multipath.ackSpaces(path, now) : this.paths.list;
    let ackDue = false;
    for (const p of ackSpaces) if (p.acks.ackNow || (p.acks.ackDeadline() ?? Infinity) <= now) ackDue = true;
    const mtu = path.sendSize();
    const probe = plan ? plan.probe : this.probesPending > 0;
    const content = plan?.content ?? 'all';
    let ackOnly = content === 'acks';
    if (ackOnly) {
      if (!ackDue) return undefined;
    } else if (content !== 'all' || probe || this.hasPendingData()) {
      // (A probe goes out even with nothing to resend: as a PING. Under failover hasPendingData
      // counts probesPending; a plan's probes are counted by the policy.)
      const verdict = probe ? { ok: path.amplificationCredit() >= mtu } : path.canSend(mtu, now);
      if (!verdict.ok) {
        if (!ackDue) return undefined;
        ackOnly = true;
      }
    } else if (ackDue) {
      ackOnly = true;
    } else {
      return undefined;
    }
    if (ackOnly && path.amplificationCredit() < 64) return undefined;

    this.builder.maybeInitiateKeyUpdate();
    const packet = this.builder.begin(path, mtu);
    const w = packet.w;
    const limit = Math.min(mtu, path.amplificationCredit()) - AEAD_TAG;
    const records: SentRecord[] = [];
    let ackEliciting = false;

    // ACKs for every number space ride on the active path (an ACK may name any path id).
    for (const space of ackSpaces) {
      const frame = ackFrameFor(space, now);
      if (frame && frameSize(frame) <= limit - w.offset) {
        encodeFrame(w, frame);
        ackSent(space, frame, records);
      }
    }
    if (!ackOnly && content === 'all') {
      if (plan) this.multipath.beginPacket(path, now);
      ackEliciting = this.frames.writeControlFrames(w, limit, records);
      ackEliciting = this.frames.writeDataBlocked(w, limit, records) || ackEliciting;
      ackEliciting =
        this.frames.writeDatagrams(w, limit, records, this.session.maxDatagramSize) || ackEliciting;
      // After a resumption stream data waits for the peer's checkpoints (RESUME_STATE).
      if (!this.session.holdsStreams)
        ackEliciting = this.frames.writeStreamFrames(w, limit, records) || ackEliciting;
      if (plan) this.multipath.endPacket();
    } else if (!ackOnly && content === 'copies') {
      ackEliciting = this.multipath.writeCopies(path, w, limit, records, now);
    }
    if (!ackOnly) {
      // A pending PING goes out even beside other frames: those may all be probing frames
      // (NEW_CONNECTION_ID), and the PING must make the packet non-probing (the peer follows).
      // Under a multipath plan it checks the active path (keepalive, the move to a new one),
      // so it goes there only.
      const ping = this.pingPending && (!plan || path === this.paths.active);
      if ((ping || ((probe || content === 'ping') && !ackEliciting)) && limit - w.offset >= 1) {
        encodeFrame(w, { type: 'ping' });
        records.push({ kind: 'ping' });
        ackEliciting = true;
        if (ping) this.pingPending = false;
      }
    }
    if (!ackEliciting && this.ackOnlyNeedsPing(path, now) && limit - w.offset >= 1) {
      encodeFrame(w, { type: 'ping' });
      records.push({ kind: 'ping' });
      ackEliciting = true;
    }
    if (records.length === 0) {
      this.builder.abandon(packet);
      return undefined;
    }
    // Header protection samples 16 bytes starting 4 bytes after the packet number.
    const minPayload = 4 - packet.pnLength;
    while (w.offset - packet.headerLength < minPayload) w.u8(0);
    const transmit = this.builder.finish(packet, now, {
      records,
      ackEliciting,
      inFlight: ackEliciting,
    });
    if (probe && ackEliciting) {
      if (plan) this.multipath.onProbeSent(path);
      else this.probesPending--;
    }
    this.sent.onSent(records);
    this.liveness.updateStall(this.sent.streamDataOwed && this.session.established, now);
    if (ackEliciting) this.liveness.onAckElicitingSent(now, this.paths.active.pto());
    return transmit;
  }

  /**
   * While the peer sends us data and we send only ACKs, nothing of ours is ever acknowledged,
   * so a broken sending direction would go unnoticed (RFC 9000 §13.2.4). Once per PTO with
   * nothing ack-eliciting in flight, an ACK-only packet carries a PING too.
   */
  private ackOnlyNeedsPing(path: Path<SentInfo>, now: number): boolean {
    if (!this.session.handshakeConfirmed || path.loss.ackElicitingInFlight > 0) return false;
    const pto = path.pto();
    // Several paths send ACKs (each its own space's): each checks its own sending direction.
    const sent = this.multipath.spreads
      ? path.loss.lastAckElicitingSentAt
      : this.liveness.lastAckElicitingSentAt;
    return now - this.liveness.lastStreamDataAt <= pto && now - sent >= pto;
  }

  /** A packet carrying only CLOSE (with the reason cut to CLOSE_REASON_MAX bytes) on `path`. */
  closePacket(path: Path<SentInfo>, now: number, info: CloseInfo): Transmit {
    const packet = this.builder.begin(path, path.sendSize());
    const w = packet.w;
    const reason =
      info.reason.length > CLOSE_REASON_MAX ? info.reason.slice(0, CLOSE_REASON_MAX) : info.reason;
    encodeFrame(w, {
      type: 'close',
      application: info.application,
      errorCode: info.code,
      frameType: 0,
      reason,
    });
    while (w.offset - packet.headerLength < 4) w.u8(0);
    return this.builder.finish(packet, now, 'close');
  }
}
