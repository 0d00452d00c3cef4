/**
 * The application's form of a 0-RTT ticket (docs/persistence.md §5): an opaque Buffer the
 * 'ticket' event hands out and `connect({ ticket, earlyData: true })` takes back, so it can be
 * stored between processes. It carries the wall-clock expiry (the engine's clock is monotonic
 * and per process), the server key it belongs to and the server's limits the early data must fit.
 *
 * Layout (big-endian): "BRT1" | expires at (64, ms since the epoch) | server key (256)
 *   | max early data (64) | initial max data (64) | initial stream window (64)
 *   | initial max bidi streams (64) | initial max uni streams (64) | ticket length (16) | ticket
 */
import type { EarlyDataTicket } from '../engine/types.js';
import { InvalidArgumentError } from './errors.js';

const MAGIC = Buffer.from('BRT1', 'latin1');
const FIXED = 4 + 8 + 32 + 5 * 8 + 2;

export function encodeTicket(ticket: EarlyDataTicket, wallNow: number): Buffer {
  const out = Buffer.alloc(FIXED + ticket.ticket.length);
  MAGIC.copy(out, 0);
  let o = 4;
  out.writeBigUInt64BE(BigInt(Math.floor(wallNow + ticket.lifetime)), o);
  o += 8;
  out.set(ticket.serverKey, o);
  o += 32;
  for (const value of [
    ticket.maxEarlyData,
    ticket.initialMaxData,
    ticket.initialStreamWindow,
    ticket.initialMaxStreamsBidi,
    ticket.initialMaxStreamsUni,
  ]) {
    out.writeBigUInt64BE(BigInt(value), o);
    o += 8;
  }
  out.writeUInt16BE(ticket.ticket.length, o);
  out.set(ticket.ticket, o + 2);
  return out;
}

export interface DecodedTicket {
  expiresAt: number;
  ticket: EarlyDataTicket;
}

/** @throws InvalidArgumentError('ticket') for anything that is not a ticket from the 'ticket' event. */
export function decodeTicket(bytes: Uint8Array): DecodedTicket {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < FIXED || !b.subarray(0, 4).equals(MAGIC))
    throw new InvalidArgumentError('ticket', "must be a Buffer from a session's 'ticket' event");
  let o = 4;
  const expiresAt = Number(b.readBigUInt64BE(o));
  o += 8;
  const serverKey = new Uint8Array(b.subarray(o, o + 32));
  o += 32;
  const values: number[] = [];
  for (let i = 0; i < 5; i++, o += 8) {
    const v = b.readBigUInt64BE(o);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError('ticket', 'is corrupted');
    values.push(Number(v));
  }
  const length = b.readUInt16BE(o);
  if (b.length !== FIXED + length || length === 0) throw new InvalidArgumentError('ticket', 'is truncated');
  const [maxEarlyData, initialMaxData, initialStreamWindow, initialMaxStreamsBidi, initialMaxStreamsUni] =
    values as [number, number, number, number, number];
  return {
    expiresAt,
    ticket: {
      serverKey,
      ticket: new Uint8Array(b.subarray(o + 2)),
      lifetime: Math.max(0, expiresAt - Date.now()),
      maxEarlyData,
      initialMaxData,
      initialStreamWindow,
      initialMaxStreamsBidi,
      initialMaxStreamsUni,
    },
  };
}
