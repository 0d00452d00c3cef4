/**
 * The deterministic network simulator: a virtual clock, one event queue, one PRNG, and a
 * topology of hosts → interfaces → access links → core. It drives unmodified sans-I/O
 * nodes (the engine's `EngineEndpoint`, or small test nodes) through their four-method
 * surface. Nothing here reads the wall clock or Math.random, so a seed fixes the trace.
 *
 * A datagram from host A to address B: A's node returns a Transmit → the source address
 * must be on one of A's interfaces → that interface's `out` link direction → core
 * (firewall and NAT of the source interface, routing by destination address, NAT and
 * firewall of the destination interface) → the destination interface's `in` direction →
 * delivered if the address is still on that interface.
 */
import { isIP } from 'node:net';
import type { EngineEndpoint } from '../../src/engine/types.js';
import { addressKey, type SocketAddress, type Transmit } from '../../src/net/address.js';
import { SimError } from './errors.js';
import { EventQueue, type Scheduled } from './event-queue.js';
import {
  DEFAULT_LINK,
  type DirectionSelector,
  Link,
  type LinkDirection,
  type LinkParams,
  rateAt,
  validateLinkParams,
} from './link.js';
import {
  DEFAULT_FIREWALL,
  DEFAULT_NAT,
  Firewall,
  type FirewallConfig,
  Nat,
  type NatConfig,
} from './middlebox.js';
import { type ProfileSpec, profileLinks } from './profiles.js';
import { Rng } from './rng.js';
import { payloadHash, Trace, type TraceOptions } from './trace.js';

/** What the simulator drives: the engine endpoint's sans-I/O surface, plus an optional hook. */
export interface SimNode
  extends Pick<EngineEndpoint, 'receive' | 'pollTransmit' | 'nextDeadline' | 'onTimeout'> {
  /** Called when addresses (IPs, no ports) appear on or vanish from the host's interfaces. */
  onAddressChange?(added: readonly string[], removed: readonly string[], now: number): void;
  /** Called when the host's OS reports a link or route change (netlink on Linux). */
  onNetworkChange?(now: number): void;
}

/**
 * Link parameters for both directions, with optional per-direction overrides, over an optional
 * named profile (testing/sim/profiles.ts): defaults < profile < both directions < `out` / `in`.
 */
export type LinkSpec = Partial<LinkParams> & {
  out?: Partial<LinkParams>;
  in?: Partial<LinkParams>;
  profile?: ProfileSpec;
};

/** The full parameters of both directions of a link spec (`path` names it in errors). */
export function resolveLinkSpec(link: LinkSpec, path: string): { out: LinkParams; in: LinkParams } {
  const { out, in: inbound, profile, ...both } = link;
  const common = validateLinkParams(both, path);
  const base = profile === undefined ? { out: {}, in: {} } : profileLinks(profile, `${path}.profile`);
  return {
    out: { ...DEFAULT_LINK, ...base.out, ...common, ...validateLinkParams(out ?? {}, `${path}.out`) },
    in: { ...DEFAULT_LINK, ...base.in, ...common, ...validateLinkParams(inbound ?? {}, `${path}.in`) },
  };
}

export type DropReason =
  | 'no-such-source'
  | 'link-down'
  | 'blackhole'
  | 'mtu'
  | 'queue-full'
  | 'loss'
  | 'burst-loss'
  | 'no-route'
  | 'nat-no-mapping'
  | 'nat-filtered'
  | 'firewall'
  | 'no-such-destination'
  | 'no-node';

export interface SimStats {
  /** Datagrams nodes handed to the network. */
  sent: number;
  /** Datagrams handed to a node's `receive` (duplicates count twice). */
  delivered: number;
  dropped: number;
  drops: Partial<Record<DropReason, number>>;
  duplicated: number;
  corrupted: number;
  reordered: number;
  /** Datagrams put on a link by `inject` (not counted in `sent`). */
  injected: number;
  /** Events dispatched (packets, timers, scheduled calls). */
  events: number;
}

/** A copy of a datagram as a host handed it to the network (see `Simulator.capture`). */
export interface CapturedDatagram {
  /** Simulated ms it was sent. */
  at: number;
  host: string;
  src: SocketAddress;
  dst: SocketAddress;
  data: Uint8Array;
}

export interface SimulatorOptions {
  seed: number;
  /** Record a datagram trace (`sim.trace`); off by default because it costs time. */
  trace?: boolean | TraceOptions;
}

export class SimInterface {
  readonly addresses = new Set<string>();
  nat: Nat | null = null;
  firewall: Firewall | null = null;

  constructor(
    /** Full name, `host.interface`. */
    readonly name: string,
    readonly host: SimHost,
    readonly link: Link,
  ) {}
}

export class SimHost {
  node: SimNode | null = null;
  /** By short interface name. */
  readonly interfaces = new Map<string, SimInterface>();
  /** Address → interface holding it. */
  readonly addressIndex = new Map<string, SimInterface>();
  sent = 0;
  received = 0;
  /**
   * A paused host (a local stall: GC, a long synchronous batch, a starved CPU) runs nothing
   * until this time; datagrams arriving meanwhile wait in `held`, as in a socket buffer.
   */
  pausedUntil = Number.NEGATIVE_INFINITY;
  readonly held: { data: Uint8Array; local: SocketAddress; remote: SocketAddress }[] = [];
  /** Generation of the one live timer event; older timer events are ignored. */
  timerGen = 0;
  /** Time of the live timer event (Infinity when none). */
  timerAt = Number.POSITIVE_INFINITY;
  private spinTime = -1;
  private spinCount = 0;

  constructor(readonly name: string) {}

  addresses(): string[] {
    return [...this.addressIndex.keys()];
  }

  /** Guards against a node whose deadline stays at `now` after onTimeout (it would spin forever). */
  noteTimeout(now: number): void {
    if (now !== this.spinTime) {
      this.spinTime = now;
      this.spinCount = 0;
    } else if (++this.spinCount > 10_000) {
      throw new SimError(`host ${this.name}: node deadline stays at ${now} after onTimeout (timer livelock)`);
    }
  }
}

const K_CALL = 0;
const K_WAKE = 1;
const K_TIMER = 2;
/** A datagram reaching the core at the end of its source interface's `out` direction. */
const K_CORE = 3;
/** A datagram reaching its destination interface at the end of the `in` direction. */
const K_DELIVER = 4;

/** One queue entry; packets reuse their entry from send to delivery. Pooled. */
class SimEvent implements Scheduled {
  time = 0;
  seq = 0;
  kind = 0;
  id = 0;
  gen = 0;
  epoch = 0;
  host: SimHost | null = null;
  iface: SimInterface | null = null;
  data: Uint8Array | null = null;
  src: SocketAddress | null = null;
  dst: SocketAddress | null = null;
  fn: (() => void) | null = null;
}

const POOL_LIMIT = 4096;

function corruptCopy(data: Uint8Array, rng: Rng): Uint8Array {
  const copy = data.slice();
  if (copy.length === 0) return copy;
  const flips = 1 + rng.int(3);
  for (let i = 0; i < flips; i++) {
    const bit = rng.int(copy.length * 8);
    copy[bit >>> 3] ^= 1 << (bit & 7);
  }
  return copy;
}

export class Simulator {
  /** Virtual time, ms. */
  now = 0;
  readonly rng: Rng;
  readonly trace: Trace | undefined;
  readonly stats: SimStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    drops: {},
    duplicated: 0,
    corrupted: 0,
    reordered: 0,
    injected: 0,
    events: 0,
  };
  private readonly queue = new EventQueue<SimEvent>();
  private readonly pool: SimEvent[] = [];
  private readonly hosts = new Map<string, SimHost>();
  private readonly ifaces = new Map<string, SimInterface>();
  private readonly nats = new Map<string, Nat>();
  /** Private address → interface, per NAT (addresses behind a NAT are not routable from the core). */
  private readonly natMembers = new Map<Nat, Map<string, SimInterface>>();
  private readonly firewalls = new Map<string, Firewall>();
  /** Globally routable address → interface, or the NAT owning that public address. */
  private readonly routes = new Map<string, SimInterface | Nat>();
  private packetIds = 0;
  private readonly captures: Array<{
    filter: (d: CapturedDatagram) => boolean;
    into: CapturedDatagram[];
  }> = [];

  constructor(options: SimulatorOptions) {
    this.rng = new Rng(options.seed);
    if (options.trace) this.trace = new Trace(options.trace === true ? {} : options.trace);
  }

  // ---- topology ----------------------------------------------------------

  addHost(name: string): SimHost {
    if (!/^[A-Za-z0-9_-]+$/.test(name))
      throw new SimError(`host name ${JSON.stringify(name)} must match [A-Za-z0-9_-]+`);
    if (this.hosts.has(name)) throw new SimError(`host ${name} already exists`);
    const host = new SimHost(name);
    this.hosts.set(name, host);
    return host;
  }

  addInterface(
    hostName: string,
    name: string,
    addresses: readonly string[] = [],
    link: LinkSpec = {},
  ): SimInterface {
    const host = this.host(hostName);
    if (!/^[A-Za-z0-9_-]+$/.test(name))
      throw new SimError(`interface name ${JSON.stringify(name)} must match [A-Za-z0-9_-]+`);
    if (host.interfaces.has(name)) throw new SimError(`interface ${hostName}.${name} already exists`);
    const fullName = `${hostName}.${name}`;
    const params = resolveLinkSpec(link, `links["${fullName}"]`);
    const iface = new SimInterface(fullName, host, new Link(fullName, params.out, params.in));
    host.interfaces.set(name, iface);
    this.ifaces.set(fullName, iface);
    for (const address of addresses) this.bindAddress(iface, address);
    return iface;
  }

  /**
   * Puts a NAT in front of interfaces (`covers`: host names for all their interfaces, or
   * `host.interface`). Their addresses become private; the NAT's public addresses route to it.
   */
  addNat(
    name: string,
    config: Partial<NatConfig> & { publicAddresses: string[] },
    covers: readonly string[],
  ): Nat {
    if (this.nats.has(name)) throw new SimError(`NAT ${name} already exists`);
    const full: NatConfig = { ...DEFAULT_NAT, ...config };
    if (full.publicAddresses.length === 0)
      throw new SimError(`NAT ${name} needs at least one public address`);
    const members = this.resolveCovers(covers, `NAT ${name}`);
    for (const address of full.publicAddresses) {
      if (isIP(address) === 0)
        throw new SimError(`NAT ${name}: ${JSON.stringify(address)} is not an IP address`);
      if (this.routes.has(address))
        throw new SimError(`NAT ${name}: public address ${address} is already in use`);
    }
    const nat = new Nat(name, full, this.rng);
    this.nats.set(name, nat);
    const scope = new Map<string, SimInterface>();
    this.natMembers.set(nat, scope);
    for (const address of full.publicAddresses) this.routes.set(address, nat);
    for (const iface of members) {
      if (iface.nat !== null) throw new SimError(`${iface.name} is already behind NAT ${iface.nat.name}`);
      iface.nat = nat;
      for (const address of iface.addresses) {
        if (scope.has(address)) throw new SimError(`NAT ${name}: private address ${address} is used twice`);
        this.routes.delete(address);
        scope.set(address, iface);
      }
    }
    if (full.rebindEvery > 0) this.scheduleRebinding(nat, full.rebindEvery);
    return nat;
  }

  /** Puts a stateful firewall in front of interfaces (same `covers` syntax as addNat). */
  addFirewall(name: string, config: Partial<FirewallConfig>, covers: readonly string[]): Firewall {
    if (this.firewalls.has(name)) throw new SimError(`firewall ${name} already exists`);
    const members = this.resolveCovers(covers, `firewall ${name}`);
    const firewall = new Firewall(name, { ...DEFAULT_FIREWALL, ...config });
    this.firewalls.set(name, firewall);
    for (const iface of members) {
      if (iface.firewall !== null)
        throw new SimError(`${iface.name} already has firewall ${iface.firewall.name}`);
      iface.firewall = firewall;
    }
    return firewall;
  }

  /** Configures an address during setup: no trace line and no node notification (see addAddress). */
  assignAddress(ifaceName: string, address: string): void {
    this.bindAddress(this.interface(ifaceName), address);
  }

  /** Runs `node` on the host; it is polled for datagrams and deadlines at the current time. */
  attach(hostName: string, node: SimNode): SimHost {
    const host = this.host(hostName);
    if (host.node !== null) throw new SimError(`host ${hostName} already runs a node`);
    host.node = node;
    const ev = this.event(K_WAKE, this.now);
    ev.host = host;
    this.queue.push(ev);
    return host;
  }

  host(name: string): SimHost {
    const host = this.hosts.get(name);
    if (host === undefined) throw new SimError(`no host ${JSON.stringify(name)}`);
    return host;
  }

  /** An interface by full name, `host.interface`. */
  interface(name: string): SimInterface {
    const iface = this.ifaces.get(name);
    if (iface === undefined)
      throw new SimError(`no interface ${JSON.stringify(name)} (expected host.interface)`);
    return iface;
  }

  nat(name: string): Nat {
    const nat = this.nats.get(name);
    if (nat === undefined) throw new SimError(`no NAT ${JSON.stringify(name)}`);
    return nat;
  }

  firewall(name: string): Firewall {
    const firewall = this.firewalls.get(name);
    if (firewall === undefined) throw new SimError(`no firewall ${JSON.stringify(name)}`);
    return firewall;
  }

  hostNames(): string[] {
    return [...this.hosts.keys()];
  }

  interfaceNames(): string[] {
    return [...this.ifaces.keys()];
  }

  // ---- faults (each also usable at a time through `at`) -----------------

  /** Takes the interface's link down: both directions drop, and packets on it are lost. */
  linkDown(ifaceName: string): void {
    const link = this.interface(ifaceName).link;
    this.traceFault(`down ${ifaceName}`);
    if (!link.up) return;
    link.up = false;
    link.epoch++;
    for (const dir of link.directions('both')) {
      dir.busyUntil = this.now;
      dir.lastArrival = this.now;
      dir.held.expire(Number.POSITIVE_INFINITY);
    }
  }

  linkUp(ifaceName: string): void {
    this.traceFault(`up ${ifaceName}`);
    this.interface(ifaceName).link.up = true;
  }

  /** Silently drops everything entering the link in `direction` (packets already on it still arrive). */
  blackhole(ifaceName: string, direction: DirectionSelector = 'both', on = true): void {
    this.traceFault(`${on ? 'blackhole' : 'heal'} ${ifaceName} ${direction}`);
    for (const dir of this.interface(ifaceName).link.directions(direction)) dir.blackholed = on;
  }

  /** Changes link parameters from now on (e.g. `{ loss: 0.3 }`). */
  setLink(ifaceName: string, params: Partial<LinkParams>, direction: DirectionSelector = 'both'): void {
    const checked = validateLinkParams(params, `setLink("${ifaceName}")`);
    this.traceFault(`set ${ifaceName} ${direction} ${JSON.stringify(checked)}`);
    for (const dir of this.interface(ifaceName).link.directions(direction)) {
      dir.params = { ...dir.params, ...checked };
      if (dir.params.burstLoss === null) dir.inBurst = false;
      if ('burstLoss' in checked) dir.burstStateEnds = Number.NaN;
    }
  }

  addAddress(ifaceName: string, address: string): void {
    const iface = this.interface(ifaceName);
    this.traceFault(`add-address ${ifaceName} ${address}`);
    this.bindAddress(iface, address);
    this.notifyAddressChange(iface.host, [address], []);
  }

  /**
   * The host's OS reports a link or route change (as a netlink notification would), whatever
   * the links did: its node is told, nothing else changes. Separate from linkUp because most
   * returns the host cannot see (a router upstream heals).
   */
  notifyNetworkChange(hostName: string): void {
    const host = this.host(hostName);
    this.traceFault(`notify ${hostName}`);
    if (host.node === null) return;
    host.node.onNetworkChange?.(this.now);
    this.drain(host);
  }

  /** Removes an address: later sends from it and datagrams still heading to it are dropped. */
  removeAddress(ifaceName: string, address: string): void {
    const iface = this.interface(ifaceName);
    if (!iface.addresses.has(address)) throw new SimError(`${ifaceName} has no address ${address}`);
    this.traceFault(`remove-address ${ifaceName} ${address}`);
    iface.addresses.delete(address);
    iface.host.addressIndex.delete(address);
    if (iface.nat !== null) this.natMembers.get(iface.nat)?.delete(address);
    else this.routes.delete(address);
    this.notifyAddressChange(iface.host, [], [address]);
  }

  /**
   * Stalls a host for `duration` ms: its node gets no timer, datagram or wake-up until then
   * (arriving datagrams queue up, none is dropped). On resuming, like Node's event loop after
   * a blocked callback, it first runs its overdue timer (with the late clock), then receives
   * everything queued, in arrival order, then sends.
   */
  pause(hostName: string, duration: number): void {
    const host = this.host(hostName);
    if (!(duration >= 0)) throw new SimError(`pause duration must be >= 0 ms, got ${duration}`);
    this.traceFault(`pause ${hostName} ${duration}`);
    const until = Math.max(host.pausedUntil, this.now + duration);
    host.pausedUntil = until;
    this.at(until, () => this.resume(host, until));
  }

  private resume(host: SimHost, until: number): void {
    if (host.pausedUntil !== until) return; // extended by a later pause
    host.pausedUntil = Number.NEGATIVE_INFINITY;
    const node = host.node;
    if (node === null) return;
    host.timerAt = Number.POSITIVE_INFINITY;
    host.timerGen++;
    const deadline = node.nextDeadline();
    if (deadline !== undefined && deadline <= this.now) {
      host.noteTimeout(this.now);
      node.onTimeout(this.now);
    }
    const held = host.held.splice(0);
    for (const d of held) node.receive(d.data, d.local, d.remote, this.now);
    this.drain(host);
  }

  /** Forces the NAT to rebind every mapping to a new public port and/or address. */
  rebind(natName: string, change: { port?: boolean; address?: boolean } = {}): void {
    const nat = this.nat(natName);
    const port = change.port ?? true;
    const address = change.address ?? false;
    this.traceFault(`rebind ${natName}${port ? ' port' : ''}${address ? ' address' : ''}`);
    nat.rebind(this.now, port, address);
  }

  // ---- capture and replay (an on-path attacker) ---------------------------

  /**
   * Keeps a copy of every datagram a host sends from now on that `filter` accepts (before its
   * link: a datagram lost on the way is captured too). Returns the list it fills, in send order.
   */
  capture(filter: (d: CapturedDatagram) => boolean = () => true): CapturedDatagram[] {
    const into: CapturedDatagram[] = [];
    this.captures.push({ filter, into });
    return into;
  }

  /**
   * Puts a copy of `datagram` on `ifaceName`'s outgoing link now, as if sent from there with
   * its recorded source address, which is not checked (an attacker may spoof it). It then
   * crosses the network like any datagram (link effects, NAT, routing). Traced as `inject`.
   */
  inject(ifaceName: string, datagram: Pick<CapturedDatagram, 'src' | 'dst' | 'data'>): void {
    const iface = this.interface(ifaceName);
    const ev = this.event(K_CORE, this.now);
    ev.id = ++this.packetIds;
    ev.data = datagram.data.slice();
    ev.src = datagram.src;
    ev.dst = datagram.dst;
    ev.iface = iface;
    this.stats.injected++;
    if (this.trace !== undefined) this.tracePacket('inject', ev, ifaceName);
    this.transmit(iface.link, iface.link.out, ev);
  }

  // ---- scheduling and running ---------------------------------------------

  /** Runs `fn` at absolute virtual time `time` (after events already scheduled for that instant). */
  at(time: number, fn: () => void): void {
    if (!(time >= this.now)) throw new SimError(`cannot schedule at ${time}: now is ${this.now}`);
    const ev = this.event(K_CALL, time);
    ev.fn = fn;
    this.queue.push(ev);
  }

  /**
   * Polls a host's node for datagrams and its deadline now. Call it after acting on a
   * node from outside the simulator (e.g. writing to a stream inside an `at` callback).
   */
  wake(hostName: string): void {
    this.drain(this.host(hostName));
  }

  /** Dispatches every event up to and including `until`, then sets the clock to `until`. */
  run(options: { until: number }): void {
    const until = options.until;
    const queue = this.queue;
    while (queue.peekTime() <= until) this.dispatch(queue.pop() as SimEvent);
    if (until > this.now && Number.isFinite(until)) this.now = until;
  }

  /**
   * Runs until `predicate()` holds (checked after every event) or time passes `maxTime`.
   * Returns whether the predicate held.
   */
  runUntil(predicate: () => boolean, maxTime: number): boolean {
    if (predicate()) return true;
    const queue = this.queue;
    while (queue.peekTime() <= maxTime) {
      this.dispatch(queue.pop() as SimEvent);
      if (predicate()) return true;
    }
    if (maxTime > this.now && Number.isFinite(maxTime)) this.now = maxTime;
    return predicate();
  }

  /** Dispatches one event; false when none is pending. */
  step(): boolean {
    const ev = this.queue.pop();
    if (ev === undefined) return false;
    this.dispatch(ev);
    return true;
  }

  get pendingEvents(): number {
    return this.queue.size;
  }

  // ---- internals -----------------------------------------------------------

  private dispatch(ev: SimEvent): void {
    this.now = ev.time;
    this.stats.events++;
    switch (ev.kind) {
      case K_CORE:
        this.atCore(ev);
        return;
      case K_DELIVER:
        this.atDestination(ev);
        return;
      case K_TIMER:
        this.onTimer(ev);
        return;
      case K_WAKE: {
        const host = ev.host as SimHost;
        this.release(ev);
        this.drain(host);
        return;
      }
      default: {
        const fn = ev.fn as () => void;
        this.release(ev);
        fn();
      }
    }
  }

  private event(kind: number, time: number): SimEvent {
    const ev = this.pool.pop() ?? new SimEvent();
    ev.kind = kind;
    ev.time = time;
    return ev;
  }

  private release(ev: SimEvent): void {
    ev.host = null;
    ev.iface = null;
    ev.data = null;
    ev.src = null;
    ev.dst = null;
    ev.fn = null;
    if (this.pool.length < POOL_LIMIT) this.pool.push(ev);
  }

  private drain(host: SimHost): void {
    const node = host.node;
    if (node === null || host.pausedUntil > this.now) return;
    const now = this.now;
    for (;;) {
      const transmit = node.pollTransmit(now);
      if (transmit === undefined) break;
      this.send(host, transmit);
    }
    this.armTimer(host, node);
  }

  private armTimer(host: SimHost, node: SimNode): void {
    const deadline = node.nextDeadline();
    // A pending timer at or before the deadline re-checks the deadline when it fires.
    if (deadline === undefined || !(deadline < host.timerAt)) return;
    const at = Math.max(deadline, this.now);
    const ev = this.event(K_TIMER, at);
    ev.host = host;
    ev.gen = ++host.timerGen;
    host.timerAt = at;
    this.queue.push(ev);
  }

  private onTimer(ev: SimEvent): void {
    const host = ev.host as SimHost;
    const live = ev.gen === host.timerGen;
    this.release(ev);
    const node = host.node;
    if (!live || node === null || host.pausedUntil > this.now) return;
    host.timerAt = Number.POSITIVE_INFINITY;
    const deadline = node.nextDeadline();
    if (deadline === undefined) return;
    if (deadline > this.now) {
      this.armTimer(host, node);
      return;
    }
    host.noteTimeout(this.now);
    node.onTimeout(this.now);
    this.drain(host);
  }

  private send(host: SimHost, transmit: Transmit): void {
    const id = ++this.packetIds;
    this.stats.sent++;
    host.sent++;
    const iface = host.addressIndex.get(transmit.local.address);
    if (this.captures.length > 0) this.record(host, transmit);
    const ev = this.event(K_CORE, this.now);
    ev.id = id;
    ev.data = transmit.data;
    ev.src = transmit.local;
    ev.dst = transmit.remote;
    if (this.trace !== undefined) this.tracePacket('send', ev, iface?.name ?? host.name);
    if (iface === undefined) {
      this.drop(ev, 'no-such-source', host.name);
      return;
    }
    ev.iface = iface;
    this.transmit(iface.link, iface.link.out, ev);
  }

  private record(host: SimHost, transmit: Transmit): void {
    let copy: CapturedDatagram | undefined;
    for (const { filter, into } of this.captures) {
      copy ??= {
        at: this.now,
        host: host.name,
        src: transmit.local,
        dst: transmit.remote,
        data: transmit.data.slice(),
      };
      if (filter(copy)) {
        into.push(copy);
        copy = undefined;
      }
    }
  }

  /** Puts a packet on one link direction; schedules its arrival at the far end or drops it. */
  private transmit(link: Link, dir: LinkDirection, ev: SimEvent): void {
    if (!link.up) {
      this.drop(ev, 'link-down', dir.name);
      return;
    }
    if (dir.blackholed) {
      this.drop(ev, 'blackhole', dir.name);
      return;
    }
    const p = dir.params;
    const size = (ev.data as Uint8Array).length;
    if (size > p.mtu) {
      this.drop(ev, 'mtu', dir.name);
      return;
    }
    const now = this.now;
    let departure = now;
    if (p.bandwidth !== Number.POSITIVE_INFINITY || p.rateSchedule !== null) {
      dir.held.expire(now);
      const start = Math.max(dir.busyUntil, now);
      const onWire = size + p.overhead;
      if (dir.held.length >= p.queue || dir.held.bytes + onWire > p.queueBytes || start - now > p.queueMs) {
        this.drop(ev, 'queue-full', dir.name);
        return;
      }
      // Serialized at the rate in force when its transmission starts.
      departure = start + (onWire * 8000) / rateAt(p, start);
      dir.busyUntil = departure;
      dir.held.push(departure, onWire);
    }
    // Wire effects: a lost packet still used its transmission slot.
    const rng = this.rng;
    const burst = p.burstLoss;
    if (burst !== null && 'goodMs' in burst) {
      // The state runs on the clock, whether packets pass or not; the first packet starts it.
      if (Number.isNaN(dir.burstStateEnds)) {
        dir.inBurst = false;
        dir.burstStateEnds = departure - burst.goodMs * Math.log(1 - rng.float());
      }
      while (dir.burstStateEnds <= departure) {
        dir.inBurst = !dir.inBurst;
        dir.burstStateEnds -= (dir.inBurst ? burst.badMs : burst.goodMs) * Math.log(1 - rng.float());
      }
      const lossNow = dir.inBurst ? (burst.lossBad ?? 1) : (burst.lossGood ?? 0);
      if (lossNow > 0 && rng.float() < lossNow) {
        this.drop(ev, 'burst-loss', dir.name);
        return;
      }
    } else if (burst !== null) {
      if (dir.inBurst) {
        if (rng.float() < burst.r) dir.inBurst = false;
      } else if (rng.float() < burst.p) {
        dir.inBurst = true;
      }
      const lossNow = dir.inBurst ? (burst.lossBad ?? 1) : (burst.lossGood ?? 0);
      if (lossNow > 0 && rng.float() < lossNow) {
        this.drop(ev, 'burst-loss', dir.name);
        return;
      }
    }
    if (p.loss > 0 && rng.float() < p.loss) {
      this.drop(ev, 'loss', dir.name);
      return;
    }
    let arrival = departure + p.delay;
    if (p.jitter > 0) arrival += rng.float() * p.jitter;
    if (p.reorder > 0 && rng.float() < p.reorder) {
      // Held back without moving the FIFO horizon, so later packets overtake it.
      arrival += rng.float() * p.reorderDelay;
      this.stats.reordered++;
    } else if (p.jitterReorder) {
      // Each packet keeps its own jitter: one that drew less overtakes those ahead of it.
      if (arrival < dir.lastArrival) this.stats.reordered++;
      else dir.lastArrival = arrival;
    } else if (arrival < dir.lastArrival) {
      arrival = dir.lastArrival;
    } else {
      dir.lastArrival = arrival;
    }
    if (p.corrupt > 0 && rng.float() < p.corrupt) {
      ev.data = corruptCopy(ev.data as Uint8Array, rng);
      this.stats.corrupted++;
      if (this.trace !== undefined) this.tracePacket('corrupt', ev, dir.name);
    }
    dir.sent++;
    ev.time = arrival;
    ev.epoch = link.epoch;
    this.queue.push(ev);
    if (p.duplicate > 0 && rng.float() < p.duplicate) {
      const twin = this.event(ev.kind, arrival);
      twin.id = ev.id;
      // A copy: receivers may decrypt in place, and the two deliveries must not share bytes.
      twin.data = (ev.data as Uint8Array).slice();
      twin.src = ev.src;
      twin.dst = ev.dst;
      twin.iface = ev.iface;
      twin.epoch = ev.epoch;
      this.stats.duplicated++;
      if (this.trace !== undefined) this.tracePacket('duplicate', twin, dir.name);
      this.queue.push(twin);
    }
  }

  private atCore(ev: SimEvent): void {
    const from = ev.iface as SimInterface;
    if (ev.epoch !== from.link.epoch) {
      this.drop(ev, 'link-down', from.link.out.name);
      return;
    }
    const now = this.now;
    let src = ev.src as SocketAddress;
    let dst = ev.dst as SocketAddress;
    if (from.firewall !== null) from.firewall.outbound(src, dst, now);
    if (from.nat !== null) {
      src = from.nat.outbound(src, dst, now);
      ev.src = src;
    }
    const route = this.routes.get(dst.address);
    if (route === undefined) {
      this.drop(ev, 'no-route', 'core');
      return;
    }
    let to: SimInterface;
    if (route instanceof Nat) {
      const found = route.inbound(dst, src, now);
      if (typeof found === 'string') {
        this.drop(ev, found, route.name);
        return;
      }
      dst = found.internal;
      ev.dst = dst;
      const member = this.natMembers.get(route)?.get(dst.address);
      if (member === undefined) {
        this.drop(ev, 'no-such-destination', route.name);
        return;
      }
      to = member;
    } else {
      to = route;
    }
    if (to.firewall !== null && !to.firewall.admits(dst, src, now)) {
      this.drop(ev, 'firewall', to.firewall.name);
      return;
    }
    ev.kind = K_DELIVER;
    ev.iface = to;
    this.transmit(to.link, to.link.in, ev);
  }

  private atDestination(ev: SimEvent): void {
    const iface = ev.iface as SimInterface;
    if (ev.epoch !== iface.link.epoch) {
      this.drop(ev, 'link-down', iface.link.in.name);
      return;
    }
    const dst = ev.dst as SocketAddress;
    if (!iface.addresses.has(dst.address)) {
      this.drop(ev, 'no-such-destination', iface.name);
      return;
    }
    const host = iface.host;
    const node = host.node;
    if (node === null) {
      this.drop(ev, 'no-node', iface.name);
      return;
    }
    this.stats.delivered++;
    host.received++;
    if (this.trace !== undefined) this.tracePacket('deliver', ev, iface.name);
    const data = ev.data as Uint8Array;
    const src = ev.src as SocketAddress;
    this.release(ev);
    if (host.pausedUntil > this.now) {
      host.held.push({ data, local: dst, remote: src });
      return;
    }
    node.receive(data, dst, src, this.now);
    this.drain(host);
  }

  private drop(ev: SimEvent, reason: DropReason, where: string): void {
    const stats = this.stats;
    stats.dropped++;
    stats.drops[reason] = (stats.drops[reason] ?? 0) + 1;
    if (this.trace !== undefined) this.tracePacket('drop', ev, `${reason} ${where}`);
    this.release(ev);
  }

  private tracePacket(what: string, ev: SimEvent, where: string): void {
    const data = ev.data as Uint8Array;
    (this.trace as Trace).record(
      `${this.now.toFixed(3)} ${what} #${ev.id} ${addressKey(ev.src as SocketAddress)}>${addressKey(
        ev.dst as SocketAddress,
      )} ${data.length} h=${payloadHash(data)} ${where}`,
    );
  }

  private traceFault(text: string): void {
    this.trace?.record(`${this.now.toFixed(3)} fault ${text}`);
  }

  private bindAddress(iface: SimInterface, address: string): void {
    if (isIP(address) === 0)
      throw new SimError(`${iface.name}: ${JSON.stringify(address)} is not an IP address`);
    if (iface.host.addressIndex.has(address)) {
      throw new SimError(`${iface.name}: host ${iface.host.name} already has address ${address}`);
    }
    if (iface.nat !== null) {
      const scope = this.natMembers.get(iface.nat) as Map<string, SimInterface>;
      if (scope.has(address))
        throw new SimError(`${iface.name}: ${address} is already in use behind NAT ${iface.nat.name}`);
      scope.set(address, iface);
    } else {
      if (this.routes.has(address)) throw new SimError(`${iface.name}: address ${address} is already in use`);
      this.routes.set(address, iface);
    }
    iface.addresses.add(address);
    iface.host.addressIndex.set(address, iface);
  }

  private notifyAddressChange(host: SimHost, added: string[], removed: string[]): void {
    const node = host.node;
    if (node === null) return;
    node.onAddressChange?.(added, removed, this.now);
    this.drain(host);
  }

  private resolveCovers(covers: readonly string[], what: string): SimInterface[] {
    const out: SimInterface[] = [];
    for (const name of covers) {
      const iface = this.ifaces.get(name);
      if (iface !== undefined) out.push(iface);
      else if (this.hosts.has(name)) out.push(...(this.hosts.get(name) as SimHost).interfaces.values());
      else throw new SimError(`${what}: ${JSON.stringify(name)} is neither a host nor an interface`);
    }
    return out;
  }

  private scheduleRebinding(nat: Nat, every: number): void {
    const tick = (): void => {
      this.traceFault(`rebind ${nat.name} periodic`);
      nat.rebind(this.now, nat.config.rebindPort, nat.config.rebindAddress);
      this.at(this.now + every, tick);
    };
    this.at(this.now + every, tick);
  }
}
