/**
 * Declarative scenarios: a plain object describing hosts, links, middleboxes and a fault
 * schedule, validated field by field (a `ScenarioError` names the offending field) and
 * built into a Simulator. The caller attaches nodes to hosts and runs it.
 *
 *   const sim = scenario({
 *     seed: 7,
 *     hosts: { A: { interfaces: { wifi: ['192.0.2.10'], lte: ['198.51.100.10'] } },
 *              B: { interfaces: { eth: ['203.0.113.5', '2001:db8::5'] } } },
 *     links: { 'A.wifi': { delay: 20, bandwidth: 50e6, queue: 100, loss: 0.01 } },
 *     faults: [{ at: 3000, blackhole: 'A.wifi', direction: 'out' }],
 *   });
 */
import { isIP } from 'node:net';
import { ScenarioError, SimError } from './errors.js';
import { type DirectionSelector, type LinkParams, validateLinkParams } from './link.js';
import type { NatFiltering } from './middlebox.js';
import { type LinkSpec, Simulator } from './network.js';
import { profileLinks } from './profiles.js';
import type { TraceOptions } from './trace.js';

export { ScenarioError };

export interface HostSpec {
  /** Interface name → its IPv4/IPv6 addresses (may be empty: addresses can be added by faults). */
  interfaces: Record<string, string[]>;
}

export interface NatSpec {
  /** Host names (all their interfaces) or `host.interface` names behind this NAT. */
  covers: string | string[];
  /** Public address(es); address rebinding rotates through them. */
  public: string | string[];
  /** Mapping idle timeout, ms (default 30000). */
  timeout?: number;
  filtering?: NatFiltering;
  /** Periodic forced rebinding, ms (default: never). */
  rebindEvery?: number;
  rebindPort?: boolean;
  rebindAddress?: boolean;
  portRange?: [number, number];
}

export interface FirewallSpec {
  covers: string | string[];
  /** Flow idle timeout, ms (default 30000). */
  timeout?: number;
}

export type FaultSpec =
  | { at: number; down: string; duration?: number }
  | { at: number; up: string }
  | { at: number; blackhole: string; direction?: DirectionSelector; duration?: number }
  | { at: number; heal: string; direction?: DirectionSelector }
  | { at: number; set: string; params: Partial<LinkParams>; direction?: DirectionSelector }
  | { at: number; addAddress: string; address: string }
  | { at: number; removeAddress: string; address: string }
  | { at: number; rebind: string; port?: boolean; address?: boolean }
  /** The host processes nothing for `duration` ms (a local stall), then everything queued. */
  | { at: number; pause: string; duration: number }
  /** The host's OS reports a link or route change (netlink): the host's node is told. */
  | { at: number; notify: string };

export interface ScenarioSpec {
  seed: number;
  hosts: Record<string, HostSpec>;
  /** Keyed by `host.interface`; interfaces without an entry get default links. */
  links?: Record<string, LinkSpec>;
  nats?: Record<string, NatSpec>;
  firewalls?: Record<string, FirewallSpec>;
  faults?: FaultSpec[];
  trace?: boolean | TraceOptions;
}

const NAME = /^[A-Za-z0-9_-]+$/;
const FAULT_ACTIONS = [
  'down',
  'up',
  'blackhole',
  'heal',
  'set',
  'addAddress',
  'removeAddress',
  'rebind',
  'pause',
  'notify',
] as const;
const FAULT_FIELDS: Record<(typeof FAULT_ACTIONS)[number], readonly string[]> = {
  down: ['duration'],
  up: [],
  blackhole: ['direction', 'duration'],
  heal: ['direction'],
  set: ['params', 'direction'],
  addAddress: ['address'],
  removeAddress: ['address'],
  rebind: ['port', 'address'],
  pause: ['duration'],
  notify: [],
};

function show(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return JSON.stringify(value) ?? typeof value;
}

function fail(message: string): never {
  throw new ScenarioError(message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function record(value: unknown, path: string): Record<string, unknown> {
  if (!isRecord(value)) fail(`${path} must be an object, got ${show(value)}`);
  return value;
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`${path}.${key} is not a known field (known: ${allowed.join(', ')})`);
  }
}

function number(value: unknown, path: string, min: number, what = 'a number'): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    fail(`${path} must be ${what} ≥ ${min}, got ${show(value)}`);
  }
  return value;
}

function ip(value: unknown, path: string): string {
  if (typeof value !== 'string' || isIP(value) === 0)
    fail(`${path} must be an IPv4 or IPv6 address, got ${show(value)}`);
  return value;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

function direction(value: unknown, path: string): void {
  if (value !== undefined && value !== 'in' && value !== 'out' && value !== 'both') {
    fail(`${path} must be 'in', 'out' or 'both', got ${show(value)}`);
  }
}

/** Throws a ScenarioError naming the first invalid field; returns normally for a valid spec. */
export function validateScenario(spec: unknown): asserts spec is ScenarioSpec {
  const top = record(spec, 'scenario');
  onlyKeys(top, ['seed', 'hosts', 'links', 'nats', 'firewalls', 'faults', 'trace'], 'scenario');
  if (typeof top.seed !== 'number' || !Number.isSafeInteger(top.seed)) {
    fail(`seed must be a safe integer, got ${show(top.seed)}`);
  }

  const hosts = record(top.hosts, 'hosts');
  if (Object.keys(hosts).length === 0) fail('hosts must name at least one host');
  const interfaces = new Set<string>();
  /** Interface → the addresses it starts with and where they are declared. */
  const declared: { iface: string; address: string; path: string }[] = [];
  for (const [hostName, hostValue] of Object.entries(hosts)) {
    const hostPath = `hosts.${hostName}`;
    if (!NAME.test(hostName)) fail(`${hostPath}: host names must match [A-Za-z0-9_-]+`);
    const host = record(hostValue, hostPath);
    onlyKeys(host, ['interfaces'], hostPath);
    const ifaces = record(host.interfaces, `${hostPath}.interfaces`);
    if (Object.keys(ifaces).length === 0) fail(`${hostPath}.interfaces must name at least one interface`);
    for (const [ifaceName, addresses] of Object.entries(ifaces)) {
      const ifacePath = `${hostPath}.interfaces.${ifaceName}`;
      if (!NAME.test(ifaceName)) fail(`${ifacePath}: interface names must match [A-Za-z0-9_-]+`);
      if (!Array.isArray(addresses))
        fail(`${ifacePath} must be an array of addresses, got ${show(addresses)}`);
      interfaces.add(`${hostName}.${ifaceName}`);
      addresses.forEach((address, i) => {
        declared.push({
          iface: `${hostName}.${ifaceName}`,
          address: ip(address, `${ifacePath}[${i}]`),
          path: `${ifacePath}[${i}]`,
        });
      });
    }
  }

  const covers = (value: unknown, path: string): string[] => {
    const names = list(value);
    if (names.length === 0) fail(`${path} must name at least one host or interface`);
    const out: string[] = [];
    names.forEach((name, i) => {
      const itemPath = Array.isArray(value) ? `${path}[${i}]` : path;
      if (typeof name === 'string' && interfaces.has(name)) out.push(name);
      else if (typeof name === 'string' && name in hosts) {
        for (const iface of interfaces) if (iface.startsWith(`${name}.`)) out.push(iface);
      } else fail(`${itemPath} must name a host or a host.interface, got ${show(name)}`);
    });
    return out;
  };

  if (top.links !== undefined) {
    const links = record(top.links, 'links');
    for (const [name, value] of Object.entries(links)) {
      const path = `links["${name}"]`;
      if (!interfaces.has(name)) fail(`${path}: no interface ${name} (expected host.interface)`);
      const link = record(value, path);
      validateLinkParams(link, path, ['out', 'in', 'profile']);
      if (link.out !== undefined) validateLinkParams(link.out, `${path}.out`);
      if (link.in !== undefined) validateLinkParams(link.in, `${path}.in`);
      if (link.profile !== undefined) profileLinks(link.profile, `${path}.profile`);
    }
  }

  /** Which NAT each interface sits behind: addresses behind a NAT only need to be unique there. */
  const natOf = new Map<string, string>();
  const publicAddresses = new Map<string, string>();
  const nats = top.nats === undefined ? {} : record(top.nats, 'nats');
  for (const [name, value] of Object.entries(nats)) {
    const path = `nats.${name}`;
    if (!NAME.test(name)) fail(`${path}: NAT names must match [A-Za-z0-9_-]+`);
    const nat = record(value, path);
    onlyKeys(
      nat,
      ['covers', 'public', 'timeout', 'filtering', 'rebindEvery', 'rebindPort', 'rebindAddress', 'portRange'],
      path,
    );
    for (const iface of covers(nat.covers, `${path}.covers`)) {
      const other = natOf.get(iface);
      if (other !== undefined) fail(`${path}.covers: ${iface} is already behind NAT ${other}`);
      natOf.set(iface, name);
    }
    const pool = list(nat.public);
    if (pool.length === 0) fail(`${path}.public must list at least one address`);
    pool.forEach((address, i) => {
      const itemPath = Array.isArray(nat.public) ? `${path}.public[${i}]` : `${path}.public`;
      const checked = ip(address, itemPath);
      if (publicAddresses.has(checked))
        fail(`${itemPath}: ${checked} is already used by ${publicAddresses.get(checked)}`);
      publicAddresses.set(checked, itemPath);
    });
    if (nat.timeout !== undefined) number(nat.timeout, `${path}.timeout`, 1, 'a time in ms');
    if (nat.rebindEvery !== undefined) number(nat.rebindEvery, `${path}.rebindEvery`, 0, 'a time in ms');
    if (
      nat.filtering !== undefined &&
      !['endpoint-independent', 'address-dependent', 'address-and-port-dependent'].includes(
        nat.filtering as string,
      )
    ) {
      fail(
        `${path}.filtering must be 'endpoint-independent', 'address-dependent' or 'address-and-port-dependent', got ${show(nat.filtering)}`,
      );
    }
    for (const flag of ['rebindPort', 'rebindAddress'] as const) {
      if (nat[flag] !== undefined && typeof nat[flag] !== 'boolean')
        fail(`${path}.${flag} must be a boolean`);
    }
    if (nat.portRange !== undefined) {
      const range = nat.portRange;
      if (
        !Array.isArray(range) ||
        range.length !== 2 ||
        !range.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535) ||
        range[0] > range[1]
      ) {
        fail(`${path}.portRange must be [min, max] with 1 ≤ min ≤ max ≤ 65535, got ${show(range)}`);
      }
    }
  }

  // Addresses are unique per scope: the open core, or behind one NAT.
  const seen = new Map<string, string>();
  for (const { iface, address, path } of declared) {
    const scope = natOf.get(iface) ?? '';
    if (scope === '' && publicAddresses.has(address)) {
      fail(`${path}: ${address} is already a NAT public address (${publicAddresses.get(address)})`);
    }
    const key = `${scope}|${address}`;
    const first = seen.get(key);
    if (first !== undefined) fail(`${path}: ${address} is already used at ${first}`);
    seen.set(key, path);
  }

  const firewalled = new Set<string>();
  const firewalls = top.firewalls === undefined ? {} : record(top.firewalls, 'firewalls');
  for (const [name, value] of Object.entries(firewalls)) {
    const path = `firewalls.${name}`;
    if (!NAME.test(name)) fail(`${path}: firewall names must match [A-Za-z0-9_-]+`);
    const firewall = record(value, path);
    onlyKeys(firewall, ['covers', 'timeout'], path);
    for (const iface of covers(firewall.covers, `${path}.covers`)) {
      if (firewalled.has(iface)) fail(`${path}.covers: ${iface} already has a firewall`);
      firewalled.add(iface);
    }
    if (firewall.timeout !== undefined) number(firewall.timeout, `${path}.timeout`, 1, 'a time in ms');
  }

  if (top.faults !== undefined) {
    if (!Array.isArray(top.faults)) fail(`faults must be an array, got ${show(top.faults)}`);
    top.faults.forEach((value, i) => {
      const path = `faults[${i}]`;
      const fault = record(value, path);
      number(fault.at, `${path}.at`, 0, 'a time in ms');
      const actions = FAULT_ACTIONS.filter((a) => a in fault);
      if (actions.length !== 1) {
        fail(
          `${path} must have exactly one of ${FAULT_ACTIONS.join(', ')}; got ${actions.join(', ') || 'none'}`,
        );
      }
      const action = actions[0];
      onlyKeys(fault, ['at', action, ...FAULT_FIELDS[action]], path);
      const target = fault[action];
      const targetPath = `${path}.${action}`;
      if (action === 'rebind') {
        if (typeof target !== 'string' || !(target in nats))
          fail(`${targetPath} must name a NAT, got ${show(target)}`);
        for (const flag of ['port', 'address'] as const) {
          if (fault[flag] !== undefined && typeof fault[flag] !== 'boolean')
            fail(`${path}.${flag} must be a boolean`);
        }
        return;
      }
      if (action === 'pause' || action === 'notify') {
        if (typeof target !== 'string' || !(target in hosts))
          fail(`${targetPath} must name a host, got ${show(target)}`);
        if (action === 'pause') number(fault.duration, `${path}.duration`, 0, 'a time in ms');
        return;
      }
      if (typeof target !== 'string' || !interfaces.has(target)) {
        fail(`${targetPath} must name an interface (host.interface), got ${show(target)}`);
      }
      direction(fault.direction, `${path}.direction`);
      if (fault.duration !== undefined) number(fault.duration, `${path}.duration`, 0, 'a time in ms');
      if (action === 'set') validateLinkParams(fault.params, `${path}.params`);
      if (action === 'addAddress' || action === 'removeAddress') ip(fault.address, `${path}.address`);
    });
  }

  if (top.trace !== undefined && typeof top.trace !== 'boolean') {
    const trace = record(top.trace, 'trace');
    onlyKeys(trace, ['maxLines'], 'trace');
    if (trace.maxLines !== undefined) number(trace.maxLines, 'trace.maxLines', 0, 'a line count');
  }
}

/** Validates `spec` and builds the network; throws ScenarioError naming the bad field. */
export function scenario(spec: ScenarioSpec): Simulator {
  validateScenario(spec);
  const sim = new Simulator({ seed: spec.seed, trace: spec.trace });
  try {
    // Interfaces first (addresses later), so NATs exist before private addresses are bound.
    for (const [hostName, host] of Object.entries(spec.hosts)) {
      sim.addHost(hostName);
      for (const ifaceName of Object.keys(host.interfaces)) {
        sim.addInterface(hostName, ifaceName, [], spec.links?.[`${hostName}.${ifaceName}`] ?? {});
      }
    }
    for (const [name, nat] of Object.entries(spec.nats ?? {})) {
      sim.addNat(
        name,
        {
          publicAddresses: list(nat.public) as string[],
          ...(nat.timeout !== undefined && { mappingTimeout: nat.timeout }),
          ...(nat.filtering !== undefined && { filtering: nat.filtering }),
          ...(nat.rebindEvery !== undefined && { rebindEvery: nat.rebindEvery }),
          ...(nat.rebindPort !== undefined && { rebindPort: nat.rebindPort }),
          ...(nat.rebindAddress !== undefined && { rebindAddress: nat.rebindAddress }),
          ...(nat.portRange !== undefined && { portMin: nat.portRange[0], portMax: nat.portRange[1] }),
        },
        list(nat.covers) as string[],
      );
    }
    for (const [name, firewall] of Object.entries(spec.firewalls ?? {})) {
      sim.addFirewall(
        name,
        firewall.timeout !== undefined ? { timeout: firewall.timeout } : {},
        list(firewall.covers) as string[],
      );
    }
    for (const [hostName, host] of Object.entries(spec.hosts)) {
      for (const [ifaceName, addresses] of Object.entries(host.interfaces)) {
        for (const address of addresses) sim.assignAddress(`${hostName}.${ifaceName}`, address);
      }
    }
  } catch (error) {
    if (error instanceof SimError) throw new ScenarioError(error.message);
    throw error;
  }
  for (const fault of spec.faults ?? []) scheduleFault(sim, fault);
  return sim;
}

function scheduleFault(sim: Simulator, fault: FaultSpec): void {
  const at = fault.at;
  if ('down' in fault) {
    sim.at(at, () => sim.linkDown(fault.down));
    if (fault.duration !== undefined) sim.at(at + fault.duration, () => sim.linkUp(fault.down));
  } else if ('up' in fault) {
    sim.at(at, () => sim.linkUp(fault.up));
  } else if ('blackhole' in fault) {
    const dir = fault.direction ?? 'both';
    sim.at(at, () => sim.blackhole(fault.blackhole, dir, true));
    if (fault.duration !== undefined)
      sim.at(at + fault.duration, () => sim.blackhole(fault.blackhole, dir, false));
  } else if ('heal' in fault) {
    sim.at(at, () => sim.blackhole(fault.heal, fault.direction ?? 'both', false));
  } else if ('set' in fault) {
    sim.at(at, () => sim.setLink(fault.set, fault.params, fault.direction ?? 'both'));
  } else if ('addAddress' in fault) {
    sim.at(at, () => sim.addAddress(fault.addAddress, fault.address));
  } else if ('removeAddress' in fault) {
    sim.at(at, () => sim.removeAddress(fault.removeAddress, fault.address));
  } else if ('pause' in fault) {
    sim.at(at, () => sim.pause(fault.pause, fault.duration));
  } else if ('notify' in fault) {
    sim.at(at, () => sim.notifyNetworkChange(fault.notify));
  } else {
    sim.at(at, () => sim.rebind(fault.rebind, { port: fault.port ?? true, address: fault.address ?? false }));
  }
}
