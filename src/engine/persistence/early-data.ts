/**
 * The server's 0-RTT policy (docs/persistence.md §5): issues tickets (NEW_TICKET) to clients it
 * has a session with, and decides whether a later first flight's early data is accepted.
 *
 * Accepted only when all hold: early data is enabled; the ticket opens (ours, this process),
 * names the client key that just proved itself in Noise message 0 and has not expired; the
 * early data fits the ticket's limit; the server is not under load; the application's
 * per-attempt hook agrees; and the ticket was never used before (strike register) — checked
 * last, so a refused flight does not burn the ticket. Otherwise the early data is ignored and
 * the client resends it after the handshake: nothing is lost, only the round trip.
 */
import { StrikeRegister, TicketSealer } from '../../crypto/tickets.js';
import { decodeFrames } from '../../wire/frame-codec.js';
import type { NewTicketFrame, StreamFrame } from '../../wire/frames.js';
import type { TransportParameters } from '../../wire/transport-params.js';
import type { RandomSource } from '../secrets.js';
import type { EarlyDataTicket, TransportConfig } from '../types.js';

export interface EarlyDataOptions {
  /** false refuses every 0-RTT attempt (and issues no tickets). Default true. */
  enabled?: boolean;
  /** Per attempt: return false to refuse this one (the data then comes again after the handshake). */
  accept?: (info: { remoteKey: Uint8Array; bytes: number }) => boolean;
  /** How long a ticket stays valid (ms). Default 24 h. */
  ticketLifetime?: number;
  /** Largest early data a ticket admits (bytes). Default 16 KiB. */
  maxEarlyData?: number;
  /** Tickets a session gets after its handshake. Default 2. */
  ticketsPerSession?: number;
  /** Used tickets remembered (strike register) before 0-RTT is refused. Default 65 536. */
  strikeCapacity?: number;
}

export type EarlyDataVerdict =
  | 'accepted'
  | 'disabled'
  | 'bad-ticket'
  | 'wrong-key'
  | 'expired'
  | 'too-large'
  | 'under-load'
  | 'refused-by-application'
  | 'replayed';

const DEFAULT_LIFETIME = 24 * 60 * 60 * 1000;
const DEFAULT_MAX_EARLY_DATA = 16 * 1024;

export class EarlyDataPolicy {
  readonly enabled: boolean;
  readonly #accept: EarlyDataOptions['accept'];
  readonly #lifetime: number;
  readonly #maxEarlyData: number;
  readonly ticketsPerSession: number;
  readonly #sealer: TicketSealer;
  readonly strikes: StrikeRegister;

  constructor(options: EarlyDataOptions, random: RandomSource) {
    this.enabled = options.enabled ?? true;
    this.#accept = options.accept;
    this.#lifetime = options.ticketLifetime ?? DEFAULT_LIFETIME;
    this.#maxEarlyData = options.maxEarlyData ?? DEFAULT_MAX_EARLY_DATA;
    this.ticketsPerSession = options.ticketsPerSession ?? 2;
    this.#sealer = new TicketSealer(random);
    this.strikes = new StrikeRegister(options.strikeCapacity);
  }

  /** A NEW_TICKET for the client with `clientKey`, or undefined when 0-RTT is off. */
  issue(clientKey: Uint8Array, now: number): NewTicketFrame | undefined {
    if (!this.enabled) return undefined;
    return {
      type: 'new_ticket',
      lifetime: this.#lifetime,
      maxEarlyData: this.#maxEarlyData,
      ticket: this.#sealer.seal(clientKey, now + this.#lifetime, this.#maxEarlyData),
    };
  }

  admit(
    ticket: Uint8Array | undefined,
    clientKey: Uint8Array,
    bytes: number,
    now: number,
    underLoad: boolean,
  ): EarlyDataVerdict {
    if (!this.enabled) return 'disabled';
    const contents = ticket && this.#sealer.open(ticket);
    if (!contents) return 'bad-ticket';
    if (!Buffer.from(contents.clientKey).equals(Buffer.from(clientKey))) return 'wrong-key';
    if (contents.expiresAt <= now) return 'expired';
    if (bytes > contents.maxEarlyData) return 'too-large';
    if (underLoad) return 'under-load';
    if (this.#accept && !this.#accept({ remoteKey: clientKey, bytes })) return 'refused-by-application';
    if (!this.strikes.use(contents.id, contents.expiresAt, now)) return 'replayed';
    return 'accepted';
  }
}

/**
 * Server: the early data of a first flight (the early_data transport parameter), judged. Only
 * STREAM frames on client-initiated streams within our initial limits qualify; then `admit`
 * (the endpoint's policy, with the ticket) decides. The accepted frames own their bytes.
 */
export function judgeEarlyData(
  earlyData: Uint8Array,
  config: TransportConfig,
  admit: (bytes: number) => EarlyDataVerdict,
): { verdict: EarlyDataVerdict | 'malformed'; frames: StreamFrame[] | undefined } {
  let frames: StreamFrame[];
  try {
    const decoded = decodeFrames(earlyData).filter((f) => f.type !== 'padding');
    if (!decoded.every((f) => f.type === 'stream')) return { verdict: 'malformed', frames: undefined };
    frames = decoded as StreamFrame[];
  } catch {
    return { verdict: 'malformed', frames: undefined };
  }
  const bytes = frames.reduce((n, f) => n + f.data.length, 0);
  const fits = frames.every(
    (f) =>
      f.streamId % 2 === 0 &&
      f.offset + f.data.length <= config.initialStreamWindow &&
      Math.floor(f.streamId / 4) <
        ((f.streamId & 2) === 0 ? config.maxConcurrentBidiStreams : config.maxConcurrentUniStreams),
  );
  if (!fits || bytes > config.initialConnectionWindow) return { verdict: 'too-large', frames: undefined };
  const verdict = admit(bytes);
  if (verdict !== 'accepted') return { verdict, frames: undefined };
  return { verdict, frames: frames.map((f) => ({ ...f, data: Uint8Array.prototype.slice.call(f.data) })) };
}

/** Client: what a NEW_TICKET means for a later connection to this server (its key and limits). */
export function ticketFromFrame(
  frame: NewTicketFrame,
  serverParams: TransportParameters,
  serverKey: Uint8Array,
): EarlyDataTicket {
  const p = serverParams;
  return {
    serverKey,
    ticket: frame.ticket,
    lifetime: frame.lifetime,
    maxEarlyData: frame.maxEarlyData,
    initialMaxData: p.initialMaxData,
    initialStreamWindow: Math.min(
      p.initialMaxStreamDataBidiLocal,
      p.initialMaxStreamDataBidiRemote,
      p.initialMaxStreamDataUni,
    ),
    initialMaxStreamsBidi: p.initialMaxStreamsBidi,
    initialMaxStreamsUni: p.initialMaxStreamsUni,
  };
}
