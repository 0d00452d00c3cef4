/**
 * One call that runs real engine sessions over a simulated network: builds a client and a
 * server EngineNode (keys and randomness from one seeded Rng), starts `sessions` client
 * sessions, runs until every session is complete or closed (or the time limit), and
 * judges the run against the properties.
 */
import { type KeyPair, publicKeyFromPrivate } from '../../src/crypto/noise/index.js';
import { resolveTransportConfig } from '../../src/engine/config.js';
import type { ConnectionTestHooks } from '../../src/engine/connection/connection.js';
import type { ServerOptions } from '../../src/engine/endpoint.js';
import type { EarlyDataTicket, TransportConfig } from '../../src/engine/types.js';
import { socketAddress } from '../../src/net/address.js';
import { EngineNode } from './engine-node.js';
import { SimError } from './errors.js';
import type { LinkSpec, Simulator } from './network.js';
import { checkRun, PropertyMonitor } from './properties.js';
import type { Rng } from './rng.js';
import { type FaultSpec, scenario } from './scenario.js';
import { Pattern, type SessionDriver, validateWorkload, type WorkloadSpec } from './workload.js';

export interface EngineRunOptions {
  sim: Simulator;
  /** Workload randomness, keys and engine randomness all derive from it. */
  rng: Rng;
  client: { host: string; address: string; port?: number };
  server: { host: string; address: string; port?: number };
  workload: WorkloadSpec;
  /** Client sessions to open (default 1), `sessionInterval` ms apart (default 0). */
  sessions?: number;
  sessionInterval?: number;
  /** Transport config for both sides; `clientTransport` / `serverTransport` override per side. */
  transport?: Partial<TransportConfig>;
  clientTransport?: Partial<TransportConfig>;
  serverTransport?: Partial<TransportConfig>;
  serverOptions?: Partial<ServerOptions>;
  /**
   * 0-RTT: every session after the first reconnects with a ticket an earlier session received
   * (the oldest unused) and starts its workload in its first flight. A session whose start
   * comes before any ticket arrived is a scenario error (SimError): space them out.
   */
  earlyData?: boolean;
  /** Pin the server key (Noise IK, default) or not (XX). */
  pinServerKey?: boolean;
  testHooks?: { client?: ConnectionTestHooks; server?: ConnectionTestHooks };
  /** Absolute simulated ms by which every session must be complete or closed. */
  timeLimit: number;
  /** See RunOutcome.requireCompletion (default true). */
  requireCompletion?: boolean;
  /** Called once both nodes are attached, before any session starts (e.g. to schedule faults that watch sessions). */
  onNodes?: (nodes: { client: EngineNode; server: EngineNode }) => void;
}

export interface EngineRunResult {
  /** Every session completed its workload. */
  complete: boolean;
  violations: string[];
  /** Simulated time the run stopped at. */
  endTime: number;
  clients: SessionDriver[];
  servers: SessionDriver[];
  clientNode: EngineNode;
  serverNode: EngineNode;
  monitor: PropertyMonitor;
}

/** A deterministic X25519 key pair from the simulation's Rng. */
export function keyPairFromRng(rng: Rng): KeyPair {
  const privateKey = rng.bytes(32);
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

export function runEngineSessions(options: EngineRunOptions): EngineRunResult {
  const { sim, rng } = options;
  const workload = validateWorkload(options.workload);
  const clientConfig = resolveTransportConfig({ ...options.transport, ...options.clientTransport });
  const serverConfig = resolveTransportConfig({ ...options.transport, ...options.serverTransport });
  const monitor = new PropertyMonitor({ client: clientConfig, server: serverConfig });
  const pattern = new Pattern(rng);
  const serverKey = keyPairFromRng(rng);
  const clientNode = new EngineNode({
    role: 'client',
    staticKey: keyPairFromRng(rng),
    rng: rng.fork(),
    workload,
    pattern,
    transport: clientConfig,
    testHooks: options.testHooks?.client,
    monitor,
  });
  const serverNode = new EngineNode({
    role: 'server',
    staticKey: serverKey,
    rng: rng.fork(),
    workload,
    pattern,
    transport: serverConfig,
    server: options.serverOptions,
    testHooks: options.testHooks?.server,
    monitor,
  });
  sim.attach(options.client.host, clientNode);
  sim.attach(options.server.host, serverNode);
  clientNode.setLocalAddresses(
    sim.host(options.client.host).addresses(),
    options.client.port ?? 40000,
    sim.now,
  );
  serverNode.setLocalAddresses(
    sim.host(options.server.host).addresses(),
    options.server.port ?? 4433,
    sim.now,
  );
  options.onNodes?.({ client: clientNode, server: serverNode });

  const local = socketAddress(options.client.address, options.client.port ?? 40000);
  const remote = socketAddress(options.server.address, options.server.port ?? 4433);
  const sessions = options.sessions ?? 1;
  const interval = options.sessionInterval ?? 0;
  const pin = options.pinServerKey ?? true;
  let started = 0;
  for (let i = 0; i < sessions; i++) {
    sim.at(sim.now + i * interval, () => {
      let ticket: EarlyDataTicket | undefined;
      if (options.earlyData && i > 0) {
        ticket = clientNode.tickets.shift();
        if (ticket === undefined)
          throw new SimError(`session ${i} starts at ${sim.now} ms with no 0-RTT ticket yet`);
      }
      clientNode.connect(remote, local, pin ? serverKey.publicKey : undefined, sim.now, ticket);
      started++;
      sim.wake(options.client.host);
    });
  }

  const settled = (d: SessionDriver): boolean => d.complete || d.closed;
  const done = (): boolean =>
    started === sessions &&
    clientNode.drivers.every(settled) &&
    serverNode.drivers.every(settled) &&
    // Every client that completed has its server side complete too.
    serverNode.drivers.length >= clientNode.drivers.filter((d) => d.complete).length;
  // Checking the predicate after every event would cost O(sessions); check on a cheap signal.
  let lastChecked = -1;
  sim.runUntil(() => {
    if (sim.now === lastChecked) return false;
    lastChecked = sim.now;
    return done();
  }, options.timeLimit);
  const clients = clientNode.drivers;
  const servers = serverNode.drivers;
  const violations = checkRun({
    clients,
    servers,
    monitor,
    requireCompletion: options.requireCompletion ?? true,
  });
  return {
    complete: clients.length === sessions && [...clients, ...servers].every((d) => d.complete),
    violations,
    endTime: sim.now,
    clients,
    servers,
    clientNode,
    serverNode,
    monitor,
  };
}

export interface PairScenarioOptions {
  seed: number;
  /** Link of the client's interface and of the server's (both directions unless overridden). */
  clientLink?: LinkSpec;
  serverLink?: LinkSpec;
  ipv6?: boolean;
  faults?: FaultSpec[];
  trace?: boolean;
}

export const PAIR_CLIENT = { host: 'client', address: '192.0.2.10' };
export const PAIR_SERVER = { host: 'server', address: '203.0.113.5' };
export const PAIR_CLIENT_V6 = { host: 'client', address: '2001:db8:1::10' };
export const PAIR_SERVER_V6 = { host: 'server', address: '2001:db8:2::5' };

/** The two-host topology the named scenarios use: `client.eth` ↔ core ↔ `server.eth`. */
export function pairScenario(options: PairScenarioOptions): {
  sim: Simulator;
  client: { host: string; address: string };
  server: { host: string; address: string };
} {
  const client = options.ipv6 ? PAIR_CLIENT_V6 : PAIR_CLIENT;
  const server = options.ipv6 ? PAIR_SERVER_V6 : PAIR_SERVER;
  const sim = scenario({
    seed: options.seed,
    trace: options.trace ?? false,
    hosts: {
      client: { interfaces: { eth: [client.address] } },
      server: { interfaces: { eth: [server.address] } },
    },
    links: { 'client.eth': options.clientLink ?? {}, 'server.eth': options.serverLink ?? {} },
    faults: options.faults ?? [],
  });
  return { sim, client, server };
}
