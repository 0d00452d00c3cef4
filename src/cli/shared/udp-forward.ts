/**
 * UDP forwarding over a session's unreliable datagrams (docs/cli-protocol.md §2.2).
 *
 * An association is one UDP forward: a kind-7 (udp-forward) or kind-8 (udp-reverse) stream,
 * named in every frame by that stream's id. The side that owns the listening UDP socket is the
 * association's ingress: it gives each source address a flow id. The other side is its egress:
 * the first datagram of an unknown flow opens a connected UDP socket toward the target, so a
 * lost first datagram costs that datagram only, as plain UDP would.
 *
 *   DATA  = 0x01 | association:varint | flow:varint | payload (one UDP datagram)
 *   CLOSE = 0x02 | association:varint | flow:varint
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Session } from '../../index.js';
import { Reader, varintLength, Writer } from '../../wire/varint.js';

export const UdpFrameType = { DATA: 0x01, CLOSE: 0x02 } as const;

/** Default idle time after which a flow is forgotten on both sides, in seconds. */
export const DEFAULT_UDP_IDLE_TIMEOUT_S = 60;
/** Default flows one session may hold at once (both directions, every association). */
export const DEFAULT_MAX_UDP_FLOWS = 256;
/** Datagrams an egress flow holds while its socket connects; more are dropped and counted. */
const PENDING_PER_FLOW = 16;

export interface UdpForwardLimits {
  idleTimeoutMs: number;
  maxFlows: number;
}

/** Counters of every UDP forward of one process (braid status shows them as `udp`). */
export interface UdpForwardStats {
  /** Flows held now. */
  flows: number;
  flowsOpened: number;
  /** Closed by the peer's CLOSE frame. */
  flowsClosedByPeer: number;
  flowsExpired: number;
  /** Forgotten, least recently used first, to open a new flow at the maxFlows bound. */
  flowsEvicted: number;
  /** UDP datagrams carried into the session, and out of it. */
  datagramsSent: number;
  datagramsReceived: number;
  /** UDP datagrams larger than the session's datagram size allows (after the frame header). */
  droppedOversize: number;
  /** Frames naming an association or (at the ingress) a flow this side does not hold. */
  droppedUnknownFlow: number;
  /** Datagrams that arrived while the session was suspended: never queued, they would be stale. */
  droppedSuspended: number;
  /** The session's datagram queue was full, or an egress flow's socket was still connecting. */
  droppedQueueFull: number;
  /** A -L datagram arrived while no session was up (being re-established). */
  droppedNoSession: number;
  droppedMalformed: number;
}

export function newUdpForwardStats(): UdpForwardStats {
  return {
    flows: 0,
    flowsOpened: 0,
    flowsClosedByPeer: 0,
    flowsExpired: 0,
    flowsEvicted: 0,
    datagramsSent: 0,
    datagramsReceived: 0,
    droppedOversize: 0,
    droppedUnknownFlow: 0,
    droppedSuspended: 0,
    droppedQueueFull: 0,
    droppedNoSession: 0,
    droppedMalformed: 0,
  };
}

export function encodeUdpFrame(
  type: number,
  association: number,
  flow: number,
  payload?: Uint8Array,
): Buffer {
  const header = 1 + varintLength(association) + varintLength(flow);
  const frame = Buffer.allocUnsafe(header + (payload?.length ?? 0));
  new Writer(frame).u8(type).varint(association).varint(flow);
  if (payload) frame.set(payload, header);
  return frame;
}

export interface UdpFrame {
  type: number;
  association: number;
  flow: number;
  payload: Buffer;
}

/** undefined for a datagram that is not a UDP-forward frame (e.g. braid ping's); throws on a truncated one. */
export function decodeUdpFrame(data: Buffer): UdpFrame | undefined {
  const type = data[0];
  if (type !== UdpFrameType.DATA && type !== UdpFrameType.CLOSE) return undefined;
  const reader = new Reader(data, 1);
  const association = reader.varint();
  const flow = reader.varint();
  return { type, association, flow, payload: data.subarray(reader.offset) };
}

interface Flow {
  id: number;
  lastActive: number;
}

interface IngressFlow extends Flow {
  address: string;
  port: number;
}

interface EgressFlow extends Flow {
  socket: UdpSocket;
  connected: boolean;
  pending: Buffer[];
}

interface Ingress {
  kind: 'ingress';
  id: number;
  flows: Map<number, IngressFlow>;
  bySource: Map<string, IngressFlow>;
  nextFlow: number;
  deliver: (payload: Buffer, address: string, port: number) => void;
}

interface Egress {
  kind: 'egress';
  id: number;
  flows: Map<number, EgressFlow>;
  host: string;
  port: number;
}

type Association = Ingress | Egress;

/** What an ingress association gives its listening socket: datagrams from local sources go in here. */
export interface UdpIngressHandle {
  fromSource(payload: Buffer, address: string, port: number): void;
}

/** The UDP forwards of one session: its associations, their flows, and the frames between them. */
export class UdpRelay {
  readonly #session: Session;
  readonly #limits: UdpForwardLimits;
  readonly #stats: UdpForwardStats;
  readonly #associations = new Map<number, Association>();
  #flowCount = 0;
  #sweep: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(session: Session, limits: UdpForwardLimits, stats: UdpForwardStats) {
    this.#session = session;
    this.#limits = limits;
    this.#stats = stats;
    session.on('datagram', (data) => this.#receive(data));
    session.once('close', () => this.close());
  }

  get flows(): number {
    return this.#flowCount;
  }

  /** This side listens: each new source address gets a flow; the peer connects to the target. */
  addIngress(
    association: number,
    deliver: (payload: Buffer, address: string, port: number) => void,
  ): UdpIngressHandle {
    const ingress: Ingress = {
      kind: 'ingress',
      id: association,
      flows: new Map(),
      bySource: new Map(),
      nextFlow: 0,
      deliver,
    };
    this.#associations.set(association, ingress);
    return { fromSource: (payload, address, port) => this.#fromSource(ingress, payload, address, port) };
  }

  /** The peer listens: this side opens a connected UDP socket to `host:port` (an IP) per flow. */
  addEgress(association: number, host: string, port: number): void {
    this.#associations.set(association, { kind: 'egress', id: association, flows: new Map(), host, port });
  }

  removeAssociation(association: number): void {
    const found = this.#associations.get(association);
    if (!found) return;
    this.#associations.delete(association);
    for (const flow of [...found.flows.values()]) this.#forget(found, flow);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#associations.keys()]) this.removeAssociation(id);
  }

  #fromSource(ingress: Ingress, payload: Buffer, address: string, port: number): void {
    if (this.#associations.get(ingress.id) !== ingress) return;
    const key = `${address}|${port}`;
    let flow = ingress.bySource.get(key);
    if (!flow) {
      if (!this.#admitFlow()) return;
      flow = { id: ingress.nextFlow++, lastActive: Date.now(), address, port };
      ingress.bySource.set(key, flow);
      ingress.flows.set(flow.id, flow);
      this.#opened();
    }
    flow.lastActive = Date.now();
    this.#send(UdpFrameType.DATA, ingress.id, flow.id, payload);
  }

  #receive(data: Buffer): void {
    let frame: UdpFrame | undefined;
    try {
      frame = decodeUdpFrame(data);
    } catch {
      this.#stats.droppedMalformed++;
      return;
    }
    if (!frame) return;
    const association = this.#associations.get(frame.association);
    if (!association) {
      if (frame.type === UdpFrameType.DATA) this.#stats.droppedUnknownFlow++;
      return;
    }
    if (frame.type === UdpFrameType.CLOSE) {
      const flow = association.flows.get(frame.flow);
      if (flow) {
        this.#stats.flowsClosedByPeer++;
        this.#forget(association, flow);
      }
      return;
    }
    this.#stats.datagramsReceived++;
    if (association.kind === 'ingress') {
      const flow = association.flows.get(frame.flow);
      if (!flow) {
        // Expired or evicted here: tell the egress so it frees its socket now.
        this.#stats.droppedUnknownFlow++;
        this.#send(UdpFrameType.CLOSE, association.id, frame.flow);
        return;
      }
      flow.lastActive = Date.now();
      association.deliver(frame.payload, flow.address, flow.port);
      return;
    }
    let flow = association.flows.get(frame.flow);
    if (!flow) {
      if (!this.#admitFlow()) return;
      flow = this.#openEgressFlow(association, frame.flow);
    }
    flow.lastActive = Date.now();
    if (flow.connected) flow.socket.send(frame.payload);
    else if (flow.pending.length < PENDING_PER_FLOW) flow.pending.push(Buffer.from(frame.payload));
    else this.#stats.droppedQueueFull++;
  }

  #openEgressFlow(egress: Egress, id: number): EgressFlow {
    const socket = createSocket(isIPv6(egress.host) ? 'udp6' : 'udp4');
    const flow: EgressFlow = { id, lastActive: Date.now(), socket, connected: false, pending: [] };
    egress.flows.set(id, flow);
    this.#opened();
    // ICMP errors (port unreachable) surface here; the flow stays until it idles out, like a NAT's.
    socket.on('error', () => undefined);
    socket.on('message', (reply) => {
      flow.lastActive = Date.now();
      this.#send(UdpFrameType.DATA, egress.id, id, reply);
    });
    socket.connect(egress.port, egress.host, () => {
      flow.connected = true;
      for (const payload of flow.pending.splice(0)) socket.send(payload);
    });
    return flow;
  }

  /** Room for one more flow: at the bound, the least recently used flow goes. */
  #admitFlow(): boolean {
    if (this.#flowCount < this.#limits.maxFlows) return true;
    let oldest: { association: Association; flow: Flow } | undefined;
    for (const association of this.#associations.values()) {
      for (const flow of association.flows.values()) {
        if (!oldest || flow.lastActive < oldest.flow.lastActive) oldest = { association, flow };
      }
    }
    if (!oldest) return false;
    this.#stats.flowsEvicted++;
    this.#send(UdpFrameType.CLOSE, oldest.association.id, oldest.flow.id);
    this.#forget(oldest.association, oldest.flow);
    return true;
  }

  #opened(): void {
    this.#flowCount++;
    this.#stats.flows++;
    this.#stats.flowsOpened++;
    if (!this.#sweep) {
      const period = Math.max(50, Math.min(1000, this.#limits.idleTimeoutMs / 4));
      this.#sweep = setInterval(() => this.#expire(), period);
      this.#sweep.unref();
    }
  }

  #forget(association: Association, flow: Flow): void {
    if (association.flows.get(flow.id) !== flow) return;
    association.flows.delete(flow.id);
    if (association.kind === 'ingress') {
      const source = flow as IngressFlow;
      association.bySource.delete(`${source.address}|${source.port}`);
    } else {
      (flow as EgressFlow).socket.close();
    }
    this.#flowCount--;
    this.#stats.flows--;
    if (this.#flowCount === 0 && this.#sweep) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  #expire(): void {
    const deadline = Date.now() - this.#limits.idleTimeoutMs;
    for (const association of [...this.#associations.values()]) {
      for (const flow of [...association.flows.values()]) {
        if (flow.lastActive > deadline) continue;
        this.#stats.flowsExpired++;
        this.#send(UdpFrameType.CLOSE, association.id, flow.id);
        this.#forget(association, flow);
      }
    }
  }

  /** One frame into the session, or a counted drop; never throws. */
  #send(type: number, association: number, flow: number, payload?: Buffer): void {
    const session = this.#session;
    const isData = type === UdpFrameType.DATA;
    if (session.closed) return;
    if (session.suspended) {
      if (isData) this.#stats.droppedSuspended++;
      return;
    }
    const size = 1 + varintLength(association) + varintLength(flow) + (payload?.length ?? 0);
    if (size > session.maxDatagramSize) {
      if (isData) this.#stats.droppedOversize++;
      return;
    }
    if (session.sendDatagram(encodeUdpFrame(type, association, flow, payload))) {
      if (isData) this.#stats.datagramsSent++;
    } else if (isData) {
      this.#stats.droppedQueueFull++;
    }
  }
}

/** Binds a UDP socket for an ingress (-L udp here, -R udp on the server); rejects with the errno code. */
export function bindUdp(host: string, port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    socket.once('error', (error) => {
      socket.close();
      reject(error);
    });
    socket.bind(port, host, () => {
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}
