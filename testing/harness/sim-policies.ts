// Helpers for the multipath-policy simulations: several client hosts (each with its own transport
// config, e.g. one `aggregate` session against a single-path competitor) sending to one server, and
// goodput sampled from the receiving application's byte counts.
import type { KeyPair } from '../../src/crypto/noise/index.js';
import { resolveTransportConfig } from '../../src/engine/config.js';
import { Endpoint } from '../../src/engine/endpoint.js';
import type { EngineConnection, TransportConfig } from '../../src/engine/types.js';
import { type SocketAddress, socketAddress, type Transmit } from '../../src/net/address.js';
import { EngineNode } from '../sim/engine-node.js';
import { keyPairFromRng } from '../sim/engine-run.js';
import type { SimNode, Simulator } from '../sim/network.js';
import { checkRun, PropertyMonitor } from '../sim/properties.js';
import type { Rng } from '../sim/rng.js';
import { Pattern, type SessionDriver, type WorkloadSpec } from '../sim/workload.js';

export interface CompetingClient {
  host: string;
  address: string;
  transport?: Partial<TransportConfig>;
  /** When the session starts (simulated ms, default 0). */
  startAt?: number;
}

export interface CompetingRun {
  violations: string[];
  clients: SessionDriver[];
  servers: SessionDriver[];
  /** Server-side driver of each client's session, in the order of `clients`. */
  serverOf: (client: number) => SessionDriver | undefined;
}

/**
 * Runs one session per client host against one server host until `until` (simulated ms),
 * calling `onTick` every `tickMs`. The properties are judged as in runEngineSessions, except that
 * sessions need not finish their workload by `until`.
 */
export function runCompeting(options: {
  sim: Simulator;
  rng: Rng;
  server: { host: string; address: string; transport?: Partial<TransportConfig> };
  clients: CompetingClient[];
  workload: WorkloadSpec;
  until: number;
  tickMs?: number;
  onTick?: (now: number, run: CompetingRun) => void;
}): CompetingRun {
  const { sim, rng } = options;
  const pattern = new Pattern(rng);
  const serverConfig = resolveTransportConfig(options.server.transport);
  const monitor = new PropertyMonitor({ client: serverConfig, server: serverConfig });
  const serverKey = keyPairFromRng(rng);
  const serverNode = new EngineNode({
    role: 'server',
    staticKey: serverKey,
    rng: rng.fork(),
    workload: options.workload,
    pattern,
    transport: serverConfig,
    monitor,
  });
  sim.attach(options.server.host, serverNode);
  serverNode.setLocalAddresses(sim.host(options.server.host).addresses(), 4433, sim.now);
  const remote = socketAddress(options.server.address, 4433);
  const clientNodes: EngineNode[] = [];
  for (const client of options.clients) {
    const node = new EngineNode({
      role: 'client',
      staticKey: keyPairFromRng(rng),
      rng: rng.fork(),
      workload: options.workload,
      pattern,
      transport: resolveTransportConfig(client.transport),
      monitor,
    });
    clientNodes.push(node);
    sim.attach(client.host, node);
    node.setLocalAddresses(sim.host(client.host).addresses(), 40000, sim.now);
    sim.at(client.startAt ?? 0, () => {
      node.connect(remote, socketAddress(client.address, 40000), serverKey.publicKey, sim.now);
      sim.wake(client.host);
    });
  }
  const run: CompetingRun = {
    violations: [],
    clients: [],
    servers: serverNode.drivers,
    serverOf: (i) => {
      const binding = run.clients[i]?.binding;
      return binding === undefined ? undefined : serverNode.drivers.find((d) => d.binding === binding);
    },
  };
  const refresh = () => {
    run.clients = clientNodes.map((n) => n.drivers[0]).filter((d) => d !== undefined);
  };
  const tick = options.tickMs ?? 100;
  const schedule = (at: number) => {
    if (at > options.until) return;
    sim.at(at, () => {
      refresh();
      options.onTick?.(sim.now, run);
      schedule(at + tick);
    });
  };
  schedule(tick);
  sim.runUntil(() => false, options.until);
  refresh();
  // Sessions still running at `until` are no hang here: only what went wrong on the way counts
  // (the monitor's checks, every driver's problems, and integrity of the transfers that finished).
  run.violations = checkRun({
    clients: run.clients,
    servers: run.servers,
    monitor,
    requireCompletion: false,
  }).filter((v) => !v.includes('neither complete nor closed'));
  return run;
}

/** Mbit/s of stream data a receiver read between two samples of its byte count. */
export function mbps(bytesFrom: number, bytesTo: number, fromMs: number, toMs: number): number {
  return ((bytesTo - bytesFrom) * 8) / 1e6 / ((toMs - fromMs) / 1000);
}

/**
 * A sans-I/O node for latency tests: the client sends a small message every `interval` ms, as a
 * datagram and as a fixed-size record on one stream, each stamped with its send time; the server
 * records each message's one-way latency (datagrams: on arrival; stream records: when they become
 * readable in order) and every datagram it sees twice.
 */
export class MessageNode implements SimNode {
  readonly endpoint: Endpoint;
  conn: EngineConnection | undefined;
  readonly datagramLatencies: number[] = [];
  readonly streamLatencies: number[] = [];
  duplicateDatagrams = 0;
  sent = 0;
  private readonly seen = new Set<number>();
  private stream: number | undefined;
  private nextAt: number | undefined;
  private pending = new Uint8Array(0);

  constructor(
    readonly role: 'client' | 'server',
    options: { staticKey: KeyPair; rng: Rng; transport?: Partial<TransportConfig> },
    private readonly message: { size: number; interval: number; count: number },
  ) {
    const rng = options.rng;
    this.endpoint = new Endpoint({
      staticKey: options.staticKey,
      random: (n) => rng.bytes(n),
      transport: options.transport,
      ...(role === 'server' && { server: { authorizedKeys: 'any', retry: 'never' } }),
    });
  }

  connect(remote: SocketAddress, local: SocketAddress, serverKey: Uint8Array, now: number): void {
    this.conn = this.endpoint.connect(remote, local, { serverKey }, now);
    this.process(now);
  }

  receive(data: Uint8Array, local: SocketAddress, remote: SocketAddress, now: number): void {
    this.endpoint.receive(data, local, remote, now);
    this.process(now);
  }

  pollTransmit(now: number): Transmit | undefined {
    return this.endpoint.pollTransmit(now);
  }

  nextDeadline(): number | undefined {
    const engine = this.endpoint.nextDeadline() ?? Number.POSITIVE_INFINITY;
    const own = this.nextAt ?? Number.POSITIVE_INFINITY;
    const at = Math.min(engine, own);
    return at === Number.POSITIVE_INFINITY ? undefined : at;
  }

  onTimeout(now: number): void {
    const engine = this.endpoint.nextDeadline();
    if (engine !== undefined && engine <= now) this.endpoint.onTimeout(now);
    if (this.nextAt !== undefined && now >= this.nextAt) this.send(now);
    this.process(now);
  }

  setLocalAddresses(addresses: readonly string[], now: number): void {
    this.endpoint.setLocalAddresses(
      addresses.map((a) => socketAddress(a, this.role === 'client' ? 40000 : 4433)),
      now,
    );
  }

  onAddressChange(): void {}

  private send(now: number): void {
    const conn = this.conn!;
    const { size, interval, count } = this.message;
    if (this.sent >= count) {
      this.nextAt = undefined;
      return;
    }
    const record = new Uint8Array(size);
    const view = new DataView(record.buffer);
    view.setUint32(0, this.sent);
    view.setFloat64(4, now);
    conn.sendDatagram(record);
    this.stream ??= conn.openStream(false);
    if (this.stream !== undefined) conn.writeStream(this.stream, record.slice());
    this.sent++;
    this.nextAt = now + interval;
  }

  private process(now: number): void {
    for (let e = this.endpoint.pollEndpointEvent(); e; e = this.endpoint.pollEndpointEvent()) {
      if (e.type === 'incoming') this.conn = e.connection;
    }
    for (const conn of this.endpoint.drainDirty()) {
      for (let e = conn.pollEvent(); e; e = conn.pollEvent()) {
        if (e.type === 'handshake-complete' && this.role === 'client') this.nextAt = now;
        else if (e.type === 'datagram') this.onDatagram(e.data, now);
        else if (e.type === 'stream-readable') this.onReadable(conn, e.streamId, now);
      }
    }
  }

  private onDatagram(data: Uint8Array, now: number): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const seq = view.getUint32(0);
    if (this.seen.has(seq)) {
      this.duplicateDatagrams++;
      return;
    }
    this.seen.add(seq);
    this.datagramLatencies.push(now - view.getFloat64(4));
  }

  private onReadable(conn: EngineConnection, id: number, now: number): void {
    for (;;) {
      const { data } = conn.readStream(id);
      if (!data) break;
      const joined = new Uint8Array(this.pending.length + data.length);
      joined.set(this.pending);
      joined.set(data, this.pending.length);
      let offset = 0;
      for (; joined.length - offset >= this.message.size; offset += this.message.size) {
        const view = new DataView(joined.buffer, joined.byteOffset + offset, this.message.size);
        this.streamLatencies.push(now - view.getFloat64(4));
      }
      this.pending = joined.slice(offset);
    }
  }
}

/**
 * Runs one client MessageNode against one server MessageNode until `until`. The client host's
 * first address dials the server host's first address.
 */
export function runMessages(options: {
  sim: Simulator;
  rng: Rng;
  client: string;
  server: string;
  transport?: Partial<TransportConfig>;
  message: { size: number; interval: number; count: number };
  until: number;
}): { client: MessageNode; server: MessageNode } {
  const { sim, rng } = options;
  const serverKey = keyPairFromRng(rng);
  const server = new MessageNode('server', { staticKey: serverKey, rng: rng.fork() }, options.message);
  const client = new MessageNode(
    'client',
    { staticKey: keyPairFromRng(rng), rng: rng.fork(), transport: options.transport },
    options.message,
  );
  sim.attach(options.server, server);
  sim.attach(options.client, client);
  const serverAddresses = sim.host(options.server).addresses();
  const clientAddresses = sim.host(options.client).addresses();
  server.setLocalAddresses(serverAddresses, sim.now);
  client.setLocalAddresses(clientAddresses, sim.now);
  sim.at(0, () => {
    client.connect(
      socketAddress(serverAddresses[0], 4433),
      socketAddress(clientAddresses[0], 40000),
      serverKey.publicKey,
      sim.now,
    );
    sim.wake(options.client);
  });
  sim.runUntil(() => false, options.until);
  return { client, server };
}
