/**
 * Attaches a real sans-I/O engine Endpoint to a simulated host. The node forwards the
 * simulator's four calls to the endpoint, dispatches connection events to one
 * SessionDriver (workload) per connection, merges the drivers' timers into its deadline,
 * and lets a PropertyMonitor look at every session after each input.
 */

import type { KeyPair } from '../../src/crypto/noise/index.js';
import type { Connection, ConnectionTestHooks } from '../../src/engine/connection/connection.js';
import { Endpoint, type ServerOptions } from '../../src/engine/endpoint.js';
import type { EarlyDataTicket, EngineConnection, TransportConfig } from '../../src/engine/types.js';
import { type SocketAddress, socketAddress, type Transmit } from '../../src/net/address.js';
import type { SimNode } from './network.js';
import type { PropertyMonitor } from './properties.js';
import type { Rng } from './rng.js';
import { type Pattern, SessionDriver, type WorkloadSpec } from './workload.js';

export interface EngineNodeOptions {
  role: 'client' | 'server';
  staticKey: KeyPair;
  /** Seeds the endpoint's randomness (CIDs, ephemerals, tokens): a seed replays bit for bit. */
  rng: Rng;
  workload: WorkloadSpec;
  pattern: Pattern;
  transport?: Partial<TransportConfig>;
  server?: Partial<ServerOptions>;
  testHooks?: ConnectionTestHooks;
  monitor?: PropertyMonitor;
}

export class EngineNode implements SimNode {
  readonly endpoint: Endpoint;
  readonly drivers: SessionDriver[] = [];
  /** Client: 0-RTT tickets the server gave its sessions, oldest first, until `connect` uses one. */
  readonly tickets: EarlyDataTicket[] = [];
  private readonly byConnection = new Map<EngineConnection, SessionDriver>();
  private readonly options: EngineNodeOptions;
  private localAddresses: string[] = [];
  private localPort = 0;

  constructor(options: EngineNodeOptions) {
    this.options = options;
    const rng = options.rng;
    this.endpoint = new Endpoint({
      staticKey: options.staticKey,
      random: (n) => rng.bytes(n),
      transport: options.transport,
      testHooks: options.testHooks,
      ...(options.role === 'server' && {
        server: { authorizedKeys: 'any', retry: 'never', ...options.server },
      }),
    });
  }

  /**
   * Client: starts a session now (call `sim.wake(host)` afterwards when inside `sim.at`). With a
   * `ticket` (from `tickets`) the workload starts at once: its first bytes ride in the first
   * flight as 0-RTT data.
   */
  connect(
    remote: SocketAddress,
    local: SocketAddress,
    serverKey: Uint8Array | undefined,
    now: number,
    ticket?: EarlyDataTicket,
  ): SessionDriver {
    const conn = this.endpoint.connect(remote, local, { serverKey, earlyData: ticket }, now);
    const driver = this.track(conn);
    if (ticket !== undefined) driver.startEarly(now);
    this.process(now);
    return driver;
  }

  receive(data: Uint8Array, local: SocketAddress, remote: SocketAddress, now: number): void {
    this.endpoint.receive(data, local, remote, now);
    this.process(now);
  }

  pollTransmit(now: number): Transmit | undefined {
    for (;;) {
      const t = this.endpoint.pollTransmit(now);
      if (t !== undefined) return t;
      // Events raised while packetizing (e.g. a key update) may make the workload write more.
      if (!this.process(now)) return undefined;
    }
  }

  nextDeadline(): number | undefined {
    let deadline = this.endpoint.nextDeadline() ?? Number.POSITIVE_INFINITY;
    for (const driver of this.drivers) {
      const d = driver.deadline();
      if (d !== undefined && d < deadline) deadline = d;
    }
    return deadline === Number.POSITIVE_INFINITY ? undefined : deadline;
  }

  onTimeout(now: number): void {
    const engineDeadline = this.endpoint.nextDeadline();
    if (engineDeadline !== undefined && engineDeadline <= now) this.endpoint.onTimeout(now);
    this.process(now);
    for (const driver of this.drivers) driver.onTimer(now);
    this.process(now);
  }

  /** The host's addresses (IPs) and the port the endpoint uses on each, as the shell would report them. */
  setLocalAddresses(addresses: readonly string[], port: number, now: number): void {
    this.localPort = port;
    this.localAddresses = [...addresses];
    this.endpoint.setLocalAddresses(
      this.localAddresses.map((a) => socketAddress(a, port)),
      now,
    );
    this.process(now);
  }

  onAddressChange(added: readonly string[], removed: readonly string[], now: number): void {
    const next = this.localAddresses.filter((a) => !removed.includes(a));
    for (const a of added) if (!next.includes(a)) next.push(a);
    this.setLocalAddresses(next, this.localPort, now);
  }

  onNetworkChange(now: number): void {
    this.endpoint.networkChanged?.(now);
    this.process(now);
  }

  private track(conn: EngineConnection): SessionDriver {
    const driver = new SessionDriver(this.options.role, conn, this.options.workload, this.options.pattern);
    this.drivers.push(driver);
    this.byConnection.set(conn, driver);
    this.options.monitor?.watch(conn as Connection, driver);
    return driver;
  }

  /** Delivers pending endpoint and connection events; true if there were any. */
  private process(now: number): boolean {
    let any = false;
    for (let e = this.endpoint.pollEndpointEvent(); e; e = this.endpoint.pollEndpointEvent()) {
      any = true;
      if (e.type === 'incoming') this.track(e.connection);
    }
    for (const conn of this.endpoint.drainDirty()) {
      const driver = this.byConnection.get(conn);
      for (let e = conn.pollEvent(); e; e = conn.pollEvent()) {
        any = true;
        if (e.type === 'ticket') this.tickets.push(e.ticket);
        driver?.handle(e, now);
      }
    }
    this.options.monitor?.afterInput(this, now);
    return any;
  }
}
