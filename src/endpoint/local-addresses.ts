/**
 * "All interfaces" for a UdpEndpoint: one socket per usable local address (interfaces.ts), all
 * on one port where possible, kept in step with the host's addresses, and the engine told the
 * set each time (Endpoint.setLocalAddresses), so every session advertises it to its peer
 * (ADD_ADDRESS / REMOVE_ADDRESS) and moves off addresses that vanished.
 *
 * Why one socket per address rather than one wildcard socket: node:dgram cannot tell on which
 * local address a datagram arrived nor choose the source of a send (no IP_PKTINFO), and the
 * engine's paths are named by their local address. (A pktinfo-capable native back-end could
 * serve all addresses from one wildcard socket; see docs/multihoming.md.)
 */

import type { EngineEndpoint } from '../engine/types.js';
import { AddressInUseError } from '../errors/errors.js';
import type { SocketAddress } from '../net/address.js';
import { DEFAULT_POLL_INTERVAL_MS, type InterfaceAddress, InterfaceWatcher } from './interfaces.js';
import {
  type BindAddress,
  UdpEndpoint,
  type UdpEndpointHandlers,
  type UdpEndpointOptions,
} from './udp-endpoint.js';

export interface AddressDiscoveryOptions {
  /** How often the interface list is polled, in ms (default 250; the poller may go slower, never faster). */
  pollInterval?: number;
  /** Only these families (default both). */
  families?: ReadonlyArray<'IPv4' | 'IPv6'>;
}

/** Port-0 binds whose first port is taken on another address are retried this many times. */
const PORT_TRIES = 8;

export interface DiscoveryStats {
  /** Sockets bound for addresses that appeared after the endpoint started. */
  socketsAdded: number;
  /** Sockets closed because their address vanished. */
  socketsRemoved: number;
  /** Addresses that appeared but could not be bound (e.g. the port is taken there), by error code. */
  bindFailures: Record<string, number>;
  /** Updates that threw (the next change is still applied). */
  syncFailures: number;
}

/**
 * Binds `endpoint` sockets on every usable address (or undefined when the host has none of
 * the wanted families) and keeps them in step until the endpoint is destroyed.
 */
export async function bindAllInterfaces(
  engine: EngineEndpoint,
  port: number,
  handlers: UdpEndpointHandlers,
  endpointOptions: UdpEndpointOptions,
  options: AddressDiscoveryOptions = {},
  watcher: InterfaceWatcher = InterfaceWatcher.shared,
): Promise<{ endpoint: UdpEndpoint; stats: DiscoveryStats } | undefined> {
  const families = new Set(options.families ?? ['IPv4', 'IPv6']);
  const wanted = (list: readonly InterfaceAddress[]) => list.filter((a) => families.has(a.family));
  const initial = wanted(watcher.addresses());
  if (initial.length === 0) return undefined;
  const endpoint = await bindSamePort(engine, initial, port, handlers, endpointOptions);
  const stats: DiscoveryStats = { socketsAdded: 0, socketsRemoved: 0, bindFailures: {}, syncFailures: 0 };
  // The port every socket shares; a newcomer whose port is taken elsewhere gets a free one.
  const sharedPort = endpoint.localAddresses[0]!.port;
  let updating = Promise.resolve();
  const unsubscribe = watcher.subscribe(options.pollInterval ?? DEFAULT_POLL_INTERVAL_MS, (all) => {
    // One update at a time, in order; a failed one is counted and never blocks the next.
    updating = updating
      .then(() => sync(endpoint, wanted(all), sharedPort, stats))
      .catch(() => {
        stats.syncFailures++;
      });
  });
  endpoint.onDestroy(unsubscribe);
  return { endpoint, stats };
}

async function bindSamePort(
  engine: EngineEndpoint,
  addresses: readonly InterfaceAddress[],
  port: number,
  handlers: UdpEndpointHandlers,
  endpointOptions: UdpEndpointOptions,
): Promise<UdpEndpoint> {
  const binds: BindAddress[] = addresses.map((a) => ({ host: a.address, port }));
  for (let tries = 1; ; tries++) {
    try {
      return await UdpEndpoint.bind(engine, binds, handlers, endpointOptions);
    } catch (error) {
      // Port 0: the port picked on the first address may be taken on another; pick again.
      if (!(error instanceof AddressInUseError) || port !== 0 || tries >= PORT_TRIES) throw error;
    }
  }
}

async function sync(
  endpoint: UdpEndpoint,
  addresses: readonly InterfaceAddress[],
  port: number,
  stats: DiscoveryStats,
): Promise<void> {
  if (endpoint.isClosed) return;
  const present = new Set(addresses.map((a) => a.address));
  const bound = new Map<string, SocketAddress>(endpoint.localAddresses.map((l) => [l.address, l]));
  let changed = false;
  for (const [address, local] of bound) {
    if (present.has(address)) continue;
    if (endpoint.removeSocket(local)) {
      stats.socketsRemoved++;
      changed = true;
    }
  }
  for (const { address } of addresses) {
    if (bound.has(address) || endpoint.isClosed) continue;
    const local = await bindNew(endpoint, address, port, stats);
    if (local) changed = true;
  }
  if (changed && !endpoint.isClosed) endpoint.announceLocalAddresses();
}

async function bindNew(
  endpoint: UdpEndpoint,
  address: string,
  port: number,
  stats: DiscoveryStats,
): Promise<SocketAddress | undefined> {
  for (const tryPort of [port, 0]) {
    try {
      const local = await endpoint.addSocket({ host: address, port: tryPort });
      stats.socketsAdded++;
      return local;
    } catch (error) {
      const code =
        error instanceof AddressInUseError
          ? 'EADDRINUSE'
          : ((error as NodeJS.ErrnoException).code ?? 'UNKNOWN');
      if (code === 'EADDRINUSE' && tryPort !== 0) continue;
      // E.g. EADDRNOTAVAIL: the address went away again, or is not ready; the next poll retries.
      stats.bindFailures[code] = (stats.bindFailures[code] ?? 0) + 1;
      return undefined;
    }
  }
  return undefined;
}
