/**
 * What a session owes the outside world between two polls: control frames for the peer,
 * application datagrams, events for the application, and the counters behind `stats`.
 * Every module of the session queues into this one owner; `wake` tells the endpoint that
 * something is waiting.
 */
import type { Frame } from '../../wire/frames.js';
import type { ConnectionEvent, ConnectionStats } from '../types.js';

/**
 * Control frames that name the suspended session's paths, CIDs, handshake or persistence
 * exchange: queued before a resumption (or lost in its flight), they mean nothing after it.
 */
const STALE_AFTER_RESUMPTION = new Set<Frame['type']>([
  'new_connection_id',
  'retire_connection_id',
  'path_challenge',
  'path_response',
  'path_abandon',
  'add_address',
  'remove_address',
  'handshake_done',
  'resumption_id',
  'resume_done',
  'resume_state',
  'suspended',
  'ping',
]);

export class Outbox {
  /** Control frames in the order they go out. */
  readonly control: Frame[] = [];
  /** Application datagrams waiting for room in a packet (queueDatagram / takeDatagram). */
  readonly datagrams: Uint8Array[] = [];
  private queuedDatagramBytes = 0;
  private readonly events: ConnectionEvent[] = [];
  readonly stats: ConnectionStats = {
    packetsSent: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    packetsLost: 0,
    streamBytesResent: 0,
    drops: {},
    keyUpdates: 0,
    suspensions: 0,
    resumptions: 0,
  };

  constructor(private readonly onWake: () => void) {}

  queueControl(frame: Frame): void {
    this.control.push(frame);
  }

  /** Bytes of the queued datagrams (bounded by DATAGRAM_QUEUE_BYTES, part of maxSessionBuffer). */
  get datagramBytes(): number {
    return this.queuedDatagramBytes;
  }

  queueDatagram(data: Uint8Array): void {
    this.datagrams.push(data);
    this.queuedDatagramBytes += data.length;
  }

  takeDatagram(): Uint8Array | undefined {
    const data = this.datagrams.shift();
    if (data) this.queuedDatagramBytes -= data.length;
    return data;
  }

  emit(event: ConnectionEvent): void {
    this.events.push(event);
  }

  pollEvent(): ConnectionEvent | undefined {
    return this.events.shift();
  }

  get hasEvents(): boolean {
    return this.events.length > 0;
  }

  /** The endpoint should poll this session (something to send, report or reschedule). */
  wake(): void {
    this.onWake();
  }

  /** A datagram that was received and discarded, counted by reason. */
  drop(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }

  countSent(bytes: number): void {
    this.stats.packetsSent++;
    this.stats.bytesSent += bytes;
  }

  countReceived(bytes: number): void {
    this.stats.packetsReceived++;
    this.stats.bytesReceived += bytes;
  }

  /** The control queue so far, emptied (a resumption sorts it out, see resumeControl). */
  takeControl(): Frame[] {
    return this.control.splice(0);
  }

  /**
   * Resumption: the queue becomes `carried` (queued before) and `requeued` (lost in flight)
   * without the frames that named the suspended session, around the new epoch's `fresh` ones.
   * Queued datagrams are dropped: they would be stale by the time they arrive.
   */
  resumeControl(carried: Frame[], fresh: Frame[], requeued: Frame[]): void {
    const current = (f: Frame) => !STALE_AFTER_RESUMPTION.has(f.type);
    this.control.length = 0;
    this.control.push(...carried.filter(current), ...fresh, ...requeued.filter(current));
    this.datagrams.length = 0;
    this.queuedDatagramBytes = 0;
  }
}
