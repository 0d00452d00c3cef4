/**
 * One session's 0-RTT (docs/persistence.md §5). Client: with a ticket, what the application
 * writes before the first datagram goes out rides in the INITIAL, and the server's message 1
 * settles it (acknowledged, or resent at 1-RTT). Server: the verdict on a first flight's early
 * data, its frames held until the handshake completes, and the tickets issued once confirmed.
 */
import type { Frame, NewTicketFrame } from '../../wire/frames.js';
import type { TransportParameters } from '../../wire/transport-params.js';
import { Writer } from '../../wire/varint.js';
import type { FrameWriter } from '../connection/frame-writer.js';
import type { Liveness } from '../connection/liveness.js';
import type { Outbox } from '../connection/outbox.js';
import type { SentRecord, SentRecords } from '../connection/sent-records.js';
import type { StreamMap } from '../streams/stream-map.js';
import type { EarlyDataState, EarlyDataTicket, TransportConfig } from '../types.js';
import { type EarlyDataVerdict, judgeEarlyData } from './early-data.js';

/** Server: what a session needs of the endpoint's 0-RTT policy (persistence/early-data.ts). */
export interface ServerEarlyData {
  ticketsPerSession: number;
  issue(clientKey: Uint8Array, now: number): NewTicketFrame | undefined;
  admit(ticket: Uint8Array | undefined, clientKey: Uint8Array, bytes: number, now: number): EarlyDataVerdict;
}

/** Client: early data of the first flight, until the server's message 1 settles it. */
interface EarlyFlight {
  ticket: EarlyDataTicket;
  /** STREAM frames carried in the INITIAL (early_data transport parameter). */
  frames: Uint8Array | undefined;
  records: SentRecord[];
}

export interface SessionEarlyDataOptions {
  streams: StreamMap;
  frames: FrameWriter;
  sent: SentRecords;
  liveness: Liveness;
  outbox: Outbox;
  /** Server: the endpoint's 0-RTT policy. */
  policy: ServerEarlyData | undefined;
}

export class SessionEarlyData {
  private _state: EarlyDataState = 'none';
  private flight: EarlyFlight | undefined;
  /** Server: the accepted early data's frames, applied once the handshake completes. */
  private acceptedFrames: Frame[] | undefined;
  /** Server: why the early data was refused ('accepted' when it was not), for logs and tests. */
  verdict: EarlyDataVerdict | 'malformed' | undefined;

  constructor(private readonly o: SessionEarlyDataOptions) {}

  /** 'none', or (with a ticket) 'pending' until message 1, then 'accepted' / 'rejected'. */
  get state(): EarlyDataState {
    return this._state;
  }

  /**
   * Client: a ticket from this server. Streams may be written at once, within the server's
   * limits as of the ticket (an endpoint's limits do not change, and tickets do not outlive it).
   */
  useTicket(ticket: EarlyDataTicket): void {
    this.flight = { ticket, frames: undefined, records: [] };
    this._state = 'pending';
    this.o.streams.applyPeerLimits({
      initialStreamWindow: ticket.initialStreamWindow,
      initialConnectionWindow: ticket.initialMaxData,
      maxBidiStreams: ticket.initialMaxStreamsBidi,
      maxUniStreams: ticket.initialMaxStreamsUni,
    });
  }

  /** Client: the ticket's limit on early data (undefined without a ticket). */
  get maxBytes(): number | undefined {
    return this.flight?.ticket.maxEarlyData;
  }

  /** Client: the first flight's STREAM frames, in `room` bytes (taken when at least 64). */
  writeFlight(room: number): void {
    const flight = this.flight!;
    if (room < 64) return;
    const buf = Buffer.alloc(room);
    const w = new Writer(buf, 0);
    const records: SentRecord[] = [];
    this.o.frames.writeStreamFrames(w, room, records);
    if (w.offset === 0) return;
    flight.frames = buf.subarray(0, w.offset);
    flight.records = records;
  }

  /** Client: the ticket, and the early data, in the INITIAL's transport parameters. */
  addClientParameters(params: Partial<TransportParameters>): void {
    if (!this.flight) return;
    params.earlyDataTicket = this.flight.ticket.ticket;
    if (this.flight.frames) params.earlyData = this.flight.frames;
  }

  /** Client, RETRY: the new INITIAL carries a token; its early data goes again after the handshake. */
  onRetry(): void {
    const flight = this.flight;
    if (!flight?.frames) return;
    this.o.sent.onLost(flight.records);
    flight.frames = undefined;
    flight.records = [];
  }

  /** Client: message 1 says whether the server took the early data; if not, it is resent now. */
  settle(serverAccepted: boolean): void {
    const flight = this.flight;
    if (!flight || this._state !== 'pending') return;
    this.flight = undefined;
    const accepted = serverAccepted && flight.frames !== undefined;
    if (!accepted) this.o.sent.onLost(flight.records);
    else if (this.o.sent.onAcked(flight.records)) this.o.liveness.onStreamProgress();
    this._state = accepted ? 'accepted' : 'rejected';
    this.o.outbox.emit({ type: 'early-data', accepted });
  }

  /**
   * Server, IK message 0 read: decides on the early data it carried. Only STREAM frames within
   * our initial limits qualify; the endpoint's policy decides the rest. `clientKey`: the key
   * message 0 proved (undefined when it is not authorized).
   */
  decide(
    peer: TransportParameters,
    clientKey: Uint8Array | undefined,
    config: TransportConfig,
    now: number,
  ): void {
    if (!peer.earlyData) return;
    const { verdict, frames } = judgeEarlyData(peer.earlyData, config, (bytes) =>
      clientKey
        ? (this.o.policy?.admit(peer.earlyDataTicket, clientKey, bytes, now) ?? 'disabled')
        : 'wrong-key',
    );
    this.verdict = verdict;
    this.acceptedFrames = frames;
    this._state = verdict === 'accepted' ? 'accepted' : 'rejected';
  }

  /** Server, handshake complete: the accepted early data's frames, once. */
  takeAccepted(): Frame[] | undefined {
    const frames = this.acceptedFrames;
    this.acceptedFrames = undefined;
    return frames;
  }

  /** Server, handshake confirmed: tickets for a later 0-RTT first flight. */
  issueTickets(clientKey: Uint8Array | undefined, now: number): void {
    const policy = this.o.policy;
    if (!policy || !clientKey) return;
    for (let i = 0; i < policy.ticketsPerSession; i++) {
      const frame = policy.issue(clientKey, now);
      if (!frame) return;
      this.o.outbox.queueControl(frame);
    }
  }
}
