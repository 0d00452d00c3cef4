/**
 * Middleboxes between a host's interfaces and the core: a NAT (endpoint-independent
 * mapping, RFC 4787) and a stateful UDP firewall. Both keep state per flow and expire it
 * lazily when consulted, so idle flows cost nothing.
 */
import { addressKey, type SocketAddress, socketAddress } from '../../src/net/address.js';
import type { Rng } from './rng.js';

export type NatFiltering = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';

export interface NatConfig {
  /** Public addresses; one is in use at a time, address rebinding moves to the next. */
  publicAddresses: string[];
  /** A mapping with no outbound traffic for this long (ms) is removed. */
  mappingTimeout: number;
  /** Which inbound sources a mapping admits (RFC 4787 §5). */
  filtering: NatFiltering;
  /** Inclusive range public ports are drawn from. */
  portMin: number;
  portMax: number;
  /** Forced rebinding period (ms); 0 = never. */
  rebindEvery: number;
  /** What a periodic rebinding changes. */
  rebindPort: boolean;
  rebindAddress: boolean;
}

export const DEFAULT_NAT: Readonly<Omit<NatConfig, 'publicAddresses'>> = Object.freeze({
  mappingTimeout: 30_000,
  filtering: 'endpoint-independent' as NatFiltering,
  portMin: 1024,
  portMax: 65535,
  rebindEvery: 0,
  rebindPort: true,
  rebindAddress: false,
});

export interface NatMapping {
  readonly internal: SocketAddress;
  external: SocketAddress;
  /** Last outbound use (ms). */
  lastUsed: number;
  /** Remote keys contacted through this mapping (for filtering); null when filtering is off. */
  readonly contacted: Set<string> | null;
}

export type NatInbound = NatMapping | 'nat-no-mapping' | 'nat-filtered';

export class Nat {
  private readonly byInternal = new Map<string, NatMapping>();
  private readonly byExternal = new Map<string, NatMapping>();
  private addressIndex = 0;
  rebindings = 0;

  constructor(
    readonly name: string,
    readonly config: NatConfig,
    private readonly rng: Rng,
  ) {}

  /** The public address in use now. */
  get publicAddress(): string {
    return this.config.publicAddresses[this.addressIndex];
  }

  /** Translates an outbound source, creating or refreshing its mapping. */
  outbound(source: SocketAddress, destination: SocketAddress, now: number): SocketAddress {
    const key = addressKey(source);
    let mapping = this.byInternal.get(key);
    if (mapping !== undefined && this.expired(mapping, now)) {
      this.remove(mapping);
      mapping = undefined;
    }
    if (mapping === undefined) {
      mapping = {
        internal: source,
        external: this.allocate(this.publicAddress),
        lastUsed: now,
        contacted: this.config.filtering === 'endpoint-independent' ? null : new Set(),
      };
      this.byInternal.set(key, mapping);
      this.byExternal.set(addressKey(mapping.external), mapping);
    }
    mapping.lastUsed = now;
    mapping.contacted?.add(this.filterKey(destination));
    return mapping.external;
  }

  /** Finds the mapping for an inbound datagram to `destination` (a public address) from `source`. */
  inbound(destination: SocketAddress, source: SocketAddress, now: number): NatInbound {
    const mapping = this.byExternal.get(addressKey(destination));
    if (mapping === undefined) return 'nat-no-mapping';
    if (this.expired(mapping, now)) {
      this.remove(mapping);
      return 'nat-no-mapping';
    }
    if (mapping.contacted !== null && !mapping.contacted.has(this.filterKey(source))) return 'nat-filtered';
    return mapping;
  }

  /**
   * Forced rebinding: every live mapping gets a new public port and/or moves to the next
   * public address. Datagrams to the old public endpoint find no mapping.
   */
  rebind(now: number, changePort: boolean, changeAddress: boolean): void {
    this.rebindings++;
    if (changeAddress) this.addressIndex = (this.addressIndex + 1) % this.config.publicAddresses.length;
    const live = [...this.byInternal.values()];
    this.byExternal.clear();
    for (const mapping of live) {
      if (this.expired(mapping, now)) {
        this.byInternal.delete(addressKey(mapping.internal));
        continue;
      }
      const address = changeAddress ? this.publicAddress : mapping.external.address;
      mapping.external = changePort
        ? this.allocate(address, mapping.external.port)
        : socketAddress(address, mapping.external.port);
      this.byExternal.set(addressKey(mapping.external), mapping);
    }
  }

  /** Live mappings (for tests and diagnostics). */
  mappings(now: number): NatMapping[] {
    return [...this.byInternal.values()].filter((m) => !this.expired(m, now));
  }

  private expired(mapping: NatMapping, now: number): boolean {
    return now - mapping.lastUsed >= this.config.mappingTimeout;
  }

  private remove(mapping: NatMapping): void {
    this.byInternal.delete(addressKey(mapping.internal));
    const externalKey = addressKey(mapping.external);
    if (this.byExternal.get(externalKey) === mapping) this.byExternal.delete(externalKey);
  }

  private filterKey(remote: SocketAddress): string {
    return this.config.filtering === 'address-dependent' ? remote.address : addressKey(remote);
  }

  /** A random free public port on `address`, different from `avoid`. */
  private allocate(address: string, avoid = -1): SocketAddress {
    const { portMin, portMax } = this.config;
    const span = portMax - portMin + 1;
    for (let attempt = 0; attempt < 64; attempt++) {
      const port = portMin + this.rng.int(span);
      if (port === avoid) continue;
      const candidate = socketAddress(address, port);
      if (!this.byExternal.has(addressKey(candidate))) return candidate;
    }
    // Crowded range: scan deterministically from a random start.
    const start = this.rng.int(span);
    for (let i = 0; i < span; i++) {
      const port = portMin + ((start + i) % span);
      const candidate = socketAddress(address, port);
      if (port !== avoid && !this.byExternal.has(addressKey(candidate))) return candidate;
    }
    throw new RangeError(`NAT ${this.name}: no free public port on ${address}`);
  }
}

export interface FirewallConfig {
  /** A flow with no traffic for this long (ms) is forgotten; inbound is then dropped. */
  timeout: number;
}

export const DEFAULT_FIREWALL: Readonly<FirewallConfig> = Object.freeze({ timeout: 30_000 });

/**
 * Stateful UDP firewall: inbound datagrams pass only on a 5-tuple that saw outbound
 * traffic within `timeout`. Traffic either way refreshes an established flow.
 */
export class Firewall {
  private readonly flows = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly config: FirewallConfig,
  ) {}

  outbound(local: SocketAddress, remote: SocketAddress, now: number): void {
    this.flows.set(flowKey(local, remote), now);
  }

  /** true (and refreshes the flow) when an inbound datagram from `remote` to `local` may pass. */
  admits(local: SocketAddress, remote: SocketAddress, now: number): boolean {
    const key = flowKey(local, remote);
    const last = this.flows.get(key);
    if (last === undefined) return false;
    if (now - last >= this.config.timeout) {
      this.flows.delete(key);
      return false;
    }
    this.flows.set(key, now);
    return true;
  }
}

function flowKey(local: SocketAddress, remote: SocketAddress): string {
  return `${addressKey(local)}|${addressKey(remote)}`;
}
