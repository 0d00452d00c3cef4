/**
 * The stream-open exchange between `braid` clients and `braid serve`.
 *
 * Every bidirectional stream a client opens starts with one request, and the server
 * answers with one response before any payload flows:
 *
 *   request  = version:u8 (1) | kind:u8 | length:u16be | target:utf8[length]
 *   response = version:u8 (1) | status:u8 | length:u16be | reason:utf8[length]
 *
 * kind 1 (forward): target is an allow-list name (`web`) or `host:port` / `[v6]:port`.
 * kind 2 (echo): target is empty; the server echoes the stream if its echo service is on.
 * kind 3 (ping): target is empty; the server always echoes (braid ping times the round trips).
 * kind 4 (reverse): target is `[bind:]port` for the server to listen on (needs
 *   `braid serve --allow-reverse`); the OK reason is the bound `host:port`. The stream
 *   stays open for the life of the forward: ending it stops the listener.
 * kind 5 (reverse-connect): opened by the server, one per accepted connection of a
 *   reverse forward; target is the `[bind:]port` the client asked for. The client
 *   connects to its own target and answers like the server does for kind 1.
 * kind 6 (send): target is JSON {name, size, sha256}; the OK reason is JSON
 *   {offset, prefixSha256}; then the client sends offset:u64be (the server's offset to
 *   resume, or 0 to start over) and the file from there, and the server ends the stream
 *   with one line: 'ok <sha256>' or 'error <reason>'.
 * kind 7 (udp-forward): target as kind 1; the OK reason is the target's `host:port`. The
 *   stream stays open for the life of the forward; the UDP datagrams travel as session
 *   datagrams named by this stream's id (udp-forward.ts).
 * kind 8 (udp-reverse): target as kind 4, for a UDP listener on the server; the OK reason
 *   is the bound `host:port`. The stream holds the listener, as kind 4's does.
 * kind 9 (vpn): target is empty; `braid vpn serve` answers OK with the client's inner
 *   addresses as `name=value` words (inner4, inner6, server4, server6; docs/vpn.md), and the
 *   session's datagrams carry inner IP packets from then on. The stream stays open for the
 *   life of the client's place in the VPN.
 * status 0 means accepted: from then on the stream carries the raw bytes of the
 * connection. Any other status comes with a human-readable reason, then the server
 * ends the stream:
 *   1 not allowed (the allow-list), 2 connect failed (timed out, unreachable, ...),
 *   3 bad request, 4 unavailable (the service is off, a limit is reached),
 *   5 connection refused (the target answered with a TCP reset),
 *   6 name not resolved (the target's host name has no address).
 * Clients older than statuses 5 and 6 report them as a broken exchange.
 * After status 0, a forward whose target connection fails resets the stream with
 * application code TARGET_CONNECTION_FAILED (0x101), never with 0 (a plain cancel).
 */
import type { Readable, Writable } from 'node:stream';

export const PROTOCOL_VERSION = 1;
export const MAX_FIELD_LENGTH = 1024;

/** Datagrams with this prefix are echoed by braid serve (braid ping times them). */
export const PING_DATAGRAM_PREFIX = Buffer.from('braid-ping\0');

export const RequestKind = {
  FORWARD: 1,
  ECHO: 2,
  PING: 3,
  REVERSE: 4,
  REVERSE_CONNECT: 5,
  SEND: 6,
  UDP_FORWARD: 7,
  UDP_REVERSE: 8,
  VPN: 9,
} as const;
export type RequestKindValue = (typeof RequestKind)[keyof typeof RequestKind];

export const ForwardStatus = {
  OK: 0,
  NOT_ALLOWED: 1,
  CONNECT_FAILED: 2,
  BAD_REQUEST: 3,
  UNAVAILABLE: 4,
  TARGET_REFUSED: 5,
  TARGET_UNRESOLVED: 6,
} as const;
export type ForwardStatusValue = (typeof ForwardStatus)[keyof typeof ForwardStatus];

/** RESET_STREAM code of a forwarded stream whose TCP connection to the target failed after it opened. */
export const TARGET_CONNECTION_FAILED = 0x101;

/** The status that says why a TCP connect to a forward's target failed (by its errno code). */
export function connectFailureStatus(code: string | undefined): ForwardStatusValue {
  if (code === 'ECONNREFUSED') return ForwardStatus.TARGET_REFUSED;
  if (code === 'ENOTFOUND' || code === 'EAI_NONAME' || code === 'EAI_NODATA' || code === 'EAI_AGAIN')
    return ForwardStatus.TARGET_UNRESOLVED;
  return ForwardStatus.CONNECT_FAILED;
}

export interface ForwardRequest {
  kind: RequestKindValue;
  target: string;
}

export interface ForwardResponse {
  status: ForwardStatusValue;
  reason: string;
}

/** The peer broke the exchange: ended early, wrong version, oversized field. */
export class ForwardProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForwardProtocolError';
  }
}

function encodeRecord(first: number, second: number, text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  if (body.length > MAX_FIELD_LENGTH) throw new RangeError(`field longer than ${MAX_FIELD_LENGTH} bytes`);
  const header = Buffer.alloc(4);
  header[0] = first;
  header[1] = second;
  header.writeUInt16BE(body.length, 2);
  return Buffer.concat([header, body]);
}

export function encodeRequest(request: ForwardRequest): Buffer {
  return encodeRecord(PROTOCOL_VERSION, request.kind, request.target);
}

export function encodeResponse(response: ForwardResponse): Buffer {
  // A reason too long to send is cut, never allowed to fail the reply.
  let reason = response.reason;
  while (Buffer.byteLength(reason) > MAX_FIELD_LENGTH) reason = reason.slice(0, -16);
  return encodeRecord(PROTOCOL_VERSION, response.status, reason);
}

async function readRecord(reader: ByteReader): Promise<{ second: number; text: string }> {
  const header = await reader.read(4);
  if (header[0] !== PROTOCOL_VERSION) {
    throw new ForwardProtocolError(`unsupported stream-open version ${header[0]}`);
  }
  const length = header.readUInt16BE(2);
  if (length > MAX_FIELD_LENGTH) throw new ForwardProtocolError(`field of ${length} bytes is too long`);
  const body = length === 0 ? Buffer.alloc(0) : await reader.read(length);
  return { second: header[1]!, text: body.toString('utf8') };
}

export async function readRequest(reader: ByteReader): Promise<ForwardRequest> {
  const { second, text } = await readRecord(reader);
  if (second < RequestKind.FORWARD || second > RequestKind.VPN) {
    throw new ForwardProtocolError(`unknown request kind ${second}`);
  }
  return { kind: second as RequestKindValue, target: text };
}

export async function readResponse(reader: ByteReader): Promise<ForwardResponse> {
  const { second, text } = await readRecord(reader);
  if (second > ForwardStatus.TARGET_UNRESOLVED) throw new ForwardProtocolError(`unknown status ${second}`);
  return { status: second as ForwardStatusValue, reason: text };
}

/**
 * Reads exact byte counts from a Readable, then pipes the rest of it onwards.
 */
export class ByteReader {
  readonly #stream: Readable;
  #buffer: Buffer = Buffer.alloc(0);
  #ended = false;
  #error: Error | undefined;
  #overflow: ForwardProtocolError | undefined;
  #waiter: (() => void) | undefined;
  readonly #maxBuffered: number;
  readonly #onData = (chunk: Buffer): void => {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (this.#buffer.length > this.#maxBuffered && !this.#overflow) {
      // A peer that floods the exchange must not grow our memory: stop reading and fail it.
      this.#overflow = new ForwardProtocolError(
        `more than ${this.#maxBuffered} bytes arrived during the stream-open exchange`,
      );
      this.#stream.pause();
    }
    this.#wake();
  };
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#wake();
  };
  readonly #onError = (error: Error): void => {
    this.#error = error;
    this.#wake();
  };

  /** `maxBuffered`: bytes held before the exchange is read (default unbounded, for trusted peers). */
  constructor(stream: Readable, maxBuffered = Number.POSITIVE_INFINITY) {
    this.#stream = stream;
    this.#maxBuffered = maxBuffered;
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onEnd);
    stream.on('error', this.#onError);
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  async read(length: number): Promise<Buffer> {
    for (;;) {
      if (this.#overflow) throw this.#overflow;
      if (this.#buffer.length >= length) break;
      if (this.#error) throw this.#error;
      if (this.#ended) throw new ForwardProtocolError('the stream ended during the stream-open exchange');
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
    const out = this.#buffer.subarray(0, length);
    this.#buffer = this.#buffer.subarray(length);
    return out;
  }

  /** Everything up to the end of the stream (at most `max` bytes, else a ForwardProtocolError). */
  async readToEnd(max: number): Promise<Buffer> {
    while (!this.#ended) {
      if (this.#error) throw this.#error;
      if (this.#buffer.length > max)
        throw new ForwardProtocolError(`more than ${max} bytes where a short reply was expected`);
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
    if (this.#buffer.length > max)
      throw new ForwardProtocolError(`more than ${max} bytes where a short reply was expected`);
    const out = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return out;
  }

  /**
   * Stops reading for the exchange and pipes everything after it (bytes already
   * buffered first) into `destination`, ending it when the source ends.
   */
  pipeRest(destination: Writable): void {
    const leftover = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    this.#stream.pause();
    this.#stream.off('data', this.#onData);
    this.#stream.off('end', this.#onEnd);
    this.#stream.off('close', this.#onEnd);
    this.#stream.off('error', this.#onError);
    if (this.#ended || this.#error) {
      // The source finished while we were still reading the exchange: no 'end' will come again.
      destination.end(leftover);
      return;
    }
    if (leftover.length > 0) this.#stream.unshift(leftover);
    this.#stream.pipe(destination);
  }
}

export function statusName(status: ForwardStatusValue): string {
  switch (status) {
    case ForwardStatus.OK:
      return 'accepted';
    case ForwardStatus.NOT_ALLOWED:
      return 'not allowed';
    case ForwardStatus.CONNECT_FAILED:
      return 'connect failed';
    case ForwardStatus.BAD_REQUEST:
      return 'bad request';
    case ForwardStatus.UNAVAILABLE:
      return 'unavailable';
    case ForwardStatus.TARGET_REFUSED:
      return 'connection refused';
    case ForwardStatus.TARGET_UNRESOLVED:
      return 'name not resolved';
  }
}
